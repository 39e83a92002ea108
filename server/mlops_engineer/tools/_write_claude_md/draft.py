"""Actions `draft` and `update`: gather verified facts, compose the context file and rule files, write them."""

from __future__ import annotations

import difflib
import os
import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from mlops_engineer.errors import ToolError
from mlops_engineer.locks import workspace_lock
from mlops_engineer.render import MANIFEST, FileChange, write_files
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._write_claude_md import compose
from mlops_engineer.tools._write_claude_md.commands import discover
from mlops_engineer.tools._write_claude_md.models import ClaudeMdInput, ClaudeMdOutput, CommandCheck, Draft, Update, _Project
from mlops_engineer.tools._write_claude_md.project import Component, components, detect_tools, layout, list_files, read_text
from mlops_engineer.tools._write_claude_md.verify import WRITTEN, bounded, note_for, verify

MAX_COMMANDS = 20  # in the root file; the 100-line target leaves room for layout, tools and notes
MAX_RULE_COMMANDS = 12


@dataclass
class Facts:
    project: Path
    files: list[str]
    components: list[Component]
    checks: list[CommandCheck]
    agents: str | None  # AGENTS.md's text, when the project has one


def project_dir(ctx: ToolContext, op: _Project) -> Path:
    path = ctx.workspace.resolve(op.project, must_exist=True)
    if not path.is_dir():
        raise ToolError("invalid_input", f"project '{op.project}' is a file, not a folder.", 'Give the project folder, e.g. "project": ".".')
    return path


def gather(ctx: ToolContext, op: _Project, inp: ClaudeMdInput) -> Facts:
    project = project_dir(ctx, op)
    files = list_files(project)
    comps = components(project, files)
    found = []
    for comp in comps:
        rel = ctx.workspace.relative(comp.root) or "."
        found += [(f, comp) for f in discover(comp, rel, files)]
    checks = verify(found, op, ctx, project, dry_run=inp.dry_run, confirm=inp.confirm)
    agents = project / "AGENTS.md"
    return Facts(project, files, comps, checks, read_text(agents) if agents.is_file() else None)


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[`*_>#-]", " ", text.lower()).split())


def _written(checks: list[CommandCheck], cwd: str, agents: str | None, op: _Project, limit: int) -> list[compose.Line]:
    """The commands to write for one folder: those that passed (or were checked), not already in AGENTS.md."""
    ran = op.run_commands
    lines = []
    for check in checks:
        if check.cwd != cwd or check.status not in WRITTEN or len(lines) >= limit:
            continue
        if agents is not None and check.command in agents:
            continue  # AGENTS.md is imported: never say it twice
        check.written = True
        lines.append(compose.Line(check.command, note_for(check, ran, op.timeout_seconds)))
    return lines


def _header(op: _Project, lines: list[compose.Line]) -> str:
    if op.run_commands:
        return (f"Each ran here and exited 0 within {op.timeout_seconds} s unless its comment says otherwise; "
                "failing ones are left out.")
    return "Each was checked, not run: its program, script or target and the paths it names exist."


def _title(facts: Facts) -> str:
    root = facts.components[0]
    name = root.pyproject.get("project", {}).get("name") if isinstance(root.pyproject.get("project"), dict) else None
    return str(name or root.package_json.get("name") or facts.project.name or "project")


def _rule_name(folder: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", folder.lower()).strip("-")[:60] or "folder"


def compose_all(ctx: ToolContext, op: _Project, facts: Facts, file_rel: str, text_outside: str) -> tuple[str, dict[str, str]]:
    """(the generated block's inner text, rule files by workspace path)."""
    ws = ctx.workspace
    root_rel = ws.relative(facts.project) or "."
    rules: list[compose.RuleFile] = []
    for comp in facts.components[1:]:
        cwd = ws.relative(comp.root)
        commands = _written(facts.checks, cwd, facts.agents, op, MAX_RULE_COMMANDS)
        if commands:
            tools = sorted(detect_tools(comp).found)
            rules.append(compose.RuleFile(_rule_name(comp.rel), comp.rel, [f"{comp.rel}/**"], commands, [], tools))
    if isinstance(op, Draft):
        rules += [compose.RuleFile(r.name, r.paths[0].split("*")[0].rstrip("/") or ".", list(r.paths), [], list(r.lines), [])
                  for r in op.rules]
    commands = _written(facts.checks, root_rel, facts.agents, op, MAX_COMMANDS)
    tools = detect_tools(facts.components[0])
    dirs = [{"name": d, "count": n, "exts": ", ".join(e)} for d, n, e in layout(facts.files)]
    # Imports and links are relative to the file's own folder (.claude/CLAUDE.md sits one down).
    here = ws.resolve(file_rel).parent
    agents_path = os.path.relpath(facts.project / "AGENTS.md", here)
    imported = facts.agents is not None and f"@{agents_path}" not in text_outside
    links = {r.name: os.path.relpath(facts.project / ".claude" / "rules" / f"{r.name}.md", here) for r in rules}
    inner = compose.render(
        "facts.md.j2", agents_import=imported, agents_path=agents_path, commands=commands, verified=_header(op, commands),
        rules=[r for r in rules if r.commands], links=links, dirs=dirs, tools=sorted(tools.found.items())[:12],
    )
    prefix = "" if root_rel == "." else f"{root_rel}/"
    rule_files = {
        f"{prefix}.claude/rules/{r.name}.md": compose.render(
            "rule.md.j2", paths=r.paths, title=r.folder, folder=r.folder, commands=r.commands, lines=r.lines, tools=r.tools)
        for r in rules
    }
    return inner.strip(), rule_files


def _notes(op: Draft, agents: str | None) -> list[str]:
    said = _normal(agents or "")
    return [n for n in op.notes if not (agents and _normal(n) in said)]


def _diff(path: str, old: str, new: str) -> str:
    lines = list(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"))
    return "".join(lines[:80] + ([f"... {len(lines) - 80} more diff lines\n"] if len(lines) > 80 else []))


def _foreign(ctx: ToolContext, target: Path, rel: str) -> bool:
    """The file exists and its content is not what we last wrote (render's manifest of hashes)."""
    import hashlib
    import json

    if not target.is_file():
        return False
    try:
        manifest = json.loads(ctx.workspace.resolve(MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        manifest = {}
    return not isinstance(manifest, dict) or manifest.get(rel) != hashlib.sha256(target.read_bytes()).hexdigest()


def run_draft(inp: ClaudeMdInput, op: Draft, ctx: ToolContext) -> ClaudeMdOutput:
    target = ctx.workspace.resolve(project_dir(ctx, op) / op.file)
    rel = ctx.workspace.relative(target)
    if not inp.confirm and not inp.dry_run and _foreign(ctx, target, rel):
        # Before any command runs: replacing a hand-written file is the caller's decision.
        raise ToolError("needs_confirm", f"{rel} exists and was not written by this tool (or was edited since).",
                        "Use action update to add the generated block and keep the file's text; "
                        "or see the draft with dry_run=true and replace the whole file with confirm=true.")
    facts = gather(ctx, op, inp)
    inner, rule_files = compose_all(ctx, op, facts, rel, "")
    text = compose.render("CLAUDE.md.j2", title=_title(facts), block=compose.block(inner), notes=_notes(op, facts.agents))
    out = ClaudeMdOutput(action="draft", file=rel, lines=len(text.splitlines()), dry_run=inp.dry_run)
    out.commands, out.omitted = bounded(facts.checks)
    files = {rel: text, **rule_files}
    if inp.dry_run:
        out.files = write_files(ctx.workspace, files, dry_run=True, confirm=inp.confirm)
        out.content = text
        return out
    with workspace_lock(ctx.workspace, "claude-md", check_cancelled=ctx.check_cancelled):
        out.files = write_files(ctx.workspace, files, dry_run=False, confirm=inp.confirm)
        compose.save_block(ctx.workspace, rel, inner)
    out.next_steps = [f"Check it: write_claude_md with operation {{\"action\": \"audit\", \"project\": \"{op.project}\"}}; "
                      "refresh the facts later with action update (hand edits outside the generated block are kept)."]
    return out


def run_update(inp: ClaudeMdInput, op: Update, ctx: ToolContext) -> ClaudeMdOutput:
    facts = gather(ctx, op, inp)
    target = ctx.workspace.resolve(facts.project / op.file)
    rel = ctx.workspace.relative(target)
    old = read_text(target) if target.is_file() else None
    parts = compose.split(old) if old is not None else None
    outside = "" if old is None else (parts[0] + parts[2] if parts else old)
    inner, rule_files = compose_all(ctx, op, facts, rel, outside)
    out = ClaudeMdOutput(action="update", file=rel, dry_run=inp.dry_run)
    out.commands, out.omitted = bounded(facts.checks)
    lock = nullcontext() if inp.dry_run else workspace_lock(ctx.workspace, "claude-md", check_cancelled=ctx.check_cancelled)
    with lock:
        if old is None:
            new, action = compose.render("CLAUDE.md.j2", title=_title(facts), block=compose.block(inner), notes=[]), "create"
        elif parts is None:
            # A hand-written file: our block goes at its end, which changes a file we did not write.
            new, action = old.rstrip("\n") + "\n\n" + compose.block(inner) + "\n", "overwrite"
        else:
            before, current, after = parts
            new = before + compose.block(inner) + "\n" + after
            ours = compose.load_blocks(ctx.workspace).get(rel) == compose.sha(current)
            action = "unchanged" if new == old else ("update" if ours else "overwrite")
        if action == "overwrite" and not inp.confirm and not inp.dry_run:
            why = "has no generated block (one would be appended)" if parts is None else "has a generated block someone edited"
            raise ToolError("needs_confirm", f"{rel} {why}.",
                            "Call again with dry_run=true to see the diff, then with confirm=true to write it; text outside the block is kept.")
        change = FileChange(path=rel, action=action, diff=_diff(rel, old, new) if old is not None and action != "unchanged" else None)  # type: ignore[arg-type]
        rules = write_files(ctx.workspace, rule_files, dry_run=inp.dry_run, confirm=inp.confirm)
        if not inp.dry_run:
            if action != "unchanged" and old is not None and not _foreign(ctx, target, rel):
                # The whole file is still as draft wrote it: it stays ours (draft may replace it later unasked).
                write_files(ctx.workspace, {rel: new}, dry_run=False, confirm=True)
            elif action != "unchanged":
                ctx.workspace.write_text(target, new)
            compose.save_block(ctx.workspace, rel, inner)
    out.files = [change, *rules]
    out.lines = len(new.splitlines())
    out.content = new if inp.dry_run else None
    return out
