"""next_batch: the tasks worth labelling next.

uncertainty: among tasks with fewer annotations than the target, the lowest prediction score
first (least confidence); a task with no prediction counts as score 0, since nothing is known
about it. disagreement: annotated tasks by the share of annotator pairs that disagree, most
first, then by fewest annotations (one more vote settles those soonest).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._label_training_data.models import LabelInput, LabelOutput, NextBatch
from mlops_engineer.tools._label_training_data.source import live


def _score(task: dict[str, Any]) -> float | None:
    scores = [p.get("score") for p in task.get("predictions") or [] if isinstance(p.get("score"), int | float)]
    return max(scores) if scores else None


def rank_uncertainty(tasks: list[dict[str, Any]], target: int) -> list[dict[str, Any]]:
    rows = []
    for t in tasks:
        done = sum(1 for a in t.get("annotations") or [] if not a.get("was_cancelled"))
        if done >= target:
            continue
        score = _score(t)
        rows.append({"task_id": t["id"], "score": score, "uncertainty": round(1 - (score or 0.0), 6), "annotations": done,
                     "reason": "no prediction" if score is None else "low prediction score"})
    return sorted(rows, key=lambda r: (-r["uncertainty"], r["annotations"], r["task_id"]))


def rank_disagreement(tasks: list[dict[str, Any]], spec: Any) -> list[dict[str, Any]]:
    from mlops_engineer.engines.labeling.config import value_of

    rows = []
    for t in tasks:
        values = [value_of(a.get("result") or [], spec) for a in t.get("annotations") or [] if not a.get("was_cancelled")]
        values = [v for v in values if v is not None]
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        share = 1 - sum(c * (c - 1) for c in counts.values()) / (m * (m - 1))
        if share <= 0:
            continue
        rows.append({"task_id": t["id"], "disagreement": round(share, 6), "annotations": m,
                     "votes": ";".join(f"{v}={c}" for v, c in counts.most_common()), "reason": "annotators disagree"})
    return sorted(rows, key=lambda r: (-r["disagreement"], r["annotations"], r["task_id"]))


def run_next_batch(op: NextBatch, inp: LabelInput, ctx: ToolContext, out: LabelOutput) -> LabelOutput:
    from mlops_engineer.engines.labeling.client import iter_tasks, project_by_ref, translate_errors
    from mlops_engineer.engines.labeling.config import spec_from_config
    from mlops_engineer.engines.labeling.tasks import infer_spec
    from mlops_engineer.output import preview_table

    out.planned_calls = [f"read every task of project {op.project!r}", f"rank by {op.strategy}, keep {op.size}"]
    if inp.dry_run:
        return out
    server, client = live(inp)
    out.server = server.display_url
    with translate_errors(server, f"read project {op.project!r}"):
        project = project_by_ref(client, op.project)
        tasks = list(iter_tasks(client, project.id, lambda n: ctx.progress(n, None, "reading tasks")))
    if op.strategy == "uncertainty":
        ranked = rank_uncertainty(tasks, op.target_annotations)
    else:
        spec = spec_from_config(project.label_config or "")
        annotated = any(t.get("annotations") for t in tasks)
        ranked = rank_disagreement(tasks, spec or infer_spec(tasks)) if annotated else []
    out.batch = preview_table(ctx.workspace, f"next-batch-{project.id}-{op.strategy}", ranked[: op.size])
    out.planned_calls = [f"read {len(tasks)} tasks of project {project.id}; {len(ranked)} candidates by {op.strategy}"]
    return out
