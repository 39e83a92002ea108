"""Serve an MLflow model with BentoML: build, serve locally, smoke- and load-test,
containerize, and render Kubernetes and Seldon Core v2 manifests.

The service's request schema comes from the model signature; it is built into a bento and
served on a loopback port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.mlflow.backend import TrackingUri
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.render import FileChange
from mlops_engineer.runtime import ToolContext

if TYPE_CHECKING:
    from mlops_engineer.engines.local_services import ServiceRecord
    from mlops_engineer.engines.serving.bentoml_service import ModelSource

KIND = "bentoml"
ModelUri = Annotated[str, Field(min_length=1, description="models:/<name>@<alias>, models:/<name>/<version> or runs:/<run_id>/<path>.")]
ServiceName = Annotated[
    str | None,
    Field(default=None, pattern=r"^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$",
          description="Service, bento and deployment name (lowercase, digits, dashes). Default: from the model name."),
]
DeploymentName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$", description="Name of a local deployment (see list).")]


class BuildOptions(StrictModel):
    model_uri: ModelUri
    service_name: ServiceName = None
    output_dir: str | None = Field(default=None, description="Workspace folder for service.py, bentofile.yaml and the model. Default: mlops/serving/<service>.")
    max_batch_size: int = Field(default=32, ge=2, le=10000, description="Adaptive batching: most rows merged into one model call.")
    max_latency_ms: int = Field(default=1000, ge=1, le=60000, description="Adaptive batching latency budget: BentoML sheds requests (503) it expects to miss it.")
    workers: int = Field(default=1, ge=1, le=32, description="Server worker processes.")
    concurrency: int = Field(default=32, ge=1, le=10000, description="Requests one worker handles at once.")
    timeout_seconds: int = Field(default=30, ge=1, le=3600, description="Request timeout.")


class Build(BuildOptions):
    """Render and build a BentoML service for an MLflow model.

    models:/name@alias (or /version, or runs:/id/path); the request schema comes from the model
    signature; predict uses adaptive batching. The same model and settings give the same bento
    tag, built once.
    """

    action: Literal["build"]


class LoadOptions(StrictModel):
    load_requests: int = Field(default=100, ge=0, le=100000, description="Requests for the latency/throughput figures; 0 skips them.")
    load_concurrency: int = Field(default=4, ge=1, le=256, description="Concurrent clients for the figures.")


class Serve(BuildOptions, LoadOptions):
    """Build, serve on loopback, smoke-test and load-test.

    `bentoml serve` runs detached on 127.0.0.1; after /readyz a sample request must succeed and
    a malformed one get a 4xx; p50/p99 latency and requests per second are measured.
    """

    action: Literal["serve"]
    port: int | None = Field(default=None, ge=1024, le=65535, description="Loopback port; a free one when omitted.")
    startup_timeout: float = Field(default=120, gt=0, le=900, description="Seconds to wait for /readyz.")


class SmokeTest(LoadOptions):
    """The same checks and figures against a running deployment."""

    action: Literal["smoke_test"]
    name: DeploymentName


class ListDeployments(StrictModel):
    """Local deployments and A/B routers.

    Recorded in .mlops/services.json; dead ones are dropped. Routers (kind ab_router) are
    stopped with run_ab_test_models' stop_router.
    """

    action: Literal["list"]


class Stop(StrictModel):
    """Stop a local deployment."""

    action: Literal["stop"]
    name: DeploymentName


class Containerize(BuildOptions):
    """Docker image of the service, from a base image you choose."""

    action: Literal["containerize"]
    base_image: str = Field(default="python:3.11-slim", min_length=1, description="Image to build FROM; it must provide Python and pip.")
    image_tag: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$",
                                  description="Tag of the image. Default: <service>:<bento version>.")
    install_requirements: bool = Field(default=True, description="pip install the bento's requirements in the image; false when base_image already holds them.")
    docker_host: str | None = Field(default=None, description="Docker engine, e.g. unix:///run/docker.sock or tcp://host:2375. Default: DOCKER_HOST, then the local socket.")


class K8sManifests(StrictModel):
    """Deployment, Service, HPA and Seldon Core v2 Model.

    Validated offline against their schemas.
    """

    action: Literal["k8s_manifests"]
    model_uri: ModelUri
    image: str = Field(min_length=1, description="Container image of the service (e.g. from containerize, pushed to your registry).")
    service_name: ServiceName = None
    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    min_replicas: int = Field(default=1, ge=1, le=1000)
    max_replicas: int = Field(default=3, ge=1, le=1000)
    target_cpu_percent: int = Field(default=70, ge=1, le=100, description="HPA target average CPU utilization.")
    cpu_request: str = Field(default="500m", pattern=r"^[0-9]+(\.[0-9]+)?m?$")
    memory_request: str = Field(default="512Mi", pattern=r"^[0-9]+(Ki|Mi|Gi|K|M|G)?$")
    memory_limit: str = Field(default="1Gi", pattern=r"^[0-9]+(Ki|Mi|Gi|K|M|G)?$")
    seldon_storage_uri: str | None = Field(default=None, description="Bucket folder holding the MLflow model (s3://..., gs://...) for the Seldon Core v2 Model; omitted: no Seldon manifest.")
    k8s_version: str = Field(default="1.31", pattern=r"^1\.[0-9]{2}(\.[0-9]+)?$", description="Kubernetes version whose schemas validate the manifests.")
    output_dir: str | None = Field(default=None, description="Default: mlops/serving/<service>/k8s.")


Operation = Annotated[
    Build | Serve | SmokeTest | ListDeployments | Stop | Containerize | K8sManifests, Field(discriminator="action")
]


class ServingInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    tracking_uri: TrackingUri = None


class SchemaField(BaseModel):
    name: str
    type: str = Field(description="MLflow column type.")
    required: bool


class Deployment(BaseModel):
    name: str
    url: str
    port: int
    pid: int
    model_uri: str
    bento_tag: str
    log_path: str
    started_at: float
    kind: str = Field(default=KIND, description="bentoml for a deployment of this tool; ab_router for an A/B router of run_ab_test_models.")
    already_running: bool | None = Field(default=None, description="For serve: true when this deployment was already up.")


class SmokeResult(BaseModel):
    passed: bool
    sample_status: int
    sample_prediction: Any = None
    malformed_status: int
    malformed_message: str = Field(description="What the server said about the malformed request.")
    health: dict[str, int] = Field(description="Status of /livez, /readyz and /metrics.")


class LoadFigures(BaseModel):
    requests: int
    concurrency: int
    errors: int
    p50_ms: float
    p99_ms: float
    requests_per_second: float


class ImageInfo(BaseModel):
    tag: str
    id: str
    size_mb: float
    base_image: str
    built: bool = Field(description="False when an image for this bento and base already existed.")


class ManifestInfo(BaseModel):
    path: str
    kinds: list[str]
    valid: bool
    problems: list[str] = Field(default_factory=list)


class ServingOutput(ToolOutput):
    action: str
    model_uri: str | None = None
    service_name: str | None = None
    bento_tag: str | None = None
    bento_built: bool | None = Field(default=None, description="False when the bento already existed.")
    build_dir: str | None = None
    request_schema: list[SchemaField] = Field(default_factory=list)
    batching: dict[str, int] = Field(default_factory=dict)
    files: list[FileChange] = Field(default_factory=list)
    deployment: Deployment | None = None
    deployments: list[Deployment] = Field(default_factory=list)
    stopped: bool | None = None
    smoke: SmokeResult | None = None
    load: LoadFigures | None = None
    image: ImageInfo | None = None
    manifests: list[ManifestInfo] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)


def run(inp: ServingInput, ctx: ToolContext) -> ServingOutput:
    op = inp.operation
    out = ServingOutput(action=op.action, dry_run=inp.dry_run)
    _HANDLERS[op.action](op, inp, ctx, out)
    return out


# --------------------------------------------------------------------------- build


def _service_name(model_uri: str, given: str | None) -> str:
    from mlops_engineer.engines.serving.bentoml_service import check_model_uri, slug

    check_model_uri(model_uri)
    if given:
        return given
    ref = model_uri.removeprefix("models:/")
    return slug(ref.split("@")[0].split("/")[0] if model_uri.startswith("models:/") else "run-" + model_uri.split("/")[1][:8])


def _build(op: BuildOptions, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> ModelSource | None:
    """Render and build; in a dry run, only say what would happen."""
    from mlops_engineer.engines.mlflow.backend import check_reachable, resolve_target
    from mlops_engineer.engines.serving import bentoml_service as bs
    from mlops_engineer.optional import import_optional
    from mlops_engineer.render import render_template, write_files

    import_optional("bentoml", "serving")
    service = _service_name(op.model_uri, op.service_name)
    build_dir = ctx.workspace.resolve(op.output_dir or f"mlops/serving/{service}")
    out.model_uri, out.service_name, out.build_dir = op.model_uri, service, ctx.workspace.relative(build_dir)
    out.batching = {"max_batch_size": op.max_batch_size, "max_latency_ms": op.max_latency_ms, "workers": op.workers, "concurrency": op.concurrency}
    target = resolve_target(ctx.workspace, ctx.settings, inp.tracking_uri)
    check_reachable(target)
    if inp.dry_run:
        out.planned_calls = [f"download {op.model_uri} to {out.build_dir}/model", f"render {out.build_dir}/service.py and bentofile.yaml",
                             f"bentoml build (BENTOML_HOME=.mlops/{bs.BENTOML_HOME})"]
        return None
    ctx.progress(0, 4, f"fetching {op.model_uri}")
    build_dir.mkdir(parents=True, exist_ok=True)
    source = bs.fetch_model(target, op.model_uri, build_dir / "model")
    rel = out.build_dir
    context = dict(
        model_uri=op.model_uri, service_name=service, class_name=bs.class_name(service), fields=source.fields,
        columns=[f.name for f in source.fields], labels=source.labels, workers=op.workers, concurrency=op.concurrency,
        timeout_seconds=op.timeout_seconds, max_batch_size=op.max_batch_size, max_latency_ms=op.max_latency_ms,
        requirements=source.requirements, bentoml_home=f".mlops/{bs.BENTOML_HOME}",
    )
    files = {f"{rel}/service.py": render_template("serving/service.py.j2", **context),
             f"{rel}/bentofile.yaml": render_template("serving/bentofile.yaml.j2", **context)}
    ctx.progress(1, 4, "rendering the service")
    out.files = write_files(ctx.workspace, files, dry_run=False, confirm=inp.confirm)
    # The bento is built from what is on disk, so a confirmed user edit is part of its version.
    on_disk = {name: ctx.workspace.resolve(name).read_text("utf-8") for name in files}
    tag = f"{service}:{bs.bento_version(on_disk, source.local_dir)}"
    ctx.progress(2, 4, f"bentoml build {tag}")
    out.bento_built = bs.build_bento(ctx.workspace, build_dir, tag)
    out.bento_tag = tag
    out.request_schema = [SchemaField(name=f.name, type=f.type, required=f.required) for f in source.fields]
    out.planned_calls = [f"fetched {op.model_uri}", ("built" if out.bento_built else "found") + f" bento {tag}"]
    return source


def _do_build(op: Build, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    _build(op, inp, ctx, out)
    if out.bento_tag:
        out.next_steps = [f"Serve it: action serve with model_uri {op.model_uri}; or by hand: BENTOML_HOME=.mlops/bentoml bentoml serve {out.bento_tag} --port 3000"]


# --------------------------------------------------------------------------- serve, smoke test, list, stop


def _deployment(record: ServiceRecord, already: bool | None = None) -> Deployment:
    return Deployment(name=record.name, url=record.url, port=record.port, pid=record.pid, model_uri=record.metadata.get("model_uri", ""),
                      bento_tag=record.metadata.get("bento_tag", ""), log_path=record.log_path, started_at=record.started_at,
                      kind=record.kind, already_running=already)


def _serve(op: Serve, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines import local_services as ls
    from mlops_engineer.engines.serving.bentoml_service import bentoml_env, serve_argv
    from mlops_engineer.errors import ToolError

    state = ctx.workspace.state_dir
    if op.port is not None and not inp.dry_run:
        running = ls.get_service(state, _service_name(op.model_uri, op.service_name))
        if ls.port_in_use(op.port) and not (running and running.port == op.port):
            raise ToolError("conflict", f"Port {op.port} on 127.0.0.1 is already in use.",
                            "Pick another port, or omit port to get a free one; `ss -ltnp` shows who holds it.")
    source = _build(op, inp, ctx, out)
    name = out.service_name or ""
    running = ls.get_service(state, name)
    if inp.dry_run:
        out.planned_calls.append(f"bentoml serve on 127.0.0.1:{op.port or 'a free port'} as deployment '{name}', then smoke-test it")
        return
    assert source is not None and out.bento_tag
    if running is not None and running.metadata.get("bento_tag") == out.bento_tag and op.port in (None, running.port):
        out.deployment = _deployment(running, already=True)
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
            env=bentoml_env(ctx.workspace), cwd=ctx.workspace.root, timeout=op.startup_timeout,
            metadata={"model_uri": op.model_uri, "bento_tag": out.bento_tag, "sample": _json(source.example_rows[:3])},
            on_wait=lambda waited: ctx.check_cancelled(),
        )
        out.deployment = _deployment(record, already=False)
        out.planned_calls.append(f"started {out.bento_tag} on {record.url} (pid {record.pid})")
    _check(out, ls.get_service(state, name), op)
    out.next_steps = [f"curl -X POST {out.deployment.url}/predict -H 'Content-Type: application/json' -d '{{\"rows\": [...]}}'",
                      f"Stop it: action stop with name {name}."]


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def _check(out: ServingOutput, record: ServiceRecord | None, op: LoadOptions) -> None:
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
    from mlops_engineer.engines.serving.http_load import Client

    client = Client(record.url)
    try:
        health = {path: client.get(path).status for path in ("/livez", "/readyz", "/metrics")}
        sample = client.post_json("/predict", {"rows": _sample(record)})
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
    )


def _smoke(op: SmokeTest, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines import local_services as ls
    from mlops_engineer.errors import ToolError

    record = ls.get_service(ctx.workspace.state_dir, op.name)
    if record is None:
        raise ToolError("not_found", f"No local deployment named '{op.name}' is running.", "action list shows what runs; serve starts one.")
    out.deployment = _deployment(record)
    out.service_name, out.model_uri, out.bento_tag = record.name, out.deployment.model_uri, out.deployment.bento_tag
    if inp.dry_run:
        out.planned_calls = [f"GET /livez /readyz /metrics, POST /predict (sample and malformed) on {record.url}"]
        return
    _check(out, record, op)


def _list(op: ListDeployments, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines import local_services as ls
    from mlops_engineer.engines.abtest.router import KIND as AB_ROUTER

    shown = (KIND, AB_ROUTER)  # A/B routers of run_ab_test_models are BentoML services too
    out.deployments = [_deployment(r) for r in ls.list_services(ctx.workspace.state_dir) if r.kind in shown]


def _stop(op: Stop, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines import local_services as ls
    from mlops_engineer.errors import ToolError

    record = ls.get_service(ctx.workspace.state_dir, op.name)
    if record is None or record.kind != KIND:
        running = [r.name for r in ls.list_services(ctx.workspace.state_dir, kind=KIND)]
        raise ToolError("not_found", f"No local deployment named '{op.name}' is running.", f"Running: {running or 'none'}.")
    out.deployment = _deployment(record)
    out.service_name = record.name
    out.planned_calls = [f"stop {record.name} (pid {record.pid}) and every process it started"]
    if not inp.dry_run:
        ls.stop_service(ctx.workspace.state_dir, op.name)
        out.stopped = True


# --------------------------------------------------------------------------- containerize, manifests


def _containerize(op: Containerize, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines.serving.bentoml_service import bento_dir
    from mlops_engineer.engines.serving.docker_images import build_image, docker_client
    from mlops_engineer.render import render_template, write_files

    _build(op, inp, ctx, out)
    if inp.dry_run:
        out.planned_calls.append(f"docker build FROM {op.base_image} through the Docker SDK")
        return
    assert out.bento_tag and out.service_name
    tag = op.image_tag or out.bento_tag
    root = bento_dir(ctx.workspace, out.bento_tag)
    dockerfile = render_template(
        "serving/Dockerfile.j2", bento_tag=out.bento_tag, base_image=op.base_image, install_requirements=op.install_requirements,
        service_name=out.service_name, model_uri=op.model_uri, python_version="3.11",
    )
    out.files += write_files(ctx.workspace, {f"{out.build_dir}/Dockerfile": dockerfile}, dry_run=False, confirm=inp.confirm)
    fallback = (f"docker build -t {tag} -f {out.build_dir}/Dockerfile {ctx.workspace.relative(root)}"
                f"   (or: BENTOML_HOME=.mlops/bentoml bentoml containerize {out.bento_tag})")
    client = docker_client(op.docker_host, fallback)
    existing = _existing_image(client, tag)
    labels_match = existing is not None and existing.labels.get("ai.mlops-engineer.bento") == out.bento_tag
    same_base = labels_match and existing.labels.get("ai.mlops-engineer.base-image", op.base_image) == op.base_image
    if existing is not None and labels_match and same_base:
        image, built = existing, False
    else:
        ctx.progress(3, 4, f"docker build {tag} FROM {op.base_image}")
        image, built = build_image(client, root, dockerfile, tag, on_line=lambda line: ctx.check_cancelled()), True
    out.image = ImageInfo(tag=tag, id=image.id, size_mb=round((image.attrs.get("Size") or 0) / 1e6, 1), base_image=op.base_image, built=built)
    out.planned_calls.append(("built" if built else "found") + f" image {tag} ({image.short_id})")
    out.next_steps = [f"docker run --rm -p 3000:3000 {tag}", f"Push it to your registry, then render manifests: action k8s_manifests with image <registry>/{tag}."]


def _existing_image(client: Any, tag: str) -> Any:
    import docker.errors

    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def _k8s(op: K8sManifests, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines.serving.k8s_manifests import validate_yaml
    from mlops_engineer.errors import ToolError
    from mlops_engineer.optional import import_optional
    from mlops_engineer.render import render_template, write_files

    import_optional("kubernetes_validate", "serving")
    if op.max_replicas < op.min_replicas:
        raise ToolError("invalid_input", f"max_replicas ({op.max_replicas}) is below min_replicas ({op.min_replicas}).")
    name = _service_name(op.model_uri, op.service_name)
    folder = op.output_dir or f"mlops/serving/{name}/k8s"
    ctx.workspace.resolve(folder)  # refuse a folder outside the workspace before any work
    common = dict(model_uri=op.model_uri, name=name, namespace=op.namespace, image=op.image, min_replicas=op.min_replicas,
                  max_replicas=op.max_replicas, memory_request=op.memory_request)
    files = {f"{folder}/kubernetes.yaml": render_template(
        "serving/kubernetes.yaml.j2", **common, bento_tag=op.image, k8s_version=op.k8s_version, path=f"{folder}/kubernetes.yaml",
        target_cpu_percent=op.target_cpu_percent, cpu_request=op.cpu_request, memory_limit=op.memory_limit)}
    if op.seldon_storage_uri:
        files[f"{folder}/seldon-model.yaml"] = render_template("serving/seldon-model.yaml.j2", **common, storage_uri=op.seldon_storage_uri)
    for path, text in files.items():
        kinds, problems = validate_yaml(text, op.k8s_version)
        out.manifests.append(ManifestInfo(path=path, kinds=kinds, valid=not problems, problems=problems))
    bad = [p for m in out.manifests for p in m.problems]
    if bad:  # never write a manifest the cluster would refuse
        raise ToolError("invalid_input", "The rendered manifests do not validate: " + "; ".join(bad[:5]), "Check the values passed in.")
    out.files = write_files(ctx.workspace, files, dry_run=inp.dry_run, confirm=inp.confirm)
    out.service_name, out.model_uri = name, op.model_uri
    out.next_steps = [f"kubectl apply -f {folder}/kubernetes.yaml"] + (
        [f"kubectl apply -f {folder}/seldon-model.yaml  (needs Seldon Core v2 and an MLServer with the mlflow requirement)"]
        if op.seldon_storage_uri else ["Pass seldon_storage_uri (the model folder in your bucket) to also render a Seldon Core v2 Model."])


_HANDLERS: dict[str, Any] = {
    "build": _do_build, "serve": _serve, "smoke_test": _smoke, "list": _list, "stop": _stop,
    "containerize": _containerize, "k8s_manifests": _k8s,
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
        return f"{prefix}Image {out.image.tag} ({'built' if out.image.built else 'already built'}, {out.image.size_mb} MB) from bento {out.bento_tag}."
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
    input_hint="Set operation.action to one of: build, serve, smoke_test, list, stop, containerize, k8s_manifests; "
    'e.g. {"operation": {"action": "serve", "model_uri": "models:/churn@champion"}}.',
)
