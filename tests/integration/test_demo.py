"""The main job as the README runs it: `uv run --all-extras mlops-engineer demo` from the root
of a fresh `git clone`, twice.

The clone is of this repository's committed HEAD: uncommitted changes are not in it. The
demo runs in a new environment that uv creates in the clone (from the shared uv cache), in
an environment stripped of what a user's shell would not have (this test run's virtual
environment, MLflow and mlops-engineer settings).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CLI = str(Path(sys.prefix) / "bin" / "mlops-engineer")
README_COMMAND = ["uv", "run", "--all-extras", "mlops-engineer", "demo"]
# What uv itself reports on stderr when the first `uv run` creates the clone's environment.
UV_SETUP = re.compile(
    r"^(Using C?Python \S+|Creating virtual environment at|\s*Buil(ding|t) mlops-engineer @|"
    r"(Resolved|Prepared|Installed|Audited) \d+ packages? in|\s*Download(ing|ed) )"
)


@dataclass
class Run:
    stdout: str
    stderr: str


def _user_env(clone: Path) -> dict[str, str]:
    """The environment of a user's shell: no active virtual environment (uv would warn that it
    ignores ours), no MLflow or mlops-engineer settings, our environment's bin folder off PATH."""
    ours = str(Path(sys.prefix) / "bin")
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "UV_RUN_RECURSION_DEPTH") and not k.startswith(("MLFLOW_", "MLOPS_ENGINEER_"))}
    env["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != ours)
    if shutil.which("uv", path=env["PATH"]) is None:  # uv started pytest from elsewhere: the same uv, on PATH
        env["PATH"] += os.pathsep + str(Path(os.environ["UV"]).parent)
    # This test session's isolation (conftest), kept: a catalogue cache in tmp, no config file.
    env.update({k: os.environ[k] for k in ("MLOPS_ENGINEER_CACHE_DIR", "MLOPS_ENGINEER_CONFIG") if k in os.environ})
    return env


def _demo(clone: Path, env: dict[str, str]) -> Run:
    done = subprocess.run(README_COMMAND, cwd=clone, capture_output=True, text=True, env=env, timeout=1500)
    assert done.returncode == 0, done.stdout + done.stderr
    return Run(done.stdout, done.stderr)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def _state(demo: Path) -> dict[str, object]:
    """What a second run must not change: commits, git status, pushed data, DVC's records."""
    remote = demo / ".mlops/dvc-remote"
    return {
        "head": _git(demo, "rev-parse", "HEAD"),
        "status": _git(demo, "status", "--porcelain"),
        "remote": sorted(str(p.relative_to(remote)) for p in remote.rglob("*") if p.is_file()),
        "records": {str(p.relative_to(demo)): p.read_text() for p in [*demo.glob("data/*.dvc"), demo / "pipelines/churn/dvc.lock"]},
    }


def _where(stdout: str, label: str) -> str:
    line = next(line for line in stdout.splitlines() if line.startswith(f"  {label} "))
    return line[len(label) + 2:].strip()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a clone, a new environment and two whole demos with a Prefect run each: minutes on 2 busy cores
def test_readme_demo_from_a_fresh_clone_twice(tmp_path: Path) -> None:
    clone = tmp_path / "mlops-engineer"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    env = _user_env(clone)
    demo = clone / "mlops-demo"

    first = _demo(clone, {**env, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})  # the demo ignores it: embedded store
    out = first.stdout
    noise = [line for line in first.stderr.splitlines() if not UV_SETUP.match(line)]
    assert noise == [], "the demo's stderr must be empty; third-party output belongs in the demo log:\n" + first.stderr
    assert "baseline v1 is the current champion" in out
    assert "candidate roc_auc=" in out and "beats champion v1" in out
    assert "champion is now v2 (previous: v1)" in out
    assert "data versioning: DVC project created (git init, dvc init)" in out
    assert "point-in-time training set: 3000 rows" in out and "online lookup customer 1:" in out
    assert "smoke test: sample -> 200" in out and "malformed -> 400" in out and "local deployments left: 0" in out
    assert "container of the champion's service" in out and ("container stopped and removed: True" in out or "docker rm -f " in out)
    assert "A/B test: champion v2 against previous v1" in out and "\ndecision: " in out
    assert "drift tenure_months    severe" in out and "concept drift: yes" in out
    assert "schemas: churn-train v2 registered" in out and "tenure_months as a string was refused (conflict)" in out
    for artifact in (".mlops/mlflow.db", "docs/model-cards/churn-classifier-v2.md", "mlops/tracking/docker-compose.yml", "data/churn_train.csv",
                     "data/churn_train.csv.dvc", "reports/drift/churn-champion.html", "reports/drift/churn-champion.prom"):
        assert (demo / artifact).exists(), artifact
    # The pipeline step: rendered, checked, run by Prefect; every stage recorded in dvc.lock and its data pushed.
    assert "pipeline Completed: 0/5 tasks from the cache" in out
    for check in ("prefect  ok", "airflow  ok", "dvc      ok"):
        assert check in out, check
    assert out.count("data status: clean") == 2, "after the data step and after the pipeline"
    assert re.search(r"Completed: 0/5 tasks.*\npushed \d+ file\(s\)", out), "the pipeline's data is pushed in the same run"
    assert re.search(r"\ncommit [0-9a-f]{12} feat: add ", out), "the demo's files committed with a proposed message"
    stopped = re.search(r"stopped the workspace's kept Prefect services: (.*)", out)
    assert stopped and "prefect-api" in stopped.group(1) and "prefect-runner" in stopped.group(1), "the demo leaves nothing running"

    # mlops-demo/ is its own repository; our clone sees nothing but its ignored folders.
    assert _git(demo, "rev-parse", "--show-toplevel").strip() == str(demo)
    assert _git(clone, "status", "--porcelain", "--ignored").splitlines() == ["!! .venv/", "!! mlops-demo/"]
    log = Path(_where(out, "demo log"))
    assert log == demo / ".mlops/demo.log" and log.stat().st_size > 0, "the SDKs' output went to the log"

    before = _state(demo)
    second = _demo(clone, env)
    assert second.stderr == ""
    out2 = second.stdout
    assert "pipeline Completed: 5/5 tasks from the cache" in out2
    assert out2.count("already logged") == 2
    assert "champion is now v2" in out2 and "is the current champion" not in out2
    assert "feature store: feature_repo (sqlite online, file offline); registry unchanged" in out2
    assert "pushed" not in out2 and out2.count("already has the data") == 2 and out2.count("data status: clean") == 2
    assert "resumed, nothing new to run" in out2
    assert "commit: the project's files are already committed" in out2
    assert "churn-train v2 already registered" in out2 and "was refused (conflict)" in out2
    assert _state(demo) == before, "running it again changes nothing"

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{demo / '.mlops/mlflow.db'}")
    assert len(client.search_model_versions("name = 'churn-classifier'")) == 2
    assert len(client.search_runs([client.get_experiment_by_name("churn-demo").experiment_id])) == 2

    # The printed "load champion" command works pasted anywhere, and leaves no mlflow.db behind.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for folder in (clone, elsewhere):
        loaded = subprocess.run(["bash", "-c", _where(out2, "load champion")], cwd=folder, capture_output=True, text=True, env=env, timeout=300)
        assert loaded.returncode == 0 and re.search(r"\[[01 ]+\]", loaded.stdout), loaded.stdout + loaded.stderr
    assert list(elsewhere.iterdir()) == []
    assert _git(clone, "status", "--porcelain", "--ignored").splitlines() == ["!! .venv/", "!! mlops-demo/"]


@pytest.mark.parametrize("argv", [["skills", "list"], ["doctor"]])
def test_cli_commands_answer(argv: list[str], tmp_path: Path) -> None:
    done = subprocess.run([CLI, "--workspace", str(tmp_path), *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "track-ml-experiments" in done.stdout or "tracking" in done.stdout
