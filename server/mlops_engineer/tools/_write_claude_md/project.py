"""What a project holds, read from its files: the tracked file list, manifests, tools, layout."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

# A walk of an untracked tree stops here: the facts we need are near the top.
MAX_FILES = 20000
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache",
              ".pytest_cache", ".tox", ".nox", "dist", "build", ".mlops", ".dvc"}
MANIFESTS = ("pyproject.toml", "package.json", "Makefile", "makefile", "GNUmakefile", "Cargo.toml", "go.mod")
_MAKE_TARGET = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_./-]*)\s*:(?!=)")


def read_text(path: Path, limit: int = 1_000_000) -> str:
    """A text file's first `limit` bytes, undecodable bytes replaced: a garbage file reads as garbage, not a crash."""
    try:
        with path.open("rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace").replace("\x00", "")
    except OSError:
        return ""


def list_files(root: Path) -> list[str]:
    """The project's files, relative and with forward slashes: git's tracked and untracked-unignored
    files in a git repository (so ignored build output never counts), a bounded walk otherwise."""
    if (root / ".git").exists():
        try:
            done = subprocess.run(
                ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                capture_output=True, timeout=30, check=True, stdin=subprocess.DEVNULL,
            )
            # Our own state (.mlops) never counts as the project's, ignored or not.
            names = [n for n in done.stdout.decode("utf-8", "replace").split("\0") if n and not n.startswith(".mlops/")]
            return sorted(n for n in names if (root / n).exists())[:MAX_FILES]
        except (OSError, subprocess.SubprocessError):
            pass  # no git, or not a repository after all: walk instead
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not (Path(folder) / d).is_symlink())
        base = Path(folder).relative_to(root)
        found += [(base / f).as_posix() for f in sorted(files)]
        if len(found) >= MAX_FILES:
            break
    return found[:MAX_FILES]


@dataclass
class Component:
    """A folder with its own manifest: the root, or a sub-project (tests/e2e/ts, web/, ...)."""

    root: Path
    rel: str  # relative to the project ("." for the project itself)

    def text(self, name: str) -> str:
        return read_text(self.root / name)

    @cached_property
    def pyproject(self) -> dict[str, Any]:
        import tomllib

        try:
            return tomllib.loads(self.text("pyproject.toml")) if (self.root / "pyproject.toml").is_file() else {}
        except tomllib.TOMLDecodeError:
            return {}

    @cached_property
    def package_json(self) -> dict[str, Any]:
        if not (self.root / "package.json").is_file():
            return {}
        try:
            data = json.loads(self.text("package.json"))
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def npm_scripts(self) -> dict[str, str]:
        scripts = self.package_json.get("scripts")
        return {str(k): str(v) for k, v in scripts.items()} if isinstance(scripts, dict) else {}

    @cached_property
    def makefile(self) -> Path | None:
        return next((self.root / n for n in ("GNUmakefile", "makefile", "Makefile") if (self.root / n).is_file()), None)

    @cached_property
    def make_targets(self) -> list[str]:
        if self.makefile is None:
            return []
        targets: list[str] = []
        for line in read_text(self.makefile).splitlines():
            match = _MAKE_TARGET.match(line)
            if match and not line.startswith("\t") and "%" not in match[1] and match[1] not in targets:
                targets.append(match[1])
        return targets

    @property
    def node_manager(self) -> str:
        for lock, manager in (("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"), ("bun.lockb", "bun"), ("bun.lock", "bun")):
            if (self.root / lock).exists():
                return manager
        return "npm"

    @property
    def python_runner(self) -> str:
        """The prefix that runs a tool in the project's environment."""
        if (self.root / "uv.lock").exists():
            return "uv run "
        if (self.root / "poetry.lock").exists():
            return "poetry run "
        if (self.root / "pdm.lock").exists():
            return "pdm run "
        return ""


def components(project: Path, files: list[str], limit: int = 5) -> list[Component]:
    """The project, then up to `limit` sub-folders (two levels down at most) with a manifest of their own."""
    found = [Component(project, ".")]
    subs = sorted({str(Path(f).parent.as_posix()) for f in files
                   if Path(f).name in MANIFESTS and "/" in f and f.count("/") <= 3})
    for sub in subs[:limit]:
        found.append(Component(project / sub, sub))
    return found


@dataclass
class Tools:
    """The tools a project uses, each with where that was read."""

    found: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, evidence: str) -> None:
        self.found.setdefault(name, evidence)


_PY_TOOLS = ("pytest", "ruff", "mypy", "black", "isort", "coverage", "pyright", "poe", "hatch", "pdm", "setuptools", "uv", "commitizen")
_NODE_TOOLS = ("typescript", "eslint", "prettier", "jest", "vitest", "mocha", "playwright", "@playwright/test", "vite", "webpack", "next")
_FILE_TOOLS = (
    ("uv.lock", "uv"), ("poetry.lock", "poetry"), ("pdm.lock", "pdm"), ("Pipfile.lock", "pipenv"),
    ("tox.ini", "tox"), ("noxfile.py", "nox"), ("Dockerfile", "Docker"), ("docker-compose.yml", "Docker Compose"),
    ("compose.yaml", "Docker Compose"), (".pre-commit-config.yaml", "pre-commit"), ("dvc.yaml", "DVC"), (".dvc/config", "DVC"),
    ("go.mod", "Go"), ("Cargo.toml", "Cargo"), ("justfile", "just"), (".github/workflows", "GitHub Actions"),
    (".gitlab-ci.yml", "GitLab CI"), ("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"), ("package-lock.json", "npm"),
)


def detect_tools(component: Component) -> Tools:
    tools = Tools()
    for name, tool in _FILE_TOOLS:
        if (component.root / name).exists():
            tools.add(tool, name)
    configured = component.pyproject.get("tool", {})
    if isinstance(configured, dict):
        for name in _PY_TOOLS:
            if name in configured:
                tools.add(name, f"[tool.{name}] in pyproject.toml")
    if (component.root / "pytest.ini").is_file():
        tools.add("pytest", "pytest.ini")
    if component.makefile is not None:
        tools.add("make", component.makefile.name)
    deps: dict[str, Any] = {}
    for key in ("dependencies", "devDependencies"):
        value = component.package_json.get(key)
        deps.update(value if isinstance(value, dict) else {})
    for name in _NODE_TOOLS:
        if name in deps:
            tools.add(name.removeprefix("@playwright/"), "package.json")
    return tools


def layout(files: list[str], limit: int = 12) -> list[tuple[str, int, list[str]]]:
    """Top-level folders: (name, file count, the two commonest extensions), biggest first."""
    counts: Counter[str] = Counter()
    exts: dict[str, Counter[str]] = {}
    for name in files:
        head, sep, rest = name.partition("/")
        if not sep or head.startswith(".") and head not in (".github", ".ci"):
            continue
        counts[head] += 1
        if not Path(rest).name.startswith("."):  # .gitignore, .keep: not a kind of content
            exts.setdefault(head, Counter())[Path(rest).suffix.lstrip(".") or "no extension"] += 1
    top = sorted(counts, key=lambda d: (-counts[d], d))[:limit]
    return [(d, counts[d], [e for e, _ in exts.get(d, Counter()).most_common(2)]) for d in sorted(top)]
