"""The one failure type a tool raises on purpose, written for the person who reads it."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from mlops_engineer.redact import redact_text

ErrorCode = Literal[
    "invalid_input",
    "not_found",
    "conflict",
    "needs_confirm",
    "backend_unreachable",
    "missing_dependency",
    "outside_workspace",
    "cancelled",
    "failed",
]


# What to do, for an error raised without a hint of its own: every error tells the reader a next step.
DEFAULT_HINTS: dict[str, str] = {
    "invalid_input": 'Fix the field the message names; {"operation": {"action": A}, "help": true} returns the action\'s complete schema.',
    "not_found": "Check the name or path; the tool's list, describe or status action shows what exists.",
    "conflict": "Look at what is already there; repeat with confirm=true only if replacing it is intended.",
    "needs_confirm": "Review the plan with dry_run=true, then repeat the call with confirm=true.",
    "backend_unreachable": "Check the server's address and that it runs; `mlops-engineer doctor` shows which backends answer.",
    "missing_dependency": "Install the extra the message names: uv sync --extra <name>, or pip install 'mlops-engineer[<name>]'.",
    "outside_workspace": "Use a path inside the workspace, or start the server with --workspace on a folder that holds it.",
    "cancelled": "Run the same call again to resume; finished steps are kept.",
    "failed": "Check the inputs and the backend; MLOPS_ENGINEER_LOG_LEVEL=DEBUG logs the traceback.",
}


MAX_TEXT_CHARS = 2000  # of a message or a hint: they may quote the caller's (unbounded) input


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_TEXT_CHARS else f"{text[:MAX_TEXT_CHARS]}... ({len(text)} characters)"


class ErrorInfo(BaseModel):
    """What a client receives as structured content when a tool call fails."""

    code: ErrorCode = Field(description="Machine-readable failure class.")
    message: str = Field(description="What went wrong, in one or two sentences.")
    hint: str = Field(default="", description="What to do about it.")
    schema_: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="invalid_input only: the complete input schema of the action the call chose.",
    )

    model_config = {"populate_by_name": True}


class ToolError(Exception):
    """An expected failure: bad input, a missing backend, a refusal without `confirm`."""

    def __init__(self, code: ErrorCode, message: str, hint: str = "", schema: dict[str, Any] | None = None) -> None:
        # Every error leaves the server, so secrets are taken out here, once, whoever raised it.
        message, hint = redact_text(_bounded(message)), redact_text(_bounded(hint or DEFAULT_HINTS[code]))
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.hint = hint
        self.schema = schema

    def info(self) -> ErrorInfo:
        return ErrorInfo(code=self.code, message=self.message, hint=self.hint, schema=self.schema)

    def structured(self) -> dict[str, Any]:
        """`{"error": {...}}` as clients receive it; `schema` only when there is one."""
        return {"error": self.info().model_dump(mode="json", by_alias=True, exclude_none=True)}

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.hint:
            text += f"\nHint: {self.hint}"
        if self.schema is not None:
            text += "\nSchema of this action: " + json.dumps(self.schema, separators=(",", ":"))
        return text
