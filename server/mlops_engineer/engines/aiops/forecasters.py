"""Forecasting models from statsmodels and the seasonal-naive baseline.

Every model maps (history as a numpy array, horizon, seasonal periods, interval level) to
a mean and a prediction interval. `periods` lists every season found, the primary (the
one MASE and seasonal naive use) first; an empty list means no season. Configurations are
fixed and small on purpose (no order search), and long seasons never become model states
(ETS with a 336-point season once spent 944 s in one fit):

- `seasonal_naive`: y[t+k] = y[t+k-m]; interval from the seasonal differences' spread,
  widened by sqrt(seasons ahead). With m = 1 it is the naive forecast.
- `ets`: ETSModel, additive error, damped additive trend; additive season when the
  only season is at most 24 points; with longer or several seasons, ETS (no season) on
  the seasonally adjusted series plus the seasonal components repeated.
- `sarimax`: SARIMAX(1,1,1)(0,1,1,m) when the only season is at most 12 points; else
  (1,1,1) errors with 4 Fourier sin/cos pairs per season as regressors (dynamic harmonic
  regression, any number of seasons); (1,1,1) with drift without a season.
- `theta`: ThetaModel with additive deseasonalisation at the primary period.
- `stl_arima`: STL (one season) or the MSTL loop (several) and ARIMA(1,1,1) with drift
  on the seasonally adjusted series, each seasonal component repeated; needs a season.

Models are fitted on the last `fit_points` points at most (4,000, or three of the
longest seasons when that is more): operational metrics change regime, and a fit's cost
grows with its length.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import numpy as np

ModelName = Literal["ets", "sarimax", "theta", "stl_arima"]
ALL_MODELS: tuple[ModelName, ...] = ("ets", "sarimax", "theta", "stl_arima")
BASELINE = "seasonal_naive"
EXTRA = "forecasting"
MAX_SEASONAL_ORDER_PERIOD = 12  # above it SARIMAX models seasons with Fourier terms
MAX_ETS_PERIOD = 24  # above it ETS runs on the seasonally adjusted series
FOURIER_PAIRS = 4
MAX_FIT_POINTS = 4000


@dataclass
class Prediction:
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def fit_points(n: int, periods: Sequence[int]) -> int:
    """How many of the latest points the models are fitted on."""
    return min(n, max(MAX_FIT_POINTS, 3 * max(periods, default=1)))


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


def _repeat_last_cycle(component: np.ndarray, period: int, h: int) -> np.ndarray:
    np = import_optional("numpy", EXTRA)
    return component[len(component) - period + np.arange(h) % period]


def _adjusted(y: np.ndarray, h: int, periods: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The seasonally adjusted series and the seasonal part of the next h points."""
    from mlops_engineer.engines.aiops.stl import decompose

    seasonal = decompose(y, periods)
    future = sum(_repeat_last_cycle(row, p, h) for row, p in zip(seasonal, sorted(periods), strict=True))
    return y - seasonal.sum(axis=0), future


def _ets(y: np.ndarray, h: int, periods: Sequence[int], level: float) -> Prediction:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    m = periods[0] if periods else 1
    own_season = len(periods) == 1 and m <= MAX_ETS_PERIOD
    target, future = (y, 0.0) if own_season or not periods else _adjusted(y, h, periods)
    fit = ETSModel(pd.Series(target), error="add", trend="add", damped_trend=True,
                   seasonal="add" if own_season else None, seasonal_periods=m if own_season else None,
                   ).fit(disp=False, maxiter=200)
    frame = fit.get_prediction(start=len(y), end=len(y) + h - 1).summary_frame(alpha=1 - level)
    return Prediction(frame["mean"].to_numpy() + future, frame["pi_lower"].to_numpy() + future,
                      frame["pi_upper"].to_numpy() + future)


def fourier(start: int, n: int, m: int, pairs: int) -> np.ndarray:
    """sin/cos terms of the first `pairs` harmonics of period m for t = start .. start+n-1."""
    np = import_optional("numpy", EXTRA)
    t = np.arange(start, start + n)[:, None]
    k = np.arange(1, pairs + 1)[None, :]
    return np.hstack([np.sin(2 * np.pi * k * t / m), np.cos(2 * np.pi * k * t / m)])


def _sarimax(y: np.ndarray, h: int, periods: Sequence[int], level: float) -> Prediction:
    import numpy as np
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    exog = future = None
    if len(periods) == 1 and periods[0] <= MAX_SEASONAL_ORDER_PERIOD:
        model = SARIMAX(y, order=(1, 1, 1), seasonal_order=(0, 1, 1, periods[0]))
    elif periods:
        # A seasonal MA at lag m needs ~m states; Fourier regressors keep the model small for any m.
        exog = np.hstack([fourier(0, len(y), p, min(FOURIER_PAIRS, p // 2)) for p in periods])
        future = np.hstack([fourier(len(y), h, p, min(FOURIER_PAIRS, p // 2)) for p in periods])
        model = SARIMAX(y, exog=exog, order=(1, 1, 1))
    else:
        model = SARIMAX(y, order=(1, 1, 1), trend="t")
    fit = model.fit(disp=False, maxiter=100)
    frame = fit.get_forecast(h, exog=future).summary_frame(alpha=1 - level)
    return Prediction(frame["mean"].to_numpy(), frame["mean_ci_lower"].to_numpy(), frame["mean_ci_upper"].to_numpy())


def _theta(y: np.ndarray, h: int, periods: Sequence[int], level: float) -> Prediction:
    from statsmodels.tsa.forecasting.theta import ThetaModel

    m = periods[0] if periods else 1
    fit = ThetaModel(y, period=m, deseasonalize=m >= 2, method="additive").fit()
    mean = fit.forecast(h).to_numpy()
    bounds = fit.prediction_intervals(h, alpha=1 - level)
    return Prediction(mean, bounds["lower"].to_numpy(), bounds["upper"].to_numpy())


def _stl_arima(y: np.ndarray, h: int, periods: Sequence[int], level: float) -> Prediction:
    from statsmodels.tsa.arima.model import ARIMA

    adjusted, future = _adjusted(y, h, periods)
    fit = ARIMA(adjusted, order=(1, 1, 1), trend="t").fit()
    frame = fit.get_forecast(h).summary_frame(alpha=1 - level)
    return Prediction(frame["mean"].to_numpy() + future, frame["mean_ci_lower"].to_numpy() + future,
                      frame["mean_ci_upper"].to_numpy() + future)


FITTERS: dict[str, Callable[[np.ndarray, int, Sequence[int], float], Prediction]] = {
    "ets": _ets, "sarimax": _sarimax, "theta": _theta, "stl_arima": _stl_arima,
}


def skip_reason(model: str, periods: Sequence[int]) -> str | None:
    if model == "stl_arima" and not periods:
        return "skipped: needs a seasonal period"
    return None


def predict(model: str, y: np.ndarray, h: int, periods: Sequence[int], level: float) -> Prediction:
    """Fit `model` on the latest `fit_points` of y and forecast h points; non-finite output is an error.
    `seasonal_naive` takes the primary period (periods[0], or 1)."""
    from mlops_engineer.engines.aiops.metric_series import single_threaded

    np = import_optional("numpy", EXTRA)
    import_optional("statsmodels", EXTRA)
    y = np.asarray(y, dtype=float)
    if model == BASELINE:
        return seasonal_naive(y, h, periods[0] if periods else 1, level)
    with warnings.catch_warnings(), np.errstate(all="ignore"), single_threaded():
        warnings.simplefilter("ignore")
        out = FITTERS[model](y[-fit_points(len(y), periods):], h, list(periods), level)
    if not (np.isfinite(out.mean).all() and np.isfinite(out.lower).all() and np.isfinite(out.upper).all()):
        raise ValueError("the fit produced non-finite forecasts")
    return out


def first_crossing(values: np.ndarray, threshold: float, direction: Literal["above", "below"]) -> int | None:
    np = import_optional("numpy", EXTRA)
    hits = np.flatnonzero(values >= threshold if direction == "above" else values <= threshold)
    return int(hits[0]) if len(hits) else None
