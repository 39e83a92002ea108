"""Forecasting models, the backtest with its time budget, the best seasonal naive, and the
capacity crossing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_engineer.engines.aiops import backtest as bt
from mlops_engineer.engines.aiops import forecasters as fc
from mlops_engineer.engines.aiops.fit_worker import FitFailed, FitTimeout, FitWorker
from mlops_engineer.errors import ToolError


def no_progress(done: int, total: int, message: str) -> None:
    return None


def test_seasonal_naive_repeats_the_last_season_with_widening_intervals() -> None:
    y = np.tile([1.0, 2.0, 3.0, 4.0], 5) + np.arange(20) * 0.0
    y[-4:] = [10.0, 20.0, 30.0, 40.0]
    out = fc.seasonal_naive(y, 6, 4, 0.9)
    assert list(out.mean) == [10, 20, 30, 40, 10, 20]
    widths = out.upper - out.lower
    assert widths[4] == pytest.approx(widths[0] * math.sqrt(2))


def test_mase_and_smape_by_hand() -> None:
    train = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert bt.mase(np.array([6.0, 7.0]), np.array([6.0, 9.0]), train, 1) == pytest.approx(1.0)
    assert bt.smape(np.array([100.0, 0.0]), np.array([50.0, 0.0])) == pytest.approx(200 * 50 / 150)
    assert bt.mase(np.array([1.0]), np.array([1.0]), np.ones(5), 1) == 0.0


def test_origins_and_too_few_points() -> None:
    assert bt.origins(100, 10, 3, 12) == [70, 80, 90]
    assert bt.origins(40, 10, 3, 12) == [30]  # only the folds with two seasons of training survive
    with pytest.raises(ToolError, match="too few to backtest") as err:
        bt.origins(30, 10, 3, 12)
    assert "seasonal_period" in err.value.hint


def test_choose_prefers_lowest_mase_and_the_baseline_on_ties() -> None:
    scores = [bt.Score("seasonal_naive", 1.0), bt.Score("ets", 0.8), bt.Score("theta", None, status="failed: x")]
    assert bt.choose(scores).model == "ets"
    assert bt.choose([bt.Score("seasonal_naive", 0.5), bt.Score("ets", 0.5)]).model == "seasonal_naive"
    with pytest.raises(ToolError, match="no model"):
        bt.choose([bt.Score("ets", None, status="failed")])


def test_first_crossing() -> None:
    values = np.array([1.0, 5.0, 9.0, 12.0])
    assert fc.first_crossing(values, 9.0, "above") == 2
    assert fc.first_crossing(values, 0.5, "below") is None


@pytest.mark.parametrize("model", ["ets", "sarimax", "theta", "stl_arima"])
def test_every_model_forecasts_a_seasonal_trend(model: str) -> None:
    rng = np.random.default_rng(0)
    n, m = 120, 12
    y = 10 + 0.1 * np.arange(n) + 3 * np.sin(2 * np.pi * np.arange(n) / m) + rng.normal(0, 0.2, n)
    out = fc.predict(model, y, 12, [m], 0.9)
    future = 10 + 0.1 * np.arange(n, n + 12) + 3 * np.sin(2 * np.pi * np.arange(n, n + 12) / m)
    assert np.all(out.lower <= out.mean) and np.all(out.mean <= out.upper)
    assert bt.mase(future, out.mean, y, m) < 1.0


def daily_and_weekly(n: int, seed: int = 0) -> np.ndarray:
    """30-minute points: a daily (48) and a weekly (336) season."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 200 + 30 * np.sin(2 * np.pi * t / 48) + 12 * np.sin(2 * np.pi * t / 336) + rng.normal(0, 3, n)


@pytest.mark.parametrize("model", ["ets", "sarimax", "stl_arima"])
def test_long_and_several_seasons_are_modelled_without_long_fits(model: str) -> None:
    """A weekly season at 30 minutes (336 points) used to be 336 ETS states (944 s for one fit);
    now each model takes both seasons, as Fourier terms or an MSTL decomposition."""
    y = daily_and_weekly(8 * 336 + 336)
    train, future = y[:-336], y[-336:]
    out = fc.predict(model, train, 336, [336, 48], 0.9)
    naive = fc.seasonal_naive(train, 336, 48, 0.9)
    assert bt.mase(future, out.mean, train, 336) < bt.mase(future, naive.mean, train, 336)


def test_fit_points_caps_the_training_length() -> None:
    assert fc.fit_points(20_000, [48, 336]) == 4000
    assert fc.fit_points(20_000, [288, 2016]) == 6048
    assert fc.fit_points(500, []) == 500


def test_the_best_seasonal_naive_is_the_baseline() -> None:
    """A weak daily cycle at 5 minutes under persistent noise: the series gets no season, yet
    'same time yesterday' beats 'same as now' at a day ahead; the baseline must be that one."""
    rng = np.random.default_rng(1)
    n = 20 * 288
    t = np.arange(n)
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.5 * noise[i - 1] + rng.normal(0, 1)
    y = 50 + 3 * np.sin(2 * np.pi * t / 288) + noise
    scores = bt.backtest(y, 288, [], 2, ["theta"], 0.9, no_progress, naive_periods=[288, 2016])
    assert scores[0].model == "seasonal_naive" and scores[0].period in (288, 2016)  # a day or a week ago
    plain = bt.best_seasonal_naive(y, 288, 1, bt.origins(len(y), 288, 2, 1), [], 0.9)
    assert plain.period == 1 and scores[0].mase < 0.9 * plain.mase
    assert bt.choose(scores).mase <= scores[0].mase


def test_backtest_on_co2_beats_seasonal_naive() -> None:
    from statsmodels.datasets import co2

    y = co2.load_pandas().data["co2"].resample("MS").mean().interpolate().to_numpy()[-240:]
    seen: list[tuple[int, int]] = []
    scores = bt.backtest(y, 12, [12], 2, ["theta"], 0.9, lambda d, t, msg: seen.append((d, t)))
    assert [s.model for s in scores] == ["seasonal_naive", "theta"]
    assert bt.choose(scores).model == "theta" and scores[1].mase < scores[0].mase
    assert seen[-1][0] == seen[-1][1]
    assert fc.skip_reason("stl_arima", []) and fc.skip_reason("theta", []) is None


def test_a_model_over_its_time_budget_is_skipped_and_says_so() -> None:
    y = daily_and_weekly(20_000)
    scores = bt.backtest(y, 336, [336, 48], 3, ["sarimax", "theta"], 0.9, no_progress, budget_s=0.2)
    statuses = {s.model: s.status for s in scores}
    assert statuses["seasonal_naive"] == "ok" and scores[0].mase is not None  # the baseline always runs
    assert statuses["sarimax"].startswith("skipped:") and "budget" in statuses["sarimax"], statuses
    assert scores[1].mase is None
    assert bt.choose(scores).model in ("seasonal_naive", "theta")


def test_the_worker_stops_an_overrunning_fit_and_restarts() -> None:
    y = daily_and_weekly(20_000)
    with FitWorker() as worker:
        with pytest.raises(FitTimeout):
            worker.predict("sarimax", y, 336, [336, 48], 0.9, timeout=0.05)
        out = worker.predict("theta", y[-2000:], 48, [48], 0.9, timeout=120)  # a fresh child answers
        assert len(out.mean) == 48
        with pytest.raises(FitFailed, match="KeyError"):
            worker.predict("prophet", y, 5, [], 0.9, timeout=60)


def test_a_cancelled_call_stops_the_fit() -> None:
    calls = {"n": 0}

    def check() -> None:
        calls["n"] += 1
        if calls["n"] > 3:
            raise ToolError("cancelled", "cancelled by the client")

    worker = FitWorker(check=check)
    y = daily_and_weekly(20_000)
    with pytest.raises(ToolError, match="cancelled"):
        worker.predict("sarimax", y, 336, [336, 48], 0.9, timeout=600)
    assert worker._proc is None  # killed, not left running
