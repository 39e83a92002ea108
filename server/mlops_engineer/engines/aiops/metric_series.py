"""Operational metric series shared by the AIOps tools: where a series comes from (a
CSV/Parquet file or a PromQL range query), how it is turned into a regular pandas
Series, and which seasonal period it has.

The regularisation policy, applied in this order and counted in `SeriesReport`:

1. Timestamps that do not parse, or values that are not numbers, are an error that
   quotes the first offending rows (never silently dropped: a dropped row is a
   wrong number later).
2. Duplicate timestamps: `mean` (default) averages them, `last` keeps the last,
   `error` refuses.
3. The step is the median spacing of the timestamps; points are binned onto that
   grid (the mean of a bin). Empty bins and NaN values are gaps.
4. Gaps of at most `max_gap` consecutive points are linearly interpolated; a longer
   gap is an error (`gaps: error` refuses any gap).
5. Empty, all-NaN and constant series are errors: no score or forecast is defined.

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
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
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
    days: float = Field(default=45, gt=0, le=3650, description="Range length when `start` is omitted.")
    step_seconds: int = Field(default=3600, ge=1, description="Query resolution in seconds.")
    name: str | None = Field(default=None, description="Series name prefix in outputs; the labels when omitted.")


Source = Annotated[FileSource | PromQLSource, Field(discriminator="kind")]


class Cleaning(StrictModel):
    """What to do with duplicate timestamps and gaps (see the module docstring for the order)."""

    duplicates: Literal["mean", "last", "error"] = Field(default="mean", description="Several values at one timestamp.")
    gaps: Literal["interpolate", "error"] = Field(default="interpolate", description="Missing points on the regular grid.")
    max_gap: int = Field(default=6, ge=0, description="Longest run of missing points that is interpolated; a longer gap is an error.")


class SeriesReport(BaseModel):
    """How a series was read and regularised."""

    name: str
    points: int = Field(description="Points on the regular grid after cleaning.")
    start: str
    end: str
    step_seconds: float
    duplicates_merged: int = 0
    gaps_filled: int = Field(default=0, description="Missing points that were interpolated.")
    seasonal_period: int = Field(default=1, description="Points per season used (1 = none).")
    seasonality_inferred: bool = True


@dataclass
class MetricSeries:
    name: str
    values: pd.Series  # float, DatetimeIndex (UTC) with a regular step
    report: SeriesReport
    labels: dict[str, str] = field(default_factory=dict)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80] or "series"


# ---------------------------------------------------------------- loading


def load(sources: list[FileSource | PromQLSource], workspace: Workspace, cleaning: Cleaning) -> list[MetricSeries]:
    """Every series the sources name, regular and checked, in source order."""
    out: list[MetricSeries] = []
    for source in sources:
        raw = _read_file(source, workspace) if isinstance(source, FileSource) else _read_promql(source)
        for name, labels, series in raw:
            out.append(regularise(name, series, cleaning, labels))
    if len(out) > MAX_SERIES:
        raise ToolError("invalid_input", f"the sources hold {len(out)} series; at most {MAX_SERIES} per call",
                        "Narrow the PromQL query (add label matchers) or split the call.")
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ToolError("invalid_input", f"two series share a name: {names}", "Give each source a distinct `name`.")
    return out


def _read_file(source: FileSource, workspace: Workspace) -> list[tuple[str, dict[str, str], pd.Series]]:
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
    missing = [c for c in (source.timestamp_column, source.value_column) if c not in frame.columns]
    if missing:
        raise ToolError("invalid_input", f"{source.path} has no column {missing}; it has {list(frame.columns)[:20]}",
                        "Set timestamp_column and value_column to the right names.")
    index = _parse_timestamps(frame[source.timestamp_column], source.path)
    values = _parse_values(frame[source.value_column], source.path)
    series = pd.Series(values.to_numpy(), index=index)
    return [(source.name or path.stem, {}, series)]


def _parse_timestamps(column: pd.Series, where: str) -> pd.DatetimeIndex:
    pd = import_optional("pandas", EXTRA)
    text = column.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if len(text) and numeric.notna().all():
        parsed = pd.to_datetime(numeric, unit="s", utc=True)
    else:
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        rows = list(column[bad].index[:5])
        raise ToolError("invalid_input", f"{where}: {int(bad.sum())} timestamp(s) do not parse, e.g. rows {rows}: "
                        f"{list(column[bad].astype(str)[:3])}", "Use ISO 8601 (2026-01-31T12:00:00Z) or unix seconds.")
    return pd.DatetimeIndex(parsed)


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


def _read_promql(source: PromQLSource) -> list[tuple[str, dict[str, str], pd.Series]]:
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
        out.append((name, labels, pd.Series(item.values, index=pd.DatetimeIndex(index), dtype=float)))
    return out


def _unix(moment: datetime) -> float:
    """Seconds since the epoch; a datetime without a zone is UTC (never the server's local time)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- regularising


def regularise(name: str, raw: pd.Series, cleaning: Cleaning, labels: dict[str, str] | None = None) -> MetricSeries:
    """A float series on a regular UTC grid, or a ToolError saying why not (policy: module docstring)."""
    pd = import_optional("pandas", EXTRA)
    series = raw.astype(float).sort_index(kind="stable")
    if len(series) > MAX_POINTS:
        raise ToolError("invalid_input", f"{name}: {len(series)} points; at most {MAX_POINTS}", "Use a coarser step or a shorter range.")
    finite = series[series.notna()]
    if finite.empty:
        what = "empty" if series.empty else "all NaN"
        raise ToolError("invalid_input", f"{name}: the series is {what}; there is nothing to score",
                        "Check the file/query and its time range.")
    if not finite.map(math.isfinite).all():
        raise ToolError("invalid_input", f"{name}: the series holds infinite values", "Replace inf with NaN (a gap) or a number.")
    dup_mask = series.index.duplicated(keep=False)
    duplicates = int(series.index.duplicated().sum())
    if duplicates and cleaning.duplicates == "error":
        first = series.index[dup_mask][0]
        raise ToolError("invalid_input", f"{name}: {duplicates} duplicate timestamp(s), first at {first.isoformat()}",
                        "Set cleaning.duplicates to 'mean' or 'last', or deduplicate the data.")
    if duplicates and cleaning.duplicates == "last":
        series = series[~series.index.duplicated(keep="last")]
    unique_index = series.index.unique()
    if len(unique_index) < 3:
        raise ToolError("invalid_input", f"{name}: {len(unique_index)} distinct timestamp(s); a series needs at least 3",
                        "Query a longer range or a finer step.")
    # Whole seconds as integers: nanosecond differences overflow past 292 years (yearly data).
    seconds = series.index.as_unit("s").asi8
    step_seconds = float(pd.Series(unique_index.as_unit("s").asi8).diff().dropna().median())
    if step_seconds <= 0:
        raise ToolError("invalid_input", f"{name}: cannot infer a time step", "Check the timestamps.")
    step = pd.Timedelta(seconds=step_seconds)
    grid = series.groupby(((seconds - seconds[0]) / step_seconds).round().astype(int)).mean()
    full = pd.Series(float("nan"), index=range(int(grid.index.max()) + 1))
    full.loc[grid.index] = grid.to_numpy()
    missing = full.isna()
    gaps = int(missing.sum())
    if gaps:
        runs = missing.ne(missing.shift()).cumsum()[missing]
        longest = int(runs.value_counts().max())
        first_gap = series.index[0] + step * int(missing.idxmax())
        if cleaning.gaps == "error" or longest > cleaning.max_gap:
            raise ToolError("invalid_input", f"{name}: {gaps} missing point(s); the longest gap is {longest} points "
                            f"(first gap at {first_gap.isoformat()})",
                            f"Allow longer gaps with cleaning.max_gap (now {cleaning.max_gap}), set cleaning.gaps to "
                            "'interpolate', or query a range without the outage.")
        full = full.interpolate(method="linear", limit_direction="both")
    index = pd.date_range(series.index[0], periods=len(full), freq=step)
    values = pd.Series(full.to_numpy(), index=index, name=name)
    if float(values.max() - values.min()) <= 1e-12 * max(1.0, abs(float(values.iloc[0]))):
        raise ToolError("invalid_input", f"{name}: the series is constant ({values.iloc[0]:g}); no anomaly or "
                        "forecast error is defined for it", "Check that the query returns the metric you meant.")
    report = SeriesReport(
        name=name, points=len(values), start=_stamp(values.index[0]), end=_stamp(values.index[-1]),
        step_seconds=step.total_seconds(), duplicates_merged=duplicates, gaps_filled=gaps,
    )
    return MetricSeries(name=name, values=values, report=report, labels=dict(labels or {}))


def _stamp(ts: object) -> str:
    return ts.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]


def single_threaded() -> contextlib.AbstractContextManager[object]:
    """BLAS limited to one thread: these models multiply small matrices, where OpenBLAS's thread
    pool costs more than it saves (3-10x slower fits on a busy 2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, run as configured
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------- seasonality

# Calendar periods worth trying for a step, most natural first.
_CALENDAR = [(3600, [24, 168]), (86400, [7, 365]), (7 * 86400, [52]), (300, [288]), (60, [1440]), (900, [96])]


def candidate_periods(step_seconds: float) -> list[int]:
    for step, periods in _CALENDAR:
        if abs(step_seconds - step) < 1:
            return periods
    if 28 * 86400 <= step_seconds <= 31 * 86400:
        return [12]
    if 89 * 86400 <= step_seconds <= 92 * 86400:
        return [4]
    return []


def infer_period(values: pd.Series, step_seconds: float, min_cycles: int = 2) -> int:
    """The seasonal period in points: the calendar period (or ACF peak) with the strongest
    autocorrelation, among those the series covers at least `min_cycles` times; 1 if none
    is clearly seasonal (autocorrelation under 0.3)."""
    np = import_optional("numpy", EXTRA)
    acf = import_optional("statsmodels.tsa.stattools", EXTRA).acf
    n = len(values)
    x = values.to_numpy(dtype=float)
    t = np.arange(n)
    x = x - np.polyval(np.polyfit(t, x, 1), t)  # a linear trend would look like every period at once
    max_lag = n // min_cycles
    if max_lag < 2:
        return 1
    correlations = acf(x, nlags=min(max_lag, 2000), fft=True)
    candidates = [p for p in candidate_periods(step_seconds) if 2 <= p <= max_lag]
    if not candidates:
        # No calendar period fits: take the highest local ACF peak past lag 1.
        peaks = [lag for lag in range(2, len(correlations) - 1)
                 if correlations[lag] > correlations[lag - 1] and correlations[lag] >= correlations[lag + 1]]
        candidates = sorted(peaks, key=lambda lag: -correlations[lag])[:1]
    best = 1
    for p in candidates:  # a longer period must beat a shorter one clearly (a daily cycle repeats weekly too)
        if best == 1 or correlations[p] > correlations[best] + 0.05:
            best = p
    return best if best > 1 and correlations[best] >= 0.3 else 1


def set_period(series: MetricSeries, requested: int | None, min_cycles: int = 2) -> int:
    """Fix the series' seasonal period: the requested one (checked) or an inferred one."""
    n = series.report.points
    if requested is not None:
        if requested > 1 and n < min_cycles * requested:
            raise ToolError("invalid_input", f"{series.name}: {n} points is too few for seasonal_period={requested} "
                            f"(needs at least {min_cycles * requested}: {min_cycles} full seasons)",
                            "Load a longer range, or pass a shorter seasonal_period (1 = no seasonality).")
        period = requested
        series.report.seasonality_inferred = False
    else:
        period = infer_period(series.values, series.report.step_seconds, min_cycles)
    series.report.seasonal_period = period
    return period
