"""setup_docker_compose on the real engine: a stack of two services built from our own Dockerfiles
(on the Debian base) comes up healthy, answers a request end to end, and goes down leaving nothing."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools import setup_docker_compose as tool
from tests.fixtures.ports import free_port
from tests.helpers import ToolRunner

LABEL = "com.docker.compose.project"


def _leftovers(client: Any, project: str) -> dict[str, list[str]]:
    flt = {"label": f"{LABEL}={project}"}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=flt)],
        "networks": [n.name for n in client.networks.list(filters=flt)],
        "volumes": [v.name for v in client.volumes.list(filters=flt)],
    }


def test_model_api_stack_up_request_down(tmp_path: Path, docker_engine: Any) -> None:
    base = docker_engine.debian_base()
    port = free_port()
    run = ToolRunner(tmp_path)
    run(tool.TOOL, {"action": "render", "stack": "smoke", "components": [{"kind": "model_api", "port": port, "base_image": base}]})
    assert run(tool.TOOL, {"action": "validate", "stack": "smoke"}).valid
    (tmp_path / "compose/smoke/.env").write_text("MODEL_API_TOKEN=s3cret-token\n")

    host = docker_engine.host
    try:
        up = run(tool.TOOL, {"action": "up", "stack": "smoke", "docker_host": host, "timeout_seconds": 600})
        by_service = {s.service: s for s in up.services}
        assert up.healthy is True, up.services
        assert set(by_service) == {"model", "gateway"}
        assert all(s.state == "running" and s.health == "healthy" for s in up.services)
        assert any(p.endswith(f":{port}->8080/tcp") for p in by_service["gateway"].ports), by_service["gateway"].ports
        assert run.progress, "up reports progress while it waits"

        # End to end: host -> published gateway port -> gateway -> model (by service name, with the token from .env).
        request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=json.dumps({"features": [2, 4, 1]}).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        for _ in range(2):
            with urllib.request.urlopen(request, timeout=10) as answer:
                body = json.loads(answer.read())
        assert body["via"] == "gateway" and body["score"] == pytest.approx(0.1 + 0.5 * 2 - 0.25 * 4 + 2.0 * 1)
        assert body["predictions_logged"] == 2  # written to the named volume

        again = run(tool.TOOL, {"action": "up", "stack": "smoke", "docker_host": host, "build": False})
        assert again.healthy is True  # idempotent: the running stack is left as it is
        status = run(tool.TOOL, {"action": "status", "stack": "smoke", "docker_host": host})
        assert {s.service: s.health for s in status.services} == {"gateway": "healthy", "model": "healthy"}
        with pytest.raises(ToolError) as refused:
            run(tool.TOOL, {"action": "down", "stack": "smoke", "docker_host": host, "volumes": True})
        assert refused.value.code == "needs_confirm"
        assert _leftovers(docker_engine.client(), up.project)["volumes"], "nothing was removed without confirm"
    finally:
        down = run(tool.TOOL, {"action": "down", "stack": "smoke", "docker_host": host, "volumes": True}, confirm=True)
    assert down.left == []
    assert _leftovers(docker_engine.client(), down.project) == {"containers": [], "networks": [], "volumes": []}
    after = run(tool.TOOL, {"action": "status", "stack": "smoke", "docker_host": host})
    assert after.services == [] and after.healthy is None
