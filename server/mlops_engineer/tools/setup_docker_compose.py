"""Multi-container ML stacks with Docker Compose from typed components (MLflow, Label Studio,
Feast, Prometheus/Grafana, BentoML, GPU trainer): render, validate, up with a health wait,
status, down.
"""

from __future__ import annotations

from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint
from mlops_engineer.tools._setup_docker_compose.lifecycle import run_down, run_status, run_up
from mlops_engineer.tools._setup_docker_compose.models import ComposeInput, ComposeOutput, Down, Render, Status, Up, Validate
from mlops_engineer.tools._setup_docker_compose.render_stack import run_render
from mlops_engineer.tools._setup_docker_compose.validate import run_validate


def run(inp: ComposeInput, ctx: ToolContext) -> ComposeOutput:
    op = inp.operation
    out = ComposeOutput(action=op.action, stack=getattr(op, "stack", None), dry_run=inp.dry_run)
    if isinstance(op, Render):
        return run_render(op, inp, ctx, out)
    if isinstance(op, Validate):
        return run_validate(op, ctx, out)
    if isinstance(op, Up):
        return run_up(op, inp, ctx, out)
    if isinstance(op, Status):
        return run_status(op, ctx, out)
    assert isinstance(op, Down)
    return run_down(op, inp, ctx, out)


def summarize(out: ComposeOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.action == "render":
        changed = sum(1 for f in out.files if f.action != "unchanged")
        return f"{prefix}Stack {out.stack}: {changed} file(s) written of {len(out.files)}; .env needs {', '.join(out.env_keys) or 'nothing'}."
    if out.action == "validate":
        failed = [c.name for c in out.checks if c.ok is False]
        skipped = [c.name for c in out.checks if c.ok is None]
        verdict = "valid" if out.valid else f"INVALID ({', '.join(failed)})"
        return f"{out.compose_file}: {verdict}" + (f"; skipped {', '.join(skipped)}" if skipped else "") + "."
    if out.dry_run:
        return f"{prefix}{out.action} {out.project}: {'; '.join(out.planned_calls)}"
    states = ", ".join(f"{s.service} {s.state}{'/' + s.health if s.health else ''}" for s in out.services)
    if out.action == "down":
        return f"Stack {out.project} down ({len(out.services)} container(s) removed" + (f"; still there: {', '.join(out.left)}" if out.left else "") + ")."
    if out.action == "status" and not out.services:
        return f"Stack {out.project}: no containers."
    return f"Stack {out.project} {'healthy' if out.healthy else 'NOT healthy'}: {states}."


TOOL = ToolSpec(
    name="setup_docker_compose",
    title="Docker Compose stacks for ML",
    description=__doc__ or "",
    input_model=ComposeInput,
    output_model=ComposeOutput,
    run=run,
    summarize=summarize,
    # destructive: down (volumes with confirm) removes containers and data; render with confirm overwrites edits.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(ComposeInput, '{"operation": {"action": "validate", "stack": "ml"}}'),
)
