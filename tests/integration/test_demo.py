"""The main job: `mlops-engineer demo` on the embedded backends, twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.prefix) / "bin" / "mlops-engineer")


def _demo(workspace: Path, env_uri: str | None = None) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_ENGINEER_"))}
    if env_uri:
        env["MLFLOW_TRACKING_URI"] = env_uri  # the demo must ignore it and stay embedded
    done = subprocess.run([CLI, "--workspace", str(workspace), "demo"], capture_output=True, text=True, env=env, timeout=1500)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.timeout(1800)  # two whole demos, each with a Prefect run: minutes on a busy 2-core machine
def test_demo_promotes_the_better_model_and_is_idempotent(tmp_path: Path) -> None:
    first = _demo(tmp_path, env_uri="http://127.0.0.1:9")
    assert "baseline v1 is the current champion" in first
    assert "candidate roc_auc=" in first and "beats champion v1" in first
    assert "champion is now v2 (previous: v1)" in first
    assert "point-in-time training set: 3000 rows" in first and "online lookup customer 1:" in first
    assert "smoke test: sample -> 200" in first and "malformed -> 400" in first and "local deployments left: 0" in first
    assert "A/B test: champion v2 against previous v1" in first and "\ndecision: " in first
    assert "drift tenure_months    severe" in first and "concept drift: yes" in first
    for artifact in (".mlops/mlflow.db", "docs/model-cards/churn-classifier-v2.md", "mlops/tracking/docker-compose.yml", "data/churn_train.csv",
                     "reports/drift/churn-champion.html", "reports/drift/churn-champion.prom"):
        assert (tmp_path / artifact).exists(), artifact
    assert "data status: clean" in first and (tmp_path / "data/churn_train.csv.dvc").exists()

    # The pipeline step: the churn pipeline rendered, checked and run by Prefect; the re-run is all cache.
    assert "pipeline Completed: 0/5 tasks from the cache" in first
    for check in ("prefect  ok", "airflow  ok", "dvc      ok"):
        assert check in first, check
    assert (tmp_path / "data/churn/raw.csv.dvc").exists() or (tmp_path / "pipelines/churn/dvc.lock").exists()

    second = _demo(tmp_path)
    assert "pipeline Completed: 5/5 tasks from the cache" in second
    assert second.count("already logged") == 2
    assert "champion is now v2" in second and "is the current champion" not in second
    assert "feature store: feature_repo (sqlite online, file offline); registry unchanged" in second

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / '.mlops/mlflow.db'}")
    assert len(client.search_model_versions("name = 'churn-classifier'")) == 2
    experiment = client.get_experiment_by_name("churn-demo")
    assert len(client.search_runs([experiment.experiment_id])) == 2


@pytest.mark.parametrize("argv", [["skills", "list"], ["doctor"]])
def test_cli_commands_answer(argv: list[str], tmp_path: Path) -> None:
    done = subprocess.run([CLI, "--workspace", str(tmp_path), *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "track-ml-experiments" in done.stdout or "tracking" in done.stdout
