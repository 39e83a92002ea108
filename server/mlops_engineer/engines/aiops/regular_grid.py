"""Put a raw metric series on a regular grid, following the cleaning policy in
`metric_series`' docstring, and count every change made on the way (`SeriesReport`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mlops_engineer.engines.aiops import frequency as fq
from mlops_engineer.engines.aiops.metric_series import (
    EXTRA,
    MAX_POINTS,
    Cleaning,
    MetricSeries,
    SeriesReport,
    stamp,
)
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def regularise(name: str, raw: pd.Series, cleaning: Cleaning, labels: dict[str, str] | None = None,
               *, local_clock: bool = False) -> MetricSeries:
    """A float series on a regular UTC grid, or a ToolError saying why not. `local_clock`: the
    timestamps were written without a zone, so a skipped daylight-saving hour is no gap."""
    pd = import_optional("pandas", EXTRA)
    np = import_optional("numpy", EXTRA)
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
    duplicates = int(series.index.duplicated().sum())
    if duplicates and cleaning.duplicates == "error":
        first = series.index[series.index.duplicated(keep=False)][0]
        raise ToolError("invalid_input", f"{name}: {duplicates} duplicate timestamp(s), first at {first.isoformat()}",
                        "Set cleaning.duplicates to 'mean' or 'last', or deduplicate the data.")
    if duplicates and cleaning.duplicates == "last":
        series = series[~series.index.duplicated(keep="last")]
    unique_index = series.index.unique()
    if len(unique_index) < 3:
        raise ToolError("invalid_input", f"{name}: {len(unique_index)} distinct timestamp(s); a series needs at least 3",
                        "Query a longer range or a finer step.")
    freq = fq.infer(unique_index)
    if freq.step_seconds <= 0:
        raise ToolError("invalid_input", f"{name}: cannot infer a time step", "Check the timestamps.")
    positions, snapped = _positions(series.index, unique_index, freq)
    grid = series.groupby(positions).mean()  # NaN values are skipped, so a bin of NaNs stays a gap
    occupied = len(np.unique(positions))
    merged_in_step = len(unique_index) - occupied
    full = pd.Series(float("nan"), index=range(int(positions.max()) + 1))
    full.loc[grid.index] = grid.to_numpy()
    index = freq.grid(series.index[0], len(full))
    filled = full.isna().to_numpy()
    full, report_gaps, bridged = _fill_gaps(name, full, index, freq, cleaning, local_clock)
    values = pd.Series(full.to_numpy(), index=index, name=name)
    report = SeriesReport(
        name=name, points=len(values), start=stamp(values.index[0]), end=stamp(values.index[-1]),
        step_seconds=freq.step_seconds, frequency=freq.alias, duplicates_merged=duplicates,
        merged_in_step=merged_in_step, snapped=snapped, **report_gaps,
    )
    return MetricSeries(name=name, values=values, report=report, labels=dict(labels or {}), frequency=freq,
                        filled=filled if filled.any() else None, bridged=bridged if bridged.any() else None)


def _positions(index: pd.DatetimeIndex, unique_index: pd.DatetimeIndex, freq: fq.Frequency) -> tuple[np.ndarray, int]:
    """Grid position of every timestamp, and how many distinct timestamps were off the grid."""
    np = import_optional("numpy", EXTRA)
    if freq.calendar:  # every timestamp is on the calendar grid (frequency.infer checked it)
        pd = import_optional("pandas", EXTRA)
        span = pd.date_range(unique_index[0], unique_index[-1], freq=freq.offset())
        return span.get_indexer(index), 0
    # Whole seconds as integers: nanosecond differences overflow past 292 years (yearly data).
    seconds = index.as_unit("s").asi8
    exact = (seconds - seconds[0]) / freq.step_seconds
    positions = np.round(exact).astype(np.int64)
    off = np.abs(exact - positions) > 1e-9
    snapped = int(len(np.unique(seconds[off])))
    return positions, snapped


def _fill_gaps(name: str, full: pd.Series, index: pd.DatetimeIndex, freq: fq.Frequency, cleaning: Cleaning,
               local_clock: bool) -> tuple[pd.Series, dict[str, int], np.ndarray]:
    """Interpolate the gaps the policy allows; refuse the others. Returns the filled values, the
    report's gap counts and the mask of bridged points (long gaps filled by long_gaps=fill)."""
    np = import_optional("numpy", EXTRA)
    missing = full.isna().to_numpy()
    bridged = np.zeros(len(full), dtype=bool)
    counts = {"gaps_filled": 0, "clock_changes": 0, "gaps_bridged": 0}
    if not missing.any():
        return full, counts, bridged
    runs = _runs(missing)
    clock = [r for r in runs if local_clock and not freq.calendar
             and fq.skipped_clock_hour(index[r[0]], r[1] - r[0], freq.step_seconds)]
    real = [r for r in runs if r not in clock]
    gaps = sum(b - a for a, b in real)
    longest = max((b - a for a, b in real), default=0)
    if real:
        first_gap = index[real[0][0]]
        where = (f"{name}: {gaps} missing point(s); the longest gap is {longest} points "
                 f"(first gap at {stamp(first_gap)})")
        if cleaning.gaps == "error":
            raise ToolError("invalid_input", where, "Set cleaning.gaps to 'interpolate', or query a range without the outage.")
        if longest > cleaning.max_gap and cleaning.long_gaps == "error":
            raise ToolError("invalid_input", where,
                            f"Allow longer gaps with cleaning.max_gap (now {cleaning.max_gap}) or cleaning.long_gaps='fill', "
                            "or query a range without the outage.")
    for a, b in real:
        if b - a > cleaning.max_gap:
            bridged[a:b] = True
    counts["clock_changes"] = len(clock)
    counts["gaps_bridged"] = int(bridged.sum())
    counts["gaps_filled"] = int(missing.sum()) - counts["gaps_bridged"]
    return full.interpolate(method="linear", limit_direction="both"), counts, bridged


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True."""
    np = import_optional("numpy", EXTRA)
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def check_varies(series: MetricSeries) -> None:
    """A constant series has no forecast error to minimise (MASE divides by zero): refuse it."""
    values = series.values
    if float(values.max() - values.min()) <= 1e-12 * max(1.0, abs(float(values.iloc[0]))):
        raise ToolError("invalid_input", f"{series.name}: the series is constant ({values.iloc[0]:g}); no "
                        "forecast error is defined for it", "Check that the query returns the metric you meant.")
