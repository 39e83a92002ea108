"""Git branches without losing work: cleanup prunes first and deletes only merged branches
(squash and rebase merges too); unmerged ones only when named.

Each action is a module of `tools/_manage_git_branches/`; git runs through `engines.git.runner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint
from mlops_engineer.tools._manage_git_branches.models import (
    BranchesInput,
    BranchesOutput,
    Cleanup,
    Create,
    ListBranches,
    Switch,
    Sync,
)

if TYPE_CHECKING:
    from mlops_engineer.tools._manage_git_branches.common import Target


def run(inp: BranchesInput, ctx: ToolContext) -> BranchesOutput:
    from mlops_engineer.tools._manage_git_branches.common import open_target, repo_lock

    target = open_target(inp, ctx)
    if inp.dry_run or isinstance(inp.operation, ListBranches) and not inp.operation.fetch:
        return _dispatch(inp, ctx, target)
    # One changing call at a time per repository, checks included: two identical cleanups at
    # once must not both classify, then race to delete.
    with repo_lock(target, ctx):
        return _dispatch(inp, ctx, target)


def _dispatch(inp: BranchesInput, ctx: ToolContext, target: Target) -> BranchesOutput:
    from mlops_engineer.tools._manage_git_branches import cleanup, create_switch, sync

    op = inp.operation
    out = BranchesOutput(action=op.action, repo=target.rel, dry_run=inp.dry_run)
    if isinstance(op, Create):
        return create_switch.run_create(op, inp, ctx, target, out)
    if isinstance(op, Switch):
        return create_switch.run_switch(op, inp, ctx, target, out)
    if isinstance(op, Sync):
        return sync.run_sync(op, inp, ctx, target, out)
    if isinstance(op, ListBranches):
        return cleanup.run_list(op, inp, ctx, target, out)
    assert isinstance(op, Cleanup)
    return cleanup.run_cleanup(op, inp, ctx, target, out)


def summarize(out: BranchesOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.sync is not None:
        s = out.sync
        text = {"up_to_date": f"'{s.branch}' already contains {s.onto}",
                "updated": f"'{s.branch}' {s.strategy}d on {s.onto}: {s.before[:12]} -> {s.after[:12]}",
                "conflict": f"{s.strategy} of '{s.branch}' on {s.onto} stopped on conflicts in {', '.join(s.conflicted_files[:10])}"
                            f"; the {s.in_progress} is in progress"}[s.outcome]
        return f"{prefix}{text}."
    if out.action == "cleanup":
        deleted = ", ".join(f"{d.name} ({d.status})" for d in out.deleted) or "none"
        verb = "would delete" if out.dry_run else "deleted"
        return (f"{prefix}Pruned {len(out.pruned)} remote-tracking refs; {verb}: {deleted}; "
                f"kept unmerged: {', '.join(out.kept_unmerged) or 'none'}.")
    if out.action == "list":
        counts: dict[str, int] = {}
        for b in out.branches:
            counts[b.status or "?"] = counts.get(b.status or "?", 0) + 1
        return f"{out.branches_total} branches vs {out.base}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + "."
    b = out.branch
    where = f" (tracking {b.upstream})" if b and b.upstream else ""
    state = "done" if out.changed else "nothing to do"
    stash = f"; changes stashed in {out.stash}" if out.stash else ""
    return f"{prefix}{out.action} {b.name if b else ''}{where}: {state}; on {out.current_branch}{stash}."


TOOL = ToolSpec(
    name="manage_git_branches",
    title="Manage git branches safely",
    description=__doc__ or "",
    input_model=BranchesInput,
    output_model=BranchesOutput,
    run=run,
    summarize=summarize,
    # destructive: cleanup deletes branches, sync rebases; open world: fetch and push talk to the remote.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(BranchesInput, '{"operation": {"action": "cleanup"}, "dry_run": true}'),
)
