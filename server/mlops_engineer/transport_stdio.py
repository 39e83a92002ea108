"""The stdio transport, answering malformed messages instead of dropping them.

The SDK's `stdio_server` reads one JSON-RPC message a line and hands any line it cannot
validate to the session as an exception, which logs it and sends nothing back: a client
that sent JSON nested deeper than the parser's limit, a batch array, `"jsonrpc": "1.0"`,
`params` as a list or a line with trailing NUL bytes then waits for its own timeout. Over
HTTP the same input gets an error at once. Here each line is checked before the SDK sees
it, and a bad one gets the error the JSON-RPC 2.0 specification gives: -32700 (parse
error) when the line is not JSON, -32600 (invalid request) when it is JSON but not a
valid message, with the request's `id` when one can be read, else null.

The wire's file descriptors are claimed as the SDK does it: while serving, fd 0 reads
/dev/null and fd 1 writes to stderr, so a child process or a stray print never touches
the wire.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from io import TextIOWrapper
from typing import Any

import anyio
import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

logger = logging.getLogger("mlops_engineer")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
ECHOED_CHARS = 200  # of a bad line, in the error's data: it is the caller's text


def error_reply(line: str) -> str | None:
    """The JSON-RPC error line for a bad message; None when the line is a valid message or
    needs no answer (a blank line, an invalid notification: JSON-RPC never answers those)."""
    if not line.strip():
        return None
    try:
        types.jsonrpc_message_adapter.validate_json(line, by_name=False)
        return None
    except Exception as invalid:  # noqa: BLE001 - any failure to validate is the peer's error
        problem = invalid
    try:
        parsed: Any = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return _error(None, PARSE_ERROR, f"Parse error: the line is not one JSON value ({exc}).", line)
    if isinstance(parsed, list):
        return _error(None, INVALID_REQUEST, "Invalid Request: batches are not supported (MCP removed JSON-RPC batching); send one message a line.", line)
    if not isinstance(parsed, dict):
        return _error(None, INVALID_REQUEST, "Invalid Request: a message must be a JSON object.", line)
    request_id = parsed.get("id")
    if "method" in parsed and "id" not in parsed:
        logger.warning("dropped an invalid notification: %s", _first_problem(problem))
        return None
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        request_id = None
    return _error(request_id, INVALID_REQUEST, f"Invalid Request: {_first_problem(problem)}", line)


def _first_problem(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = errors(include_url=False)[0]
            if first["type"] == "json_invalid":
                return "JSON nested too deeply or otherwise beyond the parser's limits"
            where = ".".join(str(p) for p in first["loc"][1:]) or "message"
            return f"{where}: {first['msg']}"
        except (IndexError, KeyError, TypeError):
            pass
    return str(exc)[:ECHOED_CHARS]


def _error(request_id: str | int | None, code: int, message: str, line: str) -> str:
    line = line.rstrip("\r\n")
    received = line if len(line) <= ECHOED_CHARS else line[:ECHOED_CHARS] + "..."
    reply = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message, "data": {"received": received}}}
    return json.dumps(reply, separators=(",", ":"))


class _SharedWire:
    """The stdout the SDK writes to, shared with our error replies: one line per write, locked."""

    def __init__(self, wire: Any) -> None:
        self._wire = wire
        self._lock = anyio.Lock()

    async def write(self, text: str) -> None:
        async with self._lock:
            await self._wire.write(text)

    async def flush(self) -> None:
        async with self._lock:
            await self._wire.flush()


class _CheckedLines:
    """stdin lines for the SDK: valid messages pass, bad ones are answered here."""

    def __init__(self, wire: Any, out: _SharedWire) -> None:
        self._wire = wire
        self._out = out

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        async for line in self._wire:
            reply = error_reply(line)
            if reply is not None:
                await self._out.write(reply + "\n")
                await self._out.flush()
            elif line.strip():
                yield line


@contextmanager
def _claimed_wire() -> Iterator[tuple[int, int]]:
    """Private copies of fds 0 and 1 for the wire; fd 0 reads /dev/null and fd 1 goes to stderr."""
    wire_in, wire_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    try:
        yield wire_in, wire_out
    finally:
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)
        os.close(wire_in)
        os.close(wire_out)


async def serve_stdio(server: MCPServer) -> None:
    """`server` over this process's stdin and stdout, answering malformed lines."""
    sys.stdout.flush()
    with _claimed_wire() as (fd_in, fd_out):
        # closefd=False: the descriptors are closed once, by the claim, after the SDK is done.
        wire_in = anyio.wrap_file(TextIOWrapper(os.fdopen(fd_in, "rb", closefd=False), encoding="utf-8", errors="replace"))
        wire_out = _SharedWire(anyio.wrap_file(TextIOWrapper(os.fdopen(fd_out, "wb", closefd=False), encoding="utf-8")))
        lines = _CheckedLines(wire_in, wire_out)
        async with stdio_server(stdin=lines, stdout=wire_out) as (read_stream, write_stream):  # type: ignore[arg-type]
            lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async runs, given our streams
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
