"""The typed findings of a review, their stable order and ids, and the files they land in.

A finding is not an opinion: it carries its evidence (numbers, a file and line, a command
that reproduces it), a severity and a fix. Reruns on an unchanged project must give
byte-identical files, so ids are digests of what a finding is about (never of a clock or a
random draw), the order is a total sort, and numbers are rounded before they are written.

Severities, lowest to highest: info (context, never a problem), low, medium, high, critical.
A clean project has nothing above info.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from mlops_engineer.workspace import atomic_write_bytes

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
Number = int | float | str | bool | None
# Floats are rounded to this many significant digits, so platform noise in the last bits of
# a statistic never changes a rerun's files.
SIGNIFICANT_DIGITS = 6


class Evidence(BaseModel):
    """What makes a finding true: numbers, where it is, and how to see it again."""

    numbers: dict[str, Number] = Field(default_factory=dict, description="Measured values (counts, rates, scores).")
    file: str | None = Field(default=None, description="Workspace-relative file the finding is about.")
    line: int | None = Field(default=None, description="1-based line in `file`, for code findings.")
    command: str | None = Field(default=None, description="A command that reproduces the evidence.")
    detail: str | None = Field(default=None, description="One line of context (a column, a code excerpt).")


class Finding(BaseModel):
    """One finding of a review."""

    id: str = Field(description="Stable id: `<check>-<digest>`; identical on every rerun of an unchanged project.")
    check: str = Field(description="The check that raised it, e.g. `duplicates.exact`.")
    severity: Severity
    title: str = Field(description="One line saying what is wrong.")
    evidence: Evidence
    fix: str = Field(description="What to do about it.")


def _round(value: Number) -> Number:
    if isinstance(value, float):
        if not math.isfinite(value) or value == 0:
            return value if math.isfinite(value) else str(value)
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


def finding(
    check: str,
    severity: Severity,
    title: str,
    fix: str,
    *,
    numbers: Mapping[str, Number] | None = None,
    file: str | None = None,
    line: int | None = None,
    command: str | None = None,
    detail: str | None = None,
    key: str | None = None,
) -> Finding:
    """Build a finding whose id is a digest of (check, file, line, key or title).

    Pass `key` when the title carries numbers that may change while the finding stays the
    same one (e.g. the column name), so its id survives a data refresh.
    """
    identity = json.dumps([check, file, line, key if key is not None else title])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    evidence = Evidence(
        numbers={k: _round(v) for k, v in (numbers or {}).items()},
        file=file,
        line=line,
        command=command,
        detail=detail,
    )
    return Finding(id=f"{check}-{digest}", check=check, severity=severity, title=title, evidence=evidence, fix=fix)


def severity_rank(severity: Severity) -> int:
    return SEVERITIES.index(severity)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by check, file, line and id: a total, stable order."""
    unique = {f.id: f for f in findings}  # the same finding raised twice counts once
    return sorted(
        unique.values(),
        key=lambda f: (-severity_rank(f.severity), f.check, f.evidence.file or "", f.evidence.line or 0, f.id),
    )


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[f.severity] += 1
    return counts


def worst_severity(findings: Iterable[Finding]) -> Severity | None:
    ranks = [severity_rank(f.severity) for f in findings]
    return SEVERITIES[max(ranks)] if ranks else None


CSV_COLUMNS = ("id", "check", "severity", "title", "file", "line", "numbers", "command", "detail", "fix")


def findings_json(findings: Sequence[Finding]) -> str:
    return json.dumps([f.model_dump(mode="json") for f in sort_findings(findings)], indent=2, sort_keys=True) + "\n"


def findings_csv(findings: Sequence[Finding]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in sort_findings(findings):
        e = f.evidence
        numbers = json.dumps(e.numbers, sort_keys=True) if e.numbers else ""
        writer.writerow([f.id, f.check, f.severity, f.title, e.file or "", e.line or "", numbers, e.command or "", e.detail or "", f.fix])
    return buffer.getvalue()


def write_findings(findings: Sequence[Finding], folder: Path) -> list[Path]:
    """Write `findings.json` and `findings.csv` (the typed table) atomically into `folder`."""
    return [
        atomic_write_bytes(folder / "findings.json", findings_json(findings).encode()),
        atomic_write_bytes(folder / "findings.csv", findings_csv(findings).encode()),
    ]


def _line(text: object) -> str:
    """One Markdown line: no line breaks."""
    return " ".join(str(text).split())


def _cell(text: object) -> str:
    """One Markdown table cell: one line, pipes escaped."""
    return _line(text).replace("|", "\\|")


def render_report(
    findings: Sequence[Finding], title: str, extra_sections: Mapping[str, str] | None = None
) -> str:
    """The Markdown report: a summary by severity, one section per finding, then extra sections."""
    ordered = sort_findings(findings)
    counts = count_by_severity(ordered)
    lines = [f"# {title}", ""]
    lines.append("| severity | findings |")
    lines.append("|---|---|")
    lines += [f"| {s} | {counts[s]} |" for s in reversed(SEVERITIES)]
    lines.append("")
    if not ordered:
        lines += ["No findings.", ""]
    else:
        lines += ["| id | severity | check | title | where |", "|---|---|---|---|---|"]
        for f in ordered:
            where = f.evidence.file or ""
            if f.evidence.line:
                where += f":{f.evidence.line}"
            lines.append(f"| {f.id} | {f.severity} | {f.check} | {_cell(f.title)} | {_cell(where)} |")
        lines.append("")
        for f in ordered:
            lines += [f"## {f.severity.upper()} · {_line(f.title)}", "", f"- id: `{f.id}` (check `{f.check}`)"]
            e = f.evidence
            if e.file:
                lines.append(f"- where: `{e.file}{':' + str(e.line) if e.line else ''}`")
            if e.numbers:
                shown = ", ".join(f"{k} = {v}" for k, v in sorted(e.numbers.items()))
                lines.append(f"- evidence: {_line(shown)}")
            if e.detail:
                lines.append(f"- detail: {_line(e.detail)}")
            if e.command:
                lines.append(f"- reproduce: `` {_line(e.command)} ``")
            lines += [f"- fix: {_line(f.fix)}", ""]
    for heading, body in (extra_sections or {}).items():
        lines += [f"## {heading}", "", body.rstrip(), ""]
    return "\n".join(lines)


def write_report(
    findings: Sequence[Finding], path: Path, title: str, extra_sections: Mapping[str, str] | None = None
) -> Path:
    """Write the Markdown report atomically to `path` (resolve it through the workspace first)."""
    return atomic_write_bytes(path, render_report(findings, title, extra_sections).encode())
