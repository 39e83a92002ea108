"""import-linter contracts: typed, written as an INI file, read back, and checked on our graph.

Three contract types, with import-linter's meaning:

- `layers`: each layer may import the layers below it, never those above. A layer line may
  hold siblings: `a | b` (independent: they may not import each other) or `a : b` (they may).
  Chains through other layers are not counted for a pair (they break a pair of their own).
- `forbidden`: no source module (or descendant) may import a forbidden one, directly or
  through any chain (or directly only, with `allow_indirect_imports`).
- `independence`: no listed module may import another.

For each broken pair the check keeps every direct import that lies on some illegal chain (one
that leaves the importer package, passes only modules outside both packages and other layers,
and stops at the imported package), not one shortest chain: lint-imports picks one chain per
pair of modules and breaks ties its own way, so only the full set is certain to hold every
import it reports.
"""

from __future__ import annotations

import configparser
import io
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field

from mlops_engineer.contract import StrictModel
from mlops_engineer.engines.review.architecture_graph import ImportGraph
from mlops_engineer.errors import ToolError

ModuleName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]
_TAIL = r"(\([A-Za-z_][A-Za-z0-9_.]*\)|[A-Za-z_][A-Za-z0-9_.]*)"  # `(name)`: optional, may be missing
LayerLine = Annotated[str, Field(pattern=rf"^{_TAIL}(\s*[|:]\s*{_TAIL})*$")]
ContractName = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[^\n\r\[\]]+$")]


class LayersContract(StrictModel):
    """Higher layers may import lower ones, never the reverse."""

    type: Literal["layers"] = "layers"
    name: ContractName
    layers: list[LayerLine] = Field(min_length=2, description="Highest first; `a | b` for independent siblings, `a : b` for siblings that may import each other.")
    containers: list[ModuleName] = Field(default_factory=list, description="Parent packages the layer names are relative to.")


class ForbiddenContract(StrictModel):
    """Source modules must not import the forbidden ones."""

    type: Literal["forbidden"] = "forbidden"
    name: ContractName
    source_modules: list[ModuleName] = Field(min_length=1)
    forbidden_modules: list[ModuleName] = Field(min_length=1)
    allow_indirect_imports: bool = False


class IndependenceContract(StrictModel):
    """The modules must not import each other."""

    type: Literal["independence"] = "independence"
    name: ContractName
    modules: list[ModuleName] = Field(min_length=2)


Contract = Annotated[LayersContract | ForbiddenContract | IndependenceContract, Field(discriminator="type")]


def _key(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_") or "contract"


def render_ini(root_package: str, contracts: list[Contract]) -> str:
    """The contracts as an `.importlinter` file."""
    lines = ["[importlinter]", f"root_package = {root_package}", ""]
    keys: set[str] = set()
    for contract in contracts:
        key = _key(contract.name)
        while key in keys:
            key += "_"
        keys.add(key)
        lines += [f"[importlinter:contract:{key}]", f"name = {contract.name}", f"type = {contract.type}"]
        if isinstance(contract, LayersContract):
            if contract.containers:
                lines += ["containers =", *(f"    {c}" for c in contract.containers)]
            lines += ["layers =", *(f"    {layer}" for layer in contract.layers)]
        elif isinstance(contract, ForbiddenContract):
            lines += ["source_modules =", *(f"    {m}" for m in contract.source_modules)]
            lines += ["forbidden_modules =", *(f"    {m}" for m in contract.forbidden_modules)]
            if contract.allow_indirect_imports:
                lines.append("allow_indirect_imports = True")
        else:
            lines += ["modules =", *(f"    {m}" for m in contract.modules)]
        lines.append("")
    return "\n".join(lines)


def _values(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def parse_ini(text: str) -> tuple[str, list[Contract]]:
    """Read an `.importlinter` / `setup.cfg` file: its root package and the contracts we can check."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_file(io.StringIO(text))
    except configparser.Error as exc:
        raise ToolError("invalid_input", f"The import-linter configuration is not valid INI: {exc}", "Fix the file, or pass `contracts` instead.") from exc
    if not parser.has_section("importlinter"):
        raise ToolError("invalid_input", "The configuration has no [importlinter] section.", "Start it with [importlinter] and root_package = <name>.")
    root = parser["importlinter"].get("root_package", "").strip()
    contracts: list[Contract] = []
    for section in parser.sections():
        if not section.startswith("importlinter:contract:"):
            continue
        body = parser[section]
        kind, name = body.get("type", "").strip(), body.get("name", section).strip()
        unsupported = sorted(set(body) - {"name", "type", "layers", "containers", "source_modules", "forbidden_modules", "allow_indirect_imports", "modules"})
        if unsupported or kind not in ("layers", "forbidden", "independence"):
            raise ToolError(
                "invalid_input",
                f"Contract '{name}' uses what this check does not read: type {kind!r}, options {unsupported}.",
                "Supported: layers (layers, containers), forbidden (source_modules, forbidden_modules, allow_indirect_imports), independence (modules).",
            )
        try:
            if kind == "layers":
                contracts.append(LayersContract(name=name, layers=_values(body["layers"]), containers=_values(body.get("containers", ""))))
            elif kind == "forbidden":
                contracts.append(ForbiddenContract(
                    name=name, source_modules=_values(body["source_modules"]), forbidden_modules=_values(body["forbidden_modules"]),
                    allow_indirect_imports=body.get("allow_indirect_imports", "false").strip().lower() == "true",
                ))
            else:
                contracts.append(IndependenceContract(name=name, modules=_values(body["modules"])))
        except (KeyError, ValueError) as exc:
            raise ToolError("invalid_input", f"Contract '{name}' is incomplete or malformed: {exc}", "Compare it with import-linter's documentation of that type.") from exc
    return root, contracts


@dataclass
class PairViolation:
    """One forbidden direction (importer package -> imported package) and the imports behind it."""

    importer: str
    imported: str
    chain: list[str]  # a shortest illegal chain, for the finding
    edges: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # every import on an illegal chain -> lines


@dataclass
class ContractResult:
    name: str
    type: str
    kept: bool
    violations: list[PairViolation] = field(default_factory=list)


def _members(graph: ImportGraph, package: str) -> set[str]:
    return {m for m in graph.modules if graph.in_package(m, package)}


def _pair(graph: ImportGraph, importer: str, imported: str, removed: set[str], direct_only: bool = False) -> PairViolation | None:
    """Every import on a chain from package `importer` to package `imported`, avoiding `removed`."""
    sources, targets = _members(graph, importer), _members(graph, imported)
    if not sources or not targets:
        return None
    edges: dict[tuple[str, str], list[int]] = {}
    if direct_only:
        for source in sorted(sources):
            for target in graph.imports[source]:
                if target in targets:
                    edges[(source, target)] = graph.lines(source, target)
        chain = list(min(edges)) if edges else None
    else:
        # A chain leaves the importer package once and ends at its first module of the imported
        # one: the modules between are neither, nor in another layer.
        def between(module: str) -> bool:
            return module not in removed and module not in sources and module not in targets

        forward = graph.reach(sources, graph.imports, between)
        backward = graph.reach(targets, graph.imported_by, between)
        for a in sorted(forward - targets):
            for b in graph.imports[a]:
                if b in backward and b not in sources and (b in targets or between(b)):
                    edges[(a, b)] = graph.lines(a, b)
        chain = graph.shortest_path(sources, targets, between) if edges else None
    if not edges or chain is None:
        return None
    return PairViolation(importer, imported, chain, edges)


def _layer_groups(graph: ImportGraph, contract: LayersContract, container: str | None) -> list[tuple[list[str], bool]]:
    """Each layer's modules (those present) and whether they are independent siblings."""
    groups, missing = [], []
    for line in contract.layers:
        independent = "|" in line
        present = []
        for raw in (n.strip() for n in line.replace(":", "|").split("|")):
            optional = raw.startswith("(")
            name = raw.strip("()")
            full = f"{container}.{name}" if container else name
            if full in graph.modules:
                present.append(full)
            elif not optional:
                missing.append(full)
        groups.append((present, independent))
    if missing:
        raise ToolError("invalid_input", f"Contract '{contract.name}' names layers that do not exist: {', '.join(missing)}.",
                        "Fix the names, or mark a layer optional with parentheses: (name).")
    return groups


def _check_exists(graph: ImportGraph, modules: list[str], contract: str) -> None:
    missing = [m for m in modules if m not in graph.modules]
    if missing:
        raise ToolError("invalid_input", f"Contract '{contract}' names modules that do not exist: {', '.join(missing)}.", "Use module names from the package, e.g. those the review's layers table lists.")


def check_contract(graph: ImportGraph, contract: Contract) -> ContractResult:
    result = ContractResult(contract.name, contract.type, kept=True)
    if isinstance(contract, ForbiddenContract):
        _check_exists(graph, contract.source_modules, contract.name)
        for source in sorted(contract.source_modules):
            for forbidden in sorted(contract.forbidden_modules):
                if forbidden not in graph.grimp_graph.modules or graph.in_package(source, forbidden) or graph.in_package(forbidden, source):
                    continue
                violation = _pair(graph, source, forbidden, set(), contract.allow_indirect_imports)
                if violation is None and not graph.is_internal(forbidden):
                    violation = _external_pair(graph, source, forbidden, contract.allow_indirect_imports)
                if violation:
                    result.violations.append(violation)
    elif isinstance(contract, IndependenceContract):
        _check_exists(graph, contract.modules, contract.name)
        for a in contract.modules:
            others = set().union(*(_members(graph, m) for m in contract.modules if m != a))
            for b in contract.modules:
                if a != b:
                    violation = _pair(graph, a, b, others - _members(graph, b))
                    if violation:
                        result.violations.append(violation)
    else:
        for container in contract.containers or [None]:
            if container is not None:
                _check_exists(graph, [container], contract.name)
            present = _layer_groups(graph, contract, container)
            everything = [n for names, _ in present for n in names]
            for high_index, (highs, independent) in enumerate(present):
                pairs = [(low, high) for lows, _ in present[high_index + 1:] for low in lows for high in highs]
                if independent:
                    pairs += [(a, b) for a in highs for b in highs if a != b]
                for low, high in pairs:
                    others = set().union(*(_members(graph, n) for n in everything if n not in (low, high)))
                    violation = _pair(graph, low, high, others)
                    if violation:
                        result.violations.append(violation)
    result.violations.sort(key=lambda v: (v.importer, v.imported))
    result.kept = not result.violations
    return result


def _external_pair(graph: ImportGraph, source: str, external: str, direct_only: bool) -> PairViolation | None:
    """Chains to an external package end with a direct import of it (externals import nothing we see)."""
    importers = sorted(m for m in graph.modules if any(e == external or e.startswith(external + ".") for e in graph.externals[m]))
    if not importers:
        return None
    sources = _members(graph, source)
    reached = sources if direct_only else graph.reach(sources, graph.imports)
    hits = [m for m in importers if m in reached]
    if not hits:
        return None
    edges: dict[tuple[str, str], list[int]] = {}
    targets = set(hits)
    if not direct_only:
        backward = graph.reach(targets, graph.imported_by)
        for a in sorted(reached):
            for b in graph.imports[a]:
                if b in backward:
                    edges[(a, b)] = graph.lines(a, b)
    top = next(e for e in graph.externals[hits[0]] if e == external or e.startswith(external + "."))
    for hit in hits:
        for ext in graph.externals[hit]:
            if ext == external or ext.startswith(external + "."):
                edges[(hit, ext)] = graph.lines(hit, ext)
    chain = (graph.shortest_path(sources, targets) or [hits[0]]) if hits[0] not in sources else [hits[0]]
    return PairViolation(source, external, [*chain, top], edges)
