"""HTTP transport: bearer token middleware and the refusal to bind openly without a token."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from mlops_engineer.settings import Settings
from mlops_engineer.transport_http import BearerTokenMiddleware, InsecureBindError, http_app

TOKEN = "s3cret-token"


class EchoApp:
    """A tiny ASGI app that records whether it was reached."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.calls.append(scope["type"])
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


def _call(app: Any, scope_type: str = "http", headers: list[tuple[bytes, bytes]] | None = None) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": scope_type, "method": "POST", "path": "/mcp", "headers": headers or []}
    anyio.run(app, scope, receive, send)
    return sent


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"authorization", b"Bearer wrong")],
        [(b"authorization", TOKEN.encode())],
        [(b"authorization", f"Basic {TOKEN}".encode())],
        [(b"authorization", f"Bearer {TOKEN}x".encode())],
        [(b"authorization", b"Bearer ")],
        [(b"x-token", f"Bearer {TOKEN}".encode())],
    ],
    ids=["none", "wrong", "no-scheme", "basic", "longer", "empty", "other-header"],
)
def test_missing_or_wrong_token_is_401(headers: list[tuple[bytes, bytes]]) -> None:
    inner = EchoApp()
    sent = _call(BearerTokenMiddleware(inner, TOKEN), headers=headers)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 401
    assert (b"www-authenticate", b"Bearer") in sent[0]["headers"]
    assert TOKEN.encode() not in sent[1]["body"]
    assert inner.calls == []


def test_right_token_passes_through() -> None:
    inner = EchoApp()
    sent = _call(
        BearerTokenMiddleware(inner, TOKEN),
        headers=[(b"content-type", b"application/json"), (b"authorization", f"Bearer {TOKEN}".encode())],
    )
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"ok"
    assert inner.calls == ["http"]


def test_lifespan_is_not_blocked() -> None:
    inner = EchoApp()
    _call(BearerTokenMiddleware(inner, TOKEN), scope_type="lifespan")
    assert inner.calls == ["lifespan"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_open_bind_without_token_is_refused(host: str) -> None:
    with pytest.raises(InsecureBindError, match="MLOPS_ENGINEER_HTTP_TOKEN"):
        http_app(object(), Settings(http_host=host))  # type: ignore[arg-type]


def test_open_bind_with_token_is_wrapped() -> None:
    app = http_app(MCPServer(name="t"), Settings(http_host="0.0.0.0", http_token=SecretStr(TOKEN)))
    assert isinstance(app, BearerTokenMiddleware)
    sent = _call(app)
    assert sent[0]["status"] == 401


@pytest.mark.parametrize(("token", "wrapped"), [(None, False), (TOKEN, True)])
def test_loopback_token_is_optional(token: str | None, wrapped: bool) -> None:
    settings = Settings(http_host="127.0.0.1", http_token=SecretStr(token) if token else None)
    app = http_app(MCPServer(name="t"), settings)
    assert isinstance(app, BearerTokenMiddleware) is wrapped


def test_the_bearer_scheme_is_case_insensitive() -> None:
    for scheme in (b"bearer", b"BEARER", b"Bearer"):
        inner = EchoApp()
        sent = _call(BearerTokenMiddleware(inner, TOKEN), headers=[(b"authorization", scheme + b" " + TOKEN.encode())])
        assert sent[0]["status"] == 200 and inner.calls == ["http"], scheme


@pytest.mark.parametrize("token", [" ", "  \t", ""])
def test_a_whitespace_token_does_not_open_a_public_bind(tmp_path: Any, token: str) -> None:
    settings = Settings(workspace=tmp_path, http_host="0.0.0.0", http_token=SecretStr(token))
    with pytest.raises(InsecureBindError):
        http_app(MCPServer("t"), settings)
    with pytest.raises(InsecureBindError):
        BearerTokenMiddleware(EchoApp(), token)
