"""Workspace locks: check-then-create held across threads and processes, and who owns what.

`workspace_lock(workspace, key)` serialises every caller that uses the same key on the same
workspace, whether it is another thread of this server, a second server process, or the
`call` command: an `fcntl.flock` on `.mlops/locks/<key>.lock`. Each acquisition opens the file
anew, so two threads of one process exclude each other too. The kernel releases the lock when
its holder dies (kill -9 included), so a crash never leaves a workspace locked. The lock files
stay (empty but for the last holder); they are a few bytes each.

Keys name what is created: `stable_digest` of the call's identity for idempotent creations
(an MLflow run, a model version), or a fixed name for one shared file (the render manifest).

`owner()` and `owner_alive()` record and check the process behind something left RUNNING (an
MLflow run, an Optuna trial), so the next call can tell a crash from a worker still busy;
`pid_exists()` is the bare signal-0 probe they (and the service and command runners) share.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from mlops_engineer.errors import ToolError
from mlops_engineer.workspace import STATE_DIR, Workspace

LOCK_DIR = f"{STATE_DIR}/locks"
# Long enough for another call to upload a large artifact; a wait is never unbounded.
DEFAULT_TIMEOUT_S = 900.0
_POLL_S = 0.05


def lock_path(workspace: Workspace | Path, key: str) -> Path:
    root = workspace.root if isinstance(workspace, Workspace) else Path(workspace)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
    if len(safe) > 100 or safe != key:  # keep names short and unambiguous
        safe = f"{safe[:60]}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    return root / LOCK_DIR / f"{safe}.lock"


@contextlib.contextmanager
def workspace_lock(
    workspace: Workspace | Path, key: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
    check_cancelled: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Hold the workspace-wide lock `key` for the duration of the block.

    Waits at most `timeout_s` (then `conflict`), calling `check_cancelled` while it waits so a
    cancelled call stops waiting at once.
    """
    with file_lock(lock_path(workspace, key), timeout_s=timeout_s, check_cancelled=check_cancelled, name=key):
        yield


@contextlib.contextmanager
def file_lock(
    path: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S, check_cancelled: Callable[[], None] | None = None,
    name: str | None = None,
) -> Iterator[None]:
    """An exclusive `flock` on `path` (created if missing); see `workspace_lock`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if check_cancelled is not None:
                check_cancelled()
            if time.monotonic() >= deadline:
                raise ToolError(
                    "conflict",
                    f"Another call has held the lock '{name or path.name}' for over {timeout_s:.0f} s "
                    f"(holder: {_holder(fd) or 'unknown'}).",
                    "Wait for it to finish and call again; the same input then returns what it created.",
                )
            time.sleep(_POLL_S)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{owner()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def sqlite_lock_path(url: str) -> Path | None:
    """`<db>.lock` beside the database of a `sqlite:///` (or `sqlite+<driver>:///`) URL, None for any
    other URL: held while a fresh store creates its tables, which two processes must not do at once."""
    from urllib.parse import unquote

    match = re.match(r"^sqlite(\+\w+)?:///([^?]*)", url, re.IGNORECASE)
    raw = unquote(match.group(2)) if match else ""
    if not raw or raw == ":memory:" or raw.startswith("file:"):
        return None
    db = Path(raw)
    return db.with_name(db.name + ".lock")


@contextlib.contextmanager
def store_init_lock(url: str) -> Iterator[None]:
    """Serialise the first open of a SQLite store across threads and processes; a no-op for servers."""
    path = sqlite_lock_path(url)
    if path is None:
        yield
        return
    with file_lock(path, name=f"{path.name} (store set-up)"):
        yield


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return ""


# ---------------------------------------------------------------- owners

HOST = socket.gethostname()


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on (Linux); None elsewhere or when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Counted after the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[-1].split()


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22), which tells a reused pid apart."""
    fields = _stat_fields(pid)
    return fields[19] if fields else None


def pid_exists(pid: int) -> bool:
    """Whether a process `pid` exists (a signal-0 probe): True for one under another user, and for a
    zombie its parent has not collected yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def owner(pid: int | None = None) -> str:
    """`host:pid:start` of this process (or `pid`): what the next call checks before it reclaims."""
    pid = os.getpid() if pid is None else pid
    return f"{HOST}:{pid}:{_start_ticks(pid) or '?'}"


def owner_alive(record: str) -> bool | None:
    """Whether the process recorded by `owner()` still runs: None when it ran on another host
    (we cannot tell; the caller falls back to a heartbeat or a time bound)."""
    host, _, rest = record.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != HOST or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if not pid_exists(pid):
        return False
    fields = _stat_fields(pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):
            return False  # exited; only its parent has not collected it yet
        if start not in ("", "?") and fields[19] != start:
            return False  # the pid was reused by a newer process
    return True
