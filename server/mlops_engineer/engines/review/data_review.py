"""A data review: load a table or a train/test pair (CSV, Parquet, or a DVC pointer to one) and
run every data check on it, in a fixed order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.review import data_quality as dq
from mlops_engineer.engines.review import leakage, overlap, split_drift
from mlops_engineer.engines.review.findings import Finding, finding
from mlops_engineer.errors import ToolError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_engineer.workspace import Workspace

Progress = Callable[[int, int, str], None]
DATA_CHECKS = ("duplicates", "missing", "labels", "columns", "leakage", "overlap", "drift", "contract")


@dataclass
class Loaded:
    frame: pd.DataFrame
    ref: dq.TableRef


def data_file(workspace: Workspace, given: str) -> Path:
    """The data file behind `given`; a `.dvc` pointer names its output, which must be checked out."""
    path = workspace.resolve(given, must_exist=True)
    if path.suffix == ".dvc":
        import yaml

        outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or []
        if not outs or "path" not in outs[0]:
            raise ToolError("invalid_input", f"{given} is not a DVC pointer with an output.", "Pass the data file itself.")
        target = workspace.resolve(path.parent / outs[0]["path"])
        if not target.is_file():
            raise ToolError("not_found", f"{given} points at {workspace.relative(target)}, which is not checked out.",
                            "Run `dvc pull` (or `dvc checkout`) first, then review again.")
        path = target
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ToolError("invalid_input", f"{given}: only CSV and Parquet files are reviewed.", "Convert the table, or pass its .dvc pointer.")
    return path


def load(workspace: Workspace, given: str, label: str) -> Loaded:
    import pandas as pd

    path = data_file(workspace, given)
    reader = "csv" if path.suffix.lower() == ".csv" else "parquet"
    try:
        frame = pd.read_csv(path, low_memory=False) if reader == "csv" else pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ToolError("invalid_input", f"{given} could not be read as {reader}: {exc}", "Check the file's format.") from exc
    return Loaded(frame, dq.TableRef(label, workspace.relative(path), reader))


def check_roles(tables: list[Loaded], roles: dq.Roles) -> None:
    for name, column in (("target", roles.target), ("group_key", roles.group), ("time_column", roles.time)):
        if column and all(column not in t.frame.columns for t in tables):
            cols = list(tables[0].frame.columns)[:30]
            raise ToolError("invalid_input", f"{name} '{column}' is not a column of the data.", f"Columns: {cols}.")


# pandera's import sets these for pyspark in the whole process's environment; PYARROW_IGNORE_TIMEZONE=1
# would make pyarrow drop the zone of every aware datetime the server converts afterwards.
_PANDERA_ENV = ("PYARROW_IGNORE_TIMEZONE", "SPARK_LOCAL_IP")


def import_pandera() -> Any:
    """`pandera.pandas`, with the process environment left as it was before the import."""
    from mlops_engineer.optional import import_optional

    saved = {name: os.environ.get(name) for name in _PANDERA_ENV}
    try:
        return import_optional("pandera.pandas", "review")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def contract(workspace: Workspace, given: str, tables: list[Loaded]) -> list[Finding]:
    """Validate each table against a declared pandera schema (YAML), lazily: every failure counted."""
    pa = import_pandera()
    path = workspace.resolve(given, must_exist=True)
    try:
        schema = pa.DataFrameSchema.from_yaml(path.read_text())
    except Exception as exc:  # pandera raises several types for a bad schema file
        raise ToolError("invalid_input", f"{given} is not a pandera YAML schema: {exc}",
                        "Write it with `schema.to_yaml()` from a pandera DataFrameSchema.") from exc
    found = []
    for table in tables:
        try:
            schema.validate(table.frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
            by_check = cases.groupby(["column", "check"], dropna=False).size().sort_index()
            for (column, check), count in by_check.items():
                found.append(finding(
                    "contract.violation", "high", f"{table.ref.label}: {count} failures of {check} on {column}",
                    f"Fix the data feeding {table.ref.file}, or change the contract {given} if the rule is wrong.",
                    numbers={"failures": int(count), "rows": len(table.frame)}, file=table.ref.file,
                    detail=f"contract {workspace.relative(path)}; column {column}; check {check}",
                    command=f"python -c \"import pandas as pd, pandera.pandas as pa; pa.DataFrameSchema.from_yaml(open({workspace.relative(path)!r}).read())"
                            f".validate(pd.read_{table.ref.reader}({table.ref.file!r}), lazy=True)\"",
                    key=f"{table.ref.label}:{column}:{check}",
                ))
    return found


def review_tables(tables: list[Loaded], roles: dq.Roles, progress: Progress) -> tuple[list[Finding], list[str]]:
    """Run every data check; returns the findings and notes on how they were computed."""
    found: list[Finding] = []
    notes: list[str] = []
    steps = 5 * len(tables) + (3 if len(tables) == 2 else 0)
    done = 0

    def step(message: str) -> None:
        nonlocal done
        done += 1
        progress(done, steps, message)

    skip: set[str] = set()
    for table in tables:
        found += dq.duplicates(table.frame, table.ref)
        step(f"duplicates in {table.ref.label}")
        found += dq.missingness(table.frame, table.ref, roles)
        step(f"missing values in {table.ref.label}")
        found += dq.labels(table.frame, table.ref, roles)
        step(f"labels in {table.ref.label}")
        column_findings = dq.columns(table.frame, table.ref, roles)
        skip |= {f.evidence.detail.removeprefix("column ") for f in column_findings if f.evidence.detail}
        found += column_findings
        step(f"columns of {table.ref.label}")
        if table.ref.label in ("data", "train"):
            found += leakage.revealing_names(table.frame, table.ref, roles)
            found += leakage.single_feature_leaks(table.frame, table.ref, roles)
            if roles.target and len(table.frame) > leakage.SAMPLE_ROWS:
                notes.append(f"single-feature leakage scored on a deterministic sample of {leakage.SAMPLE_ROWS} "
                             f"of {len(table.frame)} rows (seed {leakage.SEED}), {leakage.FOLDS}-fold")
        step(f"leakage in {table.ref.label}")
    if len(tables) == 2:
        train, test = tables
        found += overlap.overlaps(train.frame, test.frame, (train.ref, test.ref), roles)
        step("train/test overlap")
        # ID-like and constant columns would drift trivially; the drift engine compares the features.
        found += split_drift.split_drift(train.frame, test.frame, (train.ref, test.ref), roles, skip)
        step("drift between the splits")
        summary = {"train_rows": len(train.frame), "test_rows": len(test.frame),
                   "test_share": len(test.frame) / max(1, len(train.frame) + len(test.frame))}
        found.append(finding("split.summary", "info", f"train {len(train.frame)} rows, test {len(test.frame)} rows",
                             "Nothing to do.", numbers=summary, file=test.ref.file, key="split"))
        step("split summary")
    return found, notes
