"""Studies as MLflow runs: one parent run per study, one nested child run per trial.

A study is found again by a tag (its key: backend + storage + study name), and a
trial by its number, so resuming a study, or several workers sharing one, never
logs a trial twice. Workers that start a fresh study at the same moment may each
create a parent; `reconcile_parents` keeps the oldest and moves the children to it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

STUDY_KEY = "mlops_engineer.study_key"
ROLE = "mlops_engineer.role"
TRIAL_NUMBER = "mlops_engineer.trial_number"
TRIAL_STATE = "mlops_engineer.trial_state"
PARENT = "mlflow.parentRunId"
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def study_key(backend: str, storage: str, study_name: str) -> str:
    return hashlib.sha256(f"{backend}\n{storage}\n{study_name}".encode()).hexdigest()[:24]


@dataclass
class TrialRecord:
    number: int
    state: str  # COMPLETE | PRUNED | FAIL
    params: dict[str, Any]
    values: list[float] | None
    metric_names: list[str]
    intermediate: dict[int, float] = field(default_factory=dict)
    duration_s: float | None = None
    error: str | None = None


def _search(client: MlflowClient, experiment_id: str, filter_string: str) -> Iterator[Run]:
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=filter_string, max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _parents(client: MlflowClient, experiment_id: str, key: str) -> list[Run]:
    runs = list(_search(client, experiment_id, f"tags.`{STUDY_KEY}` = '{key}' and tags.`{ROLE}` = 'study'"))
    return sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))


def ensure_parent(client: MlflowClient, experiment_id: str, key: str, run_name: str, tags: dict[str, str]) -> tuple[str, bool]:
    """The study's parent run (the oldest if several), created when there is none."""
    existing = _parents(client, experiment_id, key)
    if existing:
        parent = existing[0]
        changed = {k: v for k, v in tags.items() if parent.data.tags.get(k) != v}
        for k, v in changed.items():
            client.set_tag(parent.info.run_id, k, v)
        if parent.info.status != "RUNNING":
            client.update_run(parent.info.run_id, status="RUNNING")
        return parent.info.run_id, False
    run = client.create_run(experiment_id, run_name=run_name, tags={**tags, STUDY_KEY: key, ROLE: "study"})
    return run.info.run_id, True


def reconcile_parents(client: MlflowClient, experiment_id: str, key: str) -> str | None:
    """Keep the oldest parent of a study; move the children of any other to it and delete the others."""
    parents = _parents(client, experiment_id, key)
    if not parents:
        return None
    keep = parents[0].info.run_id
    for extra in parents[1:]:
        for child in _search(client, experiment_id, f"tags.`{PARENT}` = '{extra.info.run_id}'"):
            client.set_tag(child.info.run_id, PARENT, keep)
        client.delete_run(extra.info.run_id)
    return keep


def logged_trials(client: MlflowClient, experiment_id: str, key: str) -> dict[int, str]:
    """trial number -> child run id, for every trial of this study already in MLflow."""
    found: dict[int, str] = {}
    for run in _search(client, experiment_id, f"tags.`{STUDY_KEY}` = '{key}' and tags.`{ROLE}` = 'trial'"):
        number = int(run.data.tags.get(TRIAL_NUMBER, "-1"))
        found.setdefault(number, run.info.run_id)
    return found


def log_trial(client: MlflowClient, experiment_id: str, parent_id: str, key: str, record: TrialRecord) -> str:
    """One finished trial as a nested run: params, final metrics, the intermediate curve, its state."""
    from mlflow.entities import Metric, Param

    tags = {PARENT: parent_id, STUDY_KEY: key, ROLE: "trial", TRIAL_NUMBER: str(record.number), TRIAL_STATE: record.state}
    if record.error:
        tags["mlops_engineer.trial_error"] = record.error[:4000]
    run = client.create_run(experiment_id, run_name=f"trial-{record.number}", tags=tags)
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    last = max(record.intermediate, default=0)
    metrics = [Metric(name, float(value), now, last) for name, value in zip(record.metric_names, record.values or [], strict=False)]
    if record.intermediate and record.metric_names:
        curve = f"{record.metric_names[0]}_per_step"
        metrics += [Metric(curve, float(v), now, int(step)) for step, v in sorted(record.intermediate.items())]
    if record.duration_s is not None:
        metrics.append(Metric("trial_seconds", round(record.duration_s, 3), now, 0))
    params = [Param(k, str(v)[:6000]) for k, v in record.params.items()]
    for start in range(0, max(len(metrics), len(params), 1), 100):
        client.log_batch(run_id, metrics=metrics[start : start + 100], params=params[start : start + 100])
    client.set_terminated(run_id, RUN_STATUS.get(record.state, "FAILED"))
    return run_id


def finish_parent(client: MlflowClient, parent_id: str, finished: int, best: dict[str, float], best_params: dict[str, Any], status: str) -> None:
    """Best values as metrics (stepped by the number of finished trials) and best params as tags."""
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    metrics = [Metric(f"best_{name}", float(v), now, finished) for name, v in best.items()]
    metrics.append(Metric("finished_trials", float(finished), now, finished))
    tags = [RunTag(f"best.{k}", str(v)[:5000]) for k, v in best_params.items()]
    client.log_batch(parent_id, metrics=metrics, tags=tags)
    client.set_terminated(parent_id, status)
