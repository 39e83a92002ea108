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
from tests.fixtures.prometheus import HISTORY_METRIC, history_end
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
    end = history_end()
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


def test_backtest_action_compares_without_forecasting(tmp_path: Path) -> None:
    path = write_series(tmp_path, growing(10 * 24))
    out = ToolRunner(tmp_path)(TOOL, {"action": "backtest", "series": {"kind": "file", "path": path}, "horizon": 24,
                                      "models": ["theta"], "folds": 2})
    assert [s.model for s in out.scores] == ["seasonal_naive", "theta"] and all(s.folds == 2 for s in out.scores)
    assert out.forecast is None and out.forecast_path is None and out.plot_path is None
    assert sorted(p.name for p in (tmp_path / "mlops/aiops/forecasts").iterdir()) == ["cpu-backtest.csv"]
    assert "best" in TOOL.summarize(out)
