"""local_services against real processes: detached start, health wait, list, stop, and no orphans."""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlops_engineer.engines import local_services as ls
from mlops_engineer.errors import ToolError

# A tiny HTTP server that also starts a grandchild in a session of its own (as BentoML's
# workers do), so stopping must find processes that are neither in the group nor children.
SERVER = textwrap.dedent("""
    import http.server, os, subprocess, sys
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    if sys.argv[2] == "crash":
        sys.exit(3)
    if sys.argv[2] == "mute":
        import time; time.sleep(300)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/readyz" else 404); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "server.py"
    path.write_text(SERVER)
    return path


def _marked(record: ls.ServiceRecord) -> list[int]:
    return ls._marked_pids(record.service_id)


def test_start_list_stop_leaves_nothing(tmp_path: Path, script: Path) -> None:
    state = tmp_path / ".mlops"
    port = ls.free_port()
    record = ls.start_service(state, "echo", [sys.executable, str(script), str(port), "ok"], port=port, kind="test", metadata={"model_uri": "m"})
    assert record.url == f"http://127.0.0.1:{port}"
    pids = ls.service_pids(record)
    assert record.pid in pids and len(pids) == 2, pids  # the server and its session-leaving grandchild
    listed = ls.list_services(state, kind="test")
    assert [(r.name, r.port, r.metadata) for r in listed] == [("echo", port, {"model_uri": "m"})]
    saved = json.loads((state / ls.STATE_FILE).read_text())
    assert saved["echo"]["pid"] == record.pid and saved["echo"]["port"] == port

    with pytest.raises(ToolError) as again:
        ls.start_service(state, "echo", [sys.executable, str(script), str(ls.free_port()), "ok"], port=ls.free_port())
    assert again.value.code == "conflict" and "already running" in again.value.message

    stopped = ls.stop_service(state, "echo")
    assert stopped is not None and stopped.pid == record.pid
    assert ls.service_pids(record) == [] and _marked(record) == []
    assert ls.list_services(state) == []
    assert ls.stop_service(state, "echo") is None


def test_port_in_use_is_refused_before_anything_starts(tmp_path: Path, script: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ToolError) as err:
            ls.start_service(tmp_path, "busy", [sys.executable, str(script), str(port), "ok"], port=port)
    assert err.value.code == "conflict" and f"Port {port}" in err.value.message
    assert ls.list_services(tmp_path) == []


@pytest.mark.parametrize("mode, timeout, words", [("crash", 30, "exited before"), ("mute", 2, "did not answer")])
def test_failed_start_leaves_no_process_and_no_record(tmp_path: Path, script: Path, mode: str, timeout: float, words: str) -> None:
    port = ls.free_port()
    before = set(_all_marked())
    with pytest.raises(ToolError) as err:
        ls.start_service(tmp_path, "bad", [sys.executable, str(script), str(port), mode], port=port, timeout=timeout)
    assert err.value.code == "failed" and words in err.value.message
    assert ls.list_services(tmp_path) == []
    assert set(_all_marked()) - before == set(), "a process of the failed service is still alive"


def test_stale_records_are_dropped(tmp_path: Path, script: Path) -> None:
    port = ls.free_port()
    record = ls.start_service(tmp_path, "gone", [sys.executable, str(script), str(port), "ok"], port=port)
    for pid in ls.service_pids(record):  # dies behind our back, e.g. killed by the OOM killer
        os.kill(pid, 9)
    deadline = time.monotonic() + 5
    while ls.service_pids(record) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ls.list_services(tmp_path) == []
    assert "gone" not in json.loads((tmp_path / ls.STATE_FILE).read_text())


def _all_marked() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if ls.MARKER.encode() in (entry / "environ").read_bytes() and ls._alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found
