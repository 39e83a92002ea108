"""Typed components -> one Compose file and the files beside it (Dockerfiles, configs, .env.example).

Each component's services come from its template under templates/compose/ (values quoted there);
the fragments are parsed with our reader, merged in a fixed order and written back with our dumper,
so the file is valid YAML whatever the values and reads the same in every run.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from mlops_engineer.contract import StrictModel
from mlops_engineer.engines.compose import yaml_io
from mlops_engineer.errors import ToolError
from mlops_engineer.grammar import ImageRef

Kind = Literal["mlflow", "label_studio", "feast", "monitoring", "bentoml", "gpu_trainer", "model_api"]
Profile = Annotated[str, Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")]

# Public images pinned by tag; each template says why its healthcheck command exists in its image.
IMAGES: dict[str, dict[str, str]] = {
    "mlflow": {"postgres": "postgres:16.4", "minio": "minio/minio:RELEASE.2024-10-13T13-34-11Z",
               "mc": "minio/mc:RELEASE.2024-10-08T09-37-26Z", "mlflow": "ghcr.io/mlflow/mlflow:v{mlflow}"},
    "label_studio": {"postgres": "postgres:16.4", "label_studio": "heartexlabs/label-studio:1.13.1"},
    "feast": {"redis": "redis:7.4.1", "python": "python:3.11-slim-bookworm"},
    "monitoring": {"prometheus": "prom/prometheus:v2.55.0", "pushgateway": "prom/pushgateway:v1.10.0",
                   "grafana": "grafana/grafana:11.3.0"},
    "bentoml": {"python": "python:3.11-slim-bookworm"},
    "gpu_trainer": {"trainer": "pytorch/pytorch:2.4.1-cuda12.4-cudnn9-runtime"},
    "model_api": {},
}
PORTS: dict[str, int] = {"mlflow": 5000, "label_studio": 8080, "feast": 6566, "monitoring": 9090, "bentoml": 3030,
                         "gpu_trainer": 0, "model_api": 8000}
EXTRA_PORTS = {"monitoring": {"pushgateway_port": 9091, "grafana_port": 3000}}
PROFILES = {"gpu_trainer": "train"}
# Secrets each component reads from .env (never written with a value; .env.example has placeholders).
ENV_KEYS: dict[str, dict[str, str]] = {
    "mlflow": {"MLFLOW_DB_PASSWORD": "PostgreSQL password of the MLflow store",
               "MINIO_ROOT_USER": "MinIO root user (also the S3 access key id MLflow uses)",
               "MINIO_ROOT_PASSWORD": "MinIO root password (the S3 secret key, at least 8 characters)"},
    "label_studio": {"LABEL_STUDIO_DB_PASSWORD": "PostgreSQL password of Label Studio"},
    "feast": {},
    "monitoring": {"GRAFANA_ADMIN_PASSWORD": "Grafana admin password"},
    "bentoml": {"MLFLOW_TRACKING_URI": "MLflow server the model is loaded from (may carry credentials)"},
    "gpu_trainer": {"MLFLOW_TRACKING_URI": "MLflow server the trainer logs to (may carry credentials)"},
    "model_api": {"MODEL_API_TOKEN": "Bearer token the gateway sends to the model service"},
}
# monitor_model_drift's metric names (its METRIC_PREFIX, `_samples`): the dashboard's queries.
DRIFT_PANELS = [
    ("Dataset drift (1 = drifted)", "max by (monitor) (mlops_drift_dataset_drift{monitor=~\"$monitor\"})", "stat"),
    ("Share of drifted features", "mlops_drift_share{monitor=~\"$monitor\"}", "timeseries"),
    ("Drifted features", "mlops_drift_features_drifted{monitor=~\"$monitor\"}", "timeseries"),
    ("PSI per feature", "mlops_drift_psi{monitor=~\"$monitor\"}", "timeseries"),
    ("Severity per feature (0 none, 1 moderate, 2 severe)", "mlops_drift_feature_severity{monitor=~\"$monitor\"}", "timeseries"),
    ("Jensen-Shannon distance", "mlops_drift_js_distance{monitor=~\"$monitor\"}", "timeseries"),
    ("KS p-value", "mlops_drift_ks_pvalue{monitor=~\"$monitor\"}", "timeseries"),
    ("Prediction PSI", "mlops_drift_prediction_psi{monitor=~\"$monitor\"}", "timeseries"),
    ("Model quality (reference vs current)", "mlops_drift_model_quality{monitor=~\"$monitor\"}", "timeseries"),
    ("Concept drift (1 = drifted)", "mlops_drift_concept_drift{monitor=~\"$monitor\"}", "stat"),
]


class Component(StrictModel):
    kind: Kind = Field(description="mlflow (+PostgreSQL, MinIO), label_studio (+PostgreSQL), feast (+Redis), monitoring "
                       "(Prometheus, Pushgateway, Grafana), bentoml, gpu_trainer, model_api (model + gateway, our Dockerfiles).")
    port: int | None = Field(default=None, ge=1, le=65535, description="Host port (127.0.0.1) of its main service; a default per kind.")
    profile: Profile | None = Field(default=None, description="Compose profile: the services start only when it is enabled (gpu_trainer: train).")
    images: dict[str, ImageRef] = Field(default_factory=dict, description="Override a pinned image, e.g. {\"postgres\": \"postgres:17\"}.")
    model_uri: str | None = Field(default=None, pattern=r"^(models|runs):/[^\s\"'\\]+$", description="bentoml: registered model, e.g. models:/churn@champion.")
    gpus: Literal["all"] | Annotated[int, Field(ge=1, le=64)] = Field(default="all", description="gpu_trainer: GPUs to reserve.")
    base_image: ImageRef = Field(default="python:3.12-slim-bookworm", description="model_api: base of its two images (Debian based).")

    @model_validator(mode="after")
    def _check(self) -> Component:
        unknown = sorted(set(self.images) - set(IMAGES[self.kind]))
        if unknown:
            raise ValueError(f"{self.kind} has no image {unknown}; it has {sorted(IMAGES[self.kind]) or 'none to override'}")
        if self.kind == "bentoml" and not self.model_uri:
            raise ValueError("bentoml needs model_uri, e.g. models:/churn@champion")
        return self


def host_ports(component: Component) -> dict[str, int]:
    main = component.port or PORTS[component.kind]
    return {"port": main, **EXTRA_PORTS.get(component.kind, {})} if main else {}


def check_components(components: list[Component]) -> None:
    kinds = [c.kind for c in components]
    twice = sorted({k for k in kinds if kinds.count(k) > 1})
    if twice:
        raise ToolError("invalid_input", f"Component kind(s) listed twice: {', '.join(twice)}.", "List each kind once.")
    used: dict[int, str] = {}
    for c in components:
        for port in host_ports(c).values():
            if port in used:
                raise ToolError("invalid_input", f"Host port {port} is used by both {used[port]} and {c.kind}.",
                                f"Give {c.kind} another port (its `port` field).")
            used[port] = c.kind


def _versions() -> dict[str, str]:
    from mlops_engineer.optional import installed_version

    return {"mlflow": installed_version("mlflow") or "3.5.0", "feast": installed_version("feast") or "0.49.0",
            "bentoml": installed_version("bentoml") or "1.4.0"}


def render_stack(stack: str, components: list[Component]) -> tuple[str, dict[str, str], dict[str, str]]:
    """(compose file text, {relative path: content} of the files beside it, {env key: comment})."""
    from mlops_engineer.render import render_template

    check_components(components)
    versions = _versions()
    document: dict[str, Any] = {"name": stack, "services": {}, "volumes": {}}
    files: dict[str, str] = {}
    env: dict[str, str] = {}
    why: dict[str, str] = {}
    for c in components:
        images = {k: v.format(**versions) for k, v in IMAGES[c.kind].items()} | c.images
        values: dict[str, Any] = {
            "stack": stack, "images": images, "profile": c.profile or PROFILES.get(c.kind), **host_ports(c),
            "mlflow_version": versions["mlflow"], "feast_version": versions["feast"], "bentoml_version": versions["bentoml"],
            "bucket": "mlflow", "model_uri": c.model_uri, "gpus": c.gpus, "base_image": c.base_image,
        }
        fragment_text = render_template(f"compose/{c.kind}.yml.j2", **values)
        fragment = yaml_io.load(fragment_text, f"template {c.kind}")
        why.update(_healthcheck_comments(fragment_text))
        document["services"].update(fragment.get("services", {}))
        document["volumes"].update(fragment.get("volumes", {}))
        files.update(_side_files(c.kind, stack, values))
        env.update(ENV_KEYS[c.kind])
    if not document["volumes"]:
        del document["volumes"]
    header = (f"# Stack {stack}, rendered by mlops-engineer (setup_docker_compose). Secrets come from .env:\n"
              "#   cp .env.example .env   # then set every value\n")
    return header + _annotate(yaml_io.dump(document), why), files, env


_SERVICE = re.compile(r"^  ([A-Za-z0-9_.-]+):\s*$")


def _healthcheck_comments(fragment: str) -> dict[str, str]:
    """service -> the template's comment under its `healthcheck:` (why the command exists in that image)."""
    out: dict[str, str] = {}
    service, in_health = "", False
    for line in fragment.splitlines():
        match = _SERVICE.match(line)
        if match:
            service, in_health = match.group(1), False
        elif line.strip() == "healthcheck:":
            in_health = True
        elif in_health and line.strip().startswith("#") and service:
            out[service] = line.strip().lstrip("# ")
            in_health = False
    return out


def _annotate(dumped: str, why: dict[str, str]) -> str:
    """Put each healthcheck's reason back above it: the dumper drops the templates' comments."""
    lines, service, in_services = [], "", False
    for line in dumped.splitlines(keepends=True):
        if not line.startswith(" "):
            in_services = line.startswith("services:")
        match = _SERVICE.match(line) if in_services else None
        if match:
            service = match.group(1)
        if in_services and line.rstrip() == "    healthcheck:" and service in why:
            lines.append(f"    # {why[service]}\n")
        lines.append(line)
    return "".join(lines)


def _side_files(kind: str, stack: str, values: dict[str, Any]) -> dict[str, str]:
    from mlops_engineer.render import render_template

    if kind == "mlflow":
        return {"mlflow/Dockerfile": render_template("compose/mlflow.Dockerfile.j2", **values)}
    if kind == "feast":
        return {"feast/Dockerfile": render_template("compose/feast.Dockerfile.j2", **values),
                "feast/feature_store.yaml": render_template("compose/feast.feature_store.yaml.j2", project=stack.replace("-", "_"))}
    if kind == "monitoring":
        return {"monitoring/prometheus.yml": render_template("compose/monitoring.prometheus.yml.j2"),
                "monitoring/grafana/provisioning/datasources/prometheus.yml": render_template("compose/monitoring.datasource.yml.j2"),
                "monitoring/grafana/provisioning/dashboards/mlops.yml": render_template("compose/monitoring.dashboards.yml.j2"),
                "monitoring/grafana/dashboards/drift.json": drift_dashboard()}
    if kind == "bentoml":
        return {"bentoml/Dockerfile": render_template("compose/bentoml.Dockerfile.j2", **values),
                "bentoml/service.py": render_template("compose/bentoml.service.py.j2")}
    if kind == "gpu_trainer":
        return {"trainer/train.py": render_template("compose/gpu_trainer.train.py.j2")}
    if kind == "model_api":
        dockerfile = render_template("compose/model_api.Dockerfile.j2", **values)
        return {"model_api/model/Dockerfile": dockerfile, "model_api/gateway/Dockerfile": dockerfile,
                "model_api/model/server.py": render_template("compose/model_api.model.py.j2", weights=[0.5, -0.25, 2.0], bias=0.1),
                "model_api/gateway/server.py": render_template("compose/model_api.gateway.py.j2")}
    return {}


def drift_dashboard() -> str:
    """Grafana dashboard JSON of monitor_model_drift's metrics, with a `monitor` variable."""
    panels = []
    for index, (title, expr, kind) in enumerate(DRIFT_PANELS):
        panels.append({
            "id": index + 1, "type": kind, "title": title,
            "datasource": {"type": "prometheus", "uid": "prometheus"},
            "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
            "targets": [{"refId": "A", "expr": expr, "legendFormat": "{{monitor}} {{feature}}"}],
        })
    dashboard = {
        "uid": "mlops-drift", "title": "Model drift (mlops_drift_*)", "schemaVersion": 39, "version": 1,
        "time": {"from": "now-7d", "to": "now"}, "refresh": "1m", "tags": ["mlops", "drift"],
        "templating": {"list": [{
            "name": "monitor", "type": "query", "label": "Monitor", "includeAll": True, "multi": True, "current": {},
            "datasource": {"type": "prometheus", "uid": "prometheus"},
            "query": {"query": "label_values(mlops_drift_share, monitor)", "refId": "monitor"},
            "definition": "label_values(mlops_drift_share, monitor)", "refresh": 2,
        }]},
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2) + "\n"


def env_example(env: dict[str, str]) -> str:
    lines = ["# Copy to .env and set every value. .env holds secrets: keep it out of git.\n"]
    for key, comment in env.items():
        lines.append(f"# {comment}\n{key}=change-me\n")
    return "".join(lines)


def read_env_keys(text: str) -> dict[str, str]:
    """KEY=value lines of a .env file (comments and blanks skipped; `export ` allowed)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        out[key.strip()] = value.strip().strip("'\"")
    return out
