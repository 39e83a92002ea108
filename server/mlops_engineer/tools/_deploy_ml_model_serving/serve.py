"""Action serve: build, start `bentoml serve` detached on loopback, then smoke- and load-test it."""

from __future__ import annotations

from typing import Any

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._deploy_ml_model_serving.build import build_service, service_name
from mlops_engineer.tools._deploy_ml_model_serving.deployments import deployment_of
from mlops_engineer.tools._deploy_ml_model_serving.models import (
    KIND,
    Serve,
    ServingInput,
    ServingOutput,
)
from mlops_engineer.tools._deploy_ml_model_serving.smoke import check_deployment


def run_serve(op: Serve, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines import local_services as ls
    from mlops_engineer.engines.serving.bentoml_service import serve_argv, serve_env
    from mlops_engineer.errors import ToolError

    state = ctx.workspace.state_dir
    if op.port is not None and not inp.dry_run:
        running = ls.get_service(state, service_name(op.model_uri, op.service_name))
        if ls.port_in_use(op.port) and not (running and running.port == op.port):
            raise ToolError("conflict", f"Port {op.port} on 127.0.0.1 is already in use.",
                            "Pick another port, or omit port to get a free one; `ss -ltnp` shows who holds it.")
    source = build_service(op, inp, ctx, out)
    name = out.service_name or ""
    running = ls.get_service(state, name)
    if inp.dry_run:
        out.planned_calls.append(f"bentoml serve on 127.0.0.1:{op.port or 'a free port'} as deployment '{name}', then smoke-test it")
        return
    assert source is not None and out.bento_tag
    if running is not None and running.metadata.get("bento_tag") == out.bento_tag and op.port in (None, running.port):
        out.deployment = deployment_of(running, already=True)
    else:
        if running is not None:
            if not inp.confirm:
                raise ToolError("needs_confirm", f"Deployment '{name}' is running {running.metadata.get('bento_tag')} on port {running.port}; "
                                f"serving {out.bento_tag} replaces it.", "Call again with confirm=true to replace it, or stop it first.")
            ls.stop_service(state, name)
        port = op.port or ls.free_port()
        ctx.progress(3, 4, f"starting bentoml serve on 127.0.0.1:{port}")
        record = ls.start_service(
            state, name, serve_argv(out.bento_tag, port), port=port, kind=KIND, health_path="/readyz",
            env=serve_env(ctx.workspace, name), cwd=ctx.workspace.root, timeout=op.startup_timeout,
            metadata={"model_uri": op.model_uri, "bento_tag": out.bento_tag, "sample": _json(source.example_rows[:3])},
            on_wait=lambda waited: ctx.check_cancelled(),
        )
        out.deployment = deployment_of(record, already=False)
        out.planned_calls.append(f"started {out.bento_tag} on {record.url} (pid {record.pid})")
    check_deployment(out, ls.get_service(state, name), op)
    out.next_steps = [f"curl -X POST {out.deployment.url}/predict -H 'Content-Type: application/json' -d '{{\"rows\": [...]}}'",
                      f"Stop it: action stop with name {name}."]


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
