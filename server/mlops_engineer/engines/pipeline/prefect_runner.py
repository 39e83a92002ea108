"""Run a rendered Prefect flow for real, in a process of its own.

The flow never runs inside the MCP server, so a flow that crashes or hangs cannot
take the server with it. Prefect's state (its SQLite database, cached results)
lives in the workspace (`.mlops/prefect`), nothing goes to ~/.prefect, and
telemetry is off. Three ways to run, by what the caller asks:

- local (the default): the workspace's kept Prefect API and warm runner
  (`local_prefect`); the run is a child forked from the runner;
- temporary: `python flow.py` with no PREFECT_API_URL, so Prefect starts a temporary
  local API for this run and stops it afterwards (10-20 s each run);
- a Prefect server's URL (team mode): `python flow.py` against it.

The flow appends one JSON line per finished stage to an events file (read here for
progress) and writes the per-task results to a JSON file at the end.
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

from mlops_engineer.engines import local_services as ls
from mlops_engineer.engines.pipeline import local_prefect
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
    local_server: str | None = None  # the kept API: started, reused or replaced (why)


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
    keep_server: bool = True,
) -> FlowRun:
    """Run the flow file and wait for it; `keep_server` (with no `api_url`) runs it on the workspace's kept local Prefect."""
    state = workspace.state_dir / "pipelines" / pipeline
    state.mkdir(parents=True, exist_ok=True)
    results, events, log_path = state / "last-run.json", state / "events.jsonl", state / "flow.log"
    for stale in (results, events):
        stale.unlink(missing_ok=True)
    env = flow_environment(workspace, pipeline, api_url=api_url, tracking_uri=tracking_uri, results=results, events=events)
    flags = ["--refresh"] if refresh else []
    started = time.monotonic()
    local: local_prefect.LocalPrefect | None = None
    with log_path.open("w", encoding="utf-8") as log:
        if api_url is None and keep_server:
            local = local_prefect.ensure(workspace.state_dir, workspace.root, env,
                                         progress=lambda message: progress(0, stages + 1, message), check_cancelled=check_cancelled)
            env["PREFECT_API_URL"] = local.api_url
            proc: subprocess.Popen[Any] | local_prefect.RemoteRun = local_prefect.submit(
                local.runner, [str(flow_file), *flags], env=env, cwd=workspace.root, log=log_path)
            progress(0, stages + 1, f"flow starting (the workspace's Prefect API, {local.state})")
        else:
            proc = subprocess.Popen([sys.executable, str(flow_file), *flags], cwd=workspace.root, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            progress(0, stages + 1, "starting Prefect (temporary local API)" if not api_url else "starting Prefect")
        seen = 0
        try:
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
                if local is not None and not ls.alive(local.api):
                    _stop(proc)
                    raise ToolError(
                        "backend_unreachable", "The workspace's Prefect API stopped during the run; the run was stopped.",
                        "Run again: a new API is started. Its log: " + local.api.log_path,
                    )
                time.sleep(0.05 if local is not None else 0.2)
            _report_events(events, seen, stages, progress)
        except BaseException:
            _stop(proc)  # a cancelled call stops its flow too
            raise
    wall = time.monotonic() - started
    data = json.loads(results.read_text("utf-8")) if results.is_file() else None
    text = log_path.read_text("utf-8", errors="replace")
    return FlowRun(proc.returncode if proc.returncode is not None else -1, wall, data, log_path,
                   "\n".join(text.splitlines()[-25:]), local.summary if local else None)


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


def _stop(proc: subprocess.Popen[Any] | local_prefect.RemoteRun) -> None:
    """Stop the flow and its children (stage commands, the temporary API server): it leads its own session."""
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
