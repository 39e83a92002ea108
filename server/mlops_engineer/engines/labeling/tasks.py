"""Label Studio tasks (live, or from a JSON export file) as ratings: who gave which item what.

A task's item id is its Label Studio id; an annotator is the annotation's `completed_by`
(a user id, or the `{"email": ...}` object some exports carry); skipped (cancelled)
annotations and annotations with no answer to the question are left out.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from mlops_engineer.engines.labeling.agreement import Rating
from mlops_engineer.engines.labeling.config import RESULT_TYPE, Spec, value_of
from mlops_engineer.errors import ToolError


def read_export_file(path: Path) -> list[dict[str, Any]]:
    """A Label Studio JSON export (a list of tasks) or JSONL (one task a line)."""
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".jsonl":
            tasks = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            tasks = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ToolError("invalid_input", f"{path.name} is not a Label Studio JSON export: {exc}.",
                        "Export the project as JSON (Export > JSON) or give a .jsonl file with one task a line.") from exc
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and "id" in t for t in tasks):
        raise ToolError("invalid_input", f"{path.name} is not a list of Label Studio tasks (objects with an id).",
                        "Export the project as JSON (Export > JSON).")
    return tasks


def annotator_of(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("id"))
    return str(who)


def infer_spec(tasks: list[dict[str, Any]], name: str | None = None) -> Spec:
    """The question an export answers, read from its results: the control (`from_name`), the
    object (`to_name`), the kind from the result type, the labels seen."""
    kinds = {v: k for k, v in RESULT_TYPE.items() if k != "multi_label"}
    seen: Counter[tuple[str, str, str]] = Counter()
    labels: dict[str, None] = {}
    multiple = False
    for task in tasks:
        for annotation in task.get("annotations") or []:
            for r in annotation.get("result") or []:
                if r.get("type") not in kinds or (name and r.get("from_name") != name):
                    continue
                seen[(r["from_name"], r.get("to_name", ""), r["type"])] += 1
                values = r.get("value", {}).get(r["type"], [])
                if isinstance(values, list):
                    multiple |= len(values) > 1
                    labels.update(dict.fromkeys(str(v) for v in values))
    if not seen:
        raise ToolError("invalid_input", "The tasks hold no choices, labels, rectangle or rating results" + (f" for {name!r}" if name else "") + ".",
                        "Annotate some tasks first, or give `control` the name of the question to read.")
    (control, target, result_type), _ = seen.most_common(1)[0]
    kind = kinds[result_type]
    if kind == "classification" and multiple:
        kind = "multi_label"
    return Spec(kind, tuple(sorted(labels)), target, control)  # type: ignore[arg-type]


def ratings_of(tasks: list[dict[str, Any]], spec: Spec) -> list[Rating]:
    ratings = []
    for task in tasks:
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            value = value_of(annotation.get("result") or [], spec)
            if value is not None:
                ratings.append(Rating(task["id"], annotator_of(annotation), value))
    return ratings
