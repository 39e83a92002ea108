"""Read an assignment log (the router's JSONL, or any CSV, JSONL or Parquet file with the same columns).

One row per model call. The columns the analysis needs are `variant` and the
metric; `unit_id` identifies the unit; `latency_ms` and `error` feed the
guardrails; `ts` (or the file order) is the arrival order the sequential test
follows. Router logs also carry `assigned` (the variant the hash picked) and
`served`: the metric is read from the assigned variant's call only, so shadow
calls and fallbacks never count as traffic.

`load_arms` does all of that for the analysis: read (and join) the log, settle the
mode and the expected split (from the router's abtest.json when there is one), and
return per-variant arrays of the metric, arrival order, latency and errors.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    from mlops_engineer.workspace import Workspace

MAX_ROWS = 5_000_000


@dataclass
class LogRows:
    rows: list[dict[str, Any]]
    columns: set[str]


PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: Path, label: str) -> LogRows:
    """Rows of a .csv, .parquet/.pq or JSON-lines file (any other suffix is read as JSON lines)."""
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, label)
    try:
        if suffix == ".csv":
            return _read_csv(path)
        return _read_jsonl(path, label)
    except UnicodeDecodeError as exc:
        raise ToolError("invalid_input", f"{label} is not UTF-8 text ({exc.reason} at byte {exc.start}): "
                        "it is not a CSV or JSON-lines file.",
                        "Give a .jsonl, .csv or .parquet file; a Parquet file needs its .parquet suffix.") from exc


def _read_csv(path: Path) -> LogRows:
    rows: list[dict[str, Any]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        for row in reader:
            rows.append({k: (None if v == "" else v) for k, v in row.items()})
    return LogRows(rows, columns)


def _read_jsonl(path: Path, label: str) -> LogRows:
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
    columns: set[str] = set()
    for row in rows:
        columns.update(row)
    return LogRows(rows, columns)


def _read_parquet(path: Path, label: str) -> LogRows:
    """Rows as plain Python values, like the other formats: nulls and NaN are None, and
    timestamps are unix seconds (the arrival order `ts` is a number in the router's log)."""
    from datetime import datetime

    parquet = import_optional("pyarrow.parquet", "experiments")
    try:
        table = parquet.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for a damaged or non-Parquet file
        raise ToolError("invalid_input", f"{label} could not be read as Parquet ({type(exc).__name__}: {exc}).",
                        "Check that it is a valid Parquet file, or give a .jsonl or .csv log.") from exc
    if table.num_rows > MAX_ROWS:
        raise ToolError("invalid_input", f"{label} has more than {MAX_ROWS} rows.", "Analyse a time window.")

    def plain(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, datetime):
            return value.timestamp()
        return value

    rows = [{k: plain(v) for k, v in row.items()} for row in table.to_pylist()]
    return LogRows(rows, set(table.column_names))


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


@dataclass
class Arms:
    """What the analysis reads from a log: per variant (champion, challenger) arrays."""

    mode: str
    split: dict[str, float]
    next_step: float | None  # canary: the challenger percent of the next step
    metric: dict[str, Any]  # served traffic only
    order: dict[str, Any]
    latency: dict[str, Any]  # None when the log has no latency_ms column
    errors: dict[str, Any]  # None when the log has no error column


def load_arms(workspace: Workspace, *, log_rel: str, config_rel: str | None, outcomes_path: str | None, join_column: str,
              metric_column: str, variants: tuple[str, str], mode: str | None, split: dict[str, float] | None,
              canary_steps: Sequence[float], canary_step: int) -> Arms:
    """Read the log (joining outcomes), check its columns and variants, split it into the two arms."""
    import numpy as np

    from mlops_engineer.engines.abtest.assignment import canary_split, validate_split

    table = read_table(workspace.resolve(log_rel, must_exist=True), log_rel)
    if outcomes_path:
        outcomes = read_table(workspace.resolve(outcomes_path, must_exist=True), outcomes_path)
        require_columns(table, [join_column], log_rel)
        table = join_outcomes(table, outcomes, join_column, metric_column, outcomes_path)
    champion, challenger = variants
    config_path = workspace.resolve(config_rel) if config_rel else None
    config = json.loads(config_path.read_text("utf-8")) if config_path is not None and config_path.exists() else {}
    modes = {r.get("mode") for r in table.rows} - {None}
    mode = mode or (modes.pop() if len(modes) == 1 else config.get("mode", "ab"))
    # Shadow traffic is judged on its guardrails only, so it needs no outcome.
    shadow_without_metric = mode == "shadow" and metric_column not in table.columns
    require_columns(table, ["unit_id", "variant"] + ([] if shadow_without_metric else [metric_column]), log_rel)
    steps = config.get("canary_steps", canary_steps)
    current = config.get("canary_step", canary_step)
    if mode == "canary":
        canary = canary_split(steps, current)
        default_split = {champion: canary["champion"], challenger: canary["challenger"]}
    else:
        default_split = {champion: 100.0, challenger: 0.0} if mode == "shadow" else {champion: 50.0, challenger: 50.0}
    split = split or config.get("weights") or default_split
    validate_split(split)
    unknown = sorted({str(r["variant"]) for r in table.rows} - {champion, challenger})
    if unknown:
        raise ToolError("invalid_input", f"The log has variants {unknown} besides {champion} and {challenger}.",
                        "Name the two variants with `variants` (champion first).")

    # The metric is read from the call the hash assigned; shadow calls and fallbacks are not traffic.
    rows = table.rows
    variant = np.array([str(r["variant"]) for r in rows])
    traffic = np.array([(r.get("assigned") is None or r["assigned"] == r["variant"]) and not r.get("fallback") for r in rows], dtype=bool)
    if shadow_without_metric:
        traffic = np.zeros(len(rows), dtype=bool)
    metric = column(rows, metric_column, log_rel) if not shadow_without_metric else np.full(len(rows), np.nan)
    missing_metric = int(np.sum(traffic & np.isnan(metric)))
    if missing_metric:
        raise ToolError("invalid_input", f"{missing_metric} row(s) of {log_rel} have no value in '{metric_column}'.",
                        "Every served request needs an outcome; drop unmatched rows or fix outcomes_path/join_column.")
    order = column(rows, "ts", log_rel) if "ts" in table.columns else np.arange(len(rows), dtype=float)
    if np.isnan(order).any():
        order = np.arange(len(rows), dtype=float)
    picks = {v: traffic & (variant == v) for v in variants}

    def guard_values(name: str, col: str) -> Any:
        if col not in table.columns:
            return None
        values = column(rows, col, log_rel)[variant == name]
        return values[~np.isnan(values)]

    next_step = None
    if mode == "canary":
        next_step = steps[current + 1] if current + 1 < len(steps) else None
    return Arms(
        mode=mode, split=split, next_step=next_step,
        metric={v: metric[picks[v]] for v in variants}, order={v: order[picks[v]] for v in variants},
        latency={v: guard_values(v, "latency_ms") for v in variants}, errors={v: guard_values(v, "error") for v in variants},
    )
