"""The MLflow Model Registry: idempotent registration, aliases, stages, approvals as tags,
and the validation gate that decides whether a candidate may replace the champion."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from mlops_engineer.engines.mlflow.backend import MlflowTarget, fluent
from mlops_engineer.errors import ToolError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from mlops_engineer.workspace import Workspace

APPROVAL_STATUS = "approval.status"
APPROVAL_REQUESTED_BY = "approval.requested_by"
APPROVAL_NOTE = "approval.note"
APPROVER = "approval.approver"
APPROVAL_REASON = "approval.reason"


def find_version_for_source(client: MlflowClient, name: str, run_id: str, source_path: str) -> ModelVersion | None:
    """An existing version of `name` built from this run's model, however it was registered.

    MLflow 3 stores a version's source as `models:/m-<id>` rather than the
    `runs:/<run>/<path>` it was registered from, so a version made by hand is
    recognised through its logged model's name and source run.
    """
    artifact_path = source_path.rsplit("/", 1)[-1]
    versions = client.search_model_versions(f"name = '{_quote(name)}' and run_id = '{_quote(run_id)}'")
    for version in sorted(versions, key=lambda v: int(v.version)):
        if version.tags.get("mlops_engineer.source") == source_path or version.source.rstrip("/") == source_path:
            return version
        if version.source.startswith("models:/m-") and _logged_model_name(client, version.source) == artifact_path:
            return version
    return None


def _logged_model_name(client: MlflowClient, source: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_logged_model(source.removeprefix("models:/")).name)
    except MlflowException:
        return None


def client_has_model(client: MlflowClient, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def register_from_run(
    client: MlflowClient, target: MlflowTarget, name: str, run_id: str, artifact_path: str,
    tags: dict[str, str], description: str | None, *, workspace: Workspace,
) -> tuple[ModelVersion, bool]:
    """Register runs:/<run_id>/<artifact_path> as a version of `name`; the same run and name give the same version.

    Concurrent registrations of one source (threads, or processes sharing the workspace) take
    turns on a workspace lock, so one creates the version and the others find it.
    """
    from mlops_engineer.locks import workspace_lock
    from mlops_engineer.output import stable_digest

    source_key = f"runs:/{run_id}/{artifact_path}"
    with workspace_lock(workspace, "mlflow-version-" + stable_digest([target.registry_uri, name, source_key])[:32]):
        existing = find_version_for_source(client, name, run_id, source_key)
        if existing is not None:
            return existing, False
        client.get_run(run_id)  # a clear not_found for a wrong run id, before anything is created
        _ensure_registered_model(client, name)
        with fluent(target) as mlflow:
            # The fluent call resolves MLflow 3 logged models (runs:/ -> models:/<model_id>).
            version = mlflow.register_model(source_key, name, tags={**tags, "mlops_engineer.source": source_key})
        if description:
            client.update_model_version(name, version.version, description=description)
        return client.get_model_version(name, version.version), True


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    if client_has_model(client, name):
        return
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise  # else another call (another source) created it a moment ago


def transition_stage(client: MlflowClient, name: str, version: str, stage: str, archive_existing: bool) -> list[str]:
    """Move `version` to `stage`; with `archive_existing`, archive the others in that stage first.

    We archive one version at a time instead of passing `archive_existing_versions`
    to MLflow: that flag fails on PostgreSQL-backed servers (a type mismatch in
    MLflow's query under psycopg 3). Returns the versions archived.
    """
    archived = []
    if archive_existing and stage in ("Staging", "Production"):
        for other in client.search_model_versions(f"name = '{_quote(name)}'"):
            if str(other.version) != str(version) and other.current_stage == stage:
                client.transition_model_version_stage(name, str(other.version), "Archived")
                archived.append(str(other.version))
    client.transition_model_version_stage(name, version, stage)
    return archived


def approval_status(version: ModelVersion) -> str:
    return version.tags.get(APPROVAL_STATUS, "none")


def version_aliases(client: MlflowClient, name: str) -> dict[str, str]:
    """alias -> version for the registered model."""
    model = client.get_registered_model(name)
    return {alias: str(v) for alias, v in (model.aliases or {}).items()}


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def run_metric(client: MlflowClient, version: ModelVersion, metric: str) -> float:
    if not version.run_id:
        raise ToolError("invalid_input", f"Version {version.version} of '{version.name}' has no run, so it has no '{metric}'.")
    value = client.get_run(version.run_id).data.metrics.get(metric)
    if value is None or math.isnan(value):
        raise ToolError(
            "invalid_input",
            f"Run {version.run_id} (version {version.version}) did not log the metric '{metric}'.",
            "Log it (track_ml_experiments log_run) or gate on a metric both runs have.",
        )
    return float(value)


class GateDecision(BaseModel):
    """The validation gate's verdict, with the numbers it was reached on."""

    passed: bool
    metric: str | None
    goal: Literal["maximize", "minimize"]
    candidate_value: float | None
    champion_version: str | None
    champion_value: float | None
    min_improvement: float
    improvement: float | None
    reason: str


def validation_gate(
    client: MlflowClient, candidate: ModelVersion, champion: ModelVersion | None,
    metric: str | None, goal: Literal["maximize", "minimize"], min_improvement: float,
) -> GateDecision:
    """A candidate passes if there is no champion, or it beats the champion on `metric`
    by at least `min_improvement` (and strictly, when the margin is 0)."""
    if champion is None or str(champion.version) == str(candidate.version):
        reason = "no current champion" if champion is None else "candidate already holds the alias"
        value = run_metric(client, candidate, metric) if metric and candidate.run_id else None
        held_by = None if champion is None else str(champion.version)
        return GateDecision(passed=True, metric=metric, goal=goal, candidate_value=value, champion_version=held_by,
                            champion_value=None, min_improvement=min_improvement, improvement=None, reason=reason)
    if metric is None:
        return GateDecision(passed=False, metric=None, goal=goal, candidate_value=None,
                            champion_version=str(champion.version), champion_value=None,
                            min_improvement=min_improvement, improvement=None,
                            reason="a champion exists, so promotion needs a metric to compare on")
    cand, champ = run_metric(client, candidate, metric), run_metric(client, champion, metric)
    improvement = cand - champ if goal == "maximize" else champ - cand
    passed = improvement > 0 and improvement >= min_improvement
    better = "beats" if passed else "does not beat"
    reason = (f"candidate {metric}={cand:.6g} {better} champion v{champion.version} {metric}={champ:.6g} "
              f"by the required margin {min_improvement:g} (improvement {improvement:.6g}, goal {goal})")
    return GateDecision(passed=passed, metric=metric, goal=goal, candidate_value=cand,
                        champion_version=str(champion.version), champion_value=champ,
                        min_improvement=min_improvement, improvement=improvement, reason=reason)
