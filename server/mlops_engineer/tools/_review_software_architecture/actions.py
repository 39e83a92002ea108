"""The three actions: review, propose_contracts, check."""

from __future__ import annotations

import csv
import io
import json
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_engineer.errors import ToolError
from mlops_engineer.tools._review_software_architecture import common
from mlops_engineer.tools._review_software_architecture.models import (
    ArchitectureInput,
    ArchitectureOutput,
    Check,
    ProposeContracts,
    Review,
)

if TYPE_CHECKING:
    from mlops_engineer.engines.review.architecture_contracts import Contract
    from mlops_engineer.engines.review.architecture_graph import ImportGraph
    from mlops_engineer.engines.review.findings import Finding
    from mlops_engineer.runtime import ToolContext

MAX_FINDINGS_SHOWN = 25


def _shown(findings: list[Finding], floor: str = "info") -> tuple[list[Finding], dict[str, int]]:
    from mlops_engineer.engines.review.findings import count_by_severity, severity_rank, sort_findings

    ordered = [f for f in sort_findings(findings) if severity_rank(f.severity) >= severity_rank(floor)]  # type: ignore[arg-type]
    return ordered[:MAX_FINDINGS_SHOWN], count_by_severity(findings)


def _write(ctx: ToolContext, files: dict[Path, str], out: ArchitectureOutput, dry_run: bool, confirm: bool = False) -> None:
    """Our own files under .mlops are replaced freely; a file elsewhere (the report, the
    import-linter configuration) goes through `write_files`, which needs confirm to replace
    a file someone edited."""
    from mlops_engineer.render import write_files

    state = ctx.workspace.state_dir
    user = {ctx.workspace.relative(p): text for p, text in files.items() if state not in p.parents}
    write_files(ctx.workspace, user, dry_run=dry_run, confirm=confirm)
    for path, text in files.items():
        if not dry_run and state in path.parents:
            ctx.workspace.write_text(path, text)
        out.files.append(ctx.workspace.relative(path))


def run_review(op: Review, inp: ArchitectureInput, ctx: ToolContext) -> ArchitectureOutput:
    from mlops_engineer.engines.review import architecture_report, findings

    report_path = ctx.workspace.resolve(op.report) if op.report else None  # refused before any work
    graph, out = common.load(inp, ctx)
    review = common.run_review(graph, ctx, op.tests)
    folder = common.out_dir(inp, graph, ctx)
    title = f"Architecture review: {graph.codebase.name}"
    call = json.dumps(inp.model_dump(mode="json", exclude_defaults=True), sort_keys=True)
    command = f"mlops-engineer call review_software_architecture --input {shlex.quote(call)}"
    report = findings.render_report(review.findings, title, architecture_report.sections(review, command))
    files = {
        folder / "findings.json": findings.findings_json(review.findings),
        folder / "findings.csv": findings.findings_csv(review.findings),
        folder / "modules.csv": _modules_csv(review),
        folder / "report.md": report,
    }
    if report_path is not None:
        files[report_path] = report
    _write(ctx, files, out, inp.dry_run, inp.confirm)
    out.layers = common.layer_rows(review)
    out.findings, out.by_severity = _shown(review.findings, op.severity)
    out.findings_total = len(review.findings)
    out.planned_calls = [f"grimp graph of {graph.codebase.name} ({graph.codebase.origin}, read-only)", "cycles, layers, ML boundaries, coupling, test reach"]
    out.next_steps = [f"Read {out.files[-1]}.", 'Pin the layering: {"operation": {"action": "propose_contracts"}} (writes .importlinter with confirm).']
    return out


def _modules_csv(review) -> str:  # noqa: ANN001 - an engine Review
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["module", "file", "lines", "fan_in", "fan_out", "external_imports", "tested"])
    untested = set(review.untested)
    for row in review.metrics:
        values = asdict(row)
        writer.writerow([*values.values(), "" if not review.test_files else row.module not in untested])
    return buffer.getvalue()


def proposed_contracts(graph: ImportGraph, review) -> list[Contract]:  # noqa: ANN001
    """The inferred layers as a layers contract, and the ML boundaries as forbidden contracts."""
    from mlops_engineer.engines.review.architecture_boundaries import role_roots
    from mlops_engineer.engines.review.architecture_contracts import ForbiddenContract, LayersContract

    contracts: list[Contract] = []
    layers = review.layering.layers
    if len(layers) >= 2:
        contracts.append(LayersContract(name=f"{graph.codebase.name} layers (inferred)", layers=[" : ".join(layer) for layer in layers]))
    rules = [("serving", ("training", "notebook"), "Serving does not import training or notebooks"), ("model", ("web",), "Models do not import the web layer")]
    for source_role, target_roles, name in rules:
        sources = role_roots(graph, source_role)
        targets = sorted({t for role in target_roles for t in role_roots(graph, role)})
        pairs = [(s, t) for s in sources for t in targets if not (graph.in_package(s, t) or graph.in_package(t, s))]
        if pairs:
            contracts.append(ForbiddenContract(
                name=name, source_modules=sorted({s for s, _ in pairs}), forbidden_modules=sorted({t for _, t in pairs}),
            ))
    return contracts


def run_propose(op: ProposeContracts, inp: ArchitectureInput, ctx: ToolContext) -> ArchitectureOutput:
    from mlops_engineer.engines.review.architecture_contracts import render_ini

    config = ctx.workspace.resolve(op.config)
    graph, out = common.load(inp, ctx)
    review = common.run_review(graph, ctx, None)
    contracts = proposed_contracts(graph, review)
    if not contracts:
        raise ToolError("not_found", f"Nothing to propose for {graph.codebase.name}: one inferred layer and no ML roles.",
                        "Write the contracts you intend and run action check with them.")
    out.layers = common.layer_rows(review)
    out.config_text = render_ini(graph.codebase.name, contracts)
    out.lint_imports_command = common.lint_command(config, graph, ctx)
    if inp.dry_run or not inp.confirm:
        results = common.check_contracts(graph, contracts, ctx)
        out.contracts = common.contract_rows(results)
        out.files = [ctx.workspace.relative(config)]
        out.dry_run = True
        out.planned_calls = [f"write {out.files[0]}", out.lint_imports_command]
        out.next_steps = [f"Repeat with confirm: true to write {out.files[0]} and verify it with lint-imports."]
        return out
    return _check_and_record(graph, contracts, config, {config: out.config_text}, inp, ctx, out)


def run_check(op: Check, inp: ArchitectureInput, ctx: ToolContext) -> ArchitectureOutput:
    from mlops_engineer.engines.review.architecture_contracts import parse_ini, render_ini

    graph, out = common.load(inp, ctx)
    folder = common.out_dir(inp, graph, ctx) / "contracts"
    to_write: dict[Path, str] = {}
    if op.config is not None:
        config = ctx.workspace.resolve(op.config, must_exist=True)
        root, contracts = parse_ini(config.read_text("utf-8"))
        if root != graph.codebase.name:
            raise ToolError("invalid_input", f"{op.config} is for root_package '{root}', not '{graph.codebase.name}'.", "Check the package the configuration names.")
        if not contracts:
            raise ToolError("invalid_input", f"{op.config} holds no contract.", "Add [importlinter:contract:<id>] sections.")
    else:
        contracts, config = list(op.contracts), folder / "contracts.ini"
        to_write[config] = render_ini(graph.codebase.name, contracts)
    out.lint_imports_command = common.lint_command(config, graph, ctx)
    if inp.dry_run:
        out.contracts = common.contract_rows(common.check_contracts(graph, contracts, ctx))
        out.files = [ctx.workspace.relative(p) for p in to_write]
        out.planned_calls = [out.lint_imports_command]
        return out
    return _check_and_record(graph, contracts, config, to_write, inp, ctx, out)


def _check_and_record(graph: ImportGraph, contracts: list[Contract], config: Path, to_write: dict[Path, str],
                      inp: ArchitectureInput, ctx: ToolContext, out: ArchitectureOutput) -> ArchitectureOutput:
    from mlops_engineer.engines.review import findings
    from mlops_engineer.engines.review.architecture_report import contracts_table
    from mlops_engineer.engines.review.architecture_review import contract_findings

    results = common.check_contracts(graph, contracts, ctx)
    _write(ctx, to_write, out, False, inp.confirm)  # lint-imports reads the configuration from disk
    out.contracts = common.compare_with_lint_imports(graph, config, results, ctx)
    found = contract_findings(graph, results, out.lint_imports_command or "")
    folder = common.out_dir(inp, graph, ctx) / "contracts"
    table = contracts_table(out.contracts)
    report = findings.render_report(found, f"Import contracts: {graph.codebase.name}", {"Checked against lint-imports": table, "Configuration": f"`{ctx.workspace.relative(config)}`, run with `{out.lint_imports_command}`."})
    _write(ctx, {
        folder / "findings.json": findings.findings_json(found),
        folder / "findings.csv": findings.findings_csv(found),
        folder / "contracts.csv": common.contracts_csv(graph, results),
        folder / "report.md": report,
    }, out, False)
    out.findings, out.by_severity = _shown(found)
    out.findings_total = len(found)
    out.planned_calls = [f"check {len(contracts)} contract(s) with grimp", out.lint_imports_command or ""]
    disagree = [r.name for r in out.contracts if r.agrees is False]
    out.next_steps = [f"Disagreement with lint-imports on: {', '.join(disagree)}; see `missing`."] if disagree else [
        f"Our check holds everything lint-imports reports on {len(out.contracts)} contract(s); fix the broken pairs listed in {folder.name}/contracts.csv."
    ]
    return out
