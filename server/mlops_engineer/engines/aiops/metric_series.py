"""Operational metric series shared by the AIOps tools: where a series comes from (a
CSV/Parquet file or a PromQL range query) and how it is turned into a regular pandas
Series.

The regularisation policy, applied in this order and counted in `SeriesReport`:

1. Timestamps that do not parse, or values that are not numbers, are an error that
   quotes the first offending rows (never silently dropped: a dropped row is a
   wrong number later).
2. Duplicate timestamps: `mean` (default) averages them, `last` keeps the last,
   `error` refuses.
3. The grid (`frequency.infer`): a calendar frequency when every timestamp sits on one
   (month start or end, quarter, year, business day), else the median spacing. On a
   fixed step, points off the grid move to the nearest grid point (`snapped`) and
   distinct timestamps that land on the same one are averaged (`merged_in_step`).
4. Missing grid points and NaN values are gaps. In timestamps written without a zone,
   the hour a daylight-saving change skips is no gap (`clock_changes`); it is filled
   like one. Gaps of at most `max_gap` points are linearly interpolated; a longer gap
   is an error, unless `long_gaps` is `fill`: then it is bridged linearly to keep the
   grid, and its points are marked (`bridged`) so the anomaly detector never scores them.
5. Empty and all-NaN series are errors. A constant series is regular; the forecaster
   refuses it (`check_varies`: no forecast error is defined), the detector finds nothing in it.

pandas is imported inside the functions: this module is imported when the tool's
input model is built, before any SDK may be loaded.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel
from mlops_engineer.engines.aiops.frequency import Frequency
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops_engineer.workspace import Workspace

EXTRA = "forecasting"
MAX_SERIES = 20
MAX_POINTS = 200_000


class FileSource(StrictModel):
    kind: Literal["file"]
    path: str = Field(description="CSV or Parquet file in the workspace.")
    timestamp_column: str = Field(default="timestamp", description="ISO 8601 datetimes or unix seconds.")
    value_column: str = Field(default="value", description="The metric's numeric column.")
    name: str | None = Field(default=None, description="Series name in outputs; the file stem when omitted.")


class PromQLSource(StrictModel):
    kind: Literal["promql"]
    url: str = Field(pattern=r"^https?://", description="Prometheus base URL, e.g. http://prometheus:9090.")
    query: str = Field(min_length=1, description="PromQL expression returning an instant vector, e.g. rate(http_requests_total[5m]).")
    start: datetime | None = Field(default=None, description="Range start (ISO 8601 or unix seconds; UTC if no zone); `end - days` when omitted.")
    end: datetime | None = Field(default=None, description="Range end; now (rounded down to the step) when omitted.")
    days: float = Field(default=60, gt=0, le=3650, description="Range length when `start` is omitted (60: a 30-day baseline and 30 days to score).")
    step_seconds: int = Field(default=3600, ge=1, description="Query resolution in seconds.")
    name: str | None = Field(default=None, description="Series name prefix in outputs; the labels when omitted.")


Source = Annotated[FileSource | PromQLSource, Field(discriminator="kind")]


class Cleaning(StrictModel):
    """What to do with duplicate timestamps and gaps (see the module docstring for the order)."""

    duplicates: Literal["mean", "last", "error"] = Field(default="mean", description="Several values at one timestamp.")
    gaps: Literal["interpolate", "error"] = Field(default="interpolate", description="Missing points on the regular grid.")
    max_gap: int = Field(default=6, ge=0, description="Longest run of missing points that is interpolated.")
    long_gaps: Literal["error", "fill"] = Field(default="error", description="A gap longer than max_gap: error refuses it; fill bridges it linearly (anomaly detection never scores bridged points).")


class SeriesReport(BaseModel):
    """How a series was read and regularised."""

    name: str
    points: int = Field(description="Points on the regular grid after cleaning.")
    start: str
    end: str
    step_seconds: float = Field(description="Median spacing of the timestamps.")
    frequency: str = Field(default="", description="The grid: a pandas calendar alias (MS, ME, QS-JAN, YE-DEC, B) or the fixed step ('3600s').")
    duplicates_merged: int = Field(default=0, description="Repeated timestamps merged by the duplicates policy.")
    merged_in_step: int = Field(default=0, description="Distinct timestamps averaged because they fell on the same grid point.")
    snapped: int = Field(default=0, description="Points moved to the nearest grid point.")
    gaps_filled: int = Field(default=0, description="Missing points that were interpolated (clock changes included).")
    clock_changes: int = Field(default=0, description="Daylight-saving hours skipped by zone-less timestamps: filled, not counted as gaps.")
    gaps_bridged: int = Field(default=0, description="Points of gaps longer than max_gap bridged by long_gaps=fill.")
    seasonal_period: int = Field(default=1, description="Points per season used (1 = none).")
    seasonal_periods: list[int] = Field(default_factory=list, description="Every seasonal period found, strongest first.")
    seasonality_inferred: bool = True


@dataclass
class MetricSeries:
    name: str
    values: pd.Series  # float, DatetimeIndex (UTC) on `frequency`'s grid
    report: SeriesReport
    labels: dict[str, str] = field(default_factory=dict)
    frequency: Frequency | None = None
    filled: np.ndarray | None = None  # bool per point: interpolated (no observed value); None when none was
    bridged: np.ndarray | None = None  # bool per point: inside a long gap, filled only to keep the grid


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80] or "series"


# ---------------------------------------------------------------- loading


def load(sources: list[FileSource | PromQLSource], workspace: Workspace, cleaning: Cleaning) -> list[MetricSeries]:
    """Every series the sources name, regular and checked, in source order."""
    from mlops_engineer.engines.aiops.regular_grid import regularise

    out: list[MetricSeries] = []
    for source in sources:
        raw = _read_file(source, workspace) if isinstance(source, FileSource) else _read_promql(source)
        for name, labels, series, local_clock in raw:
            out.append(regularise(name, series, cleaning, labels, local_clock=local_clock))
    if len(out) > MAX_SERIES:
        raise ToolError("invalid_input", f"the sources hold {len(out)} series; at most {MAX_SERIES} per call",
                        "Narrow the PromQL query (add label matchers) or split the call.")
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ToolError("invalid_input", f"two series share a name: {names}", "Give each source a distinct `name`.")
    return out


def _read_file(source: FileSource, workspace: Workspace) -> list[tuple[str, dict[str, str], pd.Series, bool]]:
    pd = import_optional("pandas", EXTRA)
    path = workspace.resolve(source.path, must_exist=True)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt", ".tsv"):
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
        else:
            raise ToolError("invalid_input", f"{source.path}: unsupported file type '{suffix}'", "Use a .csv or .parquet file.")
    except ToolError:
        raise
    except Exception as exc:
        raise ToolError("invalid_input", f"{source.path} could not be read: {exc}", "Check that it is a valid CSV/Parquet file.") from exc
    series, local_clock = from_frame(frame, source.timestamp_column, source.value_column, source.path)
    return [(source.name or path.stem, {}, series, local_clock)]


def from_frame(frame: pd.DataFrame, timestamp_column: str, value_column: str, where: str) -> tuple[pd.Series, bool]:
    """The raw series of a table (UTC index) and whether its timestamps had no zone (a local clock)."""
    pd = import_optional("pandas", EXTRA)
    missing = [c for c in (timestamp_column, value_column) if c not in frame.columns]
    if missing:
        raise ToolError("invalid_input", f"{where} has no column {missing}; it has {list(frame.columns)[:20]}",
                        "Set timestamp_column and value_column to the right names.")
    index, local_clock = _parse_timestamps(frame[timestamp_column], where)
    values = _parse_values(frame[value_column], where)
    return pd.Series(values.to_numpy(), index=index), local_clock


# A time of day followed by a zone: Z, UTC, GMT or an offset (+01:00, -0500, +01).
_ZONE_SUFFIX = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"


def _parse_timestamps(column: pd.Series, where: str) -> tuple[pd.DatetimeIndex, bool]:
    """UTC timestamps, and True when they were written without a zone (read as UTC, but
    possibly a local clock with daylight-saving jumps)."""
    pd = import_optional("pandas", EXTRA)
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return pd.DatetimeIndex(column.dt.tz_convert("UTC")), False
    text = column.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    local_clock = False
    if len(text) and numeric.notna().all():
        try:
            parsed = pd.to_datetime(numeric, unit="s", utc=True)
        except (OverflowError, ValueError, FloatingPointError) as exc:  # 1e300, inf, year 300000
            raise ToolError("invalid_input", f"{where}: unix seconds out of range ({exc})",
                            "Use unix seconds between 1677 and 2262, or ISO 8601 timestamps.") from None
    else:
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
        local_clock = not bool(text.str.contains(_ZONE_SUFFIX, case=False, regex=True).any())
    bad = parsed.isna()
    if bad.any():
        rows = list(column[bad].index[:5])
        raise ToolError("invalid_input", f"{where}: {int(bad.sum())} timestamp(s) do not parse, e.g. rows {rows}: "
                        f"{list(column[bad].astype(str)[:3])}", "Use ISO 8601 (2026-01-31T12:00:00Z) or unix seconds.")
    return pd.DatetimeIndex(parsed), local_clock


def _parse_values(column: pd.Series, where: str) -> pd.Series:
    pd = import_optional("pandas", EXTRA)
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    text = column.astype(str).str.strip()
    values = pd.to_numeric(text, errors="coerce")
    blank = text.str.lower().isin(["", "nan", "na", "null", "none"])
    bad = values.isna() & ~blank
    if bad.any():
        rows = list(column[bad].index[:5])
        raise ToolError("invalid_input", f"{where}: {int(bad.sum())} value(s) are not numbers, e.g. rows {rows}: "
                        f"{list(text[bad][:3])}", "Clean the column; empty cells and NaN count as gaps.")
    return values.astype(float)


def _read_promql(source: PromQLSource) -> list[tuple[str, dict[str, str], pd.Series, bool]]:
    from mlops_engineer.engines import prometheus

    pd = import_optional("pandas", EXTRA)
    step = source.step_seconds
    end = _unix(source.end) if source.end else math.floor(datetime.now(UTC).timestamp() / step) * step
    start = _unix(source.start) if source.start else end - source.days * 86400
    result = prometheus.query_range(source.url, source.query, start, end, step)
    if not result:
        raise ToolError("not_found", f"the query {source.query!r} matched no series between "
                        f"{_iso(start)} and {_iso(end)}", "Check the metric name and labels in the Prometheus UI.")
    out = []
    for item in result:
        labels = {k: v for k, v in item.labels.items()}
        shown = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
        base = source.name or labels.get("__name__") or "promql"
        name = f"{base}{{{shown}}}" if shown and (len(result) > 1 or not source.name) else base
        index = pd.to_datetime(pd.Series(item.timestamps, dtype=float), unit="s", utc=True)
        out.append((name, labels, pd.Series(item.values, index=pd.DatetimeIndex(index), dtype=float), False))
    return out


def _unix(moment: datetime) -> float:
    """Seconds since the epoch; a datetime without a zone is UTC (never the server's local time)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def stamp(ts: object) -> str:
    """ISO 8601 with a Z for UTC."""
    return ts.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]


def single_threaded() -> contextlib.AbstractContextManager[object]:
    """BLAS limited to one thread: these models multiply small matrices, where OpenBLAS's thread
    pool costs more than it saves (3-10x slower fits on a busy 2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, run as configured
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
