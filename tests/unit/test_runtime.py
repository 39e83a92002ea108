"""execute(): validation errors, failure mapping, redaction, cancellation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.errors import ToolError
from mlops_engineer.registry import ToolSpec
from mlops_engineer.runtime import ToolContext, execute, validate_input
from mlops_engineer.settings import Settings
from mlops_engineer.tools.register_ml_model import TOOL as REGISTER
from mlops_engineer.tools.track_ml_experiments import TOOL as TRACK
from mlops_engineer.workspace import Workspace


class Ping(StrictModel):
    action: Literal["ping"]
    times: int = Field(default=1, ge=1, le=10)


class Explode(StrictModel):
    action: Literal["explode"]
    message: str


class Loop(StrictModel):
    action: Literal["loop"]
    steps: int = 5


class DemoInput(ToolInput):
    operation: Annotated[Ping | Explode | Loop, Field(discriminator="action")]


class DemoOutput(ToolOutput):
    done: int = 0


def _run(inp: DemoInput, ctx: ToolContext) -> DemoOutput:
    op = inp.operation
    if isinstance(op, Explode):
        raise RuntimeError(op.message)
    if isinstance(op, Loop):
        for i in range(op.steps):
            ctx.progress(i, op.steps, f"step {i}")
        return DemoOutput(done=op.steps)
    return DemoOutput(done=op.times, dry_run=inp.dry_run)


DEMO = ToolSpec(
    name="demo", title="Demo", description="d", input_model=DemoInput, output_model=DemoOutput,
    run=_run, summarize=lambda o: "ok", input_hint="Use action ping, explode or loop.",
)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspace=Workspace(tmp_path), settings=Settings(workspace=tmp_path))


def test_execute_returns_the_output_model(ctx: ToolContext) -> None:
    out = execute(DEMO, {"operation": {"action": "ping", "times": 3}, "dry_run": True}, ctx)
    assert isinstance(out, DemoOutput) and out.done == 3 and out.dry_run is True


def test_execute_accepts_an_already_validated_model(ctx: ToolContext) -> None:
    assert execute(DEMO, DemoInput(operation=Ping(action="ping")), ctx).done == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("arguments", "must_mention"),
    [
        ({"operation": {"action": "nope"}}, ["operation", "'ping'", "'explode'", "'loop'"]),
        ({"operation": {"action": "ping", "times": 0}}, ["operation.ping.times", "greater than or equal to 1"]),
        ({"operation": {"action": "explode"}}, ["operation.explode.message", "Field required"]),
        ({"operation": {"action": "ping"}, "surprise": 1}, ["surprise", "Extra inputs are not permitted"]),
        ({"operation": {"action": "ping", "typo": 1}}, ["operation.ping.typo"]),
        ({}, ["operation", "Field required"]),
        ({"operation": {"action": "ping"}, "dry_run": "perhaps"}, ["dry_run"]),
    ],
)
def test_invalid_input_names_the_field(ctx: ToolContext, arguments: dict, must_mention: list[str]) -> None:
    with pytest.raises(ToolError) as info:
        execute(DEMO, arguments, ctx)
    assert info.value.code == "invalid_input"
    for text in must_mention:
        assert text in info.value.message
    assert info.value.hint == DEMO.input_hint


@pytest.mark.parametrize(
    ("spec", "actions"),
    [
        (TRACK, ["setup", "create_experiment", "log_run", "compare_runs"]),
        (REGISTER, ["register", "set_alias", "delete_alias", "transition_stage", "request_approval", "review",
                    "promote", "model_card", "delete_version", "describe"]),
    ],
)
def test_real_tools_list_their_actions_on_a_bad_action(ctx: ToolContext, spec: ToolSpec, actions: list[str]) -> None:
    with pytest.raises(ToolError) as info:
        validate_input(spec, {"operation": {"action": "frobnicate"}})
    assert info.value.code == "invalid_input"
    for action in actions:
        assert f"'{action}'" in info.value.message
        assert action in info.value.hint


def test_real_tool_literal_field_lists_accepted_values() -> None:
    with pytest.raises(ToolError) as info:
        validate_input(TRACK, {"operation": {"action": "compare_runs", "experiment": "e", "goal": "best"}})
    assert "operation.compare_runs.goal" in info.value.message
    assert "'maximize'" in info.value.message and "'minimize'" in info.value.message


def test_unexpected_exception_becomes_failed_with_its_text(ctx: ToolContext) -> None:
    with pytest.raises(ToolError) as info:
        execute(DEMO, {"operation": {"action": "explode", "message": "disk on fire"}}, ctx)
    error = info.value
    assert error.code == "failed"
    assert "demo failed: RuntimeError: disk on fire" in error.message
    assert error.hint
    assert isinstance(error.__cause__, RuntimeError)


def test_an_unreadable_input_file_is_bad_input_not_a_backend_failure(ctx: ToolContext) -> None:
    """Bytes that are not text (a Parquet file read as CSV) fail inside any tool's reader: the error
    says an input file could not be read, not that a backend may be unreachable."""
    (ctx.workspace.root / "log.bin").write_bytes(b"PAR1\x15\x04\x15\xb0\xff")

    def run(inp: DemoInput, c: ToolContext) -> DemoOutput:
        (c.workspace.root / "log.bin").read_text(encoding="utf-8")
        return DemoOutput()

    spec = ToolSpec(name="demo", title="t", description="d", input_model=DemoInput, output_model=DemoOutput,
                    run=run, summarize=lambda o: "")
    with pytest.raises(ToolError) as info:
        execute(spec, {"operation": {"action": "ping"}}, ctx)
    assert info.value.code == "invalid_input" and "UnicodeDecodeError" in info.value.message
    assert "file could not be read" in info.value.hint and "backend" not in info.value.hint


def test_failure_text_is_redacted(ctx: ToolContext) -> None:
    message = "cannot reach postgresql://mlflow:hunter2@db:5432/x?token=abc"
    with pytest.raises(ToolError) as info:
        execute(DEMO, {"operation": {"action": "explode", "message": message}}, ctx)
    assert "hunter2" not in str(info.value) and "abc" not in info.value.message
    assert "postgresql://***@db:5432/x?token=***" in info.value.message


def test_tool_errors_pass_through_unchanged(ctx: ToolContext) -> None:
    def run(inp: DemoInput, c: ToolContext) -> DemoOutput:
        raise ToolError("conflict", "already there", "use another name")

    spec = ToolSpec(name="demo", title="t", description="d", input_model=DemoInput, output_model=DemoOutput,
                    run=run, summarize=lambda o: "")
    with pytest.raises(ToolError) as info:
        execute(spec, {"operation": {"action": "ping"}}, ctx)
    assert (info.value.code, info.value.message, info.value.hint) == ("conflict", "already there", "use another name")


def test_wrong_output_type_is_a_programming_error(ctx: ToolContext) -> None:
    spec = ToolSpec(name="demo", title="t", description="d", input_model=DemoInput, output_model=DemoOutput,
                    run=lambda i, c: ToolOutput(), summarize=lambda o: "")
    with pytest.raises(TypeError, match="not DemoOutput"):
        execute(spec, {"operation": {"action": "ping"}}, ctx)


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[tuple] = []
    ctx = ToolContext(workspace=Workspace(tmp_path), settings=Settings(workspace=tmp_path),
                      on_progress=lambda d, t, m: seen.append((d, t, m)))
    assert execute(DEMO, {"operation": {"action": "loop", "steps": 3}}, ctx).done == 3  # type: ignore[attr-defined]
    assert seen == [(0, 3, "step 0"), (1, 3, "step 1"), (2, 3, "step 2")]


def test_cancelled_context_raises_at_the_next_progress(tmp_path: Path) -> None:
    seen: list[tuple] = []
    ctx = ToolContext(workspace=Workspace(tmp_path), settings=Settings(workspace=tmp_path),
                      on_progress=lambda d, t, m: seen.append((d, t, m)))
    ctx.progress(1, 2, "before")
    ctx.cancelled.set()
    with pytest.raises(ToolError) as info:
        ctx.progress(2, 2, "after")
    assert info.value.code == "cancelled"
    assert seen == [(1, 2, "before")]
    with pytest.raises(ToolError):
        ctx.check_cancelled()


def test_cancellation_inside_execute_stays_cancelled(tmp_path: Path) -> None:
    ctx = ToolContext(workspace=Workspace(tmp_path), settings=Settings(workspace=tmp_path))
    ctx.cancelled.set()
    with pytest.raises(ToolError) as info:
        execute(DEMO, {"operation": {"action": "loop"}}, ctx)
    assert info.value.code == "cancelled"


def test_cancel_midway_from_the_progress_callback(tmp_path: Path) -> None:
    ctx: ToolContext

    def on_progress(done: float, total: float | None, message: str | None) -> None:
        if done == 1:
            ctx.cancelled.set()  # the client cancels while step 1 is being reported

    ctx = ToolContext(workspace=Workspace(tmp_path), settings=Settings(workspace=tmp_path), on_progress=on_progress)
    with pytest.raises(ToolError) as info:
        execute(DEMO, {"operation": {"action": "loop", "steps": 10}}, ctx)
    assert info.value.code == "cancelled"


def test_failure_log_is_redacted(ctx: ToolContext, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR", logger="mlops_engineer")
    with pytest.raises(ToolError):
        execute(DEMO, {"operation": {"action": "explode", "message": "postgresql://u:hunter2@db/x"}}, ctx)
    assert "demo" in caplog.text  # the failure is logged ...
    assert "hunter2" not in caplog.text  # ... without the secret
