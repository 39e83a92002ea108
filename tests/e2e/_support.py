"""Shared by the end-to-end tests: the installed console script, a clean environment for the
processes they start, a synchronous handle on a real MCP client, and result helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx2
from anyio.from_thread import BlockingPortal
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent, Tool

from tests.fixtures.ports import free_port, stop_process_group, wait_for_port

REPO_ROOT = Path(__file__).resolve().parents[2]

# The console script of the venv running the tests (not whatever is first on PATH).
SERVER_SCRIPT = Path(sys.prefix) / "bin" / "mlops-engineer"

# Variables that would point a server at the developer's setup instead of the test's.
_LEAKY_PREFIXES = ("MLOPS_ENGINEER_", "MLFLOW_")
_LEAKY_NAMES = {"CLAUDE_PROJECT_DIR", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"}


def clean_environ(workspace: Path, **extra: str) -> dict[str, str]:
    """The current environment without MLflow/mlops/Claude settings, plus a config file that does not exist."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY_PREFIXES) and k not in _LEAKY_NAMES}
    env["MLOPS_ENGINEER_CONFIG"] = str(workspace / "no-config.toml")
    env.update(extra)
    return env


class SyncClient:
    """An `mcp.client.Client`, entered on a background event loop and driven from sync tests.

    One client (and so one server process) can then be shared by a whole test module.
    """

    def __init__(self, portal: BlockingPortal, client: Client) -> None:
        self.portal = portal
        self.client = client
        self.state: dict[str, Any] = {}  # per-session memo for tests (e.g. a registered version)

    def call_tool(self, name: str, arguments: Mapping[str, Any], **kwargs: Any) -> CallToolResult:
        return self.portal.call(partial(self.client.call_tool, name, dict(arguments), **kwargs))

    def list_tools(self) -> list[Tool]:
        # bypass: the client caches listings, and a liveness check must reach the server.
        return self.portal.call(partial(self.client.list_tools, cache_mode="bypass")).tools

    def tool(self, name: str) -> Tool:
        return next(t for t in self.list_tools() if t.name == name)

    def list_prompts(self) -> list[Any]:
        return self.portal.call(partial(self.client.list_prompts, cache_mode="bypass")).prompts

    def get_prompt_text(self, name: str) -> str:
        result = self.portal.call(self.client.get_prompt, name)
        return "\n".join(m.content.text for m in result.messages if isinstance(m.content, TextContent))

    def list_resources(self) -> list[Any]:
        return self.portal.call(partial(self.client.list_resources, cache_mode="bypass")).resources

    def read_resource(self, uri: str) -> tuple[str, str | None]:
        """(text, mime type) of a one-part text resource."""
        result = self.portal.call(partial(self.client.read_resource, uri, cache_mode="bypass"))
        assert len(result.contents) == 1, result
        part = result.contents[0]
        return part.text, part.mime_type  # type: ignore[union-attr]


@contextmanager
def sync_client(server: Any, **client_kwargs: Any) -> Iterator[SyncClient]:
    """`server` is anything `mcp.client.Client` accepts: a Transport, StdioServerParameters, a URL, an MCPServer."""
    with anyio.from_thread.start_blocking_portal() as portal:
        client = Client(server, **client_kwargs)
        with portal.wrap_async_context_manager(client):
            yield SyncClient(portal, client)


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def error_of(result: CallToolResult) -> dict[str, str]:
    """The structured error of a failed call, after checking the shape every tool error has."""
    assert result.is_error, f"expected an error result, got: {text_of(result)[:500]}"
    assert result.structured_content is not None, "an error result must carry structuredContent"
    assert set(result.structured_content) == {"error"}, result.structured_content
    error = result.structured_content["error"]
    assert {"code", "message", "hint"} <= set(error) <= {"code", "message", "hint", "schema"}, error
    assert "schema" not in error or error["code"] == "invalid_input", error
    assert error["message"], error
    text = text_of(result)
    assert f"[{error['code']}]" in text and error["message"] in text, text
    return error


@contextmanager
def http_server(workspace: Path, *args: str, script: Path = SERVER_SCRIPT) -> Iterator[str]:
    """Start `serve --transport http` on a free loopback port; yield the MCP endpoint URL."""
    port = free_port()
    log_path = workspace.parent / f"{workspace.name}-http.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(script), "--workspace", str(workspace), "serve", "--transport", "http", "--port", str(port), *args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=clean_environ(workspace), cwd=workspace, start_new_session=True,
        )
    try:
        wait_for_port(port, timeout=30, log_path=log_path, proc=proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_process_group(proc)
    assert proc.returncode is not None


@asynccontextmanager
async def http_transport(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[Any]:
    """The SDK's streamable HTTP transport with extra headers (e.g. a bearer token)."""
    # trust_env=False: a proxy from the environment must never see loopback traffic.
    async with (
        httpx2.AsyncClient(headers=headers, trust_env=False, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams
