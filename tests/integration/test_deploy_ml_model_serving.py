"""deploy_ml_model_serving against real BentoML, a real MLflow registry (embedded and server),
a real Docker engine, and the real Kubernetes schemas."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_engineer.engines import local_services as ls
from mlops_engineer.errors import ToolError
from mlops_engineer.tools.deploy_ml_model_serving import TOOL
from mlops_engineer.tools.register_ml_model import TOOL as REGISTER
from mlops_engineer.tools.track_ml_experiments import TOOL as TRACK
from tests.helpers import ToolRunner
from tests.integration.conftest import write_training_files

pytestmark = pytest.mark.server


def _champion(tools: ToolRunner) -> str:
    """Log, register and alias a small model; return models:/<name>@champion."""
    files = write_training_files(tools.root)
    name = tools.unique("serve")
    run = tools(TRACK, {"action": "log_run", "experiment": tools.unique("serving"), "run_name": "lr",
                        "model": {"path": files["model"], "input_example": files["sample"]}}).run
    version = tools(REGISTER, {"action": "register", "name": name, "run_id": run.run_id}).version.version
    tools(REGISTER, {"action": "set_alias", "name": name, "alias": "champion", "version": version})
    return f"models:/{name}@champion"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> tuple[ToolRunner, str]:
    tools = ToolRunner(tmp_path_factory.mktemp("serving-ws"))
    return tools, _champion(tools)


@pytest.fixture(scope="module")
def served(embedded: tuple[ToolRunner, str]) -> Iterator[tuple[ToolRunner, str, Any]]:
    tools, uri = embedded
    out = tools(TOOL, {"action": "serve", "model_uri": uri, "load_requests": 40, "load_concurrency": 2})
    try:
        yield tools, uri, out
    finally:
        ls.stop_service(tools.ctx.workspace.state_dir, out.service_name)


def _post(url: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_serve_renders_schema_builds_serves_and_smoke_tests(served: tuple[ToolRunner, str, Any]) -> None:
    tools, uri, out = served
    assert [(f.name, f.type) for f in out.request_schema] == [("a", "double"), ("b", "double"), ("c", "double")]
    assert out.bento_tag.startswith(f"{out.service_name}:") and out.deployment.already_running is False
    service_py = (tools.root / out.build_dir / "service.py").read_text()
    assert "GreedyBatcher(self.predict_rows)" in service_py and "MAX_BATCH_ROWS = 32" in service_py and 'alias="a"' in service_py
    assert out.smoke.passed and out.smoke.sample_status == 200 and out.smoke.health == {"/livez": 200, "/readyz": 200, "/metrics": 200}
    assert out.smoke.malformed_status == 400 and "Field required" in out.smoke.malformed_message
    assert out.load.requests == 40 and out.load.p50_ms > 0 and out.load.p99_ms >= out.load.p50_ms and out.load.requests_per_second > 0

    # The model answers like the MLflow model it came from.
    status, predictions = _post(f"{out.deployment.url}/predict", json.dumps({"rows": [{"a": 2.0, "b": 1.0, "c": 0.0}, {"a": -2.0, "b": -1.0, "c": 0.0}]}).encode())
    assert status == 200 and predictions == [1, 0]
    with urllib.request.urlopen(f"{out.deployment.url}/metrics", timeout=10) as resp:  # noqa: S310
        assert "bentoml_service_request_total" in resp.read().decode()
    assert _model_calls(out.deployment.url) > 0


def _model_calls(url: str) -> float:
    """Model calls the service counted (`mlops_engineer_batch_size` histogram, every worker)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:  # noqa: S310
        lines = resp.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("mlops_engineer_batch_size_count"))


@pytest.mark.parametrize("body, words", [
    (b'{"rows": [{"a": 1.0, "b": 2.0}]}', ['"rows", 0, "c"', "Field required"]),
    (b'{"rows": [{"a": "high", "b": 2.0, "c": 0}]}', ['"rows", 0, "a"', "valid number"]),
    (b"not json", ["Invalid JSON"]),
])
def test_malformed_requests_get_a_4xx_naming_the_problem(served: tuple[ToolRunner, str, Any], body: bytes, words: list[str]) -> None:
    status, detail = _post(f"{served[2].deployment.url}/predict", body)
    assert status == 400
    text = json.dumps(detail)
    assert all(w in text for w in words), text


def test_serve_again_is_idempotent_and_list_shows_it(served: tuple[ToolRunner, str, Any]) -> None:
    tools, uri, first = served
    again = tools(TOOL, {"action": "serve", "model_uri": uri, "load_requests": 0})
    assert again.deployment.already_running is True and again.deployment.pid == first.deployment.pid
    assert again.bento_tag == first.bento_tag and again.bento_built is False
    assert all(f.action == "unchanged" for f in again.files)
    listed = tools(TOOL, {"action": "list"}).deployments
    assert [(d.name, d.port, d.model_uri, d.bento_tag) for d in listed] == [(first.service_name, first.deployment.port, uri, first.bento_tag)]
    smoke = tools(TOOL, {"action": "smoke_test", "name": first.service_name, "load_requests": 10})
    assert smoke.smoke.passed and smoke.load.requests == 10


def test_a_second_deployment_keeps_the_metrics_of_the_first(served: tuple[ToolRunner, str, Any]) -> None:
    """`bentoml serve` empties its home's Prometheus folder at start: each deployment gets a home of its own."""
    tools, uri, first = served
    body = json.dumps({"rows": [{"a": 1.0, "b": 1.0, "c": 1.0}]}).encode()
    assert _post(f"{first.deployment.url}/predict", body)[0] == 200
    counted = _model_calls(first.deployment.url)
    second = tools(TOOL, {"action": "serve", "model_uri": uri, "service_name": "second", "load_requests": 0})
    try:
        assert _post(f"{first.deployment.url}/predict", body)[0] == 200
        assert _model_calls(first.deployment.url) == counted + 1, "the second start wiped the first one's metrics"
        assert _model_calls(second.deployment.url) >= 1  # its own smoke test
    finally:
        tools(TOOL, {"action": "stop", "name": "second"})


def test_port_in_use_is_a_clear_conflict(embedded: tuple[ToolRunner, str]) -> None:
    tools, uri = embedded
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ToolError) as err:
            tools(TOOL, {"action": "serve", "model_uri": uri, "service_name": "busy-port", "port": port})
    assert err.value.code == "conflict" and f"Port {port}" in err.value.message
    assert ls.get_service(tools.ctx.workspace.state_dir, "busy-port") is None


@pytest.mark.parametrize("uri, code", [
    ("models:/no-such-model@champion", "not_found"),
    ("models:/no-such-model/3", "not_found"),
    ("models:/{name}@no-such-alias", "not_found"),
    ("runs:/0123456789abcdef0123456789abcdef/model", "not_found"),
    ("s3://bucket/model", "invalid_input"),
])
def test_model_uri_that_does_not_exist(embedded: tuple[ToolRunner, str], uri: str, code: str) -> None:
    tools, champion = embedded
    uri = uri.format(name=champion.removeprefix("models:/").split("@")[0])
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "serve", "model_uri": uri, "service_name": "missing"})
    assert err.value.code == code, err.value
    assert ls.get_service(tools.ctx.workspace.state_dir, "missing") is None


def test_build_from_either_backend(tools: ToolRunner) -> None:
    """The same build from the embedded store and from a tracking server (PostgreSQL + S3)."""
    uri = _champion(tools)
    out = tools(TOOL, {"action": "build", "model_uri": uri, "max_batch_size": 8, "max_latency_ms": 50})
    bento = tools.root / ".mlops/bentoml/bentos" / out.bento_tag.replace(":", "/")
    assert (bento / "bento.yaml").exists() and (bento / "src/model/MLmodel").exists()
    requirements = (bento / "env/python/requirements.txt").read_text()
    assert "bentoml==" in requirements and "mlflow==" in requirements
    again = tools(TOOL, {"action": "build", "model_uri": uri, "max_batch_size": 8, "max_latency_ms": 50})
    assert again.bento_tag == out.bento_tag and again.bento_built is False


def test_build_finds_uv_through_UV_when_it_is_not_on_path(embedded: tuple[ToolRunner, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """As under `uv run` from an environment with no uv on PATH and no pip: BentoML alone fails with "Failed to install uv"."""
    import os
    import shutil
    import sys

    tools, uri = embedded
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "the tests run under uv"
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]))
    assert shutil.which("uv") is None, "this machine has uv in /usr/bin: the test would prove nothing"
    monkeypatch.setenv("UV", uv)
    out = tools(TOOL, {"action": "build", "model_uri": uri, "max_batch_size": 3, "max_latency_ms": 70})
    assert out.bento_built
    monkeypatch.delenv("UV")
    from importlib.util import find_spec

    if not (Path(sys.executable).parent / "uv").exists() and not find_spec("uv") and not find_spec("pip"):
        # Without uv and pip the next build is refused up front, with what is missing.
        with pytest.raises(ToolError) as missing:
            tools(TOOL, {"action": "build", "model_uri": uri, "max_batch_size": 5, "max_latency_ms": 70})
        assert missing.value.code == "missing_dependency" and "$UV is not set" in missing.value.message


def test_stop_leaves_no_process_and_unknown_name_is_not_found(embedded: tuple[ToolRunner, str], served: Any) -> None:
    tools, uri = embedded
    out = served[2]
    record = ls.get_service(tools.ctx.workspace.state_dir, out.service_name)
    assert record is not None and len(ls.service_pids(record)) >= 2  # bentoml's supervisor and its worker
    dry = tools(TOOL, {"action": "stop", "name": out.service_name}, dry_run=True)
    assert dry.stopped is None and ls.service_pids(record)
    stopped = tools(TOOL, {"action": "stop", "name": out.service_name})
    assert stopped.stopped is True
    assert ls.service_pids(record) == [] and ls._marked_pids(record.service_id) == []
    assert tools(TOOL, {"action": "list"}).deployments == []
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "stop", "name": out.service_name})
    assert err.value.code == "not_found"


def test_containerize_without_an_engine_names_the_command(embedded: tuple[ToolRunner, str], tmp_path: Path) -> None:
    tools, uri = embedded
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "containerize", "model_uri": uri, "docker_host": f"unix://{tmp_path}/no-docker.sock"})
    assert err.value.code == "backend_unreachable"
    assert "docker build -t" in err.value.hint and "bentoml containerize" in err.value.hint


def test_containerize_through_the_docker_sdk(embedded: tuple[ToolRunner, str], docker_engine: Any) -> None:
    tools, uri = embedded
    base = docker_engine.import_base_image()
    args = {"action": "containerize", "model_uri": uri, "base_image": base, "install_requirements": False,
            "docker_host": docker_engine.host, "image_tag": "churn-serving:test", "smoke": False}  # this base cannot run anything
    out = tools(TOOL, args)
    assert out.image.built is True and out.image.tag == "churn-serving:test"
    image = docker_engine.client().images.get("churn-serving:test")
    assert image.labels["ai.mlops-engineer.bento"] == out.bento_tag and image.labels["ai.mlops-engineer.model-uri"] == uri
    assert image.attrs["Config"]["Cmd"][:2] == ["bentoml", "serve"]
    assert "churn-serving:test" in [t for i in docker_engine.client().images.list() for t in i.tags]
    again = tools(TOOL, args)
    assert again.image.built is False and again.image.id == out.image.id
    assert (tools.root / out.build_dir / "Dockerfile").read_text().startswith("# Rendered by mlops-engineer")


def test_k8s_and_seldon_manifests_validate(embedded: tuple[ToolRunner, str]) -> None:
    import yaml

    tools, uri = embedded
    out = tools(TOOL, {"action": "k8s_manifests", "model_uri": uri, "image": "registry.example/churn:1", "namespace": "ml",
                       "min_replicas": 2, "max_replicas": 5, "seldon_storage_uri": "s3://models/churn/1"})
    assert [(m.kinds, m.valid) for m in out.manifests] == [(["Deployment", "Service", "HorizontalPodAutoscaler"], True), (["Model"], True)]
    docs = list(yaml.safe_load_all((tools.root / out.manifests[0].path).read_text()))
    assert docs[2]["spec"]["minReplicas"] == 2 and docs[2]["spec"]["maxReplicas"] == 5
    assert docs[0]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    seldon = yaml.safe_load((tools.root / out.manifests[1].path).read_text())
    assert seldon["spec"]["storageUri"] == "s3://models/churn/1"
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "k8s_manifests", "model_uri": uri, "image": "x:1", "min_replicas": 3, "max_replicas": 2})
    assert err.value.code == "invalid_input"


def test_a_failed_start_leaves_no_process_and_no_record(embedded: tuple[ToolRunner, str]) -> None:
    """A server that is not ready in time is stopped, all of it, before the error is returned."""
    tools, uri = embedded
    state = tools.ctx.workspace.state_dir
    before = {r.service_id for r in ls.list_services(state)}
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "serve", "model_uri": uri, "service_name": "slow-start", "startup_timeout": 0.3})
    assert err.value.code == "failed" and "did not answer" in err.value.message
    assert ls.get_service(state, "slow-start") is None
    assert {r.service_id for r in ls.list_services(state)} == before
    log = (state / "services/slow-start.log").read_text()
    assert "bentoml" in log.lower() or log == ""  # the log stays for the post-mortem
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_slow_start(p)]
    assert leftovers == [], "a process of the failed start is still running"


def _is_slow_start(proc: Path) -> bool:
    try:
        return b"slow-start:" in (proc / "cmdline").read_bytes() and (proc / "stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False
