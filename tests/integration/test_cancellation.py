"""A cancelled call writes nothing after the cancel and stops its long single steps (issue 16, item 5).

The call runs through `execute()` in a worker thread, as the server runs it; the test sets the
ToolContext's `cancelled` event from outside at a moment when the call is inside one long step
(copying a large artifact, DVC copying into its cache, Evidently rendering its report), the way
the server sets it when the client's cancel arrives. Afterwards the workspace and the backends
must hold nothing the call would have written after that moment.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext, execute
from mlops_engineer.settings import Settings
from mlops_engineer.tools.monitor_model_drift import TOOL as DRIFT
from mlops_engineer.tools.track_ml_experiments import TOOL as TRACK
from mlops_engineer.tools.version_ml_data import TOOL as DATA
from mlops_engineer.workspace import Workspace

BIG_MB = 400


def _big_file(path: Path, mb: int = BIG_MB) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for i in range(mb):
            handle.write(bytes([i % 251]) * (1 << 20))


class Call:
    """One tool call in a worker thread, cancelled from outside when `moment()` becomes true."""

    def __init__(self, root: Path) -> None:
        self.messages: list[str] = []
        self.ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root),
                               on_progress=lambda d, t, m: self.messages.append(m or ""))
        self.cancelled_at: float | None = None

    def run(self, spec: Any, arguments: dict[str, Any], moment: Callable[[], bool], timeout: float = 180) -> tuple[Any, float]:
        outcome: list[Any] = []

        def work() -> None:
            try:
                outcome.append(execute(spec, arguments, self.ctx))
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                outcome.append(exc)

        worker = threading.Thread(target=work)
        worker.start()
        deadline = time.monotonic() + timeout
        while not moment():
            assert worker.is_alive(), f"the call ended before the cancel point: {outcome}"
            assert time.monotonic() < deadline, "the cancel point never came"
            time.sleep(0.005)
        self.ctx.cancelled.set()
        self.cancelled_at = time.monotonic()
        worker.join(timeout)
        assert not worker.is_alive(), "the call did not stop"
        return outcome[0], time.monotonic() - self.cancelled_at


def _assert_cancelled(result: Any, seconds: float) -> None:
    assert isinstance(result, ToolError) and result.code == "cancelled", result
    assert seconds < 5, f"the call went on for {seconds:.1f} s after the cancel"


def test_cancelled_log_run_stops_copying_and_never_finishes_its_run(tmp_path: Path) -> None:
    _big_file(tmp_path / "big.bin")
    call = Call(tmp_path)
    arguments = {"operation": {"action": "log_run", "experiment": "cancel", "params": {"a": 1}, "artifacts": ["big.bin"]}}

    result, seconds = call.run(TRACK, arguments, lambda: "artifact big.bin" in call.messages)

    _assert_cancelled(result, seconds)
    from mlops_engineer.engines.mlflow.backend import make_client, resolve_target

    client = make_client(resolve_target(call.ctx.workspace, call.ctx.settings))
    (run,) = client.search_runs([client.get_experiment_by_name("cancel").experiment_id])
    assert run.info.status == "KILLED"
    copied = [p for p in (tmp_path / ".mlops" / "mlartifacts").rglob("*") if p.is_file()]
    assert copied == [], f"written after the cancel: {copied}"


@pytest.fixture
def dvc_project(tmp_path: Path) -> Path:
    execute(DATA, {"operation": {"action": "init"}, "confirm": True}, ToolContext(Workspace(tmp_path), Settings(workspace=tmp_path)))
    return tmp_path


def test_cancelled_track_stops_dvc_mid_copy_and_keeps_nothing(dvc_project: Path) -> None:
    root = dvc_project
    _big_file(root / "data" / "big.bin")
    cache = root / ".dvc" / "cache"
    call = Call(root)

    result, seconds = call.run(DATA, {"operation": {"action": "track", "paths": ["data/big.bin"]}},
                               lambda: any(cache.rglob("*.tmp")))

    _assert_cancelled(result, seconds)
    time.sleep(1)  # had DVC gone on in the background, its copy would land now
    assert [p for p in cache.rglob("*") if p.is_file()] == [], "nothing of the data in the cache"
    assert not (root / "data" / "big.bin.dvc").exists()
    again = execute(DATA, {"operation": {"action": "track", "paths": ["data/big.bin"]}}, ToolContext(Workspace(root), Settings(workspace=root)))
    assert again.tracked[0].size == BIG_MB << 20 and again.recovered == []


SLOW_STAGE = "import pathlib, sys, time; pathlib.Path('started').write_text('1'); time.sleep(60); pathlib.Path('slow.txt').write_text('done')"


def test_cancelled_repro_kills_the_running_stage_command(dvc_project: Path) -> None:
    import json
    import sys

    root = dvc_project
    ctx = ToolContext(Workspace(root), Settings(workspace=root))
    cmd = f"{sys.executable} -c {json.dumps(SLOW_STAGE)}"
    execute(DATA, {"operation": {"action": "write_pipeline", "stages": [{"name": "slow", "cmd": cmd, "outs": ["slow.txt"]}]}}, ctx)
    call = Call(root)

    result, seconds = call.run(DATA, {"operation": {"action": "repro"}}, (root / "started").exists)

    _assert_cancelled(result, seconds)
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    assert "time.sleep(60)" not in ps, "the stage command still runs"
    time.sleep(1)
    assert not (root / "slow.txt").exists() and not (root / "dvc.lock").exists()


def test_cancelled_drift_check_writes_no_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = 300_000
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows), "c": rng.choice(list("xyz"), rows)})
    (tmp_path / "data").mkdir()
    frame.to_parquet(tmp_path / "data" / "ref.parquet")
    frame.assign(a=frame.a + 1).to_parquet(tmp_path / "data" / "cur.parquet")
    call = Call(tmp_path)
    rendering: list[float] = []

    def in_the_report() -> bool:  # a moment into the Evidently report, the last long step before the writes
        if not rendering and "rendering the Evidently report" in call.messages:
            rendering.append(time.monotonic())
        return bool(rendering) and time.monotonic() - rendering[0] > 0.3

    result, seconds = call.run(DRIFT, {"operation": {"action": "check", "reference": "data/ref.parquet", "current": "data/cur.parquet",
                                                     "name": "big", "html_max_rows": rows}}, in_the_report)

    assert isinstance(result, ToolError) and result.code == "cancelled", result
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "data" not in p.parts and ".mlops" not in p.parts]
    assert written == [], f"written after the cancel: {written}"
