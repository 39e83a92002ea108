"""Action status, and the data status push and pull show in a dry run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.models import (
    MAX_LIST,
    DataStatus,
    Status,
    VersionDataInput,
    VersionDataOutput,
)
from mlops_engineer.tools._version_ml_data.paths import dvc_targets, resolve_tracked
from mlops_engineer.tools._version_ml_data.remotes import checked_remote

if TYPE_CHECKING:
    from dvc.repo import Repo


def _cap(items: Any) -> tuple[list[str], bool]:
    values = sorted(str(i) for i in items)
    return values[:MAX_LIST], len(values) > MAX_LIST


def data_status(repo: Repo, ctx: ToolContext, paths: list[Path], remote: str | None, check_remote: bool) -> DataStatus:
    from mlops_engineer.engines.dvc.repo import confine_remote, default_remote

    remote = remote or default_remote(repo)
    use_remote = bool(check_remote and remote)
    if use_remote and remote:
        confine_remote(repo, remote, ctx.workspace)
    raw = repo.data_status(
        targets=dvc_targets(paths), not_in_remote=use_remote, remote_refresh=use_remote, remote=remote if use_remote else None,
    )
    status = DataStatus(clean=True, remote=remote if use_remote else None)
    truncated = False
    for key, target in (("uncommitted", status.changed), ("committed", status.not_committed)):
        for kind, items in (raw.get(key) or {}).items():
            if items:
                target[kind], cut = _cap(items)
                truncated |= cut
    status.not_in_cache, cut1 = _cap(raw.get("not_in_cache") or [])
    status.not_in_remote, cut2 = _cap(raw.get("not_in_remote") or [])
    pipeline = repo.status(targets=dvc_targets(paths)) if not paths else {}
    status.stages_changed = sorted(name for name in pipeline if not name.endswith(".dvc"))
    status.truncated = truncated or cut1 or cut2
    status.clean = not (status.changed or status.not_in_cache or status.not_in_remote or status.stages_changed)
    return status


def run_status(op: Status, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo

    paths = resolve_tracked(ctx, op.targets, must_exist=False)
    with open_repo(ctx.workspace.root) as repo:
        remote = checked_remote(repo, op.remote, ctx.workspace) if op.remote else None
        base.planned_calls = ["dvc data status --not-in-remote" if op.check_remote else "dvc data status", "dvc status"]
        base.status = data_status(repo, ctx, paths, remote, op.check_remote)
    return base
