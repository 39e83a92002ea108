"""message (propose one from the staged diff) and check_messages (a range of history)."""

from __future__ import annotations

from mlops_engineer.engines.git.conventional import validate
from mlops_engineer.engines.git.propose import propose
from mlops_engineer.engines.git.runner import run_git
from mlops_engineer.engines.git.staging import staged_changes, staged_patch, status
from mlops_engineer.errors import ToolError
from mlops_engineer.output import preview_table
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._commit_changes.commit import check_message
from mlops_engineer.tools._commit_changes.models import (
    CheckMessages,
    CommitChangesInput,
    CommitChangesOutput,
    Message,
)
from mlops_engineer.tools._commit_changes.repo import fill_status, ignore_outputs, open_repo

_RECORD_END = "\x1e"  # git log records end with this; messages cannot hold it


def run_message(op: Message, inp: CommitChangesInput, ctx: ToolContext, out: CommitChangesOutput) -> CommitChangesOutput:
    repo = open_repo(inp, ctx, out)
    changes = staged_changes(repo, ctx.check_cancelled)
    if not changes:
        raise ToolError("invalid_input", "Nothing is staged: the message is proposed from the staged diff.",
                        'Stage files first: {"operation": {"action": "stage", "paths": ["<file>"]}}.')
    proposal = propose(changes, staged_patch(repo, context=0, check=ctx.check_cancelled), type_=op.type, scope=op.scope,
                       subject=op.subject, body=op.body, breaking=op.breaking)
    out.message, out.type, out.scope, out.breaking, out.reasons = (
        proposal.message, proposal.type, proposal.scope, proposal.breaking, proposal.reasons)
    out.check = check_message(proposal.message, op.convention)
    return fill_status(out, status(repo, ctx.check_cancelled), changes)


def _range_args(text: str) -> list[str]:
    # Each side of A..B / A...B is a revision, never an option (the model's pattern already keeps
    # out spaces and most punctuation).
    for side in text.replace("...", "..").split(".."):
        if side.startswith("-"):
            raise ToolError("invalid_input", f"range {text!r}: a revision may not start with '-'.", "Write e.g. main..HEAD.")
    return [text]


def run_check_messages(op: CheckMessages, inp: CommitChangesInput, ctx: ToolContext, out: CommitChangesOutput) -> CommitChangesOutput:
    repo = open_repo(inp, ctx, out)
    args = ["log", f"--max-count={op.max_count}", f"--format=%H%n%B{_RECORD_END}"] + ([] if op.include_merges else ["--no-merges"])
    result = run_git(repo, args + _range_args(op.range) + ["--"], check=False, check_cancelled=ctx.check_cancelled,
                     max_output=200_000_000)
    if not result.ok:
        raise ToolError("not_found", f"git log {op.range} failed: {result.stderr.strip()}",
                        "Check the revisions exist (action status shows the branch; e.g. main..HEAD).")
    rows = []
    records = [r for r in result.stdout.split(_RECORD_END) if r.strip()]
    for i, record in enumerate(records):
        if i % 500 == 0:
            ctx.progress(i, len(records), "checking commit messages")
        sha, _, message = record.lstrip("\n").partition("\n")
        verdict = validate(message, op.convention)
        if not verdict.valid:
            rows.append({"commit": sha[:12], "header": message.split("\n", 1)[0][:120],
                         "errors": "; ".join(f"{p.rule}: {p.message}" for p in verdict.errors)})
    out.checked = len(records)
    if len(rows) > 20:
        ignore_outputs(ctx)
    out.invalid = preview_table(ctx.workspace, "commit-messages-invalid", rows)
    return fill_status(out, status(repo, ctx.check_cancelled), staged_changes(repo, ctx.check_cancelled))
