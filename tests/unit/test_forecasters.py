"""Forecasting models, the backtest and the capacity crossing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_engineer.engines.aiops import forecasters as fc
from mlops_engineer.errors import ToolError


def test_seasonal_naive_repeats_the_last_season_with_widening_intervals() -> None:
    y = np.tile([1.0, 2.0, 3.0, 4.0], 5) + np.arange(20) * 0.0
    y[-4:] = [10.0, 20.0, 30.0, 40.0]
    out = fc.seasonal_naive(y, 6, 4, 0.9)
    assert list(out.mean) == [10, 20, 30, 40, 10, 20]
    widths = out.upper - out.lower
    assert widths[4] == pytest.approx(widths[0] * math.sqrt(2))


def test_mase_and_smape_by_hand() -> None:
    train = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert fc.mase(np.array([6.0, 7.0]), np.array([6.0, 9.0]), train, 1) == pytest.approx(1.0)
    assert fc.smape(np.array([100.0, 0.0]), np.array([50.0, 0.0])) == pytest.approx(200 * 50 / 150)
    assert fc.mase(np.array([1.0]), np.array([1.0]), np.ones(5), 1) == 0.0


def test_origins_and_too_few_points() -> None:
    assert fc.origins(100, 10, 3, 12) == [70, 80, 90]
    assert fc.origins(40, 10, 3, 12) == [30]  # only the folds with two seasons of training survive
    with pytest.raises(ToolError, match="too few to backtest") as err:
        fc.origins(30, 10, 3, 12)
    assert "seasonal_period" in err.value.hint


def test_choose_prefers_lowest_mase_and_the_baseline_on_ties() -> None:
    scores = [fc.Score("seasonal_naive", 1.0), fc.Score("ets", 0.8), fc.Score("theta", None, status="failed: x")]
    assert fc.choose(scores).model == "ets"
    assert fc.choose([fc.Score("seasonal_naive", 0.5), fc.Score("ets", 0.5)]).model == "seasonal_naive"
    with pytest.raises(ToolError, match="no model"):
        fc.choose([fc.Score("ets", None, status="failed")])


def test_first_crossing() -> None:
    values = np.array([1.0, 5.0, 9.0, 12.0])
    assert fc.first_crossing(values, 9.0, "above") == 2
    assert fc.first_crossing(values, 0.5, "below") is None


@pytest.mark.parametrize("model", ["ets", "sarimax", "theta", "stl_arima"])
def test_every_model_forecasts_a_seasonal_trend(model: str) -> None:
    rng = np.random.default_rng(0)
    n, m = 120, 12
    y = 10 + 0.1 * np.arange(n) + 3 * np.sin(2 * np.pi * np.arange(n) / m) + rng.normal(0, 0.2, n)
    out = fc.predict(model, y, 12, m, 0.9)
    future = 10 + 0.1 * np.arange(n, n + 12) + 3 * np.sin(2 * np.pi * np.arange(n, n + 12) / m)
    assert np.all(out.lower <= out.mean) and np.all(out.mean <= out.upper)
    assert fc.mase(future, out.mean, y, m) < 1.0


def test_backtest_on_co2_beats_seasonal_naive() -> None:
    from statsmodels.datasets import co2

    y = co2.load_pandas().data["co2"].resample("MS").mean().interpolate().to_numpy()[-240:]
    seen: list[tuple[int, int]] = []
    scores = fc.backtest(y, 12, 12, 2, ["theta"], 0.9, lambda d, t, msg: seen.append((d, t)))
    assert [s.model for s in scores] == ["seasonal_naive", "theta"]
    assert fc.choose(scores).model == "theta" and scores[1].mase < scores[0].mase
    assert seen[-1][0] == seen[-1][1]
    assert fc.skip_reason("stl_arima", 1) and fc.skip_reason("theta", 1) is None
