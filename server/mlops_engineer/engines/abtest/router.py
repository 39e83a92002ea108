"""The A/B router service: check the model URIs, render the BentoML service, serve it, stop it.

Serving goes through `local_services`: the router is the service `abtest-<experiment>`
of kind `ab_router`, so deploy_ml_model_serving's `list` shows it too.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.abtest.assignment import BUCKETS, boundaries, bucket_of
from mlops_engineer.errors import ToolError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_engineer.engines.local_services import ServiceRecord
    from mlops_engineer.workspace import Workspace

KIND = "ab_router"  # the routers' kind among local services
SERVICE_FILE = "service.py"
CONFIG_FILE = "abtest.json"
DEFAULT_LOG = "logs/assignments.jsonl"


def check_model_uri(client: MlflowClient, workspace: Workspace, uri: str) -> str:
    """Return a description of what `uri` points at, or raise not_found."""
    from mlflow.exceptions import MlflowException

    def missing(why: str) -> ToolError:
        return ToolError("not_found", f"The model URI '{uri}' does not exist: {why}.",
                         "List what is registered with register_ml_model action describe, or give a runs:/ or "
                         "models:/<name>/<version> URI that exists in this tracking store.")

    try:
        if uri.startswith("models:/"):
            ref = uri.removeprefix("models:/").rstrip("/")
            if ref.startswith("m-") and "/" not in ref:
                client.get_logged_model(ref)
                return f"logged model {ref}"
            name, sep, alias = ref.partition("@")
            if sep:
                mv = client.get_model_version_by_alias(name, alias)
                return f"{name} v{mv.version} (@{alias})"
            name, _, version = ref.rpartition("/")
            if not name or not version.isdigit():
                raise missing("expected models:/<name>@<alias> or models:/<name>/<version>")
            client.get_model_version(name, version)
            return f"{name} v{version}"
        if uri.startswith("runs:/"):
            run_id = uri.removeprefix("runs:/").split("/", 1)[0]
            client.get_run(run_id)
            return f"run {run_id}"
    except MlflowException as exc:
        raise missing(str(getattr(exc, "message", exc)).splitlines()[0]) from exc
    if "://" in uri or uri.startswith(("s3:", "gs:")):
        raise missing("only models:/, runs:/ and workspace paths are checked before serving")
    path = workspace.resolve(uri)
    if not path.exists():
        raise missing("no such path in the workspace")
    return f"local model {workspace.relative(path)}"


def router_files(*, experiment: str, mode: str, salt: str, split: dict[str, float], champion_uri: str,
                 challenger_uri: str, log_path: str = DEFAULT_LOG, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """service.py, abtest.json and bentofile.yaml, relative to the router folder."""
    from markupsafe import Markup

    from mlops_engineer.render import render_template

    suffix = "".join(c if c.isalnum() else "_" for c in experiment.lower())[:40]
    config = {
        "experiment": experiment, "mode": mode, "salt": salt, "split": [list(b) for b in boundaries(split)],
        "weights": split, "champion_uri": champion_uri, "challenger_uri": challenger_uri, "log_path": log_path,
        **(extra or {}),
    }
    service = render_template("abtest/service.py.j2", experiment=experiment, buckets=BUCKETS, service_suffix=suffix,
                              bucket_of_source=Markup(inspect.getsource(bucket_of)))  # our own code
    bentofile = render_template("abtest/bentofile.yaml.j2", experiment=experiment)
    return {SERVICE_FILE: service, CONFIG_FILE: json.dumps(config, indent=2) + "\n", "bentofile.yaml": bentofile}


# ---------------------------------------------------------------- serving (local_services)


def service_name(experiment: str) -> str:
    """The router's name in the workspace's local-services registry (.mlops/services.json)."""
    return f"abtest-{experiment}"


def start_router(workspace: Workspace, experiment: str, service_dir: Path, port: int, env: dict[str, str],
                 timeout: float, on_wait: Callable[[float], None] | None = None,
                 metadata: dict[str, str] | None = None) -> ServiceRecord:
    """`bentoml serve service:ABRouter` from `service_dir` on 127.0.0.1:port, as a local service of kind ab_router."""
    from mlops_engineer.engines.local_services import start_service
    from mlops_engineer.engines.serving.bentoml_service import serve_argv, serve_env

    argv = [*serve_argv("service:ABRouter", port), "--working-dir", str(service_dir)]
    return start_service(workspace.state_dir, service_name(experiment), argv, port=port, kind=KIND, health_path="/readyz",
                         env={**serve_env(workspace, service_name(experiment)), **env}, cwd=service_dir, timeout=timeout, on_wait=on_wait,
                         metadata=metadata)
