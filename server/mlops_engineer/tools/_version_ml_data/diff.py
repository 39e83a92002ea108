"""Action diff: metrics and params between two git revisions."""

from __future__ import annotations

from typing import Any

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.models import Diff, VersionDataInput, VersionDataOutput


def _flatten(diff: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for file, entries in sorted(diff.items()):
        for key, change in sorted(entries.items()):
            rows.append({"file": file, "key": key, "old": change.get("old"), "new": change.get("new"), "diff": change.get("diff")})
    return rows


def run_diff(op: Diff, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo
    from mlops_engineer.output import preview_table

    with open_repo(ctx.workspace.root) as repo:
        a = repo.scm.resolve_rev(op.a_rev)
        b = repo.scm.resolve_rev(op.b_rev) if op.b_rev else "workspace"
        base.planned_calls = [f"dvc metrics diff {op.a_rev} {op.b_rev or ''}".strip(), f"dvc params diff {op.a_rev} {op.b_rev or ''}".strip()]
        metrics = repo.metrics.diff(a_rev=a, b_rev=b)
        params = repo.params.diff(a_rev=a, b_rev=b)
    base.metrics_diff = preview_table(ctx.workspace, "dvc-metrics-diff", _flatten(metrics.get("diff", {})))
    base.params_diff = preview_table(ctx.workspace, "dvc-params-diff", _flatten(params.get("diff", {})))
    return base
