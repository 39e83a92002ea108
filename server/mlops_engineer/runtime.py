"""What a tool's `run()` receives besides its input, and the one place a tool is executed.

The MCP handler and the `call` command both go through `execute()`, so a tool
behaves the same whether a model or a person runs it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from mlops_engineer.contract import ToolOutput
from mlops_engineer.errors import MAX_TEXT_CHARS, ToolError
from mlops_engineer.failures import tool_error_for
from mlops_engineer.redact import redact_text
from mlops_engineer.schemas import (
    HELP_FIELD,
    action_input_schema,
    help_answer,
    operation_variants,
    requested_action,
)
from mlops_engineer.settings import Settings
from mlops_engineer.workspace import Workspace, writes_checked_by

if TYPE_CHECKING:
    from mlops_engineer.registry import ToolSpec

logger = logging.getLogger("mlops_engineer")

ProgressFn = Callable[[float, float | None, str | None], None]


def _no_progress(done: float, total: float | None, message: str | None) -> None:
    return None


@dataclass
class ToolContext:
    """Workspace, settings, progress reporting and cooperative cancellation for one call."""

    workspace: Workspace
    settings: Settings
    on_progress: ProgressFn = _no_progress
    cancelled: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress; also a cancellation point, so long loops call it once per step."""
        self.check_cancelled()
        self.on_progress(done, total, message)

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise ToolError("cancelled", "The call was cancelled by the client; finished steps are kept.")


def validate_input(spec: ToolSpec, arguments: dict[str, Any]) -> BaseModel:
    """Parse raw arguments into the tool's input model; a bad field becomes `invalid_input`,
    carrying the complete schema of the action the call chose so one retry can fix it."""
    try:
        return spec.input_model.model_validate(arguments)
    except ValidationError as exc:
        action = requested_action(arguments)
        schema = action_input_schema(spec.input_model, action) if action in operation_variants(spec.input_model) else None
        raise ToolError("invalid_input", describe_validation_error(exc), spec.input_hint, schema=schema) from exc


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(p) for p in error["loc"]) or "input"
        parts.append(f"{location}: {error['msg']}")
    return "Invalid input. " + "; ".join(parts)


def wants_help(arguments: dict[str, Any] | BaseModel) -> bool:
    return isinstance(arguments, dict) and arguments.get(HELP_FIELD) is True


def execute(
    spec: ToolSpec, arguments: dict[str, Any] | BaseModel, ctx: ToolContext, examples: list[dict[str, Any]] | None = None
) -> BaseModel:
    """Validate, run, and normalise every failure into a ToolError with a useful message.

    A call with `help: true` runs nothing and returns a `HelpEnvelope` (the chosen action's
    schema and `examples`) instead of the tool's output.
    """
    if wants_help(arguments):
        return help_answer(spec.name, spec.input_model, requested_action(arguments), examples or [])
    try:
        payload = arguments if isinstance(arguments, BaseModel) else validate_input(spec, arguments)
        with writes_checked_by(ctx.check_cancelled):  # a cancelled call writes nothing more
            result = spec.run(payload, ctx)
    except ToolError:
        raise
    except Exception as exc:  # unanticipated: a specific code and a hint, never a bare traceback
        raise tool_error_for(spec.name, exc) from exc
    if not isinstance(result, spec.output_model):
        raise TypeError(f"{spec.name}.run returned {type(result).__name__}, not {spec.output_model.__name__}")
    if isinstance(result, ToolOutput) and result.planned_calls:
        # Plans quote the URLs they would call, which may carry credentials.
        result.planned_calls = [redact_text(call[:MAX_TEXT_CHARS]) for call in result.planned_calls]
    return result


def summary_text(spec: ToolSpec, output: BaseModel) -> str:
    """The tool's one-line summary, plus what it recovered from an interrupted earlier call."""
    text = spec.summarize(output)
    recovered = getattr(output, "recovered", None)
    if recovered:
        text += " Recovered after an interrupted call: " + "; ".join(recovered)
    return text
