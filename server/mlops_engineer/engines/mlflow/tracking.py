"""Experiments and runs through MlflowClient: create, log idempotently, compare."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.mlflow.backend import MlflowTarget, fluent
from mlops_engineer.errors import ToolError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Experiment, Run

    from mlops_engineer.workspace import Workspace

DIGEST_TAG = "mlops_engineer.input_digest"
MAX_SEARCH = 5000


def file_digest(path: Path, check_cancelled: Callable[[], None] = lambda: None) -> str:
    """Content hash of a file or folder, so re-logging the same artifacts is recognised."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for item in files:
        digest.update(item.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        with item.open("rb") as handle:
            for chunk in iter(lambda: handle.read(8 << 20), b""):
                check_cancelled()
                digest.update(chunk)
    return digest.hexdigest()


def get_or_create_experiment(
    client: MlflowClient, target: MlflowTarget, name: str, tags: dict[str, str] | None = None
) -> tuple[Experiment, bool]:
    """Return the experiment called `name`, creating it (with `tags`) if it does not exist."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            raise ToolError(
                "conflict",
                f"Experiment '{name}' exists but is deleted.",
                f"Restore it (`mlflow experiments restore --experiment-id {existing.experiment_id}`) or pick another name.",
            )
        changed = {k: v for k, v in (tags or {}).items() if existing.tags.get(k) != v}
        for key, value in changed.items():
            client.set_experiment_tag(existing.experiment_id, key, value)
        return (client.get_experiment(existing.experiment_id) if changed else existing), False
    from mlflow.exceptions import MlflowException

    location = None
    if target.artifact_root is not None:
        location = (target.artifact_root / _safe_folder(name)).as_uri()
    try:
        experiment_id = client.create_experiment(name, artifact_location=location, tags=tags or None)
    except MlflowException as exc:
        # Another call created it a moment ago (the name is unique in the store): use that one.
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS" or client.get_experiment_by_name(name) is None:
            raise
        return get_or_create_experiment(client, target, name, tags)
    return client.get_experiment(experiment_id), True


def _safe_folder(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "experiment"


@dataclass
class MetricPoint:
    key: str
    value: float
    step: int = 0
    timestamp_ms: int | None = None


@dataclass
class DatasetSpec:
    path: Path
    name: str
    context: str
    targets: str | None = None


@dataclass
class ModelSpec:
    path: Path
    flavor: str
    name: str
    input_example: Path | None = None


@dataclass
class RunRequest:
    experiment_id: str
    run_name: str | None
    params: dict[str, str]
    metrics: list[MetricPoint]
    tags: dict[str, str]
    artifacts: list[tuple[Path, str | None]] = field(default_factory=list)  # (local path, artifact dir)
    datasets: list[DatasetSpec] = field(default_factory=list)
    model: ModelSpec | None = None
    digest: str = ""


def find_run_by_digest(client: MlflowClient, experiment_id: str, digest: str) -> Run | None:
    """A finished run logged earlier from the same input, if any."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{DIGEST_TAG}` = '{digest}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return runs[0] if runs else None


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    run_name: str
    experiment_id: str
    status: str
    artifact_uri: str
    params: int
    metrics: int
    created: bool

    @classmethod
    def from_run(cls, run: Run, created: bool) -> LoggedRun:
        info = run.info
        return cls(info.run_id, info.run_name or "", info.experiment_id, info.status, info.artifact_uri or "",
                   len(run.data.params), len(run.data.metrics), created)


OWNER_TAG = "mlops_engineer.owner"


def log_run(
    client: MlflowClient, target: MlflowTarget, request: RunRequest, step: Callable[[str], None],
    *, workspace: Workspace, check_cancelled: Callable[[], None] = lambda: None,
) -> tuple[LoggedRun, list[str]]:
    """Log a complete run, or return the run an identical earlier call logged; also what was
    recovered from interrupted earlier calls (runs left RUNNING by a process that died).

    Identical calls at the same moment (threads, or processes sharing the workspace) take turns
    on a workspace lock keyed by the input's digest, so one logs and the others find its run.
    If anything fails midway the run is marked FAILED (KILLED on cancel), so a retry (which only
    matches FINISHED runs) logs it afresh instead of returning half a run. A process killed
    outright cannot mark its run; the run carries its owner (host, pid, start) for the next call.
    """
    from mlops_engineer.locks import workspace_lock
    from mlops_engineer.output import stable_digest

    key = "mlflow-run-" + stable_digest([target.tracking_uri, request.experiment_id, request.digest])[:32]
    with workspace_lock(workspace, key, check_cancelled=check_cancelled):
        recovered = reclaim_orphan_runs(client, request.experiment_id)
        if request.digest:
            previous = find_run_by_digest(client, request.experiment_id, request.digest)
            if previous is not None:
                return LoggedRun.from_run(previous, created=False), recovered
        check_cancelled()
        return _create_and_log(client, target, request, step, check_cancelled), recovered


def reclaim_orphan_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED the runs of this experiment that a process of ours on this host left RUNNING
    when it died (kill -9, a crash, a power cut); say what was done, one line each."""
    from mlops_engineer.locks import HOST, owner_alive

    recovered = []
    orphans = client.search_runs(
        [experiment_id], filter_string=f"attributes.status = 'RUNNING' and tags.`{OWNER_TAG}` LIKE '{HOST}:%'", max_results=100,
    )
    for run in orphans:
        record = run.data.tags.get(OWNER_TAG, "")
        if owner_alive(record) is not False:
            continue
        run_id = run.info.run_id
        client.set_tag(run_id, "mlops_engineer.recovery", f"left RUNNING by process {record}, which died; marked KILLED")
        client.set_terminated(run_id, "KILLED")
        recovered.append(f"run {run_id} was left RUNNING by a process that died ({record}); marked KILLED")
    return recovered


def _create_and_log(
    client: MlflowClient, target: MlflowTarget, request: RunRequest, step: Callable[[str], None], check_cancelled: Callable[[], None],
) -> LoggedRun:
    from mlflow.entities import Metric, Param

    from mlops_engineer.errors import ToolError
    from mlops_engineer.locks import owner

    tags = dict(request.tags)
    if request.digest:
        tags[DIGEST_TAG] = request.digest
    tags[OWNER_TAG] = owner()
    run = client.create_run(request.experiment_id, run_name=request.run_name, tags=tags)
    run_id = run.info.run_id
    try:
        step("params, metrics and tags")
        now = int(time.time() * 1000)
        metrics = [Metric(m.key, m.value, m.timestamp_ms or now, m.step) for m in request.metrics]
        params = [Param(k, v) for k, v in request.params.items()]
        # log_batch caps each request (1000 metrics, 100 params); chunk to stay inside it.
        for start in range(0, max(len(metrics), len(params), 1), 100):
            client.log_batch(run_id, metrics=metrics[start : start + 100], params=params[start : start + 100])
        local_root = local_artifact_root(run.info.artifact_uri or "")
        for local, artifact_dir in request.artifacts:
            step(f"artifact {local.name}")
            if local_root is not None:  # copied here, so a cancel stops it between chunks
                dest = local_root / artifact_dir if artifact_dir else local_root
                copy_artifact(local, dest / local.name if local.is_dir() and not artifact_dir else dest, check_cancelled)
            elif local.is_dir():
                client.log_artifacts(run_id, str(local), artifact_dir or local.name)
            else:
                client.log_artifact(run_id, str(local), artifact_dir)
        if request.datasets:
            step("dataset inputs")
            _log_datasets(client, run_id, request.datasets)
        if request.model is not None:
            step(f"model {request.model.name}")
            log_model(target, run_id, request.model)
        check_cancelled()  # a cancelled call never finishes its run
        client.set_terminated(run_id, "FINISHED")
    except ToolError as error:
        client.set_terminated(run_id, "KILLED" if error.code == "cancelled" else "FAILED")
        raise
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    # Answer from what we logged rather than reading the run back: one request fewer.
    logged = LoggedRun.from_run(run, created=True)
    return dataclasses.replace(
        logged, status="FINISHED", params=len(request.params), metrics=len({m.key for m in request.metrics})
    )


COPY_CHUNK = 8 << 20


def local_artifact_root(artifact_uri: str) -> Path | None:
    """The folder of a run's artifacts when they live on this machine (file: URIs, plain paths)."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    parts = urlsplit(artifact_uri)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return Path(url2pathname(parts.path))
    if not parts.scheme and artifact_uri.startswith("/"):
        return Path(artifact_uri)
    return None


def copy_artifact(source: Path, dest: Path, check_cancelled: Callable[[], None]) -> None:
    """Copy a file into folder `dest` (a folder's files into `dest`), as MLflow's local artifact
    store does, but in chunks that check for cancellation; a partial copy is removed."""
    if source.is_dir():
        for item in sorted(source.rglob("*")):
            if item.is_file():
                copy_artifact(item, dest / item.relative_to(source).parent, check_cancelled)
        return
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    target = dest / source.name
    partial = dest / f".{source.name}.partial"
    try:
        with source.open("rb") as src, partial.open("wb") as out:
            for chunk in iter(lambda: src.read(COPY_CHUNK), b""):
                check_cancelled()
                out.write(chunk)
        check_cancelled()
        shutil.copystat(source, partial)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def read_table(path: Path) -> Any:
    import pandas as pd

    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".txt"):
        return pd.read_csv(path)
    raise ToolError("invalid_input", f"Cannot read '{path.name}': only CSV and Parquet datasets are supported.")


def _log_datasets(client: MlflowClient, run_id: str, datasets: Sequence[DatasetSpec]) -> None:
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = []
    for spec in datasets:
        frame = read_table(spec.path)
        if spec.targets and spec.targets not in frame.columns:
            raise ToolError("invalid_input", f"Dataset {spec.path.name} has no target column '{spec.targets}'.")
        dataset = mlflow.data.from_pandas(frame, source=spec.path.as_uri(), name=spec.name, targets=spec.targets)
        inputs.append(
            DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, spec.context)])
        )
    client.log_inputs(run_id, datasets=inputs)


def log_model(target: MlflowTarget, run_id: str, spec: ModelSpec) -> None:
    """Log the joblib model at `spec.path` into the existing run `run_id` (scikit-learn flavor only)."""
    import joblib

    if spec.flavor != "sklearn":
        raise ToolError("invalid_input", f"Model flavor '{spec.flavor}' is not supported yet.", "Use flavor 'sklearn'.")
    model = joblib.load(spec.path)
    example = read_table(spec.input_example).head(5) if spec.input_example else None
    with fluent(target) as mlflow:
        import mlflow.sklearn

        with mlflow.start_run(run_id=run_id, nested=False):
            mlflow.sklearn.log_model(
                model,
                name=spec.name,
                input_example=example,
                pip_requirements=_sklearn_requirements(),
                skops_trusted_types=_skops_trusted_types(model),
            )
        # start_run(run_id=...) ends the run as FINISHED; the caller still decides the final status.


def _skops_trusted_types(model: Any) -> list[str] | None:
    """The types skops would refuse to load back (tree node arrays, custom classes).

    MLflow 3 stores scikit-learn models with skops, which only loads types it
    was told to trust. The model came from the user's own workspace and was
    already unpickled here, so trusting the types it is made of adds no risk;
    without this, every tree ensemble fails to log.
    """
    try:
        import skops.io
    except ImportError:
        return None
    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model))) or None


def _sklearn_requirements() -> list[str]:
    """Pin what this process runs with. Letting MLflow infer requirements reloads the
    model in a subprocess and costs ~20 s per model; the answer is the same."""
    from mlops_engineer.optional import installed_version

    pins = []
    for dist in ("mlflow", "scikit-learn", "numpy", "scipy", "pandas", "cloudpickle"):
        version = installed_version(dist)
        if version:
            pins.append(f"{dist}=={version}")
    return pins


@dataclass
class RunRow:
    run_id: str
    run_name: str
    status: str
    start_time: int
    params: dict[str, str]
    metrics: dict[str, float]


def search_runs(
    client: MlflowClient, experiment_ids: list[str], filter_string: str, order_by: list[str], max_results: int
) -> list[RunRow]:
    runs = client.search_runs(
        experiment_ids, filter_string=filter_string, max_results=min(max_results, MAX_SEARCH), order_by=order_by
    )
    return [
        RunRow(
            run_id=r.info.run_id,
            run_name=r.info.run_name or "",
            status=r.info.status,
            start_time=r.info.start_time or 0,
            params=dict(r.data.params),
            metrics={k: v for k, v in r.data.metrics.items() if not math.isnan(v)},
        )
        for r in runs
    ]


def differing_params(rows: Sequence[RunRow]) -> dict[str, dict[str, str | None]]:
    """Params whose value is not the same in every run: param -> {run_id: value}."""
    keys = sorted({k for row in rows for k in row.params})
    result: dict[str, dict[str, str | None]] = {}
    for key in keys:
        values = {row.run_id: row.params.get(key) for row in rows}
        if len(set(values.values())) > 1:
            result[key] = values
    return result


def metric_history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float, int]]:
    """(step, value, timestamp) of every logged value of `key`, in step order."""
    history = client.get_metric_history(run_id, key)
    return sorted(((m.step, m.value, m.timestamp) for m in history), key=lambda t: (t[0], t[2]))
