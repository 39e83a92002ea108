"""Monitor a model for data, prediction and concept drift, with an Evidently report and
Prometheus metrics; schedule the check to ask for a retrain.

Data drift per feature by PSI, Kolmogorov-Smirnov, chi-square, Jensen-Shannon and
Wasserstein; results as JSON, an Evidently HTML report and Prometheus metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.mlflow.backend import TrackingUri
from mlops_engineer.grammar import CRON, HttpUrl, OneLine
from mlops_engineer.output import TablePreview
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.render import FileChange
from mlops_engineer.runtime import ToolContext

if TYPE_CHECKING:
    from mlops_engineer.engines.drift.check import FeatureResult

Source = Annotated[str, Field(min_length=1, description="CSV or Parquet file in the workspace, or runs:/<run_id>/<artifact path> of an MLflow run.")]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Monitor name: file names and the Prometheus `monitor` label.")]
METRIC_PREFIX = "mlops_drift"
MB = 1024 * 1024


class Columns(StrictModel):
    numerical: list[str] | None = Field(default=None, description="Numerical features. Omit both lists to infer them from the reference.")
    categorical: list[str] | None = Field(default=None, description="Categorical features (compared as category shares).")
    target: str | None = Field(default=None, description="Label column (needed for concept drift). Inferred from names like target/label.")
    prediction: str | None = Field(default=None, description="Column holding the model's predictions on both sides (prediction and concept drift without a model).")
    exclude: list[str] = Field(default_factory=list, description="Columns never compared (ids, timestamps).")


class Thresholds(StrictModel):
    psi_moderate: float = Field(default=0.1, gt=0, description="PSI at or above this is moderate drift; the feature counts as drifted.")
    psi_severe: float = Field(default=0.2, gt=0, description="PSI at or above this is severe drift.")
    drift_share: float = Field(default=0.5, gt=0, le=1, description="Dataset drift when at least this share of features drifted.")
    bins: int = Field(default=10, ge=2, le=100, description="PSI / Jensen-Shannon bins, cut at reference quantiles.")
    epsilon: float = Field(default=1e-4, gt=0, lt=0.01, description="Share used for an empty bin in PSI.")
    ks_method: Literal["auto", "exact", "asymp"] = Field(default="auto", description="KS p-value method, as scipy.stats.ks_2samp.")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.psi_severe < self.psi_moderate:
            raise ValueError("psi_severe must be at least psi_moderate")
        return self


class Concept(StrictModel):
    model_uri: str | None = Field(default=None, pattern=r"^(models|runs):/.+", description="MLflow model, e.g. models:/churn@champion or runs:/<id>/model. Omit to use columns.prediction.")
    metric: Literal["auto", "roc_auc", "accuracy", "rmse"] = Field(default="auto", description="auto: roc_auc for binary scores, accuracy for labels, rmse for regression.")
    window: int | None = Field(default=None, ge=10, description="Rows per window of the current data; the latest window decides. Omit for one window.")
    max_drop: float = Field(default=0.05, ge=0, le=1, description="Tolerated relative drop of the metric against the reference (0.05 = 5 %).")


class Prometheus(StrictModel):
    textfile: bool = Field(default=True, description="Write <output_dir>/<name>.prom for node-exporter's textfile collector.")
    pushgateway_url: HttpUrl | None = Field(default=None, description="Push the metrics to this Pushgateway (PUT replaces the group job/monitor).")
    job: str = Field(default="mlops_drift", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class Check(StrictModel):
    """Reference vs current: data, prediction, concept drift.

    Reference and current are CSV/Parquet in the workspace or runs:/<run_id>/<file>. Per feature
    a severity by PSI (none / moderate / severe); dataset drift when the share of drifted
    features reaches drift_share. With a model or a prediction column: prediction drift; with
    labels on both sides: concept drift per window against a tolerated drop. Writes
    <output_dir>/<name>.json, .html (Evidently) and .prom; pushes to a Pushgateway when one is
    given.
    """

    action: Literal["check"]
    reference: Source
    current: Source
    name: Name = "drift"
    columns: Columns = Field(default_factory=Columns)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    concept: Concept | None = Field(default=None, description="Prediction and concept drift from a model or a prediction column.")
    output_dir: str = Field(default="reports/drift", description="Workspace folder for the JSON, HTML and .prom files.")
    html: bool = Field(default=True, description="Render the Evidently HTML report.")
    html_max_rows: int = Field(default=50_000, ge=100, description="Rows per side drawn into the HTML report (a seeded sample above this); statistics always use every row.")
    prometheus: Prometheus = Field(default_factory=Prometheus)
    streaming: Literal["auto", "on", "off"] = Field(
        default="auto", description="Read the files in bounded chunks into mergeable summaries (memory stays near memory_budget_mb "
        "whatever their size; KS and Wasserstein within stated bounds; no concept drift): auto when the in-memory check "
        "would need more than memory_budget_mb.")
    memory_budget_mb: int = Field(default=2048, ge=16, description="Memory the check may use; decides streaming: auto and sizes its chunks.")


class Schedule(StrictModel):
    """Prefect flow and cron line that rerun the check.

    On severe drift the scheduled check writes a retrain request naming the tool to call next.
    """

    action: Literal["schedule"]
    reference: Source
    current: OneLine = Field(min_length=1, description="Where new data lands: a file, or a glob like data/incoming/*.parquet (the newest file is checked).")
    name: Name = "drift"
    columns: Columns = Field(default_factory=Columns)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    concept: Concept | None = None
    prometheus: Prometheus = Field(default_factory=Prometheus)
    cron: str = Field(default="0 6 * * *", pattern=CRON, description="Five-field cron expression.")
    output_dir: OneLine = Field(default="mlops/monitoring", description="Workspace folder for the flow, the cron line and the retrain request.")
    reports_dir: OneLine = Field(default="reports/drift", description="Where each scheduled check writes its reports.")


Operation = Annotated[Check | Schedule, Field(discriminator="action")]


class DriftInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    tracking_uri: TrackingUri = None


class PredictionDrift(BaseModel):
    source: str
    kind: str
    psi: float | None
    severity: str
    drifted: bool
    ks_pvalue: float | None = None
    chi2_pvalue: float | None = None


class ConceptDrift(BaseModel):
    metric: str
    reference: float | None
    latest: float | None
    drop: float | None = Field(description="Relative drop of the latest window against the reference.")
    max_drop: float
    drifted: bool
    windows: list[dict[str, Any]]
    note: str = ""


class CheckMethod(BaseModel):
    path: Literal["in_memory", "streaming"]
    reason: str = Field(description="Why this path: asked, or the in-memory estimate against memory_budget_mb.")
    in_memory_estimate_mb: float = Field(description="What the in-memory check would need at its peak (about 2.3x the two frames).")
    memory_budget_mb: int
    exact: list[str] = Field(default_factory=list, description="Statistics computed exactly.")
    bounded: list[str] = Field(default_factory=list, description="Statistics within a stated bound of the exact value, and the bound.")
    chunks: int = Field(default=0, description="streaming: chunks read (row groups, or blocks of a CSV).")


class DriftOutput(ToolOutput):
    action: str
    name: str
    method: CheckMethod | None = Field(default=None, description="check: in memory or streamed, why, and what is exact or bounded.")
    features: TablePreview | None = Field(default=None, description="Per-feature statistics and severity.")
    dataset_drift: bool | None = None
    drift_share: float | None = Field(default=None, description="Share of compared features that drifted.")
    drifted_features: list[str] = Field(default_factory=list)
    severe_features: list[str] = Field(default_factory=list)
    skipped: list[dict[str, str]] = Field(default_factory=list, description="Columns not compared, and why.")
    prediction_drift: PredictionDrift | None = None
    concept_drift: ConceptDrift | None = None
    rows: dict[str, int] = Field(default_factory=dict)
    files: list[FileChange] = Field(default_factory=list)
    pushed_to: str | None = None
    next_steps: list[str] = Field(default_factory=list)


def run(inp: DriftInput, ctx: ToolContext) -> DriftOutput:
    op = inp.operation
    out = DriftOutput(action=op.action, name=op.name, dry_run=inp.dry_run)
    if isinstance(op, Schedule):
        return _schedule(op, inp, ctx, out)
    return _check(op, inp, ctx, out)


def _paths(op: Check) -> dict[str, str]:
    base = op.output_dir.rstrip("/")
    paths = {"json": f"{base}/{op.name}.json"}
    if op.html:
        paths["html"] = f"{base}/{op.name}.html"
    if op.prometheus.textfile:
        paths["prom"] = f"{base}/{op.name}.prom"
    return paths


def _check(op: Check, inp: DriftInput, ctx: ToolContext, out: DriftOutput) -> DriftOutput:
    from mlops_engineer.optional import import_optional

    for module in ("numpy", "pandas", "scipy", "prometheus_client"):
        import_optional(module, "monitoring")  # before the engine, which imports numpy at its top
    from mlops_engineer.engines.drift import check as engine
    from mlops_engineer.engines.mlflow.backend import resolve_target
    ws = ctx.workspace
    paths = _paths(op)
    for rel in paths.values():
        ws.resolve(rel)  # refuse an output folder outside the workspace before any work
    needs_mlflow = op.reference.startswith("runs:/") or op.current.startswith("runs:/") or bool(op.concept and op.concept.model_uri)
    target = resolve_target(ws, ctx.settings, inp.tracking_uri) if needs_mlflow else None
    if inp.dry_run:
        local = [engine.resolve_source(ws, source, None, label) for source, label in ((op.reference, "reference"), (op.current, "current"))
                 if not source.startswith("runs:/")]
        if len(local) == 2:
            out.method = _method(op, *local)
        out.files = [FileChange(path=p, action="update" if ws.resolve(p).exists() else "create") for p in paths.values()]
        how = f" ({out.method.path.replace('_', ' ')}: {out.method.reason})" if out.method else ""
        out.planned_calls = [f"read {op.reference} and {op.current}", f"compute per-feature drift statistics{how}",
                             *([f"load model {op.concept.model_uri} and predict both sides"] if op.concept and op.concept.model_uri else []),
                             *([f"push metrics to {op.prometheus.pushgateway_url} job={op.prometheus.job} monitor={op.name}"] if op.prometheus.pushgateway_url else [])]
        return out
    if op.prometheus.pushgateway_url:
        _gateway_ready(op.prometheus.pushgateway_url)  # fail before computing or writing anything

    ctx.progress(0, None, "reading data")
    paths_in = [engine.resolve_source(ws, source, target, label) for source, label in ((op.reference, "reference"), (op.current, "current"))]
    out.method = _method(op, *paths_in)
    c = op.columns
    t = op.thresholds
    thresholds = engine.Thresholds(t.psi_moderate, t.psi_severe, t.drift_share, t.bins, t.epsilon, t.ks_method)
    if out.method.path == "streaming":
        return _streamed(op, ctx, out, paths_in, thresholds)
    # Read through the workspace path of the resolved file (an MLflow artifact is downloaded once, into .mlops).
    ref = engine.load_frame(ws, ws.relative(paths_in[0]), None, "reference")
    cur = engine.load_frame(ws, ws.relative(paths_in[1]), None, "current")
    roles, skipped = engine.infer_roles(ref, cur, c.numerical, c.categorical, c.target, c.prediction, c.exclude)
    engine.check_dtypes(ref, cur, roles)

    results = engine.all_features(ref, cur, roles, thresholds, progress=ctx.progress)
    _tally(op, out, results, skipped, {"reference": int(ref.shape[0]), "current": int(cur.shape[0])})

    preds = None
    if op.concept and op.concept.model_uri:
        ctx.progress(len(results), None, f"predicting with {op.concept.model_uri}")
        assert target is not None
        preds = engine.model_predictions(target, op.concept.model_uri, ref, cur, roles.numerical + roles.categorical)
    elif roles.prediction:
        preds = engine.column_predictions(ref, cur, roles.prediction)
    if preds is not None:
        out.prediction_drift = _prediction_drift(preds, thresholds)
        if roles.target and roles.target in cur.columns:
            concept = op.concept or Concept()
            result = engine.concept_drift(ref[roles.target], cur[roles.target], preds, concept.metric, concept.window, concept.max_drop)
            out.concept_drift = ConceptDrift(**result.__dict__)
        elif op.concept:
            out.next_steps.append("Concept drift needs labels: add the target column to the current data (columns.target).")

    return _finish(op, ctx, out, results, roles, lambda: _html(op, ref, cur, roles, t))


def _method(op: Check, reference: Any, current: Any) -> CheckMethod:
    from mlops_engineer.engines.drift import streaming

    estimate = streaming.in_memory_peak(reference, current) / MB
    if op.streaming != "auto":
        path, reason = ("streaming" if op.streaming == "on" else "in_memory"), f"asked (streaming: {op.streaming})"
    elif estimate > op.memory_budget_mb:
        path, reason = "streaming", f"the in-memory check would need about {estimate:,.0f} MB, over memory_budget_mb ({op.memory_budget_mb})"
    else:
        path, reason = "in_memory", f"the in-memory check fits memory_budget_mb (about {estimate:,.0f} of {op.memory_budget_mb} MB)"
    method = CheckMethod(path=path, reason=reason, in_memory_estimate_mb=round(estimate, 1), memory_budget_mb=op.memory_budget_mb)  # type: ignore[arg-type]
    if path == "in_memory":
        method.exact = ["every statistic: sorted samples (KS and Wasserstein equal scipy's), quantile bins, value counts"]
    else:
        method.exact, method.bounded = list(streaming.ACCURACY["exact"]), list(streaming.ACCURACY["bounded"])
    return method


def _streamed(op: Check, ctx: ToolContext, out: DriftOutput, paths_in: list[Any], thresholds: Any) -> DriftOutput:
    """The check in bounded memory (engines/drift/streaming.py): same outputs, bounds stated."""
    from mlops_engineer.engines.drift import streaming
    from mlops_engineer.errors import ToolError

    if op.concept:
        raise ToolError("invalid_input", f"Concept drift needs both datasets in memory, and this check streams them ({out.method.reason}).",  # type: ignore[union-attr]
                        "Raise memory_budget_mb (or set streaming: off) to load them whole, or check concept drift on a sample of rows.")
    c = op.columns
    done = streaming.check(paths_in[0], paths_in[1], numerical=c.numerical, categorical=c.categorical, target=c.target,
                           prediction=c.prediction, exclude=c.exclude, thresholds=thresholds,
                           sample_rows=op.html_max_rows if op.html else None,
                           chunk_bytes=max(op.memory_budget_mb * MB // 8, 8 * MB), progress=ctx.progress)
    out.method.chunks = done.chunks  # type: ignore[union-attr]
    if done.prediction is not None:
        s = done.prediction.stats
        out.prediction_drift = PredictionDrift(source=f"column {done.roles.prediction}", kind=done.prediction_kind,
                                               psi=_round(s.psi) if s else None, severity=done.prediction.severity,
                                               drifted=done.prediction.drifted, ks_pvalue=_round(s.ks_pvalue) if s else None,
                                               chi2_pvalue=_round(s.chi2_pvalue) if s else None)
    if done.roles.target and done.prediction is not None:
        out.next_steps.append("Concept drift is not computed on the streaming path: check it on a sample, or with the files in memory.")
    samples = done.samples

    def html() -> str:
        if samples is None or samples[0] is None or samples[1] is None:
            return "<!doctype html><html><body><p>No sample to draw.</p></body></html>\n"
        return _html(op, samples[0], samples[1], done.roles, op.thresholds)

    _tally(op, out, done.results, done.skipped, done.rows)
    return _finish(op, ctx, out, done.results, done.roles, html, done.bounds)


def _round(value: float | None) -> float | None:
    from mlops_engineer.engines.drift import check as engine

    return engine._r(value)


def _tally(op: Check, out: DriftOutput, results: list[FeatureResult], skipped: list[dict[str, str]], rows: dict[str, int]) -> None:
    """Counts, shares and the dataset verdict from per-feature results."""
    compared = [r for r in results if r.stats is not None or r.drifted]
    skipped = skipped + [{"feature": r.column, "reason": r.note} for r in results if r not in compared]
    drifted = [r.column for r in compared if r.drifted]
    share = len(drifted) / len(compared) if compared else 0.0
    out.rows = rows
    out.drift_share = round(share, 6)
    out.dataset_drift = bool(compared) and share >= op.thresholds.drift_share
    out.drifted_features = drifted
    out.severe_features = [r.column for r in compared if r.severity == "severe"]
    out.skipped = skipped


def _finish(op: Check, ctx: ToolContext, out: DriftOutput, results: list[FeatureResult], roles: Any, html: Any,
            bounds: dict[str, dict[str, float]] | None = None) -> DriftOutput:
    """The feature table, the JSON, HTML and .prom files, the push, and next steps: the same for both paths."""
    from mlops_engineer.output import preview_table

    ws = ctx.workspace
    paths = _paths(op)
    compared = len(results) - sum(1 for r in results if r.stats is None and not r.drifted)
    rows = [r.row() | (bounds or {}).get(r.column, {}) for r in results]
    out.features = preview_table(ws, f"drift-{op.name}", rows)
    report = _report_json(op, out, rows, roles)
    files: list[FileChange] = []

    def written(rel: str, data: str) -> None:
        target_path = ws.resolve(rel)
        existed = target_path.exists()
        same = existed and target_path.read_text("utf-8", errors="replace") == data
        if not same:
            ws.write_text(rel, data)
        files.append(FileChange(path=rel, action="unchanged" if same else ("update" if existed else "create")))

    import json

    # Everything is rendered before the first file is written: a failure leaves the old files whole.
    contents = {paths["json"]: json.dumps(report, indent=2, sort_keys=True, default=_json_default) + "\n"}
    if "html" in paths:
        ctx.progress(len(results), None, "rendering the Evidently report")
        contents[paths["html"]] = html()
    samples = _samples(op, out, results)
    if "prom" in paths:
        from mlops_engineer.engines import prometheus

        contents[paths["prom"]] = prometheus.exposition(samples)
    for rel, data in contents.items():
        written(rel, data)
    out.files = files
    out.planned_calls = [f"compared {compared} features ({out.method.path.replace('_', ' ') if out.method else 'in memory'})",
                         *(f"wrote {f.path}" for f in files)]
    if op.prometheus.pushgateway_url:
        from mlops_engineer.engines import prometheus
        from mlops_engineer.redact import redact_text

        ctx.check_cancelled()
        prometheus.push(op.prometheus.pushgateway_url, op.prometheus.job, samples, {"monitor": op.name})
        out.pushed_to = redact_text(op.prometheus.pushgateway_url)
        out.planned_calls.append(f"pushed {len(samples)} samples to {op.prometheus.pushgateway_url}")
    out.next_steps += _next_steps(out)
    return out


def _gateway_ready(url: str) -> None:
    import urllib.error
    import urllib.request

    from mlops_engineer.errors import ToolError

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    probe = url.rstrip("/") + "/-/ready"
    try:
        with opener.open(probe, timeout=5):
            return
    except urllib.error.HTTPError:
        return  # it answered; the push will report what it refuses
    except (urllib.error.URLError, OSError) as exc:
        raise ToolError("backend_unreachable", f"Pushgateway at {url} did not answer: {getattr(exc, 'reason', exc)}",
                        f"Start it or fix the URL (`curl {probe}` should answer), or omit prometheus.pushgateway_url; "
                        "nothing was computed or written.") from exc


def _prediction_drift(preds: Any, thresholds: Any) -> PredictionDrift:
    import pandas as pd

    from mlops_engineer.engines.drift import check as engine

    kind = "numerical" if preds.kind in ("score", "value") else "categorical"
    result = engine.feature_drift("prediction", kind, pd.Series(preds.reference), pd.Series(preds.current), thresholds)
    s = result.stats
    return PredictionDrift(source=preds.source, kind=preds.kind, psi=engine._r(s.psi) if s else None,
                           severity=result.severity, drifted=result.drifted,
                           ks_pvalue=engine._r(s.ks_pvalue) if s else None, chi2_pvalue=engine._r(s.chi2_pvalue) if s else None)


def _html(op: Check, ref: Any, cur: Any, roles: Any, t: Thresholds) -> str:
    from mlops_engineer.engines.drift.evidently_report import drift_snapshot, sample_for_report

    features = [c for c in roles.numerical if ref[c].notna().any() and cur[c].notna().any()]
    categorical = [c for c in roles.categorical if ref[c].notna().any() and cur[c].notna().any()]
    if not features and not categorical:
        return "<!doctype html><html><body><p>No column has values on both sides: nothing to draw.</p></body></html>\n"
    snapshot = drift_snapshot(sample_for_report(ref, op.html_max_rows), sample_for_report(cur, op.html_max_rows),
                              features, categorical, method="psi", threshold=t.psi_moderate, drift_share=t.drift_share)
    return snapshot.get_html_str(as_iframe=False)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _report_json(op: Check, out: DriftOutput, rows: list[dict[str, Any]], roles: Any) -> dict[str, Any]:
    return {
        "name": op.name, "reference": op.reference, "current": op.current, "rows": out.rows,
        "method": out.method.model_dump() if out.method else None,
        "roles": {"numerical": roles.numerical, "categorical": roles.categorical, "target": roles.target,
                  "prediction": roles.prediction, "inferred": roles.inferred},
        "thresholds": op.thresholds.model_dump(), "dataset_drift": out.dataset_drift, "drift_share": out.drift_share,
        "drifted_features": out.drifted_features, "severe_features": out.severe_features, "skipped": out.skipped,
        "features": rows,
        "prediction_drift": out.prediction_drift.model_dump() if out.prediction_drift else None,
        "concept_drift": out.concept_drift.model_dump() if out.concept_drift else None,
        "definitions": {
            "psi": "sum((cur - ref) * ln(cur / ref)) over bins cut at reference quantiles; empty bins use epsilon",
            "ks": "two-sample Kolmogorov-Smirnov, two-sided; p-value as scipy.stats.ks_2samp(method=ks_method)",
            "wasserstein_normed": "1-Wasserstein distance divided by the reference standard deviation (floor 0.001)",
            "js_distance": "Jensen-Shannon distance (natural log) on the PSI bins",
            "chi2": "two-sample chi-square test of homogeneity on the 2 x k table of counts (scipy.stats.chi2_contingency)",
        },
    }


SEVERITY_CODE = {"none": 0, "moderate": 1, "severe": 2}


def _samples(op: Check, out: DriftOutput, results: list[FeatureResult]) -> list[Any]:
    from mlops_engineer.engines.prometheus import Sample

    m, p = {"monitor": op.name}, METRIC_PREFIX
    samples = [
        Sample(f"{p}_dataset_drift", float(bool(out.dataset_drift)), m, "1 when the share of drifted features reached the threshold"),
        Sample(f"{p}_share", float(out.drift_share or 0.0), m, "Share of compared features that drifted"),
        Sample(f"{p}_features_drifted", float(len(out.drifted_features)), m, "Number of drifted features"),
    ]
    per_feature = [
        ("psi", "psi", "Population stability index per feature"),
        ("js_distance", "js_distance", "Jensen-Shannon distance per feature"),
        ("ks_statistic", "ks_statistic", "Two-sample KS statistic per numerical feature"),
        ("ks_pvalue", "ks_pvalue", "Two-sample KS p-value per numerical feature"),
        ("wasserstein", "wasserstein", "Wasserstein distance per numerical feature"),
        ("chi2_pvalue", "chi2_pvalue", "Two-sample chi-square p-value per categorical feature"),
    ]
    for r in results:
        labels = {**m, "feature": r.column}
        samples.append(Sample(f"{p}_feature_severity", float(SEVERITY_CODE[r.severity]), labels, "0 none, 1 moderate, 2 severe"))
        if r.stats is None:
            continue
        for metric, attr, text in per_feature:
            value = getattr(r.stats, attr)
            if value is not None:
                samples.append(Sample(f"{p}_{metric}", float(value), labels, text))
    if out.prediction_drift and out.prediction_drift.psi is not None:
        samples.append(Sample(f"{p}_prediction_psi", out.prediction_drift.psi, m, "PSI of the prediction distribution"))
    if out.concept_drift:
        cd = out.concept_drift
        labels = {**m, "metric": cd.metric}
        for side, value in (("reference", cd.reference), ("current", cd.latest)):
            if value is not None:
                samples.append(Sample(f"{p}_model_quality", value, {**labels, "data": side}, "Model quality on reference and latest current window"))
        samples.append(Sample(f"{p}_concept_drift", float(cd.drifted), m, "1 when model quality dropped more than tolerated"))
    return samples


def _next_steps(out: DriftOutput) -> list[str]:
    steps = []
    if out.severe_features or (out.concept_drift and out.concept_drift.drifted):
        steps.append("Severe drift: retrain on recent data, log it with track_ml_experiments (action log_run), "
                     "then gate it with register_ml_model (action promote).")
    elif out.drifted_features:
        steps.append("Moderate drift: watch it; schedule this check (action schedule) to see whether it grows.")
    html = next((f.path for f in out.files if f.path.endswith(".html")), None)
    if html:
        steps.append(f"Open the Evidently report: {html}")
    return steps


# --------------------------------------------------------------------------- schedule


def _schedule(op: Schedule, inp: DriftInput, ctx: ToolContext, out: DriftOutput) -> DriftOutput:
    import json
    import sys

    from markupsafe import Markup

    from mlops_engineer.redact import without_credentials
    from mlops_engineer.render import render_template, write_files

    if not op.reference.startswith("runs:/"):
        ctx.workspace.resolve(op.reference, must_exist=True)
    check = {
        "action": "check", "reference": op.reference, "current": "__CURRENT__", "name": op.name,
        "columns": op.columns.model_dump(exclude_defaults=True), "thresholds": op.thresholds.model_dump(exclude_defaults=True),
        "prometheus": _without_credentials(op.prometheus.model_dump(exclude_defaults=True)), "output_dir": op.reports_dir,
        **({"concept": op.concept.model_dump(exclude_defaults=True)} if op.concept else {}),
    }
    base = op.output_dir.rstrip("/")
    values = {
        # check_json: escaped by json.dumps, multi-line on purpose.
        "name": op.name, "check_json": Markup(json.dumps(check, indent=4, sort_keys=True)), "current_glob": op.current,
        "cron": op.cron, "retrain_request": f"{base}/retrain_request-{op.name}.json", "tracking_uri": without_credentials(inp.tracking_uri or ""),
        "flow_path": f"{base}/drift_flow_{op.name}.py", "python": sys.executable,
        "workspace": str(ctx.workspace.root),
    }
    files = {
        values["flow_path"]: render_template("monitoring/drift_flow.py.j2", **values),
        f"{base}/drift_{op.name}.cron": render_template("monitoring/drift.cron.j2", **values),
    }
    out.files = write_files(ctx.workspace, files, dry_run=inp.dry_run, confirm=inp.confirm)
    out.planned_calls = [f"render {path}" for path in files]
    out.next_steps = [
        f"Run once now: python {values['flow_path']}",
        f"Serve on the schedule with Prefect: python {values['flow_path']} --serve (cron '{op.cron}')",
        f"Or install the cron line: crontab -l | cat - {base}/drift_{op.name}.cron | crontab -",
        f"On severe drift the check writes {values['retrain_request']} and names the tool to call next.",
    ]
    return out


def _without_credentials(prometheus: dict[str, Any]) -> dict[str, Any]:
    """The flow reads a Pushgateway's credentials from PUSHGATEWAY_URL, never from the file."""
    from mlops_engineer.redact import without_credentials

    url = prometheus.get("pushgateway_url")
    return {**prometheus, "pushgateway_url": without_credentials(url)} if url else prometheus


def summarize(out: DriftOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.action == "schedule":
        return f"{prefix}Scheduled drift check '{out.name}': {', '.join(f.path for f in out.files)}."
    if out.dry_run:
        return f"{prefix}Would compare the datasets and write {', '.join(f.path for f in out.files)}."
    total = out.features.total_rows if out.features else 0
    head = (f"Dataset drift: {'YES' if out.dataset_drift else 'no'} ({len(out.drifted_features)} of {total} features drifted, "
            f"share {out.drift_share:.2f}); severe: {', '.join(out.severe_features) or 'none'}.")
    if out.prediction_drift:
        head += f" Prediction drift: {out.prediction_drift.severity}."
    if out.concept_drift:
        cd = out.concept_drift
        head += f" Concept drift: {'YES' if cd.drifted else 'no'} ({cd.metric} {cd.reference} -> {cd.latest})."
    html = next((f.path for f in out.files if f.path.endswith(".html")), None)
    if out.method and out.method.path == "streaming":
        head += (f" Streamed in {out.method.chunks} chunks ({out.method.reason}): categorical statistics and means exact, "
                 "KS and Wasserstein within the per-feature bounds in the table.")
    elif out.method:
        head += " Computed in memory (every statistic exact)."
    return prefix + head + (f" Report: {html}." if html else "")


TOOL = ToolSpec(
    name="monitor_model_drift",
    title="Monitor model drift (PSI, KS, Evidently, Prometheus)",
    description=__doc__ or "",
    input_model=DriftInput,
    output_model=DriftOutput,
    run=run,
    summarize=summarize,
    # destructive: `schedule` with confirm=true overwrites a rendered flow the user edited.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint='Set operation.action to check or schedule; e.g. {"operation": {"action": "check", "reference": "data/train.csv", "current": "data/new.csv"}}.',
)
