"""Where a stack lives in the workspace, its project name, and its .env."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext

COMPOSE_FILE = "docker-compose.yml"
PLACEHOLDER = "change-me"


def stack_dir(ctx: ToolContext, stack: str, directory: str | None) -> str:
    return directory or f"compose/{stack}"


def project_name(ctx: ToolContext, stack: str) -> str:
    """One project per workspace and stack: two workspaces' stacks of one name never share containers."""
    digest = hashlib.sha256(str(ctx.workspace.root).encode()).hexdigest()[:8]
    return f"{stack}-{digest}"


def compose_file(ctx: ToolContext, stack: str, directory: str | None) -> Path:
    path = ctx.workspace.resolve(f"{stack_dir(ctx, stack, directory)}/{COMPOSE_FILE}")
    if not path.is_file():
        raise ToolError("not_found", f"No compose file at {ctx.workspace.relative(path)}.",
                        f'Render it first: {{"operation": {{"action": "render", "stack": "{stack}", "components": [...]}}}}')
    return path


def required_env(folder: Path) -> list[str]:
    from mlops_engineer.engines.compose.stack import read_env_keys

    example = folder / ".env.example"
    return list(read_env_keys(example.read_text("utf-8"))) if example.is_file() else []


def check_env(ctx: ToolContext, folder: Path) -> list[str]:
    """The keys .env must set; refuse (before anything starts) when .env lacks one or keeps a placeholder."""
    from mlops_engineer.engines.compose.stack import read_env_keys

    keys = required_env(folder)
    if not keys:
        return []
    env_path = folder / ".env"
    rel = ctx.workspace.relative(folder)
    if not env_path.is_file():
        raise ToolError("invalid_input", f"{rel}/.env is missing; the stack needs {', '.join(keys)}.",
                        f"cp {rel}/.env.example {rel}/.env and set every value (it holds secrets: keep it out of git).")
    values = read_env_keys(env_path.read_text("utf-8"))
    missing = [k for k in keys if not values.get(k)]
    placeholder = [k for k in keys if values.get(k) == PLACEHOLDER]
    if missing or placeholder:
        what = "; ".join(filter(None, [f"missing: {', '.join(missing)}" if missing else "",
                                       f"still '{PLACEHOLDER}': {', '.join(placeholder)}" if placeholder else ""]))
        raise ToolError("invalid_input", f"{rel}/.env is incomplete ({what}).", f"Set those keys in {rel}/.env, as listed in .env.example.")
    return keys
