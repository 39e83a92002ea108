"""Action optimize: an Optuna study, resumed up to n_trials; MLflow runs, plots, the best model registered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.tuning.objective import EstimatorObjective
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._setup_automl_pipeline.models import (
    AutomlInput,
    AutomlOutput,
    Optimize,
    RegisteredModel,
    StudyInfo,
    TrialSummary,
)
from mlops_engineer.tools._setup_automl_pipeline.studies import load_objective, study_info
from mlops_engineer.tools._setup_automl_pipeline.tracking import Tracker

if TYPE_CHECKING:
    from mlops_engineer.engines.tuning.objective import Objective



def run_optimize(op: Optimize, inp: AutomlInput, ctx: ToolContext, out: AutomlOutput) -> AutomlOutput:
    from mlops_engineer.engines.tuning import optuna_study as engine
    from mlops_engineer.errors import ToolError
    from mlops_engineer.optional import import_optional
    from mlops_engineer.output import preview_table

    import_optional("optuna", "tuning")
    target = engine.resolve_storage(ctx.workspace, op.storage)
    objective = load_objective(op, ctx)  # validates dataset, target, estimator params, callable import
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

    tracker = Tracker(inp, op, ctx, "optuna", target.display) if op.log_to_mlflow else None
    with engine.storage_session(target) as storage:
        study, _ = engine.open_study(storage, op.study_name, objective.directions, sampler, pruner)
        study.set_user_attr("mlops_engineer.metrics", objective.metric_names)
        if tracker is not None:
            _backfill(study, objective.metric_names, tracker)
        stats = engine.optimize(
            storage, study, objective, op.space, op.n_trials, timeout_s=op.timeout_s,
            cancelled=ctx.cancelled.is_set,
            progress=lambda done, total, msg: ctx.on_progress(done, total, msg),
            log_trial=tracker.log if tracker is not None else None,
        )
        info, rows = study_info(study, objective.metric_names, target.display, tracker.logged if tracker else {})
        info.new_trials = stats.new_trials
        info.last_error = stats.last_error
        out.recovered = stats.recovered
        info.stopped_by = ("cancelled" if stats.cancelled else "timeout" if stats.timed_out
                           else "others_running" if stats.others_running
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


def _backfill(study: Any, names: list[str], tracker: Tracker) -> None:
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


def _register_best(op: Optimize, objective: Objective, best: TrialSummary, tracker: Tracker, ctx: ToolContext) -> RegisteredModel:
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
            f"Best trial {best.number} of study '{op.study_name}': {best.values}", workspace=ctx.workspace,
        )
    return RegisteredModel(name=op.register_model or "", version=str(version.version), run_id=run_id, created=created)


def _next_steps(op: Optimize, info: StudyInfo, out: AutomlOutput) -> list[str]:
    from mlops_engineer.engines.tuning.optuna_study import WAIT_FOR_OTHERS_S

    steps = []
    if info.stopped_by == "others_running":
        steps.append(f"Other workers still run the study's last trials ({WAIT_FOR_OTHERS_S:.0f} s without one finishing); "
                     "call again with the same input to wait for them, or status to look.")
    if out.registered:
        steps.append(f"Promote it behind the gate: register_ml_model promote name={out.registered.name} version={out.registered.version}.")
    elif info.best and out.mlflow and isinstance(op.objective, EstimatorObjective):
        steps.append("Pass register_model=<name> to log and register the best trial's model.")
    steps.append(f"More trials: call again with n_trials > {info.finished}; more workers: the same call with a postgresql:// storage on other machines.")
    return steps
