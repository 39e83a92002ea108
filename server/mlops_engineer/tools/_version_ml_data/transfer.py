"""Actions push and pull: tracked data to and from a remote."""

from __future__ import annotations

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.models import (
    MAX_LIST,
    Pull,
    Push,
    VersionDataInput,
    VersionDataOutput,
)
from mlops_engineer.tools._version_ml_data.paths import (
    changed_paths,
    dvc_targets,
    refuse_overwriting,
    resolve_tracked,
    unrecorded_edits,
)
from mlops_engineer.tools._version_ml_data.remotes import checked_remote
from mlops_engineer.tools._version_ml_data.status import data_status


def run_push(op: Push, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo

    paths = resolve_tracked(ctx, op.targets, must_exist=False)
    with open_repo(ctx.workspace.root, ctx.check_cancelled) as repo:
        remote = checked_remote(repo, op.remote, ctx.workspace)
        base.planned_calls = [f"dvc push -r {remote}" + "".join(f" {ctx.workspace.relative(p)}" for p in paths)]
        if inp.dry_run:
            base.status = data_status(repo, ctx, paths, remote, True)
            return base
        ctx.progress(0, 1, f"pushing to {remote}")
        base.transferred = int(repo.push(targets=dvc_targets(paths), remote=remote) or 0)
        ctx.progress(1, 1, "pushed")
    return base


def run_pull(op: Pull, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo, remove_partial_files

    paths = resolve_tracked(ctx, op.targets, must_exist=False)
    with open_repo(ctx.workspace.root, ctx.check_cancelled) as repo:
        remote = checked_remote(repo, op.remote, ctx.workspace)
        base.planned_calls = [f"dvc pull -r {remote}" + (" --force" if inp.confirm else "") + "".join(f" {ctx.workspace.relative(p)}" for p in paths)]
        if inp.dry_run:
            base.status = data_status(repo, ctx, paths, remote, False)
            return base
        dirty = unrecorded_edits(repo, dvc_targets(paths))
        if not inp.confirm:
            refuse_overwriting(dirty)
        base.recovered = remove_partial_files(repo, paths)
        ctx.progress(0, 1, f"pulling from {remote}")
        result = repo.pull(targets=dvc_targets(paths), remote=remote, force=inp.confirm)
        stats = result.get("stats", {}) if isinstance(result, dict) else {}
        base.transferred = int(stats.get("fetched", 0))
        base.restored = changed_paths(ctx, result)[:MAX_LIST]
        ctx.progress(1, 1, "pulled")
    return base
