"""The rolling-origin backtest that picks a forecasting model, within a time budget.

Backtest: `folds` origins, the last at n - h, each h points before the next; each model
is fitted on the points before an origin and scored on the next h. MASE divides the mean
absolute error by the in-sample mean absolute seasonal difference (primary period) of
that fold's training part; sMAPE is 200 |F - A| / (|F| + |A|) averaged over points where
the denominator is not zero.

The baseline is the best seasonal naive: every candidate period (1, the calendar seasons
of the grid, the seasons found) is backtested and the lowest mean MASE is kept, so no
model is chosen that a plain "same time yesterday" beats.

Time budget: the models share `budget_s` seconds (each gets the budget left divided by
the models left, so a fast model's savings go to the next). Every fit runs in the
`fit_worker` child with the model's remaining share as its timeout; a model whose fit
overruns, or whose first folds show the rest cannot finish in its share, is skipped and
reported as skipped, with the time it needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlops_engineer.engines.aiops import forecasters as fc
from mlops_engineer.engines.aiops.fit_worker import FitFailed, FitTimeout, FitWorker
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import numpy as np

EXTRA = "forecasting"


@dataclass
class Score:
    model: str
    mase: float | None = None
    smape: float | None = None
    folds: int = 0
    status: str = "ok"  # or "skipped: ..." / "failed: ..."
    period: int | None = None  # seasonal_naive: the period that backtested best
    fold_mase: list[float] = field(default_factory=list)
    seconds: float = 0.0  # slowest fold fit: what a refit on all points is expected to take


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


def _finish(score: Score, smapes: list[float], folds: int) -> Score:
    np = import_optional("numpy", EXTRA)
    if score.status == "ok":
        score.folds = folds
        score.mase = round(float(np.mean(score.fold_mase)), 4)
        score.smape = round(float(np.mean(smapes)), 4)
    return score


def best_seasonal_naive(y: np.ndarray, h: int, m: int, cuts: list[int], candidates: Sequence[int], level: float) -> Score:
    """The seasonal naive whose period backtests best (ties: the shorter period)."""
    best: Score | None = None
    for period in sorted({1, *candidates}):
        if period > cuts[0]:
            continue
        score, smapes = Score(model=fc.BASELINE, period=period), []
        for cut in cuts:
            train, actual = y[:cut], y[cut:cut + h]
            out = fc.seasonal_naive(train, len(actual), period, level)
            score.fold_mase.append(mase(actual, out.mean, train, m))
            smapes.append(smape(actual, out.mean))
        _finish(score, smapes, len(cuts))
        if best is None or (score.mase is not None and best.mase is not None and score.mase < best.mase):
            best = score
    assert best is not None  # period 1 always fits
    return best


def backtest(y: np.ndarray, h: int, periods: Sequence[int], folds: int, models: list[str], level: float,
             progress: Callable[[int, int, str], None], *, naive_periods: Sequence[int] = (),
             budget_s: float = math.inf, worker: FitWorker | None = None) -> list[Score]:
    """Rolling-origin scores for the best seasonal naive and every model (baseline first)."""
    m = periods[0] if periods else 1
    cuts = origins(len(y), h, folds, m)
    names = [x for x in models if x != fc.BASELINE]
    total = len(names) * len(cuts) + 1
    progress(0, total, "backtest seasonal naive")
    scores = [best_seasonal_naive(y, h, m, cuts, [*naive_periods, *periods], level)]
    own = worker is None
    worker = worker or FitWorker()
    try:
        if names:
            worker.start()  # importing statsmodels in the child is charged to no model
        deadline = time.monotonic() + budget_s
        for i, name in enumerate(names):
            share = max(deadline - time.monotonic(), 0.0) / (len(names) - i)
            scores.append(_score_model(name, y, h, periods, cuts, level, share, budget_s, worker,
                                       lambda k, n=name, i=i: progress(1 + i * len(cuts) + k, total,
                                                                       f"backtest {n} fold {k + 1}/{len(cuts)}")))
    finally:
        if own:
            worker.close()
    progress(total, total, "backtest done")
    return scores


def _score_model(name: str, y: np.ndarray, h: int, periods: Sequence[int], cuts: list[int], level: float, share: float,
                 budget_s: float, worker: FitWorker, step: Callable[[int], None]) -> Score:
    score = Score(model=name, period=periods[0] if periods else None)
    reason = fc.skip_reason(name, periods)
    if reason:
        score.status = reason
        return score
    m = periods[0] if periods else 1
    smapes: list[float] = []
    spent = 0.0
    of_budget = f"its {share:.1f} s share of the {budget_s:g} s budget" if math.isfinite(budget_s) else "its time"
    for k, cut in enumerate(cuts):
        step(k)
        train, actual = y[:cut], y[cut:cut + h]
        started = time.monotonic()
        try:
            out = worker.predict(name, train, len(actual), periods, level, timeout=max(share - spent, 0.01))
        except FitTimeout:
            score.status = f"skipped: fold {k + 1} did not finish within {of_budget}"
            break
        except FitFailed as exc:  # a model that cannot fit this series is reported, not fatal
            score.status = f"failed: {str(exc)[:160]}"
            break
        took = time.monotonic() - started
        spent += took
        score.seconds = max(score.seconds, round(took, 2))
        score.fold_mase.append(mase(actual, out.mean, train, m))
        smapes.append(smape(actual, out.mean))
        left = len(cuts) - k - 1
        if left and spent + took * left > share:
            score.status = (f"skipped: {k + 1} fold(s) took {spent:.1f} s; all {len(cuts)} would need about "
                            f"{spent + took * left:.0f} s, over {of_budget}")
            break
    return _finish(score, smapes, len(cuts))


def choose(scores: list[Score]) -> Score:
    """The lowest mean MASE; the baseline wins ties and whenever nothing else scored."""
    scored = [s for s in scores if s.mase is not None and math.isfinite(s.mase)]
    if not scored:
        raise ToolError("failed", "no model, not even the seasonal-naive baseline, could be backtested on this series",
                        "Check the series for long flat or extreme stretches; see each model's status.")
    return min(scored, key=lambda s: (s.mase, s.model != fc.BASELINE))
