"""The tool's input (one model per action) and output models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.mlflow.backend import TrackingUri
from mlops_engineer.engines.tuning.objective import CallableObjective, ObjectiveSpec
from mlops_engineer.engines.tuning.space import SearchSpace, check_space
from mlops_engineer.output import TablePreview
from mlops_engineer.render import FileChange

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
    stopped_by: Literal["budget", "cancelled", "timeout", "failures", "done", "others_running"] | None = Field(
        default=None, description="others_running: other live workers still hold the study's last trials (called again, it waits for them).")
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
