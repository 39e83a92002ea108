"""The built wheel (tests/fixtures/wheel.py: core dependencies only, a fresh venv), used from a
folder outside the checkout: the bundle (skills, agent, templates) travels inside the
package, the server starts and serves it, and a tool that needs an SDK extra says which one."""

from __future__ import annotations

import zipfile
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
from tests.fixtures.wheel import Installed, run_ok

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
    "review_software_architecture": ({"operation": {"action": "review"}, "package": "json"}, "review"),
    "review_data_analysis": ({"operation": {"action": "data", "train": "a.csv", "test": "b.csv", "target": "y"}}, "review"),
    "serialize_data_formats": ({"operation": {"action": "inspect", "path": "a.csv"}}, "formats"),
    "design_serialization_schema": ({"operation": {"action": "infer", "path": "a.csv"}}, "formats"),
    "label_training_data": ({"operation": {"action": "agreement", "export_file": "e.json"}}, "labeling"),
}
# Tools whose calls need no extra at all (git, text and Dockerfile work): a core install must not
# answer them with missing_dependency.
CORE_CALLS: dict[str, dict[str, object]] = {
    "commit_changes": {"operation": {"action": "status"}},
    "manage_git_branches": {"operation": {"action": "list"}},
    "write_claude_md": {"dry_run": True, "operation": {"action": "draft"}},
    "create_r_dockerfile": {"dry_run": True, "operation": {"action": "render", "project": "."}},
    "setup_docker_compose": {"dry_run": True, "operation": {"action": "render", "stack": "w", "components": [{"kind": "mlflow"}]}},
    "optimize_docker_build_cache": {"operation": {"action": "audit", "dockerfile": "Dockerfile"}},
}


def test_wheel_carries_the_bundle(wheel_install: Installed) -> None:
    with zipfile.ZipFile(wheel_install.wheel) as wheel:
        names = set(wheel.namelist())
    bundle = "mlops_engineer/_bundle"
    for skill_id in SKILL_IDS:
        assert f"{bundle}/skills/{skill_id}/SKILL.md" in names, skill_id
    assert f"{bundle}/agent/mlops-engineer.md" in names
    templates = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "templates").rglob("*") if p.is_file()}
    assert templates, "the checkout has templates"
    assert {f"{bundle}/{t}" for t in templates} <= names, sorted({f"{bundle}/{t}" for t in templates} - names)
    for tool in TOOL_NAMES:
        assert f"mlops_engineer/tools/{tool}.py" in names, tool
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names), "no bytecode in the wheel"
    assert not any(n.startswith(("tests/", "server/")) for n in names), "only the package is shipped"


def test_core_install_has_no_ml_sdk(wheel_install: Installed) -> None:
    probe = "import importlib.util as u; print([m for m in ('mlflow', 'sklearn', 'pandas') if u.find_spec(m)])"
    assert run_ok([wheel_install.python, "-c", probe], cwd=wheel_install.outside).stdout.strip() == "[]"
    where = run_ok([wheel_install.python, "-c", "import mlops_engineer; print(mlops_engineer.__file__)"], cwd=wheel_install.outside)
    assert Path(where.stdout.strip()).is_relative_to(wheel_install.venv), "the wheel, not the checkout, is imported"


def test_skills_commands_read_the_bundle(wheel_install: Installed) -> None:
    listed = run_ok([wheel_install.script, "skills", "list"], cwd=wheel_install.outside).stdout
    for skill in REGISTRY.skills():
        assert skill.id in listed and skill.tool_name in listed, listed
    shown = run_ok([wheel_install.script, "skills", "show", "track-ml-experiments"], cwd=wheel_install.outside).stdout
    assert shown == wheel_install.bundled("skills/track-ml-experiments/SKILL.md")
    assert shown.startswith("---\nname: track-ml-experiments\n")


def test_stdio_session_from_the_wheel(wheel_install: Installed) -> None:
    workspace = wheel_install.outside / "ws"
    workspace.mkdir()
    # Files the calls name, so each tool gets past its path checks to the import it lacks.
    for name, text in {"a.csv": "x,y\n1,0\n", "b.csv": "x,y\n2,1\n", "e.json": "[]", "Dockerfile": "FROM python:3.11\n"}.items():
        (workspace / name).write_text(text)
    params = StdioServerParameters(
        command=str(wheel_install.script),
        args=["--workspace", str(workspace), "serve"],
        env={"MLOPS_ENGINEER_CONFIG": str(workspace / "no-config.toml")},
        cwd=str(wheel_install.outside),
    )
    with open(wheel_install.outside / "server-stderr.log", "w") as errlog, sync_client(stdio_client(params, errlog=errlog)) as mcp:
        assert [t.name for t in mcp.list_tools()] == TOOL_NAMES
        text, _ = mcp.read_resource("skill://register-ml-model")
        assert text == wheel_install.bundled("skills/register-ml-model/SKILL.md")
        assert text.startswith("---\nname: register-ml-model\n")
        text, _ = mcp.read_resource("agent://mlops-engineer")
        assert text == wheel_install.bundled("agent/mlops-engineer.md")
        assert text.startswith("---\nname: mlops-engineer\n")

        for tool_name in TOOL_NAMES:
            if tool_name in CORE_CALLS:
                result = mcp.call_tool(tool_name, CORE_CALLS[tool_name])
                assert not result.is_error or error_of(result)["code"] != "missing_dependency", (tool_name, text_of(result))
                continue
            if tool_name not in CORE_ONLY_CALLS:
                pytest.fail(f"add a core-only call for {tool_name} to CORE_ONLY_CALLS (or CORE_CALLS) in {__file__}")
            arguments, extra = CORE_ONLY_CALLS[tool_name]
            result = mcp.call_tool(tool_name, arguments)
            error = error_of(result)
            assert error["code"] == "missing_dependency", (tool_name, error)
            assert f"mlops-engineer[{extra}]" in error["hint"], (tool_name, error)
            assert extra in EXTRAS
            assert f"mlops-engineer[{extra}]" in text_of(result)
        assert [t.name for t in mcp.list_tools()] == TOOL_NAMES, "still answering after the failed calls"


def test_http_transport_from_the_wheel(wheel_install: Installed) -> None:
    """The core install can serve HTTP too (uvicorn comes with the core dependencies)."""
    workspace = wheel_install.outside / "ws-http"
    workspace.mkdir()
    with http_server(workspace, "--token", "t0ken", script=wheel_install.script) as url:
        with sync_client(http_transport(url, {"Authorization": "Bearer t0ken"})) as mcp:
            assert [t.name for t in mcp.list_tools()] == TOOL_NAMES
