"""Unexpected exceptions, turned into errors a user can act on.

A tool raises `ToolError` for what it expects. Everything else (an SDK's exception, a
file that is not what its name says, input deep enough to exhaust the stack) still
deserves a specific code and a hint: a bare "ValueError: embedded null byte" under a
hint about backends sends the reader the wrong way.
"""

from __future__ import annotations

import csv
import errno
import logging
import socket

from mlops_engineer.errors import ErrorCode, ToolError
from mlops_engineer.redact import redact_text

logger = logging.getLogger("mlops_engineer")

MAX_DETAIL_CHARS = 500  # an SDK's message can quote a whole file or request

# Exception class names (checked along the MRO, so SDK subclasses match without importing
# the SDK) of errors that mean "the input file is not what it claims to be".
_UNREADABLE_DATA = {
    "ParserError",  # pandas
    "EmptyDataError",  # pandas
    "ArrowInvalid",  # pyarrow: not Parquet, bad schema, bad CSV
    "ArrowTypeError",
    "ArrowNotImplementedError",
    "JSONDecodeError",
    "YAMLError",
    "TOMLDecodeError",
    "BadZipFile",
}
_NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def classify(exc: BaseException) -> tuple[ErrorCode, str]:
    """(code, hint) for an exception no tool anticipated."""
    names = _names(exc)
    if isinstance(exc, UnicodeDecodeError):
        return "invalid_input", "A file could not be read as UTF-8 text: check its format (CSV and JSON must be UTF-8 text; Parquet files need the .parquet extension)."
    if names & _UNREADABLE_DATA or isinstance(exc, csv.Error):  # csv.Error's class name is just "Error"
        return "invalid_input", "An input file could not be parsed: check that its content matches its extension (CSV, Parquet, JSON, YAML) and that it is not empty or truncated."
    if isinstance(exc, ValueError) and "null byte" in str(exc):
        return "invalid_input", "A path or value contains a NUL character; remove it."
    if isinstance(exc, RecursionError):
        return "invalid_input", "The input is nested too deeply to process; flatten it."
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return "invalid_input", "A path names a folder where a file is expected, or the other way round."
    if isinstance(exc, FileNotFoundError):
        return "not_found", "Check the path; paths are relative to the workspace root."
    if isinstance(exc, FileExistsError):
        return "conflict", "Something already exists at that path; choose another or remove it first."
    if isinstance(exc, PermissionError):
        return "failed", "The server may not read or write that path: check its permissions."
    if isinstance(exc, MemoryError):
        return "failed", "The data did not fit in memory: sample it, or use an action's streaming option where it has one."
    if isinstance(exc, TimeoutError | socket.timeout | ConnectionError) or (
        isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS
    ):
        return "backend_unreachable", "A server did not answer: check its address and that it is running; `mlops-engineer doctor` shows which backends answer."
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return "invalid_input", "A path or name is longer than the file system allows; shorten it."
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "failed", "The disk is full: free space in the workspace."
    return "failed", "Unexpected failure inside the tool's SDK: check the inputs and the backend; `mlops-engineer doctor` shows which backends answer, and MLOPS_ENGINEER_LOG_LEVEL=DEBUG logs the traceback."


def tool_error_for(tool: str, exc: Exception) -> ToolError:
    """The ToolError to report for `exc`, logged once (the traceback only at DEBUG: it may quote secrets)."""
    code, hint = classify(exc)
    detail = str(exc)
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[:MAX_DETAIL_CHARS] + f"... ({len(detail)} characters)"
    message = redact_text(f"{tool} failed: {type(exc).__name__}: {detail}")
    logger.error(message)
    logger.debug("traceback of the failure above", exc_info=exc)
    return ToolError(code, message, hint)
