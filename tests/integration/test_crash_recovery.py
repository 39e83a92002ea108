"""kill -9 mid-call, then the same call again: it finds what the dead call left, cleans it up or
resumes it, and says so in `recovered` (issue 16, item 3).

Each victim is a real child process running the tool through `execute()` (`mlops-engineer call`),
killed with SIGKILL at a point it cannot clean up after: an Optuna trial running, an MLflow run
logging its model, DVC copying a file into its cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops_engineer.runtime import ToolContext, execute
from mlops_engineer.settings import Settings
from mlops_engineer.tools.setup_automl_pipeline import TOOL as AUTOML
from mlops_engineer.tools.track_ml_experiments import TOOL as TRACK
from mlops_engineer.tools.version_ml_data import TOOL as DATA
from mlops_engineer.workspace import Workspace
from tests.integration.conftest import write_training_files


def _context(root: Path) -> ToolContext:
    return ToolContext(workspace=Workspace(root), settings=Settings(workspace=root))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_ENGINEER_"))}


def _call(root: Path, tool: str, arguments: dict[str, Any]) -> subprocess.Popen[str]:
    """`mlops-engineer call` in a child process of its own (progress lines on stderr)."""
    name = f"input-{time.monotonic_ns()}.json"
    (root / name).write_text(json.dumps(arguments))
    argv = [sys.executable, "-m", "mlops_engineer", "--workspace", str(root), "call", tool, "--input", f"@{name}"]
    return subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True)


def _kill_when(child: subprocess.Popen[str], ready: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if child.poll() is not None:
            raise AssertionError(f"the call ended before the kill point: {child.communicate()}")
        if time.monotonic() > deadline:
            os.killpg(child.pid, signal.SIGKILL)
            raise AssertionError("the kill point never came")
        time.sleep(0.01)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL


def _finish(child: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        _, stderr = child.communicate()
        raise AssertionError(f"the call after the crash did not finish in {timeout:.0f} s; its last progress: {stderr[-600:]}") from None
    assert child.returncode == 0, stdout + stderr[-2000:]
    return json.loads(stdout)


# --------------------------------------------------------------------------- Optuna

OBJECTIVE = """\
import pathlib, time
HERE = pathlib.Path(__file__).parent

def objective(params):
    calls = HERE / "calls.log"
    with calls.open("a") as log:
        log.write(f"{params['x']}\\n")
    if len(calls.read_text().splitlines()) == 3:  # the third trial hangs until the process is killed
        (HERE / "stuck").write_text("1")
        time.sleep(600)
    return -(params["x"] - 0.3) ** 2
"""


def test_a_killed_study_does_not_block_the_next_call(tmp_path: Path) -> None:
    (tmp_path / "hangs.py").write_text(OBJECTIVE)
    study = {"action": "optimize", "study_name": "killed", "n_trials": 5, "sampler": "random", "plots": False,
             "log_to_mlflow": False, "space": [{"type": "float", "name": "x", "low": 0, "high": 1}],
             "objective": {"kind": "callable", "function": "hangs:objective"}}

    first = _call(tmp_path, "setup_automl_pipeline", {"operation": study})
    _kill_when(first, (tmp_path / "stuck").exists)

    again = _finish(_call(tmp_path, "setup_automl_pipeline", {"operation": study}), timeout=90)

    assert again["study"]["finished"] == 5 and again["study"]["stopped_by"] == "budget"
    assert again["study"]["new_trials"] == 3  # the killed trial's slot ran again
    (note,) = again["recovered"]
    assert note.startswith("trial 2 was left RUNNING") and "died" in note, note
    rows = {r["number"]: r["state"] for r in again["trials"]["rows"]}
    assert rows[2] == "FAIL" and "RUNNING" not in rows.values()


def test_waiting_for_a_live_worker_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    from mlops_engineer.engines.tuning import optuna_study
    from mlops_engineer.locks import owner

    (tmp_path / "quick.py").write_text("def objective(params):\n    return params['x']\n")
    study = {"action": "optimize", "study_name": "busy", "n_trials": 2, "sampler": "random", "plots": False,
             "log_to_mlflow": False, "space": [{"type": "float", "name": "x", "low": 0, "high": 1}],
             "objective": {"kind": "callable", "function": "quick:objective"}}
    execute(AUTOML, {"operation": study}, _context(tmp_path))
    # Another worker, alive (this very process), holds the study's last slot and never finishes it.
    held = optuna.load_study(study_name="busy", storage=f"sqlite:///{tmp_path}/.mlops/optuna.db").ask()
    held.set_user_attr(optuna_study.OWNER, owner())
    monkeypatch.setattr(optuna_study, "WAIT_FOR_OTHERS_S", 2.0)

    started = time.monotonic()
    out = execute(AUTOML, {"operation": {**study, "n_trials": 3}}, _context(tmp_path))

    assert out.study.stopped_by == "others_running" and out.study.finished == 2 and out.recovered == []
    assert 2 <= time.monotonic() - started < 30


# --------------------------------------------------------------------------- MLflow


def test_a_killed_log_run_is_marked_killed_and_logged_again(tmp_path: Path) -> None:
    files = write_training_files(tmp_path)
    arguments = {"operation": {"action": "log_run", "experiment": "crash", "params": {"c": 1},
                               "model": {"path": files["model"], "input_example": files["sample"]}}}
    victim = _call(tmp_path, "track_ml_experiments", arguments)
    seen: list[str] = []

    def logging_the_model() -> bool:  # the run exists and is RUNNING while the model is logged
        assert victim.stderr is not None
        line = victim.stderr.readline()
        seen.append(line)
        return "model model" in line

    _kill_when(victim, logging_the_model)
    from mlops_engineer.engines.mlflow.backend import make_client, resolve_target

    client = make_client(resolve_target(Workspace(tmp_path), Settings(workspace=tmp_path)))
    experiment = client.get_experiment_by_name("crash")
    (orphan,) = client.search_runs([experiment.experiment_id])
    assert orphan.info.status == "RUNNING", seen

    again = execute(TRACK, arguments, _context(tmp_path))

    assert again.run.created and again.run.status == "FINISHED" and again.run.run_id != orphan.info.run_id
    assert client.get_run(orphan.info.run_id).info.status == "KILLED"
    (note,) = again.recovered
    assert orphan.info.run_id in note and "KILLED" in note
    assert not execute(TRACK, arguments, _context(tmp_path)).run.created  # and now it is idempotent again


# --------------------------------------------------------------------------- DVC


def _cache_tmp(root: Path) -> list[Path]:
    return [p for p in (root / ".dvc" / "cache").rglob("*.tmp") if p.is_file()]


@pytest.fixture
def dvc_project(tmp_path: Path) -> Path:
    execute(DATA, {"operation": {"action": "init"}, "confirm": True}, _context(tmp_path))
    return tmp_path


def test_a_killed_track_leaves_no_partial_file_in_the_cache(dvc_project: Path) -> None:
    root = dvc_project
    (root / "data").mkdir()
    with open(root / "data" / "big.bin", "wb") as handle:  # large enough that copying it takes a while
        for i in range(400):
            handle.write(bytes([i % 251]) * (1 << 20))
    arguments = {"operation": {"action": "track", "paths": ["data/big.bin"]}}

    _kill_when(_call(root, "version_ml_data", arguments), lambda: bool(_cache_tmp(root)))
    (partial,) = _cache_tmp(root)

    again = execute(DATA, arguments, _context(root))

    assert _cache_tmp(root) == [], "the partial copy is removed"
    assert [t.path for t in again.tracked] == ["data/big.bin"] and again.tracked[0].size == 400 << 20
    (note,) = again.recovered
    assert "partial" in note and "MB" in note, note
    assert not partial.exists()
