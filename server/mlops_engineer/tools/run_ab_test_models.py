"""Run an A/B test between two models: design it, assign units, route traffic through a
BentoML router (shadow, canary or A/B split), analyse the outcome and decide.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.abtest.assignment import SrmCheck
from mlops_engineer.engines.abtest.design import Design
from mlops_engineer.engines.abtest.models import (
    AAResult,
    ArmSummary,
    Decision,
    Guardrail,
    SequentialResult,
    TestResult,
)
from mlops_engineer.engines.mlflow.backend import TrackingUri
from mlops_engineer.output import PREVIEW_ROWS, TablePreview
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.render import FileChange
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint

EXTRA = "experiments"
Experiment = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Experiment name; also the default hash salt and router folder.")]
Probability = Annotated[float, Field(gt=0, lt=1, description="A probability strictly between 0 and 1.")]
MetricType = Literal["proportion", "continuous"]
Split = Annotated[dict[str, float], Field(description='Percent of traffic per variant, summing to 100, e.g. {"champion": 50, "challenger": 50}.')]
DEFAULT_SPLIT = {"champion": 50.0, "challenger": 50.0}


class DesignTest(StrictModel):
    """Units per variant and days, from baseline, MDE, power.

    From a baseline rate (or mean and standard deviation), the minimum detectable effect, alpha
    and power.
    """

    action: Literal["design"]
    metric_type: MetricType = "proportion"
    baseline: float = Field(description="Baseline rate in (0, 1) for a proportion, or the baseline mean.")
    std: float | None = Field(default=None, description="Standard deviation of a continuous metric (required for it).")
    mde: float = Field(description="Minimum detectable effect: absolute (0.01 = one point) unless mde_relative.")
    mde_relative: bool = Field(default=False, description="Read mde as a fraction of the baseline (0.05 = 5 percent).")
    alpha: Probability = 0.05
    power: Probability = 0.8
    challenger_share: float = Field(default=50.0, description="Percent of experiment traffic on the challenger.")
    daily_units: float | None = Field(default=None, description="Units entering the experiment per day, for the duration.")


class Assign(StrictModel):
    """Hash units into variants; sample-ratio check.

    sha256 of salt and unit id into 10,000 buckets; a CSV of units gets an assignments CSV.
    """

    action: Literal["assign"]
    experiment: Experiment
    salt: str | None = Field(default=None, min_length=1, description="Hash salt; the experiment name when omitted.")
    split: Split = Field(default_factory=lambda: dict(DEFAULT_SPLIT))
    unit_ids: list[str] = Field(default_factory=list, max_length=10_000, description="Unit ids to assign (or units_path).")
    units_path: str | None = Field(default=None, description="CSV, JSONL or Parquet file in the workspace with a unit column.")
    unit_column: str = "unit_id"
    output_path: str | None = Field(default=None, description="Assignments CSV for units_path; default .mlops/abtest/<experiment>/assignments.csv")


class CheckSrm(StrictModel):
    """Chi-square test of counts per variant against the split."""

    action: Literal["check_srm"]
    observed: dict[str, Annotated[int, Field(ge=0)]] = Field(description="Units (or requests) seen per variant (counts, not negative).")
    split: Split = Field(default_factory=lambda: dict(DEFAULT_SPLIT))


class RenderRouter(StrictModel):
    """BentoML router: shadow, canary or A/B split.

    service.py, abtest.json and bentofile.yaml; loads champion and challenger from MLflow (both
    URIs checked first), assigns with the same hash, logs assignment, predictions and latency as
    JSONL.
    """

    action: Literal["render_router"]
    experiment: Experiment
    mode: Literal["shadow", "canary", "ab"] = "ab"
    model_name: str | None = Field(default=None, description="Registered model: champion and challenger default to models:/<name>@champion and @challenger.")
    champion_uri: str | None = Field(default=None, description="models:/name@alias, models:/name/3, runs:/<id>/model, or a workspace path.")
    challenger_uri: str | None = None
    split: Split = Field(default_factory=lambda: dict(DEFAULT_SPLIT), description="For mode ab: percent per variant (champion, challenger), summing to 100.")
    canary_steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0], description="For mode canary: challenger percent at each step, increasing, ending at 100.")
    canary_step: int = Field(default=0, ge=0, description="For mode canary: index of the current step.")
    salt: str | None = Field(default=None, min_length=1, description="Hash salt; the experiment name when omitted.")
    output_dir: str | None = Field(default=None, description="Default mlops/abtest/<experiment>.")

    @model_validator(mode="after")
    def _models(self) -> RenderRouter:
        if not self.model_name and not (self.champion_uri and self.challenger_uri):
            raise ValueError("give model_name, or both champion_uri and challenger_uri")
        return self


class ServeRouter(StrictModel):
    """Run the router with bentoml serve on loopback."""

    action: Literal["serve_router"]
    experiment: Experiment
    output_dir: str | None = Field(default=None, description="Router folder; default mlops/abtest/<experiment>.")
    port: int = Field(default=3000, ge=1024, le=65535, description="Port on 127.0.0.1.")
    timeout_seconds: float = Field(default=120, gt=0, le=900, description="How long to wait for /readyz.")


class StopRouter(StrictModel):
    """Stop the router (needs confirm)."""

    action: Literal["stop_router"]
    experiment: Experiment


class Guardrails(StrictModel):
    max_latency_increase: float = Field(default=0.2, ge=0, description="Challenger p95 may exceed the champion's by this fraction.")
    max_p95_ms: float | None = Field(default=None, gt=0, description="Absolute p95 latency ceiling for the challenger.")
    max_error_rate_increase: float = Field(default=0.01, ge=0, description="Allowed error-rate increase (absolute; 0.01 = one point).")


class Analyze(StrictModel):
    """Tests, lift CIs, sequential test, guardrails, decision.

    z-test or Welch's t-test with CIs of the difference and the lift, an always-valid mSPRT
    (peeking allowed), SRM, p95 latency and error-rate guardrails, and a decision (roll_out,
    keep, extend, roll_back) with its reasons.
    """

    action: Literal["analyze"]
    experiment: Experiment
    log_path: str | None = Field(default=None, description="JSONL, CSV or Parquet; default the router's log mlops/abtest/<experiment>/logs/assignments.jsonl.")
    outcomes_path: str | None = Field(default=None, description="CSV, JSONL or Parquet with join_column and metric_column, joined onto the log.")
    join_column: str = "unit_id"
    metric_column: str = "outcome"
    metric_type: MetricType = "proportion"
    higher_is_better: bool = Field(default=True, description="False for metrics such as churn or cost.")
    alpha: Probability = 0.05
    split: Split | None = Field(default=None, description="Expected split for SRM; read from the router's abtest.json when omitted, else 50/50.")
    mode: Literal["shadow", "canary", "ab"] | None = Field(default=None, description="Default: the log's mode column, else ab.")
    planned_units: int | None = Field(default=None, gt=0, description="Total units the design asked for; below it a non-significant result means extend.")
    mde: float | None = Field(default=None, description="Absolute MDE; sets the mSPRT mixture spread (tau).")
    guardrails: Guardrails = Field(default_factory=Guardrails)
    canary_steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    canary_step: int = Field(default=0, ge=0)
    variants: tuple[str, str] = Field(default=("champion", "challenger"), description="Names of (champion, challenger) in the log.")


class SimulateAA(StrictModel):
    """False-positive rates over simulated A/A tests."""

    action: Literal["simulate_aa"]
    metric_type: MetricType = "proportion"
    baseline: float = Field(default=0.1, description="Rate (proportion) or mean (continuous) both arms share.")
    std: float | None = Field(default=None, gt=0, description="Standard deviation (continuous).")
    n_per_arm: int = Field(default=4000, ge=200, le=50_000)
    alpha: Probability = 0.05
    experiments: int = Field(default=2000, ge=100, le=20_000)
    looks: int = Field(default=20, ge=1, le=200)
    seed: int = 0


Operation = Annotated[
    DesignTest | Assign | CheckSrm | RenderRouter | ServeRouter | StopRouter | Analyze | SimulateAA,
    Field(discriminator="action"),
]


class ABTestInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    tracking_uri: TrackingUri = None


class RouterInfo(BaseModel):
    url: str | None = None
    pid: int | None = None
    port: int | None = None
    running: bool = False
    service_dir: str
    log_path: str
    mode: str | None = None
    weights: dict[str, float] = Field(default_factory=dict)
    champion: str | None = Field(default=None, description="What the champion URI resolved to.")
    challenger: str | None = None


class ABTestOutput(ToolOutput):
    action: str
    design: Design | None = None
    assignments: TablePreview | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    srm: SrmCheck | None = None
    router: RouterInfo | None = None
    arms: list[ArmSummary] = Field(default_factory=list)
    fixed_test: TestResult | None = None
    sequential_test: SequentialResult | None = None
    guardrails: list[Guardrail] = Field(default_factory=list)
    decision: Decision | None = None
    reasons: list[str] = Field(default_factory=list)
    next_canary_percent: float | None = None
    aa: AAResult | None = None
    files: list[FileChange] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)


def run(inp: ABTestInput, ctx: ToolContext) -> ABTestOutput:
    from mlops_engineer.optional import import_optional

    op = inp.operation
    out = ABTestOutput(action=op.action, dry_run=inp.dry_run)
    if op.action in ("render_router", "serve_router"):
        import_optional("bentoml", "serving")
    if op.action != "stop_router":
        import_optional("scipy", EXTRA)
        import_optional("statsmodels", EXTRA)
    _HANDLERS[op.action](op, inp, ctx, out)
    return out


def _router_dir(experiment: str, output_dir: str | None) -> str:
    return output_dir or f"mlops/abtest/{experiment}"


def _design(op: DesignTest, inp: ABTestInput, ctx: ToolContext, out: ABTestOutput) -> None:
    from mlops_engineer.engines.abtest.design import design

    out.design = design(op.metric_type, op.baseline, op.mde, relative=op.mde_relative, std=op.std, alpha=op.alpha,
                        power=op.power, challenger_share=op.challenger_share, daily_units=op.daily_units)
    out.next_steps = ["Render the router (render_router), then analyze with planned_units="
                      f"{out.design.n_total} once traffic flows."]


def _assign(op: Assign, inp: ABTestInput, ctx: ToolContext, out: ABTestOutput) -> None:
    from mlops_engineer.engines.abtest.assignment import assign, srm_check, validate_split
    from mlops_engineer.engines.abtest.log import read_table, require_columns
    from mlops_engineer.errors import ToolError
    from mlops_engineer.output import preview_table

    validate_split(op.split)
    if bool(op.unit_ids) == bool(op.units_path):
        raise ToolError("invalid_input", "Give exactly one of unit_ids and units_path.", "unit_ids for up to 10,000 ids; units_path for a CSV.")
    salt = op.salt or op.experiment
    ids = op.unit_ids
    if op.units_path:
        path = ctx.workspace.resolve(op.units_path, must_exist=True)
        table = read_table(path, op.units_path)
        require_columns(table, [op.unit_column], op.units_path)
        ids = [str(r[op.unit_column]) for r in table.rows]
    rows = assign(ids, salt, op.split)
    counts = {v: 0 for v in op.split}
    for _, _, variant in rows:
        counts[variant] += 1
    out.counts = counts
    out.srm = srm_check(counts, op.split)
    records = [{"unit_id": u, "bucket": b, "variant": v} for u, b, v in rows]
    if op.units_path:
        import csv
        import io

        target = op.output_path or f".mlops/abtest/{op.experiment}/assignments.csv"
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["unit_id", "bucket", "variant"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        from mlops_engineer.render import write_files

        out.files = write_files(ctx.workspace, {target: buffer.getvalue()}, dry_run=inp.dry_run, confirm=inp.confirm)
    if op.units_path:  # the assignments file already holds every row
        out.assignments = TablePreview(columns=["unit_id", "bucket", "variant"], rows=records[:PREVIEW_ROWS],
                                       total_rows=len(records), full_result_path=out.files[0].path)
    elif not inp.dry_run:
        out.assignments = preview_table(ctx.workspace, f"assignments-{op.experiment}", records)
    out.planned_calls = [f"hash {len(ids)} unit(s) with salt '{salt}' into {op.split}"]


def _check_srm(op: CheckSrm, inp: ABTestInput, ctx: ToolContext, out: ABTestOutput) -> None:
    from mlops_engineer.engines.abtest.assignment import srm_check

    out.srm = srm_check(op.observed, op.split)
    out.counts = dict(op.observed)


def _render_router(op: RenderRouter, inp: ABTestInput, ctx: ToolContext, out: ABTestOutput) -> None:
    from mlops_engineer.engines.abtest.assignment import canary_split, validate_split
    from mlops_engineer.engines.abtest.router import DEFAULT_LOG, check_model_uri, router_files
    from mlops_engineer.engines.mlflow.backend import (
        check_reachable,
        make_client,
        resolve_target,
        translate_errors,
    )
    from mlops_engineer.errors import ToolError
    from mlops_engineer.render import write_files

    if op.mode == "canary":
        split = canary_split(op.canary_steps, op.canary_step)
    elif op.mode == "shadow":
        split = {"champion": 100.0, "challenger": 0.0}
    else:
        split = op.split
        if set(split) != {"champion", "challenger"}:
            raise ToolError("invalid_input", f"The router's split names champion and challenger, got {list(split)}.",
                            'Use {"champion": 50, "challenger": 50}.')
    validate_split(split)
    champion_uri = op.champion_uri or f"models:/{op.model_name}@champion"
    challenger_uri = op.challenger_uri or f"models:/{op.model_name}@challenger"
    target = resolve_target(ctx.workspace, ctx.settings, inp.tracking_uri)
    check_reachable(target)
    client = make_client(target)
    with translate_errors(target):
        champion = check_model_uri(client, ctx.workspace, champion_uri)
        challenger = check_model_uri(client, ctx.workspace, challenger_uri)
    directory = _router_dir(op.experiment, op.output_dir)
    files = router_files(experiment=op.experiment, mode=op.mode, salt=op.salt or op.experiment, split=split,
                         champion_uri=champion_uri, challenger_uri=challenger_uri,
                         extra={"canary_steps": op.canary_steps, "canary_step": op.canary_step} if op.mode == "canary" else None)
    out.files = write_files(ctx.workspace, {f"{directory}/{k}": v for k, v in files.items()}, dry_run=inp.dry_run, confirm=inp.confirm)
    out.router = RouterInfo(service_dir=directory, log_path=f"{directory}/{DEFAULT_LOG}", mode=op.mode, weights=split,
                            champion=champion, challenger=challenger)
    out.next_steps = [f"Serve it: serve_router experiment={op.experiment} (or `bentoml serve service:ABRouter` in {directory}).",
                      "A new mode or canary step re-renders abtest.json and applies to the next request; new model URIs need a restart."]


def _serve_router(op: ServeRouter, inp: ABTestInput, ctx: ToolContext, out: ABTestOutput) -> None:
    import json

    from mlops_engineer.engines.abtest import router as ab_router
    from mlops_engineer.engines.local_services import get_service, port_in_use
    from mlops_engineer.engines.mlflow.backend import check_reachable, resolve_target
    from mlops_engineer.errors import ToolError

    directory = _router_dir(op.experiment, op.output_dir)
    service_dir = ctx.workspace.resolve(directory)
    if not (service_dir / ab_router.SERVICE_FILE).exists() or not (service_dir / ab_router.CONFIG_FILE).exists():
        raise ToolError("not_found", f"No rendered router in {directory}.", f"Run render_router experiment={op.experiment} first.")
    config = json.loads((service_dir / ab_router.CONFIG_FILE).read_text("utf-8"))
    info = RouterInfo(service_dir=directory, log_path=f"{directory}/{config['log_path']}", mode=config["mode"],
                      weights=config["weights"], port=op.port, url=f"http://127.0.0.1:{op.port}")
    out.router = info
    record = get_service(ctx.workspace.state_dir, ab_router.service_name(op.experiment))
    if record is not None:
        if record.port != op.port:
            raise ToolError("conflict", f"The router of '{op.experiment}' already runs on port {record.port}.",
                            "Stop it first (stop_router with confirm=true), or use that port.")
        info.pid, info.running = record.pid, True
        out.planned_calls = [f"already running at {record.url} (pid {record.pid})"]
        return
    out.planned_calls = [f"bentoml serve service:ABRouter --host 127.0.0.1 --port {op.port} (in {directory})"]
    if inp.dry_run:
        return
    if port_in_use(op.port):
        raise ToolError("conflict", f"Port {op.port} on 127.0.0.1 is already in use.", "Pick another port.")
    target = resolve_target(ctx.workspace, ctx.settings, inp.tracking_uri)
    check_reachable(target)
    record = ab_router.start_router(
        ctx.workspace, op.experiment, service_dir, op.port, timeout=op.timeout_seconds,
        on_wait=lambda waited: ctx.progress(min(waited, op.timeout_seconds), op.timeout_seconds, "waiting for the router"),
        env={"MLFLOW_TRACKING_URI": target.tracking_uri, "MLFLOW_REGISTRY_URI": target.registry_uri},
        metadata={"experiment": op.experiment, "service_dir": directory, "model_uri": f"{config.get('champion_uri')} | {config.get('challenger_uri')}"},
    )
    info.pid, info.running = record.pid, True
    out.next_steps = [f"POST {info.url}/predict with {{\"unit_id\": ..., \"features\": {{...}}}}; "
                      f"analyze reads {info.log_path}. Stop it with stop_router confirm=true."]


def _stop_router(op: StopRouter, inp: ABTestInput, ctx: ToolContext, out: ABTestOutput) -> None:
    from mlops_engineer.engines.abtest import router as ab_router
    from mlops_engineer.engines.local_services import get_service, service_pids, stop_service
    from mlops_engineer.errors import ToolError

    name = ab_router.service_name(op.experiment)
    record = get_service(ctx.workspace.state_dir, name)  # stale records are dropped on every read
    directory = record.metadata.get("service_dir", _router_dir(op.experiment, None)) if record else _router_dir(op.experiment, None)
    out.router = RouterInfo(service_dir=directory, log_path=f"{directory}/{ab_router.DEFAULT_LOG}")
    if record is None:
        out.planned_calls = ["nothing to stop: no router of this experiment is running"]
        return
    out.router.pid, out.router.port, out.router.url, out.router.running = record.pid, record.port, record.url, True
    out.planned_calls = [f"stop the router at {record.url} (pid {record.pid}) and every process it started"]
    if inp.dry_run:
        return
    if not inp.confirm:
        raise ToolError("needs_confirm", f"Refusing to stop the router at {record.url} (it may be serving traffic) without confirm=true.",
                        "Call with dry_run=true to see what stops, then with confirm=true.")
    stop_service(ctx.workspace.state_dir, name)
    out.router.running = bool(service_pids(record))


def _analyze(op: Analyze, inp: ABTestInput, ctx: ToolContext, out: ABTestOutput) -> None:
    import numpy as np

    from mlops_engineer.engines.abtest import analysis as stats
    from mlops_engineer.engines.abtest.assignment import srm_check
    from mlops_engineer.engines.abtest.log import load_arms

    directory = _router_dir(op.experiment, None)
    arms = load_arms(
        ctx.workspace, log_rel=op.log_path or f"{directory}/logs/assignments.jsonl",
        config_rel=None if op.log_path else f"{directory}/abtest.json", outcomes_path=op.outcomes_path,
        join_column=op.join_column, metric_column=op.metric_column, variants=op.variants, mode=op.mode, split=op.split,
        canary_steps=op.canary_steps, canary_step=op.canary_step,
    )
    champion, challenger = op.variants
    a, b = arms.metric[champion], arms.metric[challenger]
    lat, err = arms.latency, arms.errors
    out.guardrails = stats.guardrails(lat[champion], lat[challenger], err[champion], err[challenger],
                                      op.guardrails.max_latency_increase, op.guardrails.max_p95_ms,
                                      op.guardrails.max_error_rate_increase)
    for name, values in ((champion, a), (challenger, b)):
        out.arms.append(ArmSummary(
            variant=name, n=len(values), mean=float(values.mean()) if len(values) else None,
            std=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            latency_p95_ms=float(np.percentile(lat[name], 95)) if lat[name] is not None and len(lat[name]) else None,
            error_rate=float(err[name].mean()) if err[name] is not None and len(err[name]) else None,
        ))
    out.counts = {champion: len(a), challenger: len(b)}
    mode, next_step = arms.mode, arms.next_step
    if mode != "shadow":
        out.srm = srm_check(out.counts, arms.split)
        stats.check_variance(op.metric_type, a, b)
        out.fixed_test = stats.fixed_test(op.metric_type, a, b, op.alpha)
        pooled = np.concatenate([a, b])
        tau = stats.default_tau(op.metric_type, float(pooled.mean()), float(pooled.std(ddof=1)), op.mde)
        out.sequential_test = stats.sequential_test(op.metric_type, a, b, arms.order[champion], arms.order[challenger], op.alpha, tau)
    out.decision, out.reasons = stats.decide(
        mode=mode, srm_mismatch=bool(out.srm and out.srm.mismatch), guards=out.guardrails, fixed=out.fixed_test,
        sequential=out.sequential_test, higher_is_better=op.higher_is_better, n_observed=len(a) + len(b),
        n_planned=op.planned_units, next_step=next_step, control=champion,
    )
    if out.decision == "roll_out" and mode == "canary":
        out.next_canary_percent = next_step
    out.next_steps = _next_steps(out.decision, mode, op.experiment, next_step)


def _next_steps(decision: str, mode: str, experiment: str, next_step: float | None) -> list[str]:
    if decision == "roll_back":
        return [f"Stop the challenger: render_router experiment={experiment} mode=shadow (or stop_router), and investigate."]
    if decision == "roll_out" and mode == "canary" and next_step is not None:
        return [f"render_router with the canary_step for {next_step:g}% (the running router picks it up), then analyze again."]
    if decision == "roll_out":
        return ["Promote the challenger (register_ml_model promote) and keep the old champion as `previous`."]
    if decision == "extend":
        return ["Keep the router running and analyze again later; the sequential test may be checked at any time."]
    return ["The champion stays; retire or rework the challenger."]


def _simulate_aa(op: SimulateAA, inp: ABTestInput, ctx: ToolContext, out: ABTestOutput) -> None:
    from mlops_engineer.engines.abtest.analysis import simulate_aa
    from mlops_engineer.errors import ToolError

    if op.metric_type == "proportion" and not (0 < op.baseline < 1):
        raise ToolError("invalid_input", f"A baseline rate must lie strictly between 0 and 1, got {op.baseline}.", "e.g. baseline=0.1")
    if op.metric_type == "continuous" and op.std is None:
        raise ToolError("invalid_input", "A continuous A/A simulation needs std > 0.", "e.g. std=3")
    out.aa = simulate_aa(op.metric_type, op.baseline, op.std, op.n_per_arm, alpha=op.alpha, experiments=op.experiments,
                         looks=op.looks, seed=op.seed, progress=ctx.progress)


_HANDLERS: dict[str, Any] = {
    "design": _design, "assign": _assign, "check_srm": _check_srm, "render_router": _render_router,
    "serve_router": _serve_router, "stop_router": _stop_router, "analyze": _analyze, "simulate_aa": _simulate_aa,
}


def summarize(out: ABTestOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.design:
        d = out.design
        days = f", about {d.expected_days} day(s)" if d.expected_days else ""
        return f"Need {d.n_champion} champion + {d.n_challenger} challenger units ({d.n_total} total{days}) to detect {d.mde_absolute:g} at alpha {d.alpha:g}, power {d.power:g}."
    if out.aa:
        a = out.aa
        return (f"A/A x{a.experiments}: false-positive rate fixed {a.fpr_fixed:.3f}, sequential {a.fpr_sequential:.3f}, "
                f"naive peeking {a.fpr_naive_peeking:.3f} (alpha {a.alpha:g} ± {a.tolerance:.3f}).")
    if out.decision:
        return f"Decision: {out.decision}. " + " | ".join(out.reasons)
    if out.router and out.action in ("serve_router", "stop_router"):
        r = out.router
        state = "running" if r.running else "stopped"
        return f"{prefix}Router {state}" + (f" at {r.url} (pid {r.pid})" if r.running else "") + f"; log {r.log_path}."
    if out.router:
        return f"{prefix}Router for {out.router.mode} mode in {out.router.service_dir} ({', '.join(f'{f.path}: {f.action}' for f in out.files)}); champion {out.router.champion}, challenger {out.router.challenger}."
    if out.srm:
        verdict = "MISMATCH" if out.srm.mismatch else "no mismatch"
        return f"{prefix}Counts {out.counts}; SRM chi2 p={out.srm.p_value:.4g}: {verdict}."
    return f"{prefix}{out.action}: " + "; ".join(out.planned_calls)


TOOL = ToolSpec(
    name="run_ab_test_models",
    title="A/B test two models (design, assignment, BentoML router, analysis)",
    description=__doc__ or "",
    input_model=ABTestInput,
    output_model=ABTestOutput,
    run=run,
    summarize=summarize,
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(ABTestInput, '{"operation": {"action": "design", "baseline": 0.1, "mde": 0.02}}'),
)
