"""Malformed JSON-RPC over stdio gets the error the specification gives, at once (issue 16):
the SDK's transport dropped these lines silently and the client waited for its timeout."""

from __future__ import annotations

import json
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._support import SERVER_SCRIPT, clean_environ

DEEP = '{"jsonrpc":"2.0","id":10,"method":"tools/list","params":{"a":' + "[" * 300 + "]" * 300 + "}}"
CASES: list[tuple[str, str, int, Any]] = [
    # (label, line, JSON-RPC error code, id the reply must carry)
    ("nested deeper than the parser's limit", DEEP, -32600, 10),
    ("a batch array", '[{"jsonrpc":"2.0","id":11,"method":"tools/list"}]', -32600, None),
    ("jsonrpc 1.0", '{"jsonrpc":"1.0","id":12,"method":"tools/list"}', -32600, 12),
    ("params as a list", '{"jsonrpc":"2.0","id":13,"method":"tools/list","params":[]}', -32600, 13),
    ("trailing NUL bytes", '{"jsonrpc":"2.0","id":14,"method":"tools/list"}\x00\x00', -32700, None),
    ("not JSON", "this is not json", -32700, None),
    ("a response without a result", '{"jsonrpc":"2.0","id":15}', -32600, 15),
]


class Wire:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 30) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "no reply: the line was dropped"
        return json.loads(self.proc.stdout.readline())


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    workspace = tmp_path_factory.mktemp("malformed-ws")
    errlog = open(workspace.parent / "malformed-stderr.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(SERVER_SCRIPT), "--workspace", str(workspace), "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=errlog, env=clean_environ(workspace), cwd=workspace)
    wire = Wire(proc)
    wire.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "malformed", "version": "0"}}}))
    assert wire.receive(60)["id"] == 1
    wire.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    yield wire
    proc.kill()
    proc.wait()
    errlog.close()


@pytest.mark.parametrize(("label", "line", "code", "request_id"), CASES, ids=[c[0] for c in CASES])
def test_a_malformed_line_gets_its_json_rpc_error(wire: Wire, label: str, line: str, code: int, request_id: Any) -> None:
    wire.send(line)
    reply = wire.receive()
    assert reply["jsonrpc"] == "2.0" and reply["id"] == request_id, reply
    assert reply["error"]["code"] == code, reply
    assert len(reply["error"]["data"]["received"]) <= 210, "the echo of the caller's text is bounded"
    # ... and the server carries on.
    wire.send('{"jsonrpc":"2.0","id":99,"method":"tools/list"}')
    assert wire.receive()["id"] == 99


def test_an_invalid_notification_gets_no_reply(wire: Wire) -> None:
    wire.send('{"jsonrpc":"2.0","method":"notifications/progress","params":[]}')  # JSON-RPC never answers notifications
    wire.send('{"jsonrpc":"2.0","id":100,"method":"ping"}')
    assert wire.receive() == {"jsonrpc": "2.0", "id": 100, "result": {}}


def test_blank_lines_are_ignored(wire: Wire) -> None:
    wire.send("")
    wire.send("   ")
    wire.send('{"jsonrpc":"2.0","id":101,"method":"ping"}')
    assert wire.receive()["id"] == 101


def test_the_server_log_has_no_traceback(wire: Wire, tmp_path_factory: pytest.TempPathFactory) -> None:
    log = Path(tmp_path_factory.getbasetemp()) / "malformed-stderr.log"
    assert "Traceback" not in log.read_text(errors="replace")
