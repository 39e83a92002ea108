"""The built wheel, installed with its core dependencies only into a fresh venv, used from a
folder outside the checkout: the bundle (skills, agent, templates) travels inside the
package, the server starts and serves it, and a tool that needs an SDK extra says which one."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp.client.stdio import StdioServerParameters, stdio_client

from mlops_engineer.optional import EXTRAS
from mlops_engineer.registry import load_registry
from tests.e2e._support import (
    REPO_ROOT,
    error_of,
    http_server,
    http_transport,
    sync_client,
    text_of,
)

REGISTRY = load_registry()
SKILL_IDS = [s.id for s in REGISTRY.skills()]
TOOL_NAMES = [t.name for t in REGISTRY.tools()]

# A core-only call per tool, and the extra its missing_dependency hint must name.
CORE_ONLY_CALLS: dict[str, tuple[dict[str, object], str]] = {
    "track_ml_experiments": ({"operation": {"action": "create_experiment", "name": "wheel"}}, "tracking"),
    "register_ml_model": ({"operation": {"action": "describe", "name": "wheel"}}, "tracking"),
    "version_ml_data": ({"operation": {"action": "status"}}, "data"),
    "build_feature_store": ({"operation": {"action": "list"}}, "features"),
    "detect_anomalies_aiops": ({"operation": {"action": "detect", "series": [{"kind": "promql", "url": "http://127.0.0.1:9", "query": "up"}]}}, "forecasting"),
    "forecast_operational_metrics": ({"operation": {"action": "forecast", "series": {"kind": "promql", "url": "http://127.0.0.1:9", "query": "up"}, "horizon": 24}}, "forecasting"),
    "deploy_ml_model_serving": ({"operation": {"action": "k8s_manifests", "model_uri": "models:/wheel@champion", "image": "wheel:1"}}, "serving"),
    "monitor_model_drift": ({"operation": {"action": "check", "reference": "a.csv", "current": "b.csv"}}, "monitoring"),
    "run_ab_test_models": ({"operation": {"action": "design", "baseline": 0.1, "mde": 0.02}}, "experiments"),
    "orchestrate_ml_pipeline": (
        {"operation": {"action": "run", "spec": {"name": "wheel", "stages": [{"name": "a", "command": "python a.py"}]}}},
        "orchestration",
    ),
    "setup_automl_pipeline": ({"operation": {"action": "status", "study_name": "wheel"}}, "tuning"),
}


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.fail("`uv` not found on PATH; the wheel test builds and installs with uv", pytrace=False)
    return found


def _env() -> dict[str, str]:
    """No venv, project or MLflow settings leak from the test run into the builds and the server."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT", "CLAUDE_PROJECT_DIR"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("MLOPS_ENGINEER_", "MLFLOW_"))}


def _run(args: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@dataclass
class Installed:
    wheel: Path
    venv: Path
    outside: Path  # a folder outside the checkout, used as cwd and workspace

    def bundled(self, path: str) -> str:
        """A file of the bundle as the wheel carries it (the checkout may have moved on since the build)."""
        with zipfile.ZipFile(self.wheel) as wheel:
            return wheel.read(f"mlops_engineer/_bundle/{path}").decode("utf-8")

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "mlops-engineer"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    uv = _uv()
    _run([uv, "build", "--wheel", "--out-dir", root / "dist"], cwd=REPO_ROOT)
    wheels = list((root / "dist").glob("mlops_engineer-*.whl"))
    assert len(wheels) == 1, wheels

    _run([uv, "venv", root / "venv", "--python", "3.11"], cwd=root)
    _run([uv, "pip", "install", "--python", root / "venv" / "bin" / "python", wheels[0]], cwd=root)

    outside = root / "outside"
    outside.mkdir()
    assert REPO_ROOT not in outside.resolve().parents
    yield Installed(wheels[0], root / "venv", outside)


def test_wheel_carries_the_bundle(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    bundle = "mlops_engineer/_bundle"
    for skill_id in SKILL_IDS:
        assert f"{bundle}/skills/{skill_id}/SKILL.md" in names, skill_id
    assert f"{bundle}/agent/mlops-engineer.md" in names
    templates = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "templates").rglob("*") if p.is_file()}
    assert templates, "the checkout has templates"
    assert {f"{bundle}/{t}" for t in templates} <= names, sorted({f"{bundle}/{t}" for t in templates} - names)
    assert {f"mlops_engineer/tools/{t}.py" for t in TOOL_NAMES} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names), "no bytecode in the wheel"
    assert not any(n.startswith(("tests/", "server/")) for n in names), "only the package is shipped"


def test_core_install_has_no_ml_sdk(installed: Installed) -> None:
    probe = "import importlib.util as u; print([m for m in ('mlflow', 'sklearn', 'pandas') if u.find_spec(m)])"
    assert _run([installed.python, "-c", probe], cwd=installed.outside).stdout.strip() == "[]"
    where = _run([installed.python, "-c", "import mlops_engineer; print(mlops_engineer.__file__)"], cwd=installed.outside)
    assert Path(where.stdout.strip()).is_relative_to(installed.venv), "the wheel, not the checkout, is imported"


def test_skills_commands_read_the_bundle(installed: Installed) -> None:
    listed = _run([installed.script, "skills", "list"], cwd=installed.outside).stdout
    for skill in REGISTRY.skills():
        assert skill.id in listed and skill.tool_name in listed, listed
    shown = _run([installed.script, "skills", "show", "track-ml-experiments"], cwd=installed.outside).stdout
    assert shown == installed.bundled("skills/track-ml-experiments/SKILL.md")
    assert shown.startswith("---\nname: track-ml-experiments\n")


def test_stdio_session_from_the_wheel(installed: Installed) -> None:
    workspace = installed.outside / "ws"
    workspace.mkdir()
    params = StdioServerParameters(
        command=str(installed.script),
        args=["--workspace", str(workspace), "serve"],
        env={"MLOPS_ENGINEER_CONFIG": str(workspace / "no-config.toml")},
        cwd=str(installed.outside),
    )
    with open(installed.outside / "server-stderr.log", "w") as errlog, sync_client(stdio_client(params, errlog=errlog)) as mcp:
        assert [t.name for t in mcp.list_tools()] == TOOL_NAMES
        text, _ = mcp.read_resource("skill://register-ml-model")
        assert text == installed.bundled("skills/register-ml-model/SKILL.md")
        assert text.startswith("---\nname: register-ml-model\n")
        text, _ = mcp.read_resource("agent://mlops-engineer")
        assert text == installed.bundled("agent/mlops-engineer.md")
        assert text.startswith("---\nname: mlops-engineer\n")

        for tool_name in TOOL_NAMES:
            if tool_name not in CORE_ONLY_CALLS:
                pytest.fail(f"add a core-only call for {tool_name} to CORE_ONLY_CALLS in {__file__}")
            arguments, extra = CORE_ONLY_CALLS[tool_name]
            result = mcp.call_tool(tool_name, arguments)
            error = error_of(result)
            assert error["code"] == "missing_dependency", (tool_name, error)
            assert f"mlops-engineer[{extra}]" in error["hint"], (tool_name, error)
            assert extra in EXTRAS
            assert f"mlops-engineer[{extra}]" in text_of(result)
        assert [t.name for t in mcp.list_tools()] == TOOL_NAMES, "still answering after the failed calls"


def test_http_transport_from_the_wheel(installed: Installed) -> None:
    """The core install can serve HTTP too (uvicorn comes with the core dependencies)."""
    workspace = installed.outside / "ws-http"
    workspace.mkdir()
    with http_server(workspace, "--token", "t0ken", script=installed.script) as url:
        with sync_client(http_transport(url, {"Authorization": "Bearer t0ken"})) as mcp:
            assert [t.name for t in mcp.list_tools()] == TOOL_NAMES
