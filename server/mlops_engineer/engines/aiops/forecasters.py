"""Forecasting models from statsmodels, a seasonal-naive baseline, and the rolling-origin
backtest that picks among them.

Every model maps (history as a numpy array, horizon, seasonal period, interval level)
to a mean and a prediction interval. Configurations are fixed and small on purpose
(no order search), so a backtest costs a few fits per model:

- `seasonal_naive`: y[t+k] = y[t+k-m]; interval from the seasonal differences' spread,
  widened by sqrt(seasons ahead). With m = 1 it is the naive forecast.
- `ets`: ETSModel, additive error, damped additive trend, additive season.
- `sarimax`: SARIMAX(1,1,1)(0,1,1,m) for m <= 12; for longer periods (24 hourly, 168
  weekly) a seasonal MA would need ~m states and minutes per fit, so the season is
  modelled by 4 Fourier sin/cos pairs as regressors (dynamic harmonic regression)
  with (1,1,1) errors; (1,1,1) with drift when m = 1.
- `theta`: ThetaModel with additive deseasonalisation.
- `stl_arima`: STLForecast with ARIMA(1,1,1) plus drift on the seasonally adjusted
  series; needs m >= 2.

Backtest: `folds` origins, the last at n - h, each h points before the next; each model
is fitted on the points before an origin and scored on the next h. MASE divides the
mean absolute error by the in-sample mean absolute seasonal difference of that fold's
training part; sMAPE is 200 |F - A| / (|F| + |A|) averaged over points where the
denominator is not zero.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import numpy as np

ModelName = Literal["ets", "sarimax", "theta", "stl_arima"]
ALL_MODELS: tuple[ModelName, ...] = ("ets", "sarimax", "theta", "stl_arima")
BASELINE = "seasonal_naive"
EXTRA = "forecasting"
MAX_SEASONAL_ORDER_PERIOD = 12  # above it SARIMAX models the season with Fourier terms
FOURIER_PAIRS = 4


@dataclass
class Prediction:
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass
class Score:
    model: str
    mase: float | None = None
    smape: float | None = None
    folds: int = 0
    status: str = "ok"  # or "skipped: ..." / "failed: ..."
    fold_mase: list[float] = field(default_factory=list)


def _z(level: float) -> float:
    return float(import_optional("scipy.stats", EXTRA).norm.ppf((1 + level) / 2))


def seasonal_naive(y: np.ndarray, h: int, m: int, level: float) -> Prediction:
    np = import_optional("numpy", EXTRA)
    m = max(m, 1)
    steps = np.arange(h)
    mean = y[len(y) - m + steps % m]
    diffs = y[m:] - y[:-m]
    sigma = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
    width = _z(level) * sigma * np.sqrt(steps // m + 1)
    return Prediction(mean, mean - width, mean + width)


def _ets(y: np.ndarray, h: int, m: int, level: float) -> Prediction:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    seasonal = m >= 2
    fit = ETSModel(pd.Series(y), error="add", trend="add", damped_trend=True, seasonal="add" if seasonal else None,
                   seasonal_periods=m if seasonal else None).fit(disp=False, maxiter=200)
    frame = fit.get_prediction(start=len(y), end=len(y) + h - 1).summary_frame(alpha=1 - level)
    return Prediction(frame["mean"].to_numpy(), frame["pi_lower"].to_numpy(), frame["pi_upper"].to_numpy())


def fourier(start: int, n: int, m: int, pairs: int) -> np.ndarray:
    """sin/cos terms of the first `pairs` harmonics of period m for t = start .. start+n-1."""
    np = import_optional("numpy", EXTRA)
    t = np.arange(start, start + n)[:, None]
    k = np.arange(1, pairs + 1)[None, :]
    return np.hstack([np.sin(2 * np.pi * k * t / m), np.cos(2 * np.pi * k * t / m)])


def _sarimax(y: np.ndarray, h: int, m: int, level: float) -> Prediction:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    exog = future = None
    if 2 <= m <= MAX_SEASONAL_ORDER_PERIOD:
        model = SARIMAX(y, order=(1, 1, 1), seasonal_order=(0, 1, 1, m))
    elif m > MAX_SEASONAL_ORDER_PERIOD:
        # A seasonal MA at lag m needs ~m states; Fourier regressors keep the model small for any m.
        pairs = min(FOURIER_PAIRS, m // 2)
        exog, future = fourier(0, len(y), m, pairs), fourier(len(y), h, m, pairs)
        model = SARIMAX(y, exog=exog, order=(1, 1, 1))
    else:
        model = SARIMAX(y, order=(1, 1, 1), trend="t")
    fit = model.fit(disp=False, maxiter=100)
    frame = fit.get_forecast(h, exog=future).summary_frame(alpha=1 - level)
    return Prediction(frame["mean"].to_numpy(), frame["mean_ci_lower"].to_numpy(), frame["mean_ci_upper"].to_numpy())


def _theta(y: np.ndarray, h: int, m: int, level: float) -> Prediction:
    from statsmodels.tsa.forecasting.theta import ThetaModel

    fit = ThetaModel(y, period=max(m, 1), deseasonalize=m >= 2, method="additive").fit()
    mean = fit.forecast(h).to_numpy()
    bounds = fit.prediction_intervals(h, alpha=1 - level)
    return Prediction(mean, bounds["lower"].to_numpy(), bounds["upper"].to_numpy())


def _stl_arima(y: np.ndarray, h: int, m: int, level: float) -> Prediction:
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.forecasting.stl import STLForecast

    fit = STLForecast(y, ARIMA, model_kwargs={"order": (1, 1, 1), "trend": "t"}, period=m, robust=True).fit()
    frame = fit.get_prediction(start=len(y), end=len(y) + h - 1).summary_frame(alpha=1 - level)
    return Prediction(frame["mean"].to_numpy(), frame["mean_ci_lower"].to_numpy(), frame["mean_ci_upper"].to_numpy())


FITTERS: dict[str, Callable[[np.ndarray, int, int, float], Prediction]] = {
    BASELINE: seasonal_naive, "ets": _ets, "sarimax": _sarimax, "theta": _theta, "stl_arima": _stl_arima,
}


def skip_reason(model: str, m: int) -> str | None:
    if model == "stl_arima" and m < 2:
        return "skipped: needs a seasonal period"
    return None


def predict(model: str, y: np.ndarray, h: int, m: int, level: float) -> Prediction:
    """Fit `model` on y and forecast h points; non-finite output is an error."""
    from mlops_engineer.engines.aiops.metric_series import single_threaded

    np = import_optional("numpy", EXTRA)
    import_optional("statsmodels", EXTRA)
    with warnings.catch_warnings(), np.errstate(all="ignore"), single_threaded():
        warnings.simplefilter("ignore")
        out = FITTERS[model](np.asarray(y, dtype=float), h, m, level)
    if not (np.isfinite(out.mean).all() and np.isfinite(out.lower).all() and np.isfinite(out.upper).all()):
        raise ValueError("the fit produced non-finite forecasts")
    return out


def mase(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, m: int) -> float:
    np = import_optional("numpy", EXTRA)
    m = max(m, 1)
    scale = float(np.mean(np.abs(train[m:] - train[:-m])))
    if scale <= 1e-12:
        return math.inf if float(np.mean(np.abs(actual - forecast))) > 0 else 0.0
    return float(np.mean(np.abs(actual - forecast)) / scale)


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    np = import_optional("numpy", EXTRA)
    denominator = np.abs(actual) + np.abs(forecast)
    keep = denominator > 0
    if not keep.any():
        return 0.0
    return float(np.mean(200 * np.abs(forecast - actual)[keep] / denominator[keep]))


def origins(n: int, h: int, folds: int, m: int) -> list[int]:
    """Fold origins (training lengths), oldest first; as many of `folds` as leave enough training data."""
    minimum = max(2 * m, 10) + 1
    out = [n - h * k for k in range(folds, 0, -1)]
    out = [o for o in out if o >= minimum]
    if not out:
        raise ToolError("invalid_input", f"{n} points is too few to backtest a {h}-point horizon with seasonal period {m} "
                        f"(each fold needs at least {minimum} training points before it)",
                        "Load a longer range, forecast a shorter horizon, or pass a shorter seasonal_period.")
    return out


def backtest(y: np.ndarray, h: int, m: int, folds: int, models: list[str], level: float,
             progress: Callable[[int, int, str], None]) -> list[Score]:
    """Rolling-origin scores for the baseline and every model (baseline first)."""
    np = import_optional("numpy", EXTRA)
    cuts = origins(len(y), h, folds, m)
    names = [BASELINE, *[x for x in models if x != BASELINE]]
    total, done = len(names) * len(cuts), 0
    scores = []
    for name in names:
        score = Score(model=name)
        reason = skip_reason(name, m)
        if reason:
            score.status = reason
            scores.append(score)
            done += len(cuts)
            continue
        smapes = []
        for cut in cuts:
            progress(done, total, f"backtest {name} fold {len(score.fold_mase) + 1}/{len(cuts)}")
            done += 1
            train, actual = y[:cut], y[cut:cut + h]
            try:
                out = predict(name, train, len(actual), m, level)
            except Exception as exc:  # a model that cannot fit this series is reported, not fatal
                score.status = f"failed: {type(exc).__name__}: {str(exc)[:160]}"
                break
            score.fold_mase.append(mase(actual, out.mean, train, m))
            smapes.append(smape(actual, out.mean))
        if score.status == "ok":
            score.folds = len(cuts)
            score.mase = round(float(np.mean(score.fold_mase)), 4)
            score.smape = round(float(np.mean(smapes)), 4)
        scores.append(score)
    progress(total, total, "backtest done")
    return scores


def choose(scores: list[Score]) -> Score:
    """The lowest mean MASE; the baseline wins ties and whenever nothing else scored."""
    scored = [s for s in scores if s.mase is not None and math.isfinite(s.mase)]
    if not scored:
        raise ToolError("failed", "no model, not even the seasonal-naive baseline, could be backtested on this series",
                        "Check the series for long flat or extreme stretches; see each model's status.")
    return min(scored, key=lambda s: (s.mase, s.model != BASELINE))


def first_crossing(values: np.ndarray, threshold: float, direction: Literal["above", "below"]) -> int | None:
    np = import_optional("numpy", EXTRA)
    hits = np.flatnonzero(values >= threshold if direction == "above" else values <= threshold)
    return int(hits[0]) if len(hits) else None
