"""Forecast an operational metric (CSV/Parquet or PromQL) with the statsmodels model that wins
a backtest, with intervals and the time a capacity threshold is first crossed.

ETS, SARIMAX, Theta and STL + ARIMA compete in a rolling-origin backtest (MASE and sMAPE)
beside the best seasonal-naive baseline, within a time budget; the best one is refitted and
forecasts the horizon with prediction intervals. With a capacity threshold it reports when
the forecast, and its interval bound, first crosses it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.aiops.forecasters import ALL_MODELS, ModelName
from mlops_engineer.engines.aiops.metric_series import Cleaning, SeriesReport, Source
from mlops_engineer.output import TablePreview
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext

if TYPE_CHECKING:
    from mlops_engineer.engines.aiops.metric_series import MetricSeries

MAX_HORIZON = 10_000


class _SeriesModels(StrictModel):
    """What `forecast` and `backtest` share: the series and the competing models."""

    series: Source = Field(description="The metric: a file, or a PromQL query that returns exactly one series.")
    horizon: int = Field(ge=1, le=MAX_HORIZON, description="Points to forecast, in the series' step (168 = a week of hourly points).")
    seasonal_period: int | None = Field(default=None, ge=1, description="Points per season (24 = daily for hourly data, 12 for monthly); inferred when omitted; 1 = none.")
    models: list[ModelName] = Field(default_factory=lambda: list(ALL_MODELS), min_length=1,
                                    description="Candidates; the seasonal-naive baseline is always backtested too.")
    folds: int = Field(default=3, ge=1, le=10, description="Rolling-origin backtest folds, each `backtest_horizon` points.")
    backtest_horizon: int | None = Field(default=None, ge=1, description="Points per backtest fold; min(horizon, one season or 24) when omitted.")
    level: float = Field(default=0.9, gt=0.5, lt=1, description="Prediction interval coverage.")
    time_budget_s: float = Field(default=40, ge=1, le=3600, description="Seconds all model fits may take (backtest and final fit); a model that cannot fit within its share is skipped and reported as skipped.")
    cleaning: Cleaning = Field(default_factory=Cleaning, description="Duplicate timestamps and gaps policy.")
    output_dir: str = Field(default="mlops/aiops/forecasts", description="Workspace folder for the forecast, scores and plot.")


class Backtest(_SeriesModels):
    """Compare the models only (scores CSV); no forecast."""

    action: Literal["backtest"]


class Forecast(_SeriesModels):
    """Pick a model by backtest; forecast with intervals.

    Writes the forecast (CSV: timestamp, mean, lower, upper), the backtest scores (CSV) and a
    PNG; returns the chosen model, the scores and the capacity crossing times.
    """

    action: Literal["forecast"]
    capacity_threshold: float | None = Field(default=None, description="Report when the forecast first reaches this value.")
    direction: Literal["above", "below"] = Field(default="above", description="above: the metric grows towards the limit (CPU, disk used); below: it falls towards it (free disk).")
    plot: bool = True


Operation = Annotated[Forecast | Backtest, Field(discriminator="action")]


class ForecastInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")


class ModelScoreOut(BaseModel):
    model: str
    mase: float | None = Field(description="Mean MASE over the folds (below 1: better than the in-sample seasonal naive).")
    smape: float | None = Field(description="Mean sMAPE over the folds, in percent (0 to 200).")
    folds: int
    status: str = Field(description="ok, skipped: <why> or failed: <error>.")
    period: int | None = Field(default=None, description="The seasonal period used; for seasonal_naive, the one that backtested best.")


class Capacity(BaseModel):
    threshold: float
    direction: Literal["above", "below"]
    forecast_crosses_at: str | None = Field(description="First forecast timestamp where the mean reaches the threshold; null if not within the horizon.")
    bound_crosses_at: str | None = Field(description="Same for the interval bound (upper when direction=above, lower when below): the earliest plausible time.")
    already_crossed: bool = Field(description="The last observed value is already past the threshold.")


class ForecastSummary(BaseModel):
    start: str
    end: str
    points: int
    mean_first: float
    mean_last: float
    mean_min: float
    mean_max: float
    level: float
    rows: TablePreview = Field(description="The first forecast rows (all rows are in forecast_path).")


class ForecastOutput(ToolOutput):
    action: str
    series: SeriesReport | None = None
    chosen_model: str | None = None
    backtest_horizon: int | None = None
    fit_points: int | None = Field(default=None, description="Models are fitted on the latest this-many points.")
    notes: list[str] = Field(default_factory=list, description="Decisions worth knowing (a final fit that fell back to the baseline).")
    chosen: ModelScoreOut | None = None
    baseline: ModelScoreOut | None = Field(default=None, description="The seasonal-naive baseline's backtest scores.")
    beats_baseline: bool | None = Field(default=None, description="The chosen model's MASE is lower than the baseline's.")
    scores: list[ModelScoreOut] = Field(default_factory=list)
    forecast: ForecastSummary | None = None
    capacity: Capacity | None = None
    forecast_path: str | None = None
    scores_path: str | None = None
    plot_path: str | None = None


def run(inp: ForecastInput, ctx: ToolContext) -> ForecastOutput:
    from mlops_engineer.engines.aiops import metric_series as ms
    from mlops_engineer.errors import ToolError
    from mlops_engineer.optional import import_optional

    op = inp.operation
    base = ForecastOutput(action=op.action, dry_run=inp.dry_run)
    ctx.workspace.resolve(op.output_dir)
    if isinstance(op.series, ms.FileSource):
        ctx.workspace.resolve(op.series.path, must_exist=True)
    source = op.series.path if isinstance(op.series, ms.FileSource) else f"query_range {op.series.url} {op.series.query!r}"
    base.planned_calls = [
        f"read {source}",
        f"backtest the best seasonal_naive + {', '.join(op.models)} over {op.folds} fold(s) within {op.time_budget_s:g} s",
        *([f"refit the best on all points and forecast {op.horizon} points",
           f"write forecast, scores{' and plot' if op.plot else ''} under {op.output_dir}/"]
          if isinstance(op, Forecast) else [f"write scores under {op.output_dir}/"]),
    ]
    if inp.dry_run:
        return base
    import_optional("statsmodels", "forecasting")
    loaded = ms.load([op.series], ctx.workspace, op.cleaning)
    if len(loaded) != 1:
        names = ", ".join(s.name for s in loaded[:5])
        raise ToolError("invalid_input", f"the query returned {len(loaded)} series ({names}); a forecast needs exactly one",
                        "Aggregate or filter the PromQL, e.g. sum(rate(x[5m])) or x{instance=\"a\"}.")
    series = loaded[0]
    return _forecast(series, op, ctx, base)


def _forecast(series: MetricSeries, op: Forecast | Backtest, ctx: ToolContext, base: ForecastOutput) -> ForecastOutput:
    import numpy as np
    import pandas as pd

    from mlops_engineer.engines.aiops import backtest as bt
    from mlops_engineer.engines.aiops import forecasters as fc
    from mlops_engineer.engines.aiops import plots
    from mlops_engineer.engines.aiops.fit_worker import FitWorker
    from mlops_engineer.engines.aiops.frequency import fixed
    from mlops_engineer.engines.aiops.metric_series import slug
    from mlops_engineer.engines.aiops.regular_grid import check_varies
    from mlops_engineer.engines.aiops.seasonality import candidate_periods, set_period
    from mlops_engineer.output import preview_table

    check_varies(series)
    m = set_period(series, op.seasonal_period)
    periods = series.report.seasonal_periods
    y = series.values.to_numpy(dtype=float)
    h_bt = op.backtest_horizon or min(op.horizon, m if m >= 2 else 24)
    deadline = time.monotonic() + op.time_budget_s
    naive_periods = [] if op.seasonal_period else candidate_periods(series.frequency or series.report.step_seconds)
    with FitWorker(check=ctx.check_cancelled) as worker:
        # Three quarters of the budget for the backtest; the rest for the winner's final fit.
        scores = bt.backtest(y, h_bt, periods, op.folds, list(op.models), op.level,
                             lambda d, t, msg: ctx.progress(d, t + 1, msg), naive_periods=naive_periods,
                             budget_s=0.75 * op.time_budget_s, worker=worker)
        best = bt.choose(scores)
        baseline_score = scores[0]
        if isinstance(op, Forecast):  # fitted before anything is written: a failure leaves no files
            prediction, best = _final_fit(best, baseline_score, y, op, periods, deadline, worker, base)
            ctx.progress(1, 1, f"forecast with {best.model}")
    base.fit_points = fc.fit_points(len(y), periods)
    stem = f"{op.output_dir}/{slug(series.name)}"
    outs = [ModelScoreOut(model=s.model, mase=s.mase, smape=s.smape, folds=s.folds, status=s.status, period=s.period)
            for s in scores]
    scores_path = ctx.workspace.write_text(f"{stem}-backtest.csv", pd.DataFrame([o.model_dump() for o in outs]).to_csv(index=False))
    baseline = outs[0]
    chosen = next(o for o in outs if o.model == best.model)
    base.series = series.report
    base.chosen_model, base.chosen, base.baseline, base.scores = best.model, chosen, baseline, outs
    base.backtest_horizon = h_bt
    base.beats_baseline = baseline.mase is not None and chosen.mase is not None and chosen.mase < baseline.mase
    base.scores_path = ctx.workspace.relative(scores_path)
    if isinstance(op, Backtest):
        return base
    grid = series.frequency or fixed(series.report.step_seconds)
    index = grid.after(series.values.index[-1], op.horizon)  # calendar-aware: month starts stay month starts
    stamps = [t.isoformat().replace("+00:00", "Z") for t in index]
    table = pd.DataFrame({"timestamp": stamps, "mean": prediction.mean, "lower": prediction.lower,
                          "upper": prediction.upper}).round(6)
    forecast_path = ctx.workspace.write_text(f"{stem}-forecast.csv", table.to_csv(index=False))
    base.forecast = ForecastSummary(
        start=stamps[0], end=stamps[-1], points=op.horizon, level=op.level,
        mean_first=round(float(prediction.mean[0]), 6), mean_last=round(float(prediction.mean[-1]), 6),
        mean_min=round(float(np.min(prediction.mean)), 6), mean_max=round(float(np.max(prediction.mean)), 6),
        rows=preview_table(ctx.workspace, f"forecast-{slug(series.name)}", table.to_dict("records"), limit=10),
    )
    if op.capacity_threshold is not None:
        bound = prediction.upper if op.direction == "above" else prediction.lower
        at_mean = fc.first_crossing(prediction.mean, op.capacity_threshold, op.direction)
        at_bound = fc.first_crossing(bound, op.capacity_threshold, op.direction)
        last = float(y[-1])
        base.capacity = Capacity(
            threshold=op.capacity_threshold, direction=op.direction,
            forecast_crosses_at=stamps[at_mean] if at_mean is not None else None,
            bound_crosses_at=stamps[at_bound] if at_bound is not None else None,
            already_crossed=last >= op.capacity_threshold if op.direction == "above" else last <= op.capacity_threshold,
        )
    base.forecast_path = ctx.workspace.relative(forecast_path)
    if op.plot:
        history = series.values.iloc[-min(max(op.horizon * 3, 4 * m, 48), 5000):]
        title = f"{series.name}: {best.model} (MASE {chosen.mase}) vs seasonal naive (MASE {baseline.mase})"
        png = plots.forecast(history, index, prediction.mean, prediction.lower, prediction.upper, title,
                             op.capacity_threshold, op.level)
        base.plot_path = ctx.workspace.relative(ctx.workspace.write_bytes(f"{stem}-forecast.png", png))
    return base


def _final_fit(best: Any, baseline: Any, y: Any, op: Forecast, periods: list[int], deadline: float, worker: Any,
               base: ForecastOutput) -> tuple[Any, Any]:
    """The winner refitted on all points and forecast; the baseline when the refit overruns the
    budget (at least twice its slowest fold) or fails, and the notes say so."""
    from mlops_engineer.engines.aiops import forecasters as fc
    from mlops_engineer.engines.aiops.fit_worker import FitFailed, FitTimeout

    naive = lambda: fc.seasonal_naive(y, op.horizon, baseline.period or 1, op.level)  # noqa: E731
    if best.model == fc.BASELINE:
        return naive(), best
    timeout = max(deadline - time.monotonic(), 2 * best.seconds, 1.0)
    try:
        return worker.predict(best.model, y, op.horizon, periods, op.level, timeout=timeout), best
    except (FitTimeout, FitFailed) as exc:
        why = "did not finish" if isinstance(exc, FitTimeout) else f"failed ({exc})"
        base.notes.append(f"{best.model} won the backtest but its final fit {why} within {timeout:.1f} s: "
                          f"the seasonal naive (period {baseline.period}) forecasts instead")
        return naive(), baseline


def summarize(out: ForecastOutput) -> str:
    if out.dry_run or out.chosen is None:
        return "[dry run] Would: " + "; ".join(out.planned_calls)
    if out.action == "backtest":
        return (f"{out.series.name if out.series else 'series'}: best {out.chosen_model} (MASE {out.chosen.mase}) vs "
                f"seasonal naive (MASE {out.baseline.mase if out.baseline else None}); scores in {out.scores_path}.")
    head = (f"{out.series.name if out.series else 'series'}: {out.chosen_model} chosen (MASE {out.chosen.mase}, "
            f"sMAPE {out.chosen.smape}) vs seasonal naive (MASE {out.baseline.mase if out.baseline else None}); "
            f"{out.forecast.points if out.forecast else 0} points forecast to {out.forecast.end if out.forecast else '?'}.")
    if out.capacity:
        cap = out.capacity
        when = cap.forecast_crosses_at or "not within the horizon"
        head += f" Threshold {cap.threshold:g} ({cap.direction}): forecast crosses {when}; bound crosses {cap.bound_crosses_at or 'not within the horizon'}."
    return head


TOOL = ToolSpec(
    name="forecast_operational_metrics",
    title="Forecast operational metrics and capacity (statsmodels)",
    description=__doc__ or "",
    input_model=ForecastInput,
    output_model=ForecastOutput,
    run=run,
    summarize=summarize,
    # Writes only its own output files (same input, same files); reads Prometheus.
    hints=Hints(read_only=False, destructive=False, idempotent=True, open_world=True),
    input_hint='e.g. {"operation": {"action": "forecast", "series": {"kind": "file", "path": "cpu.csv"}, "horizon": 168, "capacity_threshold": 90}}.',
)
