"""Actions list and cleanup: every local branch classified (merged by ancestry, by rebase or
squash, upstream gone with unmerged commits, active), and cleanup deleting only the merged ones
unless an unmerged one is named. The current branch, one checked out in another worktree and
trunk branches are never touched; every deleted branch is reported with its tip, so
`git branch <name> <commit>` brings it back."""

from __future__ import annotations

from mlops_engineer.engines.git import branches as git
from mlops_engineer.engines.git.branch_classify import (
    MERGED,
    NEVER_DELETED,
    Classified,
    classify_all,
)
from mlops_engineer.errors import ToolError
from mlops_engineer.output import preview_table
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._manage_git_branches.common import (
    MAX_LISTED,
    Target,
    branch_info,
    branch_name,
    refuse_in_progress,
    resolve_base,
    short,
)
from mlops_engineer.tools._manage_git_branches.models import (
    BranchesInput,
    BranchesOutput,
    Cleanup,
    DeletedBranch,
    ListBranches,
)

UNMERGED = frozenset({"gone_unmerged", "active", "no_commits"})


def run_list(op: ListBranches, inp: BranchesInput, ctx: ToolContext, target: Target, out: BranchesOutput) -> BranchesOutput:
    if op.fetch:
        _prune(target, inp.dry_run, out)
    found, base_ref = _classify(op.base, frozenset(), target, ctx, out)
    _report(found, base_ref, target, ctx, out)
    return out


def run_cleanup(op: Cleanup, inp: BranchesInput, ctx: ToolContext, target: Target, out: BranchesOutput) -> BranchesOutput:
    repo = target.repo
    refuse_in_progress(target)  # mid-rebase HEAD is detached: the branch being rebased must not look deletable
    named = [branch_name(target, n) for n in op.delete_unmerged]
    protect = frozenset(branch_name(target, n) for n in op.protect)
    if named and not inp.confirm and not inp.dry_run:
        raise ToolError("needs_confirm", f"delete_unmerged names {', '.join(named)}: their commits may exist nowhere else.",
                        "Check them with dry_run=true (or git log <base>..<branch>), then repeat with confirm=true.")
    _prune(target, inp.dry_run, out)
    found, base_ref = _classify(op.base, protect, target, ctx, out)
    by_name = {c.branch.name: c for c in found}
    for name in named:
        if name not in by_name:
            raise ToolError("not_found", f"delete_unmerged names '{name}', which is not a local branch.", "list shows the branches.")
        if by_name[name].status in NEVER_DELETED:
            raise ToolError("conflict", f"'{name}' is {by_name[name].status} ({by_name[name].reason}): it is never deleted.",
                            "Switch away from it (or remove it from protect) first.")
    doomed = [c for c in found if c.status in MERGED or (c.status in UNMERGED and c.branch.name in named)]
    out.planned_calls += [f"git branch -D {c.branch.name}  # {c.status}, tip {c.branch.commit[:12]}" for c in doomed]
    out.deleted = [DeletedBranch(name=c.branch.name, commit=c.branch.commit, status=c.status, reason=c.reason) for c in doomed]
    out.kept_unmerged = [c.branch.name for c in found if c.status in UNMERGED and c not in doomed]
    _report(found, base_ref, target, ctx, out)
    if inp.dry_run:
        return out
    ctx.progress(0, 1, f"deleting {len(doomed)} branches")
    # The tips must be the ones classified: a commit made since then is unclassified work.
    now = {b.name: b.commit for b in git.local_branches(repo)}
    unchanged = [c.branch.name for c in doomed if now.get(c.branch.name) == c.branch.commit]
    for item in doomed:
        if item.branch.name not in unchanged:
            out.next_steps.append(f"Kept '{item.branch.name}': it moved while the cleanup ran; run cleanup again.")
    if unchanged:
        repo.run("branch", "-D", *unchanged)
    left = {b.name for b in git.local_branches(repo)}
    done = [name for name in unchanged if name not in left]
    out.deleted = [d for d in out.deleted if d.name in done]
    out.changed = bool(done or out.pruned)
    if out.deleted:
        out.next_steps.append("Bring a branch back with `git branch <name> <commit>` (commits listed in deleted).")
    return out


def _prune(target: Target, dry_run: bool, out: BranchesOutput) -> None:
    """fetch --prune: remote-tracking refs of branches deleted on the remote go, so 'gone' is true now."""
    if not target.remote:
        out.planned_calls.append("no remote: nothing to fetch or prune")
        return
    repo = target.repo
    before = git.remote_tracking_refs(repo, target.remote)
    if dry_run:
        answer = repo.run("fetch", "--prune", "--dry-run", "--no-recurse-submodules", target.remote, timeout=300)
        out.pruned = sorted(line.rsplit("-> ", 1)[-1].strip() for line in answer.stderr.splitlines() if "[deleted]" in line)
    else:
        repo.git("fetch", "--prune", "--no-recurse-submodules", target.remote, timeout=300)
        gone = before.keys() - git.remote_tracking_refs(repo, target.remote).keys()
        out.pruned = sorted(short(r) for r in gone)
        # Deleted on the server with commits no other ref has: say so, with the tip, before gc can take them.
        tips = sorted({before[ref] for ref in gone})
        orphaned = set(repo.git("rev-list", *tips, "--not", "--all").split()) if tips else set()
        for ref in sorted(gone):
            tip = before[ref]
            if tip in orphaned:
                out.next_steps.append(f"{short(ref)} was deleted on {target.remote} with commits no local ref has; "
                                      f"keep them with `git branch {short(ref).split('/', 1)[1]} {tip}`.")
    out.planned_calls.append(f"git fetch --prune {target.remote}")


def _classify(base: str | None, protect: frozenset[str], target: Target, ctx: ToolContext, out: BranchesOutput) -> tuple[list[Classified], str]:
    repo = target.repo
    name, refs = resolve_base(target, base)
    out.base = short(refs[0])
    out.current_branch = git.current_branch(repo)
    return classify_all(
        repo, git.local_branches(repo), refs, current=out.current_branch, worktrees=git.worktree_branches(repo),
        protected=git.PROTECTED | {name} | protect, progress=lambda d, t, m: ctx.progress(d, t, m),
    ), refs[0]


def _report(found: list[Classified], base_ref: str, target: Target, ctx: ToolContext, out: BranchesOutput) -> None:
    infos = [branch_info(target, c.branch, base_ref, c) for c in found[:MAX_LISTED]]
    infos += [branch_info(target, c.branch, None, c) for c in found[MAX_LISTED:]]  # only classified beyond the preview
    out.branches, out.branches_total = infos[:MAX_LISTED], len(infos)
    if len(infos) > MAX_LISTED:
        table = preview_table(ctx.workspace, "git-branches", [i.model_dump(mode="json") for i in infos], limit=0)
        out.branches_file = table.full_result_path
    for c in found:
        if c.status == "gone_unmerged":
            out.next_steps.append(f"'{c.branch.name}': upstream deleted, commits not in {short(base_ref)}; review with "
                                  f"`git log {short(base_ref)}..{c.branch.name}`, delete only via delete_unmerged + confirm.")
    out.next_steps = out.next_steps[:20]
