"""The import graph of one Python package, built with grimp, and a deterministic view of it.

A codebase is read where it is: an installed package (a read-only input found through the
interpreter's import path) or a package folder inside the workspace. Nothing is written here:
grimp's cache is switched off, so reading a package in site-packages leaves no file behind.

grimp's own shortest-chain queries break ties differently from one process to the next, so
every path the review shows is found here, by breadth-first search over sorted neighbours.
"""

from __future__ import annotations

import ast
import importlib.util
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import grimp

    from mlops_engineer.workspace import Workspace


@dataclass(frozen=True)
class Codebase:
    """Where a package's sources are, and how its files are named in findings."""

    name: str
    package_dir: Path
    source_root: Path = field(init=False)
    # "workspace" when `display_prefix` is the package's workspace-relative folder; else "installed".
    origin: str = "workspace"
    display_prefix: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_root", self.package_dir.parent)

    def display(self, path: Path) -> str:
        """A file as findings name it: workspace-relative, or `<package>/...` for an installed one."""
        inner = path.relative_to(self.package_dir).as_posix()
        return f"{self.display_prefix}/{inner}" if self.display_prefix else f"{self.name}/{inner}"


def installed_codebase(package: str) -> Codebase:
    """An importable top-level package, found without importing it."""
    if not package.isidentifier():
        raise ToolError("invalid_input", f"'{package}' is not a top-level package name.", 'Give an importable name, e.g. "optuna".')
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations or not spec.origin or not spec.origin.endswith("__init__.py"):
        raise ToolError(
            "not_found",
            f"No regular package named '{package}' is importable by the server's interpreter.",
            "Install it in the server's environment, or give `path`: the package folder inside the workspace.",
        )
    return Codebase(name=package, package_dir=Path(spec.origin).parent, origin="installed")


def workspace_codebase(workspace: Workspace, path: str) -> Codebase:
    """A package folder (with an `__init__.py`) inside the workspace."""
    folder = workspace.resolve(path, must_exist=True)
    if not (folder / "__init__.py").is_file() or not folder.name.isidentifier():
        raise ToolError(
            "invalid_input",
            f"'{path}' is not a Python package folder (a folder named like a module, holding __init__.py).",
            'Point `path` at the top-level package, e.g. "src/mypkg", not at the project root.',
        )
    return Codebase(name=folder.name, package_dir=folder, origin="workspace", display_prefix=workspace.relative(folder))


def build_graph(codebase: Codebase, *, external: bool = False) -> grimp.ImportGraph:
    """The import graph of the package in `codebase.package_dir` (with `external`: plus the
    external packages it imports, each squashed to its top-level name).

    grimp's `build_graph` finds a package by name through `sys.path` (and `sys.modules`), which
    would read an installed copy instead of the workspace's folder of the same name; the same
    steps are run here with the folder given.
    """
    import_optional("grimp", "review")
    from grimp.adaptors.filesystem import FileSystem
    from grimp.adaptors.modulefinder import ModuleFinder
    from grimp.application import usecases

    file_system = FileSystem()
    found = ModuleFinder().find_package(
        package_name=codebase.name, package_directory=str(codebase.package_dir), file_system=file_system
    )
    imports = usecases._scan_packages(  # noqa: SLF001 - the name-free half of grimp.build_graph
        found_packages={found},
        file_system=file_system.convert_to_basic(),
        include_external_packages=external,
        exclude_type_checking_imports=False,
        cache_dir=None,
    )
    return usecases._assemble_graph({found}, imports)  # noqa: SLF001


@dataclass
class ImportGraph:
    """The package's modules and direct imports, as sorted adjacency lists, plus what grimp knows."""

    codebase: Codebase
    grimp_graph: grimp.ImportGraph
    modules: list[str]
    imports: dict[str, list[str]]
    imported_by: dict[str, list[str]]
    externals: dict[str, list[str]]
    _lazy_lines: dict[str, set[int]] = field(default_factory=dict)

    def is_internal(self, module: str) -> bool:
        return module == self.codebase.name or module.startswith(self.codebase.name + ".")

    def file_of(self, module: str) -> Path:
        relative = Path(*module.split(".")[1:])
        package = self.codebase.package_dir / relative / "__init__.py"
        return package if package.is_file() else self.codebase.package_dir / relative.with_suffix(".py")

    def display_file(self, module: str) -> str:
        return self.codebase.display(self.file_of(module))

    def lines(self, importer: str, imported: str) -> list[int]:
        """The lines of `importer` that import `imported`, sorted."""
        details = self.grimp_graph.get_import_details(importer=importer, imported=imported)
        return sorted({d["line_number"] for d in details if d["line_number"] is not None})

    def is_lazy(self, importer: str, imported: str) -> bool:
        """True when every import of `imported` in `importer` sits inside a function (it runs
        when the function is called, not when the module is imported)."""
        lines = self.lines(importer, imported)
        return bool(lines) and set(lines) <= self._function_import_lines(importer)

    def _function_import_lines(self, module: str) -> set[int]:
        if module not in self._lazy_lines:
            found: set[int] = set()
            path = self.file_of(module)
            try:
                tree = ast.parse(path.read_bytes(), filename=str(path))
            except (OSError, SyntaxError, ValueError):
                tree = None
            for node in ast.walk(tree) if tree else []:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    found.update(n.lineno for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom))
            self._lazy_lines[module] = found
        return self._lazy_lines[module]

    def in_package(self, module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    def children(self, package: str) -> list[str]:
        return sorted(m for m in self.grimp_graph.find_children(package) if self.is_internal(m))

    def shortest_path(
        self, sources: Iterable[str], targets: set[str], allowed: Callable[[str], bool] | None = None
    ) -> list[str] | None:
        """The shortest import chain from any source to any target (BFS, sorted: the same every run)."""
        queue: deque[str] = deque()
        parent: dict[str, str | None] = {}
        for source in sorted(set(sources)):
            parent[source] = None
            queue.append(source)
        while queue:
            module = queue.popleft()
            for nxt in self.imports.get(module, []):
                if nxt in parent or (allowed is not None and nxt not in targets and not allowed(nxt)):
                    continue
                parent[nxt] = module
                if nxt in targets:
                    path = [nxt]
                    while parent[path[-1]] is not None:
                        path.append(parent[path[-1]])  # type: ignore[arg-type]
                    return path[::-1]
                queue.append(nxt)
        return None

    def reach(self, starts: Iterable[str], edges: dict[str, list[str]], allowed: Callable[[str], bool] | None = None) -> set[str]:
        """Modules reachable from `starts` along `edges` (the starts included)."""
        seen = set(starts)
        queue = deque(sorted(seen))
        while queue:
            for nxt in edges.get(queue.popleft(), []):
                if nxt not in seen and (allowed is None or allowed(nxt)):
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    def chain_text(self, chain: list[str]) -> str:
        """`a -> b (l.3) -> c (l.7, l.9)`: a chain with the import lines of each hop."""
        parts = [chain[0]]
        for importer, imported in zip(chain, chain[1:], strict=False):
            lines = ", ".join(f"l.{n}" for n in self.lines(importer, imported))
            parts.append(f"{imported} ({lines})")
        return " -> ".join(parts)


def load_graph(codebase: Codebase) -> ImportGraph:
    """The internal graph as lint-imports builds it, and each module's external imports apart.

    Built with external packages, grimp also maps an import of a missing submodule (a generated
    or optional one) to the root package, an edge lint-imports' internal graph does not have;
    so the two are built separately.
    """
    graph = build_graph(codebase)
    with_external = build_graph(codebase, external=True)
    internal = sorted(m for m in graph.modules if m == codebase.name or m.startswith(codebase.name + "."))
    inside = set(internal)
    imports: dict[str, list[str]] = {}
    imported_by: dict[str, list[str]] = {m: [] for m in internal}
    externals: dict[str, list[str]] = {}
    for module in internal:
        imports[module] = sorted(t for t in graph.find_modules_directly_imported_by(module) if t in inside)
        outside = with_external.find_modules_directly_imported_by(module) if module in with_external.modules else set()
        externals[module] = sorted(t for t in outside if not (t == codebase.name or t.startswith(codebase.name + ".")))
        for target in imports[module]:
            imported_by[target].append(module)
    for module in internal:
        imported_by[module].sort()
    return ImportGraph(codebase, graph, internal, imports, imported_by, externals)
