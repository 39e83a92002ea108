"""The error contract as read by a client we did not write: the official TypeScript SDK
(`@modelcontextprotocol/sdk`, pinned in tests/e2e/ts/package-lock.json), which Claude Code and
MCP Inspector use, drives `mlops-engineer serve` over stdio through tests/e2e/ts/mcp_call.mjs.

Its `Client.callTool` checks `structuredContent` against the tool's listed `outputSchema`
whenever it is present, error results included: an error shape the schema does not admit
reaches the user as `MCP error -32602` instead of our code, message and hint.

One Node process (and so one server) serves the tests that share the `ts` fixture, in order.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_engineer.registry import load_registry
from tests.e2e._support import SERVER_SCRIPT
from tests.fixtures.wheel import Installed

TS_DIR = Path(__file__).parent / "ts"
TOOL_NAMES = [t.name for t in load_registry().tools()]

ABORT_REASON = "cancelled by the test"
REQUEST_TIMEOUT = -32001  # the TS SDK rejects an aborted request with McpError(RequestTimeout, reason)


# --------------------------------------------------------------------------- the Node client


def _on_path(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(
            f"`{name}` not found on PATH: these tests run the TypeScript MCP SDK under Node.js 18+. "
            "Install it (Debian: apt-get install nodejs npm; .ci/run does this).",
            pytrace=False,
        )
    return found


def _installed_matches_lock() -> bool:
    """Every package of package-lock.json is in node_modules at the locked version."""
    locked = json.loads((TS_DIR / "package-lock.json").read_text())["packages"]
    for path, entry in locked.items():
        if not path:
            continue  # the root package: this folder
        try:
            installed = json.loads((TS_DIR / path / "package.json").read_text())
        except (OSError, ValueError):
            return False
        if installed.get("version") != entry["version"]:
            return False
    return True


@pytest.fixture(scope="session")
def node() -> str:
    """`node`, with tests/e2e/ts/node_modules installed from the lock file (npm ci when missing or stale)."""
    found = _on_path("node")
    if not _installed_matches_lock():
        npm = _on_path("npm")
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=TS_DIR, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"`npm ci` in {TS_DIR} failed (it needs the npm registry):\n{proc.stdout}\n{proc.stderr}"
        assert _installed_matches_lock(), "npm ci did not install what package-lock.json pins"
    return found


class TsClient:
    """mcp_call.mjs connected to one server: `call` sends a scenario and returns what the TS client saw."""

    def __init__(self, node: str, script: Path, workspace: Path) -> None:
        self.workspace = workspace
        server = {
            "command": str(script),
            "args": ["--workspace", str(workspace), "serve"],
            # Merged by the SDK over its minimal inherited environment (HOME, PATH, ...).
            "env": {"MLOPS_ENGINEER_CONFIG": str(workspace / "no-config.toml")},
            "cwd": str(workspace),
        }
        self.stderr_path = workspace.parent / f"{workspace.name}-ts-client-stderr.log"
        with open(self.stderr_path, "w") as stderr:  # the server's stderr too (the SDK inherits it)
            self.proc = subprocess.Popen(
                [node, str(TS_DIR / "mcp_call.mjs"), json.dumps(server)],
                cwd=TS_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
            )
        self.tools = self._read()["tools"]
        self.closed: dict[str, Any] | None = None

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            log = self.stderr_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"mcp_call.mjs exited ({self.proc.returncode}) without answering:\n{log}", pytrace=False)
        return dict(json.loads(line))

    def call(self, tool: str, arguments: dict[str, Any], **options: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"name": tool, "tool": tool, "arguments": arguments, **options}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> dict[str, Any]:
        """End of input: the script closes the client (which stops the server) and reports."""
        if self.closed is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.closed = self._read()
            assert self.proc.wait(timeout=30) == 0
        return self.closed


def _workspace_with_dataset(root: Path) -> Path:
    """A small binary-classification CSV for the tuning calls (no pandas needed)."""
    rng = random.Random(3)
    (root / "data").mkdir()
    with open(root / "data" / "train.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b", "c", "label"])
        for _ in range(160):
            a, b, c = rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1)
            writer.writerow([f"{a:.4f}", f"{b:.4f}", f"{c:.4f}", int(a + 0.7 * b + rng.gauss(0, 0.6) > 0)])
    return root


@pytest.fixture(scope="module")
def ts(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TsClient]:
    """The TS client on the test venv's server (every extra installed)."""
    workspace = _workspace_with_dataset(tmp_path_factory.mktemp("ts-ws"))
    client = TsClient(node, SERVER_SCRIPT, workspace)
    try:
        yield client
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
            client.proc.wait()


# --------------------------------------------------------------------------- what the client read


def error_seen(seen: dict[str, Any], code: str) -> dict[str, str]:
    """The error a TS client read: an isError result (not a thrown -32602) whose structured error and text agree."""
    assert seen["ok"], f"the TS client threw instead of returning our error result: {seen['error']}"
    assert seen["isError"] is True, seen
    structured = seen["structuredContent"]
    assert isinstance(structured, dict) and set(structured) == {"error"}, f"structuredContent is not {{'error': ...}}: {structured}"
    error = structured["error"]
    assert {"code", "message", "hint"} <= set(error) <= {"code", "message", "hint", "schema"}, error
    assert error["code"] == code, error
    assert error["message"] and error["hint"], error
    assert seen["text"].startswith(f"[{code}] {error['message']}\nHint: {error['hint']}"), seen["text"]
    return dict(error)


def result_seen(seen: dict[str, Any]) -> dict[str, Any]:
    assert seen["ok"], f"the TS client threw: {seen['error']}"
    assert seen["isError"] is False, seen["text"]
    assert seen["structuredContent"], seen
    return dict(seen["structuredContent"])


# --------------------------------------------------------------------------- tests, in order


def test_lists_every_tool_with_an_output_schema(ts: TsClient) -> None:
    assert [t["name"] for t in ts.tools] == TOOL_NAMES
    assert all(t["hasOutputSchema"] for t in ts.tools), ts.tools


def test_a_result_passes_the_output_schema(ts: TsClient) -> None:
    out = result_seen(ts.call("track_ml_experiments", {"operation": {"action": "create_experiment", "name": "ts-client"}}))
    assert out["experiment"]["name"] == "ts-client" and out["experiment"]["created"] is True


def test_unknown_action_is_invalid_input(ts: TsClient) -> None:
    error = error_seen(ts.call("track_ml_experiments", {"operation": {"action": "no_such_action"}}), "invalid_input")
    assert "no_such_action" in error["message"], error


def test_missing_required_field_is_invalid_input_with_the_actions_schema(ts: TsClient) -> None:
    seen = ts.call("track_ml_experiments", {"operation": {"action": "create_experiment"}})
    error = error_seen(seen, "invalid_input")
    assert "name" in error["message"], error
    # The complete schema of the chosen action comes back, as data and in the text the model reads.
    variant = error["schema"]["$defs"]["CreateExperiment"]
    assert "name" in variant["required"], variant
    assert '"CreateExperiment"' in seen["text"], seen["text"]


def test_help_returns_an_actions_schema_that_passes_the_output_schema(ts: TsClient) -> None:
    answer = result_seen(ts.call("track_ml_experiments", {"operation": {"action": "log_run"}, "help": True}))["help"]
    assert answer["action"] == "log_run" and "experiment" in answer["input_schema"]["$defs"]["LogRun"]["required"]
    assert answer["examples"], "the skill's example inputs come with the schema"
    listed = next(t for t in ts.tools if t["name"] == "track_ml_experiments")
    assert listed["inputSchema"]["properties"]["operation"]["properties"]["action"]["enum"] == list(answer["actions"])


def test_overwriting_an_edited_file_needs_confirm(ts: TsClient) -> None:
    setup = {"operation": {"action": "setup", "experiment": "ts-client", "team_stack": False, "autolog": ["sklearn"]}}
    result_seen(ts.call("track_ml_experiments", setup))
    snippet = ts.workspace / "mlops" / "tracking" / "autolog_sklearn.py"
    snippet.write_text(snippet.read_text() + "# edited by hand\n")

    error = error_seen(ts.call("track_ml_experiments", setup), "needs_confirm")
    assert "mlops/tracking/autolog_sklearn.py" in error["message"], error
    assert "confirm" in error["hint"], error
    assert snippet.read_text().endswith("# edited by hand\n"), "the refused call changed nothing"


def test_unreachable_backend(ts: TsClient) -> None:
    seen = ts.call("track_ml_experiments", {"operation": {"action": "create_experiment", "name": "ts-client"}, "tracking_uri": "http://127.0.0.1:9"})
    error = error_seen(seen, "backend_unreachable")
    assert "127.0.0.1:9" in error["message"], error


def test_unknown_tool_is_a_structured_not_found(ts: TsClient) -> None:
    error = error_seen(ts.call("no_such_tool", {}), "not_found")
    assert "no_such_tool" in error["message"], error
    long_name = "no_such_tool_" + "x" * 10_000
    seen = ts.call(long_name, {})
    error = error_seen(seen, "not_found")
    assert len(seen["text"]) < len(long_name), "the name is echoed bounded, not whole"


def test_abort_cancels_the_call_and_the_server_carries_on(ts: TsClient) -> None:
    n_trials = 500  # far more than run before the abort: the study must stop short of it
    study = {"action": "optimize", "study_name": "ts-cancel", "n_trials": n_trials, "plots": False,
             "space": [{"type": "float", "name": "C", "low": 0.01, "high": 10.0, "log": True}],
             "objective": {"kind": "estimator", "estimator": "logistic_regression", "dataset": "data/train.csv", "target": "label"}}
    seen = ts.call("setup_automl_pipeline", {"operation": study}, abortAfterProgress=1)

    # The client gave up at once: its abort error, raised before any later message was handled.
    assert not seen["ok"], f"the call finished instead of being cancelled: {seen}"
    assert seen["error"]["code"] == REQUEST_TIMEOUT and ABORT_REASON in seen["error"]["message"], seen["error"]
    assert seen["events"] == ["progress", "abort", "rejected"], seen["events"]
    assert seen["progress"][0]["total"] == n_trials, seen["progress"]

    # The server heard the cancel: the study's MLflow parent run is closed as KILLED, which the
    # tool does only when the study loop stopped on cancellation (every poll is a call that succeeds).
    runs: list[dict[str, Any]] = []
    for _ in range(150):
        out = result_seen(ts.call("track_ml_experiments", {"operation": {
            "action": "compare_runs", "experiment": "automl-ts-cancel", "filter": "attributes.status = 'KILLED'"}}))
        runs = out["comparison"]["runs"]["rows"]
        if runs:
            break
        time.sleep(0.2)
    assert len(runs) == 1, "the study's parent run was never closed as KILLED: the work did not stop on cancel"

    status = result_seen(ts.call("setup_automl_pipeline", {"operation": {"action": "status", "study_name": "ts-cancel"}}))
    info = status["study"]
    assert 1 <= info["finished"] < n_trials, info
    assert info["finished"] + info["failed"] == status["trials"]["total_rows"], "no trial is still running"


def test_no_stray_message_reached_the_client(ts: TsClient) -> None:
    """Runs last on this server: no response to the cancelled request, nothing unparseable on stdout."""
    assert ts.close()["clientErrors"] == []


def test_missing_dependency_from_a_core_install(node: str, wheel_install: Installed) -> None:
    workspace = wheel_install.outside / "ts-ws"
    workspace.mkdir()
    client = TsClient(node, wheel_install.script, workspace)
    try:
        error = error_seen(client.call("track_ml_experiments", {"operation": {"action": "create_experiment", "name": "ts-client"}}), "missing_dependency")
        assert "mlops-engineer[tracking]" in error["hint"], error
        assert client.close()["clientErrors"] == []
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
            client.proc.wait()
