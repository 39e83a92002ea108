"""Write or audit a project's CLAUDE.md from checked facts: commands found in its files
(each checked, or run with consent), the layout, the tools; AGENTS.md imported, never repeated.
"""

from __future__ import annotations

from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint
from mlops_engineer.tools._write_claude_md.models import Audit, ClaudeMdInput, ClaudeMdOutput, Draft


def run(inp: ClaudeMdInput, ctx: ToolContext) -> ClaudeMdOutput:
    from mlops_engineer.tools._write_claude_md.audit import run_audit
    from mlops_engineer.tools._write_claude_md.draft import run_draft, run_update

    from mlops_engineer.tools._write_claude_md.verify import stop_orphans

    # A call killed while a command ran (kill -9) left that command's group running: stop it first.
    recovered = [] if inp.dry_run else stop_orphans(ctx)
    op = inp.operation
    if isinstance(op, Draft):
        out = run_draft(inp, op, ctx)
    elif isinstance(op, Audit):
        out = run_audit(inp, op, ctx)
    else:
        out = run_update(inp, op, ctx)
    out.recovered = recovered + out.recovered
    return out


def summarize(out: ClaudeMdOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    counts: dict[str, int] = {}
    for check in out.commands:
        counts[check.status] = counts.get(check.status, 0) + 1
    commands = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none found"
    if out.action == "audit":
        return f"{prefix}{out.file}: {out.lines} lines, {out.errors} error(s), {out.warnings} warning(s); commands: {commands}."
    changed = [f"{f.path} ({f.action})" for f in out.files if f.action != "unchanged"]
    written = sum(c.written for c in out.commands)
    return (f"{prefix}{out.file}: {out.lines} lines, {written} command(s) written; commands: {commands}; "
            f"files: {', '.join(changed) or 'unchanged'}.")


TOOL = ToolSpec(
    name="write_claude_md",
    title="Write and audit CLAUDE.md",
    description=__doc__ or "",
    input_model=ClaudeMdInput,
    output_model=ClaudeMdOutput,
    run=run,
    summarize=summarize,
    # destructive: confirm overwrites a block or file someone edited; open world: run_commands runs project code.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(ClaudeMdInput, '{"operation": {"action": "audit", "project": "."}}'),
)
