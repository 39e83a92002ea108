"""orchestrate_ml_pipeline against the real SDKs: flows run by Prefect 3 in local mode (the workspace's
kept Prefect API and warm runner, or a temporary API per run; state in the workspace), DVC stages
checked by `dvc dag`.

The churn example itself runs in tests/integration/test_demo.py (the demo's pipeline step).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_engineer.engines import local_services as ls
from mlops_engineer.engines.pipeline.spec import cron_problem
from mlops_engineer.tools.orchestrate_ml_pipeline import TOOL
from tests.helpers import ToolRunner

FLAKY = """\
import pathlib, sys
marker = pathlib.Path(".mlops/flaky-attempted")
if not marker.exists():
    marker.write_text("1")
    sys.exit("first attempt fails on purpose")
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/clean.csv").write_text(pathlib.Path("data/raw.csv").read_text().upper())
print("cleaned")
"""

STEPS = """\
import json, pathlib, time


def summarize(path, label):
    rows = pathlib.Path(path).read_text().splitlines()
    pathlib.Path("out/summary.json").write_text(json.dumps({"label": label, "rows": len(rows)}))
    return len(rows)


def boom():
    raise ValueError("boom on purpose")


def quits():
    import sys
    sys.exit(3)
"""


def _project(root: Path) -> None:
    (root / "steps").mkdir()
    (root / "data").mkdir()
    (root / ".mlops").mkdir()
    (root / "steps" / "flaky.py").write_text(FLAKY)
    (root / "steps" / "__init__.py").write_text("")
    (root / "steps" / "tasks.py").write_text(STEPS)
    (root / "steps" / "slow.py").write_text("import time\ntime.sleep(60)\n")
    (root / "data" / "raw.csv").write_text("a,b\n1,2\n")


SPEC = {
    "name": "retry-demo",
    "stages": [
        {"name": "clean", "command": "python steps/flaky.py", "inputs": ["data/raw.csv"], "outputs": ["out/clean.csv"],
         "retries": 1, "retry_delay_seconds": 0},
        {"name": "summarize", "callable": "steps.tasks:summarize", "kwargs": {"path": "out/clean.csv", "label": "v1"},
         "inputs": ["out/clean.csv"], "outputs": ["out/summary.json"]},
    ],
}


def _tasks(out) -> dict[str, object]:  # noqa: ANN001
    return {t.name: t for t in out.run.tasks}


@pytest.fixture(autouse=True)
def _no_kept_servers_left(tmp_path: Path) -> Iterator[None]:
    """A local run keeps the workspace's Prefect API and runner: each test stops what it started."""
    yield
    state = tmp_path / ".mlops"
    records = ls.list_services(state) if state.is_dir() else []
    ToolRunner(tmp_path)(TOOL, {"action": "stop"})
    assert all(ls.service_pids(r) == [] for r in records), "stop left processes behind"


def _pids(tools: ToolRunner) -> dict[str, int]:
    return {s.name: s.pid for s in tools(TOOL, {"action": "list"}).servers}


def test_retry_then_cache_hit_then_rerun_on_changed_input(tmp_path: Path) -> None:
    _project(tmp_path)
    tools = ToolRunner(tmp_path)

    first = tools(TOOL, {"action": "run", "spec": SPEC})
    tasks = _tasks(first)
    assert first.run.ok and first.run.flow_state == "Completed", first.run
    assert (tasks["clean"].state, tasks["clean"].retries, tasks["clean"].cached) == ("Completed", 1, False)
    assert (tasks["summarize"].state, tasks["summarize"].retries) == ("Completed", 0)
    assert tasks["clean"].duration_seconds > 0
    assert json.loads((tmp_path / "out/summary.json").read_text()) == {"label": "v1", "rows": 2}
    assert first.run.prefect_overhead_seconds is not None and first.run.prefect_overhead_seconds > 0
    # Progress came from the flow's events file while it ran: one message per finished stage.
    messages = [m for _, _, m in tools.progress if m]
    assert any(m.startswith("clean: Completed") and "1 retry" in m for m in messages), messages
    # Prefect's state stayed in the workspace.
    assert (tmp_path / ".mlops/prefect/storage").is_dir()
    assert json.loads((tmp_path / first.run.results_path).read_text())["ok"] is True

    second = tools(TOOL, {"action": "run", "spec": SPEC})
    assert second.run.ok and second.run.cached == 2
    assert {t.state for t in second.run.tasks} == {"Cached"} and all(t.retries == 0 for t in second.run.tasks)
    assert (first.run.local_server, second.run.local_server) == ("started", "reused")

    (tmp_path / "data" / "raw.csv").write_text("a,b\n1,2\n3,4\n")
    third = tools(TOOL, {"action": "run", "spec": SPEC})
    assert [(t.name, t.state) for t in third.run.tasks] == [("clean", "Completed"), ("summarize", "Completed")]
    assert json.loads((tmp_path / "out/summary.json").read_text())["rows"] == 3


def test_kept_server_is_reused_and_replaced_when_dead_or_hung(tmp_path: Path) -> None:
    """The workspace's Prefect API and runner: started once, reused, replaced after a kill -9 or a hang, stopped."""
    _project(tmp_path)
    tools = ToolRunner(tmp_path)
    spec = {"name": "kept", "stages": [{"name": "copy", "command": "python steps/flaky.py", "inputs": ["data/raw.csv"],
                                        "outputs": ["out/clean.csv"], "retries": 1, "retry_delay_seconds": 0}]}
    assert tools(TOOL, {"action": "list"}).servers == []
    first = tools(TOOL, {"action": "run", "spec": spec})
    assert first.run.ok and first.run.local_server == "started"
    started = _pids(tools)
    assert set(started) == {"prefect-api", "prefect-runner"}
    assert "Starting temporary server" not in (tmp_path / first.run.log_path).read_text()

    again = tools(TOOL, {"action": "run", "spec": spec, "refresh": True})
    assert again.run.ok and again.run.local_server == "reused" and _pids(tools) == started
    assert [t.state for t in again.run.tasks] == ["Completed"]

    os.kill(started["prefect-runner"], signal.SIGKILL)  # a crash: the record stays, the process is gone
    after_crash = tools(TOOL, {"action": "run", "spec": spec})
    assert after_crash.run.ok and after_crash.run.local_server == "replaced (prefect-runner had exited)", after_crash.run.local_server
    replaced = _pids(tools)
    assert replaced["prefect-api"] == started["prefect-api"] and replaced["prefect-runner"] != started["prefect-runner"]

    hung = replaced["prefect-api"]
    os.kill(hung, signal.SIGSTOP)  # alive but answering nothing: must not be waited on
    try:
        after_hang = tools(TOOL, {"action": "run", "spec": spec})
    finally:
        if ls._alive(hung):
            os.kill(hung, signal.SIGCONT)
    assert after_hang.run.ok and after_hang.run.cached == 1
    assert after_hang.run.local_server.startswith("replaced (prefect-api did not answer /api/health"), after_hang.run.local_server
    assert not ls._alive(hung), "the hung server was stopped"
    assert set(_pids(tools).values()).isdisjoint(replaced.values())

    stopped = tools(TOOL, {"action": "stop"})
    assert {s.name for s in stopped.servers} == {"prefect-api", "prefect-runner"}
    assert tools(TOOL, {"action": "list"}).servers == []


def test_failures_timeouts_and_skipped_downstream_are_reported(tmp_path: Path) -> None:
    _project(tmp_path)
    spec = {
        "name": "failing",
        "max_parallel": 2,
        "stages": [
            {"name": "boom", "callable": "steps.tasks:boom", "retries": 1},
            {"name": "after_boom", "command": "python steps/flaky.py", "upstream": ["boom"]},
            {"name": "slow", "command": "python steps/slow.py", "timeout_seconds": 3, "cache": "none"},
            {"name": "quits", "callable": "steps.tasks:quits"},
        ],
    }
    out = ToolRunner(tmp_path)(TOOL, {"action": "run", "spec": spec})
    tasks = _tasks(out)
    assert not out.run.ok and out.run.flow_state == "Failed"
    assert not tasks["boom"].ok and tasks["boom"].retries == 1 and "boom on purpose" in tasks["boom"].message
    assert tasks["after_boom"].state == "Skipped" and "upstream boom" in tasks["after_boom"].message
    assert not tasks["slow"].ok and ("TimedOut" in tasks["slow"].state or "longer than 3" in tasks["slow"].message), tasks["slow"]
    assert not (tmp_path / "out/clean.csv").exists(), "a skipped stage did not run"
    assert out.run.log_tail, "a failed run carries the end of its log"
    assert "Fix boom" in out.next_steps[0]
    assert not tasks["quits"].ok and "SystemExit(3)" in tasks["quits"].message, tasks["quits"]  # sys.exit() fails its stage only


def test_cancelling_the_call_stops_the_flow(tmp_path: Path) -> None:
    from mlops_engineer.errors import ToolError

    _project(tmp_path)
    (tmp_path / "steps" / "slow.py").write_text(
        "import pathlib, time\npathlib.Path('out').mkdir(exist_ok=True)\npathlib.Path('out/started').write_text('1')\n"
        "time.sleep(60)\npathlib.Path('out/finished').write_text('1')\n"
    )
    tools = ToolRunner(tmp_path)
    original = tools.ctx.on_progress

    def cancel_once_started(done: float, total: float | None, message: str | None) -> None:
        original(done, total, message)
        if message == "flow started":
            tools.ctx.cancelled.set()  # what the MCP layer does when the client cancels

    tools.ctx.on_progress = cancel_once_started
    spec = {"name": "cancel-me", "stages": [{"name": "slow", "command": "python steps/slow.py", "outputs": ["out/finished"]}]}
    with pytest.raises(ToolError) as caught:
        tools(TOOL, {"action": "run", "spec": spec})
    assert caught.value.code == "cancelled"
    assert not (tmp_path / ".mlops/pipelines/cancel-me/last-run.json").exists()
    assert not (tmp_path / "out/finished").exists()


def test_dry_run_writes_nothing_and_runs_nothing(tmp_path: Path) -> None:
    _project(tmp_path)
    out = ToolRunner(tmp_path)(TOOL, {"action": "run", "spec": SPEC}, dry_run=True)
    assert out.run is None and out.dry_run
    assert any("python pipelines/retry-demo/flow.py" in c for c in out.planned_calls)
    assert not (tmp_path / "pipelines").exists() and not (tmp_path / ".mlops/prefect").exists()


def test_dvc_stages_pass_dvc_dag(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    tools(TOOL, {"action": "scaffold"})
    out = tools(TOOL, {"action": "render", "spec_path": "pipelines/churn/pipeline.yaml", "targets": ["dvc"]})
    (check,) = out.checks
    assert check.ok, check.problems
    assert "dvc dag" in check.method
    assert check.edges == ["evaluate -> register", "features -> evaluate", "features -> train", "prepare -> features",
                           "train -> evaluate", "train -> register"]
    assert not (tmp_path / ".dvc").exists(), "the check ran in a scratch repository"

    # An upstream without outputs has no data edge: DVC cannot express it, and the check says so.
    spec = {"name": "order-only", "stages": [{"name": "a", "command": "python a.py"}, {"name": "b", "command": "python b.py", "upstream": ["a"]}]}
    (check,) = tools(TOOL, {"action": "render", "spec": spec, "targets": ["dvc"]}).checks
    assert check.ok and "cannot be expressed in DVC" in check.method


@pytest.mark.server
def test_team_mode_runs_on_a_prefect_server_and_deploys_the_schedule(tmp_path: Path, prefect_server) -> None:  # noqa: ANN001
    import subprocess

    _project(tmp_path)
    spec = {**SPEC, "name": "served", "schedule": {"cron": "0 3 * * 1-5", "timezone": "Europe/Berlin", "work_pool": "pipelines"}}
    tools = ToolRunner(tmp_path)
    out = tools(TOOL, {"action": "run", "spec": spec, "prefect_api_url": prefect_server.api_url})
    assert out.run.ok and [t.retries for t in out.run.tasks] == [1, 0], out.run
    log = (tmp_path / out.run.log_path).read_text()
    assert "Starting temporary server" not in log, "with an API URL the tool starts no temporary API"

    # The rendered deployment definition is accepted by a real server: work pool, deploy, inspect.
    tools(TOOL, {"action": "render", "spec": spec, "targets": ["prefect"]})
    env = prefect_server.env()
    prefect = str(Path(__import__("sys").executable).parent / "prefect")

    def cli(*args: str) -> str:
        done = subprocess.run([prefect, "--no-prompt", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    cli("work-pool", "create", "pipelines", "--type", "process")
    cli("deploy", "--prefect-file", "pipelines/served/prefect.yaml", "--all")
    inspected = cli("deployment", "inspect", "served/scheduled")
    assert "0 3 * * 1-5" in inspected and "Europe/Berlin" in inspected, inspected
    assert "pipelines/served/flow.py:served_pipeline" in inspected


@pytest.mark.parametrize("cron", ["0 3 * * 1-5", "*/15 * * * *", "0 0 1 jan,jul *", "30 2 * * sun", "@daily", "61 * * * *", "0 25 * * *", "* * * *", "0 3 * foo *"])
def test_cron_check_agrees_with_prefect(cron: str) -> None:
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
        prefect_accepts = True
    except ValueError:
        prefect_accepts = False
    assert (cron_problem(cron) is None) == prefect_accepts
