"""forecast_operational_metrics against a real Prometheus (backfilled history) and on files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.forecast_operational_metrics import TOOL
from tests.fixtures.aiops import AIOPS_METRIC
from tests.fixtures.ports import free_port
from tests.fixtures.prometheus import HISTORY_METRIC
from tests.helpers import ToolRunner

pytestmark = pytest.mark.server


def write_series(root: Path, values: np.ndarray, name: str = "cpu.csv") -> str:
    index = pd.date_range("2026-01-01", periods=len(values), freq="h", tz="UTC")
    pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": values}).to_csv(root / name, index=False)
    return name


def growing(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 40 + 0.05 * t + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, n)


def test_forecast_from_prometheus_with_capacity(tmp_path: Path, prometheus_server) -> None:
    tools = ToolRunner(tmp_path)
    end = prometheus_server.history_end
    source = {"kind": "promql", "url": prometheus_server.url, "query": f'{HISTORY_METRIC}{{service="checkout"}}',
              "end": end, "days": 14 - 1 / 24, "step_seconds": 3600}
    out = tools(TOOL, {"action": "forecast", "series": source, "horizon": 48, "models": ["theta", "sarimax"],
                       "folds": 2, "capacity_threshold": 130})
    assert out.series.points == 14 * 24 and out.series.seasonal_period == 24 and out.series.seasonality_inferred
    assert [s.model for s in out.scores] == ["seasonal_naive", "theta", "sarimax"]
    assert out.baseline.model == "seasonal_naive" and out.baseline.folds == 2 and out.baseline.mase is not None
    assert out.chosen.mase <= min(s.mase for s in out.scores if s.mase is not None)
    assert out.backtest_horizon == 24

    forecast = pd.read_csv(tmp_path / out.forecast_path)
    assert len(forecast) == 48 and list(forecast.columns) == ["timestamp", "mean", "lower", "upper"]
    assert (forecast["lower"] <= forecast["mean"]).all() and (forecast["mean"] <= forecast["upper"]).all()
    first = pd.Timestamp(forecast["timestamp"].iloc[0])
    assert first == pd.Timestamp(end + 3600, unit="s", tz="UTC")
    # The history peaks at 140 ± 5 every day (which hour depends on when the test runs): both the
    # mean and the upper bound reach 130 within a day, the bound no later than the mean.
    cap = out.capacity
    assert cap.forecast_crosses_at and cap.bound_crosses_at and cap.bound_crosses_at <= cap.forecast_crosses_at
    assert cap.forecast_crosses_at == forecast.loc[forecast["mean"] >= 130, "timestamp"].iloc[0]
    assert (tmp_path / out.plot_path).read_bytes()[:4] == b"\x89PNG"
    backtest = pd.read_csv(tmp_path / out.scores_path)
    assert list(backtest["model"]) == ["seasonal_naive", "theta", "sarimax"]
    assert out.forecast.rows.total_rows == 48 and len(out.forecast.rows.rows) == 10
    assert out.forecast.rows.full_result_path


def test_forecast_file_all_models_and_direction_below(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    free_disk = 500 - growing(20 * 24)  # falls towards zero
    path = write_series(tmp_path, free_disk, "disk.csv")
    out = tools(TOOL, {"action": "forecast", "series": {"kind": "file", "path": path}, "horizon": 24 * 7,
                       "folds": 1, "capacity_threshold": 430, "direction": "below"})
    assert {s.model for s in out.scores} == {"seasonal_naive", "ets", "sarimax", "theta", "stl_arima"}
    assert all(s.status == "ok" for s in out.scores), [s.status for s in out.scores]
    assert out.beats_baseline is True and out.chosen_model != "seasonal_naive"
    assert out.capacity.direction == "below" and out.capacity.forecast_crosses_at is not None
    assert out.capacity.already_crossed is False
    again = tools(TOOL, {"action": "forecast", "series": {"kind": "file", "path": path}, "horizon": 24 * 7,
                         "folds": 1, "capacity_threshold": 430, "direction": "below"})
    assert again.model_dump() == out.model_dump()


def test_query_with_several_series_is_refused(tmp_path: Path, aiops_prometheus) -> None:
    source = {"kind": "promql", "url": aiops_prometheus.url, "query": AIOPS_METRIC, "end": aiops_prometheus.end,
              "days": 5, "step_seconds": 3600}
    with pytest.raises(ToolError, match="returned 2 series") as err:
        ToolRunner(tmp_path)(TOOL, {"action": "forecast", "series": source, "horizon": 24})
    assert err.value.code == "invalid_input" and "sum(" in err.value.hint


def test_unreachable_prometheus(tmp_path: Path) -> None:
    source = {"kind": "promql", "url": f"http://127.0.0.1:{free_port()}", "query": "up", "end": time.time()}
    with pytest.raises(ToolError) as err:
        ToolRunner(tmp_path)(TOOL, {"action": "forecast", "series": source, "horizon": 24})
    assert err.value.code == "backend_unreachable"


def test_too_few_points_for_the_seasonality(tmp_path: Path) -> None:
    path = write_series(tmp_path, growing(60))
    tools = ToolRunner(tmp_path)
    with pytest.raises(ToolError, match="too few for seasonal_period=48"):
        tools(TOOL, {"action": "forecast", "series": {"kind": "file", "path": path}, "horizon": 12, "seasonal_period": 48})
    with pytest.raises(ToolError, match="too few to backtest") as err:
        tools(TOOL, {"action": "forecast", "series": {"kind": "file", "path": path}, "horizon": 12,
                     "seasonal_period": 24, "backtest_horizon": 24})
    assert err.value.code == "invalid_input"
    assert not (tmp_path / "mlops").exists()


@pytest.mark.parametrize(("values", "words"), [
    (["1.5", "2.5", "oops"] + ["3"] * 40, "not numbers"),
    (["5"] * 60, "constant"),
    (["nan"] * 60, "all NaN"),
])
def test_bad_values(tmp_path: Path, values: list[str], words: str) -> None:
    index = pd.date_range("2026-01-01", periods=len(values), freq="h", tz="UTC")
    pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": values}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ToolError, match=words) as err:
        ToolRunner(tmp_path)(TOOL, {"action": "forecast", "series": {"kind": "file", "path": "m.csv"}, "horizon": 5})
    assert err.value.code == "invalid_input"


def test_gaps_and_duplicates_policy(tmp_path: Path) -> None:
    values = growing(10 * 24)
    index = pd.date_range("2026-01-01", periods=len(values), freq="h", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    frame = pd.DataFrame({"timestamp": index, "value": values})
    frame = pd.concat([frame.drop(index=[30, 31]), frame.iloc[[50]]]).sample(frac=1, random_state=0)  # shuffled too
    frame.to_csv(tmp_path / "m.csv", index=False)
    tools = ToolRunner(tmp_path)
    operation = {"action": "forecast", "series": {"kind": "file", "path": "m.csv"}, "horizon": 12, "models": ["theta"], "plot": False}
    out = tools(TOOL, operation)
    assert out.series.gaps_filled == 2 and out.series.duplicates_merged == 1 and out.series.points == 240
    assert out.plot_path is None
    with pytest.raises(ToolError, match="duplicate"):
        tools(TOOL, {**operation, "cleaning": {"duplicates": "error"}})
    with pytest.raises(ToolError, match="missing point"):
        tools(TOOL, {**operation, "cleaning": {"gaps": "error"}})


def test_dry_run_and_validation(tmp_path: Path) -> None:
    path = write_series(tmp_path, growing(100))
    tools = ToolRunner(tmp_path)
    out = tools(TOOL, {"action": "forecast", "series": {"kind": "file", "path": path}, "horizon": 24}, dry_run=True)
    assert out.dry_run and out.chosen_model is None and "forecast 24 points" in " ".join(out.planned_calls)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path]
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "forecast", "series": {"kind": "file", "path": path}, "horizon": 0})
    assert err.value.code == "invalid_input" and "horizon" in err.value.message
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "forecast", "series": {"kind": "file", "path": path}, "horizon": 5, "models": ["prophet"]})
    assert err.value.code == "invalid_input" and "models" in err.value.message


def write_calendar(root: Path, freq: str, start: str, periods: int, name: str, season: int = 12) -> pd.DatetimeIndex:
    index = pd.date_range(start, periods=periods, freq=freq, tz="UTC")
    k = np.arange(periods)
    cycle = 8 * np.sin(2 * np.pi * k / season) if season > 1 else 0.0
    values = 100 + 0.5 * k + cycle + np.random.default_rng(0).normal(0, 1, periods)
    pd.DataFrame({"timestamp": index.strftime("%Y-%m-%d"), "value": values.round(3)}).to_csv(root / name, index=False)
    return index


@pytest.mark.parametrize(("freq", "start", "periods", "horizon", "first", "last", "season"), [
    # The reproduction: 120 month starts became 118 points, forecast from 2010-01-06.
    ("MS", "2000-01-01", 120, 12, "2010-01-01", "2010-12-01", 12),
    ("ME", "2000-01-31", 120, 14, "2010-01-31", "2011-02-28", 12),  # month ends, leap Februaries in the history
    ("ME", "2011-01-31", 12 * 13, 2, "2024-01-31", "2024-02-29", 12),  # the forecast lands on a leap day
    ("QS-JAN", "1990-01-01", 80, 8, "2010-01-01", "2011-10-01", 4),
    ("QE-DEC", "1990-03-31", 80, 4, "2010-03-31", "2010-12-31", 4),
    ("YS-JAN", "1961-01-01", 60, 5, "2021-01-01", "2025-01-01", 1),  # used to start on 1960-12-10
    ("YE-DEC", "1960-12-31", 64, 3, "2024-12-31", "2026-12-31", 1),
])
def test_calendar_series_keep_their_calendar(tmp_path: Path, freq: str, start: str, periods: int, horizon: int,
                                             first: str, last: str, season: int) -> None:
    write_calendar(tmp_path, freq, start, periods, "m.csv", season)
    out = ToolRunner(tmp_path)(TOOL, {"action": "forecast", "series": {"kind": "file", "path": "m.csv"},
                                      "horizon": horizon, "plot": False})
    report = out.series
    assert report.points == periods and report.frequency == freq
    assert (report.duplicates_merged, report.merged_in_step, report.snapped, report.gaps_filled) == (0, 0, 0, 0)
    forecast = pd.read_csv(tmp_path / out.forecast_path)
    assert forecast["timestamp"].iloc[0].startswith(first) and forecast["timestamp"].iloc[-1].startswith(last)
    assert len(forecast) == horizon and (season == 1 or report.seasonal_period == season)


def test_a_missing_month_is_filled_and_reported(tmp_path: Path) -> None:
    index = write_calendar(tmp_path, "MS", "2000-01-01", 120, "m.csv")
    frame = pd.read_csv(tmp_path / "m.csv")
    frame.drop(index=[30]).to_csv(tmp_path / "m.csv", index=False)
    out = ToolRunner(tmp_path)(TOOL, {"action": "backtest", "series": {"kind": "file", "path": "m.csv"},
                                      "horizon": 12, "models": ["theta"]})
    assert out.series.points == 120 and out.series.gaps_filled == 1 and out.series.frequency == "MS"
    assert out.series.start == index[0].strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_model_over_the_time_budget_is_skipped_and_reported(tmp_path: Path) -> None:
    """30-minute points with a weekly season: the fits are shared a 1-second budget, so the
    statsmodels models are skipped (with the reason) and the best seasonal naive still answers."""
    t = np.arange(20 * 336)
    values = 200 + 30 * np.sin(2 * np.pi * t / 48) + 12 * np.sin(2 * np.pi * t / 336) + np.random.default_rng(2).normal(0, 3, len(t))
    index = pd.date_range("2026-01-01", periods=len(t), freq="30min", tz="UTC")
    pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": values}).to_csv(tmp_path / "m.csv", index=False)
    out = ToolRunner(tmp_path)(TOOL, {"action": "forecast", "series": {"kind": "file", "path": "m.csv"}, "horizon": 336,
                                      "models": ["sarimax", "stl_arima"], "time_budget_s": 1, "plot": False})
    assert 336 in out.series.seasonal_periods  # the weekly season is found, whichever comes first
    statuses = {s.model: s.status for s in out.scores}
    assert statuses["seasonal_naive"] == "ok" and out.baseline.period in (48, 336)
    assert any(v.startswith("skipped:") and "budget" in v for v in statuses.values()), statuses
    assert out.forecast.points == 336 and out.fit_points == 4000


def test_live_exporter_constant_series_is_refused(tmp_path: Path, prometheus_server) -> None:
    """A series scraped live from the test's exporter: `up`-like gauges are constant, and a
    constant series has no forecast error to minimise."""
    prometheus_server.wait_for_scrape("test_exporter_up")
    time.sleep(4)  # a few scrapes (one per second), so the range holds more than one sample
    source = {"kind": "promql", "url": prometheus_server.url, "query": "test_exporter_up", "end": time.time(),
              "days": 60 / 86400, "step_seconds": 1}
    with pytest.raises(ToolError, match="constant") as err:
        ToolRunner(tmp_path)(TOOL, {"action": "forecast", "series": source, "horizon": 2})
    assert err.value.code == "invalid_input"


def test_backtest_action_compares_without_forecasting(tmp_path: Path) -> None:
    path = write_series(tmp_path, growing(10 * 24))
    out = ToolRunner(tmp_path)(TOOL, {"action": "backtest", "series": {"kind": "file", "path": path}, "horizon": 24,
                                      "models": ["theta"], "folds": 2})
    assert [s.model for s in out.scores] == ["seasonal_naive", "theta"] and all(s.folds == 2 for s in out.scores)
    assert out.forecast is None and out.forecast_path is None and out.plot_path is None
    assert sorted(p.name for p in (tmp_path / "mlops/aiops/forecasts").iterdir()) == ["cpu-backtest.csv"]
    assert "best" in TOOL.summarize(out)
