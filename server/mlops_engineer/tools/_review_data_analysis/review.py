"""Run one review action: validate every input, run the checks, write the findings and report."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext

if TYPE_CHECKING:
    from mlops_engineer.engines.review.data_review import Loaded
    from mlops_engineer.engines.review.findings import Finding
    from mlops_engineer.tools.review_data_analysis import ReviewInput, ReviewOutput, _DataFields

CODE_SUFFIXES = (".py", ".ipynb")
SHOWN_FILES = 50


def _code_files(ctx: ToolContext, paths: list[str]) -> list[Path]:
    from mlops_engineer.engines.review.repro import walk

    found: list[Path] = []
    for given in paths:
        path = ctx.workspace.resolve(given, must_exist=True)
        if path.is_dir():
            found += walk(path, CODE_SUFFIXES)
        elif path.suffix in CODE_SUFFIXES:
            found.append(path)
        else:
            raise ToolError("invalid_input", f"{given} is not a Python script, a notebook or a folder.",
                            "List .py / .ipynb files or folders in `paths`.")
    return sorted(set(found))


def _data_inputs(op: _DataFields, ctx: ToolContext) -> list[tuple[str, str]]:
    """(label, given path) of each table, each resolved now so a typo fails before any work."""
    from mlops_engineer.engines.review.data_review import data_file

    tables = [("data", op.data)] if op.data else [("train", op.train), ("test", op.test)] if op.train else []
    for _, given in tables:
        data_file(ctx.workspace, given)  # type: ignore[arg-type]
    if op.contract:
        ctx.workspace.resolve(op.contract, must_exist=True)
    return tables  # type: ignore[return-value]


def _review_data(op: _DataFields, ctx: ToolContext, tables: list[tuple[str, str]], notes: list[str]) -> tuple[list[Finding], list[str]]:
    from mlops_engineer.engines.review import data_quality as dq
    from mlops_engineer.engines.review import data_review as dr
    from mlops_engineer.optional import import_optional

    import_optional("pandas", "review")
    import_optional("scipy", "review")
    loaded: list[Loaded] = [dr.load(ctx.workspace, given, label) for label, given in tables]
    roles = dq.Roles(target=op.target, group=op.group_key, time=op.time_column, ignore=list(op.ignore))
    dr.check_roles(loaded, roles)
    found, data_notes = dr.review_tables(loaded, roles, ctx.progress)
    notes += data_notes
    if op.contract:
        found += dr.contract(ctx.workspace, op.contract, loaded)
    return found, [t.ref.file for t in loaded]


def _review_code(ctx: ToolContext, files: list[Path], notes: list[str]) -> tuple[list[Finding], list[tuple[str, str]]]:
    from mlops_engineer.engines.review.code_leakage import review_source
    from mlops_engineer.engines.review.code_source import load_source

    found: list[Finding] = []
    texts: list[tuple[str, str]] = []
    for i, path in enumerate(files):
        ctx.progress(i, len(files), f"code {path.name}")
        relative = ctx.workspace.relative(path)
        source = load_source(path, relative)
        if source is None:
            notes.append(f"{relative}: not valid Python, skipped")
            continue
        texts.append((relative, source.text))
        found += review_source(source)
    return found, texts


def _plan(op: object, tables: list[tuple[str, str]], files: list[Path]) -> list[str]:
    from mlops_engineer.engines.review.data_review import DATA_CHECKS

    plan = []
    if tables:
        plan.append(f"data checks ({', '.join(DATA_CHECKS)}) on {', '.join(g for _, g in tables)}")
    if files:
        plan.append(f"static code checks (leakage, seeds, absolute paths) on {len(files)} files")
    if getattr(op, "action", "") == "project":
        plan.append("reproducibility checks: dependencies locked, data versioned with DVC, runs tracked with MLflow")
    return plan


def _method(op: object, tables: list[tuple[str, str]], reviewed: list[str], notes: list[str]) -> str:
    """The report's closing section: what was reviewed and how (deterministic: no clock, no absolute path)."""
    lines = [f"- action: `{getattr(op, 'action', '')}`"]
    for field in ("target", "group_key", "time_column", "contract"):
        value = getattr(op, field, None)
        if value:
            lines.append(f"- {field}: `{value}`")
    if getattr(op, "ignore", None):
        lines.append(f"- ignored columns: {', '.join(getattr(op, 'ignore'))}")
    lines.append(f"- files reviewed ({len(reviewed)}): " + ", ".join(f"`{r}`" for r in reviewed[:SHOWN_FILES]))
    lines += [f"- {n}" for n in notes]
    lines.append("- severities: info < low < medium < high < critical; a clean project has nothing above info.")
    return "\n".join(lines)


def review(inp: ReviewInput, ctx: ToolContext) -> ReviewOutput:
    from mlops_engineer.engines.review import findings as fm
    from mlops_engineer.engines.review import repro
    from mlops_engineer.output import preview_table
    from mlops_engineer.tools.review_data_analysis import REVIEWS_DIR, ReviewOutput

    op = inp.operation
    out = ReviewOutput(action=op.action, name=op.name, dry_run=inp.dry_run)
    # Validate everything before the first check runs.
    tables = _data_inputs(op, ctx) if op.action != "code" else []  # type: ignore[arg-type]
    files = _code_files(ctx, op.paths) if op.action != "data" else []  # type: ignore[union-attr]
    if op.action == "code" and not files:
        raise ToolError("not_found", f"No .py or .ipynb files under {op.paths}.", "Point `paths` at the training code.")
    folder = f"{REVIEWS_DIR}/{op.name}"
    out.planned_calls = _plan(op, tables, files)
    out.files = [f"{folder}/report.md", f"{folder}/findings.json", f"{folder}/findings.csv"]
    if inp.dry_run:
        return out

    found: list[fm.Finding] = []
    notes: list[str] = []
    reviewed: list[str] = []
    if tables:
        data_found, data_files = _review_data(op, ctx, tables, notes)  # type: ignore[arg-type]
        found += data_found
        reviewed += data_files
    texts: list[tuple[str, str]] = []
    if files:
        code_found, texts = _review_code(ctx, files, notes)
        found += code_found
        reviewed += [ctx.workspace.relative(f) for f in files]
    if op.action == "project":
        root = ctx.workspace.root
        found += repro.dependencies(root) + repro.data_versioning(root) + repro.run_tracking(root, texts)

    # Every finding can be reproduced: those without a narrower command get this very call.
    rerun = "mlops-engineer call review_data_analysis --input " + shlex.quote(
        json.dumps({"operation": op.model_dump(mode="json", exclude_defaults=True) | {"action": op.action}}, sort_keys=True))
    for f in found:
        f.evidence.command = f.evidence.command or rerun
    ordered = fm.sort_findings(found)
    target = ctx.workspace.resolve(folder)
    fm.write_findings(ordered, target)
    fm.write_report(ordered, target / "report.md", f"Review: {op.name} ({op.action})",
                    {"How this review was made": _method(op, tables, reviewed, notes)})
    out.counts = fm.count_by_severity(ordered)
    out.worst = fm.worst_severity(ordered)
    rows = [{"id": f.id, "severity": f.severity, "check": f.check, "title": f.title,
             "where": (f.evidence.file or "") + (f":{f.evidence.line}" if f.evidence.line else "")} for f in ordered]
    out.findings = preview_table(ctx.workspace, f"review-{op.name}", rows)
    out.reviewed = reviewed[:SHOWN_FILES]
    out.notes = notes
    return out
