"""One training label per task from several annotations, and where each label came from.

- majority: the most frequent answer; a tie picks the first answer in sorted order and is
  recorded as `majority_tie`, so it can be filtered out.
- annotator: the chosen annotator's answer; tasks they did not label fall back to the
  majority (`majority_fallback`).
- dawid_skene: the EM estimate of the true class (`dawid_skene`), with its posterior.
A task with one annotation is `single` whatever the method.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

from mlops_engineer.engines.labeling.agreement import Rating, _sort_key
from mlops_engineer.engines.labeling.dawid_skene import DawidSkeneResult, dawid_skene

Method = Literal["majority", "annotator", "dawid_skene"]


@dataclass
class Resolved:
    rows: list[dict[str, Any]]
    sources: dict[str, int]  # label_source -> rows
    dawid_skene: DawidSkeneResult | None


def resolve(tasks: list[dict[str, Any]], ratings: list[Rating], method: Method, annotator: str | None = None,
            min_annotations: int = 1) -> Resolved:
    by_item: dict[Hashable, dict[str, Hashable]] = {}
    for r in ratings:
        by_item.setdefault(r.item, {})[str(r.annotator)] = r.value
    ds = dawid_skene(ratings) if method == "dawid_skene" and ratings else None
    rows: list[dict[str, Any]] = []
    sources: Counter[str] = Counter()
    for task in tasks:
        answers = by_item.get(task["id"], {})
        if len(answers) < max(1, min_annotations):
            continue
        votes = Counter(answers.values())
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], _sort_key(kv[0])))
        label, top = ranked[0]
        confidence = top / len(answers)
        if len(answers) == 1:
            source = "single"
        elif method == "annotator" and annotator in answers:
            label, source = answers[annotator], f"annotator:{annotator}"
            confidence = votes[label] / len(answers)
        elif method == "dawid_skene" and ds is not None:
            label, source, confidence = ds.labels[task["id"]], "dawid_skene", ds.posterior[task["id"]]
        else:
            tie = len(ranked) > 1 and ranked[1][1] == top
            source = "majority_tie" if tie else ("majority_fallback" if method == "annotator" else "majority")
        sources[source] += 1
        data = task.get("data") or {}
        rows.append({
            **{k: v for k, v in data.items() if isinstance(v, str | int | float | bool) or v is None},
            "label": label,
            "label_source": source,
            "confidence": round(float(confidence), 6),
            "n_annotations": len(answers),
            "votes": ";".join(f"{value}={count}" for value, count in ranked),
            "annotators": ";".join(f"{who}={value}" for who, value in sorted(answers.items())),
            "task_id": task["id"],
        })
    return Resolved(rows, dict(sorted(sources.items())), ds)
