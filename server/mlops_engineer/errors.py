"""The one failure type a tool raises on purpose, written for the person who reads it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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


class ErrorInfo(BaseModel):
    """What a client receives as structured content when a tool call fails."""

    code: ErrorCode = Field(description="Machine-readable failure class.")
    message: str = Field(description="What went wrong, in one or two sentences.")
    hint: str = Field(default="", description="What to do about it.")


class ToolError(Exception):
    """An expected failure: bad input, a missing backend, a refusal without `confirm`."""

    def __init__(self, code: ErrorCode, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.hint = hint

    def info(self) -> ErrorInfo:
        return ErrorInfo(code=self.code, message=self.message, hint=self.hint)

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        return f"{text}\nHint: {self.hint}" if self.hint else text
