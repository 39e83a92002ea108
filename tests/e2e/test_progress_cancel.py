"""Progress notifications and cancellation, through the real SDK client connected in-process.

Both connection modes of `mcp.client.Client(server)` are covered:
- "legacy": JSON-RPC over in-memory streams after the initialize handshake. Progress travels
  as `notifications/progress`; cancelling the caller's scope makes the client send
  `notifications/cancelled`, which is the only way the server hears of it.
- "auto": the 2026-07-28 in-process path, where cancellation is structural (the scope around
  the direct await is cancelled).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from mlops_engineer.app import build_server
from mlops_engineer.contract import ToolInput, ToolOutput
from mlops_engineer.errors import ToolError
from mlops_engineer.registry import Hints, Registry, Skill, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.settings import Settings
from tests.e2e._support import text_of

MODES = ["legacy", "auto"]


@pytest.fixture(scope="module")
def tracking_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by both modes, so the embedded store's tables are created once."""
    root = tmp_path_factory.mktemp("progress-ws")
    for name in ("a.txt", "b.txt", "c.txt"):
        (root / name).write_text(f"artifact {name}\n")
    return root


@pytest.mark.parametrize("mode", MODES)
def test_log_run_reports_increasing_progress_with_a_total(tracking_workspace: Path, mode: str) -> None:
    server = build_server(Settings(workspace=tracking_workspace))
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async def main() -> Any:
        async with Client(server, mode=mode) as client:
            return await client.call_tool(
                "track_ml_experiments",
                # A different experiment per mode: the same input twice would return the first run.
                {"operation": {"action": "log_run", "experiment": f"progress-{mode}", "params": {"lr": 0.1},
                               "metrics": {"loss": 0.5}, "artifacts": ["a.txt", "b.txt", "c.txt"]}},
                progress_callback=on_progress,
            )

    result = anyio.run(main)
    assert not result.is_error, text_of(result)
    assert result.structured_content["run"]["artifacts"] == ["a.txt", "b.txt", "c.txt"]

    values = [p for p, _, _ in seen]
    assert len(seen) >= 5, f"one notification per step (experiment, batch, 3 artifacts): {seen}"
    assert values == sorted(values) and len(set(values)) == len(values), f"progress must increase: {seen}"
    totals = {t for _, t, _ in seen}
    assert len(totals) == 1 and None not in totals, f"every notification carries the same total: {seen}"
    total = totals.pop()
    assert values[-1] == total, f"the last notification reaches the total: {seen}"
    assert all(message for _, _, message in seen), f"each step says what it does: {seen}"


# --------------------------------------------------------------------------- cancellation


class LoopInput(ToolInput):
    steps: int = 100


class LoopOutput(ToolOutput):
    steps_done: int


class Probe:
    """What the looping tool did, seen from the worker thread."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.steps_done = 0
        self.stopped_by: str | None = None


def _looping_server(workspace: Path, probe: Probe) -> MCPServer:
    def run(inp: LoopInput, ctx: ToolContext) -> LoopOutput:
        probe.started.set()
        try:
            for i in range(inp.steps):
                ctx.progress(i, inp.steps, f"step {i}")  # also the cancellation point
                time.sleep(0.05)
                probe.steps_done = i + 1
            probe.stopped_by = "finished"
        except ToolError as error:
            probe.stopped_by = error.code
            raise
        finally:
            probe.stopped.set()
        return LoopOutput(steps_done=probe.steps_done)

    skill_file = workspace / "skills" / "slow-loop" / "SKILL.md"
    skill_file.parent.mkdir(parents=True)
    skill_file.write_text("---\nname: slow-loop\ndescription: Loop slowly.\n---\n# Slow loop\n\nWait.\n")
    skill = Skill(id="slow-loop", description="Loop slowly.", path=skill_file)
    spec = ToolSpec(
        name="slow_loop", title="Slow loop", description="Loops 100 times, 50 ms a step, reporting progress.",
        input_model=LoopInput, output_model=LoopOutput, run=run,
        summarize=lambda out: f"{out.steps_done} steps", hints=Hints(read_only=True),
    )
    registry = Registry()
    registry.register(skill, spec)
    return build_server(Settings(workspace=workspace), registry)


@pytest.mark.parametrize("mode", MODES)
def test_cancel_stops_the_worker_and_the_server_keeps_answering(tmp_path: Path, mode: str) -> None:
    probe = Probe()
    server = _looping_server(tmp_path, probe)
    seen: list[float] = []
    timings: dict[str, float] = {}

    async def main() -> Any:
        async with Client(server, mode=mode) as client:
            assert [t.name for t in (await client.list_tools()).tools] == ["slow_loop"]
            three = anyio.Event()

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                assert total == 100
                seen.append(progress)
                if len(seen) >= 3:
                    three.set()

            outcome: list[Any] = []
            async with anyio.create_task_group() as tg:
                scope = anyio.CancelScope()

                async def call() -> None:
                    with scope:
                        outcome.append(await client.call_tool("slow_loop", {}, progress_callback=on_progress))

                tg.start_soon(call)
                with anyio.fail_after(10):
                    await three.wait()
                timings["cancelled_at"] = time.monotonic()
                scope.cancel()
            assert outcome == [], "the cancelled call returns nothing"
            assert scope.cancelled_caught
            timings["call_returned"] = time.monotonic()

            # The worker thread must notice within a second (it checks every 50 ms).
            stopped = await anyio.to_thread.run_sync(probe.stopped.wait, 1.0)
            timings["worker_stopped"] = time.monotonic()
            assert stopped, f"worker still running after cancel ({probe.steps_done} steps done)"
            # ...and it stopped at ToolContext's cancellation point, not by running to the end.
            assert probe.stopped_by == "cancelled", probe.stopped_by
            assert 3 <= probe.steps_done < 100, probe.steps_done

            # Same session, next call: the server still answers, and runs the tool to the end.
            after = Probe()
            probe.__dict__.update(after.__dict__)
            second = await client.call_tool("slow_loop", {"steps": 3})
            listed = await client.list_tools(cache_mode="bypass")
            return second, listed

    second, listed = anyio.run(main)
    assert timings["call_returned"] - timings["cancelled_at"] < 1.0, "cancel returns at once"
    assert timings["worker_stopped"] - timings["cancelled_at"] < 1.0
    assert seen[:3] == [0, 1, 2]
    assert not second.is_error, text_of(second)
    assert second.structured_content["steps_done"] == 3
    assert probe.stopped_by == "finished"
    assert [t.name for t in listed.tools] == ["slow_loop"]

