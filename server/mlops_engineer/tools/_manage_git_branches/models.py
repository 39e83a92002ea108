"""Input and output models of manage_git_branches."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput

BranchName = Annotated[str, Field(min_length=1, max_length=255, description="A local branch name, e.g. feature/churn-v2.")]
BaseName = Annotated[str | None, Field(default=None, description="Branch to start from / merge into (no remote prefix); the remote's default branch when omitted.")]


class Create(StrictModel):
    """New branch from a base, tracking an upstream."""

    action: Literal["create"]
    name: BranchName
    base: BaseName = None
    switch: bool = Field(default=True, description="Check the new branch out (uncommitted changes move along only when the base is HEAD).")
    publish: bool = Field(default=False, description="Push it to the remote and track <remote>/<name>; otherwise it tracks the base.")


class Switch(StrictModel):
    """Check out; uncommitted changes block it unless stashed.

    With `stash: true` and `confirm: true`, tracked changes go to a named stash first.
    """

    action: Literal["switch"]
    name: BranchName
    stash: bool = Field(default=False, description="Stash uncommitted changes first (needs confirm).")


class Sync(StrictModel):
    """Fetch, rebase or merge the base; stop on a conflict."""

    action: Literal["sync"]
    branch: str | None = Field(default=None, description="Branch to update; the current one when omitted.")
    base: BaseName = None
    strategy: Literal["rebase", "merge"] = Field(default="rebase", description="Rebase onto the base, or merge it in. Rebasing commits already pushed needs confirm.")


class ListBranches(StrictModel):
    """Ahead/behind, upstream gone, merged or not."""

    action: Literal["list"]
    base: BaseName = None
    fetch: bool = Field(default=False, description="fetch --prune first, so 'upstream gone' is current.")


class Cleanup(StrictModel):
    """Prune, then delete merged branches only.

    Merged means by ancestry, or by content (squash and rebase merges). The current branch, one
    checked out in another worktree, and trunk branches are never deleted.
    """

    action: Literal["cleanup"]
    base: BaseName = None
    delete_unmerged: list[str] = Field(default_factory=list, max_length=100,
                                       description="Unmerged branches to delete anyway (with confirm): each must be named.")
    protect: list[str] = Field(default_factory=list, max_length=100, description="More branch names never to delete.")


Operation = Annotated[Create | Switch | Sync | ListBranches | Cleanup, Field(discriminator="action")]


class BranchesInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    repo: str = Field(default=".", max_length=4096, description="The git repository's folder, inside the workspace.")
    remote: str = Field(default="origin", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="Remote to fetch from and push to.")


Status = Literal["current", "worktree", "protected", "merged", "merged_rebase", "merged_squash", "gone_unmerged", "no_commits", "active"]


class BranchInfo(BaseModel):
    name: str
    commit: str = Field(description="Tip commit (full id).")
    subject: str = ""
    upstream: str | None = None
    upstream_gone: bool = Field(default=False, description="Its upstream was deleted on the remote.")
    ahead: int | None = Field(default=None, description="Commits not on the upstream.")
    behind: int | None = Field(default=None, description="Upstream commits not on the branch.")
    base_ahead: int | None = Field(default=None, description="Commits not on the base.")
    base_behind: int | None = Field(default=None, description="Base commits not on the branch.")
    status: Status | None = Field(default=None, description="merged* = the base holds its work (ancestry, rebase or squash).")
    reason: str = ""
    worktree: str | None = Field(default=None, description="Worktree that has it checked out, if another one.")


class DeletedBranch(BaseModel):
    name: str
    commit: str = Field(description="Its tip: `git branch <name> <commit>` brings it back.")
    status: Status
    reason: str


class SyncResult(BaseModel):
    branch: str
    onto: str = Field(description="The ref rebased onto or merged.")
    strategy: Literal["rebase", "merge"]
    outcome: Literal["up_to_date", "updated", "conflict"]
    before: str = Field(description="The branch's tip before the sync: `git reset --keep <before>` undoes it.")
    after: str
    conflicted_files: list[str] = Field(default_factory=list)
    in_progress: str | None = Field(default=None, description="'rebase' or 'merge' when stopped on a conflict (git status explains).")


class BranchesOutput(ToolOutput):
    action: str
    repo: str = Field(description="The repository's folder, relative to the workspace.")
    current_branch: str | None = None
    base: str | None = Field(default=None, description="The base ref compared with.")
    branch: BranchInfo | None = Field(default=None, description="create/switch: the branch now.")
    changed: bool = Field(default=False, description="False when there was nothing to do (already there).")
    stash: str | None = Field(default=None, description="switch: the stash holding the changes set aside.")
    sync: SyncResult | None = None
    branches: list[BranchInfo] = Field(default_factory=list, description="list/cleanup: at most 100; the rest in branches_file.")
    branches_total: int = 0
    branches_file: str | None = None
    pruned: list[str] = Field(default_factory=list, description="Remote-tracking refs fetch --prune removed.")
    deleted: list[DeletedBranch] = Field(default_factory=list)
    kept_unmerged: list[str] = Field(default_factory=list, description="cleanup: unmerged branches kept (name them in delete_unmerged to delete).")
    next_steps: list[str] = Field(default_factory=list)
