"""Check every found command, and run the ones the caller consented to."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.workspace import STATE_DIR
from mlops_engineer.tools._write_claude_md.commands import Found, Result, argv_of, check, execute, needs_shell, risk
from mlops_engineer.tools._write_claude_md.models import CommandCheck, _Project
from mlops_engineer.tools._write_claude_md.project import Component


def _skipped_by_caller(command: str, skip: list[str]) -> bool:
    return any(command == s.strip() or command.startswith(s.strip()) for s in skip if s.strip())


RUNNING = f"{STATE_DIR}/claude_md/running"


def _record(ctx: ToolContext, pid: int, command: str) -> Path:
    """Who runs which process group: a call that finds the caller dead stops the group."""
    from mlops_engineer.locks import owner

    record = {"caller": owner(), "group": owner(pid), "pid": pid, "command": command[:200]}
    return ctx.workspace.write_text(f"{RUNNING}/{pid}.json", json.dumps(record))


def stop_orphans(ctx: ToolContext) -> list[str]:
    """Process groups a crashed call (kill -9) left running: stopped, and said so in `recovered`."""
    from mlops_engineer.locks import owner_alive, pid_exists

    folder = ctx.workspace.resolve(RUNNING)
    recovered: list[str] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text("utf-8"))
            caller, group, pid = str(record["caller"]), str(record["group"]), int(record["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if owner_alive(caller) is not False:
            continue  # its call still runs (or ran on another host): not ours to stop
        leader = owner_alive(group)
        if leader is not False or not pid_exists(pid):
            # The leader is the recorded process, or it is gone and only its group can hold this id.
            try:
                os.killpg(pid, signal.SIGKILL)
                recovered.append(f"stopped `{record.get('command', '?')}` (process group {pid}), left running by a call that died")
            except (ProcessLookupError, PermissionError):
                pass
        path.unlink(missing_ok=True)
    return recovered


def verify(
    found: list[tuple[Found, Component | None]], op: _Project, ctx: ToolContext, project: Path, *, dry_run: bool, confirm: bool
) -> list[CommandCheck]:
    """Static checks for all; with `run_commands` (and confirm), a run of each that is safe to run.

    Without confirm (and not a dry run) nothing runs: the answer is `needs_confirm` naming
    the commands that would.
    """
    checks: list[tuple[Found, Result, list[str] | None]] = []
    for item, component in found:
        cwd = ctx.workspace.resolve(item.cwd)
        result = check(item, cwd, project, component)
        argv = argv_of(item.command)
        if result.status == "checked" and op.run_commands:
            if argv is None or needs_shell(item.command, argv):
                result = Result("checked", "shell syntax: only its first command was checked; not run")
            elif _skipped_by_caller(item.command, op.skip_commands):
                result = Result("checked", "in skip_commands: not run")
            elif (why := risk(argv)) is not None:
                result = Result("checked", f"not run: {why}")
            else:
                result = Result("planned")
        checks.append((item, result, argv))
    planned = [item.command for item, result, _ in checks if result.status == "planned"]
    if planned and not dry_run and not confirm:
        shown = "; ".join(planned[:15]) + (f"; and {len(planned) - 15} more" if len(planned) > 15 else "")
        raise ToolError(
            "needs_confirm",
            f"run_commands would run {len(planned)} command(s) found in the project, each up to {op.timeout_seconds} s: {shown}.",
            "Running them runs the project's own code. Review the list (dry_run=true shows it), then call again with "
            "confirm=true; add any you do not want run to skip_commands, or set run_commands=false for static checks only.",
        )
    out: list[CommandCheck] = []
    for n, (item, result, argv) in enumerate(checks):
        if result.status == "planned" and not dry_run and argv is not None:
            ctx.progress(n, len(checks), f"running {item.command[:80]}")
            cwd = ctx.workspace.resolve(item.cwd)
            records: list[Path] = []
            try:
                result = execute(argv, cwd, project, op.timeout_seconds, ctx.check_cancelled,
                                 on_start=lambda pid, c=item.command: records.append(_record(ctx, pid, c)))
            finally:
                for record in records:
                    record.unlink(missing_ok=True)
        out.append(CommandCheck(
            command=item.command, source=item.source, cwd=item.cwd, status=result.status,  # type: ignore[arg-type]
            exit_code=result.exit_code, seconds=result.seconds, reason=result.reason, output_tail=result.output_tail,
        ))
    return out


def note_for(check: CommandCheck, ran: bool, timeout: int) -> str | None:
    """The comment a written command carries: only what differs from the block's header."""
    if check.status == "timed_out":
        return f"still running after {timeout} s here: slow, or waits for input"
    if ran and check.status == "checked":
        return check.reason or "not run"
    return None


WRITTEN = {"passed", "timed_out", "checked"}
MAX_LISTED = 60  # commands in an answer: with their output tails, a few thousand tokens at most


def bounded(checks: list[CommandCheck]) -> tuple[list[CommandCheck], int]:
    """The first MAX_LISTED checks, those that did not pass first (they are what needs reading), and how many were left out."""
    order = sorted(checks, key=lambda c: c.status in ("passed", "checked", "planned"))
    return order[:MAX_LISTED], max(0, len(checks) - MAX_LISTED)
