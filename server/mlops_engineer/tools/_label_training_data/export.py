"""export: one label per task to a training file, with a provenance file beside it."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._label_training_data.models import Export, ExportInfo, LabelInput, LabelOutput
from mlops_engineer.tools._label_training_data.source import check_one_source, load_source

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}


def table_bytes(rows: list[dict[str, Any]], fmt: str) -> bytes:
    pd = import_optional("pandas", "labeling")
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _ours(target: Path, provenance: Path) -> bool:
    """True when the file is absent, or is exactly what an earlier export wrote."""
    if not target.exists():
        return True
    try:
        recorded = json.loads(provenance.read_text())["output_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return hashlib.sha256(target.read_bytes()).hexdigest() == recorded


def run_export(op: Export, inp: LabelInput, ctx: ToolContext, out: LabelOutput) -> LabelOutput:
    from mlops_engineer.engines.labeling.resolve import resolve
    from mlops_engineer.engines.labeling.tasks import ratings_of

    check_one_source(op)
    fmt = FORMATS.get(Path(op.output).suffix.lower())
    if fmt is None:
        raise ToolError("invalid_input", f"output {op.output!r} must end in .csv, .parquet or .jsonl.")
    if op.resolve == "annotator" and not op.annotator:
        raise ToolError("invalid_input", "resolve=annotator needs `annotator` (a user id or email).")
    target = ctx.workspace.resolve(op.output)
    provenance = target.with_name(target.name + ".provenance.json")
    if not inp.confirm and not _ours(target, provenance):
        raise ToolError("needs_confirm", f"{op.output} exists and was not written by an earlier export (or was edited since).",
                        "Repeat with confirm=true to replace it, or choose another output.")
    out.planned_calls = [f"read {'project ' + repr(op.project) if op.project is not None else op.export_file}",
                         f"resolve conflicts by {op.resolve}", f"write {op.output} and {ctx.workspace.relative(provenance)}"]
    if inp.dry_run:
        return out
    source = load_source(op, inp, ctx)
    out.server = source.server
    ratings = ratings_of(source.tasks, source.spec)
    chosen = op.annotator
    if op.resolve == "annotator":
        by_email = {email: uid for uid, email in source.names.items()}
        chosen = by_email.get(op.annotator or "", op.annotator)
        if chosen not in {str(r.annotator) for r in ratings}:
            raise ToolError("not_found", f"Annotator {op.annotator!r} labelled none of these tasks.",
                            "Give a user id or email that appears as completed_by; the agreement action lists the pairs.")
    resolved = resolve(source.tasks, ratings, op.resolve, chosen, op.min_annotations)
    for row in resolved.rows:  # name annotators by email when the server told us
        if source.names:
            row["annotators"] = ";".join(f"{source.names.get(part.split('=', 1)[0], part.split('=', 1)[0])}={part.split('=', 1)[1]}"
                                         for part in row["annotators"].split(";"))
    data = table_bytes(resolved.rows, fmt)
    ds = resolved.dawid_skene
    accuracy = {source.names.get(str(k), str(k)): round(v, 6) for k, v in (ds.annotator_accuracy.items() if ds else [])}
    record = {
        "source": source.description, "server": source.server, "method": op.resolve, "annotator": op.annotator,
        "min_annotations": op.min_annotations, "question": {"name": source.spec.name, "kind": source.spec.kind,
                                                            "data_field": source.spec.data_field, "labels": list(source.spec.labels)},
        "tasks": len(source.tasks), "rows": len(resolved.rows), "ratings": len(ratings), "label_sources": resolved.sources,
        "columns": {"label": "the resolved label", "label_source": "single | majority | majority_tie | annotator:<id> | majority_fallback | dawid_skene",
                    "confidence": "vote share of the label, or the Dawid-Skene posterior", "votes": "label=count",
                    "annotators": "annotator=label", "task_id": "Label Studio task id"},
        "dawid_skene": {"annotator_accuracy": accuracy, "priors": {str(k): v for k, v in ds.priors.items()},
                        "iterations": ds.iterations, "converged": ds.converged} if ds else None,
        "output": ctx.workspace.relative(target), "output_sha256": hashlib.sha256(data).hexdigest(),
    }
    ctx.workspace.write_bytes(target, data)
    ctx.workspace.write_text(provenance, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    out.export = ExportInfo(path=ctx.workspace.relative(target), rows=len(resolved.rows), tasks=len(source.tasks),
                            sources=resolved.sources, provenance_path=ctx.workspace.relative(provenance), annotator_accuracy=accuracy)
    if op.track:
        out.export.tracked = _track(ctx, out.export.path)
    else:
        out.next_steps = [f'Version it: version_ml_data {{"operation": {{"action": "track", "paths": ["{out.export.path}"]}}}}, or export with track=true.']
    return out


def _track(ctx: ToolContext, path: str) -> dict[str, Any]:
    """`dvc add` through the version_ml_data tool, so the export is versioned the way that tool versions data."""
    from mlops_engineer.runtime import execute
    from mlops_engineer.tools.version_ml_data import TOOL as VERSION_DATA

    result = execute(VERSION_DATA, {"operation": {"action": "track", "paths": [path]}}, ctx)
    tracked = result.model_dump(mode="json").get("tracked") or []
    return tracked[0] if tracked else {"path": path}
