"""The baseline of an anomaly detection: the leading points taken as normal, on which every
detector is fitted; the points after it are scored.

Asked for explicitly (`baseline_days`), it is used as given or refused with the reason.
By default it is 30 days, or the first half of a series shorter than 60 days (a 14-day file
gets a 7-day baseline instead of a refusal), and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_engineer.errors import ToolError

DEFAULT_DAYS = 30.0
MAX_SHARE = 0.5  # a default baseline never covers more than this share of the series
MIN_POINTS = 24


@dataclass(frozen=True)
class Baseline:
    points: int
    days: float
    note: str = ""  # why the default was shortened; empty otherwise


def needed_points(period: int) -> int:
    """Two full seasons, and never fewer than MIN_POINTS."""
    return max(2 * period, MIN_POINTS)


def choose(n: int, step_seconds: float, requested_days: float | None, period: int, name: str) -> Baseline:
    """The baseline for a series of `n` points; a ToolError when none fits."""
    needed = needed_points(period)
    if requested_days is not None:
        points = int(round(requested_days * 86400 / step_seconds))
        check(n, points, period, name)
        return Baseline(points, requested_days)
    points = int(round(DEFAULT_DAYS * 86400 / step_seconds))
    note = ""
    if points > n * MAX_SHARE:
        points = max(int(n * MAX_SHARE), needed)
        span = n * step_seconds / 86400
        note = (f"the default 30-day baseline is more than half of this {span:.3g}-day series: its first half "
                f"({points} points, {points * step_seconds / 86400:.3g} days) is the baseline; set baseline_days to choose")
    if points >= n:
        raise ToolError("invalid_input", f"{name}: {n} points is too short to score: the baseline alone needs {needed} "
                        f"(two seasons of {period} points, and no fewer than {MIN_POINTS})",
                        "Load a longer range, or pass seasonal_period=1 for a series without a season.")
    return Baseline(points, points * step_seconds / 86400, note)


def check(n: int, baseline_points: int, period: int, name: str) -> None:
    """An explicit baseline must leave points to score and hold two seasons."""
    if baseline_points >= n:
        raise ToolError("invalid_input", f"{name}: the baseline covers all {n} points, so nothing is left to score",
                        "Shorten baseline_days or load a longer range (the points after the baseline are scored); "
                        "omit baseline_days to use the first half of a short series.")
    needed = needed_points(period)
    if baseline_points < needed:
        raise ToolError("invalid_input", f"{name}: the baseline has {baseline_points} points; at least {needed} are "
                        f"needed (two seasons of {period} points, and no fewer than {MIN_POINTS})",
                        "Lengthen baseline_days, or load a longer range.")
