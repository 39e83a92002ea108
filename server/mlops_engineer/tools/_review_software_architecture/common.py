"""What every action of review_software_architecture shares: the codebase read, its graph, the
review's folder, and checking contracts both ways."""

from __future__ import annotations

import csv
import io
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_engineer.tools._review_software_architecture.models import ArchitectureInput, ArchitectureOutput, ContractRow, LayerRow
from mlops_engineer.workspace import STATE_DIR

if TYPE_CHECKING:
    from mlops_engineer.engines.review.architecture_contracts import Contract, ContractResult
    from mlops_engineer.engines.review.architecture_graph import ImportGraph
    from mlops_engineer.engines.review.architecture_review import Review
    from mlops_engineer.runtime import ToolContext

MAX_PAIRS_SHOWN = 20
MAX_MISSING_SHOWN = 20


def load(inp: ArchitectureInput, ctx: ToolContext) -> tuple[ImportGraph, ArchitectureOutput]:
    from mlops_engineer.engines.review.architecture_graph import installed_codebase, load_graph, workspace_codebase

    codebase = installed_codebase(inp.package) if inp.package else workspace_codebase(ctx.workspace, inp.path or "")
    ctx.progress(0, None, f"building the import graph of {codebase.name}")
    graph = load_graph(codebase)
    out = ArchitectureOutput(
        action=inp.operation.action, package=codebase.name, origin=codebase.origin, dry_run=inp.dry_run,  # type: ignore[arg-type]
        modules=len(graph.modules), imports=sum(len(v) for v in graph.imports.values()),
    )
    return graph, out


def out_dir(inp: ArchitectureInput, graph: ImportGraph, ctx: ToolContext) -> Path:
    return ctx.workspace.resolve(inp.out_dir or f"{STATE_DIR}/review/architecture/{graph.codebase.name}")


def layer_rows(review: Review) -> list[LayerRow]:
    top = len(review.layering.layers) - 1
    return [LayerRow(layer=top - i, packages=layer) for i, layer in enumerate(review.layering.layers)]


def run_review(graph: ImportGraph, ctx: ToolContext, tests: list[str] | None) -> Review:
    from mlops_engineer.engines.review.architecture_metrics import find_test_dirs
    from mlops_engineer.engines.review.architecture_review import review

    if tests is not None:
        test_dirs = [ctx.workspace.resolve(t, must_exist=True) for t in tests]
    else:
        stop_at = ctx.workspace.root if graph.codebase.origin == "workspace" else None
        test_dirs = find_test_dirs(graph, stop_at)
    if graph.codebase.origin == "workspace" or tests is not None:
        shown = [ctx.workspace.relative(d) for d in test_dirs]
    else:
        shown = [graph.codebase.display(d) for d in test_dirs]
    steps = iter(range(1, 100))
    return review(graph, test_dirs, shown, lambda message: ctx.progress(next(steps, 99), None, message))


def check_contracts(graph: ImportGraph, contracts: list[Contract], ctx: ToolContext) -> list[ContractResult]:
    from mlops_engineer.engines.review.architecture_contracts import check_contract

    results = []
    for index, contract in enumerate(contracts):
        ctx.progress(index, len(contracts), f"checking contract {contract.name}")
        results.append(check_contract(graph, contract))
    return results


def lint_command(config: Path, graph: ImportGraph, ctx: ToolContext) -> str:
    """The command as a person would type it in the workspace root."""
    shown = ctx.workspace.relative(config)
    if graph.codebase.origin == "workspace":
        return f"PYTHONPATH={shlex.quote(ctx.workspace.relative(graph.codebase.source_root) or '.')} lint-imports {shlex.quote(shown)} --no-cache"
    return f"lint-imports {shlex.quote(shown)} --no-cache"


def compare_with_lint_imports(graph: ImportGraph, config: Path, results: list[ContractResult], ctx: ToolContext) -> list[ContractRow]:
    from mlops_engineer.engines.review.architecture_lint_imports import compare, run_lint_imports

    ctx.progress(len(results), len(results) + 1, "running lint-imports")
    report = run_lint_imports(config, graph.codebase.source_root, ctx.workspace.root, ctx.check_cancelled)
    agreement = {a.name: a for a in compare(results, report)}
    rows = contract_rows(results)
    for row in rows:
        a = agreement[row.name]
        row.lint_imports_kept, row.agrees = a.lint_kept, a.agrees
        row.lint_imports_pairs, row.lint_imports_imports = a.lint_pairs, a.lint_imports
        row.found_of_lint_imports = f"{a.pairs_found}/{a.lint_pairs} pairs, {a.imports_found}/{a.lint_imports} imports"
        row.missing = a.missing[:MAX_MISSING_SHOWN]
    return rows


def contract_rows(results: list[ContractResult]) -> list[ContractRow]:
    return [
        ContractRow(
            name=r.name, type=r.type, kept=r.kept,
            broken_pairs=[f"{v.importer} -> {v.imported}" for v in r.violations][:MAX_PAIRS_SHOWN],
            illegal_imports=len({e for v in r.violations for e in v.edges}),
        )
        for r in results
    ]


def contracts_csv(graph: ImportGraph, results: list[ContractResult]) -> str:
    """Every import on an illegal chain, by contract and broken pair."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["contract", "importer_package", "imported_package", "importer", "imported", "lines", "file"])
    for r in results:
        for v in r.violations:
            for (a, b), lines in sorted(v.edges.items()):
                writer.writerow([r.name, v.importer, v.imported, a, b, " ".join(map(str, lines)), graph.display_file(a)])
    return buffer.getvalue()
