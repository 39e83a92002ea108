"""Calendar frequencies: month, quarter and year series keep their calendar (no fixed-step grid
that merges months), leap years included, and business days skip weekends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_engineer.engines.aiops import frequency as fq
from mlops_engineer.engines.aiops import metric_series as ms
from mlops_engineer.engines.aiops.regular_grid import regularise
from mlops_engineer.engines.aiops.seasonality import candidate_periods


@pytest.mark.parametrize(("freq", "start", "periods", "alias"), [
    ("MS", "2000-01-01", 120, "MS"),  # 120 month starts used to become 118 points on a 31-day grid
    ("ME", "1999-11-30", 120, "ME"),  # month ends through three leap Februaries
    ("QS-JAN", "1990-01-01", 80, "QS-JAN"),
    ("QE-DEC", "1990-03-31", 80, "QE-DEC"),
    ("QS-FEB", "1990-02-01", 40, "QS-FEB"),
    ("YS-JAN", "1961-01-01", 60, "YS-JAN"),  # annual data used to start on 1960-12-10
    ("YE-DEC", "1960-12-31", 60, "YE-DEC"),
    ("B", "2024-01-01", 300, "B"),  # business days across 29 February 2024
])
def test_calendar_series_keep_every_point_on_its_calendar(freq: str, start: str, periods: int, alias: str) -> None:
    index = pd.date_range(start, periods=periods, freq=freq, tz="UTC")
    raw = pd.Series(np.random.default_rng(0).normal(100, 5, periods), index=index)
    out = regularise("m", raw, ms.Cleaning())
    assert out.report.frequency == alias and out.report.points == periods
    assert (out.report.duplicates_merged, out.report.merged_in_step, out.report.snapped, out.report.gaps_filled) == (0, 0, 0, 0)
    assert out.values.index.equals(index)
    np.testing.assert_array_equal(out.values.to_numpy(), raw.to_numpy())
    future = out.frequency.after(index[-1], 3)
    assert future.equals(pd.date_range(start, periods=periods + 3, freq=freq, tz="UTC")[-3:])


def test_leap_day_month_ends_and_forecast_dates() -> None:
    index = pd.date_range("2023-01-31", periods=14, freq="ME", tz="UTC")
    out = regularise("m", pd.Series(np.arange(14.0), index=index), ms.Cleaning())
    assert pd.Timestamp("2024-02-29", tz="UTC") in out.values.index
    assert [str(t.date()) for t in out.frequency.after(index[-1], 2)] == ["2024-03-31", "2024-04-30"]
    yearly = regularise("y", pd.Series(np.arange(8.0), index=pd.date_range("2017-02-28", periods=8, freq="YE-FEB", tz="UTC")),
                        ms.Cleaning())
    assert "2020-02-29" in [str(t.date()) for t in yearly.values.index] and yearly.report.frequency == "YE-FEB"


def test_a_missing_month_is_a_gap_and_reported() -> None:
    index = pd.date_range("2000-01-01", periods=36, freq="MS", tz="UTC")
    raw = pd.Series(np.arange(36.0), index=index).drop(index[[7, 20]])
    out = regularise("m", raw, ms.Cleaning())
    assert out.report.frequency == "MS" and out.report.points == 36 and out.report.gaps_filled == 2
    assert out.values.iloc[7] == pytest.approx(7.0)


def test_the_same_day_of_each_month_and_a_daily_series() -> None:
    mid = pd.date_range("2020-01-15", periods=24, freq=pd.DateOffset(months=1), tz="UTC")
    out = regularise("m", pd.Series(np.arange(24.0), index=mid), ms.Cleaning())
    assert out.report.frequency == "monthly-15" and out.values.index.equals(mid)
    days = pd.date_range("2024-02-20", periods=30, freq="D", tz="UTC")  # daily with weekends: a fixed step
    assert regularise("d", pd.Series(np.arange(30.0), index=days), ms.Cleaning()).report.frequency == "86400s"


@pytest.mark.parametrize(("alias", "periods"), [("MS", [12]), ("ME", [12]), ("QS-JAN", [4]), ("QE-DEC", [4]),
                                                ("YS-JAN", []), ("B", [5])])
def test_calendar_seasons(alias: str, periods: list[int]) -> None:
    assert candidate_periods(fq.Frequency(alias, 1.0, calendar=True)) == periods


def test_fixed_step_seasons_are_a_day_and_a_week() -> None:
    assert candidate_periods(300) == [288, 2016]
    assert candidate_periods(1800) == [48, 336]
    assert candidate_periods(600) == [144, 1008]
    assert candidate_periods(86400) == [7, 365]
    assert candidate_periods(7 * 86400) == [52]
    assert candidate_periods(7000) == []
