"""A study's MLflow runs: one parent run per study and one nested run per trial."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._setup_automl_pipeline.models import (
    AutomlInput,
    MlflowLink,
    Optimize,
    RayTune,
    TrialSummary,
)

if TYPE_CHECKING:
    from mlops_engineer.engines.mlflow.backend import MlflowTarget


class Tracker:
    """The study's parent run and one nested run per trial, through the foundation's MLflow engines."""

    def __init__(self, inp: AutomlInput, op: Optimize | RayTune, ctx: ToolContext, backend: str, storage: str) -> None:
        from mlops_engineer.engines.mlflow.backend import (
            check_reachable,
            confine_artifacts,
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
            confine_artifacts(self.target, experiment)  # plots and models are logged into it
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
