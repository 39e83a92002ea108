"""Detect anomalies in operational metrics (CSV/Parquet or PromQL): anomaly windows with a
severity, alerts for sustained ones, and preceding deploys as root-cause hints.

Every point after a baseline window is scored with STL + robust z-score, Isolation Forest on
windowed features, or a seasonal ESD test; flagged points are grouped into windows; an alert
is raised only for sustained anomalies; deployment events (given, or MLflow model-version
creations) that preceded each window are attached as hints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.aiops.anomaly_detectors import Method
from mlops_engineer.engines.aiops.metric_series import Cleaning, SeriesReport, Source
from mlops_engineer.engines.mlflow.backend import TrackingUri
from mlops_engineer.grammar import HttpUrl, OneLine
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.render import FileChange
from mlops_engineer.runtime import ToolContext

if TYPE_CHECKING:
    from mlops_engineer.engines.aiops.anomaly_detectors import Detection
    from mlops_engineer.engines.aiops.anomaly_windows import AnomalyWindow
    from mlops_engineer.engines.aiops.baseline import Baseline
    from mlops_engineer.engines.aiops.metric_series import MetricSeries

MAX_WINDOWS_SHOWN = 25


class DeployEvent(StrictModel):
    timestamp: datetime = Field(description="When it happened (ISO 8601 or unix seconds; UTC if no zone).")
    name: str = Field(min_length=1, description="What happened, e.g. 'deploy checkout v2.3'.")


class ModelVersionEvents(StrictModel):
    models: list[str] = Field(min_length=1, max_length=20, description="Registered model names; each version's creation time is an event.")
    tracking_uri: TrackingUri = None


class Detect(StrictModel):
    """Score series, find anomaly windows, alert, plot.

    Writes per-series scores and windows (CSV) and a PNG plot; pushes the scores to a
    Pushgateway when pushgateway_url is given.
    """

    action: Literal["detect"]
    series: list[Source] = Field(min_length=1, max_length=10, description="Where the series come from; a PromQL query may return several.")
    method: Method = Field(default="stl", description="stl: STL residual robust z (pointwise and sustained); iforest: Isolation Forest on windowed features; esd: seasonal hybrid ESD test.")
    baseline_days: float | None = Field(default=None, gt=0, description="The first this-many days are the baseline ('normal'); later points are scored. Default 30, or the first half of a shorter series.")
    seasonal_period: int | None = Field(default=None, ge=1, description="Points per season (24 = daily for hourly data); inferred when omitted.")
    threshold: float = Field(default=3.5, gt=0, description="A point is anomalous when its score exceeds this (robust z units; not used by esd).")
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="Significance level of the ESD test.")
    max_anomalies: float = Field(default=0.1, gt=0, le=0.5, description="ESD: largest share of scored points that can be anomalous.")
    window_points: int = Field(default=1, ge=1, description="Points per scoring window (1 = each point is a window).")
    merge_gap: int = Field(default=1, ge=0, description="Anomalous windows separated by at most this many normal ones form one anomaly window.")
    alert_after_windows: int = Field(default=3, ge=0, description="Alert when an anomaly window lasts more than this many consecutive windows.")
    cleaning: Cleaning = Field(default_factory=lambda: Cleaning(long_gaps="fill"), description="Duplicate timestamps and gaps policy; long gaps are bridged and not scored.")
    events: list[DeployEvent] = Field(default_factory=list, max_length=1000, description="Deployment events to correlate.")
    model_events: ModelVersionEvents | None = Field(default=None, description="Also use MLflow model-version creation times as events.")
    lookback_hours: float = Field(default=24, gt=0, description="An event is a hint for a window that starts within this many hours after it.")
    pushgateway_url: str | None = Field(default=None, pattern=r"^https?://", description="Push scores here (job `push_job`, label `series`).")
    push_job: str = Field(default="aiops_anomaly", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    output_dir: str = Field(default="mlops/aiops/anomalies", description="Workspace folder for scores, windows and plots.")
    plot: bool = Field(default=True, description="Write a PNG per series.")


class RenderJob(StrictModel):
    """Hourly scoring script and cron entry.

    The script queries Prometheus and pushes scores to a Pushgateway.
    """

    action: Literal["render_job"]
    prometheus_url: HttpUrl = Field(description="Prometheus the job queries; credentials in it are read from PROMETHEUS_URL at run time, never written.")
    query: OneLine = Field(min_length=1, description="PromQL expression to score.")
    pushgateway_url: HttpUrl = Field(description="Pushgateway the job pushes scores to; credentials likewise from PUSHGATEWAY_URL.")
    job_name: str = Field(default="aiops_anomaly", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    baseline_days: float = Field(default=30, gt=0)
    step_seconds: int = Field(default=3600, ge=1)
    seasonal_period: int = Field(default=24, ge=1)
    threshold: float = Field(default=3.5, gt=0)
    alert_after_windows: int = Field(default=3, ge=0)
    output_dir: OneLine = Field(default="mlops/aiops/job", description="Workspace folder for score_job.py and its crontab line.")


Operation = Annotated[Detect | RenderJob, Field(discriminator="action")]


class DetectInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")


class WindowOut(BaseModel):
    start: str
    end: str
    windows: int = Field(description="Consecutive scoring windows it spans.")
    anomalous_points: int
    peak_score: float
    peak_at: str
    severity: Literal["low", "medium", "high"]
    alert: bool = Field(description="True when it lasted more than alert_after_windows windows.")
    hints: list[str] = Field(default_factory=list, description="Events in the look-back before it: 'time name'.")


class SeriesResult(BaseModel):
    series: SeriesReport
    method: str
    baseline_points: int
    baseline_days: float
    notes: list[str] = Field(default_factory=list, description="What the defaults decided for this series (a shortened baseline, bridged gaps, a constant series).")
    scored_points: int
    anomalous_points: int
    max_score: float
    anomaly_windows: int
    alerts: int
    windows: list[WindowOut] = Field(description=f"The first {MAX_WINDOWS_SHOWN} anomaly windows (all are in windows_path).")
    scores_path: str
    windows_path: str
    plot_path: str | None = None


class DetectOutput(ToolOutput):
    action: str
    results: list[SeriesResult] = Field(default_factory=list)
    pushed: list[str] = Field(default_factory=list, description="Metric lines pushed to the Pushgateway.")
    files: list[FileChange] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)


def run(inp: DetectInput, ctx: ToolContext) -> DetectOutput:
    op = inp.operation
    base = DetectOutput(action=op.action, dry_run=inp.dry_run)
    if isinstance(op, RenderJob):
        return _render_job(op, inp, ctx, base)
    return _detect(op, inp, ctx, base)


def _detect(op: Detect, inp: DetectInput, ctx: ToolContext, base: DetectOutput) -> DetectOutput:
    from mlops_engineer.engines.aiops import metric_series as ms
    from mlops_engineer.engines.aiops.metric_series import FileSource
    from mlops_engineer.optional import import_optional

    ctx.workspace.resolve(op.output_dir)
    for source in op.series:
        if isinstance(source, FileSource):
            ctx.workspace.resolve(source.path, must_exist=True)
    base.planned_calls = [
        *(f"read {s.path}" if isinstance(s, FileSource) else f"query_range {s.url} {s.query!r}" for s in op.series),
        f"score with {op.method} after a " + (f"{op.baseline_days:g}-day baseline" if op.baseline_days else
                                               "30-day baseline (the first half of a shorter series)"),
        *([f"list versions of MLflow models {op.model_events.models}"] if op.model_events else []),
        f"write scores, windows{' and a plot' if op.plot else ''} per series under {op.output_dir}/",
        *([f"push to {op.pushgateway_url} job={op.push_job}"] if op.pushgateway_url else []),
    ]
    if inp.dry_run:
        return base
    import_optional("statsmodels", "forecasting")
    if op.method == "iforest":
        import_optional("sklearn", "tracking")
    if op.pushgateway_url:
        import_optional("prometheus_client", "monitoring")
    loaded = ms.load(list(op.series), ctx.workspace, op.cleaning)
    events = sorted([(e.timestamp if e.timestamp.tzinfo else e.timestamp.replace(tzinfo=UTC), e.name) for e in op.events])
    if op.model_events:
        events = sorted(events + _model_version_events(op.model_events, ctx))
    computed = []
    for i, series in enumerate(loaded):
        ctx.progress(i, len(loaded), f"scoring {series.name}")
        computed.append(score_series(series, op))
    ctx.progress(len(loaded), len(loaded), "scored")
    # Everything is computed before the first push or write: a bad series changes nothing, and
    # the push goes first so an unreachable gateway leaves no files behind either.
    samples = [s for series, scored in zip(loaded, computed, strict=True)
               for s in _samples(series.name, scored.detection, scored.windows)]
    if op.pushgateway_url:
        from mlops_engineer.engines import prometheus

        prometheus.push(op.pushgateway_url, op.push_job, samples, {"method": op.method})
        base.pushed = [f'{s.name}{{series="{s.labels["series"]}"}} {s.value:g}' for s in samples][:50]
    for series, scored in zip(loaded, computed, strict=True):
        base.results.append(_write_outputs(series, scored, events, op, ctx))
    alerts = sum(r.alerts for r in base.results)
    if alerts:
        base.next_steps.append("Look at the alert windows' hints first: an event shortly before an anomaly is the usual cause.")
    base.next_steps.append("Schedule it hourly: action render_job writes a scoring script and a cron entry.")
    return base


@dataclass
class Scored:
    baseline: Baseline
    detection: Detection
    windows: list[AnomalyWindow]
    notes: list[str]


def score_series(series: MetricSeries, op: Detect) -> Scored:
    """Baseline, scores, flags and windows of one series with the call's settings (the
    benchmarks call this too, so what they measure is what the tool does)."""
    from mlops_engineer.engines.aiops import anomaly_detectors as ad
    from mlops_engineer.engines.aiops import baseline as bl
    from mlops_engineer.engines.aiops.anomaly_windows import windows
    from mlops_engineer.engines.aiops.seasonality import set_period

    period = set_period(series, op.seasonal_period)
    baseline = bl.choose(series.report.points, series.report.step_seconds, op.baseline_days, period, series.name)
    notes = [baseline.note] if baseline.note else []
    if series.report.gaps_bridged:
        notes.append(f"{series.report.gaps_bridged} points in gaps longer than {op.cleaning.max_gap} points are "
                     "bridged to keep the grid and not scored")
    if float(series.values.max()) == float(series.values.min()):
        notes.append("the series is constant: nothing can be anomalous")
    sustain = (op.alert_after_windows + 1) * op.window_points  # the span an alert needs
    detection = ad.detect(series.values, baseline.points, period, op.method, op.threshold, op.alpha, op.max_anomalies,
                          sustain=sustain, filled=series.filled, bridged=series.bridged)
    index = series.values.index[baseline.points:]
    found = windows(index, detection, op.window_points, op.threshold, op.merge_gap, op.alert_after_windows)
    return Scored(baseline, detection, found, notes)


def _model_version_events(spec: ModelVersionEvents, ctx: ToolContext) -> list[tuple[datetime, str]]:
    from mlops_engineer.engines.mlflow.backend import (
        check_reachable,
        make_client,
        resolve_target,
        translate_errors,
    )

    target = resolve_target(ctx.workspace, ctx.settings, spec.tracking_uri)
    check_reachable(target)
    client = make_client(target)
    events = []
    with translate_errors(target):
        for name in spec.models:
            escaped = name.replace("'", "\\'")
            for version in client.search_model_versions(f"name = '{escaped}'"):
                when = datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
                events.append((when, f"model {name} v{version.version} created"))
    return events


def _hints(window: AnomalyWindow, events: list[tuple[datetime, str]], lookback_hours: float) -> list[str]:
    start = window.start.to_pydatetime()
    return [f"{when.isoformat().replace('+00:00', 'Z')} {name}" for when, name in events
            if 0 <= (start - when).total_seconds() <= lookback_hours * 3600][-10:]


def _stamp(ts: object) -> str:
    return ts.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]


def _write_outputs(series: MetricSeries, scored: Scored, events: list[tuple[datetime, str]], op: Detect,
                   ctx: ToolContext) -> SeriesResult:
    import pandas as pd

    from mlops_engineer.engines.aiops import plots
    from mlops_engineer.engines.aiops.metric_series import slug

    values = series.values
    baseline_points, detection, found = scored.baseline.points, scored.detection, scored.windows
    part = values.iloc[baseline_points:]
    stem = f"{op.output_dir}/{slug(series.name)}-{op.method}"
    table = pd.DataFrame({
        "timestamp": [_stamp(t) for t in part.index], "value": part.to_numpy(),
        "score": detection.scores.round(4), "anomalous": detection.flags,
    })
    if series.bridged is not None:
        table["bridged"] = series.bridged[baseline_points:]
    scores_path = ctx.workspace.write_text(f"{stem}-scores.csv", table.to_csv(index=False))
    rows = [WindowOut(start=_stamp(w.start), end=_stamp(w.end), windows=w.windows, anomalous_points=w.anomalous_points,
                      peak_score=w.peak_score, peak_at=_stamp(w.peak_at), severity=w.severity, alert=w.alert,
                      hints=_hints(w, events, op.lookback_hours)) for w in found]
    frame = pd.DataFrame([{**r.model_dump(), "hints": " | ".join(r.hints)} for r in rows],
                         columns=[*WindowOut.model_fields])
    windows_path = ctx.workspace.write_text(f"{stem}-windows.csv", frame.to_csv(index=False))
    plot_path = None
    if op.plot:
        flagged = part[detection.flags]
        png = plots.anomalies(values, values.index[baseline_points], flagged,
                              [(w.start, w.end, w.alert) for w in found],
                              f"{series.name}: {op.method}, {len(found)} anomaly windows, {sum(w.alert for w in found)} alerts")
        plot_path = ctx.workspace.relative(ctx.workspace.write_bytes(f"{stem}.png", png))
    return SeriesResult(
        series=series.report, method=op.method, baseline_points=baseline_points,
        baseline_days=round(scored.baseline.days, 4), notes=scored.notes, scored_points=len(part),
        anomalous_points=int(detection.flags.sum()), max_score=round(float(detection.scores.max()), 4),
        anomaly_windows=len(found), alerts=sum(w.alert for w in found), windows=rows[:MAX_WINDOWS_SHOWN],
        scores_path=ctx.workspace.relative(scores_path), windows_path=ctx.workspace.relative(windows_path),
        plot_path=plot_path,
    )


def _samples(name: str, detection: Detection, found: list[AnomalyWindow]) -> list:
    from mlops_engineer.engines.prometheus import Sample

    labels = {"series": name}
    last = detection.scores[-1]
    # Active: the latest point is flagged and belongs to the last window, which is an alert.
    open_alert = bool(found) and found[-1].alert and bool(detection.flags[-1])
    return [
        Sample("aiops_anomaly_score", float(last), labels, "Anomaly score of the latest point (robust z units)"),
        Sample("aiops_anomaly_max_score", float(detection.scores.max()), labels, "Highest score in the scored range"),
        Sample("aiops_anomaly_windows", float(len(found)), labels, "Anomaly windows in the scored range"),
        Sample("aiops_anomaly_alerts", float(sum(w.alert for w in found)), labels, "Sustained anomaly windows (alerts)"),
        Sample("aiops_anomaly_alert_active", float(open_alert), labels,
               "1 when the latest point is inside an alerting anomaly window"),
    ]


def _render_job(op: RenderJob, inp: DetectInput, ctx: ToolContext, base: DetectOutput) -> DetectOutput:
    import shlex

    from mlops_engineer.redact import without_credentials
    from mlops_engineer.render import render_template, write_files

    values = {**op.model_dump(), "workspace_root": shlex.quote(str(ctx.workspace.root)),
              # The job reads credentials from PROMETHEUS_URL / PUSHGATEWAY_URL at run time, never from the file.
              "prometheus_url": without_credentials(op.prometheus_url), "pushgateway_url": without_credentials(op.pushgateway_url)}
    files = {
        f"{op.output_dir}/score_job.py": render_template("aiops/score_job.py.j2", **values),
        f"{op.output_dir}/crontab": render_template("aiops/crontab.j2", **values),
    }
    base.files = write_files(ctx.workspace, files, dry_run=inp.dry_run, confirm=inp.confirm)
    base.planned_calls = [f"write {path}" for path in files]
    base.next_steps = [
        f"Try it once: python {op.output_dir}/score_job.py --dry-run",
        f"Install the schedule: crontab -l | cat - {op.output_dir}/crontab | crontab -",
    ]
    return base


def summarize(out: DetectOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.action == "render_job":
        changed = sum(1 for f in out.files if f.action != "unchanged")
        return f"{prefix}Hourly scoring job: {changed} file(s) written of {len(out.files)}."
    if not out.results:
        return f"{prefix}Would: " + "; ".join(out.planned_calls)
    parts = [f"{r.series.name}: {r.anomaly_windows} anomaly window(s), {r.alerts} alert(s), max score {r.max_score:g}"
             for r in out.results]
    pushed = f" Pushed {len(out.pushed)} metrics." if out.pushed else ""
    return f"{prefix}" + "; ".join(parts) + "." + pushed


TOOL = ToolSpec(
    name="detect_anomalies_aiops",
    title="Detect anomalies in operational metrics (AIOps)",
    description=__doc__ or "",
    input_model=DetectInput,
    output_model=DetectOutput,
    run=run,
    summarize=summarize,
    # destructive: render_job with confirm=true overwrites a rendered file the user edited.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint='e.g. {"operation": {"action": "detect", "series": [{"kind": "file", "path": "latency.csv"}], "method": "stl"}}.',
)
