"""Actions list and stop of local deployments, and a recorded service as a Deployment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._deploy_ml_model_serving.models import (
    KIND,
    Deployment,
    ListDeployments,
    ServingInput,
    ServingOutput,
    Stop,
)

if TYPE_CHECKING:
    from mlops_engineer.engines.local_services import ServiceRecord


def deployment_of(record: ServiceRecord, already: bool | None = None) -> Deployment:
    return Deployment(name=record.name, url=record.url, port=record.port, pid=record.pid, model_uri=record.metadata.get("model_uri", ""),
                      bento_tag=record.metadata.get("bento_tag", ""), log_path=record.log_path, started_at=record.started_at,
                      kind=record.kind, already_running=already)


def run_list(op: ListDeployments, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines import local_services as ls
    from mlops_engineer.engines.abtest.router import KIND as AB_ROUTER

    shown = (KIND, AB_ROUTER)  # A/B routers of run_ab_test_models are BentoML services too
    out.deployments = [deployment_of(r) for r in ls.list_services(ctx.workspace.state_dir) if r.kind in shown]


def run_stop(op: Stop, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines import local_services as ls
    from mlops_engineer.errors import ToolError

    record = ls.get_service(ctx.workspace.state_dir, op.name)
    if record is None or record.kind != KIND:
        running = [r.name for r in ls.list_services(ctx.workspace.state_dir, kind=KIND)]
        raise ToolError("not_found", f"No local deployment named '{op.name}' is running.", f"Running: {running or 'none'}.")
    out.deployment = deployment_of(record)
    out.service_name = record.name
    out.planned_calls = [f"stop {record.name} (pid {record.pid}) and every process it started"]
    if not inp.dry_run:
        ls.stop_service(ctx.workspace.state_dir, op.name)
        out.stopped = True
