"""Serve an MLflow model with BentoML: build, serve locally, smoke- and load-test,
containerize, and render Kubernetes and Seldon Core v2 manifests.

The service's request schema comes from the model signature; it is built into a bento and
served on a loopback port.
"""

from __future__ import annotations

from typing import Any

from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._deploy_ml_model_serving.build import run_build
from mlops_engineer.tools._deploy_ml_model_serving.containerize import run_containerize
from mlops_engineer.tools._deploy_ml_model_serving.deployments import run_list, run_stop
from mlops_engineer.tools._deploy_ml_model_serving.k8s_manifests import run_k8s_manifests
from mlops_engineer.tools._deploy_ml_model_serving.models import ServingInput, ServingOutput
from mlops_engineer.tools._deploy_ml_model_serving.serve import run_serve
from mlops_engineer.tools._deploy_ml_model_serving.smoke import run_smoke_test
from mlops_engineer.schemas import action_hint


def run(inp: ServingInput, ctx: ToolContext) -> ServingOutput:
    op = inp.operation
    out = ServingOutput(action=op.action, dry_run=inp.dry_run)
    _HANDLERS[op.action](op, inp, ctx, out)
    return out


_HANDLERS: dict[str, Any] = {
    "build": run_build, "serve": run_serve, "smoke_test": run_smoke_test, "list": run_list, "stop": run_stop,
    "containerize": run_containerize, "k8s_manifests": run_k8s_manifests,
}


def summarize(out: ServingOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.action == "list":
        return f"{len(out.deployments)} local deployment(s): " + (", ".join(f"{d.name} on {d.url}" for d in out.deployments) or "none")
    if out.action == "stop":
        return f"{prefix}Stopped {out.service_name}." if out.stopped else f"{prefix}Would stop {out.service_name}."
    if out.action == "k8s_manifests":
        return f"{prefix}Manifests " + ", ".join(f"{m.path} ({'/'.join(m.kinds)}, valid)" for m in out.manifests)
    if out.image is not None:
        text = f"{prefix}Image {out.image.tag} ({'built' if out.image.built else 'already built'}, {out.image.size_mb} MB) from bento {out.bento_tag}"
        if out.container:
            smoke = out.container.smoke
            text += (f"; ran on {out.container.url} (ready in {out.container.startup_seconds:g} s): sample -> {smoke.sample_status} "
                     f"in {smoke.sample_ms} ms, malformed -> {smoke.malformed_status}; container removed")
        return text + "."
    parts = [f"{prefix}{out.action} {out.model_uri or out.service_name}"]
    if out.bento_tag:
        parts.append(f"bento {out.bento_tag}" + (" (new)" if out.bento_built else ""))
    if out.deployment:
        parts.append(f"serving on {out.deployment.url}" + (" (already running)" if out.deployment.already_running else ""))
    if out.smoke:
        parts.append(f"smoke test {'passed' if out.smoke.passed else 'FAILED'} (malformed -> {out.smoke.malformed_status})")
    if out.load:
        parts.append(f"p50 {out.load.p50_ms:.1f} ms, p99 {out.load.p99_ms:.1f} ms, {out.load.requests_per_second:.0f} req/s")
    return "; ".join(parts) + "."


TOOL = ToolSpec(
    name="deploy_ml_model_serving",
    title="Serve models with BentoML (local, container, Kubernetes, Seldon)",
    description=__doc__ or "",
    input_model=ServingInput,
    output_model=ServingOutput,
    run=run,
    summarize=summarize,
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(ServingInput, '{"operation": {"action": "serve", "model_uri": "models:/churn@champion"}}'),
)
