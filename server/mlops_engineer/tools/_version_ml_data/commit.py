"""The git commit track, write_pipeline and repro make when the call gives a message."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlops_engineer.runtime import ToolContext

if TYPE_CHECKING:
    from dvc.repo import Repo


def commit(repo: Repo, ctx: ToolContext, paths: list[Path], message: str | None) -> str | None:
    from mlops_engineer.engines.dvc.repo import commit_paths

    if not message:
        return None
    root = ctx.workspace.root
    meta = [root / ".dvc" / "config", root / ".dvc" / ".gitignore", root / ".dvcignore", root / ".gitignore"]
    return commit_paths(repo, [str(p) for p in dict.fromkeys([*meta, *paths])], message)
