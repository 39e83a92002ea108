"""Run a Ray Tune search (ASHA + OptunaSearch) in a child process and follow it.

The child is `engines/tuning/ray_tune_runner.py` (see its docstring for why Ray never runs
inside the server). It is started in its own session and process group, so a cancel
is one SIGINT to the group (Tune stops cleanly and keeps finished trials) and the
final SIGKILL to the group leaves no raylet, GCS or worker behind, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.redact import redact_text

CANCEL_GRACE_S = 60.0
POLL_S = 0.5


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast when the cluster's GCS port does not answer (Ray itself retries for a minute)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ToolError("invalid_input", f"ray_address '{address}' is not host:port.", "Use the address `ray start --head` printed, e.g. 127.0.0.1:6379.")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return
    except OSError as exc:
        raise ToolError("backend_unreachable", f"No Ray cluster answers at {address}.",
                        "Start one with `ray start --head --port=6379` (and `ray start --address=<head>:6379` on workers), or omit ray_address for a local Ray.") from exc


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run(
    spec: dict[str, Any],
    folder: Path,
    *,
    cancelled: Callable[[], bool],
    on_event: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Start the driver, hand each finished trial to `on_event`, return its summary."""
    folder.mkdir(parents=True, exist_ok=True)
    events, result, log = folder / "events.jsonl", folder / "result.json", folder / "ray.log"
    for stale in (events, result):
        stale.unlink(missing_ok=True)
    spec = {**spec, "events": str(events), "result": str(result)}
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2, default=str), "utf-8")
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # no TensorBoard/CSV/JSON writers per trial
        # When the server was started by `uv run`, Ray would start every worker through
        # `uv run` too (a re-resolve per worker process); our interpreter is already right.
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        "PYTHONUNBUFFERED": "1",
        # Our own package must import in Ray's workers too (a local or same-machine cluster).
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlops_engineer.engines.tuning.ray_tune_runner", str(spec_path)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, cwd=spec["root"],
        )
    seen = 0
    interrupted_at: float | None = None
    try:
        while True:
            seen = _drain(events, seen, on_event)
            if proc.poll() is not None:
                break
            if interrupted_at is None and cancelled():
                interrupted_at = time.monotonic()
                _kill_group(proc.pid, signal.SIGINT)  # Tune: stop scheduling, end running trials, save state
            elif interrupted_at is not None and time.monotonic() - interrupted_at > CANCEL_GRACE_S:
                _kill_group(proc.pid, signal.SIGKILL)
            time.sleep(POLL_S)
        _drain(events, seen, on_event)
    finally:
        if proc.poll() is None:
            _kill_group(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        _kill_group(proc.pid, signal.SIGKILL)  # anything of Ray's still in the group
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    try:
        summary = json.loads(result.read_text("utf-8"))
    except (OSError, ValueError):
        summary = {"status": "cancelled" if interrupted_at else "error", "error": f"the Ray driver exited with code {proc.returncode}"}
    if interrupted_at is not None:
        summary["status"] = "cancelled"
    if summary.get("status") == "error":
        code = summary.get("code") if summary.get("code") in ("invalid_input", "not_found", "missing_dependency") else "failed"
        raise ToolError(code, redact_text(f"Ray Tune failed: {summary.get('error')}"),
                        summary.get("hint") or f"See {log} for the driver's log. Last lines:\n{redact_text(_log_tail(log))}")
    return summary


def _drain(path: Path, seen: int, on_event: Callable[[dict[str, Any]], None]) -> int:
    """Hand over complete lines after the first `seen`; return the new count."""
    if not path.exists():
        return seen
    lines = path.read_text("utf-8").splitlines(keepends=True)
    complete = [line for line in lines if line.endswith("\n")]
    for line in complete[seen:]:
        on_event(json.loads(line))
    return len(complete)
