"""status and diff: read-only."""

from __future__ import annotations

import hashlib

from mlops_engineer.engines.git.runner import run_git
from mlops_engineer.engines.git.secrets import PATTERNS, mask
from mlops_engineer.engines.git.staging import staged_changes, status
from mlops_engineer.output import OUTPUT_DIR
from mlops_engineer.redact import redact_text
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._commit_changes.models import (
    CommitChangesInput,
    CommitChangesOutput,
    Diff,
    Status,
)
from mlops_engineer.tools._commit_changes.repo import (
    fill_status,
    ignore_outputs,
    open_repo,
    pathspecs,
)


def run_status(op: Status, inp: CommitChangesInput, ctx: ToolContext, out: CommitChangesOutput) -> CommitChangesOutput:
    repo = open_repo(inp, ctx, out)
    specs = pathspecs(op.paths, repo, ctx)
    return fill_status(out, status(repo, ctx.check_cancelled, specs), staged_changes(repo, ctx.check_cancelled, specs))


def _masked(text: str) -> str:
    # A diff can hold the very secret the commit check would refuse: never hand it to the model.
    for _, pattern in PATTERNS:
        text = pattern.sub(lambda m: m[0].replace(m["secret"], mask(m["secret"])), text)
    return redact_text(text)


def run_diff(op: Diff, inp: CommitChangesInput, ctx: ToolContext, out: CommitChangesOutput) -> CommitChangesOutput:
    repo = open_repo(inp, ctx, out)
    specs = pathspecs(op.paths, repo, ctx)
    parts: list[str] = []
    for which in (["staged", "unstaged"] if op.which == "both" else [op.which]):
        args = ["diff", "--no-color", "--no-textconv", f"--unified={op.context}"] + (["--cached"] if which == "staged" else [])
        text = run_git(repo, args + ["--", *specs], check_cancelled=ctx.check_cancelled, max_output=50_000_000).stdout
        if text:
            parts.append(f"# {which} changes\n{text}" if op.which == "both" else text)
    text = _masked("".join(parts))
    out.diff_chars = len(text)
    if len(text) > op.max_chars:
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        ignore_outputs(ctx)
        target = ctx.workspace.write_text(f"{OUTPUT_DIR}/diff-{digest}.patch", text)
        out.diff_file = ctx.workspace.relative(target)
        text = text[: op.max_chars] + f"\n... cut at {op.max_chars} of {len(text)} characters; the whole diff is in {out.diff_file}\n"
    out.diff = text
    return fill_status(out, status(repo, ctx.check_cancelled), staged_changes(repo, ctx.check_cancelled))

