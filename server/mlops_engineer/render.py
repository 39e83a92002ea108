"""Render Jinja templates into the workspace without clobbering what the user changed.

We remember the hash of every file we write (`.mlops/rendered.json`). A file
whose content still matches that hash is ours to update; a file that differs
was edited by someone, and overwriting it needs `confirm`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field

from mlops_engineer.bundle import bundle_path
from mlops_engineer.errors import ToolError
from mlops_engineer.locks import workspace_lock
from mlops_engineer.workspace import STATE_DIR, Workspace, check_before_write, writes_checked_by

MANIFEST = f"{STATE_DIR}/rendered.json"
MAX_DIFF_LINES = 80


class FileChange(BaseModel):
    """One file a tool wrote, or would write in a dry run."""

    path: str = Field(description="Path relative to the workspace root.")
    action: Literal["create", "update", "unchanged", "overwrite"] = Field(
        description="create: new file; update: replaces a file we rendered earlier; unchanged: same "
        "content already there; overwrite: replaces a file someone edited (needs confirm)."
    )
    diff: str | None = Field(default=None, description="Unified diff for update/overwrite (truncated).")


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\x85]")


def one_line(value: Any) -> Any:
    """Jinja's `finalize`: a text value written as it is (`{{ x }}`, not `{{ x | tojson }}`) must be
    one line. A newline in an image name, a path or a URI would start a line of YAML, Python or
    shell of the caller's choosing. Escaped output (`tojson`, which returns Markup) and values the
    caller marks as Markup (pre-escaped, multi-line on purpose) pass; so does everything not text.
    Each input model constrains its values to their own grammar first; this is the safety net."""
    if isinstance(value, str) and not hasattr(value, "__html__") and _CONTROL.search(value):
        raise ToolError(
            "invalid_input",
            f"The value {value[:80]!r} contains a line break or control character and cannot be written into a file.",
            "Remove the line break (or other control character) from the field that holds it.",
        )
    return value


def _docstring(value: Any) -> Any:
    """Text inside a Python docstring: a quote or a backslash cannot end it, and a line break
    stays inside it (so the result is Markup: escaped for its place)."""
    from markupsafe import Markup

    return Markup(str(value).replace("\\", "\\\\").replace('"', '\\"'))


def _cell(value: Any) -> str:
    """Text for one Markdown line (a table cell, a list item): line breaks become spaces, | is escaped."""
    return _CONTROL.sub(" ", str(value)).replace("|", "\\|")


def configure(env: Any) -> Any:
    """What every template environment shares: `one_line` on each raw value, and the filters
    `doc` (inside a docstring), `sh` (a shell word) and `cell` (one Markdown line)."""
    import shlex

    env.finalize = one_line
    env.filters.update(doc=_docstring, sh=lambda v: shlex.quote(str(v)), cell=_cell)
    return env


@lru_cache(maxsize=1)
def _environment() -> Any:
    # Imported here: jinja2 is cheap, but nothing at server start should render.
    import jinja2

    return configure(jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(bundle_path("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    ))


def render_template(template: str, /, **context: Any) -> str:
    """Render `templates/<name>`; a variable the template needs but did not get is an error, and
    so is a raw value with a line break (see `one_line`)."""
    return _environment().get_template(template).render(**context)


def _sha(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _diff(path: str, old: str, new: str) -> str:
    lines = list(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"... {len(lines) - MAX_DIFF_LINES} more diff lines\n"]
    return "".join(lines)


def _load_manifest(workspace: Workspace) -> dict[str, str]:
    path = workspace.resolve(MANIFEST)
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text("utf-8")))
    except (ValueError, TypeError):
        return {}  # A damaged manifest only makes us more careful: every file counts as edited.


def write_files(
    workspace: Workspace, files: dict[str, str], *, dry_run: bool, confirm: bool
) -> list[FileChange]:
    """Plan every file first; write nothing unless the whole plan is allowed.

    Raises `needs_confirm` when a file that someone edited would be overwritten
    and `confirm` is false, before any file is touched. Renders on one workspace take turns
    (a workspace lock), so concurrent calls neither lose each other's manifest entries nor
    plan against files another call is writing.
    """
    if dry_run:
        return _plan(workspace, files, _load_manifest(workspace))
    with workspace_lock(workspace, "render-manifest", check_cancelled=check_before_write):
        manifest = _load_manifest(workspace)
        changes = _plan(workspace, files, manifest)
        edited = [c.path for c in changes if c.action == "overwrite"]
        if edited and not confirm:
            raise ToolError(
                "needs_confirm",
                f"These files were changed since we rendered them (or were not written by us): {', '.join(edited)}.",
                "Call again with dry_run=true to see the diffs, then with confirm=true to overwrite them.",
            )
        # A cancelled call stops here; past this point the plan is written whole (small text
        # files, milliseconds), so the files and the manifest never disagree.
        check_before_write()
        with writes_checked_by(lambda: None):
            for (rel, content), change in zip(files.items(), changes, strict=True):
                if change.action != "unchanged":
                    workspace.write_text(rel, content)
                manifest[change.path] = _sha(content)
            workspace.write_text(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return changes


def _plan(workspace: Workspace, files: dict[str, str], manifest: dict[str, str]) -> list[FileChange]:
    changes: list[FileChange] = []
    for rel, content in files.items():
        target = workspace.resolve(rel)
        shown = workspace.relative(target)
        if not target.exists():
            changes.append(FileChange(path=shown, action="create"))
            continue
        current = target.read_text("utf-8", errors="replace")
        if current == content:
            changes.append(FileChange(path=shown, action="unchanged"))
            continue
        ours = manifest.get(shown) == _sha(current)
        changes.append(
            FileChange(path=shown, action="update" if ours else "overwrite", diff=_diff(shown, current, content))
        )
    return changes
