"""The architecture review of one package: every check's evidence turned into typed findings.

Checks (the `check` field of each finding):

- `architecture.layer_violation`: a root child importing a child in a higher inferred layer
  (an import that closes a cycle between the root's children);
- `architecture.cycle`: the same, between the children of a deeper package;
- `architecture.serving_imports_training`, `.serving_imports_notebook`, `.model_imports_web`;
- `architecture.config_scattered`: environment / dotenv reads outside the config module;
- `architecture.large_module`, `.high_fan_out`, `.high_fan_in`: size and coupling;
- `architecture.untested`: modules no test file reaches.

No file is written here; the tool writes the findings table and the report.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_engineer.engines.review import architecture_boundaries as boundaries
from mlops_engineer.engines.review import architecture_metrics as metrics
from mlops_engineer.engines.review import architecture_structure as structure
from mlops_engineer.engines.review.architecture_graph import ImportGraph
from mlops_engineer.engines.review.findings import Finding, finding

# Thresholds: a module over these is reported. Chosen so a well-kept package of a few
# hundred modules raises a handful, not hundreds (optuna: 3 large modules, feast: about 20).
LARGE_LINES, VERY_LARGE_LINES = 1000, 2000
HIGH_FAN_OUT = 20
HIGH_FAN_IN = 50
TOP = 10  # rows of the coupling tables in the report
TEST_SEGMENTS = {"tests", "test", "testing", "conftest", "__main__"}


@dataclass
class Review:
    graph: ImportGraph
    findings: list[Finding]
    layering: structure.Layering
    metrics: list[metrics.ModuleMetrics]
    test_dirs: list[str]
    test_files: int
    untested: list[str]
    breakers: list[structure.CycleBreak]


def _python(graph: ImportGraph, code: str) -> str:
    """A command that reproduces a graph fact with grimp alone (run from the workspace root)."""
    prefix = f"PYTHONPATH={shlex.quote(str(Path(graph.codebase.display_prefix).parent))} " if graph.codebase.origin == "workspace" else ""
    setup = f"import grimp; g = grimp.build_graph({graph.codebase.name!r}, cache_dir=None); "
    # Module names hold no quotes: double quotes inside keep the shell word readable.
    return f"{prefix}python -c {shlex.quote((setup + code).replace(chr(39), chr(34)))}"


def _chain_command(graph: ImportGraph, importer: str, imported: str) -> str:
    return _python(graph, f"print(g.find_shortest_chain({importer!r}, {imported!r}))")


def review(graph: ImportGraph, test_dirs: list[Path], shown_dirs: list[str], progress: Callable[[str], None]) -> Review:
    """Run every check; `test_dirs` are the folders of test files (`shown_dirs`: their names in findings)."""
    found: list[Finding] = []
    progress("cycles and layers")
    breakers = structure.cycle_breakers(graph, lambda p: progress(f"cycles in {p}"))
    layering = structure.infer_layers(graph, breakers)
    found += _structure_findings(graph, breakers, layering)
    progress("ML boundaries")
    found += _boundary_findings(graph)
    found += _config_findings(graph)
    progress("size and coupling")
    rows = metrics.module_metrics(graph)
    found += _coupling_findings(graph, rows)
    progress("test reach")
    reached, files = metrics.tested_modules(graph, test_dirs)
    candidates = [m for m in graph.modules if not TEST_SEGMENTS & set(m.split("."))]
    untested = [m for m in candidates if m not in reached]
    found += _untested_findings(graph, shown_dirs, files, untested, len(candidates))
    return Review(graph, found, layering, rows, shown_dirs, files, untested, breakers)


def _structure_findings(graph: ImportGraph, breakers: list[structure.CycleBreak], layering: structure.Layering) -> list[Finding]:
    grouped: dict[tuple[str, str, str], list[structure.CycleBreak]] = defaultdict(list)
    for b in breakers:
        grouped[(b.package, b.importer_child, b.imported_child)].append(b)
    out = []
    for (package, importer_child, imported_child), items in sorted(grouped.items()):
        first = items[0]
        root = package == layering.root
        numbers = {"imports_closing_cycles": len(items), "cycle_length": len(first.cycle) - 1}
        if root:
            numbers |= {"importer_layer": layering.level.get(importer_child, -1), "imported_layer": layering.level.get(imported_child, -1)}
            title = f"{importer_child} imports {imported_child}, a higher layer ({len(items)} import(s) closing a cycle)"
            fix = (f"Move what {first.importer} takes from {first.imported} down into {importer_child} or a lower layer, "
                   f"or pass it in as an argument; then pin the layering with a layers contract (action propose_contracts).")
        else:
            title = f"Import cycle in {package}: {importer_child} <-> {imported_child} ({len(items)} import(s) to break)"
            fix = f"Break the cycle at {first.importer} -> {first.imported}: move the shared code to a module both import, or import lazily inside the function that needs it."
        lazy = [f"{a} -> {b}" for a, b in zip(first.cycle, first.cycle[1:], strict=False) if graph.is_lazy(a, b)]
        numbers["lazy_imports_in_cycle"] = len(lazy)
        if lazy:
            # Python never meets this cycle while importing, but the modules still depend on each other.
            fix = (f"{lazy[0]} is imported inside a function, so importing does not fail, but the modules still depend on "
                   f"each other: move what both need into a module of its own that neither imports back." if not root else
                   f"{lazy[0]} is imported inside a function (no import-time failure). " + fix)
        out.append(finding(
            "architecture.layer_violation" if root else "architecture.cycle",
            "low" if lazy and not root else ("medium" if root or len(first.cycle) == 3 else "low"),
            title, fix, numbers=numbers, file=graph.display_file(first.importer), line=first.lines[0] if first.lines else None,
            command=_chain_command(graph, first.imported, first.importer),
            detail="cycle: " + graph.chain_text(list(first.cycle)), key=f"{package}:{importer_child}->{imported_child}",
        ))
    return out


def _boundary_findings(graph: ImportGraph) -> list[Finding]:
    out = []
    for breach in boundaries.boundary_breaches(graph):
        source_role, target_role = breach.rule.split("->")
        check = f"architecture.{source_role}_imports_{target_role}"
        chain = list(breach.chain)
        external = not graph.is_internal(chain[-1])
        first_hop = (chain[0], chain[1]) if len(chain) > 1 else (chain[0], chain[0])
        severity = "high" if target_role in ("training", "notebook") else "medium"
        how = "directly" if breach.direct else f"through {len(chain) - 2} module(s)"
        out.append(finding(
            check, severity,
            f"{source_role.capitalize()} code {breach.importer} imports {target_role} code {breach.imported} {how}",
            {"training": f"Serving must load a trained artifact, not training code: move what {breach.importer} needs from {breach.imported} into a module both share (features, schema), or load the model from the registry.",
             "notebook": f"Move the code {breach.importer} uses out of the notebook package into a library module; notebooks import the library, never the reverse.",
             "web": f"Keep {breach.importer} free of the web layer: move the request/response handling to the serving or API package and pass plain data to the model."}[target_role],
            numbers={"chain_length": len(chain) - 1, "direct": breach.direct},
            file=graph.display_file(first_hop[0]), line=(graph.lines(*first_hop) or [None])[0],
            command=_python(graph, f"print(g.find_shortest_chain({chain[0]!r}, {chain[-1].split('.')[0] if external else chain[-1]!r}))")
            if not external else f"grep -n {shlex.quote(chain[-1].split('.')[0])} {shlex.quote(graph.display_file(chain[-2]))}",
            detail="chain: " + (graph.chain_text(chain[:-1]) + f" -> {chain[-1]}" if external else graph.chain_text(chain)),
            key=f"{breach.rule}:{breach.importer}->{breach.imported}",
        ))
    return out


def _config_findings(graph: ImportGraph) -> list[Finding]:
    reads = boundaries.config_reads(graph)
    by_module: dict[str, list[boundaries.ConfigRead]] = defaultdict(list)
    for read in reads:
        by_module[read.module].append(read)
    if len(by_module) <= 1:
        return []
    config_modules = sorted(m for m in by_module if boundaries.is_config_module(m))
    home = config_modules[0] if config_modules else max(sorted(by_module), key=lambda m: len(by_module[m]))
    out = []
    for module, items in sorted(by_module.items()):
        if module == home or boundaries.is_config_module(module):
            continue
        secrets = [r for r in items if r.secret]
        names = sorted({r.name for r in items if r.name}) or ["its environment variables"]
        names += ["the names it computes"] if any(r.name is None for r in items) and names[0] != "its environment variables" else []
        first = secrets[0] if secrets else items[0]
        out.append(finding(
            "architecture.config_scattered", "medium" if secrets else "low",
            f"{module} reads {'secrets' if secrets else 'configuration'} from the environment itself ({len(items)} read(s))",
            f"Read {', '.join(names[:6])} in {home} (the package's configuration module) and pass the values in; one place to validate, document and redact them.",
            numbers={"reads": len(items), "secret_reads": len(secrets), "modules_reading_environment": len(by_module)},
            file=graph.display_file(module), line=first.line,
            command=f"grep -nE 'environ|getenv|dotenv' {shlex.quote(graph.display_file(module))}",
            detail=f"{first.what} at line {first.line}; configuration module: {home}", key=module,
        ))
    return out


def _coupling_findings(graph: ImportGraph, rows: list[metrics.ModuleMetrics]) -> list[Finding]:
    out = []
    for row in rows:
        if not row.file:
            continue
        if row.lines > LARGE_LINES:
            out.append(finding(
                "architecture.large_module", "medium" if row.lines > VERY_LARGE_LINES else "low",
                f"{row.module} is {row.lines} lines long", f"Split {row.module} by job: one module per responsibility, each under {LARGE_LINES} lines.",
                numbers={"lines": row.lines, "threshold": LARGE_LINES}, file=row.file, command=f"wc -l {shlex.quote(row.file)}", key=row.module,
            ))
        if row.fan_out >= HIGH_FAN_OUT:
            out.append(finding(
                "architecture.high_fan_out", "low", f"{row.module} imports {row.fan_out} modules of the package",
                f"{row.module} depends on too much: move the orchestration it does into smaller modules, or import through a facade.",
                numbers={"fan_out": row.fan_out, "threshold": HIGH_FAN_OUT}, file=row.file,
                command=_python(graph, f"print(len(g.find_modules_directly_imported_by({row.module!r})))"), key=row.module,
            ))
        if row.fan_in >= HIGH_FAN_IN:
            out.append(finding(
                "architecture.high_fan_in", "info", f"{row.module} is imported by {row.fan_in} modules of the package",
                f"A change to {row.module} touches {row.fan_in} importers: keep its interface small and stable, and its tests thorough.",
                numbers={"fan_in": row.fan_in, "threshold": HIGH_FAN_IN}, file=row.file,
                command=_python(graph, f"print(len(g.find_modules_that_directly_import({row.module!r})))"), key=row.module,
            ))
    return out


def _untested_findings(graph: ImportGraph, test_dirs: list[str], files: int, untested: list[str], total: int) -> list[Finding]:
    if not test_dirs or files == 0:
        return [finding(
            "architecture.untested", "info", f"No tests folder found for {graph.codebase.name}",
            "Give `tests` (folders of test files in the workspace) to measure which modules the tests reach.",
            numbers={"modules": total}, key="no-tests",
            command="find " + shlex.quote(str(Path(graph.display_file(graph.codebase.name)).parent)) + " -type d -name 'test*'"
            if graph.codebase.origin == "workspace" else
            "python -c " + shlex.quote(f'import importlib.util as u, pathlib; print(sorted(str(p) for p in pathlib.Path(u.find_spec("{graph.codebase.name}").origin).parent.rglob("test*")))'),
        )]
    groups: dict[str, list[str]] = defaultdict(list)
    for module in untested:
        groups[module.rsplit(".", 1)[0] if "." in module else module].append(module)
    out = []
    for package, modules in sorted(groups.items()):
        names = ", ".join(m.rsplit(".", 1)[-1] for m in modules[:8]) + (", ..." if len(modules) > 8 else "")
        out.append(finding(
            "architecture.untested", "low", f"{len(modules)} module(s) of {package} are reached by no test: {names}",
            f"Add a test that imports and exercises {modules[0]} (and its siblings listed), or delete them if they are dead code.",
            numbers={"untested_modules": len(modules), "test_files": files},
            file=graph.display_file(modules[0]),
            command="grep -rlE " + shlex.quote("|".join(m.replace(".", r"\.") for m in modules[:8])) + " " + " ".join(shlex.quote(d) for d in test_dirs),
            detail="modules: " + ", ".join(modules[:20]) + (f" and {len(modules) - 20} more" if len(modules) > 20 else ""), key=package,
        ))
    return out


def contract_findings(graph: ImportGraph, results: list, command: str) -> list[Finding]:
    """One finding per broken pair of each contract (`ContractResult`s), with a shortest illegal chain."""
    out = []
    for result in results:
        for v in result.violations:
            chain = v.chain
            first = (chain[0], chain[1]) if len(chain) > 1 else None
            out.append(finding(
                "architecture.contract_broken", "medium",
                f"Contract '{result.name}': {v.importer} imports {v.imported} ({len(v.edges)} import(s) on illegal chains)",
                f"Remove the import at the head of the chain or move the code it needs below {v.importer}; "
                "contracts.csv lists every import on an illegal chain.",
                numbers={"illegal_imports": len(v.edges), "chain_length": len(chain) - 1},
                file=graph.display_file(chain[0]), line=(graph.lines(*first) or [None])[0] if first and graph.is_internal(first[1]) else None,
                command=command, detail="chain: " + graph.chain_text(chain if graph.is_internal(chain[-1]) else chain[:-1]),
                key=f"{result.name}:{v.importer}->{v.imported}",
            ))
    return out
