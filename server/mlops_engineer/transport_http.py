"""Streamable HTTP transport: loopback by default, a bearer token whenever it is reachable from elsewhere."""

from __future__ import annotations

import hmac
from typing import Any

from mcp.server.mcpserver import MCPServer

from mlops_engineer.settings import Settings

ASGIApp = Any


def _presented_token(header: bytes) -> bytes | None:
    """The credentials of `Bearer <token>`; the scheme is case-insensitive (RFC 7235)."""
    scheme, _, credentials = header.strip().partition(b" ")
    return credentials.strip() if scheme.lower() == b"bearer" else None


class BearerTokenMiddleware:
    """Reject any request whose `Authorization` header is not `Bearer <token>` with 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token.strip():
            raise InsecureBindError("The bearer token is empty or only whitespace; set a real secret.")
        self.app = app
        self._expected = token.strip().encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            given = _presented_token(dict(scope.get("headers") or []).get(b"authorization", b""))
            if given is None or not hmac.compare_digest(given, self._expected):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": b'{"error":"missing or wrong bearer token"}'})
                return
        await self.app(scope, receive, send)


class InsecureBindError(ValueError):
    pass


def http_app(server: MCPServer, settings: Settings) -> ASGIApp:
    """The ASGI app for `serve --transport http`; refuses a non-loopback bind without a token."""
    # A token of only whitespace is no token: it would accept `Authorization: Bearer  `.
    token = settings.http_token.get_secret_value().strip() if settings.http_token else None
    if not settings.http_is_loopback and not token:
        raise InsecureBindError(
            f"Refusing to serve on {settings.http_host} without a bearer token: anyone who can reach "
            "that address could run tools in your workspace. Set MLOPS_ENGINEER_HTTP_TOKEN (or "
            "--token), or bind 127.0.0.1."
        )
    app = server.streamable_http_app(host=settings.http_host)
    return BearerTokenMiddleware(app, token) if token else app


def serve_http(server: MCPServer, settings: Settings) -> None:
    import uvicorn

    app = http_app(server, settings)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level=settings.log_level.lower())
