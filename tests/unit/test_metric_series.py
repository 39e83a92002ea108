"""Loading and regularising metric series: the bad-input policy of the AIOps tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_engineer.engines.aiops import metric_series as ms
from mlops_engineer.engines.aiops import seasonality as se
from mlops_engineer.engines.aiops.regular_grid import check_varies, regularise
from mlops_engineer.errors import ToolError
from mlops_engineer.workspace import Workspace


def hourly(values: list[float] | np.ndarray, start: str = "2026-01-01") -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=pd.date_range(start, periods=len(values), freq="h", tz="UTC"))


def seasonal(n: int, period: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50 + 10 * np.sin(2 * np.pi * np.arange(n) / period) + rng.normal(0, 1, n)


def test_regular_series_passes_unchanged() -> None:
    raw = hourly(seasonal(100))
    out = regularise("m", raw, ms.Cleaning())
    assert out.report.points == 100 and out.report.step_seconds == 3600
    assert out.report.gaps_filled == 0 and out.report.duplicates_merged == 0
    np.testing.assert_allclose(out.values.to_numpy(), raw.to_numpy())


@pytest.mark.parametrize(("policy", "expected"), [("mean", 15.0), ("last", 20.0)])
def test_duplicate_timestamps_are_merged_by_policy(policy: str, expected: float) -> None:
    raw = hourly(seasonal(50))
    raw = pd.concat([raw, pd.Series([10.0, 20.0], index=[raw.index[10]] * 2)])
    raw.iloc[10] = 15.0 if policy == "mean" else raw.iloc[10]
    out = regularise("m", raw, ms.Cleaning(duplicates=policy))  # type: ignore[arg-type]
    assert out.report.points == 50 and out.report.duplicates_merged == 2
    assert out.values.iloc[10] == pytest.approx(expected)


def test_duplicate_timestamps_refused_when_asked() -> None:
    raw = hourly(seasonal(30))
    raw = pd.concat([raw, raw.iloc[[3]]])
    with pytest.raises(ToolError, match="duplicate timestamp") as err:
        regularise("m", raw, ms.Cleaning(duplicates="error"))
    assert err.value.code == "invalid_input" and "cleaning.duplicates" in err.value.hint


def test_short_gaps_are_interpolated_and_counted() -> None:
    values = np.arange(48, dtype=float) * 2.0
    raw = hourly(values).drop(hourly(values).index[[5, 6, 7]])
    out = regularise("m", raw, ms.Cleaning(max_gap=3))
    assert out.report.points == 48 and out.report.gaps_filled == 3
    assert out.values.iloc[6] == pytest.approx(12.0)  # linear between 8 and 16


def test_nan_values_are_gaps_too() -> None:
    values = np.arange(48, dtype=float)
    values[10] = np.nan
    out = regularise("m", hourly(values), ms.Cleaning())
    assert out.report.gaps_filled == 1 and out.values.iloc[10] == pytest.approx(10.0)


def test_long_gap_and_gap_policy_error_are_refused() -> None:
    raw = hourly(np.arange(48, dtype=float))
    holed = raw.drop(raw.index[10:20])
    with pytest.raises(ToolError, match="longest gap is 10 points") as err:
        regularise("m", holed, ms.Cleaning(max_gap=6))
    assert "long_gaps='fill'" in err.value.hint
    with pytest.raises(ToolError, match="1 missing point"):
        regularise("m", raw.drop(raw.index[5]), ms.Cleaning(gaps="error"))


def test_long_gaps_bridged_on_request_and_marked() -> None:
    raw = hourly(np.arange(48, dtype=float))
    holed = raw.drop(raw.index[list(range(10, 20)) + [30]])
    out = regularise("m", holed, ms.Cleaning(long_gaps="fill"))
    assert out.report.points == 48 and out.report.gaps_bridged == 10 and out.report.gaps_filled == 1
    assert out.bridged is not None and out.bridged[10:20].all() and out.bridged.sum() == 10
    assert out.filled is not None and out.filled.sum() == 11 and out.filled[30]
    np.testing.assert_allclose(out.values.to_numpy(), np.arange(48.0))


@pytest.mark.parametrize(("values", "words"), [
    ([], "empty"), ([np.nan] * 10, "all NaN"), ([1.0, np.inf, 2.0, 3.0], "infinite"),
])
def test_degenerate_series_are_clear_errors(values: list[float], words: str) -> None:
    with pytest.raises(ToolError, match=words) as err:
        regularise("m", hourly(values), ms.Cleaning())
    assert err.value.code == "invalid_input"


def test_a_constant_series_is_regular_but_cannot_be_forecast() -> None:
    out = regularise("m", hourly([4.2] * 30), ms.Cleaning())
    assert out.report.points == 30
    with pytest.raises(ToolError, match="constant") as err:
        check_varies(out)
    assert err.value.code == "invalid_input"


def _local_csv(tmp_path: Path, stamps: pd.DatetimeIndex, fmt: str = "%Y-%m-%d %H:%M:%S") -> ms.FileSource:
    values = seasonal(len(stamps), period=288)
    pd.DataFrame({"timestamp": stamps.strftime(fmt), "value": values}).to_csv(tmp_path / "m.csv", index=False)
    return ms.FileSource(kind="file", path="m.csv")


def test_a_daylight_saving_jump_in_local_timestamps_is_not_a_gap(tmp_path: Path) -> None:
    """5-minute points in New York wall-clock time without a zone: on 2026-03-08 the clock jumps
    from 01:55 to 03:00, twelve points that never existed (max_gap is 6)."""
    wall = pd.date_range("2026-03-05", "2026-03-11", freq="5min", tz="America/New_York").tz_localize(None)
    [out] = ms.load([_local_csv(tmp_path, wall)], Workspace(tmp_path), ms.Cleaning())
    assert out.report.clock_changes == 1 and out.report.gaps_filled == 12 and out.report.gaps_bridged == 0
    # The same hour missing on another day is an outage: refused at max_gap=6.
    outage = wall[(wall < pd.Timestamp("2026-03-06 02:00")) | (wall >= pd.Timestamp("2026-03-06 03:00"))]
    with pytest.raises(ToolError, match="longest gap is 12 points"):
        ms.load([_local_csv(tmp_path, outage)], Workspace(tmp_path), ms.Cleaning())
    # With a zone in the timestamps there is no jump at all (UTC is continuous).
    aware = pd.date_range("2026-03-05", "2026-03-11", freq="5min", tz="America/New_York")
    [utc] = ms.load([_local_csv(tmp_path, aware, "%Y-%m-%dT%H:%M:%S%z")], Workspace(tmp_path), ms.Cleaning())
    assert utc.report.clock_changes == 0 and utc.report.gaps_filled == 0


def test_points_off_the_grid_are_snapped_and_merges_counted() -> None:
    index = pd.date_range("2026-01-01", periods=48, freq="10min", tz="UTC")
    moved = index.to_series().to_numpy().copy()
    moved[5] += pd.Timedelta(minutes=1)  # 00:51: snapped to 00:50
    raw = pd.Series(np.arange(48, dtype=float), index=pd.DatetimeIndex(moved))
    extra = pd.Series([100.0], index=[index[20] + pd.Timedelta(minutes=2)])  # a second point in 03:20's step
    out = regularise("m", pd.concat([raw, extra]), ms.Cleaning())
    assert out.report.points == 48 and out.report.snapped == 2 and out.report.merged_in_step == 1
    assert out.values.iloc[20] == pytest.approx((20 + 100) / 2) and out.report.frequency == "600s"


def _csv(tmp_path: Path, rows: list[str]) -> ms.FileSource:
    (tmp_path / "m.csv").write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    return ms.FileSource(kind="file", path="m.csv")


def test_file_with_non_numeric_values_names_the_rows(tmp_path: Path) -> None:
    rows = [f"2026-01-01T{h:02d}:00:00Z,{h}" for h in range(10)]
    rows[4] = "2026-01-01T04:00:00Z,12ms"
    with pytest.raises(ToolError, match=r"not numbers.*\[4\].*12ms") as err:
        ms.load([_csv(tmp_path, rows)], Workspace(tmp_path), ms.Cleaning())
    assert err.value.code == "invalid_input"


def test_file_with_bad_timestamps_and_missing_columns(tmp_path: Path) -> None:
    rows = [f"2026-01-01T{h:02d}:00:00Z,{h}" for h in range(10)]
    rows[2] = "yesterday,2"
    with pytest.raises(ToolError, match="do not parse"):
        ms.load([_csv(tmp_path, rows)], Workspace(tmp_path), ms.Cleaning())
    source = ms.FileSource(kind="file", path="m.csv", value_column="latency")
    with pytest.raises(ToolError, match="no column"):
        ms.load([source], Workspace(tmp_path), ms.Cleaning())


@pytest.mark.parametrize("bad", ["1e300", "inf", "1e12"])
def test_unix_seconds_out_of_range_are_bad_input(tmp_path: Path, bad: str) -> None:
    rows = [f"{1767225600 + 3600 * h},{h}" for h in range(10)]
    rows[3] = f"{bad},3"
    with pytest.raises(ToolError, match="out of range") as err:
        ms.load([_csv(tmp_path, rows)], Workspace(tmp_path), ms.Cleaning())
    assert err.value.code == "invalid_input"


def test_unix_seconds_parquet_and_blank_cells(tmp_path: Path) -> None:
    start = 1767225600
    frame = pd.DataFrame({"ts": [start + 3600 * i for i in range(30)], "v": seasonal(30)})
    frame.loc[7, "v"] = np.nan
    frame.to_parquet(tmp_path / "m.parquet")
    source = ms.FileSource(kind="file", path="m.parquet", timestamp_column="ts", value_column="v")
    [out] = ms.load([source], Workspace(tmp_path), ms.Cleaning())
    assert out.name == "m" and out.report.start == "2026-01-01T00:00:00Z" and out.report.gaps_filled == 1


def test_seasonality_is_inferred_from_the_step_and_the_acf() -> None:
    hourly_daily = regularise("m", hourly(seasonal(24 * 20)), ms.Cleaning())
    assert se.infer_period(hourly_daily.values, 3600) == 24
    noise = regularise("m", hourly(np.random.default_rng(1).normal(size=500)), ms.Cleaning())
    assert se.infer_period(noise.values, 3600) == 1
    weekly_cycle = 10 * np.sin(2 * np.pi * np.arange(24 * 28) / 168) + np.random.default_rng(2).normal(0, 1, 24 * 28)
    assert se.infer_period(hourly(weekly_cycle), 3600) == 168


def test_too_few_points_for_a_requested_period() -> None:
    series = regularise("m", hourly(seasonal(40)), ms.Cleaning())
    with pytest.raises(ToolError, match="too few for seasonal_period=24") as err:
        se.set_period(series, 24)
    assert "seasonal_period" in err.value.hint
    assert se.set_period(series, None) == 1  # inferred: one season is not enough to claim one
    assert series.report.seasonal_period == 1 and series.report.seasonality_inferred


def test_promql_times_without_a_zone_are_utc() -> None:
    from datetime import UTC, datetime

    assert ms._unix(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC).timestamp() == 1767225600
