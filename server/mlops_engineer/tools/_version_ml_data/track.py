"""Action track: dvc add, then optionally a git commit of the .dvc files."""

from __future__ import annotations

from pathlib import Path

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.commit import commit
from mlops_engineer.tools._version_ml_data.models import (
    Track,
    TrackedPath,
    VersionDataInput,
    VersionDataOutput,
)
from mlops_engineer.tools._version_ml_data.paths import resolve_tracked


def run_track(op: Track, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo, remove_partial_files

    paths = resolve_tracked(ctx, op.paths, must_exist=True)
    base.planned_calls = [f"dvc add {ctx.workspace.relative(p)}" for p in paths]
    if op.git_commit:
        base.planned_calls.append(f"git commit -m {op.git_commit!r} (the .dvc files and .gitignore)")
    with open_repo(ctx.workspace.root, ctx.check_cancelled) as repo:
        if inp.dry_run:
            return base
        base.recovered = remove_partial_files(repo, paths)
        for i, path in enumerate(paths):
            ctx.progress(i, len(paths), f"dvc add {ctx.workspace.relative(path)}")
            stages = add_cancellable(repo, path, ctx)
            for stage in stages:
                out = stage.outs[0]
                base.tracked.append(TrackedPath(
                    path=ctx.workspace.relative(path), dvc_file=ctx.workspace.relative(Path(stage.path)),
                    md5=out.hash_info.value if out.hash_info else None,
                    size=out.meta.size if out.meta else None,
                    files=out.meta.nfiles if out.meta and out.meta.isdir else None,
                ))
        ctx.progress(len(paths), len(paths), "tracked")
        ctx.check_cancelled()
        commit_files = [Path(str(p) + ".dvc") for p in paths] + [p.parent / ".gitignore" for p in paths]
        base.git_commit = commit(repo, ctx, commit_files, op.git_commit)
    base.next_steps = ["Send the data to the remote: action push."]
    return base


def add_cancellable(repo: object, path: Path, ctx: ToolContext) -> list:
    """`dvc add` one path; when the call is cancelled midway, the partial copy DVC leaves in the
    cache is removed before `cancelled` is raised, so nothing of it stays."""
    from mlops_engineer.engines.dvc.repo import CallCancelled, remove_partial_files

    try:
        return repo.add([str(path)])  # type: ignore[attr-defined,no-any-return]
    except CallCancelled:
        remove_partial_files(repo, [path])  # type: ignore[arg-type]
        raise
