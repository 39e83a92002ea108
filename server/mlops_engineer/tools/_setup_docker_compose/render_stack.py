"""Action `render`: components -> compose/<stack>/ files."""

from __future__ import annotations

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._setup_docker_compose.models import ComposeInput, ComposeOutput, Render
from mlops_engineer.tools._setup_docker_compose.stack_files import COMPOSE_FILE, stack_dir


def run_render(op: Render, inp: ComposeInput, ctx: ToolContext, out: ComposeOutput) -> ComposeOutput:
    from mlops_engineer.engines.compose.stack import env_example, render_stack
    from mlops_engineer.render import write_files

    folder = stack_dir(ctx, op.stack, op.directory)
    ctx.workspace.resolve(folder)  # refuse an escape before rendering anything
    compose_text, side_files, env = render_stack(op.stack, op.components)
    files = {f"{folder}/{COMPOSE_FILE}": compose_text, f"{folder}/.env.example": env_example(env)}
    files.update({f"{folder}/{rel}": text for rel, text in side_files.items()})
    out.files = write_files(ctx.workspace, files, dry_run=inp.dry_run, confirm=inp.confirm)
    out.compose_file = f"{folder}/{COMPOSE_FILE}"
    out.env_keys = list(env)
    out.next_steps = [
        f"Check it: {{\"operation\": {{\"action\": \"validate\", \"stack\": \"{op.stack}\"}}}}",
        *([f"cp {folder}/.env.example {folder}/.env and set {', '.join(env)}"] if env else []),
        f"Start it: {{\"operation\": {{\"action\": \"up\", \"stack\": \"{op.stack}\"}}}}",
    ]
    return out
