"""The Markdown sections of an architecture review beside the findings: the layers as a
Mermaid diagram, the coupling tables, the test reach and the contract check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_engineer.engines.review.architecture_review import Review

MAX_DIAGRAM_EDGES = 150  # the heaviest package imports; every layer violation is drawn besides


def mermaid_layers(review: Review) -> str:
    layering = review.layering
    ids = {child: f"n{i}" for i, child in enumerate(c for layer in layering.layers for c in layer)}
    lines = ["```mermaid", "flowchart TB"]
    top = len(layering.layers) - 1
    for index, layer in enumerate(layering.layers):
        lines.append(f'  subgraph L{top - index}["layer {top - index}"]')
        lines += [f'    {ids[c]}["{c.rsplit(".", 1)[-1]}"]' for c in layer]
        lines.append("  end")
    violations = {(v.importer_child, v.imported_child) for v in layering.violations}
    ordinary = sorted((e for e in layering.package_edges.items() if e[0] not in violations), key=lambda e: (-e[1], e[0]))
    for (a, b), count in sorted(ordinary[:MAX_DIAGRAM_EDGES]):
        lines.append(f"  {ids[a]} -->|{count}| {ids[b]}")
    for a, b in sorted(violations):
        lines.append(f'  {ids[a]} -. "violation" .-> {ids[b]}')
    if violations:
        lines.append("  linkStyle " + ",".join(str(i) for i in range(min(len(ordinary), MAX_DIAGRAM_EDGES), min(len(ordinary), MAX_DIAGRAM_EDGES) + len(violations))) + " stroke:#d33")
    lines.append("```")
    shown = min(len(ordinary), MAX_DIAGRAM_EDGES)
    note = (f"Arrows point from importer to imported, labelled with the number of module imports; "
            f"{shown} of {len(ordinary)} package imports drawn (the heaviest), and every upward import (dashed, red).")
    table = ["| layer | packages |", "|---|---|"]
    table += [f"| {top - i} | {', '.join(f'`{c}`' for c in layer)} |" for i, layer in enumerate(layering.layers)]
    return "\n".join([note, "", *lines, "", *table])


def coupling_tables(review: Review, top: int = 10) -> str:
    rows = review.metrics
    out = []
    for title, key in (("Largest (lines)", "lines"), ("Most imported (fan-in)", "fan_in"), ("Most importing (fan-out)", "fan_out")):
        ranked = sorted(rows, key=lambda r: (-getattr(r, key), r.module))[:top]
        out += [f"**{title}**", "", "| module | lines | fan-in | fan-out | external packages |", "|---|---|---|---|---|"]
        out += [f"| `{r.module}` | {r.lines} | {r.fan_in} | {r.fan_out} | {r.external_imports} |" for r in ranked]
        out.append("")
    return "\n".join(out)


def test_reach(review: Review) -> str:
    if not review.test_files:
        return "No test files found: test reach not measured."
    total = len(review.untested) + len([m for m in review.graph.modules if m not in review.untested])
    return (f"{review.test_files} test files in {', '.join(f'`{d}`' for d in review.test_dirs)}; "
            f"{len(review.untested)} of {total} modules are imported by no test, directly or through other modules "
            "(a module that tests only run in a child process, such as a CLI, counts as not reached).")


def contracts_table(rows: Sequence[Any]) -> str:
    """Our verdict beside lint-imports' for each contract (the tool's contract rows)."""
    out = ["| contract | ours | lint-imports | of lint-imports' report, found by us | agrees |", "|---|---|---|---|---|"]
    for r in rows:
        lint = "not run" if r.lint_imports_kept is None else ("kept" if r.lint_imports_kept else "broken")
        out.append(f"| {r.name} | {'kept' if r.kept else 'broken'} | {lint} | {r.found_of_lint_imports} | {'yes' if r.agrees else 'NO'} |")
    return "\n".join(out)


def sections(review: Review, command: str | None = None) -> dict[str, str]:
    """The report's sections after the findings; `command` is the call that reproduces the report."""
    graph = review.graph
    summary = (f"`{graph.codebase.name}`: {len(graph.modules)} modules, {sum(len(v) for v in graph.imports.values())} internal imports, "
               f"{len(review.layering.layers)} inferred layers, {len(review.breakers)} import(s) closing cycles.")
    if command:
        summary += f"\n\nReproduce: `` {command} ``"
    out = {"Package": summary, "Layers (inferred)": mermaid_layers(review), "Size and coupling": coupling_tables(review), "Test reach": test_reach(review)}
    return out
