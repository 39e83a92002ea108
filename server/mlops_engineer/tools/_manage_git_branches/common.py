"""What every action needs: the repository, its base, the guards against half-done operations,
and a branch's state as the output reports it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mlops_engineer.engines.git import branches as git
from mlops_engineer.engines.git.branch_classify import Classified
from mlops_engineer.engines.git.runner import check_ref_name
from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._manage_git_branches.models import BranchesInput, BranchInfo

MAX_LISTED = 100


@dataclass(frozen=True)
class Target:
    repo: git.Repo
    remote: str | None
    """The remote when the repository has it; None for a local-only repository."""
    rel: str


def open_target(inp: BranchesInput, ctx: ToolContext) -> Target:
    path = ctx.workspace.resolve(inp.repo, must_exist=True)
    repo = git.open_repo(path, ctx.workspace.root, ctx.check_cancelled)
    remote = inp.remote if inp.remote in git.remotes(repo) else None
    return Target(repo=repo, remote=remote, rel=ctx.workspace.relative(repo.root) or ".")


@contextmanager
def repo_lock(target: Target, ctx: ToolContext) -> Iterator[None]:
    """One branch operation at a time per repository (two cleanups at once would race on the same refs)."""
    from mlops_engineer.locks import workspace_lock
    from mlops_engineer.output import stable_digest

    with workspace_lock(ctx.workspace, f"git-branches-{stable_digest(str(target.repo.root))[:16]}", check_cancelled=ctx.check_cancelled):
        yield


def branch_name(target: Target, name: str) -> str:
    check_ref_name(name)
    # check-ref-format --branch also catches what git alone knows (e.g. 'HEAD').
    if not target.repo.ok("check-ref-format", "--branch", name) or name == "HEAD":
        raise ToolError("invalid_input", f"'{name}' is not a valid branch name.", "See git check-ref-format: no spaces, '..', '~^:?*[' or a leading '-'.")
    return name


def refuse_in_progress(target: Target) -> None:
    """A rebase or merge stopped on a conflict is the user's to finish: never start another on top."""
    busy = git.operation_in_progress(target.repo)
    if busy:
        files = git.conflicted_files(target.repo)
        listed = f" Conflicted files: {', '.join(files[:20])}." if files else ""
        raise ToolError(
            "conflict", f"A {busy} is in progress in {target.rel}.{listed}",
            f"Finish it (resolve, git add, git {busy} --continue) or undo it (git {busy} --abort), then repeat the call; "
            "`git status` shows where it stopped.",
        )


def refuse_changes(target: Target, doing: str) -> None:
    files = git.changed_files(target.repo)
    if files:
        raise ToolError(
            "conflict", f"Uncommitted changes in {target.rel} ({len(files)} files: {', '.join(files[:10])}); {doing} would mix them in.",
            "Commit them, or stash them (git stash push), then repeat the call.",
        )


def resolve_base(target: Target, base: str | None) -> tuple[str, list[str]]:
    """The base branch name and the refs that stand for it (remote copy first); not_found when none exists."""
    if base and target.remote and base.startswith(f"{target.remote}/"):
        base = base[len(target.remote) + 1:]  # "origin/main" means the branch main, as the remote has it
    name = branch_name(target, base) if base else git.default_branch(target.repo, target.remote)
    refs = git.base_refs(target.repo, name, target.remote)
    if not refs:
        raise ToolError("not_found", f"No branch '{name}' here or on {target.remote or 'a remote'}.",
                        "Name an existing base branch (list shows the branches).")
    return name, refs


def short(ref: str) -> str:
    return ref.removeprefix("refs/remotes/").removeprefix("refs/heads/")


def branch_info(target: Target, branch: git.Branch, base_ref: str | None, found: Classified | None = None) -> BranchInfo:
    repo = target.repo
    info = BranchInfo(name=branch.name, commit=branch.commit, subject=branch.subject, upstream=branch.upstream,
                      upstream_gone=branch.upstream_gone, ahead=branch.ahead, behind=branch.behind)
    if base_ref:
        info.base_ahead, info.base_behind = git.ahead_behind(repo, f"refs/heads/{branch.name}", base_ref)
    if found is not None:
        info.status, info.reason = found.status, found.reason
        info.worktree = str(found.worktree) if found.worktree else None
    return info


def find_branch(target: Target, name: str) -> git.Branch | None:
    return next((b for b in git.local_branches(target.repo) if b.name == name), None)
