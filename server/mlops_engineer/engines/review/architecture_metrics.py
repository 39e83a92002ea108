"""Size and coupling of each module, and which modules no test reaches.

Fan-in counts the package's modules that import a module directly, fan-out the package's
modules it imports directly (external packages are counted apart). Lines are physical lines.

A module is reached by the tests when a test file imports it, or imports a module that
imports it, transitively; importing `a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`.
Test files are read with `ast`, never imported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from mlops_engineer.engines.review.architecture_graph import ImportGraph

MAX_TEST_FILES = 20_000


@dataclass(frozen=True)
class ModuleMetrics:
    module: str
    file: str
    lines: int
    fan_in: int
    fan_out: int
    external_imports: int


def module_metrics(graph: ImportGraph) -> list[ModuleMetrics]:
    rows = []
    for module in graph.modules:
        path = graph.file_of(module)
        lines = path.read_bytes().count(b"\n") if path.is_file() else 0
        rows.append(ModuleMetrics(
            module, graph.display_file(module) if path.is_file() else "", lines,
            len(graph.imported_by[module]), len(graph.imports[module]), len({e.split(".")[0] for e in graph.externals[module]}),
        ))
    return rows


def find_test_dirs(graph: ImportGraph, stop_at: Path | None) -> list[Path]:
    """`tests`/`test` folders inside the package, beside it, or in a parent up to `stop_at`."""
    found: list[Path] = []
    package_dir = graph.codebase.package_dir
    found += sorted(p for p in package_dir.rglob("tests") if p.is_dir())
    if stop_at is not None:
        folder = package_dir.parent
        while True:
            found += [folder / name for name in ("tests", "test") if (folder / name).is_dir()]
            if folder == stop_at or stop_at not in folder.parents:
                break
            folder = folder.parent
    return sorted(set(found))


def _imported_names(path: Path, root: str) -> set[str]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module" and node.args:
            if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return {n for n in names if n == root or n.startswith(root + ".")}


def tested_modules(graph: ImportGraph, test_dirs: list[Path]) -> tuple[set[str], int]:
    """Modules the test files reach, and how many test files were read."""
    seeds: set[str] = set()
    files = sorted({p for folder in test_dirs for p in folder.rglob("*.py")})[:MAX_TEST_FILES]
    known = set(graph.modules)
    for path in files:
        for name in _imported_names(path, graph.codebase.name):
            parts = name.split(".")
            # `from a.b import c`: c is a module or a name in a.b; keep the longest that exists.
            while parts and ".".join(parts) not in known:
                parts.pop()
            for end in range(1, len(parts) + 1):
                seeds.add(".".join(parts[:end]))
    reached: set[str] = set()
    while seeds - reached:
        reached = graph.reach(reached | seeds, graph.imports)
        # Running a module first runs each package above it, and what those import.
        seeds = {".".join(m.split(".")[:end]) for m in reached for end in range(1, m.count(".") + 1)} & known
    return reached & known, len(files)
