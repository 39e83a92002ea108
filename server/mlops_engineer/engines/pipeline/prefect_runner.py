"""Run a rendered Prefect flow for real, in local mode, in a child process.

The flow file is run with this environment's Python, so a flow that crashes or
hangs cannot take the MCP server with it. Prefect's state (its SQLite database,
cached results) lives in the workspace (`.mlops/prefect`), nothing goes to
~/.prefect, telemetry is off, and with no PREFECT_API_URL Prefect starts a
temporary local API for the run and stops it afterwards. The flow appends one
JSON line per finished stage to an events file (read here for progress) and
writes the per-task results to a JSON file at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.workspace import Workspace

# Settings that keep a local run local, quiet and inside the workspace.
QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
    # The temporary API must come up on a busy 2-core machine too (default: 20 s).
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PYTHONUNBUFFERED": "1",
}
# Variables that would point the run somewhere else than the workspace's local Prefect.
DROPPED = ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH", "PREFECT_HOME",
           "PREFECT_LOCAL_STORAGE_PATH", "PREFECT_RESULTS_LOCAL_STORAGE_PATH")


@dataclass
class FlowRun:
    returncode: int
    wall_seconds: float
    results: dict[str, Any] | None
    log_path: Path
    log_tail: str


def flow_environment(workspace: Workspace, pipeline: str, *, api_url: str | None, tracking_uri: str | None,
                     results: Path, events: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED and not k.startswith("MLOPS_PIPELINE_")}
    home = workspace.state_dir / "prefect"
    env.update(QUIET)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_PROFILES_PATH=str(home / "profiles.toml"),
        PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(home / "storage"),
        MLOPS_PIPELINE_ROOT=str(workspace.root),
        MLOPS_PIPELINE_RESULTS=str(results),
        MLOPS_PIPELINE_EVENTS=str(events),
        # Stages that call mlops-engineer work in the same workspace and store as this call.
        MLOPS_ENGINEER_WORKSPACE=str(workspace.root),
        MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT="true",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    for name in ("MLFLOW_TRACKING_URI", "MLOPS_ENGINEER_TRACKING_URI"):
        env.pop(name, None)
    if tracking_uri:
        env["MLOPS_ENGINEER_TRACKING_URI"] = tracking_uri
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def run_flow(
    workspace: Workspace,
    flow_file: Path,
    pipeline: str,
    *,
    stages: int,
    refresh: bool,
    timeout: float,
    api_url: str | None,
    tracking_uri: str | None,
    progress: Callable[[float, float | None, str | None], None],
    check_cancelled: Callable[[], None] = lambda: None,
) -> FlowRun:
    state = workspace.state_dir / "pipelines" / pipeline
    state.mkdir(parents=True, exist_ok=True)
    results, events, log_path = state / "last-run.json", state / "events.jsonl", state / "flow.log"
    for stale in (results, events):
        stale.unlink(missing_ok=True)
    env = flow_environment(workspace, pipeline, api_url=api_url, tracking_uri=tracking_uri, results=results, events=events)
    argv = [sys.executable, str(flow_file), *(["--refresh"] if refresh else [])]
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, cwd=workspace.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        seen = 0
        try:
            progress(0, stages + 1, "starting Prefect (temporary local API)" if not api_url else "starting Prefect")
            while proc.poll() is None:
                check_cancelled()  # a stage may run for minutes without an event
                seen = _report_events(events, seen, stages, progress)
                if time.monotonic() - started > timeout:
                    _stop(proc)
                    raise ToolError(
                        "failed",
                        f"The flow ran longer than {timeout:g} s and was stopped; stages that finished are kept ({workspace.relative(log_path)}).",
                        "Raise timeout_seconds, or look at the stage logs under .mlops/pipelines/ for the stage that hangs.",
                    )
                time.sleep(0.2)
            _report_events(events, seen, stages, progress)
        except BaseException:
            _stop(proc)  # a cancelled call stops its flow too
            raise
    wall = time.monotonic() - started
    data = json.loads(results.read_text("utf-8")) if results.is_file() else None
    text = log_path.read_text("utf-8", errors="replace")
    return FlowRun(proc.returncode, wall, data, log_path, "\n".join(text.splitlines()[-25:]))


def _report_events(events: Path, seen: int, stages: int, progress: Callable[[float, float | None, str | None], None]) -> int:
    if not events.is_file():
        return seen
    lines = events.read_text("utf-8", errors="replace").splitlines()
    for line in lines[seen:]:
        try:
            event = json.loads(line)
        except ValueError:
            return seen  # half-written line: read it next time
        seen += 1
        if event.get("event") == "flow_started":
            progress(1, stages + 1, "flow started")
        elif event.get("event") == "stage_finished":
            retries = f", {event['retries']} retr{'y' if event['retries'] == 1 else 'ies'}" if event.get("retries") else ""
            progress(1 + _finished(lines[:seen]), stages + 1, f"{event['name']}: {event['state']} ({event['duration_seconds']} s{retries})")
    return seen


def _finished(lines: list[str]) -> int:
    return sum(1 for line in lines if '"stage_finished"' in line)


def _stop(proc: subprocess.Popen[Any]) -> None:
    """Stop the flow and its children (stage commands, the temporary API server)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue
