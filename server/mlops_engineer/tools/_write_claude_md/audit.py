"""Action `audit`: what in an existing context file is stale, missing, too long, contradictory or secret."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._write_claude_md.commands import Found, check, markdown_commands
from mlops_engineer.tools._write_claude_md.draft import _normal, project_dir
from mlops_engineer.tools._write_claude_md.models import Audit, ClaudeMdInput, ClaudeMdOutput, Finding
from mlops_engineer.tools._write_claude_md.project import Component, components, list_files, read_text
from mlops_engineer.tools._write_claude_md.verify import bounded, verify

MAX_FINDINGS = 100
MAX_CHARS = 40_000  # Claude Code warns at start-up past this ("Large CLAUDE.md will impact performance")
GENERATED_TARGET = 100
_FENCE = re.compile(r"^\s*(```|~~~)")
_SPAN = re.compile(r"`([^`\n]+)`")
_IMPORT = re.compile(r"(?:^|\s)@([\w./~-]+)")
_PATH = re.compile(r"^[\w.<>@*-]+(/[\w.<>@*-]*)+$|^[\w<>-][\w.<>-]*\.(py|sh|js|mjs|ts|toml|json|ya?ml|cfg|ini|md|txt|j2|lock)$")
_SECRETS = [
    re.compile(r"AKIA[0-9A-Z]{16}"), re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"), re.compile(r"xox[abprs]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"), re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), re.compile(r"AIza[0-9A-Za-z_-]{35}"),
    re.compile(r"(?i)[\w.-]*(?:token|password|passwd|secret|api_?key|access_?key)[\w.-]*\s*[=:]\s*[\"']?(?![$<{*])([^\s\"'`,;)]{8,})"),
    re.compile(r"://[^/\s:@]+:(?![$<{*])([^@\s/]{3,})@"),
]
_PLACEHOLDER_VALUE = re.compile(r"(?i)^(x+|\.+|changeme|example|redacted|secret|password|your[\w-]*|<.*>|\*+)$")
_DIRECTIVE = re.compile(r"(?i)\b(always|never|do not|don't)\s+([a-z][\w-]*(?:\s+[a-z][\w-]*){0,2})")


def run_audit(inp: ClaudeMdInput, op: Audit, ctx: ToolContext) -> ClaudeMdOutput:
    project = project_dir(ctx, op)
    target = ctx.workspace.resolve(project / op.file)
    rel = ctx.workspace.relative(target)
    if not target.is_file():
        raise ToolError("not_found", f"{rel} does not exist.",
                        'Draft one first: {"operation": {"action": "draft"}} (add "dry_run": true to see it before it is written).')
    raw = target.read_bytes()[:2_000_000]
    text = read_text(target, 2_000_000)
    files = list_files(project)
    comps = components(project, files)
    root = comps[0]
    findings: list[Finding] = []
    if b"\x00" in raw or "\ufffd" in text:
        findings.append(Finding(severity="error", kind="unreadable", message="The file holds NUL bytes or text that is not UTF-8."))
    findings += _length(text, op.max_lines)
    scripts = set(root.pyproject.get("project", {}).get("scripts", {}) or {}) if isinstance(root.pyproject.get("project"), dict) else set()
    found = [_where(Found(c, f"{op.file}:{n}", ctx.workspace.relative(project) or "."), comps, ctx, project)
             for n, c in markdown_commands(text, scripts, inline=True)]
    checks = verify(found, op, ctx, project, dry_run=inp.dry_run, confirm=inp.confirm)
    for done in checks:
        line = int(done.source.rsplit(":", 1)[1])
        if done.status in ("missing", "failed"):
            findings.append(Finding(severity="error", kind="stale_command", line=line, message=f"`{done.command}`: {done.reason}"))
        elif done.status == "timed_out":
            findings.append(Finding(severity="warning", kind="stale_command", line=line, message=f"`{done.command}`: {done.reason}"))
    commands = {c.command for c in checks}
    findings += _paths(text, project, files, commands)
    findings += _imports(text, project, target.parent)
    findings += _agents(text, project)
    findings += _duplicates(text, project / "README.md", "duplicates_readme", "README.md")
    findings += _secrets(text)
    findings += _contradictions(text, root, [c.command for c in checks])
    findings += _rules(project, files)
    findings.sort(key=lambda f: ({"error": 0, "warning": 1, "info": 2}[f.severity], f.line or 0))
    out = ClaudeMdOutput(action="audit", file=rel, lines=len(text.splitlines()), dry_run=inp.dry_run)
    out.commands, skipped = bounded(checks)
    out.errors = sum(f.severity == "error" for f in findings)
    out.warnings = sum(f.severity == "warning" for f in findings)
    out.findings, out.omitted = findings[:MAX_FINDINGS], skipped + max(0, len(findings) - MAX_FINDINGS)
    if out.errors or out.warnings:
        out.next_steps = ["Fix the findings by hand, or refresh the generated block with action update."]
    return out


def _where(found: Found, comps: list[Component], ctx: ToolContext, project: Path) -> tuple[Found, Component]:
    """The folder a command works in: the project's, or else the first sub-project where its
    program, target and paths all exist (prose often names a sub-project's `npm ci`)."""
    for comp in comps:
        here = Found(found.command, found.source, ctx.workspace.relative(comp.root) or ".")
        if check(here, comp.root, project, comp).status != "missing":
            return here, comp
    return found, comps[0]


def _ignored(project: Path, names: list[str]) -> set[str]:
    """The names git ignores: state a program creates at run time (`.mlops/`, build output)."""
    if not names or not (project / ".git").exists():
        return set()
    try:
        done = subprocess.run(["git", "-C", str(project), "check-ignore", "--no-index", "--stdin"], input="\n".join(names),
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return set()
    return set(done.stdout.splitlines())


def _length(text: str, max_lines: int) -> list[Finding]:
    lines = len(text.splitlines())
    if len(text) > MAX_CHARS:
        return [Finding(severity="error", kind="length", message=f"{len(text)} characters: Claude Code warns past {MAX_CHARS}. "
                        "Move folder-specific parts to .claude/rules/*.md and procedures to skills.")]
    if lines > max_lines:
        return [Finding(severity="warning", kind="length", message=f"{lines} lines, over {max_lines}: long files get followed less "
                        "(Claude Code's docs target under 200 lines). Move folder-specific parts to .claude/rules/*.md with paths.")]
    if lines > GENERATED_TARGET:
        return [Finding(severity="info", kind="length", message=f"{lines} lines; what this tool writes targets at most {GENERATED_TARGET}.")]
    return []


def _prose(text: str) -> list[tuple[int, str]]:
    """Lines outside fenced blocks, numbered."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def _entries(files: list[str]) -> list[str]:
    """Files and every folder above them."""
    found = set(files)
    for name in files:
        parts = name.split("/")
        found.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return sorted(found)


def _paths(text: str, project: Path, files: list[str], commands: set[str]) -> list[Finding]:
    entries = _entries(files)
    tops = {e.split("/", 1)[0] for e in entries}
    findings: list[Finding] = []
    missing: list[tuple[int, str]] = []
    seen: set[str] = set()
    for number, line in _prose(text):
        for span in _SPAN.findall(line):
            token = span.strip().rstrip("/.,:;")
            if span.strip() in commands or " " in token or token in seen or not _PATH.match(token):
                continue
            if token.startswith(("~", "..", "/")) or "://" in token:
                continue
            seen.add(token)
            if not (project / token).exists() and not _matches(token, entries):
                missing.append((number, token))
    ignored = _ignored(project, [re.sub(r"<[^<>]*>", "x", t) for _, t in missing])
    for number, token in missing:
        if re.sub(r"<[^<>]*>", "x", token) in ignored:
            continue  # git ignores it: something creates it at run time
        placeholder = "<" in token or "*" in token
        severe = "/" in token and token.split("/", 1)[0] in tops and not placeholder
        findings.append(Finding(
            severity="error" if severe else "warning", kind="missing_path", line=number,
            message=f"`{token}` names no file or folder in the project" + ("" if severe else " (it may be created at run time)"),
        ))
    return findings


def _matches(token: str, entries: list[str]) -> bool:
    """`token` names an entry, or the end of one (`demos/output.py` for server/pkg/demos/output.py);
    `<placeholder>` and `*` match any one name."""
    pattern = re.sub(r"<[^<>]*>", "*", token)
    regex = re.compile(r"(?:.*/)?" + fnmatch.translate(pattern).replace(".*", "[^/]*"))
    return any(regex.fullmatch(e) for e in entries)


def _imports(text: str, project: Path, base: Path) -> list[Finding]:
    findings = []
    for number, line in _prose(text):
        for name in _IMPORT.findall(_SPAN.sub("", line)):
            if "/" not in name and "." not in name:
                continue  # @mentions, not imports
            path = Path(name).expanduser()
            where = path if path.is_absolute() else base / path
            if not where.exists():
                # `@pytest.mark.slow` in prose reads as an import too, but only a path-like one was surely meant as one.
                surely = "/" in name or bool(_PATH.match(name))
                findings.append(Finding(severity="error" if surely else "warning", kind="bad_import", line=number,
                                        message=f"@{name} imports a file that does not exist."))
    return findings


def _agents(text: str, project: Path) -> list[Finding]:
    agents = project / "AGENTS.md"
    if not agents.is_file():
        return []
    findings = []
    if not any(Path(name).name == "AGENTS.md" for _, line in _prose(text) for name in _IMPORT.findall(line)):
        findings.append(Finding(severity="warning", kind="agents_import",
                                message="AGENTS.md exists but is not imported: add a line `@AGENTS.md` and drop what it already says."))
    return findings + _duplicates(text, agents, "duplicates_agents", "AGENTS.md")


def _duplicates(text: str, other: Path, kind: str, name: str, limit: int = 5) -> list[Finding]:
    if not other.is_file():
        return []
    theirs = {_normal(line) for _, line in _prose(read_text(other))}
    dupes = [(n, line) for n, line in _prose(text) if len(_normal(line)) >= 40 and _normal(line) in theirs]
    findings = [Finding(severity="warning", kind=kind, line=n, message=f"Repeats {name}: \"{line.strip()[:80]}\"")
                for n, line in dupes[:limit]]
    if len(dupes) > limit:
        findings.append(Finding(severity="warning", kind=kind, message=f"{len(dupes) - limit} more lines repeat {name}."))
    return findings


def _secrets(text: str) -> list[Finding]:
    findings = []
    for number, line in enumerate(text.splitlines(), 1):
        for pattern in _SECRETS:
            match = pattern.search(line)
            if match and not _PLACEHOLDER_VALUE.match(match.group(match.lastindex or 0)):
                # The value itself is never repeated: the line number is enough to find it.
                findings.append(Finding(severity="error", kind="secret", line=number,
                                        message="A credential-like value: move it to the environment or a secret store, and rotate it."))
                break
    return findings


def _contradictions(text: str, root: Component, commands: list[str]) -> list[Finding]:
    findings = []
    used = {c.split()[0] for c in commands if c.split()}
    node = root.node_manager
    locked = any((root.root / lock).exists() for lock in ("pnpm-lock.yaml", "yarn.lock", "package-lock.json", "bun.lockb", "bun.lock"))
    other = sorted(used & {"npm", "pnpm", "yarn", "bun"} - {node})
    if locked and other:
        findings.append(Finding(severity="warning", kind="contradiction",
                                message=f"Commands use {', '.join(other)} but the lockfile is {node}'s."))
    if (root.root / "uv.lock").exists() and "poetry" in used and not (root.root / "poetry.lock").exists():
        findings.append(Finding(severity="warning", kind="contradiction", message="Commands use poetry but the project is locked with uv (uv.lock)."))
    said: dict[str, tuple[str, int]] = {}
    for number, line in _prose(text):
        for verb, phrase in _DIRECTIVE.findall(line):
            polarity = "always" if verb.lower() == "always" else "never"
            key = phrase.lower()
            if key in said and said[key][0] != polarity:
                findings.append(Finding(severity="warning", kind="contradiction", line=number,
                                        message=f"Says both '{said[key][0]} {key}' (line {said[key][1]}) and '{polarity} {key}'."))
            said.setdefault(key, (polarity, number))
    return findings


def _rules(project: Path, files: list[str]) -> list[Finding]:
    import yaml

    findings = []
    entries = _entries(files)
    rules_dir = project / ".claude" / "rules"
    if not rules_dir.is_dir():
        return []
    for path in sorted(rules_dir.rglob("*"))[:100]:
        if not path.is_file():
            continue
        name = path.relative_to(project).as_posix()
        if path.suffix != ".md":
            findings.append(Finding(severity="error", kind="bad_rule", message=f"{name}: rule files must be Markdown (.md); this one is ignored."))
            continue
        text = read_text(path)
        if not text.startswith("---"):
            continue
        head = text.split("---", 2)
        try:
            meta = yaml.safe_load(head[1]) if len(head) == 3 else None
        except yaml.YAMLError:
            meta = None
        if not isinstance(meta, dict):
            findings.append(Finding(severity="error", kind="bad_rule", message=f"{name}: its frontmatter is not a YAML mapping."))
            continue
        paths = meta.get("paths")
        extra = sorted(set(meta) - {"paths"})
        if extra or paths is not None and not (isinstance(paths, list) and all(isinstance(p, str) for p in paths)):
            findings.append(Finding(severity="error", kind="bad_rule",
                                    message=f"{name}: frontmatter takes only `paths`, a list of globs" + (f" (found {', '.join(extra)})" if extra else "")))
            continue
        for glob in paths or []:
            if not any(fnmatch.fnmatch(e, glob) or fnmatch.fnmatch(e, glob.rstrip("*/")) for e in entries):
                findings.append(Finding(severity="warning", kind="bad_rule", message=f"{name}: paths glob {glob!r} matches no file."))
    return findings
