"""Commands: found in a project's files, checked statically, and (with consent) run.

Running is running the project's own code, so it happens only for a command we found,
without a shell, in its folder, in its own process group (killed on timeout or cancel),
with its output bounded. Commands that publish, delete, install or never exit are not run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_engineer.redact import redact_text
from mlops_engineer.tools._write_claude_md.project import Component, read_text

# First words of the lines we take for commands: the tools projects are built and tested with.
RUNNERS = {
    "make", "uv", "uvx", "pip", "pipx", "python", "python3", "pytest", "tox", "nox", "npm", "npx", "pnpm", "yarn",
    "bun", "cargo", "go", "just", "poetry", "hatch", "pdm", "poe", "ruff", "mypy", "bash", "sh", "docker", "pre-commit",
}
_INTERPRETERS = {"bash", "sh", "python", "python3"}
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console", "zsh", "shell-session"}
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
_INLINE = re.compile(r"`([^`\n]+)`")
_COMMENT = re.compile(r"\s+#(\s.*)?$")
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
_SHELL_SYNTAX = {"|", "||", "&&", ";", ">", ">>", "<", "&", "2>&1", "2>", "&>"}
_PLACEHOLDER = re.compile(r"<[^<>\s]*>|\.\.\.|\{\{|\[[A-Z_]+\]")
_PATHLIKE = re.compile(r"^[\w.@+-]+(/[\w.@+-]*)+$|^[\w.@+-]+\.(py|sh|js|mjs|ts|toml|json|ya?ml|cfg|ini|md|txt|j2)$")
_VALUE_OPTIONS = {"-c", "-e", "-m", "-k", "-p", "--python", "--extra", "--group", "--with", "--package", "--env-file",
                  "--only-group", "--no-group", "--index", "--input", "--marker", "-n", "--timeout"}
_UV_RUN_VALUES = {"--extra", "--group", "--with", "--python", "-p", "--package", "--env-file", "--directory",
                  "--project", "--only-group", "--no-group", "--with-requirements", "--index", "--with-editable"}
# Words that make a command unsafe to run on someone's behalf, by what they would do.
_RISKY = {
    "publishes or deploys": {"deploy", "publish", "release", "upload", "push", "login"},
    "deletes files or state": {"rm", "delete", "destroy", "drop", "clean", "clobber", "prune", "gc", "reset", "uninstall", "remove"},
    "changes the environment": {"install", "i", "ci", "add", "sync", "update", "upgrade", "lock"},
    "may never exit (a server or watcher)": {"serve", "server", "start", "dev", "watch", "up", "run-server"},
}
MAX_TAIL = 600


@dataclass(frozen=True)
class Found:
    command: str
    source: str
    cwd: str  # relative to the workspace


@dataclass
class Result:
    status: str
    reason: str | None = None
    exit_code: int | None = None
    seconds: float | None = None
    output_tail: str | None = None


def clean(line: str) -> str:
    line = line.strip()
    line = line[2:] if line.startswith("$ ") else line
    return _COMMENT.sub("", line).strip()


def is_command(text: str, scripts: set[str], *, inline: bool = False) -> bool:
    words = text.split()
    if not words or _PLACEHOLDER.search(text) or inline and len(words) < 2:
        return False  # an inline `sh` or `make` is a name in a sentence, not a command
    if words[0] in _INTERPRETERS and len(words) > 1 and not (words[1].startswith("-") or "/" in words[1] or "." in words[1]):
        return False  # `bash run`: a word, not a script
    return words[0] in RUNNERS or words[0] in scripts or words[0].startswith("./")


def markdown_commands(text: str, scripts: set[str], *, inline: bool) -> list[tuple[int, str]]:
    """(line number, command) from a Markdown file's shell blocks, and from inline code spans
    when `inline`; heredoc bodies, comments and lines with placeholders are left out."""
    found: list[tuple[int, str]] = []
    fence: str | None = None
    shell = False
    heredoc: str | None = None
    pending = ""
    for number, raw in enumerate(text.splitlines(), 1):
        match = _FENCE.match(raw)
        if fence is None and match:
            fence, shell = match[1][0] * 3, match[2].lower() in SHELL_BLOCKS
            continue
        if fence is not None:
            if raw.strip().startswith(fence) and not raw.strip()[3:].strip(fence[0]):
                fence, heredoc, pending = None, None, ""
                continue
            if not shell:
                continue
            if heredoc is not None:
                heredoc = None if raw.strip() == heredoc else heredoc
                continue
            line = pending + clean(raw)
            if line.endswith("\\"):
                pending = line[:-1].rstrip() + " "
                continue
            pending = ""
            here = _HEREDOC.search(line)
            heredoc = here[1] if here else None
            if line and not line.startswith("#") and is_command(line, scripts):
                found.append((number, line))
        elif inline:
            found += [(number, span.strip()) for span in _INLINE.findall(raw) if is_command(span.strip(), scripts, inline=True)]
    return found


def discover(component: Component, workspace_rel: str, files: list[str]) -> list[Found]:
    """Every command the component's files name, first source first, each once."""
    scripts = set(component.pyproject.get("project", {}).get("scripts", {}) or {})
    found: list[Found] = []
    where = component.rel

    def add(command: str, source: str) -> None:
        normal = " ".join(command.split())
        if normal and all(" ".join(f.command.split()) != normal for f in found):
            found.append(Found(normal, source if where == "." else f"{where}/{source}", workspace_rel))

    if (component.root / ".ci" / "run").is_file():
        add("bash .ci/run", ".ci/run")
    for target in component.make_targets[:20]:
        add(f"make {target}", component.makefile.name if component.makefile else "Makefile")
    manager = component.node_manager
    for name in list(component.npm_scripts)[:20]:
        add(f"{manager} test" if name == "test" else f"{manager} run {name}", "package.json")
    runner = component.python_runner
    for name in sorted(scripts)[:10]:
        add(f"{runner}{name} --help", "pyproject.toml [project.scripts]")
    tool = component.pyproject.get("tool", {}) if isinstance(component.pyproject.get("tool"), dict) else {}
    for name in list((tool.get("poe") or {}).get("tasks", {}) or {})[:10]:
        add(f"poe {name}", "pyproject.toml [tool.poe.tasks]")
    for name in list((tool.get("pdm") or {}).get("scripts", {}) or {})[:10]:
        add(f"pdm run {name}", "pyproject.toml [tool.pdm.scripts]")
    for readme in ("README.md", "README.rst", "README"):
        if (component.root / readme).is_file():
            for number, command in markdown_commands(read_text(component.root / readme), scripts, inline=False)[:30]:
                add(command, f"{readme}:{number}")
            break
    # Configured tools with no command of their own: the configuration is the evidence.
    said = " ".join(f.command for f in found)
    if "pytest" in tool and "pytest" not in said and "make test" not in said and f"{manager} test" not in said:
        add(f"{runner}pytest", "pyproject.toml [tool.pytest.ini_options]")
    if "ruff" in tool and "ruff" not in said:
        add(f"{runner}ruff check .", "pyproject.toml [tool.ruff]")
    if "mypy" in tool and "mypy" not in said:
        add(f"{runner}mypy .", "pyproject.toml [tool.mypy]")
    return found


def argv_of(command: str) -> list[str] | None:
    try:
        return shlex.split(command)
    except ValueError:
        return None


def needs_shell(command: str, argv: list[str]) -> bool:
    return any(t in _SHELL_SYNTAX for t in argv) or "$" in command or "`" in command or bool(re.match(r"^\w+=", command))


def _inner(argv: list[str]) -> list[str]:
    """The command `uv run` / `poetry run` / `pdm run` / `hatch run` would start."""
    if len(argv) > 1 and argv[0] in ("uv", "poetry", "pdm", "hatch") and argv[1] == "run":
        rest, i = argv[2:], 0
        while i < len(rest) and rest[i].startswith("-"):
            i += 2 if rest[i] in _UV_RUN_VALUES and "=" not in rest[i] else 1
        return rest[i:]
    return argv


def risk(argv: list[str]) -> str | None:
    words = [w for w in argv[:4] if not w.startswith("-") and "/" not in w and "." not in w]
    for reason, risky in _RISKY.items():
        for word in words:
            if risky & set(re.split(r"[:_-]", word.lower())) or word.lower() in risky:
                return reason
    return None


def search_path(cwd: Path, project: Path) -> str:
    extra = [p / sub for p in dict.fromkeys((cwd, project)) for sub in (Path(".venv/bin"), Path("node_modules/.bin"))]
    return os.pathsep.join([*(str(p) for p in extra if p.is_dir()), os.environ.get("PATH", "")])


def check(found: Found, cwd: Path, project: Path, component: Component | None) -> Result:
    """Does what the command needs exist: its program, its script or target, the files it names?"""
    argv = argv_of(found.command)
    if not argv:
        return Result("skipped", "cannot be parsed as a command line")
    shell = needs_shell(found.command, argv)
    if shell:
        # Check what we can: the first simple command.
        argv = [t for t in argv[: next((i for i, t in enumerate(argv) if t in _SHELL_SYNTAX), len(argv))]]
        if not argv or re.match(r"^\w+=", argv[0]):
            return Result("skipped", "shell syntax: not checked or run (commands run without a shell)")
    inner = _inner(argv)
    if not inner:
        return Result("checked")
    program = inner[0]
    if "/" in program:
        if not (cwd / program).exists():
            return Result("missing", f"{program} does not exist")
    elif shutil.which(program, path=search_path(cwd, project)) is None and not (inner is not argv and _project_script(program, component)):
        # A declared console script counts only behind `uv run` & co, which install it first.
        return Result("missing", f"`{program}` is not installed here (not on PATH, .venv/bin or node_modules/.bin)")
    missing = _missing_target(inner, cwd, component) or _missing_path(inner, cwd)
    if missing:
        return Result("missing", missing)
    if shell:
        return Result("skipped", "shell syntax: checked, not run (commands run without a shell)")
    return Result("checked")


def _project_script(program: str, component: Component | None) -> bool:
    return component is not None and program in (component.pyproject.get("project", {}).get("scripts", {}) or {})


def _missing_target(argv: list[str], cwd: Path, component: Component | None) -> str | None:
    here = component if component is not None and component.root == cwd else Component(cwd, ".")
    program, words = argv[0], [a for a in argv[1:] if not a.startswith("-") and "=" not in a]
    if program == "make":
        if here.makefile is None:
            return "no Makefile here"
        unknown = [w for w in words if w not in here.make_targets]
        return f"no make target {unknown[0]!r}" if unknown else None
    if program in ("npm", "pnpm", "yarn", "bun"):
        if not here.package_json:
            return "no package.json here"
        builtin = {"install", "i", "ci", "add", "exec", "dlx", "init", "x", "create", "outdated", "audit", "ls", "why", "pack"}
        if words[:1] in (["run"], ["run-script"]):
            name = words[1] if len(words) > 1 else None
        elif words and words[0] in ("test", "start", "t") or (program != "npm" and words and words[0] not in builtin):
            name = {"t": "test"}.get(words[0], words[0])
        else:
            return None
        if name and name not in here.npm_scripts:
            return f"no script {name!r} in package.json"
    return None


def _missing_path(argv: list[str], cwd: Path) -> str | None:
    skip_next = False
    for word in argv[1:]:
        if skip_next:
            skip_next = False
            continue
        if word in _VALUE_OPTIONS:
            skip_next = True
            continue
        path = word.split("::", 1)[0]
        if word.startswith("-") or path.startswith(("/", "~")) or not _PATHLIKE.match(path) or "*" in path:
            continue
        if not (cwd / path).exists():
            return f"{path} does not exist"
    return None


def execute(
    argv: list[str], cwd: Path, project: Path, timeout: float, check_cancelled: Callable[[], None],
    on_start: Callable[[int], None] = lambda pid: None,
) -> Result:
    """Run one command in its own process group; a timeout or a cancelled call kills the group.
    `on_start(pid)` records the group, so a call after a crash of this one can stop it."""
    env = {**os.environ, "PATH": search_path(cwd, project), "CI": os.environ.get("CI", "1")}
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
        except OSError as exc:
            return Result("failed", f"could not start: {exc.strerror or exc}")
        timed_out = False
        try:
            on_start(proc.pid)
            while proc.poll() is None:
                if time.monotonic() - started > timeout:
                    timed_out = True
                    break
                check_cancelled()
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        seconds = round(time.monotonic() - started, 2)
        out.seek(max(0, out.seek(0, os.SEEK_END) - 4 * MAX_TAIL))
        tail = redact_text(out.read().decode("utf-8", "replace"))[-MAX_TAIL:]
    if timed_out:
        return Result("timed_out", f"still running after {timeout:g} s: killed", None, seconds, tail)
    if proc.returncode == 0:
        return Result("passed", None, 0, seconds)
    return Result("failed", f"exit code {proc.returncode}", proc.returncode, seconds, tail)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """TERM, a moment to exit, then KILL for whatever of the group is left (children included)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
