"""The workspace's local Prefect, kept between runs: an API server and a warm flow runner.

With no `PREFECT_API_URL`, every `python flow.py` starts a temporary Prefect API (10-20 s)
and imports Prefect (2-4 s) before its first stage. Here both are paid once per workspace:

- `prefect-api`: the same server Prefect's temporary API runs (uvicorn over
  `prefect.server.api.server:create_app` in ephemeral mode: the API and the services a local
  run needs, no UI, no scheduler), its database in `.mlops/prefect`, on a free loopback port;
- `prefect-runner`: `flow_runner`, Prefect imported once; each run is a forked child.

Both are local services (`engines.local_services`: detached, recorded in
`.mlops/services.json`, listed and stopped across calls). Before each run `ensure` checks
them: a record whose processes are gone is dropped, one from another environment (Python,
Prefect version, settings, or a runner pointing at an older API) or one that does not answer
its health check within a few seconds is stopped, and whatever is missing is started. So a
crashed or hung server is replaced, never waited on.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mlops_engineer.engines import local_services as ls
from mlops_engineer.errors import ToolError

KIND = "prefect"
API = "prefect-api"
RUNNER = "prefect-runner"
HEALTH_TIMEOUT = 3.0  # a kept server that takes longer than this to answer is replaced
START_TIMEOUT = 180.0  # the API's first start migrates its database: minutes on a busy 2-core machine


@dataclass
class LocalPrefect:
    api: ls.ServiceRecord
    runner: ls.ServiceRecord
    state: str = "reused"  # started | reused | replaced
    reasons: list[str] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return api_url(self.api)

    @property
    def summary(self) -> str:
        return self.state + (f" ({'; '.join(self.reasons)})" if self.reasons else "")


def api_url(record: ls.ServiceRecord) -> str:
    return record.url + "/api"


def _prefect_version() -> str:
    try:
        return metadata.version("prefect")
    except metadata.PackageNotFoundError:
        return "missing"


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _api_fingerprint(env: dict[str, str]) -> str:
    return _digest(sys.executable, _prefect_version(), env.get("PREFECT_HOME"))


def _runner_fingerprint(env: dict[str, str]) -> str:
    """Prefect reads its settings once, at import: a runner serves only runs with the same ones."""
    runner = Path(__file__).with_name("flow_runner.py").stat()
    prefect = sorted((k, v) for k, v in env.items() if k.startswith("PREFECT_"))
    return _digest(sys.executable, _prefect_version(), prefect, runner.st_mtime_ns, runner.st_size)


def _answers(record: ls.ServiceRecord, timeout: float = HEALTH_TIMEOUT) -> Any:
    """The health path's JSON answer, or None when it does not answer 200 within `timeout`."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(record.health_url, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null") if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """One `ensure` at a time per workspace: two calls must not start two servers."""
    lock_dir = state_dir / "prefect"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "services.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _usable(state_dir: Path, name: str, fingerprint: str, recorded: set[str], reasons: list[str]) -> ls.ServiceRecord | None:
    """The running service `name` if it is ours and healthy; otherwise stop what is left of it."""
    record = ls.get_service(state_dir, name)  # records whose processes died are dropped here
    if record is None:
        if name in recorded:
            reasons.append(f"{name} had exited")
        return None
    if record.metadata.get("fingerprint") != fingerprint:
        reasons.append(f"{name} was started for another environment or API")
    elif _answers(record) is None:
        reasons.append(f"{name} did not answer {record.health_path} within {HEALTH_TIMEOUT:g} s")
    else:
        return record
    ls.stop_service(state_dir, name, timeout=2)  # a hung process gets SIGKILL soon after its SIGTERM
    return None


def ensure(
    state_dir: Path,
    root: Path,
    env: dict[str, str],
    *,
    progress: Callable[[str], None] = lambda message: None,
    check_cancelled: Callable[[], None] = lambda: None,
) -> LocalPrefect:
    """The workspace's API and runner, healthy and for `env` (the flow's environment without an API URL)."""
    with _locked(state_dir):
        reasons: list[str] = []
        recorded = {r.name for r in _recorded(state_dir)}  # before a read drops the dead ones
        api = _usable(state_dir, API, _api_fingerprint(env), recorded, reasons)
        api_port = api.port if api else ls.free_port()
        url = f"http://{ls.LOOPBACK}:{api_port}/api"
        runner_env = {**env, "PREFECT_API_URL": url}
        runner_fp = _runner_fingerprint(runner_env)
        if api is None:
            ls.stop_service(state_dir, RUNNER, timeout=5)  # if any: it points at the API being replaced
            runner = None
        else:
            runner = _usable(state_dir, RUNNER, runner_fp, recorded, reasons)
        if api and runner:
            return LocalPrefect(api, runner)
        missing = [label for label, rec in (("API", api), ("flow runner", runner)) if rec is None]
        progress(f"starting the workspace's Prefect {' and '.join(missing)} (later runs reuse {'them' if len(missing) > 1 else 'it'})")
        starts: dict[str, Callable[[], ls.ServiceRecord]] = {}
        if api is None:
            starts[API] = lambda: _start_api(state_dir, root, env, api_port, check_cancelled)
        starts[RUNNER] = lambda: _start_runner(state_dir, root, runner_env, runner_fp, check_cancelled)
        started = _start_together(state_dir, starts)
        return LocalPrefect(started.get(API, api), started[RUNNER],  # type: ignore[arg-type]
                            "replaced" if reasons else "started", reasons)


def _recorded(state_dir: Path) -> list[ls.ServiceRecord]:
    """The records as stored, live or not (list_services would drop the dead ones)."""
    try:
        raw = json.loads((state_dir / ls.STATE_FILE).read_text("utf-8"))
        return [ls.ServiceRecord(**value) for value in raw.values() if value.get("kind") == KIND]
    except (OSError, ValueError, TypeError):
        return []


def _start_together(state_dir: Path, starts: dict[str, Callable[[], ls.ServiceRecord]]) -> dict[str, ls.ServiceRecord]:
    """Start the services at once (the API's start and the runner's import overlap); all or none."""
    with ThreadPoolExecutor(max_workers=len(starts)) as pool:
        futures = {name: pool.submit(start) for name, start in starts.items()}
        done: dict[str, ls.ServiceRecord] = {}
        error: BaseException | None = None
        for name, future in futures.items():
            try:
                done[name] = future.result()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others are stopped
                error = error or exc
    if error is not None:
        for name in done:
            ls.stop_service(state_dir, name, timeout=5)
        raise error
    return done


def _start_api(state_dir: Path, root: Path, env: dict[str, str], port: int, check_cancelled: Callable[[], None]) -> ls.ServiceRecord:
    server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    # What Prefect sets for its own temporary API (SubprocessASGIServer): no UI, ephemeral services.
    server_env.update(PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1")
    argv = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app", "--host", ls.LOOPBACK, "--port", str(port), "--log-level", "error",
            "--lifespan", "on"]
    return ls.start_service(state_dir, API, argv, port=port, kind=KIND, health_path="/api/health", base_env=server_env,
                            cwd=root, metadata={"fingerprint": _api_fingerprint(env)}, timeout=START_TIMEOUT,
                            on_wait=lambda _: check_cancelled())


def _start_runner(state_dir: Path, root: Path, env: dict[str, str], fingerprint: str, check_cancelled: Callable[[], None]) -> ls.ServiceRecord:
    port = ls.free_port()
    argv = [sys.executable, "-m", "mlops_engineer.engines.pipeline.flow_runner", "--port", str(port), "--fingerprint", fingerprint]
    return ls.start_service(state_dir, RUNNER, argv, port=port, kind=KIND, health_path="/health", base_env=env, cwd=root,
                            metadata={"fingerprint": fingerprint, "api_url": env["PREFECT_API_URL"]}, timeout=START_TIMEOUT,
                            on_wait=lambda _: check_cancelled())


def list_local(state_dir: Path) -> list[ls.ServiceRecord]:
    return sorted(ls.list_services(state_dir, kind=KIND), key=lambda r: r.name)


def stop_local(state_dir: Path) -> list[ls.ServiceRecord]:
    """Stop the runner (and any run it is running), then the API."""
    if not list_local(state_dir):
        return []
    with _locked(state_dir):
        stopped = [ls.stop_service(state_dir, name) for name in (RUNNER, API)]
    return [r for r in stopped if r is not None]


class RemoteRun:
    """A flow run in the warm runner, with the parts of `subprocess.Popen` that `run_flow` uses."""

    def __init__(self, runner: ls.ServiceRecord, request: dict[str, Any]) -> None:
        body = json.dumps(request).encode()
        head = f"POST /run HTTP/1.0\r\nHost: {runner.host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self._sock = socket.create_connection((runner.host, runner.port), timeout=10)
        self._sock.sendall(head.encode() + body)
        self._buffer = b""
        self._headers_done = self._closed = False
        self.returncode: int | None = None
        self.pid = 0
        deadline = time.monotonic() + 30
        while not self.pid:
            self._pump(max(min(deadline - time.monotonic(), 1.0), 0))
            if self._closed or time.monotonic() > deadline:
                raise ToolError("failed", "The workspace's Prefect runner did not start the flow.",
                                "Run again (a runner that fails is replaced), or stop it: action stop.")

    def _pump(self, timeout: float) -> bool:
        """Read what arrives within `timeout`; False when nothing did (or the connection is closed)."""
        if self._closed or not select.select([self._sock], [], [], timeout)[0]:
            return False
        chunk = self._sock.recv(65536)
        if not chunk:
            self._sock.close()
            self._closed = True
            if self.returncode is None:
                self.returncode = -1  # the runner went away before the run reported its end
            return False
        self._buffer += chunk
        if not self._headers_done and b"\r\n\r\n" in self._buffer:
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
                raise ToolError("failed", f"The workspace's Prefect runner refused the run: {head[:200]!r}")
            self._headers_done = True
        while self._headers_done and b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            message = json.loads(line)
            self.pid = message.get("pid", self.pid)
            if "returncode" in message:
                self.returncode = int(message["returncode"])
        return True

    def poll(self) -> int | None:
        while self.returncode is None and self._pump(0):
            pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = 0.5 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired("flow", timeout or 0)
            self._pump(min(left, 0.5))
        return self.returncode


def submit(runner: ls.ServiceRecord, argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> RemoteRun:
    return RemoteRun(runner, {"argv": argv, "env": env, "cwd": str(cwd), "log": str(log)})
