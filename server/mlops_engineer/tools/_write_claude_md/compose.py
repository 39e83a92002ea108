"""The text we write: a context file whose verified facts sit in a marked block, and rule files.

Only the block between the markers is ours: `update` replaces it and keeps every line
around it. We remember the hash of each block we wrote (`.mlops/claude_md.json`), so a block
someone edited is overwritten only with `confirm`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mlops_engineer.workspace import STATE_DIR, Workspace

BEGIN = "<!-- write_claude_md: begin generated facts -->"
END = "<!-- write_claude_md: end -->"
BLOCKS = f"{STATE_DIR}/claude_md.json"
TARGET_LINES = 100  # what we generate; the audit warns only past its max_lines (200 by default)


@dataclass
class Line:
    command: str
    note: str | None = None


@dataclass
class RuleFile:
    name: str
    folder: str
    paths: list[str]
    commands: list[Line] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    from mlops_engineer.bundle import bundle_path
    from mlops_engineer.render import configure

    # trim_blocks: a Markdown file's lines are its structure, so tags leave no blank lines of their own.
    return configure(jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(bundle_path("templates"))), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, autoescape=False, trim_blocks=True, lstrip_blocks=True,
    ))


def render(template: str, **values: Any) -> str:
    return _environment().get_template(f"context/{template}").render(**values)


def block(inner: str) -> str:
    from markupsafe import Markup

    # Markup: a multi-line value written on purpose (render.one_line refuses raw line breaks).
    return Markup(f"{BEGIN}\n{inner.strip()}\n{END}")


def split(text: str) -> tuple[str, str, str] | None:
    """(before, inner, after) around our one marked block; None when the file has none (or a broken one)."""
    lines = text.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        return None
    b, e = begins[0], ends[0]
    return "".join(lines[:b]), "".join(lines[b + 1:e]).strip(), "".join(lines[e + 1:])


def sha(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def load_blocks(workspace: Workspace) -> dict[str, str]:
    path = workspace.resolve(BLOCKS)
    try:
        data = json.loads(path.read_text("utf-8")) if path.exists() else {}
    except (ValueError, OSError):
        return {}  # damaged: every block counts as edited, which only makes us more careful
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_block(workspace: Workspace, rel: str, inner: str) -> None:
    blocks = load_blocks(workspace)
    blocks[rel] = sha(inner)
    workspace.write_text(BLOCKS, json.dumps(blocks, indent=2, sort_keys=True) + "\n")
