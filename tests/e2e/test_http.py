"""End to end over streamable HTTP: `mlops-engineer serve --transport http` as a subprocess on
loopback, the SDK's streamable HTTP client, and the bearer-token guard."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import httpx2
from mcp.client.streamable_http import streamable_http_client

from mlops_engineer.registry import load_registry
from tests.e2e._support import SERVER_SCRIPT, clean_environ, error_of, sync_client
from tests.fixtures.ports import free_port, stop_process_group, wait_for_port

TOOL_NAMES = [spec.name for spec in load_registry().tools()]
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@contextmanager
def http_server(workspace: Path, *args: str) -> Iterator[str]:
    """Start `serve --transport http` on a free loopback port; yield the MCP endpoint URL."""
    port = free_port()
    log_path = workspace.parent / f"{workspace.name}-http.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(SERVER_SCRIPT), "--workspace", str(workspace), "serve", "--transport", "http", "--port", str(port), *args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=clean_environ(workspace), cwd=workspace, start_new_session=True,
        )
    try:
        wait_for_port(port, timeout=30, log_path=log_path, proc=proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_process_group(proc)
    assert proc.returncode is not None


def _mcp_http_client(headers: dict[str, str] | None = None) -> httpx2.AsyncClient:
    # trust_env=False: a proxy from the environment must never see loopback traffic.
    return httpx2.AsyncClient(headers=headers, trust_env=False, timeout=httpx2.Timeout(30, read=300))


def test_http_lists_tools_and_returns_structured_errors(tmp_path: Path) -> None:
    with http_server(tmp_path) as url, sync_client(streamable_http_client(url, http_client=_mcp_http_client())) as mcp:
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

        client = _mcp_http_client({"Authorization": "Bearer secret"})
        with sync_client(streamable_http_client(url, http_client=client)) as mcp:
            assert [t.name for t in mcp.list_tools()] == TOOL_NAMES


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
