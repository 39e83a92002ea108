"""The tool's input (one model per action) and output models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.mlflow.backend import TrackingUri
from mlops_engineer.grammar import ImageRef
from mlops_engineer.render import FileChange

KIND = "bentoml"
ModelUri = Annotated[str, Field(pattern=r"^(models|runs):/\S+$", description="models:/<name>@<alias>, models:/<name>/<version> or runs:/<run_id>/<path>.")]
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
    max_batch_size: int = Field(default=32, ge=2, le=10000, description="Batching: most rows in one model call (requests that arrive while it computes share the next).")
    max_latency_ms: int = Field(default=1000, ge=1, le=60000, description="A request that waited longer than this for the model is answered 503.")
    workers: int = Field(default=1, ge=1, le=32, description="Server worker processes.")
    concurrency: int = Field(default=32, ge=1, le=10000, description="Requests one worker handles at once.")
    timeout_seconds: int = Field(default=30, ge=1, le=3600, description="Request timeout.")


class Build(BuildOptions):
    """Render and build a BentoML service for an MLflow model.

    models:/name@alias (or /version, or runs:/id/path); the request schema comes from the model
    signature; predict batches requests that arrive while the model computes. The same model and settings give the same bento
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
    """Docker image of the service; runs and smoke-tests it, then removes the container.

    Built FROM base_image (install_python for a Debian base without Python); smoke: the image runs on
    127.0.0.1, a sample request must answer 200 and a malformed one 4xx, and the container is removed.
    """

    action: Literal["containerize"]
    base_image: ImageRef = Field(default="python:3.11-slim", description="Image to build FROM; it must provide Python and pip, unless install_python.")
    install_python: bool = Field(default=False, description="apt-get install python3 and python3-venv first (a Debian/Ubuntu base without Python, "
                                 "e.g. a debootstrap minbase); the bento runs in /opt/venv.")
    image_tag: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$",
                                  description="Tag of the image. Default: <service>:<bento version>.")
    install_requirements: bool = Field(default=True, description="pip install the bento's requirements in the image; false when base_image already holds them.")
    slim_mlflow: bool = Field(default=True, description="Install mlflow-skinny (same version) instead of mlflow: the service only loads the model, "
                              "so the tracking server's packages (Flask, SQLAlchemy, pyarrow, matplotlib...) stay out of the image.")
    host_ca_bundle: bool = Field(default=False, description="Copy this machine's CA bundle (PIP_CERT, SSL_CERT_FILE or /etc/ssl/certs/ca-certificates.crt) "
                                 "into the image for pip: behind a TLS-inspecting proxy.")
    smoke: bool = Field(default=True, description="Run the image on a loopback port, smoke-test it like serve, then stop and remove the container.")
    network: Literal["auto", "bridge", "host"] = Field(default="auto", description="How the smoke container is reached: bridge publishes port 3000 on "
                                                       "127.0.0.1; host serves on a free 127.0.0.1 port in the host's network (engines without a bridge); "
                                                       "auto: bridge when the engine has one.")
    startup_timeout: float = Field(default=120, gt=0, le=900, description="Seconds to wait for the container's /readyz.")
    docker_host: str | None = Field(default=None, description="Docker engine, e.g. unix:///run/docker.sock or tcp://host:2375. Default: DOCKER_HOST, then the local socket.")


class K8sManifests(StrictModel):
    """Deployment, Service, HPA and Seldon Core v2 Model.

    Validated offline against their schemas.
    """

    action: Literal["k8s_manifests"]
    model_uri: ModelUri
    image: ImageRef = Field(description="Container image of the service (e.g. from containerize, pushed to your registry).")
    service_name: ServiceName = None
    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    min_replicas: int = Field(default=1, ge=1, le=1000)
    max_replicas: int = Field(default=3, ge=1, le=1000)
    target_cpu_percent: int = Field(default=70, ge=1, le=100, description="HPA target average CPU utilization.")
    cpu_request: str = Field(default="500m", pattern=r"^[0-9]+(\.[0-9]+)?m?$")
    memory_request: str = Field(default="512Mi", pattern=r"^[0-9]+(Ki|Mi|Gi|K|M|G)?$")
    memory_limit: str = Field(default="1Gi", pattern=r"^[0-9]+(Ki|Mi|Gi|K|M|G)?$")
    seldon_storage_uri: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'`\\]+$",
                                           description="Bucket folder holding the MLflow model (s3://..., gs://...) for the Seldon Core v2 Model; omitted: no Seldon manifest. "
                                           "Credentials in it are left out of the file (Seldon reads them from its storage secret).")
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
    sample_ms: float | None = Field(default=None, description="Latency of the sample request.")
    malformed_ms: float | None = Field(default=None, description="Latency of the malformed request.")


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


class ContainerRun(BaseModel):
    name: str = Field(description="The smoke container (removed afterwards).")
    network: str
    url: str
    startup_seconds: float = Field(description="From docker run to /readyz answering 200.")
    smoke: SmokeResult
    removed: bool


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
    container: ContainerRun | None = Field(default=None, description="containerize: the smoke run of the image.")
    manifests: list[ManifestInfo] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)
