"""Which seasonal periods a regular metric series has: the calendar periods its grid
suggests (a day and a week of points for a sub-daily step, a year of months, a week of
business days), kept when the series' autocorrelation at that lag is strong."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_engineer.engines.aiops.frequency import DAY, Frequency, fixed
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pandas as pd

    from mlops_engineer.engines.aiops.metric_series import MetricSeries

EXTRA = "forecasting"
MIN_ACF = 0.3  # autocorrelation a period needs to count as a season
CLEARLY = 0.05  # a longer period must beat a shorter one by this much (a daily cycle repeats weekly too)
MAX_LAG = 20_000


def candidate_periods(freq: Frequency | float) -> list[int]:
    """Calendar periods worth trying for a grid, shortest first."""
    if not isinstance(freq, Frequency):
        freq = fixed(float(freq))
    if freq.calendar:
        if freq.alias in ("MS", "ME") or freq.alias.startswith("monthly-"):
            return [12]
        if freq.alias.startswith("Q"):
            return [4]
        return [5] if freq.alias == "B" else []  # a year has no season at a yearly step
    step = freq.step_seconds
    if 0 < step < DAY and abs(DAY / step - round(DAY / step)) < 1e-9:
        daily = round(DAY / step)
        return [daily, 7 * daily]
    if abs(step - DAY) < 1:
        return [7, 365]
    if abs(step - 7 * DAY) < 1:
        return [52]
    if 28 * DAY <= step <= 31 * DAY:
        return [12]
    if 89 * DAY <= step <= 92 * DAY:
        return [4]
    return []


def infer_periods(values: pd.Series, freq: Frequency | float, min_cycles: int = 2) -> list[int]:
    """Every seasonal period the series shows, the primary one first. Empty when nothing is
    clearly seasonal.

    Candidates are the calendar periods of the grid the series covers at least `min_cycles`
    times (with none, the highest ACF peak). The primary period is the candidate with the
    strongest rank autocorrelation (after removing a linear trend), at least 0.3; a longer one
    must beat a shorter one by 0.05, since a daily cycle also repeats weekly. Another candidate
    is a further season when what is left after removing the seasons kept so far (their mean
    profile by phase) still autocorrelates at its lag by 0.3: a weekly pattern on top of a
    daily one."""
    np = import_optional("numpy", EXTRA)
    acf = import_optional("statsmodels.tsa.stattools", EXTRA).acf
    n = len(values)
    max_lag = n // min_cycles
    if max_lag < 2:
        return []
    # Ranks, not values: bursts and spikes dominate a plain ACF and hide a daily cycle (tweet
    # volumes at 5 minutes: 0.01-0.27 at a day on values, 0.16-0.54 on ranks).
    x = values.rank(method="average").to_numpy(dtype=float)
    t = np.arange(n)
    x = x - np.polyval(np.polyfit(t, x, 1), t)  # a linear trend would look like every period at once
    if float(np.ptp(x)) <= 1e-12:
        return []
    candidates = [p for p in candidate_periods(freq) if 2 <= p <= min(max_lag, MAX_LAG)]
    correlations = acf(x, nlags=min(max(candidates, default=min(max_lag, 2000)), max_lag), fft=True)
    if not candidates:
        # No calendar period fits: take the highest local ACF peak past lag 1.
        peaks = [lag for lag in range(2, len(correlations) - 1)
                 if correlations[lag] > correlations[lag - 1] and correlations[lag] >= correlations[lag + 1]]
        candidates = sorted(peaks, key=lambda lag: -correlations[lag])[:1]
    primary = 1
    for p in candidates:
        if primary == 1 or correlations[p] > correlations[primary] + CLEARLY:
            primary = p
    if primary == 1 or correlations[primary] < MIN_ACF:
        return []
    kept = [primary]
    for p in candidates:
        if p in kept:
            continue
        rest = x.copy()
        for q in kept:
            phase = t % q
            rest -= np.bincount(phase, rest, minlength=q)[phase] / np.bincount(phase, minlength=q)[phase]
        if acf(rest, nlags=p, fft=True)[p] >= MIN_ACF:
            kept.append(p)
    return kept


def infer_period(values: pd.Series, freq: Frequency | float, min_cycles: int = 2) -> int:
    """The primary seasonal period in points (1 if none)."""
    periods = infer_periods(values, freq, min_cycles)
    return periods[0] if periods else 1


def set_period(series: MetricSeries, requested: int | None, min_cycles: int = 2) -> int:
    """Fix the series' seasonal period: the requested one (checked) or an inferred one. The
    report keeps every period found (`seasonal_periods`, primary first)."""
    n = series.report.points
    if requested is not None:
        if requested > 1 and n < min_cycles * requested:
            raise ToolError("invalid_input", f"{series.name}: {n} points is too few for seasonal_period={requested} "
                            f"(needs at least {min_cycles * requested}: {min_cycles} full seasons)",
                            "Load a longer range, or pass a shorter seasonal_period (1 = no seasonality).")
        periods = [requested] if requested > 1 else []
        series.report.seasonality_inferred = False
    else:
        periods = infer_periods(series.values, series.frequency or series.report.step_seconds, min_cycles)
    series.report.seasonal_periods = periods
    series.report.seasonal_period = periods[0] if periods else 1
    return series.report.seasonal_period
