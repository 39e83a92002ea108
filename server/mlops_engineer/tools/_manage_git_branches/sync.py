"""Action sync: fetch, then rebase the branch onto its base or merge the base in. A conflict
stops the operation where git stopped it (nothing aborted, nothing forced): the answer names the
files, and `git status` in the repository says the same."""

from __future__ import annotations

from mlops_engineer.engines.git import branches as git
from mlops_engineer.engines.git.branch_classify import is_ancestor
from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._manage_git_branches.common import (
    Target,
    branch_name,
    find_branch,
    refuse_changes,
    refuse_in_progress,
    resolve_base,
    short,
)
from mlops_engineer.tools._manage_git_branches.models import (
    BranchesInput,
    BranchesOutput,
    SyncResult,
)
from mlops_engineer.tools._manage_git_branches.models import Sync as SyncOp

REBASE_HOOKS = ("pre-rebase",)  # a guard the team may keep against rebasing shared branches


def run_sync(op: SyncOp, inp: BranchesInput, ctx: ToolContext, target: Target, out: BranchesOutput) -> BranchesOutput:
    repo = target.repo
    refuse_in_progress(target)
    current = git.current_branch(repo)
    name = branch_name(target, op.branch) if op.branch else current
    if name is None:
        raise ToolError("invalid_input", "HEAD is detached: there is no current branch to sync.", "Name the branch to sync in `branch`.")
    branch = find_branch(target, name)
    if branch is None:
        raise ToolError("not_found", f"No local branch '{name}' in {target.rel}.", "Create it (action create) or switch to it first.")
    if name != current:
        elsewhere = git.worktree_branches(repo).get(name)
        if elsewhere is not None:
            raise ToolError("conflict", f"'{name}' is checked out in the worktree {elsewhere}.", "Sync it there (repo).")
    refuse_changes(target, f"a {op.strategy}")
    if target.remote and not inp.dry_run:
        ctx.progress(0, 3, f"fetching {target.remote}")
        repo.git("fetch", "--no-recurse-submodules", target.remote, timeout=300)
    base, refs = resolve_base(target, op.base)
    onto = refs[0]
    if onto == f"refs/heads/{name}":
        raise ToolError("invalid_input", f"'{name}' is its own base.", "Name the branch to update and the base to bring in.")
    before = branch.commit
    out.base, out.current_branch = short(onto), current
    result = SyncResult(branch=name, onto=short(onto), strategy=op.strategy, outcome="up_to_date", before=before, after=before)
    out.sync = result
    out.planned_calls += [f"git fetch {target.remote}" if target.remote else "no remote: local base"]
    if is_ancestor(repo, onto, before):
        out.planned_calls.append(f"'{name}' already contains {short(onto)}: nothing to do")
        return out
    if op.strategy == "rebase":
        _refuse_rewriting_published(target, branch, onto, inp.confirm)
    out.planned_calls += [*([f"git switch {name}"] if name != current else []),
                          f"git rebase {short(onto)}" if op.strategy == "rebase" else f"git merge --no-edit {short(onto)}"]
    if inp.dry_run:
        return out
    if name != current:
        repo.git("switch", name)
    ctx.progress(1, 3, f"{op.strategy} {name} on {short(onto)}")
    done = repo.run("rebase", onto, hooks=REBASE_HOOKS, timeout=600) if op.strategy == "rebase" else \
        repo.run("merge", "--no-edit", onto, timeout=600)
    out.current_branch = git.current_branch(repo) or name
    if done.ok:
        result.outcome, result.after = "updated", git.resolve_commit(repo, "HEAD") or before
        return out
    busy = git.operation_in_progress(repo)
    files = git.conflicted_files(repo)
    if busy is None:  # refused before it started (a hook, a missing identity): the branch is as it was
        if name != current and current:
            repo.run("switch", current)  # and so is the checkout: a failed call changes nothing
        raise ToolError("failed", f"git {op.strategy} stopped before changing anything: {(done.stderr or done.stdout).strip()[:800]}",
                        "Read git's message; for a merge, set user.name and user.email.")
    result.outcome, result.in_progress, result.conflicted_files = "conflict", busy, files
    result.after = git.resolve_commit(repo, "HEAD") or before
    if not files:
        out.next_steps.append(f"git stopped the {busy}: {(done.stderr or done.stdout).strip()[:500]}")
    out.next_steps += [
        f"Resolve the conflicts in {', '.join(files[:10]) or 'the files git status lists'}, `git add` them, then `git {busy} --continue`.",
        f"Or undo the whole {busy} with `git {busy} --abort` (back to {before[:12]}).",
    ]
    return out


def _refuse_rewriting_published(target: Target, branch: git.Branch, onto: str, confirm: bool) -> None:
    """A rebase rewrites the branch's own commits; those already on its remote branch would then
    differ from what a colleague fetched. That needs confirm (and a force-push the tool never does)."""
    if not branch.upstream or branch.upstream_gone or not target.remote or not branch.upstream.startswith(f"{target.remote}/"):
        return
    upstream = f"refs/remotes/{branch.upstream}"
    if upstream == onto:
        return
    published = _count_published(target, branch.commit, onto, upstream)
    if published and not confirm:
        raise ToolError(
            "needs_confirm",
            f"Rebasing '{branch.name}' rewrites {published} commit(s) already pushed to {branch.upstream}; "
            "anyone who fetched them would have to reconcile by hand.",
            "Use strategy merge to keep history, or repeat with confirm=true (you will need git push --force-with-lease).",
        )


def _count_published(target: Target, tip: str, onto: str, upstream: str) -> int:
    """Commits that the rebase would rewrite (on the branch, not on the base) and that the upstream has."""
    mine = set(target.repo.git("rev-list", tip, f"^{onto}").split())
    theirs = set(target.repo.git("rev-list", upstream, f"^{onto}").split())
    return len(mine & theirs)
