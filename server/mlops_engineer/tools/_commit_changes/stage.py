"""stage and unstage: the index only; files in the working tree are never changed."""

from __future__ import annotations

import re

from mlops_engineer.engines.git.runner import run_git
from mlops_engineer.engines.git.staging import (
    apply_to_index,
    head_sha,
    select_hunks,
    staged_changes,
    status,
)
from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._commit_changes.models import (
    CommitChangesInput,
    CommitChangesOutput,
    Stage,
    Unstage,
)
from mlops_engineer.tools._commit_changes.repo import fill_status, open_repo, pathspecs


def run_stage(op: Stage, inp: CommitChangesInput, ctx: ToolContext, out: CommitChangesOutput) -> CommitChangesOutput:
    repo = open_repo(inp, ctx, out)
    specs = pathspecs(op.paths, repo, ctx)
    pattern = None
    if op.pattern is not None:
        try:
            pattern = re.compile(op.pattern)
        except re.error as exc:
            raise ToolError("invalid_input", f"pattern is not a valid regular expression: {exc}.",
                            "Give a Python regex, e.g. \"def load_\" or \"TODO\".") from exc
    # Refuse a path git knows nothing about before touching the index (validate before the first change).
    known = run_git(repo, ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *specs],
                    check_cancelled=ctx.check_cancelled).stdout
    deleted = run_git(repo, ["diff", "--cached", "--name-only", "-z", "--diff-filter=D", "--", *specs], check_cancelled=ctx.check_cancelled).stdout
    if not known and not deleted:
        raise ToolError("not_found", f"Nothing to stage under {', '.join(op.paths)}: no such file, or it is ignored.",
                        "Check the paths with action status; ignored files (.gitignore) are never staged.")
    if pattern is None:
        out.planned_calls = [f"git add -- {' '.join(specs)}"]
        if not inp.dry_run:
            run_git(repo, ["add", "--", *specs], check_cancelled=ctx.check_cancelled)
    else:
        _stage_hunks(repo, specs, pattern, inp.dry_run, ctx, out)
    out.dry_run = inp.dry_run
    return fill_status(out, status(repo, ctx.check_cancelled), staged_changes(repo, ctx.check_cancelled))


def _stage_hunks(repo, specs: list[str], pattern: re.Pattern[str], dry_run: bool, ctx: ToolContext, out: CommitChangesOutput) -> None:
    patch = run_git(repo, ["diff", "--no-color", "--no-textconv", "--unified=3", "--", *specs],
                    check_cancelled=ctx.check_cancelled, max_output=50_000_000).stdout
    selected, kept, total = select_hunks(patch, pattern)
    # Untracked files have no hunks against the index: one is staged whole when a line matches.
    untracked = [p for p in run_git(repo, ["ls-files", "-z", "--others", "--exclude-standard", "--", *specs],
                                    check_cancelled=ctx.check_cancelled).stdout.split("\0") if p]
    matching_new = []
    for path in untracked:
        try:
            text = (repo / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        total += 1
        if any(pattern.search(line) for line in text.splitlines()):
            matching_new.append(path)
            kept += 1
    out.hunks_staged, out.hunks_total = kept, total
    out.planned_calls = ([f"git apply --cached ({kept - len(matching_new)} hunks)"] if selected else []) + (
        [f"git add -- {' '.join(matching_new)}"] if matching_new else [])
    if dry_run:
        return
    if selected:
        apply_to_index(repo, selected, ctx.check_cancelled)
    if matching_new:
        run_git(repo, ["add", "--", *matching_new], check_cancelled=ctx.check_cancelled)


def run_unstage(op: Unstage, inp: CommitChangesInput, ctx: ToolContext, out: CommitChangesOutput) -> CommitChangesOutput:
    repo = open_repo(inp, ctx, out)
    specs = pathspecs(op.paths, repo, ctx) if op.paths else ["."]
    if head_sha(repo, ctx.check_cancelled):
        out.planned_calls = [f"git reset -q -- {' '.join(specs)}"]
        if not inp.dry_run:
            run_git(repo, ["reset", "-q", "--", *specs], check_cancelled=ctx.check_cancelled)
    else:
        # Before the first commit there is no HEAD to reset to: drop the entries from the index.
        staged = run_git(repo, ["ls-files", "-z", "--cached", "--", *specs], check_cancelled=ctx.check_cancelled).stdout
        out.planned_calls = ["git update-index --force-remove (no commit yet)"]
        if staged and not inp.dry_run:
            run_git(repo, ["update-index", "--force-remove", "-z", "--stdin"], input_text=staged, check_cancelled=ctx.check_cancelled)
    out.dry_run = inp.dry_run
    return fill_status(out, status(repo, ctx.check_cancelled), staged_changes(repo, ctx.check_cancelled))
