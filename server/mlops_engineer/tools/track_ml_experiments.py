"""Track ML experiments in MLflow: set up tracking (embedded or a team server), create
experiments, log complete runs idempotently, and compare runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.mlflow.backend import TrackingUri
from mlops_engineer.output import PREVIEW_ROWS, TablePreview
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.render import FileChange
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint

if TYPE_CHECKING:
    from pathlib import Path

    from mlops_engineer.engines.mlflow.backend import MlflowTarget

Scalar = str | int | float | bool
# Bounds that keep a comparison's answer to a few thousand tokens whatever the runs hold.
MAX_DIFF_PARAMS = 30
HISTORY_POINTS = 100
Framework = Literal["sklearn", "xgboost", "pytorch"]


class SetupTracking(StrictModel):
    """Embedded store, team stack, autologging snippets.

    Renders a docker-compose team stack (MLflow on PostgreSQL with a MinIO artifact store) and
    autologging snippets for scikit-learn, XGBoost and PyTorch.
    """

    action: Literal["setup"]
    experiment: str = Field(default="default-experiment", min_length=1, description="Experiment the snippets log to; created in the store.")
    team_stack: bool = Field(default=True, description="Render mlops/tracking/docker-compose.yml and its Dockerfile and .env.example.")
    autolog: list[Framework] = Field(
        default_factory=lambda: ["sklearn", "xgboost", "pytorch"],
        description="Frameworks to render an autologging snippet for (mlops/tracking/autolog_<fw>.py).",
    )
    output_dir: str = Field(default="mlops/tracking", description="Workspace folder for the rendered files.")
    mlflow_port: int = Field(default=5000, ge=1, le=65535, description="Host port the team stack publishes.")
    bucket: str = Field(default="mlflow", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="Artifact bucket.")


class CreateExperiment(StrictModel):
    """Create or get an experiment by name."""

    action: Literal["create_experiment"]
    name: str = Field(min_length=1, description="Experiment name.")
    tags: dict[str, str] = Field(default_factory=dict, description="Experiment tags (set or updated).")


class MetricStep(StrictModel):
    value: float
    step: int = Field(default=0, ge=0)
    timestamp_ms: int | None = Field(default=None, description="Epoch milliseconds; now when omitted.")


class DatasetInput(StrictModel):
    path: str = Field(description="CSV or Parquet file in the workspace.")
    name: str | None = Field(default=None, description="Dataset name; the file name when omitted.")
    context: Literal["training", "validation", "test", "evaluation"] = "training"
    targets: str | None = Field(default=None, description="Target column, if the dataset has one.")


class ModelInput(StrictModel):
    path: str = Field(description="A fitted model saved with joblib/pickle, in the workspace.")
    flavor: Literal["sklearn"] = "sklearn"
    name: str = Field(default="model", description="Model name inside the run (register it as runs:/<id>/<name>).")
    input_example: str | None = Field(
        default=None, description="CSV/Parquet of feature rows; its first rows become the input example and signature."
    )


class LogRun(StrictModel):
    """Log one finished run; identical input returns it again.

    Params, metrics (with steps), tags, workspace files as artifacts, dataset inputs and
    optionally a scikit-learn model.
    """

    action: Literal["log_run"]
    experiment: str = Field(min_length=1, description="Experiment name; created if missing.")
    run_name: str | None = None
    params: dict[str, Scalar] = Field(default_factory=dict)
    metrics: dict[str, float | list[MetricStep]] = Field(
        default_factory=dict, description="A final value, or a list of {value, step} for a curve."
    )
    tags: dict[str, str] = Field(default_factory=dict)
    artifacts: list[str] = Field(default_factory=list, description="Workspace files or folders to upload.")
    datasets: list[DatasetInput] = Field(default_factory=list)
    model: ModelInput | None = None

    @field_validator("params")
    @classmethod
    def _param_length(cls, params: dict[str, Scalar]) -> dict[str, Scalar]:
        too_long = [k for k, v in params.items() if len(str(v)) > 6000]
        if too_long:
            raise ValueError(f"MLflow params are at most 6000 characters: {', '.join(too_long)}")
        return params


class CompareRuns(StrictModel):
    """Best run by a metric, differing params, history.

    Long tables go to a CSV in the workspace.
    """

    action: Literal["compare_runs"]
    experiment: str | list[str] = Field(description="Experiment name, or several names.")
    metric: str | None = Field(default=None, description="Metric that picks the best run.")
    goal: Literal["maximize", "minimize"] = "maximize"
    filter: str = Field(default="", description="MLflow search filter, e.g. \"params.model = 'rf'\".")
    run_ids: list[str] = Field(default_factory=list, description="Compare exactly these runs instead of searching.")
    max_results: int = Field(default=100, ge=1, le=5000)
    history: list[str] = Field(default_factory=list, max_length=10, description="Metrics whose history (step, value) to return for the best run.")


Operation = Annotated[SetupTracking | CreateExperiment | LogRun | CompareRuns, Field(discriminator="action")]


class TrackInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    tracking_uri: TrackingUri = None


class ExperimentInfo(BaseModel):
    experiment_id: str
    name: str
    artifact_location: str
    created: bool = Field(description="False when it already existed.")


class RunInfo(BaseModel):
    run_id: str
    run_name: str
    experiment_id: str
    status: str
    artifact_uri: str
    created: bool = Field(description="False when an identical earlier call already logged this run.")
    params: int
    metrics: int
    artifacts: list[str]
    model_uri: str | None = None


class BestRun(BaseModel):
    run_id: str
    run_name: str
    metric: str
    value: float


class Comparison(BaseModel):
    runs: TablePreview
    best: BestRun | None = None
    differing_params: dict[str, dict[str, str | None]] = Field(
        default_factory=dict,
        description=f"param -> {{run_id: value}} for params that differ among the first {PREVIEW_ROWS} runs (at most {MAX_DIFF_PARAMS} params).",
    )
    history: dict[str, TablePreview] = Field(
        default_factory=dict, description="metric -> its (step, value, timestamp_ms) rows for the best run; long curves go to a CSV."
    )


class TrackOutput(ToolOutput):
    action: str
    mode: Literal["embedded", "server"]
    tracking_uri: str = Field(description="The store used (passwords redacted).")
    experiment: ExperimentInfo | None = None
    run: RunInfo | None = None
    comparison: Comparison | None = None
    files: list[FileChange] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)


def run(inp: TrackInput, ctx: ToolContext) -> TrackOutput:
    from mlops_engineer.engines.mlflow.backend import (
        check_reachable,
        make_client,
        resolve_target,
        translate_errors,
    )

    target = resolve_target(ctx.workspace, ctx.settings, inp.tracking_uri)
    base = TrackOutput(action=inp.operation.action, mode=target.mode, tracking_uri=target.display_uri, dry_run=inp.dry_run)
    op = inp.operation
    if isinstance(op, SetupTracking):
        return _setup(op, inp, ctx, target, base)
    if inp.dry_run and isinstance(op, CreateExperiment | LogRun):
        return _plan(op, ctx, base)
    check_reachable(target)
    client = make_client(target)
    with translate_errors(target):
        if isinstance(op, CreateExperiment):
            return _create_experiment(op, client, target, base)
        if isinstance(op, LogRun):
            return _log_run(op, ctx, client, target, base)
        return _compare(op, ctx, client, base)


def _experiment_info(experiment: object, created: bool) -> ExperimentInfo:
    return ExperimentInfo(
        experiment_id=experiment.experiment_id,  # type: ignore[attr-defined]
        name=experiment.name,  # type: ignore[attr-defined]
        artifact_location=experiment.artifact_location,  # type: ignore[attr-defined]
        created=created,
    )


def _setup(op: SetupTracking, inp: TrackInput, ctx: ToolContext, target: MlflowTarget, base: TrackOutput) -> TrackOutput:
    from mlops_engineer.engines.mlflow.backend import check_reachable, make_client, translate_errors
    from mlops_engineer.engines.mlflow.tracking import get_or_create_experiment
    from mlops_engineer.optional import installed_version
    from mlops_engineer.redact import without_credentials
    from mlops_engineer.render import render_template, write_files

    values = {
        "experiment": op.experiment,
        # Snippets default to the store in use; credentials stay out of files.
        "tracking_uri": without_credentials(target.tracking_uri),
        "mlflow_port": op.mlflow_port,
        "bucket": op.bucket,
        "mlflow_version": installed_version("mlflow") or "3.5.0",
    }
    files: dict[str, str] = {}
    if op.team_stack:
        files[f"{op.output_dir}/docker-compose.yml"] = render_template("tracking/docker-compose.yml.j2", **values)
        files[f"{op.output_dir}/Dockerfile.mlflow"] = render_template("tracking/Dockerfile.mlflow.j2", **values)
        files[f"{op.output_dir}/.env.example"] = render_template("tracking/env.example.j2", **values)
    for framework in op.autolog:
        files[f"{op.output_dir}/autolog_{framework}.py"] = render_template(f"tracking/autolog_{framework}.py.j2", **values)
    base.planned_calls = [f"get or create experiment '{op.experiment}'"]
    if inp.dry_run:
        base.files = write_files(ctx.workspace, files, dry_run=True, confirm=inp.confirm)
        return base
    check_reachable(target)  # before writing: a call that fails changes nothing
    base.files = write_files(ctx.workspace, files, dry_run=False, confirm=inp.confirm)
    with translate_errors(target):
        experiment, created = get_or_create_experiment(make_client(target), target, op.experiment)
    base.experiment = _experiment_info(experiment, created)
    if op.team_stack:
        base.next_steps.append(
            f"Team server: cd {op.output_dir} && cp .env.example .env && docker compose up -d --build, "
            f"then set MLFLOW_TRACKING_URI=http://127.0.0.1:{op.mlflow_port}."
        )
    if op.autolog:
        base.next_steps.append(f"Try a snippet: python {op.output_dir}/autolog_{op.autolog[0]}.py")
    base.next_steps.append("Log runs with action log_run; compare them with action compare_runs.")
    return base


def _plan(op: CreateExperiment | LogRun, ctx: ToolContext, base: TrackOutput) -> TrackOutput:
    if isinstance(op, CreateExperiment):
        base.planned_calls = [f"get or create experiment '{op.name}' with tags {sorted(op.tags)}"]
        return base
    _resolve_run_files(op, ctx)  # a dry run still reports missing files
    base.planned_calls = [
        f"get or create experiment '{op.experiment}'",
        f"skip if a finished run with the same input exists, else create run '{op.run_name or '(auto)'}'",
        f"log {len(op.params)} params, {len(op.metrics)} metrics, {len(op.tags)} tags",
        *(f"upload artifact {a}" for a in op.artifacts),
        *(f"log dataset input {d.path} ({d.context})" for d in op.datasets),
        *([f"log {op.model.flavor} model {op.model.path} as '{op.model.name}'"] if op.model else []),
    ]
    return base


def _create_experiment(op: CreateExperiment, client: object, target: MlflowTarget, base: TrackOutput) -> TrackOutput:
    from mlops_engineer.engines.mlflow.tracking import get_or_create_experiment

    experiment, created = get_or_create_experiment(client, target, op.name, op.tags)  # type: ignore[arg-type]
    base.experiment = _experiment_info(experiment, created)
    base.planned_calls = [f"get or create experiment '{op.name}'"]
    return base


def _resolve_run_files(op: LogRun, ctx: ToolContext) -> dict[str, object]:
    """Check every referenced file before anything is logged, so a typo never leaves half a run."""
    ws = ctx.workspace
    artifacts = [ws.resolve(a, must_exist=True) for a in op.artifacts]
    _refuse_store_inside(op, ctx, artifacts, None)
    return {
        "artifacts": artifacts,
        "datasets": [ws.resolve(d.path, must_exist=True) for d in op.datasets],
        "model": ws.resolve(op.model.path, must_exist=True) if op.model else None,
        "example": ws.resolve(op.model.input_example, must_exist=True) if op.model and op.model.input_example else None,
    }


def _refuse_store_inside(op: LogRun, ctx: ToolContext, artifacts: list[Path], artifact_location: str | None) -> None:
    """An artifact folder must not hold our own state (.mlops: the stores, the artifacts), the
    artifact store it is copied into, or DVC's credentials: `artifacts: ["."]` would copy the
    workspace into itself until names grow too long, credentials included."""
    from mlops_engineer.errors import ToolError

    ws = ctx.workspace
    kept = [ws.state_dir, ws.root / ".dvc" / "config.local"]
    store = ws.uri_path(artifact_location) if artifact_location else None
    kept += [store] if store is not None else []
    for given, path in zip(op.artifacts, artifacts, strict=True):
        inside = [k for k in kept if k == path or path in k.parents]
        if inside:
            raise ToolError(
                "invalid_input",
                f"The artifact '{given}' contains {ws.relative(inside[0]) or '.'}, the workspace's own state "
                "(stores, artifacts or credentials): it cannot be logged as an artifact.",
                "List the files or folders to log one by one, e.g. \"reports\", \"model.joblib\".",
            )


def _log_run(op: LogRun, ctx: ToolContext, client: object, target: MlflowTarget, base: TrackOutput) -> TrackOutput:
    from mlops_engineer.engines.mlflow import tracking as engine
    from mlops_engineer.engines.mlflow.backend import confine_artifacts
    from mlops_engineer.output import stable_digest

    files = _resolve_run_files(op, ctx)
    artifacts: list = files["artifacts"]  # type: ignore[assignment]
    dataset_paths: list = files["datasets"]  # type: ignore[assignment]
    model_path, example_path = files["model"], files["example"]
    # The identity of this call: its input plus the content of every file it uploads.
    content = [engine.file_digest(p, ctx.check_cancelled) for p in [*artifacts, *dataset_paths] + ([model_path] if model_path else [])]
    digest = stable_digest({"input": op.model_dump(mode="json"), "content": content})

    experiment, _ = engine.get_or_create_experiment(client, target, op.experiment)  # type: ignore[arg-type]
    confine_artifacts(target, experiment)
    _refuse_store_inside(op, ctx, artifacts, experiment.artifact_location)
    metrics: list[engine.MetricPoint] = []
    for key, value in op.metrics.items():
        points = value if isinstance(value, list) else [MetricStep(value=value)]
        metrics += [engine.MetricPoint(key, p.value, p.step, p.timestamp_ms) for p in points]
    request = engine.RunRequest(
        experiment_id=experiment.experiment_id,
        run_name=op.run_name,
        params={k: str(v) for k, v in op.params.items()},
        metrics=metrics,
        tags=op.tags,
        artifacts=[(p, None) for p in artifacts],
        datasets=[
            engine.DatasetSpec(path, d.name or path.name, d.context, d.targets)
            for d, path in zip(op.datasets, dataset_paths, strict=True)
        ],
        model=engine.ModelSpec(model_path, op.model.flavor, op.model.name, example_path) if op.model else None,  # type: ignore[arg-type]
        digest=digest,
    )
    steps = 2 + len(artifacts) + bool(dataset_paths) + bool(model_path)
    done = [0]

    def step(message: str) -> None:
        done[0] += 1
        ctx.progress(done[0], steps, message)

    logged, base.recovered = engine.log_run(  # type: ignore[arg-type]
        client, target, request, step, workspace=ctx.workspace, check_cancelled=ctx.check_cancelled,
    )
    ctx.progress(steps, steps, "run finished")
    model_uri = f"runs:/{logged.run_id}/{op.model.name}" if op.model else None
    base.run = RunInfo(
        run_id=logged.run_id,
        run_name=logged.run_name,
        experiment_id=logged.experiment_id,
        status=logged.status,
        artifact_uri=logged.artifact_uri,
        created=logged.created,
        params=logged.params,
        metrics=logged.metrics,
        artifacts=[ctx.workspace.relative(p) for p in artifacts],
        model_uri=model_uri,
    )
    base.planned_calls = ["create run, log batch, upload artifacts, log inputs, set FINISHED"] if logged.created else ["found identical finished run"]
    if model_uri:
        base.next_steps = [f"Register it: register_ml_model with operation {{\"action\": \"register\", \"name\": \"<model name>\", \"run_id\": \"{logged.run_id}\"}}"]
    return base


def _compare(op: CompareRuns, ctx: ToolContext, client: object, base: TrackOutput) -> TrackOutput:
    from mlops_engineer.engines.mlflow import tracking as engine
    from mlops_engineer.errors import ToolError
    from mlops_engineer.output import preview_table

    names = [op.experiment] if isinstance(op.experiment, str) else op.experiment
    ids = []
    for name in names:
        experiment = client.get_experiment_by_name(name)  # type: ignore[attr-defined]
        if experiment is None:
            raise ToolError("not_found", f"No experiment named '{name}'.", "Create it (action create_experiment) or check the name.")
        ids.append(experiment.experiment_id)
    filter_string = op.filter
    if op.run_ids:
        quoted = ", ".join(f"'{r}'" for r in op.run_ids)
        filter_string = f"attributes.run_id IN ({quoted})" + (f" and {op.filter}" if op.filter else "")
    order = [f"metrics.`{op.metric}` {'DESC' if op.goal == 'maximize' else 'ASC'}"] if op.metric else []
    rows = engine.search_runs(client, ids, filter_string, order, op.max_results)  # type: ignore[arg-type]

    table = [
        {"run_id": r.run_id, "run_name": r.run_name, "status": r.status,
         **{f"params.{k}": v for k, v in sorted(r.params.items())},
         **{f"metrics.{k}": v for k, v in sorted(r.metrics.items())}}
        for r in rows
    ]
    comparison = Comparison(runs=preview_table(ctx.workspace, "compare_runs", table))
    scored = [r for r in rows if op.metric and op.metric in r.metrics]
    if scored:
        best = scored[0]
        comparison.best = BestRun(run_id=best.run_id, run_name=best.run_name, metric=op.metric or "", value=best.metrics[op.metric or ""])
        for key in op.history:
            points = [{"step": st, "value": v, "timestamp_ms": t} for st, v, t in engine.metric_history(client, best.run_id, key)]  # type: ignore[arg-type]
            comparison.history[key] = preview_table(ctx.workspace, f"history-{key}", points, limit=HISTORY_POINTS)
    differing = engine.differing_params(rows[:PREVIEW_ROWS])
    comparison.differing_params = dict(list(differing.items())[:MAX_DIFF_PARAMS])
    base.comparison = comparison
    base.planned_calls = [f"search runs in {names} filter={filter_string!r} order={order}"]
    return base


def summarize(out: TrackOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.run:
        verb = "logged" if out.run.created else "already logged (same input)"
        return f"{prefix}Run {out.run.run_id} ({out.run.run_name}) {verb} in experiment {out.run.experiment_id} at {out.tracking_uri}."
    if out.comparison:
        best = out.comparison.best
        head = f"Compared {out.comparison.runs.total_rows} runs"
        return f"{head}; best {best.run_id} with {best.metric}={best.value:g}." if best else head + "."
    if out.files:
        changed = sum(1 for f in out.files if f.action != "unchanged")
        return f"{prefix}Tracking ready ({out.mode}: {out.tracking_uri}); {changed} file(s) written of {len(out.files)}."
    if out.experiment:
        state = "created" if out.experiment.created else "exists"
        return f"{prefix}Experiment '{out.experiment.name}' ({out.experiment.experiment_id}) {state}."
    return f"{prefix}{out.action}: done ({out.mode})."


TOOL = ToolSpec(
    name="track_ml_experiments",
    title="Track ML experiments (MLflow)",
    description=__doc__ or "",
    input_model=TrackInput,
    output_model=TrackOutput,
    run=run,
    summarize=summarize,
    # destructive: `setup` with confirm=true overwrites a rendered file the user edited.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(TrackInput, '{"operation": {"action": "create_experiment", "name": "churn"}}'),
)
