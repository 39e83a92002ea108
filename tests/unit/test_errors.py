"""ToolError: what a user reads when a call fails."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from mlops_engineer.errors import DEFAULT_HINTS, ErrorCode, ErrorInfo, ToolError


def test_str_has_code_message_and_hint() -> None:
    error = ToolError("not_found", "No model named 'churn'.", "Register it first.")
    text = str(error)
    assert text == "[not_found] No model named 'churn'.\nHint: Register it first."
    assert error.code == "not_found" and error.message == "No model named 'churn'." and error.hint == "Register it first."
    assert error.args == ("No model named 'churn'.",)


@pytest.mark.parametrize("code", list(get_args(ErrorCode)))
def test_an_error_without_a_hint_gets_its_codes_default(code: str) -> None:
    error = ToolError(code, "Something.")  # type: ignore[arg-type]
    assert error.hint == DEFAULT_HINTS[code] and error.hint
    assert str(error) == f"[{code}] Something.\nHint: {DEFAULT_HINTS[code]}"


def test_info_is_structured() -> None:
    info = ToolError("needs_confirm", "m", "h").info()
    assert info == ErrorInfo(code="needs_confirm", message="m", hint="h")
    assert ToolError("needs_confirm", "m", "h").structured() == {"error": {"code": "needs_confirm", "message": "m", "hint": "h"}}


def test_invalid_input_can_carry_the_action_schema() -> None:
    error = ToolError("invalid_input", "m", "h", schema={"type": "object"})
    assert error.structured()["error"]["schema"] == {"type": "object"}
    assert str(error).endswith('Schema of this action: {"type":"object"}')


def test_error_info_rejects_unknown_codes() -> None:
    with pytest.raises(ValidationError):
        ErrorInfo(code="oops", message="m")  # type: ignore[arg-type]


def test_is_an_exception() -> None:
    with pytest.raises(ToolError, match="boom"):
        raise ToolError("failed", "boom")


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("Pushgateway at http://user:PW@127.0.0.1:1 did not answer", "PW"),
        ("Prometheus at http://ghp_TOKEN@127.0.0.1:9 did not answer", "ghp_TOKEN"),
        ("cannot reach http://127.0.0.1:9/api?token=T0K3N", "T0K3N"),
        ("ray at ray://AKIA123:S3CR3T@127.0.0.1:10001 refused", "S3CR3T"),
    ],
)
def test_every_error_is_redacted_whoever_raised_it(message: str, secret: str) -> None:
    error = ToolError("backend_unreachable", message, f"Check {message.split()[2]}")
    assert secret not in str(error) and secret not in str(error.structured())
