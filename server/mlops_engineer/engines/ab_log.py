"""Read an assignment log (the router's JSONL, or any CSV/JSONL with the same columns).

One row per model call. The columns the analysis needs are `variant` and the
metric; `unit_id` identifies the unit; `latency_ms` and `error` feed the
guardrails; `ts` (or the file order) is the arrival order the sequential test
follows. Router logs also carry `assigned` (the variant the hash picked) and
`served`: the metric is read from the assigned variant's call only, so shadow
calls and fallbacks never count as traffic.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError

MAX_ROWS = 5_000_000


@dataclass
class LogRows:
    rows: list[dict[str, Any]]
    columns: set[str]


def read_table(path: Path, label: str) -> LogRows:
    """Rows of a .jsonl/.json-lines or .csv file."""
    rows: list[dict[str, Any]] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            for row in reader:
                rows.append({k: (None if v == "" else v) for k, v in row.items()})
    else:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(lines) > MAX_ROWS:
            raise ToolError("invalid_input", f"{label} has more than {MAX_ROWS} rows.", "Analyse a time window.")
        try:  # one parse of the whole file is several times faster than one per line
            rows = json.loads("[" + ",".join(lines) + "]")
        except ValueError:
            rows = [_parse_line(line, number, label) for number, line in enumerate(lines, 1)]
        bad = next((i for i, r in enumerate(rows, 1) if not isinstance(r, dict)), None)
        if bad is not None:
            raise ToolError("invalid_input", f"{label} line {bad} is not a JSON object.", "Each line of a JSONL log is one JSON object.")
        columns = set()
        for row in rows:
            columns.update(row)
    return LogRows(rows, columns)


def _parse_line(line: str, number: int, label: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise ToolError("invalid_input", f"{label} line {number} is not JSON: {exc}.",
                        "Each line of a JSONL log is one JSON object.") from exc


def column(rows: list[dict[str, Any]], name: str, label: str) -> Any:
    """A numeric column as a float array, NaN where the row has no value."""
    import numpy as np

    raw = [r.get(name) for r in rows]
    try:
        values = np.array([np.nan if v is None else v for v in raw], dtype=float)
    except (TypeError, ValueError):
        values = np.array([np.nan if v is None else number(v, name, label) for v in raw], dtype=float)
    present = np.array([v is not None for v in raw], dtype=bool)
    if not np.all(np.isfinite(values[present])):
        raise ToolError("invalid_input", f"{label}: column '{name}' holds NaN or infinite values.", "Remove those rows.")
    return values


def require_columns(table: LogRows, needed: list[str], label: str) -> None:
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ToolError(
            "invalid_input",
            f"{label} is missing the column(s) {missing}; it has {sorted(table.columns)}.",
            "An assignment log needs unit_id, variant and the metric column (metric_column); "
            "join outcomes with outcomes_path when the metric is recorded elsewhere.",
        )


def number(value: Any, column: str, label: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return float(value.strip().lower() == "true")
    try:
        x = float(value)
    except (TypeError, ValueError) as exc:
        raise ToolError("invalid_input", f"{label}: column '{column}' holds a non-number {value!r}.",
                        "Metric, latency_ms and error columns must be numeric (or true/false).") from exc
    if not math.isfinite(x):
        raise ToolError("invalid_input", f"{label}: column '{column}' holds {value!r}.", "Remove rows with NaN or infinite values.")
    return x


def join_outcomes(table: LogRows, outcomes: LogRows, key: str, metric: str, label: str) -> LogRows:
    """Attach `metric` from an outcomes table to every log row with the same `key`."""
    require_columns(outcomes, [key, metric], label)
    by_key = {str(r[key]): r[metric] for r in outcomes.rows if r.get(key) is not None}
    rows = [{**r, metric: by_key.get(str(r.get(key)))} for r in table.rows]
    return LogRows(rows, table.columns | {metric})
