"""Pieces the study actions share: the validated objective, and a study read into the output models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.tuning.objective import EstimatorObjective
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._setup_automl_pipeline.models import StudyFields, StudyInfo, TrialSummary

if TYPE_CHECKING:
    from mlops_engineer.engines.tuning.objective import Objective


def load_objective(op: StudyFields, ctx: ToolContext) -> Objective:
    from mlops_engineer.engines.tuning import objective as engine
    from mlops_engineer.optional import import_optional

    import_optional("sklearn", "tracking")
    if isinstance(op.objective, EstimatorObjective):
        ctx.workspace.resolve(op.objective.dataset, must_exist=True)
    return engine.load_objective(op.objective, ctx.workspace.root, [p.name for p in op.space], op.seed,
                                 allow_external=ctx.settings.allow_external_callables)


def trial_summary(trial: Any, names: list[str], logged: dict[int, str]) -> TrialSummary:
    values = {n: float(v) for n, v in zip(names, trial.values or [], strict=False)}
    return TrialSummary(number=trial.number, state=trial.state.name, values=values, params=dict(trial.params),
                        mlflow_run_id=trial.user_attrs.get("mlflow_run_id") or logged.get(trial.number))


def study_info(study: Any, names: list[str], storage: str, logged: dict[int, str]) -> tuple[StudyInfo, list[dict[str, Any]]]:
    """The study's counts and best trial(s), and one row per trial for the table."""
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
            info.best = trial_summary(study.best_trial, names, logged)
        else:
            front = sorted(study.best_trials, key=lambda t: t.number)[:20]
            info.pareto_front = [trial_summary(t, names, logged) for t in front]
            info.best = info.pareto_front[0] if info.pareto_front else None
    rows = [
        {"number": t.number, "state": t.state.name,
         **{n: (round(float(v), 6) if v is not None else None) for n, v in zip(names, t.values or [None] * len(names), strict=False)},
         **{f"params.{k}": v for k, v in t.params.items()},
         "seconds": round(t.duration.total_seconds(), 3) if t.duration else None,
         "mlflow_run_id": t.user_attrs.get("mlflow_run_id") or logged.get(t.number)}
        for t in trials
    ]
    return info, rows
