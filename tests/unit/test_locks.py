"""The workspace lock: one holder across threads and processes, a bounded wait, released by a dead holder;
and the owner records that tell a crashed process from a live one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.locks import lock_path, owner, owner_alive, sqlite_lock_path, workspace_lock


def test_threads_take_turns(tmp_path: Path) -> None:
    inside, most = [0], [0]

    def hold() -> None:
        with workspace_lock(tmp_path, "k"):
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            time.sleep(0.01)
            inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
    assert lock_path(tmp_path, "k") == tmp_path / ".mlops/locks/k.lock"


HOLDER = textwrap.dedent("""
    import sys, time
    from mlops_engineer.locks import workspace_lock
    with workspace_lock(sys.argv[1], "shared"):
        print("held", flush=True)
        time.sleep(60)
""")


def test_another_process_holds_it_until_it_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ToolError) as waited, workspace_lock(tmp_path, "shared", timeout_s=0.3):
            pass
        assert waited.value.code == "conflict" and f":{holder.pid}:" in waited.value.message  # names the holder
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        started = time.monotonic()
        with workspace_lock(tmp_path, "shared", timeout_s=5):
            pass
        assert time.monotonic() - started < 1, "the kernel releases a dead holder's lock"
    finally:
        holder.kill()
        holder.wait()


def test_a_cancelled_call_stops_waiting(tmp_path: Path) -> None:
    def cancelled() -> None:
        raise ToolError("cancelled", "stop")

    with workspace_lock(tmp_path, "x"):
        def wait() -> None:
            with workspace_lock(tmp_path, "x", check_cancelled=cancelled):
                pass

        errors: list[ToolError] = []
        thread = threading.Thread(target=lambda: errors.extend(_raises(wait)))
        thread.start()
        thread.join(2)
    assert [e.code for e in errors] == ["cancelled"]


def _raises(fn: object) -> list[ToolError]:
    try:
        fn()  # type: ignore[operator]
    except ToolError as exc:
        return [exc]
    return []


def test_long_or_odd_keys_become_safe_file_names(tmp_path: Path) -> None:
    path = lock_path(tmp_path, "a/../b" + "x" * 300)
    assert path.parent == tmp_path / ".mlops/locks" and len(path.name) < 120


def test_sqlite_lock_sits_beside_the_database() -> None:
    assert sqlite_lock_path("sqlite:////data/ws/.mlops/optuna.db") == Path("/data/ws/.mlops/optuna.db.lock")
    assert sqlite_lock_path("postgresql://u@h/db") is None
    assert sqlite_lock_path("sqlite:///:memory:") is None
    assert sqlite_lock_path("sqlite+pysqlite:////ws/s%20p.db?timeout=5") == Path("/ws/s p.db.lock")


def test_owner_records_tell_the_dead_from_the_living() -> None:
    assert owner_alive(owner()) is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    record = owner(child.pid)
    child.wait()
    assert owner_alive(record) is False
    host, pid, start = owner().split(":")
    assert owner_alive(f"{host}:{pid}:{int(start) + 1}") is False, "a reused pid is not the owner"
    assert owner_alive(f"another-host:{pid}:{start}") is None
