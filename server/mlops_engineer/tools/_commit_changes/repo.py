"""What every action needs: the repository inside the workspace, and status in the output."""

from __future__ import annotations

from pathlib import Path

from mlops_engineer.engines.git.runner import check_pathspec, repo_root
from mlops_engineer.engines.git.staging import Change, RepoStatus
from mlops_engineer.output import OUTPUT_DIR
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._commit_changes.models import (
    MAX_LIST,
    CommitChangesInput,
    CommitChangesOutput,
    FileEntry,
)


def open_repo(inp: CommitChangesInput, ctx: ToolContext, out: CommitChangesOutput) -> Path:
    """The top folder of the repository `inp.repo` names, also recorded as `out.repo`; it and the
    workspace must hold each other."""
    folder = ctx.workspace.resolve(inp.repo, must_exist=True)
    repo = repo_root(folder, ctx.workspace.root, check_cancelled=ctx.check_cancelled)
    out.repo = str(repo)
    return repo


def pathspecs(paths: list[str], repo: Path, ctx: ToolContext) -> list[str]:
    """Each path checked (inside workspace and repository, no option) and made relative to the repository."""
    out = []
    for path in paths:
        ctx.workspace.resolve(path)  # the workspace's own confinement first (symlinks, ..)
        out.append(check_pathspec(path, ctx.workspace.root, repo))
    return out


def entries(changes: list[Change]) -> list[FileEntry]:
    return [FileEntry(path=c.path, status=c.status, size_bytes=c.size, old_path=c.old_path) for c in changes]


def fill_status(out: CommitChangesOutput, st: RepoStatus, staged: list[Change] | None = None) -> CommitChangesOutput:
    """Copy a status into the output, each list bounded; `omitted` counts what was left out."""
    staged_entries = entries(staged if staged is not None else st.staged)
    lists = {"staged": staged_entries, "unstaged": entries(st.unstaged), "untracked": st.untracked, "conflicted": st.conflicted}
    omitted = 0
    for name, items in lists.items():
        omitted += max(0, len(items) - MAX_LIST)
        setattr(out, name, items[:MAX_LIST])
    out.omitted = omitted
    out.branch, out.upstream, out.ahead, out.behind, out.head = st.branch, st.upstream, st.ahead, st.behind, st.head
    return out


def ignore_outputs(ctx: ToolContext) -> None:
    """Our result files (long diffs, hook logs, tables) stay out of the user's `git status`."""
    if not (ctx.workspace.root / OUTPUT_DIR / ".gitignore").exists():
        ctx.workspace.write_text(f"{OUTPUT_DIR}/.gitignore", "*\n")
