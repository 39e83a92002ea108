"""Commit safely with git: staging by path or hunk, commits that refuse secrets and DVC-sized
files, Conventional Commits messages proposed and checked.
"""

from __future__ import annotations

from typing import Any

from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint
from mlops_engineer.tools._commit_changes.commit import run_commit
from mlops_engineer.tools._commit_changes.inspect import run_diff, run_status
from mlops_engineer.tools._commit_changes.message import run_check_messages, run_message
from mlops_engineer.tools._commit_changes.models import CommitChangesInput, CommitChangesOutput
from mlops_engineer.tools._commit_changes.stage import run_stage, run_unstage

_HANDLERS: dict[str, Any] = {
    "status": run_status, "diff": run_diff, "stage": run_stage, "unstage": run_unstage, "commit": run_commit,
    "amend": run_commit, "message": run_message, "check_messages": run_check_messages,
}


def run(inp: CommitChangesInput, ctx: ToolContext) -> CommitChangesOutput:
    op = inp.operation
    out = CommitChangesOutput(action=op.action, repo=inp.repo, dry_run=inp.dry_run)
    return _HANDLERS[op.action](op, inp, ctx, out)


def summarize(out: CommitChangesOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    where = f"{out.branch or 'detached HEAD'}{f' ({out.ahead} ahead, {out.behind} behind {out.upstream})' if out.upstream else ''}"
    counts = f"{len(out.staged)} staged, {len(out.unstaged)} unstaged, {len(out.untracked)} untracked"
    action = out.action
    if action in ("commit", "amend"):
        header = (out.message or "").split("\n", 1)[0]
        if out.dry_run:
            problems = [f"{len(out.secrets)} possible secret(s)"] * bool(out.secrets) + [f"{len(out.large_files)} large file(s)"] * bool(out.large_files)
            if out.check and not out.check.valid:
                problems.append("message fails " + out.check.convention)
            return f"{prefix}{action} '{header}' on {where}; {', '.join(problems) or 'checks pass'}."
        verb = {"commit": "Committed", "amend": "Amended"}[action] if out.created else "Already at HEAD"
        return f"{verb} {(out.commit or '')[:12]} '{header}' on {where}."
    if action == "message":
        valid = "valid" if out.check and out.check.valid else "INVALID"
        return f"Proposed ({valid} for {out.check.convention if out.check else '-'}): {(out.message or '').splitlines()[0]}"
    if action == "check_messages" and out.invalid is not None:
        return f"{out.checked} commit message(s) checked: {out.invalid.total_rows} fail."
    if action == "diff":
        where_diff = f"; whole diff in {out.diff_file}" if out.diff_file else ""
        return f"Diff of {out.diff_chars} characters ({counts}){where_diff}."
    if action == "stage" and out.hunks_total is not None:
        return f"{prefix}Staged {out.hunks_staged} of {out.hunks_total} hunk(s) matching the pattern; {counts}."
    return f"{prefix}{action}: {where}; {counts}."


TOOL = ToolSpec(
    name="commit_changes",
    title="Commit changes safely (git, Conventional Commits)",
    description=__doc__ or "",
    input_model=CommitChangesInput,
    output_model=CommitChangesOutput,
    run=run,
    summarize=summarize,
    # destructive: amend rewrites HEAD (confirm when it is pushed); commits and staging change the index.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=False),
    input_hint=action_hint(CommitChangesInput, '{"operation": {"action": "stage", "paths": ["src/train.py"]}}'),
)
