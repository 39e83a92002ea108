"""Long-running local services (model servers, routers) started detached from the MCP server.

A service is any command that listens on a loopback port and answers an HTTP
health path. It runs in its own session (so it outlives the call that started
it, and the MCP server's exit does not take it down) and is recorded in
`.mlops/services.json`, so `list_services` and `stop_service` work across
calls and server restarts. Records whose processes are gone are dropped on
every read.

Every process of a service is found again by an environment marker
(`MLOPS_ENGINEER_SERVICE_ID`) that its children inherit: servers such as
BentoML put their workers in sessions of their own, where neither the process
group nor the parent link (after the leader dies) would find them.

API (all paths are the workspace's state dir, `Workspace.state_dir`):

    start_service(state_dir, name, argv, port=..., health_path="/readyz", kind=..., metadata=...) -> ServiceRecord
    wait_healthy(record, timeout)            # used by start_service; also usable alone
    list_services(state_dir, kind=None) -> list[ServiceRecord]
    get_service(state_dir, name) -> ServiceRecord | None
    stop_service(state_dir, name, timeout=15) -> ServiceRecord | None
    service_pids(record) -> list[int]        # live processes of a service (tests use it to prove none is left)
    alive(record) -> bool                    # the leader process runs (cheap enough to poll)
    port_in_use(port, host) / free_port(host)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlops_engineer.errors import ToolError
from mlops_engineer.locks import pid_exists

LOOPBACK = "127.0.0.1"
STATE_FILE = "services.json"
LOG_DIR = "services"
MARKER = "MLOPS_ENGINEER_SERVICE_ID"


@dataclass
class ServiceRecord:
    name: str
    kind: str
    pid: int
    port: int
    host: str
    argv: list[str]
    log_path: str
    service_id: str
    started_at: float
    health_path: str = "/readyz"
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def health_url(self) -> str:
        return self.url + self.health_path


# --------------------------------------------------------------------------- ports


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- processes


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in ticks) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def _reap(pid: int) -> None:
    """Collect our own exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int) -> bool:
    _reap(pid)
    stat = _proc_stat(pid)
    if stat is not None:
        return stat[0] not in ("Z", "X")
    if not Path("/proc").is_dir():  # not Linux: fall back to a signal probe
        return pid_exists(pid)
    return False


def _marked_pids(service_id: str) -> list[int]:
    """Live processes whose environment carries this service's marker."""
    needle = f"{MARKER}={service_id}".encode()
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and _alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def alive(record: ServiceRecord) -> bool:
    """Whether the service's leader process still runs (cheap: one /proc read, no scan)."""
    return _alive(record.pid)


def service_pids(record: ServiceRecord) -> list[int]:
    """Every live process of the service: the leader and whatever it spawned."""
    pids = set(_marked_pids(record.service_id))
    if _alive(record.pid):
        pids.add(record.pid)
    return sorted(pids)


def _signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _terminate(record: ServiceRecord, timeout: float) -> None:
    """SIGTERM the leader (servers shut their workers down on it), then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(record.pid, signal.SIGTERM)  # the leader's group: it started a session
    _signal_all([record.pid], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(record.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    # The leader is gone (or would not go): what it left behind gets a SIGTERM of its own.
    _signal_all(service_pids(record), signal.SIGTERM)
    deadline = time.monotonic() + min(timeout, 5.0)
    while service_pids(record) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftover = service_pids(record)
    if leftover:
        _signal_all(leftover, signal.SIGKILL)
        for pid in leftover:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while service_pids(record) and time.monotonic() < deadline:
            time.sleep(0.05)


# --------------------------------------------------------------------------- the state file


@contextlib.contextmanager
def _locked_state(state_dir: Path) -> Iterator[dict[str, ServiceRecord]]:
    """The records, read and written back under an exclusive lock."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STATE_FILE
    with open(state_dir / f"{STATE_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        records: dict[str, ServiceRecord] = {}
        if path.exists():
            try:
                raw = json.loads(path.read_text("utf-8"))
                records = {name: ServiceRecord(**value) for name, value in raw.items()}
            except (ValueError, TypeError):
                records = {}  # a damaged file: processes it named are found again by their marker only
        yield records
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({n: asdict(r) for n, r in sorted(records.items())}, indent=2) + "\n", "utf-8")
        os.replace(tmp, path)


def _drop_stale(records: dict[str, ServiceRecord]) -> None:
    for name in [n for n, r in records.items() if not service_pids(r)]:
        del records[name]


def list_services(state_dir: Path, kind: str | None = None) -> list[ServiceRecord]:
    """Running services (stale records are removed), optionally of one kind."""
    with _locked_state(state_dir) as records:
        _drop_stale(records)
        return [r for r in records.values() if kind is None or r.kind == kind]


def get_service(state_dir: Path, name: str) -> ServiceRecord | None:
    return next((r for r in list_services(state_dir) if r.name == name), None)


# --------------------------------------------------------------------------- start, wait, stop


def _log_tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_healthy(
    record: ServiceRecord, timeout: float, on_wait: Callable[[float], None] | None = None
) -> float:
    """Poll the health URL until it answers 200; fail early when the process exits."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    start = time.monotonic()
    while True:
        try:
            with opener.open(record.health_url, timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError, ValueError):
            pass
        waited = time.monotonic() - start
        if not _alive(record.pid):
            raise ToolError(
                "failed",
                f"Service '{record.name}' exited before it answered {record.health_url}. Log tail:\n{_log_tail(record.log_path)}",
                f"Full log: {record.log_path}.",
            )
        if waited > timeout:
            raise ToolError(
                "failed",
                f"Service '{record.name}' did not answer {record.health_url} within {timeout:.0f} s. Log tail:\n{_log_tail(record.log_path)}",
                f"Full log: {record.log_path}. A slow machine may need a longer startup_timeout.",
            )
        if on_wait is not None:
            on_wait(waited)
        time.sleep(0.25)


def start_service(
    state_dir: Path,
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    host: str = LOOPBACK,
    kind: str = "service",
    health_path: str = "/readyz",
    env: dict[str, str] | None = None,
    base_env: dict[str, str] | None = None,
    cwd: Path | None = None,
    metadata: dict[str, str] | None = None,
    timeout: float = 120.0,
    on_wait: Callable[[float], None] | None = None,
) -> ServiceRecord:
    """Start `argv` detached, record it, and wait until `health_path` answers 200.

    The service gets `base_env` (default: this process's environment) updated with `env`.
    Refuses (ToolError `conflict`) when a live service already has this name or
    the port is taken. If the service does not become healthy, every process it
    started is stopped and the record removed before the error is raised.
    """
    if host != LOOPBACK and not host.startswith("127."):
        raise ToolError("invalid_input", f"Local services bind loopback only, not {host}.")
    existing = get_service(state_dir, name)
    if existing is not None:
        raise ToolError(
            "conflict", f"A service named '{name}' is already running on {existing.url} (pid {existing.pid}).",
            "Stop it first, or use another name.",
        )
    if port_in_use(port, host):
        raise ToolError(
            "conflict", f"Port {port} on {host} is already in use.",
            "Pick another port, or omit it to get a free one; `ss -ltnp` shows who holds it.",
        )
    log_dir = state_dir / LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    service_id = uuid.uuid4().hex
    child_env = {**(os.environ if base_env is None else base_env), **(env or {}), MARKER: service_id}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - argv from our own code, never a shell
            list(argv), cwd=str(cwd) if cwd else None, env=child_env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )
    record = ServiceRecord(
        name=name, kind=kind, pid=proc.pid, port=port, host=host, argv=list(argv), log_path=str(log_path),
        service_id=service_id, started_at=time.time(), health_path=health_path, metadata=dict(metadata or {}),
    )
    with _locked_state(state_dir) as records:
        records[name] = record  # recorded at once: a crash of ours still leaves it findable
    try:
        wait_healthy(record, timeout, on_wait)
    except BaseException:  # also on cancellation: never leave a half-started server behind
        _terminate(record, timeout=10)
        with _locked_state(state_dir) as records:
            records.pop(name, None)
        raise
    return record


def stop_service(state_dir: Path, name: str, timeout: float = 15.0) -> ServiceRecord | None:
    """Stop a service and every process it started; None when no such service runs."""
    with _locked_state(state_dir) as records:
        record = records.get(name)
    if record is None:
        return None
    _terminate(record, timeout)
    with _locked_state(state_dir) as records:
        records.pop(name, None)
    return record
