"""Action gc: what dvc gc would delete, deleted only with confirm."""

from __future__ import annotations

from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.models import (
    MAX_LIST,
    Gc,
    GcResult,
    VersionDataInput,
    VersionDataOutput,
)
from mlops_engineer.tools._version_ml_data.remotes import checked_remote


def run_gc(op: Gc, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import gc_candidates, open_repo

    scope: dict[str, Any] = {op.scope: True}
    with open_repo(ctx.workspace.root) as repo:
        if op.cloud:
            scope.update(cloud=True, remote=checked_remote(repo, op.remote, ctx.workspace))
        flags = " ".join(f"--{k.replace('_', '-')}" if v is True else f"--{k} {v}" for k, v in scope.items())
        base.planned_calls = [f"dvc gc {flags}"]
        candidates = gc_candidates(repo, **scope)
        base.gc = GcResult(objects=candidates[:MAX_LIST], count=len(candidates), deleted=False)
        if inp.dry_run or not candidates:
            return base
        if not inp.confirm:
            raise ToolError(
                "needs_confirm",
                f"dvc gc would delete {len(candidates)} object(s) from the cache{' and the remote' if op.cloud else ''}: {', '.join(candidates[:10])}{' ...' if len(candidates) > 10 else ''}.",
                "Call with dry_run=true to see the list, then with confirm=true to delete them.",
            )
        repo.gc(**scope)
        base.gc.deleted = True
    return base
