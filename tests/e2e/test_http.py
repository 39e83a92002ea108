"""End to end over streamable HTTP: `mlops-engineer serve --transport http` as a subprocess on
loopback, the SDK's streamable HTTP client, and the bearer-token guard."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from mlops_engineer.registry import load_registry
from tests.e2e._support import (
    SERVER_SCRIPT,
    clean_environ,
    error_of,
    http_server,
    http_transport,
    sync_client,
)
from tests.fixtures.ports import free_port, stop_process_group

TOOL_NAMES = [spec.name for spec in load_registry().tools()]
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_http_lists_tools_and_returns_structured_errors(tmp_path: Path) -> None:
    with http_server(tmp_path) as url, sync_client(http_transport(url)) as mcp:
        assert [t.name for t in mcp.list_tools()] == TOOL_NAMES
        # The error contract is the same over HTTP.
        error = error_of(mcp.call_tool(TOOL_NAMES[0], {"operation": {"action": "nope"}}))
        assert error["code"] == "invalid_input"
        assert [t.name for t in mcp.list_tools()] == TOOL_NAMES


def test_http_token_is_required_and_accepted(tmp_path: Path) -> None:
    with http_server(tmp_path, "--token", "secret") as url:
        with httpx.Client(trust_env=False, timeout=10) as http:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "secret"}, {"Authorization": "Basic secret"}):
                response = http.post(url, json=INITIALIZE, headers={**MCP_HEADERS, **headers})
                assert response.status_code == 401, (headers, response.status_code, response.text)
                assert response.headers.get("www-authenticate") == "Bearer"
                assert "token" in response.text
            # A GET (the SSE stream) and a DELETE are guarded too, not only POST.
            assert http.get(url, headers={"Accept": "text/event-stream"}).status_code == 401
            assert http.delete(url).status_code == 401

            # The same raw request with the right header gets past the guard.
            ok = http.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer secret"})
            assert ok.status_code == 200, ok.text

        with sync_client(http_transport(url, {"Authorization": "Bearer secret"})) as mcp:
            assert [t.name for t in mcp.list_tools()] == TOOL_NAMES
    server_log = (tmp_path.parent / f"{tmp_path.name}-http.log").read_text(errors="replace")
    assert "secret" not in server_log, "the token never reaches the server's log"


def test_public_bind_without_token_is_refused(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(SERVER_SCRIPT), "--workspace", str(tmp_path), "serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=clean_environ(tmp_path), cwd=tmp_path, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop_process_group(proc)  # type: ignore[arg-type]
        raise AssertionError("serve --host 0.0.0.0 without a token kept running instead of refusing") from None
    finally:
        if proc.poll() is None:
            stop_process_group(proc)  # type: ignore[arg-type]
    assert proc.returncode != 0, (out, err)
    assert "token" in err.lower(), err
    assert "0.0.0.0" in err, err
    assert out == ""
