"""deploy_ml_model_serving containerize for real: the champion's image built on a real Debian base
(Python and the model's requirements installed in the build), run on a loopback port, smoke-tested
(sample 200, malformed 400) and removed, on a private Docker daemon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops_engineer import locks
from mlops_engineer.errors import ToolError
from mlops_engineer.tools._deploy_ml_model_serving.containerize import OWNER_LABEL, SMOKE_LABEL, workspace_label
from mlops_engineer.tools.deploy_ml_model_serving import TOOL
from tests.helpers import ToolRunner
from tests.integration.test_deploy_ml_model_serving import _champion

pytestmark = pytest.mark.server

TAG = "churn-container:test"


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> tuple[ToolRunner, str]:
    tools = ToolRunner(tmp_path_factory.mktemp("containers-ws"))
    return tools, _champion(tools)


@pytest.fixture(scope="module")
def args(champion: tuple[ToolRunner, str], docker_engine: Any) -> dict[str, Any]:
    _, uri = champion
    return {"action": "containerize", "model_uri": uri, "base_image": docker_engine.debian_base(), "install_python": True,
            "host_ca_bundle": True, "docker_host": docker_engine.host, "image_tag": TAG}


def _containers(docker_engine: Any) -> list[str]:
    return [c.name for c in docker_engine.client().containers.list(all=True)]


@pytest.mark.slow  # a cold image build on a fresh engine: 2-4 minutes on 2 busy cores
@pytest.mark.timeout(1200)
def test_the_image_runs_answers_and_is_removed(champion: tuple[ToolRunner, str], args: dict[str, Any], docker_engine: Any) -> None:
    tools, uri = champion
    client = docker_engine.client()
    # What a call killed mid-smoke leaves: a labelled container of this workspace whose owner is dead.
    workspace_id = workspace_label(tools.ctx.workspace.root)
    client.containers.run(args["base_image"], ["sleep", "600"], name="left-by-a-killed-call", detach=True, network_mode="none",
                          labels={SMOKE_LABEL: workspace_id, OWNER_LABEL: f"{locks.HOST}:999999999:1"})
    other = client.containers.run(args["base_image"], ["sleep", "600"], name="someone-elses", detach=True, network_mode="none",
                                  labels={SMOKE_LABEL: "another-workspace", OWNER_LABEL: f"{locks.HOST}:999999999:1"})
    try:
        out = tools(TOOL, args)
        assert out.image.built is True and out.image.base_image == "local/debian:bookworm"
        run = out.container
        assert run is not None and run.removed and run.network == "host"  # the fixture's daemon has no bridge
        assert run.url.startswith("http://127.0.0.1:")
        smoke = run.smoke
        assert smoke.passed and smoke.sample_status == 200 and smoke.malformed_status == 400
        assert len(smoke.sample_prediction) == 3 and "not_a_feature" in smoke.malformed_message
        assert smoke.health == {"/livez": 200, "/readyz": 200, "/metrics": 200} and smoke.sample_ms > 0
        assert out.recovered == ["removed smoke container left-by-a-killed-call left by a killed call"]
        assert _containers(docker_engine) == ["someone-elses"]  # nothing of ours is left running

        # The image holds the model's pinned requirements (mlflow as mlflow-skinny) in a venv on Debian's Python.
        probe = "import importlib.metadata as m, json, sys; print(json.dumps([sys.executable, sys.version[:4]] + " \
                "[m.version(d) for d in ('mlflow-skinny', 'scikit-learn', 'skops', 'bentoml')]))"
        shown = json.loads(client.containers.run(TAG, ["python", "-c", probe], remove=True, network_mode="none"))
        pins = dict(line.split("==") for line in (tools.root / out.build_dir / "model/requirements.txt").read_text().split())
        assert shown[:2] == ["/opt/venv/bin/python", "3.11"]
        assert shown[2] == pins["mlflow"] and shown[3] == pins["scikit-learn"]
        image = client.images.get(TAG)
        assert image.labels["ai.mlops-engineer.model-uri"] == uri and image.labels["ai.mlops-engineer.bento"] == out.bento_tag
        dockerfile = (tools.root / out.build_dir / "Dockerfile").read_text()
        assert "FROM local/debian:bookworm" in dockerfile and "python3-venv" in dockerfile

        # Same inputs: the image is found, not rebuilt.
        again = tools(TOOL, {**args, "smoke": False})
        assert again.image.built is False and again.image.id == out.image.id and again.container is None
    finally:
        other.remove(force=True)
    assert _containers(docker_engine) == []


def test_a_container_that_never_gets_ready_is_removed(champion: tuple[ToolRunner, str], args: dict[str, Any], docker_engine: Any) -> None:
    tools, _ = champion
    with pytest.raises(ToolError) as err:
        tools(TOOL, {**args, "startup_timeout": 0.5})
    assert err.value.code == "failed" and "did not answer" in err.value.message
    assert _containers(docker_engine) == []


def test_a_bridge_on_an_engine_without_one_is_refused(champion: tuple[ToolRunner, str], args: dict[str, Any], docker_engine: Any) -> None:
    tools, _ = champion
    with pytest.raises(ToolError) as err:
        tools(TOOL, {**args, "network": "bridge"})
    assert err.value.code == "invalid_input" and "network=host" in err.value.hint
    assert _containers(docker_engine) == []


def test_containerize_dry_run_names_the_smoke_step(champion: tuple[ToolRunner, str], args: dict[str, Any], tmp_path: Path) -> None:
    tools, _ = champion
    plan = tools(TOOL, {**args, "docker_host": f"unix://{tmp_path}/none.sock"}, dry_run=True)
    assert plan.image is None and plan.container is None
    assert any("smoke-test" in step and "remove" in step for step in plan.planned_calls)
