"""Cycles and layers: which sibling packages import each other in a circle, and the layering
that remains once the fewest imports that close those circles are taken out.

grimp's `nominate_cycle_breakers(package)` picks an approximately minimal set of imports
between the children of `package` whose removal leaves the children acyclic (the same call
import-linter's `acyclic_siblings` contract makes). Each breaker is shown with the cycle it
closes: the import itself plus the shortest chain back.

Layers are inferred for the root's children: after the root-level breakers are removed, a
child's layer is the length of the longest import path below it (0 = imports no sibling).
The root-level breakers are then the imports that go *up* the layers: layer violations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mlops_engineer.engines.review.architecture_graph import ImportGraph

MAX_DEPTH = 10  # as import-linter's acyclic_siblings default


@dataclass(frozen=True)
class CycleBreak:
    """One import that closes a cycle between two children of `package`."""

    package: str
    importer_child: str
    imported_child: str
    importer: str  # the module holding the import
    imported: str
    lines: tuple[int, ...]
    cycle: tuple[str, ...]  # importer -> imported -> ... -> importer


@dataclass
class Layering:
    root: str
    layers: list[list[str]]  # top layer first; each a sorted list of the root's children
    level: dict[str, int]
    package_edges: dict[tuple[str, str], int]  # child -> child: number of module imports
    violations: list[CycleBreak] = field(default_factory=list)


def _child_of(package: str, module: str) -> str:
    return ".".join(module.split(".")[: len(package.split(".")) + 1])


def cycle_breakers(graph: ImportGraph, progress: Callable[[str], None] | None = None) -> list[CycleBreak]:
    """Every package's cycle-closing imports, the root's included, in a stable order."""
    found: list[CycleBreak] = []

    def visit(package: str, depth: int) -> None:
        children = graph.children(package)
        if len(children) >= 2:
            if progress:
                progress(package)
            for importer, imported in sorted(graph.grimp_graph.nominate_cycle_breakers(package)):
                back = graph.shortest_path([imported], {importer}) or [imported, importer]
                found.append(CycleBreak(
                    package, _child_of(package, importer), _child_of(package, imported), importer, imported,
                    tuple(graph.lines(importer, imported)), (importer, *back),
                ))
        if depth:
            for child in children:
                visit(child, depth - 1)

    visit(graph.codebase.name, MAX_DEPTH)
    return found


def infer_layers(graph: ImportGraph, breakers: list[CycleBreak]) -> Layering:
    root = graph.codebase.name
    children = graph.children(root)
    removed = {(b.importer, b.imported) for b in breakers if b.package == root}
    edges: dict[tuple[str, str], int] = {}
    for module in graph.modules:
        if module == root:
            continue
        a = _child_of(root, module)
        for target in graph.imports[module]:
            if target == root or (module, target) in removed:
                continue
            b = _child_of(root, target)
            if a != b:
                edges[(a, b)] = edges.get((a, b), 0) + 1
    below: dict[str, list[str]] = {c: [] for c in children}
    for a, b in sorted(edges):
        below[a].append(b)

    levels: dict[str, int] = {}
    visiting: set[str] = set()

    def level(child: str) -> int:
        # Longest import path below `child`. The breakers leave no cycle; `visiting` only
        # guards against one, should grimp's set ever be incomplete.
        if child not in levels:
            visiting.add(child)
            levels[child] = 1 + max((level(b) for b in below[child] if b not in visiting), default=-1)
            visiting.discard(child)
        return levels[child]

    for child in children:
        level(child)
    top = max(levels.values(), default=0)
    layers = [sorted(c for c in children if levels[c] == n) for n in range(top, -1, -1)]
    all_edges: dict[tuple[str, str], int] = dict(edges)
    for b in breakers:
        if b.package == root:
            all_edges[(b.importer_child, b.imported_child)] = all_edges.get((b.importer_child, b.imported_child), 0) + 1
    violations = [b for b in breakers if b.package == root]
    return Layering(root, [layer for layer in layers if layer], levels, all_edges, violations)
