"""Manage models in the MLflow Model Registry: register versions from runs, move aliases
(champion / challenger), legacy stage transitions, an approval workflow, a validation
gate before promotion, and Markdown model cards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.mlflow.backend import TrackingUri
from mlops_engineer.engines.mlflow.registry import GateDecision
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.render import FileChange
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_engineer.engines.mlflow.backend import MlflowTarget

ModelName = Annotated[str, Field(min_length=1, max_length=256, description="Registered model name.")]
# A version is a string in MLflow's API; a bare number (3) is read as "3" (people and models both write it so).
Version = Annotated[str, Field(pattern=r"^[1-9][0-9]*$", coerce_numbers_to_str=True, description="Model version number, e.g. \"3\".")]
Alias = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,255}$", description="Alias, e.g. champion.")]
Goal = Literal["maximize", "minimize"]


class Register(StrictModel):
    """Version from runs:/<run_id>/<path>; idempotent.

    The same run and name give the same version.
    """

    action: Literal["register"]
    name: ModelName
    run_id: str = Field(min_length=1, description="Run that logged the model.")
    artifact_path: str = Field(default="model", description="Model name inside the run (log_model name=...).")
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class SetAlias(StrictModel):
    """Point an alias (champion, challenger) at a version."""

    action: Literal["set_alias"]
    name: ModelName
    alias: Alias
    version: Version


class DeleteAlias(StrictModel):
    """Remove an alias (needs confirm)."""

    action: Literal["delete_alias"]
    name: ModelName
    alias: Alias


class TransitionStage(StrictModel):
    """Legacy stage: Staging, Production, Archived, None.

    Archived needs confirm; Production needs an approved version unless require_approval is
    false.
    """

    action: Literal["transition_stage"]
    name: ModelName
    version: Version
    stage: Literal["Staging", "Production", "Archived", "None"]
    archive_existing: bool = Field(default=False, description="Archive the versions now in the target stage (needs confirm).")
    require_approval: bool = Field(default=True, description="Refuse Production unless the version is approved.")


class RequestApproval(StrictModel):
    """Ask for approval of a version.

    Status, requester and reason are stored as version tags.
    """

    action: Literal["request_approval"]
    name: ModelName
    version: Version
    requested_by: str = Field(min_length=1)
    note: str = ""


class Review(StrictModel):
    """Approve or reject a version, with a reason."""

    action: Literal["review"]
    name: ModelName
    version: Version
    decision: Literal["approve", "reject"]
    approver: str = Field(min_length=1)
    reason: str = Field(min_length=1, description="Why; recorded on the version.")


class Promote(StrictModel):
    """Approval check + validation gate, then move the alias.

    The candidate must beat the champion on a metric by a margin; the replaced holder keeps the
    alias `previous` for rollback.
    """

    action: Literal["promote"]
    name: ModelName
    version: Version
    alias: Alias = "champion"
    metric: str | None = Field(default=None, description="Metric the candidate must beat the champion on.")
    goal: Goal = "maximize"
    min_improvement: float = Field(default=0.0, ge=0, description="Required margin over the champion.")
    require_approval: bool = Field(default=True, description="Refuse unless the version was approved (review).")
    previous_alias: Alias | None = Field(default="previous", description="Alias the replaced champion keeps, for rollback.")


class ModelCard(StrictModel):
    """Markdown card from the run's params, metrics and data."""

    action: Literal["model_card"]
    name: ModelName
    version: Version
    output_path: str | None = Field(default=None, description="Default: docs/model-cards/<name>-v<version>.md")


class DeleteVersion(StrictModel):
    """Delete a version (needs confirm)."""

    action: Literal["delete_version"]
    name: ModelName
    version: Version


class Describe(StrictModel):
    """Versions, aliases, stages and approvals of a model."""

    action: Literal["describe"]
    name: ModelName


Operation = Annotated[
    Register | SetAlias | DeleteAlias | TransitionStage | RequestApproval | Review | Promote | ModelCard | DeleteVersion | Describe,
    Field(discriminator="action"),
]


class RegisterInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    tracking_uri: TrackingUri = None


class VersionInfo(BaseModel):
    name: str
    version: str
    run_id: str | None
    source: str
    status: str
    stage: str
    aliases: list[str]
    approval: str = Field(description="none | pending | approved | rejected")
    created: bool | None = Field(default=None, description="For register: false when this run was already registered.")


class RegisterOutput(ToolOutput):
    action: str
    mode: Literal["embedded", "server"]
    tracking_uri: str
    model: str
    version: VersionInfo | None = None
    versions: list[VersionInfo] = Field(default_factory=list, description="For describe: newest 50 versions.")
    aliases: dict[str, str] = Field(default_factory=dict, description="alias -> version after the call (unchanged in a dry run).")
    gate: GateDecision | None = None
    promoted: bool | None = None
    files: list[FileChange] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)


DESTRUCTIVE_HINT = "Call with dry_run=true to see what changes, then with confirm=true to do it."


def run(inp: RegisterInput, ctx: ToolContext) -> RegisterOutput:
    from mlops_engineer.engines.mlflow.backend import (
        check_reachable,
        make_client,
        resolve_target,
        translate_errors,
    )

    op = inp.operation
    target = resolve_target(ctx.workspace, ctx.settings, inp.tracking_uri)
    out = RegisterOutput(action=op.action, mode=target.mode, tracking_uri=target.display_uri, model=op.name, dry_run=inp.dry_run)
    check_reachable(target)
    client = make_client(target)
    handler = _HANDLERS[op.action]
    with translate_errors(target):
        handler(op, inp, ctx, client, target, out)
        out.aliases = _aliases(client, op.name)  # after the call; in a dry run, as they stand
    return out


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    from mlops_engineer.engines.mlflow.registry import client_has_model, version_aliases

    return version_aliases(client, name) if client_has_model(client, name) else {}


def _info(client: MlflowClient, name: str, version: str, created: bool | None = None) -> VersionInfo:
    from mlops_engineer.engines.mlflow.registry import approval_status

    mv = client.get_model_version(name, version)
    return VersionInfo(
        name=mv.name, version=str(mv.version), run_id=mv.run_id, source=mv.source, status=mv.status,
        stage=mv.current_stage or "None", aliases=list(mv.aliases or []), approval=approval_status(mv), created=created,
    )


def _needs_confirm(inp: RegisterInput, what: str) -> None:
    from mlops_engineer.errors import ToolError

    if not inp.confirm and not inp.dry_run:
        raise ToolError("needs_confirm", f"Refusing to {what} without confirm=true.", DESTRUCTIVE_HINT)


def _register(op: Register, inp: RegisterInput, ctx: ToolContext, client: MlflowClient, target: MlflowTarget, out: RegisterOutput) -> None:
    from mlops_engineer.engines.mlflow.registry import find_version_for_source, register_from_run

    source = f"runs:/{op.run_id}/{op.artifact_path}"
    if inp.dry_run:
        existing = find_version_for_source(client, op.name, op.run_id, source)
        out.planned_calls = [f"already registered as version {existing.version}"] if existing else [f"create version of '{op.name}' from {source}"]
        return
    ctx.progress(0, 2, f"registering {source}")
    version, created = register_from_run(client, target, op.name, op.run_id, op.artifact_path, op.tags, op.description, workspace=ctx.workspace)
    out.version = _info(client, op.name, str(version.version), created)
    out.planned_calls = [f"create version {version.version} from {source}" if created else f"found version {version.version} for {source}"]
    out.next_steps = [f"Ask for approval (request_approval) or promote it: promote name={op.name} version={version.version}."]


def _set_alias(op: SetAlias, inp: RegisterInput, ctx: ToolContext, client: MlflowClient, target: MlflowTarget, out: RegisterOutput) -> None:
    out.planned_calls = [f"set alias {op.alias} -> version {op.version} of '{op.name}'"]
    if not inp.dry_run:
        client.get_model_version(op.name, op.version)
        client.set_registered_model_alias(op.name, op.alias, op.version)
        out.version = _info(client, op.name, op.version)


def _delete_alias(op: DeleteAlias, inp: RegisterInput, ctx: ToolContext, client: MlflowClient, target: MlflowTarget, out: RegisterOutput) -> None:
    from mlops_engineer.engines.mlflow.registry import alias_version

    current = alias_version(client, op.name, op.alias)
    out.planned_calls = [f"delete alias {op.alias} (now version {current.version if current else 'none'})"]
    if current is None or inp.dry_run:
        return
    _needs_confirm(inp, f"remove alias '{op.alias}' (anything loading models:/{op.name}@{op.alias} will break)")
    client.delete_registered_model_alias(op.name, op.alias)


def _transition(op: TransitionStage, inp: RegisterInput, ctx: ToolContext, client: MlflowClient, target: MlflowTarget, out: RegisterOutput) -> None:
    from mlops_engineer.engines.mlflow.registry import approval_status, transition_stage
    from mlops_engineer.errors import ToolError

    mv = client.get_model_version(op.name, op.version)
    out.planned_calls = [f"transition version {op.version} {mv.current_stage} -> {op.stage}" + (" and archive others in that stage" if op.archive_existing else "")]
    if op.stage == "Production" and op.require_approval and approval_status(mv) != "approved":
        raise ToolError(
            "conflict",
            f"Version {op.version} of '{op.name}' is not approved (status: {approval_status(mv)}).",
            "Run request_approval and review with decision=approve first, or pass require_approval=false.",
        )
    if inp.dry_run or mv.current_stage == op.stage:
        out.version = _info(client, op.name, op.version)
        return
    if op.stage == "Archived" or op.archive_existing:
        _needs_confirm(inp, "archive model versions")
    archived = transition_stage(client, op.name, op.version, op.stage, op.archive_existing)
    out.version = _info(client, op.name, op.version)
    out.planned_calls += [f"archived version {v}" for v in archived]


def _request_approval(op: RequestApproval, inp: RegisterInput, ctx: ToolContext, client: MlflowClient, target: MlflowTarget, out: RegisterOutput) -> None:
    from mlops_engineer.engines.mlflow import registry as reg

    mv = client.get_model_version(op.name, op.version)
    status = reg.approval_status(mv)
    out.planned_calls = [f"set {reg.APPROVAL_STATUS}=pending on version {op.version}"]
    if inp.dry_run or status in ("pending", "approved"):
        out.version = _info(client, op.name, op.version)  # asking twice changes nothing
        return
    for key, value in {reg.APPROVAL_STATUS: "pending", reg.APPROVAL_REQUESTED_BY: op.requested_by, reg.APPROVAL_NOTE: op.note}.items():
        client.set_model_version_tag(op.name, op.version, key, value)
    out.version = _info(client, op.name, op.version)
    out.next_steps = [f"A reviewer records the decision: review name={op.name} version={op.version} decision=approve|reject."]


def _review(op: Review, inp: RegisterInput, ctx: ToolContext, client: MlflowClient, target: MlflowTarget, out: RegisterOutput) -> None:
    from mlops_engineer.engines.mlflow import registry as reg
    from mlops_engineer.errors import ToolError

    mv = client.get_model_version(op.name, op.version)
    if reg.approval_status(mv) == "none":
        raise ToolError("conflict", f"No approval was requested for version {op.version} of '{op.name}'.", "Call request_approval first.")
    status = "approved" if op.decision == "approve" else "rejected"
    out.planned_calls = [f"set {reg.APPROVAL_STATUS}={status}, approver and reason on version {op.version}"]
    if not inp.dry_run:
        for key, value in {reg.APPROVAL_STATUS: status, reg.APPROVER: op.approver, reg.APPROVAL_REASON: op.reason}.items():
            client.set_model_version_tag(op.name, op.version, key, value)
    out.version = _info(client, op.name, op.version)


def _promote(op: Promote, inp: RegisterInput, ctx: ToolContext, client: MlflowClient, target: MlflowTarget, out: RegisterOutput) -> None:
    from mlops_engineer.engines.mlflow import registry as reg
    from mlops_engineer.errors import ToolError

    candidate = client.get_model_version(op.name, op.version)
    if op.require_approval and reg.approval_status(candidate) != "approved":
        raise ToolError(
            "conflict",
            f"Version {op.version} of '{op.name}' is not approved (status: {reg.approval_status(candidate)}); promotion refused.",
            "Run request_approval, then review with decision=approve, or pass require_approval=false.",
        )
    champion = reg.alias_version(client, op.name, op.alias)
    decision = reg.validation_gate(client, candidate, champion, op.metric, op.goal, op.min_improvement)
    out.gate = decision
    out.promoted = False
    if not decision.passed:
        out.version = _info(client, op.name, op.version)
        out.next_steps = ["The candidate stays where it is. Train a better model, or lower min_improvement if the margin is wrong."]
        return
    moves = [] if champion and str(champion.version) == str(candidate.version) else [f"set alias {op.alias} -> version {op.version}"]
    if moves and champion is not None and op.previous_alias:
        moves.insert(0, f"set alias {op.previous_alias} -> version {champion.version}")
    out.planned_calls = moves or ["nothing to do: the candidate already holds the alias"]
    if not inp.dry_run and moves:
        if champion is not None and op.previous_alias:
            client.set_registered_model_alias(op.name, op.previous_alias, champion.version)
        client.set_registered_model_alias(op.name, op.alias, op.version)
        out.promoted = True
    out.version = _info(client, op.name, op.version)
    out.next_steps = [f"Serve or load it as models:/{op.name}@{op.alias}."]


def _model_card(op: ModelCard, inp: RegisterInput, ctx: ToolContext, client: MlflowClient, target: MlflowTarget, out: RegisterOutput) -> None:
    import datetime as dt

    from mlops_engineer.engines.mlflow.registry import approval_status
    from mlops_engineer.render import render_template, write_files

    mv = client.get_model_version(op.name, op.version)
    context: dict[str, Any] = {"params": [], "metrics": [], "tags": [], "datasets": [], "signature": None, "run_name": None, "experiment": "n/a"}
    if mv.run_id:
        r = client.get_run(mv.run_id)
        experiment = client.get_experiment(r.info.experiment_id)
        context.update(
            params=sorted(r.data.params.items()),
            metrics=sorted(r.data.metrics.items()),
            tags=sorted((k, v) for k, v in r.data.tags.items() if not k.startswith("mlflow.")),
            datasets=[
                {"name": d.dataset.name, "digest": d.dataset.digest, "source": _source_uri(d.dataset.source),
                 "context": next((t.value for t in d.tags if t.key == "mlflow.data.context"), "")}
                for d in (r.inputs.dataset_inputs if r.inputs else [])
            ],
            run_name=r.info.run_name,
            experiment=experiment.name,
            signature=_signature_text(target, mv.source),
        )
    text = render_template(
        "registry/model_card.md.j2", name=op.name, version=mv, aliases=list(mv.aliases or []), approval=approval_status(mv),
        run_id=mv.run_id or "n/a", description=mv.description, tracking_uri=target.display_uri,
        created=dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        **context,
    )
    path = op.output_path or f"docs/model-cards/{op.name}-v{op.version}.md"
    out.files = write_files(ctx.workspace, {path: text}, dry_run=inp.dry_run, confirm=inp.confirm)
    out.version = _info(client, op.name, op.version)


def _source_uri(source: str) -> str:
    """MLflow stores a dataset source as JSON such as {"uri": "file:///..."}; show the URI."""
    import json

    try:
        return str(json.loads(source).get("uri", source))
    except (ValueError, AttributeError):
        return source


def _signature_text(target: MlflowTarget, source: str) -> str | None:
    from mlops_engineer.engines.mlflow.backend import fluent

    try:
        with fluent(target) as mlflow:
            info = mlflow.models.get_model_info(source)
    except Exception:  # an unsigned or unreachable model still gets a card
        return None
    return str(info.signature) if info.signature else None


def _delete_version(op: DeleteVersion, inp: RegisterInput, ctx: ToolContext, client: MlflowClient, target: MlflowTarget, out: RegisterOutput) -> None:
    mv = client.get_model_version(op.name, op.version)
    held = list(mv.aliases or [])
    out.planned_calls = [f"delete version {op.version} of '{op.name}'" + (f" (it holds aliases {held}, which go with it)" if held else "")]
    out.version = _info(client, op.name, op.version)
    if inp.dry_run:
        return
    _needs_confirm(inp, f"delete version {op.version} of '{op.name}'")
    client.delete_model_version(op.name, op.version)


def _describe(op: Describe, inp: RegisterInput, ctx: ToolContext, client: MlflowClient, target: MlflowTarget, out: RegisterOutput) -> None:
    from mlops_engineer.errors import ToolError

    versions = client.search_model_versions(f"name = '{op.name.replace(chr(39), chr(92) + chr(39))}'", max_results=200)
    if not versions:
        raise ToolError("not_found", f"No registered model named '{op.name}' (or it has no versions).", "Register one with action register.")
    newest = sorted(versions, key=lambda v: int(v.version), reverse=True)[:50]
    out.versions = [_info(client, op.name, str(v.version)) for v in newest]


_HANDLERS: dict[str, Any] = {
    "register": _register, "set_alias": _set_alias, "delete_alias": _delete_alias, "transition_stage": _transition,
    "request_approval": _request_approval, "review": _review, "promote": _promote, "model_card": _model_card,
    "delete_version": _delete_version, "describe": _describe,
}


def summarize(out: RegisterOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.gate is not None:
        verdict = "promoted" if out.promoted else ("would be promoted" if out.gate.passed else "NOT promoted")
        return f"{prefix}{out.model} v{out.version.version if out.version else '?'} {verdict}: {out.gate.reason}."
    if out.files:
        return f"{prefix}Model card {out.files[0].path} ({out.files[0].action})."
    if out.versions:
        return f"{out.model}: {len(out.versions)} version(s); aliases {out.aliases or 'none'}."
    if out.version:
        v = out.version
        created = {True: " (new)", False: " (already registered)", None: ""}[v.created]
        return f"{prefix}{v.name} v{v.version}{created}: stage {v.stage}, aliases {v.aliases or 'none'}, approval {v.approval}."
    return f"{prefix}{out.action} on {out.model}: " + "; ".join(out.planned_calls)


TOOL = ToolSpec(
    name="register_ml_model",
    title="Register and promote models (MLflow Model Registry)",
    description=__doc__ or "",
    input_model=RegisterInput,
    output_model=RegisterOutput,
    run=run,
    summarize=summarize,
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(RegisterInput, '{"operation": {"action": "describe", "name": "churn"}}'),
)
