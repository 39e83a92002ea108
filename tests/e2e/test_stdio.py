"""End to end over stdio: the installed `mlops-engineer serve` as a subprocess, driven by the
real MCP client, the way Claude Code or any other MCP host runs it.

One server process serves the whole module (start-up costs about a second). Tools are
covered by name from the registry, and a test checks the server lists exactly those, so a
tool added later is exercised here too; it must bring a valid example in `VALID_EXAMPLES`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult

from mlops_engineer.registry import load_registry
from tests.e2e._support import (
    REPO_ROOT,
    SERVER_SCRIPT,
    SyncClient,
    clean_environ,
    error_of,
    sync_client,
    text_of,
)

REGISTRY = load_registry()
TOOL_NAMES = [spec.name for spec in REGISTRY.tools()]
SKILL_IDS = [skill.id for skill in REGISTRY.skills()]

MODEL_NAME = "e2e-churn"


# --------------------------------------------------------------------------- the session


class Session(SyncClient):
    """The module's client, plus its workspace and what the stdio transport saw besides JSON-RPC."""

    def __init__(self, client: SyncClient, workspace: Path, cwd: Path, stderr_path: Path, stream_errors: list[Exception]) -> None:
        super().__init__(client.portal, client.client)
        self.workspace = workspace
        self.cwd = cwd
        self.stderr_path = stderr_path
        self.stream_errors = stream_errors


@pytest.fixture(scope="module")
def mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    workspace = tmp_path_factory.mktemp("stdio-ws")
    cwd = tmp_path_factory.mktemp("stdio-cwd")  # not the workspace: --workspace must win
    stderr_path = workspace.parent / f"{workspace.name}-server-stderr.log"
    stream_errors: list[Exception] = []

    async def on_message(message: Any) -> None:
        # The stdio transport hands every stdout line that is not a JSON-RPC message to the
        # session as an Exception; the session passes it here and carries on. So "the client
        # worked" does not prove a clean stdout: this list does.
        if isinstance(message, Exception):
            stream_errors.append(message)

    params = StdioServerParameters(
        command=str(SERVER_SCRIPT),
        args=["--workspace", str(workspace), "serve"],
        # Merged over the SDK's minimal inherited environment (PATH, HOME, ...): nothing of
        # the developer's MLflow setup reaches the server. INFO logging proves logs go to stderr.
        env={"MLOPS_ENGINEER_CONFIG": str(workspace / "no-config.toml"), "MLOPS_ENGINEER_LOG_LEVEL": "INFO"},
        cwd=str(cwd),
    )
    with open(stderr_path, "w") as errlog, sync_client(stdio_client(params, errlog=errlog), message_handler=on_message) as client:
        yield Session(client, workspace, cwd, stderr_path, stream_errors)


def still_answers(mcp: Session) -> None:
    assert [t.name for t in mcp.list_tools()] == TOOL_NAMES


# --------------------------------------------------------------------------- examples per tool


def _sklearn_model(workspace: Path) -> str:
    """A tiny fitted model saved with joblib in the workspace (built here, in the test process)."""
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    (workspace / "models").mkdir(exist_ok=True)
    joblib.dump(LogisticRegression().fit(x, y), workspace / "models/model.joblib")
    return "models/model.joblib"


def registered_version(mcp: Session) -> str:
    """Log a run with a model through track_ml_experiments and register it (once per session)."""
    if "version" not in mcp.state:
        model = _sklearn_model(mcp.workspace)
        progress: list[tuple[float, float | None]] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append((done, total))

        logged = mcp.call_tool(
            "track_ml_experiments",
            {"operation": {"action": "log_run", "experiment": "e2e-registry", "run_name": "candidate",
                           "params": {"C": 1.0}, "metrics": {"auc": 0.81}, "model": {"path": model}}},
            progress_callback=on_progress,
        )
        assert not logged.is_error, text_of(logged)
        # Progress crosses the real stdio transport too: params/metrics, model, finished.
        assert len(progress) >= 3 and progress[-1][0] == progress[-1][1], progress
        run = logged.structured_content["run"]  # type: ignore[index]
        assert run["model_uri"] == f"runs:/{run['run_id']}/model"
        registered = mcp.call_tool(
            "register_ml_model", {"operation": {"action": "register", "name": MODEL_NAME, "run_id": run["run_id"]}}
        )
        assert not registered.is_error, text_of(registered)
        version = registered.structured_content["version"]  # type: ignore[index]
        assert version["run_id"] == run["run_id"] and version["created"] is True
        mcp.state["version"] = version["version"]
        mcp.state["register_result"] = registered
    return str(mcp.state["version"])


def _track_example(mcp: Session) -> CallToolResult:
    first = mcp.call_tool(
        "track_ml_experiments", {"operation": {"action": "create_experiment", "name": "e2e-stdio", "tags": {"suite": "e2e"}}}
    )
    assert not first.is_error, text_of(first)
    assert first.structured_content["experiment"]["name"] == "e2e-stdio"  # type: ignore[index]
    assert first.structured_content["experiment"]["created"] is True  # type: ignore[index]
    again = mcp.call_tool("track_ml_experiments", {"operation": {"action": "create_experiment", "name": "e2e-stdio"}})
    assert again.structured_content["experiment"]["created"] is False  # type: ignore[index]
    return first


def _register_example(mcp: Session) -> CallToolResult:
    version = registered_version(mcp)
    described = mcp.call_tool("register_ml_model", {"operation": {"action": "describe", "name": MODEL_NAME}})
    assert not described.is_error, text_of(described)
    assert [v["version"] for v in described.structured_content["versions"]] == [version]  # type: ignore[index]
    return mcp.state["register_result"]


def _version_data_example(mcp: Session) -> CallToolResult:
    # Over stdio, DVC's own printing would corrupt the stream: these calls prove it stays quiet.
    init = mcp.call_tool("version_ml_data", {"operation": {"action": "init"}, "confirm": True})
    assert not init.is_error, text_of(init)
    data = mcp.workspace / "dvc-data" / "e2e.csv"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("a,b\n1,2\n")
    tracked = mcp.call_tool("version_ml_data", {"operation": {"action": "track", "paths": ["dvc-data/e2e.csv"]}})
    assert not tracked.is_error, text_of(tracked)
    pushed = mcp.call_tool("version_ml_data", {"operation": {"action": "push"}})
    assert pushed.structured_content["transferred"] == 1, text_of(pushed)  # type: ignore[index]
    status = mcp.call_tool("version_ml_data", {"operation": {"action": "status"}})
    assert status.structured_content["status"]["clean"] is True, text_of(status)  # type: ignore[index]
    return tracked


def _commit_example(mcp: Session) -> CallToolResult:
    import subprocess

    repo = mcp.workspace / "e2e-git"
    repo.mkdir(exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "train.py").write_text("def train():\n    return 1\n")
    staged = mcp.call_tool("commit_changes", {"repo": "e2e-git", "operation": {"action": "stage", "paths": ["e2e-git/train.py"]}})
    assert not staged.is_error, text_of(staged)
    identity = {"GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@example.com"}
    subprocess.run(["git", "config", "user.name", identity["GIT_AUTHOR_NAME"]], cwd=repo, check=True)
    subprocess.run(["git", "config", "user.email", identity["GIT_AUTHOR_EMAIL"]], cwd=repo, check=True)
    committed = mcp.call_tool("commit_changes", {"repo": "e2e-git", "operation": {"action": "commit", "message": "feat: add train"}})
    assert committed.structured_content["created"] is True, text_of(committed)  # type: ignore[index]
    return committed


def _feature_store_example(mcp: Session) -> CallToolResult:
    """Apply a one-view store, materialize it and read one key online, all over stdio
    (Feast prints progress on stdout; the tool must keep that off the transport)."""
    import pandas as pd

    (mcp.workspace / "data").mkdir(exist_ok=True)
    pd.DataFrame({"customer_id": [1, 2], "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True),
                  "tenure_months": [3, 12]}).to_parquet(mcp.workspace / "data/e2e_stats.parquet")
    applied = mcp.call_tool("build_feature_store", {"repo_path": "e2e_features", "operation": {
        "action": "apply", "project": "e2e", "entities": [{"name": "customer", "join_key": "customer_id", "value_type": "int64"}],
        "sources": [{"name": "stats", "path": "data/e2e_stats.parquet"}],
        "feature_views": [{"name": "stats", "entities": ["customer"], "source": "stats", "ttl_seconds": 0,
                           "schema": [{"name": "tenure_months", "dtype": "int64"}]}]}})
    assert not applied.is_error, text_of(applied)
    done = mcp.call_tool("build_feature_store", {"repo_path": "e2e_features", "operation": {"action": "materialize", "end": "2026-02-01T00:00:00Z"}})
    assert not done.is_error, text_of(done)
    online = mcp.call_tool("build_feature_store", {"repo_path": "e2e_features", "operation": {
        "action": "online", "entity_rows": [{"customer_id": 2}], "features": ["stats:tenure_months"]}})
    assert online.structured_content["rows"]["rows"] == [{"customer_id": 2, "tenure_months": 12}]  # type: ignore[index]
    return online


def _metric_csv(workspace: Path) -> str:
    """Twelve days of an hourly daily-seasonal metric with a six-hour incident near the end."""
    import numpy as np

    rows = ["timestamp,value"]
    for i in range(12 * 24):
        value = 100 + 20 * np.sin(2 * np.pi * i / 24) + 2 * np.sin(i * 1.3) + (60 if 10 * 24 + 5 <= i < 10 * 24 + 11 else 0)
        rows.append(f"{1767225600 + i * 3600},{value:.3f}")
    (workspace / "metric.csv").write_text("\n".join(rows) + "\n")
    return "metric.csv"


def _anomaly_example(mcp: Session) -> CallToolResult:
    path = _metric_csv(mcp.workspace)
    result = mcp.call_tool("detect_anomalies_aiops", {"operation": {
        "action": "detect", "series": [{"kind": "file", "path": path}], "baseline_days": 7, "seasonal_period": 24}})
    assert not result.is_error, text_of(result)
    found = result.structured_content["results"][0]  # type: ignore[index]
    assert found["alerts"] >= 1 and (mcp.workspace / found["plot_path"]).exists()
    return result


def _forecast_example(mcp: Session) -> CallToolResult:
    path = _metric_csv(mcp.workspace)
    result = mcp.call_tool("forecast_operational_metrics", {"operation": {
        "action": "forecast", "series": {"kind": "file", "path": path}, "horizon": 24, "models": ["theta"], "folds": 1,
        "capacity_threshold": 500}})
    assert not result.is_error, text_of(result)
    assert result.structured_content["baseline"]["model"] == "seasonal_naive"  # type: ignore[index]
    return result


def _serving_example(mcp: Session) -> CallToolResult:
    """Manifests need no server: rendered, schema-validated, written; list answers with no deployment."""
    result = mcp.call_tool("deploy_ml_model_serving", {"operation": {
        "action": "k8s_manifests", "model_uri": f"models:/{MODEL_NAME}@champion", "image": "registry.example/e2e:1",
        "seldon_storage_uri": "s3://models/e2e/1"}})
    assert not result.is_error, text_of(result)
    assert [m["valid"] for m in result.structured_content["manifests"]] == [True, True]  # type: ignore[index]
    assert (mcp.workspace / "mlops/serving/e2e-churn/k8s/kubernetes.yaml").exists()
    listed = mcp.call_tool("deploy_ml_model_serving", {"operation": {"action": "list"}})
    assert not listed.is_error and listed.structured_content["deployments"] == []  # type: ignore[index]
    return result


def _drift_example(mcp: Session) -> CallToolResult:
    (mcp.workspace / "drift").mkdir(exist_ok=True)
    rows = ["x,kind"] + [f"{i % 50},{'ab'[i % 2]}" for i in range(200)]
    (mcp.workspace / "drift/ref.csv").write_text("\n".join(rows) + "\n")
    (mcp.workspace / "drift/cur.csv").write_text("\n".join(["x,kind"] + [f"{i % 50 + 30},a" for i in range(200)]) + "\n")
    result = mcp.call_tool("monitor_model_drift", {"operation": {
        "action": "check", "reference": "drift/ref.csv", "current": "drift/cur.csv", "html": False, "output_dir": "drift/out"}})
    assert not result.is_error, text_of(result)
    assert result.structured_content["dataset_drift"] is True  # type: ignore[index]
    assert (mcp.workspace / "drift/out/drift.prom").is_file()
    return result


def _review_example(mcp: Session) -> CallToolResult:
    (mcp.workspace / "review").mkdir(exist_ok=True)
    (mcp.workspace / "review/train.py").write_text(
        "from sklearn.preprocessing import StandardScaler\nfrom sklearn.model_selection import train_test_split\n"
        "X = StandardScaler().fit_transform(X)\nX_train, X_test = train_test_split(X, random_state=0)\n")
    result = mcp.call_tool("review_data_analysis", {"operation": {"action": "code", "name": "e2e", "paths": ["review"]}})
    assert not result.is_error, text_of(result)
    assert result.structured_content["findings"]["rows"][0]["check"] == "code.preprocessing_before_split"  # type: ignore[index]
    assert (mcp.workspace / ".mlops/reviews/e2e/report.md").is_file()
    return result


def _abtest_example(mcp: Session) -> CallToolResult:
    result = mcp.call_tool("run_ab_test_models", {"operation": {"action": "design", "baseline": 0.2, "mde": 0.02, "daily_units": 3000}})
    assert not result.is_error, text_of(result)
    assert result.structured_content["design"]["n_champion"] > 1000  # type: ignore[index]
    return result


def _pipeline_example(mcp: Session) -> CallToolResult:
    spec = {"name": "e2e-pipeline", "stages": [
        {"name": "prepare", "command": "python prep.py", "outputs": ["data/raw.csv"], "retries": 1},
        {"name": "train", "command": "python train.py", "inputs": ["data/raw.csv"], "timeout_seconds": 60},
    ], "schedule": {"cron": "0 3 * * 1-5"}}
    result = mcp.call_tool("orchestrate_ml_pipeline", {"operation": {"action": "render", "spec": spec, "targets": ["prefect", "airflow"]}})
    assert not result.is_error, text_of(result)
    checks = result.structured_content["checks"]  # type: ignore[index]
    assert [(c["target"], c["ok"]) for c in checks] == [("prefect", True), ("airflow", True)], checks
    assert (mcp.workspace / "pipelines/e2e-pipeline/prefect.yaml").is_file()
    return result


def _branches_example(mcp: Session) -> CallToolResult:
    """A clone in the workspace with a bare remote beside it: a squash-merged branch is cleaned up."""
    def git(cwd: Path, *args: str) -> None:
        subprocess.run(["git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.com", *args], cwd=cwd, check=True, capture_output=True)

    remote, repo = mcp.workspace.parent / f"{mcp.workspace.name}-remote.git", mcp.workspace / "e2e-branches"
    git(mcp.workspace.parent, "init", "-q", "--bare", "-b", "main", str(remote))
    git(mcp.workspace, "clone", "-q", str(remote), str(repo))
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "initial")
    git(repo, "push", "-q", "origin", "HEAD:main")
    git(repo, "switch", "-q", "-c", "done")
    for name in ("b.txt", "c.txt"):  # two commits squashed into one: only the content matches
        (repo / name).write_text(f"{name}\n")
        git(repo, "add", name)
        git(repo, "commit", "-q", "-m", f"add {name}")
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--squash", "done")
    git(repo, "commit", "-q", "-m", "done (squashed)")
    result = mcp.call_tool("manage_git_branches", {"repo": "e2e-branches", "operation": {"action": "cleanup"}})
    assert not result.is_error, text_of(result)
    assert [(d["name"], d["status"]) for d in result.structured_content["deleted"]] == [("done", "merged_squash")]  # type: ignore[index]
    return result


def _automl_example(mcp: Session) -> CallToolResult:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    frame["label"] = (frame.a + rng.normal(scale=0.5, size=60) > 0).astype(int)
    (mcp.workspace / "data").mkdir(exist_ok=True)
    frame.to_csv(mcp.workspace / "data/automl.csv", index=False)
    operation = {"action": "optimize", "study_name": "e2e", "n_trials": 2, "plots": False,
                 "space": [{"type": "float", "name": "C", "low": 0.1, "high": 10, "log": True}],
                 "objective": {"kind": "estimator", "estimator": "logistic_regression", "dataset": "data/automl.csv", "target": "label"}}
    result = mcp.call_tool("setup_automl_pipeline", {"operation": operation})
    assert not result.is_error, text_of(result)
    study = result.structured_content["study"]  # type: ignore[index]
    assert study["finished"] == 2 and study["best"]["mlflow_run_id"]
    return result


def _architecture_example(mcp: Session) -> CallToolResult:
    package = mcp.workspace / "src" / "shop"
    for name, text in {"__init__.py": "", "config.py": "import os\nHOME = os.environ.get('SHOP_HOME')\n",
                       "serving.py": "import os\nfrom shop import training\nTOKEN = os.environ.get('SHOP_TOKEN')\n",
                       "training.py": "from shop import config\n"}.items():
        package.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    result = mcp.call_tool("review_software_architecture", {"operation": {"action": "review"}, "path": "src/shop"})
    assert not result.is_error, text_of(result)
    checks = {f["check"] for f in result.structured_content["findings"]}  # type: ignore[index]
    assert {"architecture.serving_imports_training", "architecture.config_scattered"} <= checks, checks
    assert (mcp.workspace / ".mlops/review/architecture/shop/report.md").is_file()
    return result


def _claude_md_example(mcp: Session) -> CallToolResult:
    project = mcp.workspace / "e2e_claude"
    project.mkdir(exist_ok=True)
    (project / "Makefile").write_text("check:\n\tpython3 -c 'print(1)'\n")
    result = mcp.call_tool("write_claude_md", {"operation": {"action": "draft", "project": "e2e_claude"}})
    assert not result.is_error, text_of(result)
    assert [c["command"] for c in result.structured_content["commands"] if c["written"]] == ["make check"]  # type: ignore[index]
    assert "make check" in (project / "CLAUDE.md").read_text()
    return result


def _labels_example(mcp: Session) -> CallToolResult:
    """Agreement and a Dawid-Skene export from a small Label Studio export, no server needed."""
    tasks = [{"id": i, "data": {"text": f"t{i}"}, "annotations": [
        {"completed_by": user, "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                           "value": {"choices": ["a" if (i + (user == 3 and i % 3 == 0)) % 2 else "b"]}}]}
        for user in (1, 2, 3)]} for i in range(12)]
    (mcp.workspace / "labels").mkdir(exist_ok=True)
    (mcp.workspace / "labels/e2e_export.json").write_text(json.dumps(tasks))
    exported = mcp.call_tool("label_training_data", {"operation": {
        "action": "export", "export_file": "labels/e2e_export.json", "output": "labels/e2e_train.csv", "resolve": "dawid_skene"}})
    assert not exported.is_error and exported.structured_content["export"]["rows"] == 12, text_of(exported)  # type: ignore[index]
    result = mcp.call_tool("label_training_data", {"operation": {"action": "agreement", "export_file": "labels/e2e_export.json", "bootstrap": 50}})
    assert not result.is_error, text_of(result)
    assert result.structured_content["agreement"]["annotators"] == 3  # type: ignore[index]
    return result


def _dockerfile_example(mcp: Session) -> CallToolResult:
    project = mcp.workspace / "e2e_r"
    project.mkdir(exist_ok=True)
    (project / "DESCRIPTION").write_text("Package: e2er\nVersion: 0.1.0\nImports: jsonlite, xml2\n")
    result = mcp.call_tool("create_r_dockerfile", {"operation": {"action": "render", "project": "e2e_r"}})
    assert not result.is_error, text_of(result)
    assert "r-cran-xml2" in result.structured_content["detected"]["apt_packages"]  # type: ignore[index]
    assert "USER 10001:10001" in (project / "Dockerfile").read_text() and (project / ".dockerignore").is_file()
    return result


def _compose_example(mcp: Session) -> CallToolResult:
    result = mcp.call_tool("setup_docker_compose", {"operation": {"action": "render", "stack": "e2e", "components": [{"kind": "model_api", "port": 18000}]}})
    assert not result.is_error, text_of(result)
    assert (mcp.workspace / "compose" / "e2e" / "docker-compose.yml").is_file()
    assert not (mcp.workspace / "compose" / "e2e" / ".env").exists()  # secrets: only .env.example is written
    return result


def _formats_example(mcp: Session) -> CallToolResult:
    (mcp.workspace / "formats").mkdir(exist_ok=True)
    (mcp.workspace / "formats/rows.csv").write_text("id,amount,plan\n1,2.5,basic\n2,,pro\n")
    result = mcp.call_tool("serialize_data_formats", {"operation": {
        "action": "convert", "source": "formats/rows.csv", "target": "formats/rows.parquet"}})
    assert not result.is_error, text_of(result)
    assert result.structured_content["rows"] == 2 and (mcp.workspace / "formats/rows.parquet").is_file()  # type: ignore[index]
    return result


def _docker_cache_example(mcp: Session) -> CallToolResult:
    project = mcp.workspace / "e2e_docker"
    project.mkdir(exist_ok=True)
    (project / "requirements.txt").write_text("requests==2.32.3\n")
    (project / "app.py").write_text("print('hi')\n")
    (project / "Dockerfile").write_text("FROM python:3.11-slim\nWORKDIR /app\nCOPY . /app\nRUN pip install -r requirements.txt\n")
    result = mcp.call_tool("optimize_docker_build_cache", {"operation": {"action": "audit", "dockerfile": "e2e_docker/Dockerfile"}})
    assert not result.is_error, text_of(result)
    rules = {f["rule"] for f in result.structured_content["findings"]}  # type: ignore[index]
    assert {"layer-order", "pip-cache-mount", "pip-cache-in-layer", "dockerignore-missing"} <= rules, rules
    return result


# Every tool the server lists needs an entry: a successful call with real effects.
def _schema_example(mcp: Session) -> CallToolResult:
    v1 = {"type": "record", "name": "Churn", "fields": [{"name": "tenure", "type": "int"}]}
    first = mcp.call_tool("design_serialization_schema", {"operation": {"action": "register", "subject": "e2e", "definition": v1}})
    assert not first.is_error, text_of(first)
    assert first.structured_content["version"] == 1  # type: ignore[index]
    v2 = {**v1, "fields": [{"name": "tenure", "type": "string"}]}
    refused = mcp.call_tool("design_serialization_schema", {"operation": {"action": "register", "subject": "e2e", "definition": v2}})
    assert error_of(refused)["code"] == "conflict" and "type_mismatch" in error_of(refused)["message"], text_of(refused)
    (mcp.workspace / "old.proto").write_text('syntax = "proto3";\nmessage M { int32 a = 1; }\n')
    (mcp.workspace / "new.proto").write_text('syntax = "proto3";\nmessage M { }\n')
    proto = mcp.call_tool("design_serialization_schema", {"operation": {"action": "check", "schema_file": "new.proto", "against": ["old.proto"]}})
    assert [v["kind"] for v in proto.structured_content["violations"]] == ["FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"], text_of(proto)  # type: ignore[index]
    return first


VALID_EXAMPLES: dict[str, Callable[[Session], CallToolResult]] = {
    "track_ml_experiments": _track_example,
    "optimize_docker_build_cache": _docker_cache_example,
    "register_ml_model": _register_example,
    "version_ml_data": _version_data_example,
    "build_feature_store": _feature_store_example,
    "detect_anomalies_aiops": _anomaly_example,
    "forecast_operational_metrics": _forecast_example,
    "deploy_ml_model_serving": _serving_example,
    "manage_git_branches": _branches_example,
    "monitor_model_drift": _drift_example,
    "review_software_architecture": _architecture_example,
    "run_ab_test_models": _abtest_example,
    "orchestrate_ml_pipeline": _pipeline_example,
    "setup_automl_pipeline": _automl_example,
    "review_data_analysis": _review_example,
    "write_claude_md": _claude_md_example,
    "commit_changes": _commit_example,
    "design_serialization_schema": _schema_example,
    "label_training_data": _labels_example,
    "create_r_dockerfile": _dockerfile_example,
    "setup_docker_compose": _compose_example,
    "serialize_data_formats": _formats_example,
}

# Inputs with a path outside the workspace, per tool that takes paths.
_AUTOML_SPACE = [{"type": "float", "name": "C", "low": 0.1, "high": 10, "log": True}]
OUTSIDE_WORKSPACE: dict[str, list[Callable[[Session], tuple[dict[str, Any], str]]]] = {
    "commit_changes": [
        lambda s: ({"repo": "../elsewhere", "operation": {"action": "status"}}, "../elsewhere"),
    ],
    "design_serialization_schema": [
        lambda s: ({"operation": {"action": "infer", "path": "/etc/hostname"}}, "/etc/hostname"),
        lambda s: ({"operation": {"action": "check", "schema_file": "a.avsc", "against": ["../old.avsc"]}}, "../old.avsc"),
        lambda s: ({"operation": {"action": "register", "subject": "x", "definition": "{}"}, "schemas_dir": "../schemas"}, "../schemas"),
    ],
    "build_feature_store": [
        lambda s: ({"repo_path": "../feature_repo", "operation": {"action": "list"}}, "../feature_repo"),
        lambda s: ({"operation": {"action": "training_set", "entity_df": "/etc/hostname", "features": ["v"]}, "repo_path": "e2e_features"}, "/etc/hostname"),
    ],
    "run_ab_test_models": [
        lambda s: ({"operation": {"action": "analyze", "experiment": "e2e", "log_path": "../log.jsonl"}}, "../log.jsonl"),
    ],
    "setup_automl_pipeline": [
        lambda s: ({"operation": {"action": "optimize", "study_name": "out", "space": _AUTOML_SPACE,
                                  "objective": {"kind": "estimator", "estimator": "logistic_regression", "dataset": "../outside.csv", "target": "y"}}},
                   "../outside.csv"),
        lambda s: ({"operation": {"action": "status", "study_name": "out", "storage": "sqlite:////etc/optuna.db"}}, "/etc/optuna.db"),
        lambda s: ({"operation": {"action": "render_script", "study_name": "out", "space": _AUTOML_SPACE, "output_path": "../card.md",
                                  "objective": {"kind": "callable", "function": "m:f"}}}, "../card.md"),
    ],
    "track_ml_experiments": [
        lambda s: ({"operation": {"action": "log_run", "experiment": "e2e", "artifacts": ["../outside.txt"]}}, "../outside.txt"),
        lambda s: ({"operation": {"action": "log_run", "experiment": "e2e", "artifacts": ["/etc/hostname"]}, "dry_run": True}, "/etc/hostname"),
        lambda s: (
            {"operation": {"action": "log_run", "experiment": "e2e", "datasets": [{"path": _escaping_link(s) + "/passwd"}]}},
            "escape/passwd",
        ),
    ],
    "review_software_architecture": [
        lambda s: ({"operation": {"action": "review"}, "path": "../shop"}, "../shop"),
        lambda s: ({"operation": {"action": "review", "report": "/etc/review.md"}, "package": "json"}, "/etc/review.md"),
    ],
    "deploy_ml_model_serving": [
        lambda s: ({"operation": {"action": "k8s_manifests", "model_uri": "models:/e2e@champion", "image": "e2e:1", "output_dir": "../k8s"}}, "../k8s"),
    ],
    "monitor_model_drift": [
        lambda s: ({"operation": {"action": "check", "reference": "../ref.csv", "current": "/etc/hostname"}}, "../ref.csv"),
        lambda s: ({"operation": {"action": "check", "reference": "drift/ref.csv", "current": "drift/cur.csv", "output_dir": "../out"}, "dry_run": True}, "../out"),
    ],
    "register_ml_model": [
        lambda s: (
            {"operation": {"action": "model_card", "name": MODEL_NAME, "version": registered_version(s), "output_path": "../card.md"}},
            "../card.md",
        ),
    ],
    "manage_git_branches": [
        lambda s: ({"repo": "../outside-repo", "operation": {"action": "list"}}, "../outside-repo"),
    ],
    "label_training_data": [
        lambda s: ({"operation": {"action": "agreement", "export_file": "../export.json"}}, "../export.json"),
        lambda s: ({"operation": {"action": "export", "export_file": "labels/e2e_export.json", "output": "/etc/labels.csv"}}, "/etc/labels.csv"),
    ],
    "serialize_data_formats": [
        lambda s: ({"operation": {"action": "convert", "source": "/etc/hostname", "target": "out.csv"}}, "/etc/hostname"),
        lambda s: ({"operation": {"action": "inspect", "path": _escaping_link(s) + "/passwd"}}, "escape/passwd"),
    ],
    "version_ml_data": [
        lambda s: ({"operation": {"action": "track", "paths": ["../outside.csv"]}}, "../outside.csv"),
        lambda s: ({"operation": {"action": "add_remote", "name": "out", "url": "/tmp/dvc-remote-elsewhere"}}, "/tmp/dvc-remote-elsewhere"),
    ],
    "detect_anomalies_aiops": [
        lambda s: ({"operation": {"action": "detect", "series": [{"kind": "file", "path": "../outside.csv"}]}}, "../outside.csv"),
        lambda s: ({"operation": {"action": "render_job", "prometheus_url": "http://p:9090", "query": "up",
                                  "pushgateway_url": "http://g:9091", "output_dir": "/etc/aiops"}}, "/etc/aiops"),
    ],
    "forecast_operational_metrics": [
        lambda s: ({"operation": {"action": "forecast", "series": {"kind": "file", "path": "/etc/hostname"}, "horizon": 3}}, "/etc/hostname"),
    ],
    "write_claude_md": [
        lambda s: ({"operation": {"action": "audit", "project": "../elsewhere"}}, "../elsewhere"),
    ],
    "orchestrate_ml_pipeline": [
        lambda s: ({"operation": {"action": "render", "spec": {"name": "e2e-out", "stages": [
            {"name": "a", "command": "python a.py", "outputs": ["../outside.csv"]}]}}}, "../outside.csv"),
        lambda s: ({"operation": {"action": "run", "spec_path": "/etc/hostname"}}, "/etc/hostname"),
        lambda s: ({"operation": {"action": "scaffold", "directory": _escaping_link(s) + "/churn"}, "dry_run": True}, "escape/churn"),
    ],
}


def _escaping_link(mcp: Session) -> str:
    link = mcp.workspace / "escape"
    if not link.is_symlink():
        link.symlink_to("/etc")
    return "escape"


# --------------------------------------------------------------------------- schema helpers


def _operation_schema(tool_schema: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The accepted `operation.action` values and each one's variant schema."""
    operation = tool_schema["properties"]["operation"]
    mapping = operation["discriminator"]["mapping"]
    assert operation["discriminator"]["propertyName"] == "action"
    variants = {action: tool_schema["$defs"][ref.rsplit("/", 1)[-1]] for action, ref in mapping.items()}
    return sorted(mapping), variants


def bad_inputs(tool_schema: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[str]]]:
    """(label, arguments, words the error text must contain), derived from the tool's own schema."""
    actions, variants = _operation_schema(tool_schema)
    action = actions[0]
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        ("unknown action", {"operation": {"action": "nope"}}, ["operation", "nope", *actions]),
        ("no operation", {}, ["operation", "required"]),
        ("operation not an object", {"operation": "create"}, ["operation"]),
        ("unknown top-level field", {"operation": {"action": action}, "bogus_field": 1}, ["bogus_field", "not permitted"]),
        ("unknown operation field", {"operation": {"action": action, "colour": "red"}}, [f"operation.{action}.colour", "not permitted"]),
        ("wrong type", {"operation": {"action": action}, "dry_run": "perhaps"}, ["dry_run"]),
    ]
    for name, variant in sorted(variants.items()):
        missing = [f for f in variant.get("required", []) if f != "action"]
        if missing:
            fields = [f"operation.{name}.{field}" for field in missing]
            cases.append((f"{name} without {', '.join(missing)}", {"operation": {"action": name}}, [*fields, "required"]))
    return cases


# --------------------------------------------------------------------------- tests


def test_lists_every_registry_tool_with_schemas_and_annotations(mcp: Session) -> None:
    tools = mcp.list_tools()
    assert [t.name for t in tools] == sorted(TOOL_NAMES) == TOOL_NAMES
    for tool in tools:
        skill_id = tool.name.replace("_", "-")
        assert tool.input_schema["type"] == "object"
        operation = tool.input_schema["properties"]["operation"]
        assert sorted(operation["properties"]["action"]["enum"]) == _operation_schema(_full_schema(tool.name))[0], tool.name
        assert "operation" in tool.input_schema.get("required", []), tool.name
        assert {"dry_run", "confirm", "help"} <= set(tool.input_schema["properties"]), tool.name
        assert tool.output_schema and tool.output_schema.get("anyOf"), f"{tool.name}: result | error | help"
        assert tool.title, tool.name
        annotations = tool.annotations
        assert annotations is not None, f"{tool.name} has no annotations"
        hints = [annotations.read_only_hint, annotations.destructive_hint, annotations.idempotent_hint, annotations.open_world_hint]
        assert None not in hints, f"{tool.name}: every hint is stated, got {annotations}"
        assert f"skill://{skill_id}" in (tool.description or ""), tool.name


def test_help_answers_an_actions_schema_without_running_it(mcp: Session) -> None:
    result = mcp.call_tool("track_ml_experiments", {"operation": {"action": "log_run"}, "help": True})
    assert not result.is_error, text_of(result)
    answer = result.structured_content["help"]  # type: ignore[index]
    assert answer["action"] == "log_run" and "experiment" in answer["input_schema"]["$defs"]["LogRun"]["required"]
    assert answer["examples"] and all(e["operation"]["action"] == "log_run" for e in answer["examples"])
    assert '"LogRun"' in text_of(result), "the model reads the schema in the text too"
    listing = mcp.call_tool("track_ml_experiments", {"operation": {"action": "?"}, "help": True})
    assert listing.structured_content["help"]["input_schema"] is None  # type: ignore[index]
    assert "log_run" in text_of(listing) and "create_experiment" in text_of(listing)


def test_one_prompt_per_skill_carrying_the_procedure(mcp: Session) -> None:
    prompts = mcp.list_prompts()
    assert sorted(p.name for p in prompts) == SKILL_IDS
    assert all(p.description for p in prompts)
    for skill in REGISTRY.skills():
        text = mcp.get_prompt_text(skill.id)
        assert skill.body.strip() in text, f"prompt {skill.id} lacks its procedure"
        assert "---\nname:" not in text, "the frontmatter is not part of the procedure"


def test_resources_serve_the_skill_files_and_the_agent(mcp: Session) -> None:
    resources = mcp.list_resources()
    uris = sorted(str(r.uri) for r in resources)
    assert uris == sorted([*(f"skill://{s}" for s in SKILL_IDS), "agent://mlops-engineer"])
    for uri, path in [
        ("skill://track-ml-experiments", "skills/track-ml-experiments/SKILL.md"),
        ("agent://mlops-engineer", "agent/mlops-engineer.md"),
    ]:
        text, mime = mcp.read_resource(uri)
        assert text == (REPO_ROOT / path).read_text("utf-8"), uri
        assert mime == "text/markdown"
    for skill_id in SKILL_IDS:
        text, _ = mcp.read_resource(f"skill://{skill_id}")
        assert text.startswith(f"---\nname: {skill_id}\n")


@pytest.mark.parametrize("tool_name", TOOL_NAMES)
def test_valid_call(mcp: Session, tool_name: str) -> None:
    if tool_name not in VALID_EXAMPLES:
        pytest.fail(f"tool {tool_name} has no valid example in tests/e2e/test_stdio.py VALID_EXAMPLES; add one")
    result = VALID_EXAMPLES[tool_name](mcp)
    assert not result.is_error, text_of(result)
    assert text_of(result).strip(), "a result has a human-readable summary"
    # The client already checked structuredContent against the listed outputSchema;
    # the server's own output model must accept it too.
    REGISTRY.tool(tool_name).output_model.model_validate(result.structured_content)
    still_answers(mcp)


def _full_schema(tool_name: str) -> dict[str, Any]:
    return REGISTRY.tool(tool_name).input_model.model_json_schema()


@pytest.mark.parametrize("tool_name", TOOL_NAMES)
def test_bad_input_is_a_structured_invalid_input_error(mcp: Session, tool_name: str) -> None:
    for label, arguments, words in bad_inputs(_full_schema(tool_name)):
        result = mcp.call_tool(tool_name, arguments)
        error = error_of(result)
        assert error["code"] == "invalid_input", (label, error)
        text = text_of(result)
        missing = [w for w in words if w.lower() not in text.lower()]
        assert not missing, f"{label}: error text lacks {missing}: {text}"
        assert error["hint"], f"{label}: invalid_input comes with a hint"
        action = arguments.get("operation", {}).get("action") if isinstance(arguments.get("operation"), dict) else None
        if action in _operation_schema(_full_schema(tool_name))[0]:
            # The chosen action's complete schema comes back, so one retry can fix the call.
            assert error["schema"]["properties"]["operation"]["$ref"].endswith("/" + _variant_name(tool_name, action)), label
            assert "Schema of this action:" in text
        still_answers(mcp)


def _variant_name(tool_name: str, action: str) -> str:
    mapping = _full_schema(tool_name)["properties"]["operation"]["discriminator"]["mapping"]
    return mapping[action].rsplit("/", 1)[-1]


@pytest.mark.parametrize("tool_name", [t for t in TOOL_NAMES if t in OUTSIDE_WORKSPACE])
def test_path_outside_the_workspace_is_refused(mcp: Session, tool_name: str) -> None:
    for make in OUTSIDE_WORKSPACE[tool_name]:
        arguments, path = make(mcp)
        result = mcp.call_tool(tool_name, arguments)
        error = error_of(result)
        assert error["code"] == "outside_workspace", (arguments, error)
        assert path in error["message"], error
        still_answers(mcp)
    assert not (mcp.workspace.parent / "card.md").exists(), "nothing was written outside the workspace"


def test_unknown_tool_is_a_structured_error_and_the_server_carries_on(mcp: Session) -> None:
    error = error_of(mcp.call_tool("no_such_tool", {}))
    assert error["code"] == "not_found" and "no_such_tool" in error["message"]
    assert "track_ml_experiments" in error["hint"], "the hint lists the tools there are"
    long_name = "x" * 100_000
    error = error_of(mcp.call_tool(long_name, {}))
    assert len(error["message"]) < 200 and "100000 characters" in error["message"], "the echo is bounded"
    still_answers(mcp)


def test_stdout_carried_only_json_rpc(mcp: Session) -> None:
    """Runs last in the module: every line the server wrote to stdout so far parsed as JSON-RPC."""
    assert mcp.stream_errors == [], mcp.stream_errors
    still_answers(mcp)
    stderr = mcp.stderr_path.read_text(errors="replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    # Everything went to the workspace given with --workspace, nothing to the server's cwd.
    assert (mcp.workspace / ".mlops").is_dir()
    assert os.listdir(mcp.cwd) == []


# --------------------------------------------------------------------------- stray stdout writes

# A server whose one tool writes to stdout the way SDKs do: MLflow's set_terminated prints
# "View run ... at: <url>" with sys.stdout.write when it talks to a tracking server.
_NOISY_SERVER = textwrap.dedent(
    r"""
    import os, sys
    from pathlib import Path
    from mlops_engineer.app import build_server
    from mlops_engineer.contract import ToolInput, ToolOutput
    from mlops_engineer.registry import Registry, Skill, ToolSpec
    from mlops_engineer.settings import Settings

    class Out(ToolOutput):
        said: str

    def run(inp, ctx):
        print("noise from print()")
        sys.stdout.write("\U0001f3c3 View run x at: http://127.0.0.1:5000/#/experiments/1/runs/x\n")
        sys.stdout.flush()
        os.write(1, b"noise straight to fd 1\n")
        return Out(said="hello")

    root = Path(sys.argv[1])
    (root / "noisy").mkdir()
    (root / "noisy" / "SKILL.md").write_text("---\nname: noisy\ndescription: d\n---\nbody\n")
    registry = Registry()
    registry.register(
        Skill(id="noisy", description="d", path=root / "noisy" / "SKILL.md"),
        ToolSpec(name="noisy", title="Noisy", description="Writes to stdout.", input_model=ToolInput,
                 output_model=Out, run=run, summarize=lambda out: out.said),
    )
    build_server(Settings(workspace=root), registry).run("stdio")
    """
)


def test_stray_stdout_writes_during_a_call_do_not_reach_the_wire(tmp_path: Path) -> None:
    stream_errors: list[Exception] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):
            stream_errors.append(message)

    params = StdioServerParameters(
        command=sys.executable, args=["-c", _NOISY_SERVER, str(tmp_path)],
        env={"MLOPS_ENGINEER_CONFIG": str(tmp_path / "no-config.toml")}, cwd=str(tmp_path),
    )
    stderr_path = tmp_path / "stderr.log"
    with open(stderr_path, "w") as errlog, sync_client(stdio_client(params, errlog=errlog), message_handler=on_message) as client:
        result = client.call_tool("noisy", {})
        assert not result.is_error, text_of(result)
        assert result.structured_content == {"dry_run": False, "planned_calls": [], "recovered": [], "said": "hello"}
        assert [t.name for t in client.list_tools()] == ["noisy"]
    assert stream_errors == [], stream_errors
    stderr = stderr_path.read_text()
    assert "noise from print()" in stderr and "View run x" in stderr and "noise straight to fd 1" in stderr, stderr


# --------------------------------------------------------------------------- start-up imports

_IMPORT_PROBE = textwrap.dedent(
    """
    import json, sys
    import anyio
    from mcp.client import Client
    from mlops_engineer.app import build_server
    from mlops_engineer.settings import Settings

    server = build_server(Settings())

    async def main():
        async with Client(server) as client:
            tools = await client.list_tools()
            await client.list_prompts()
            for resource in (await client.list_resources()).resources:
                await client.read_resource(str(resource.uri))
            return [t.name for t in tools.tools]

    names = anyio.run(main)
    heavy = ["mlflow", "sklearn", "pandas", "numpy", "scipy", "sqlalchemy", "alembic"]
    print(json.dumps({"tools": names, "imported": [m for m in heavy if m in sys.modules]}))
    """
)


def test_start_and_listing_import_no_ml_sdk(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE],
        cwd=tmp_path, env=clean_environ(tmp_path, MLOPS_ENGINEER_WORKSPACE=str(tmp_path)),
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["tools"] == TOOL_NAMES
    imported = set(report["imported"])
    assert not imported & {"mlflow", "sklearn", "pandas"}, f"imported at start: {sorted(imported)}"
    assert not imported, f"heavy modules imported at start (keep start-up light): {sorted(imported)}"
    assert os.listdir(tmp_path) == [], "starting and listing writes nothing to the workspace"
