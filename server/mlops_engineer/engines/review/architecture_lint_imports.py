"""Run `lint-imports` on a configuration and read what it reports, to compare with our check.

lint-imports has no machine-readable output; its text report is parsed: each contract's
KEPT/BROKEN line, each "X is not allowed to import Y:" pair, and every import of every chain
under it (`a -> b (l.3, l.5)`, heads and tails written `& a (l.3)`). The console is made wide
enough that no line wraps.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlops_engineer.errors import ToolError

_STATUS = re.compile(r"^(?P<name>.+) (?P<status>KEPT|BROKEN)$")
_PAIR = re.compile(r"^(?P<importer>\S+) is not allowed to import (?P<imported>\S+):$")
_LINK = re.compile(r"^(?P<lead>-|&)?\s*(?P<importer>[\w.]+)(?: -> (?P<imported>[\w.]+))? \((?P<lines>l\.[^)]*)\)$")
_TIMEOUT_S = 300


@dataclass
class LintContract:
    name: str
    kept: bool
    pairs: set[tuple[str, str]] = field(default_factory=set)
    edges: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    pair_edges: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class LintReport:
    command: list[str]
    returncode: int
    contracts: dict[str, LintContract]
    output: str


def lint_imports_command(config: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("lint-imports")), str(config), "--no-cache", "--no-logo"]


def run_lint_imports(config: Path, source_root: Path, cwd: Path, check_cancelled: Callable[[], None]) -> LintReport:
    """`lint-imports <config>` with `source_root` first on the import path; its report parsed."""
    command = lint_imports_command(config)
    if not Path(command[0]).is_file():
        raise ToolError("missing_dependency", "lint-imports is not installed beside the server's interpreter.", "uv sync --extra review, or pip install 'mlops-engineer[review]'.")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source_root), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "COLUMNS": "100000", "NO_COLOR": "1", "TERM": "dumb"}
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        while True:
            try:
                output, _ = process.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                check_cancelled()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode not in (0, 1) or "Contracts:" not in output:
        raise ToolError("failed", f"lint-imports could not check the contracts (exit {process.returncode}): {output.strip()[-800:]}",
                        "Run the command shown in `reproduce` by hand; a contract naming a missing module is the usual cause.")
    return LintReport(command, process.returncode, parse_report(output), output)


def parse_report(text: str) -> dict[str, LintContract]:
    lines = [line.rstrip() for line in text.splitlines()]
    contracts: dict[str, LintContract] = {}
    for line in lines:
        match = _STATUS.match(line.strip())
        if match and not line.startswith(" "):
            name = match["name"].strip()
            contracts[name] = LintContract(name=name, kept=match["status"] == "KEPT")
    if "Broken contracts" not in text:
        return contracts
    current: LintContract | None = None
    pair: tuple[str, str] | None = None
    heads: list[tuple[str, set[int]]] = []
    last_importer: str | None = None
    body = lines[lines.index("Broken contracts") + 2:] if "Broken contracts" in lines else []
    for index, raw in enumerate(body):
        line = raw.strip()
        underline = index + 1 < len(body) and body[index + 1].strip() and set(body[index + 1].strip()) == {"-"}
        if underline and line in contracts:
            current, pair = contracts[line], None
            continue
        if current is None or not line or set(line) == {"-"}:
            continue
        if match := _PAIR.match(line):
            pair = (match["importer"], match["imported"])
            current.pairs.add(pair)
            current.pair_edges.setdefault(pair, set())
            continue
        match = _LINK.match(line)
        if match is None or pair is None:
            continue
        numbers = {int(n) for n in re.findall(r"l\.(\d+)", match["lines"])}
        if match["lead"] == "-":  # a new chain starts
            heads, last_importer = [], None
        if match["imported"]:
            for head, head_lines in heads:
                _add(current, pair, head, match["imported"], head_lines)
            heads = []
            _add(current, pair, match["importer"], match["imported"], numbers)
            last_importer = match["importer"]
        elif last_importer is not None:  # a tail: `& module (l.N)` after the chain's last import
            _add(current, pair, last_importer, match["importer"], numbers)
        else:  # a head: one of several modules importing the chain's first middle module
            heads.append((match["importer"], numbers))
    return contracts


def _add(contract: LintContract, pair: tuple[str, str], importer: str, imported: str, lines: set[int]) -> None:
    contract.edges.setdefault((importer, imported), set()).update(lines)
    contract.pair_edges[pair].add((importer, imported))


@dataclass
class ContractAgreement:
    name: str
    ours_kept: bool
    lint_kept: bool | None  # None: lint-imports did not report this contract
    lint_pairs: int
    pairs_found: int  # of lint-imports' pairs, how many we report too
    lint_imports: int
    imports_found: int  # of lint-imports' (importer, imported, lines), how many we report too
    extra_pairs: list[str]
    missing: list[str]  # what lint-imports reports and we do not (must stay empty)

    @property
    def agrees(self) -> bool:
        return self.lint_kept == self.ours_kept and not self.missing


def compare(ours: list, report: LintReport) -> list[ContractAgreement]:
    """For each of our `ContractResult`s: does it hold every pair and import lint-imports reports?"""
    rows = []
    for result in ours:
        lint = report.contracts.get(result.name)
        our_pairs = {(v.importer, v.imported): v for v in result.violations}
        missing: list[str] = []
        pairs_found = imports_found = total_imports = 0
        if lint is not None:
            for pair in sorted(lint.pairs):
                violation = our_pairs.get(pair)
                pairs_found += violation is not None
                if violation is None:
                    missing.append(f"{pair[0]} -> {pair[1]} (pair)")
                for edge in sorted(lint.pair_edges.get(pair, ())):
                    total_imports += 1
                    ours_lines = set(violation.edges.get(edge, [])) if violation else set()
                    if violation is not None and edge in violation.edges and lint.edges[edge] <= ours_lines | set():
                        imports_found += 1
                    else:
                        missing.append(f"{edge[0]} -> {edge[1]} (l.{', l.'.join(map(str, sorted(lint.edges[edge])))})")
        extra = sorted(f"{a} -> {b}" for a, b in our_pairs if lint is None or (a, b) not in lint.pairs)
        rows.append(ContractAgreement(
            name=result.name, ours_kept=result.kept, lint_kept=None if lint is None else lint.kept,
            lint_pairs=len(lint.pairs) if lint else 0, pairs_found=pairs_found,
            lint_imports=total_imports, imports_found=imports_found, extra_pairs=extra, missing=missing,
        ))
    return rows
