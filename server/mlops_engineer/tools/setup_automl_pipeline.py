"""Tune hyperparameters with Optuna or Ray Tune from one typed spec, and log every trial to MLflow.

The spec: a search space (float with log scale or step, int with step, categorical,
conditional parameters) and an objective, either a built-in estimator
(hist_gradient_boosting, random_forest, logistic_regression; xgboost/lightgbm when
installed) scored by cross-validation on a workspace CSV/Parquet, or your own
`module:function`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.mlflow.backend import TrackingUri
from mlops_engineer.engines.tuning.objective import (
    CallableObjective,
    EstimatorObjective,
    ObjectiveSpec,
)
from mlops_engineer.engines.tuning.space import SearchSpace, check_space
from mlops_engineer.output import TablePreview
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.render import FileChange
from mlops_engineer.runtime import ToolContext

if TYPE_CHECKING:
    from mlops_engineer.engines.mlflow.backend import MlflowTarget
    from mlops_engineer.engines.tuning.objective import Objective

StudyName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", description="Study name; the same name resumes the same study.")]
Storage = Annotated[
    str | None,
    Field(default=None, description="Optuna storage: omit for SQLite in the workspace (.mlops/optuna.db); "
          "postgresql://user:pass@host:5432/db lets many workers share one study."),
]
Experiment = Annotated[str | None, Field(default=None, description="MLflow experiment for the parent and trial runs; default automl-<study_name>.")]


class StudyFields(StrictModel):
    study_name: StudyName
    space: SearchSpace
    objective: ObjectiveSpec = Field(description="What a trial evaluates: kind=estimator (built-in, cross-validated) or kind=callable (module:function).")
    n_trials: int = Field(default=20, ge=1, le=2000, description="Finished (complete or pruned) trials the study should hold; a repeat call only runs the missing ones.")
    seed: int | None = Field(default=0, description="Seed for the sampler, the CV split and the estimator; null for a random seed each time.")

    @model_validator(mode="after")
    def _space(self) -> StudyFields:
        check_space(self.space)
        return self


class Optimize(StudyFields):
    """Optuna study; every trial a nested MLflow run.

    Samplers tpe, cmaes, random, nsga2; pruners median, successive_halving, hyperband; SQLite in
    the workspace or PostgreSQL for many workers. n_trials is the study's total, so a repeat
    call resumes and runs only what is missing. Optionally registers the best model; PNG plots.
    """

    action: Literal["optimize"]
    sampler: Literal["tpe", "cmaes", "random", "nsga2"] = Field(default="tpe", description="nsga2 for several metrics (multi-objective); cmaes for continuous spaces.")
    pruner: Literal["auto", "none", "median", "successive_halving", "hyperband"] = Field(
        default="auto", description="Stops poor trials after a fold; auto = median for one metric, none for several.")
    storage: Storage = None
    timeout_s: float | None = Field(default=None, gt=0, description="Stop starting trials after this many seconds (finished trials are kept).")
    log_to_mlflow: bool = Field(default=True, description="A parent run per study and a nested run per trial.")
    experiment: Experiment = None
    register_model: str | None = Field(default=None, min_length=1, max_length=256, description="Register the best trial's refitted model under this name (built-in objectives only).")
    plots: bool = Field(default=True, description="Write optimization_history.png and param_importances.png under .mlops/tuning/<study>/.")

    @model_validator(mode="after")
    def _combination(self) -> Optimize:
        if self.register_model and isinstance(self.objective, CallableObjective):
            raise ValueError("register_model needs a built-in estimator objective: a callable objective returns scores, not a model")
        if self.register_model and not self.log_to_mlflow:
            raise ValueError("register_model needs log_to_mlflow=true: the model is registered from the best trial's run")
        return self


class RayTune(StudyFields):
    """The same spec on Ray Tune (ASHA, Optuna search).

    On a local Ray or an existing cluster (ray_address); Ray runs in a child process.
    """

    action: Literal["ray_tune"]
    ray_address: str | None = Field(default=None, description="host:port of an existing Ray cluster's head (`ray start --head`); omit for a local Ray.")
    sampler: Literal["tpe", "random"] = Field(default="tpe", description="Optuna sampler inside Tune's OptunaSearch.")
    max_concurrent: int = Field(default=2, ge=1, le=256, description="Trials running at once.")
    cpus_per_trial: float = Field(default=1.0, gt=0, le=64)
    num_cpus: int = Field(default=2, ge=1, le=256, description="CPUs of the local Ray (ignored with ray_address).")
    max_t: int | None = Field(default=None, ge=1, le=10000, description="ASHA's last step; default cv_folds (estimator) or 10 (callable report steps).")
    grace_period: int = Field(default=1, ge=1, description="ASHA: steps every trial gets before it can be stopped.")
    reduction_factor: int = Field(default=2, ge=2, le=8, description="ASHA: keep 1/reduction_factor of the trials at each rung.")
    log_to_mlflow: bool = True
    experiment: Experiment = None

    @model_validator(mode="after")
    def _single(self) -> RayTune:
        directions = self.objective.directions if isinstance(self.objective, CallableObjective) else (self.objective.metrics or ["x"])
        if len(directions) > 1:
            raise ValueError("ray_tune optimises one metric (ASHA needs a single one); use action optimize with sampler nsga2 for several")
        return self


class RenderScript(StudyFields):
    """A standalone, reproducible script for the study."""

    action: Literal["render_script"]
    sampler: Literal["tpe", "cmaes", "random", "nsga2"] = "tpe"
    pruner: Literal["auto", "none", "median", "successive_halving", "hyperband"] = "auto"
    storage: Storage = None
    experiment: Experiment = None
    output_path: str | None = Field(default=None, description="Workspace path of the script; default mlops/tuning/<study_name>.py.")


class Status(StrictModel):
    """Best trial, counts and trial table of a study."""

    action: Literal["status"]
    study_name: StudyName
    storage: Storage = None


Operation = Annotated[Optimize | RayTune | RenderScript | Status, Field(discriminator="action")]


class AutomlInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    tracking_uri: TrackingUri = None


class TrialSummary(BaseModel):
    number: int
    state: str
    values: dict[str, float] = Field(default_factory=dict, description="metric -> value (empty for pruned trials).")
    params: dict[str, Any]
    mlflow_run_id: str | None = None


class StudyInfo(BaseModel):
    name: str
    backend: Literal["optuna", "ray"]
    storage: str = Field(description="Where the study lives (passwords redacted).")
    metrics: list[str]
    directions: list[str]
    finished: int = Field(description="Complete + pruned trials in the study.")
    complete: int
    pruned: int
    failed: int
    new_trials: int = Field(description="Trials this call finished (0 when the study already had n_trials).")
    stopped_by: Literal["budget", "cancelled", "timeout", "failures", "done"] | None = None
    last_error: str | None = None
    best: TrialSummary | None = None
    pareto_front: list[TrialSummary] = Field(default_factory=list, description="Multi-objective: the non-dominated trials (at most 20).")


class MlflowLink(BaseModel):
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    logged_trials: int = Field(description="Trial runs under the parent after the call.")


class RegisteredModel(BaseModel):
    name: str
    version: str
    run_id: str
    created: bool = Field(description="False when the best trial's model was registered before.")


class AutomlOutput(ToolOutput):
    action: str
    study: StudyInfo | None = None
    trials: TablePreview | None = None
    mlflow: MlflowLink | None = None
    registered: RegisteredModel | None = None
    plots: list[str] = Field(default_factory=list, description="PNG files written (workspace paths).")
    ray_nodes: int | None = Field(default=None, description="Alive nodes of the Ray cluster that ran the trials.")
    files: list[FileChange] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)


def run(inp: AutomlInput, ctx: ToolContext) -> AutomlOutput:
    op = inp.operation
    out = AutomlOutput(action=op.action, dry_run=inp.dry_run)
    if isinstance(op, RenderScript):
        return _render(op, inp, ctx, out)
    if isinstance(op, Status):
        return _status(op, ctx, out)
    if isinstance(op, Optimize):
        return _optimize(op, inp, ctx, out)
    return _ray_tune(op, inp, ctx, out)


# --- shared pieces --------------------------------------------------------------------------

def _load_objective(op: StudyFields, ctx: ToolContext) -> Objective:
    from mlops_engineer.engines.tuning.objective import load_objective
    from mlops_engineer.optional import import_optional

    import_optional("sklearn", "tracking")
    if isinstance(op.objective, EstimatorObjective):
        ctx.workspace.resolve(op.objective.dataset, must_exist=True)
    return load_objective(op.objective, ctx.workspace.root, [p.name for p in op.space], op.seed)


class _Tracker:
    """The study's parent run and one nested run per trial, through the foundation's MLflow engines."""

    def __init__(self, inp: AutomlInput, op: Optimize | RayTune, ctx: ToolContext, backend: str, storage: str) -> None:
        from mlops_engineer.engines.mlflow.backend import (
            check_reachable,
            make_client,
            resolve_target,
            translate_errors,
        )
        from mlops_engineer.engines.mlflow.tracking import get_or_create_experiment
        from mlops_engineer.engines.tuning import mlflow_runs as tm

        self.target: MlflowTarget = resolve_target(ctx.workspace, ctx.settings, inp.tracking_uri)
        check_reachable(self.target)
        self.client = make_client(self.target)
        self.translate = lambda: translate_errors(self.target)
        self.key = tm.study_key(backend, storage, op.study_name)
        name = op.experiment or f"automl-{op.study_name}"
        with self.translate():
            experiment, _ = get_or_create_experiment(self.client, self.target, name)
            self.experiment_id = experiment.experiment_id
            self.parent_id, _ = tm.ensure_parent(self.client, self.experiment_id, self.key, op.study_name, {
                "mlops_engineer.backend": backend, "mlops_engineer.study_storage": storage, "optuna.study_name": op.study_name,
            })
            self.logged = tm.logged_trials(self.client, self.experiment_id, self.key)

    def log(self, record: Any) -> str | None:
        from mlops_engineer.engines.tuning import mlflow_runs as tm

        if record.number in self.logged:
            return self.logged[record.number]
        with self.translate():
            run_id = tm.log_trial(self.client, self.experiment_id, self.parent_id, self.key, record)
        self.logged[record.number] = run_id
        return run_id

    def finish(self, finished: int, best: TrialSummary | None, status: str) -> MlflowLink:
        from mlops_engineer.engines.tuning import mlflow_runs as tm

        with self.translate():
            self.parent_id = tm.reconcile_parents(self.client, self.experiment_id, self.key) or self.parent_id
            tm.finish_parent(self.client, self.parent_id, finished, best.values if best else {}, best.params if best else {}, status)
            self.logged = tm.logged_trials(self.client, self.experiment_id, self.key)
        return MlflowLink(tracking_uri=self.target.display_uri, experiment_id=self.experiment_id, parent_run_id=self.parent_id, logged_trials=len(self.logged))


def _summary(trial: Any, names: list[str], logged: dict[int, str]) -> TrialSummary:
    values = {n: float(v) for n, v in zip(names, trial.values or [], strict=False)}
    return TrialSummary(number=trial.number, state=trial.state.name, values=values, params=dict(trial.params),
                        mlflow_run_id=trial.user_attrs.get("mlflow_run_id") or logged.get(trial.number))


def _study_info(study: Any, names: list[str], storage: str, logged: dict[int, str]) -> tuple[StudyInfo, TablePreview | None, list[dict[str, Any]]]:
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("mlops_engineer.over_budget")]
    count = {s: sum(1 for t in trials if t.state == s) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    info = StudyInfo(
        name=study.study_name, backend="optuna", storage=storage, metrics=names, directions=[d.name.lower() for d in study.directions],
        finished=count[TrialState.COMPLETE] + count[TrialState.PRUNED], complete=count[TrialState.COMPLETE],
        pruned=count[TrialState.PRUNED], failed=count[TrialState.FAIL], new_trials=0,
    )
    if count[TrialState.COMPLETE]:
        if len(study.directions) == 1:
            info.best = _summary(study.best_trial, names, logged)
        else:
            front = sorted(study.best_trials, key=lambda t: t.number)[:20]
            info.pareto_front = [_summary(t, names, logged) for t in front]
            info.best = info.pareto_front[0] if info.pareto_front else None
    rows = [
        {"number": t.number, "state": t.state.name,
         **{n: (round(float(v), 6) if v is not None else None) for n, v in zip(names, t.values or [None] * len(names), strict=False)},
         **{f"params.{k}": v for k, v in t.params.items()},
         "seconds": round(t.duration.total_seconds(), 3) if t.duration else None,
         "mlflow_run_id": t.user_attrs.get("mlflow_run_id") or logged.get(t.number)}
        for t in trials
    ]
    return info, None, rows


# --- optimize ---------------------------------------------------------------------------------

def _optimize(op: Optimize, inp: AutomlInput, ctx: ToolContext, out: AutomlOutput) -> AutomlOutput:
    from mlops_engineer.engines.tuning import optuna_study as engine
    from mlops_engineer.errors import ToolError
    from mlops_engineer.optional import import_optional
    from mlops_engineer.output import preview_table

    import_optional("optuna", "tuning")
    target = engine.resolve_storage(ctx.workspace, op.storage)
    objective = _load_objective(op, ctx)  # validates dataset, target, estimator params, callable import
    multi = len(objective.directions) > 1
    pruner_name = ("none" if multi else "median") if op.pruner == "auto" else op.pruner
    max_steps = op.objective.cv_folds if isinstance(op.objective, EstimatorObjective) else 10
    sampler = engine.make_sampler(op.sampler, op.seed, multi)
    pruner = engine.make_pruner(pruner_name, max_steps, multi)  # type: ignore[arg-type]
    out.planned_calls = [
        f"open study '{op.study_name}' in {target.display} ({op.sampler} sampler, {pruner_name} pruner, directions {objective.directions})",
        f"run trials until the study holds {op.n_trials} finished ones",
        *([f"log each trial as a nested MLflow run in experiment '{op.experiment or 'automl-' + op.study_name}'"] if op.log_to_mlflow else []),
        *([f"register the best trial's model as '{op.register_model}'"] if op.register_model else []),
        *(["write optimization_history.png and param_importances.png"] if op.plots else []),
    ]
    if inp.dry_run:
        return out

    tracker = _Tracker(inp, op, ctx, "optuna", target.display) if op.log_to_mlflow else None
    with engine.storage_session(target) as storage:
        study, _ = engine.open_study(storage, op.study_name, objective.directions, sampler, pruner)
        study.set_user_attr("mlops_engineer.metrics", objective.metric_names)
        if tracker is not None:
            _backfill(study, objective.metric_names, tracker)
        stats = engine.optimize(
            study, objective, op.space, op.n_trials, timeout_s=op.timeout_s,
            cancelled=ctx.cancelled.is_set,
            progress=lambda done, total, msg: ctx.on_progress(done, total, msg),
            log_trial=tracker.log if tracker is not None else None,
        )
        info, _, rows = _study_info(study, objective.metric_names, target.display, tracker.logged if tracker else {})
        info.new_trials = stats.new_trials
        info.last_error = stats.last_error
        info.stopped_by = ("cancelled" if stats.cancelled else "timeout" if stats.timed_out
                           else "failures" if info.finished < op.n_trials and stats.failures else "budget" if stats.new_trials else "done")
        if op.plots and not stats.cancelled:
            out.plots = _write_plots(study, objective.metric_names, ctx, op.study_name)
    if tracker is not None:
        out.mlflow = tracker.finish(info.finished, info.best, "KILLED" if stats.cancelled else "FINISHED")
        for path in out.plots:
            with tracker.translate():
                tracker.client.log_artifact(tracker.parent_id, str(ctx.workspace.resolve(path)), "plots")
        if info.best is not None:
            info.best.mlflow_run_id = info.best.mlflow_run_id or tracker.logged.get(info.best.number)
    out.study = info
    out.trials = preview_table(ctx.workspace, f"trials-{op.study_name}", rows)
    if stats.cancelled:
        raise ToolError("cancelled", f"Study '{op.study_name}' stopped on cancel after {stats.new_trials} new trial(s); "
                        f"its {info.finished} finished trials are kept in {target.display}.", "Call optimize again with the same input to resume.")
    if info.stopped_by == "failures":
        raise ToolError("failed", f"The objective failed {engine.MAX_CONSECUTIVE_FAILURES} times in a row; last error: {stats.last_error}",
                        "Fix the objective (run it once by hand with one parameter set); finished trials are kept.")
    if op.register_model and info.best is not None and tracker is not None:
        out.registered = _register_best(op, objective, info.best, tracker, ctx)
    out.next_steps = _next_steps(op, info, out)
    return out


def _backfill(study: Any, names: list[str], tracker: _Tracker) -> None:
    """Log finished trials that have no MLflow run yet (a crashed worker, or logging was off)."""
    from mlops_engineer.engines.tuning.mlflow_runs import TrialRecord
    from mlops_engineer.engines.tuning.optuna_study import finished_states

    for t in study.get_trials(deepcopy=False, states=finished_states()):
        if t.number in tracker.logged:
            continue
        seconds = t.duration.total_seconds() if t.duration else None
        tracker.log(TrialRecord(t.number, t.state.name, dict(t.params), list(t.values) if t.values else None, names,
                                dict(t.intermediate_values), seconds))


def _write_plots(study: Any, names: list[str], ctx: ToolContext, study_name: str) -> list[str]:
    from mlops_engineer.engines.tuning.optuna_study import plots, study_dir

    folder = study_dir(ctx.workspace, study_name)
    written = []
    for label, data in plots(study, names).items():
        path = ctx.workspace.write_bytes(folder / f"{label}.png", data)
        written.append(ctx.workspace.relative(path))
    return written


def _register_best(op: Optimize, objective: Objective, best: TrialSummary, tracker: _Tracker, ctx: ToolContext) -> RegisteredModel:
    import joblib

    from mlops_engineer.engines.mlflow.registry import register_from_run
    from mlops_engineer.engines.mlflow.tracking import ModelSpec, log_model
    from mlops_engineer.engines.tuning.optuna_study import study_dir

    run_id = best.mlflow_run_id or tracker.logged[best.number]
    with tracker.translate():
        run = tracker.client.get_run(run_id)
        if run.data.tags.get("mlops_engineer.model_logged") != "model":
            ctx.on_progress(0, 2, f"refitting trial {best.number}'s model on all rows")
            folder = study_dir(ctx.workspace, op.study_name)
            folder.mkdir(parents=True, exist_ok=True)
            model_path = folder / f"best-trial-{best.number}.joblib"
            joblib.dump(objective.fit_best(best.params), model_path)
            example_path = folder / "input_example.csv"
            ctx.workspace.write_text(example_path, objective.X.head(5).to_csv(index=False))  # type: ignore[attr-defined]
            log_model(tracker.target, run_id, ModelSpec(model_path, "sklearn", "model", example_path))
            tracker.client.set_tag(run_id, "mlops_engineer.model_logged", "model")
        ctx.on_progress(1, 2, f"registering {op.register_model}")
        version, created = register_from_run(
            tracker.client, tracker.target, op.register_model or "", run_id, "model",
            {"optuna.study": op.study_name, "optuna.trial": str(best.number)},
            f"Best trial {best.number} of study '{op.study_name}': {best.values}",
        )
    return RegisteredModel(name=op.register_model or "", version=str(version.version), run_id=run_id, created=created)


def _next_steps(op: Optimize, info: StudyInfo, out: AutomlOutput) -> list[str]:
    steps = []
    if out.registered:
        steps.append(f"Promote it behind the gate: register_ml_model promote name={out.registered.name} version={out.registered.version}.")
    elif info.best and out.mlflow and isinstance(op.objective, EstimatorObjective):
        steps.append("Pass register_model=<name> to log and register the best trial's model.")
    steps.append(f"More trials: call again with n_trials > {info.finished}; more workers: the same call with a postgresql:// storage on other machines.")
    return steps


# --- ray tune ---------------------------------------------------------------------------------

def _ray_tune(op: RayTune, inp: AutomlInput, ctx: ToolContext, out: AutomlOutput) -> AutomlOutput:
    import json
    import os

    from mlops_engineer.engines.tuning import ray_tune as engine
    from mlops_engineer.engines.tuning.mlflow_runs import TrialRecord
    from mlops_engineer.engines.tuning.optuna_study import safe_name, study_dir
    from mlops_engineer.errors import ToolError
    from mlops_engineer.optional import import_optional
    from mlops_engineer.output import preview_table, stable_digest

    import_optional("ray", "tuning")
    import_optional("optuna", "tuning")
    objective = _load_objective(op, ctx)  # validated here, before Ray starts
    if op.ray_address:
        engine.check_address(op.ray_address)
    max_t = op.max_t or (op.objective.cv_folds if isinstance(op.objective, EstimatorObjective) else 10)
    if op.grace_period > max_t:
        raise ToolError("invalid_input", f"grace_period ({op.grace_period}) is larger than max_t ({max_t}).", "Lower grace_period or raise max_t.")
    where = op.ray_address or "a local Ray"
    digest = stable_digest(op.model_dump(mode="json", exclude={"ray_address", "max_concurrent", "num_cpus"}))[:16]
    storage = f"ray:{safe_name(op.study_name)}:{digest}"  # a changed spec is a new search with its own parent run
    out.planned_calls = [
        f"start a Ray Tune driver process on {where}: OptunaSearch ({op.sampler}) + ASHA (max_t={max_t}, grace={op.grace_period}, eta={op.reduction_factor})",
        f"{op.n_trials} trials, at most {op.max_concurrent} at once, {op.cpus_per_trial:g} CPU each",
        *(["log each finished trial as a nested MLflow run"] if op.log_to_mlflow else []),
    ]
    if inp.dry_run:
        return out

    folder = study_dir(ctx.workspace, op.study_name) / "ray"
    done_file = folder / f"done-{digest}.json"
    tracker = _Tracker(inp, op, ctx, "ray", storage) if op.log_to_mlflow else None
    events: list[dict[str, Any]] = []

    if done_file.exists():  # the same spec finished before: answer from its record, run nothing
        saved = json.loads(done_file.read_text("utf-8"))
        events, summary, new = saved["events"], saved["summary"], 0
    else:
        def on_event(event: dict[str, Any]) -> None:
            event["number"] = len(events)
            events.append(event)
            if tracker is not None:
                values = [float(event["value"])] if event["state"] == "COMPLETE" and event.get("value") is not None else None
                event["mlflow_run_id"] = tracker.log(TrialRecord(event["number"], event["state"], event["params"], values,
                                                                 objective.metric_names, {}, event.get("seconds"), event.get("error")))
            shown = f"{objective.metric_names[0]}={event['value']:.4g}" if isinstance(event.get("value"), int | float) else ""
            ctx.on_progress(len(events), op.n_trials, f"ray trial {event['number']} {event['state'].lower()} {shown}".strip())

        spec = {
            "root": str(ctx.workspace.root), "name": f"{safe_name(op.study_name)}-{digest}", "storage_path": str(folder / "results"),
            "space": [p.model_dump(mode="json") for p in op.space], "objective": op.objective.model_dump(mode="json"),
            "seed": op.seed, "num_samples": op.n_trials, "max_concurrent": op.max_concurrent, "cpus_per_trial": op.cpus_per_trial,
            "address": op.ray_address, "num_cpus": op.num_cpus, "object_store_bytes": 100 * 1024 * 1024,
            # Ray's session folder for a local Ray; its socket paths must stay short (< 108 bytes).
            "temp_dir": os.environ.get("MLOPS_ENGINEER_RAY_TEMP_DIR") or None,
            "sampler": op.sampler, "max_t": max_t, "grace_period": op.grace_period, "reduction_factor": op.reduction_factor,
        }
        summary = engine.run(spec, folder, cancelled=ctx.cancelled.is_set, on_event=on_event)
        new = len(events)
        if summary.get("status") == "ok":
            done_file.write_text(json.dumps({"summary": summary, "events": events}, default=str), "utf-8")

    metric = objective.metric_names[0]
    maximize = objective.directions[0] == "maximize"
    complete = [e for e in events if e["state"] == "COMPLETE" and isinstance(e.get("value"), int | float)]
    best_event = (max if maximize else min)(complete, key=lambda e: e["value"]) if complete else None
    best = TrialSummary(number=best_event["number"], state="COMPLETE", values={metric: float(best_event["value"])}, params=best_event["params"],
                        mlflow_run_id=best_event.get("mlflow_run_id")) if best_event else None
    counts = {s: sum(1 for e in events if e["state"] == s) for s in ("COMPLETE", "PRUNED", "FAIL")}
    info = StudyInfo(
        name=op.study_name, backend="ray", storage=str(folder.relative_to(ctx.workspace.root) / "results"), metrics=[metric],
        directions=objective.directions, finished=counts["COMPLETE"] + counts["PRUNED"], complete=counts["COMPLETE"],
        pruned=counts["PRUNED"], failed=counts["FAIL"], new_trials=new, best=best,
        stopped_by="cancelled" if summary.get("status") == "cancelled" else ("budget" if new else "done"),
    )
    if tracker is not None:
        out.mlflow = tracker.finish(info.finished, best, "KILLED" if info.stopped_by == "cancelled" else "FINISHED")
        if best is not None:
            best.mlflow_run_id = best.mlflow_run_id or tracker.logged.get(best.number)
    out.study = info
    out.ray_nodes = summary.get("nodes")
    rows = [{"number": e["number"], "state": e["state"], metric: e.get("value"), **{f"params.{k}": v for k, v in e["params"].items()},
             "steps": e.get("iterations"), "seconds": e.get("seconds"), "mlflow_run_id": e.get("mlflow_run_id")} for e in events]
    out.trials = preview_table(ctx.workspace, f"ray-trials-{op.study_name}", rows)
    if info.stopped_by == "cancelled":
        raise ToolError("cancelled", f"Ray Tune run '{op.study_name}' stopped on cancel; {info.finished} finished trial(s) are logged.",
                        "Call again to run the search afresh.")
    out.next_steps = ["Optuna with PostgreSQL storage (action optimize) resumes a study across calls; Ray Tune reruns only when the spec changes."]
    return out


# --- render_script and status -----------------------------------------------------------------

def _render(op: RenderScript, inp: AutomlInput, ctx: ToolContext, out: AutomlOutput) -> AutomlOutput:
    import pprint

    from mlops_engineer.engines.mlflow.backend import resolve_target
    from mlops_engineer.redact import without_credentials
    from mlops_engineer.render import render_template, write_files

    if isinstance(op.objective, EstimatorObjective):
        ctx.workspace.resolve(op.objective.dataset)  # inside the workspace (may not exist yet)
    target = resolve_target(ctx.workspace, ctx.settings, inp.tracking_uri)
    path = op.output_path or f"mlops/tuning/{op.study_name}.py"
    objective = op.objective
    multi = isinstance(objective, CallableObjective) and len(objective.directions) > 1 or \
        isinstance(objective, EstimatorObjective) and len(objective.metrics) > 1
    pruner = ("none" if multi else "median") if op.pruner == "auto" else op.pruner
    values = {
        "study_name": op.study_name, "space": [p.model_dump(mode="json") for p in op.space], "objective": objective.model_dump(mode="json"),
        "seed": op.seed, "sampler": op.sampler, "pruner": pruner, "experiment": op.experiment or f"automl-{op.study_name}",
        "storage": without_credentials(op.storage) if op.storage else "",
        "tracking_uri": without_credentials(target.tracking_uri) if inp.tracking_uri else "",
    }
    # Python literals (True/None), not JSON (true/null): the script must run as written.
    py = {k: pprint.pformat(v, width=110, sort_dicts=False) for k, v in values.items()}
    text = render_template("tuning/optuna_study.py.j2", py=py, objective=values["objective"], n_trials=op.n_trials)
    out.files = write_files(ctx.workspace, {path: text}, dry_run=inp.dry_run, confirm=inp.confirm)
    out.planned_calls = [f"render {path}"]
    out.next_steps = [f"Run it: python {path} (set OPTUNA_STORAGE / MLFLOW_TRACKING_URI to share the study and the runs)."]
    return out


def _status(op: Status, ctx: ToolContext, out: AutomlOutput) -> AutomlOutput:
    from mlops_engineer.engines.tuning import optuna_study as engine
    from mlops_engineer.optional import import_optional
    from mlops_engineer.output import preview_table

    import_optional("optuna", "tuning")
    target = engine.resolve_storage(ctx.workspace, op.storage)
    with engine.storage_session(target) as storage:
        study = engine.load_study(storage, op.study_name)
        names = study.user_attrs.get("mlops_engineer.metrics") or [f"value_{i}" for i in range(len(study.directions))]
        info, _, rows = _study_info(study, list(names), target.display, {})
    out.study = info
    out.trials = preview_table(ctx.workspace, f"trials-{op.study_name}", rows)
    out.planned_calls = [f"load study '{op.study_name}' from {target.display}"]
    return out


def summarize(out: AutomlOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.files:
        return f"{prefix}Study script: " + ", ".join(f"{f.path} ({f.action})" for f in out.files) + "."
    if out.study is None:
        return f"{prefix}{out.action}: " + "; ".join(out.planned_calls)
    s = out.study
    text = f"{prefix}Study '{s.name}' ({s.backend}): {s.finished} finished trials ({s.new_trials} new, {s.pruned} pruned, {s.failed} failed)"
    if s.best:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in s.best.values.items())
        text += f"; best trial {s.best.number}: {shown} with {s.best.params}"
    if out.mlflow:
        text += f"; MLflow parent run {out.mlflow.parent_run_id} with {out.mlflow.logged_trials} trial runs"
    if out.registered:
        text += f"; registered {out.registered.name} v{out.registered.version}"
    return text + "."


TOOL = ToolSpec(
    name="setup_automl_pipeline",
    title="Tune hyperparameters (Optuna, Ray Tune)",
    description=__doc__ or "",
    input_model=AutomlInput,
    output_model=AutomlOutput,
    run=run,
    summarize=summarize,
    # destructive: render_script with confirm=true overwrites a script the user edited.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint='Set operation.action to one of: optimize, ray_tune, render_script, status; e.g. {"operation": {"action": "optimize", "study_name": "churn", '
    '"space": [{"type": "float", "name": "learning_rate", "low": 0.01, "high": 0.3, "log": true}], '
    '"objective": {"kind": "estimator", "estimator": "hist_gradient_boosting", "dataset": "data/train.csv", "target": "churned"}, "n_trials": 10}}.',
)
