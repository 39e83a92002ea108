"""Workspace paths and DVC: which may be versioned and how DVC is given them; what a pull or
checkout would overwrite, and what it changed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.models import MAX_LIST

if TYPE_CHECKING:
    from dvc.repo import Repo


def resolve_tracked(ctx: ToolContext, paths: list[str], *, must_exist: bool) -> list[Path]:
    """Workspace paths, refused when outside the workspace or inside DVC's and git's own folders."""
    resolved = []
    for raw in paths:
        path = ctx.workspace.resolve(raw, must_exist=must_exist)
        rel = ctx.workspace.relative(path) if path != ctx.workspace.root else "."
        if rel == "." or rel.split("/")[0] in (".dvc", ".git"):
            raise ToolError("invalid_input", f"'{raw}' cannot be versioned with DVC (it is the project itself or DVC/git metadata).", "Give data files or folders inside the workspace.")
        resolved.append(path)
    return resolved


def dvc_targets(paths: list[Path]) -> list[str] | None:
    """DVC's `targets`: these paths, or None for the whole project."""
    return [str(p) for p in paths] or None


def unrecorded_edits(repo: Repo, targets: list[str] | None) -> list[str]:
    """Workspace data that differs from its .dvc record: a checkout would overwrite it."""
    local = repo.data_status(targets=targets)
    return sorted({p for kind in ("modified", "added") for p in (local.get("uncommitted") or {}).get(kind, [])})


def refuse_overwriting(dirty: list[str]) -> None:
    """needs_confirm when pulling or checking out would discard edits DVC has not recorded."""
    if dirty:
        raise ToolError(
            "needs_confirm",
            f"These files have changes not recorded by DVC and would be overwritten: {', '.join(dirty[:MAX_LIST])}.",
            "Track them first (action track), or call again with confirm=true to discard the changes.",
        )


def changed_paths(ctx: ToolContext, result: Any) -> list[str]:
    """Workspace paths `dvc checkout`/`pull` added or modified (folders end with /)."""
    if not isinstance(result, dict):
        return []
    found = set()
    for key in ("added", "modified"):
        for raw in result.get(key) or []:
            path = Path(raw) if Path(raw).is_absolute() else ctx.workspace.root / raw
            found.add(ctx.workspace.relative(path) + ("/" if str(raw).endswith(("/", "\\")) else ""))
    return sorted(found)
