"""Action smoke_test, and the checks and load figures serve runs on a new deployment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._deploy_ml_model_serving.deployments import deployment_of
from mlops_engineer.tools._deploy_ml_model_serving.models import (
    LoadFigures,
    LoadOptions,
    ServingInput,
    ServingOutput,
    SmokeResult,
    SmokeTest,
)

if TYPE_CHECKING:
    from mlops_engineer.engines.local_services import ServiceRecord


def check_deployment(out: ServingOutput, record: ServiceRecord | None, op: LoadOptions) -> None:
    from mlops_engineer.errors import ToolError

    if record is None:
        raise ToolError("not_found", "The deployment stopped before it could be tested.", "See its log (list shows log_path).")
    out.smoke = smoke_test(record)
    if not out.smoke.passed:
        raise ToolError("failed", f"Smoke test of '{record.name}' failed: sample -> {out.smoke.sample_status}, malformed -> "
                        f"{out.smoke.malformed_status} ({out.smoke.malformed_message}).", f"See the service log: {record.log_path}")
    if op.load_requests:
        from mlops_engineer.engines.serving.http_load import run_load

        result = run_load(record.url, "/predict", {"rows": _sample(record)[:1]}, op.load_requests, op.load_concurrency)
        out.load = LoadFigures(requests=result.requests, concurrency=result.concurrency, errors=result.errors,
                               p50_ms=result.p50_ms, p99_ms=result.p99_ms, requests_per_second=result.requests_per_second)


def _sample(record: ServiceRecord) -> list[dict[str, Any]]:
    import json

    return list(json.loads(record.metadata.get("sample", "[]"))) or [{}]


def smoke_test(record: ServiceRecord) -> SmokeResult:
    """A sample request must succeed, a malformed one must get a 4xx that says what is wrong."""
    return smoke_url(record.url, _sample(record))


def smoke_url(url: str, rows: list[dict[str, Any]]) -> SmokeResult:
    """The smoke checks against any server of this tool's service (a local deployment, a container)."""
    from mlops_engineer.engines.serving.http_load import Client

    client = Client(url)
    try:
        health = {path: client.get(path).status for path in ("/livez", "/readyz", "/metrics")}
        sample = client.post_json("/predict", {"rows": rows})
        malformed = client.post_json("/predict", {"rows": [{"not_a_feature": "x"}]})
    finally:
        client.close()
    detail = malformed.json()
    message = malformed.body[:300]
    if isinstance(detail, dict) and isinstance(detail.get("detail"), list):
        message = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail["detail"][:6])
    prediction = sample.json()
    return SmokeResult(
        passed=sample.status == 200 and 400 <= malformed.status < 500 and all(s == 200 for s in health.values()),
        sample_status=sample.status, sample_prediction=prediction[:3] if isinstance(prediction, list) else prediction,
        malformed_status=malformed.status, malformed_message=message, health=health,
        sample_ms=round(sample.seconds * 1000, 2), malformed_ms=round(malformed.seconds * 1000, 2),
    )


def run_smoke_test(op: SmokeTest, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines import local_services as ls
    from mlops_engineer.errors import ToolError

    record = ls.get_service(ctx.workspace.state_dir, op.name)
    if record is None:
        raise ToolError("not_found", f"No local deployment named '{op.name}' is running.", "action list shows what runs; serve starts one.")
    out.deployment = deployment_of(record)
    out.service_name, out.model_uri, out.bento_tag = record.name, out.deployment.model_uri, out.deployment.bento_tag
    if inp.dry_run:
        out.planned_calls = [f"GET /livez /readyz /metrics, POST /predict (sample and malformed) on {record.url}"]
        return
    check_deployment(out, record, op)
