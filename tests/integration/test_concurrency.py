"""Identical calls at the same moment still leave one copy of what they create (issue 16, item 2).

Twenty threads go through `execute()` at once, the way the server runs concurrent requests;
two real stdio servers on one workspace stand for two clients (or two Claude Code sessions)
sharing a project. Each test starts its calls behind a barrier so they really overlap.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from mlops_engineer.runtime import ToolContext, execute
from mlops_engineer.settings import Settings
from mlops_engineer.tools.orchestrate_ml_pipeline import TOOL as PIPELINE
from mlops_engineer.tools.register_ml_model import TOOL as REGISTER
from mlops_engineer.tools.setup_automl_pipeline import TOOL as AUTOML
from mlops_engineer.tools.track_ml_experiments import TOOL as TRACK
from mlops_engineer.workspace import Workspace
from tests.e2e._support import SERVER_SCRIPT, text_of
from tests.integration.conftest import write_training_files

CALLS = 20


def _context(root: Path) -> ToolContext:
    return ToolContext(workspace=Workspace(root), settings=Settings(workspace=root))


def _all_at_once(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run call(0..n-1) in n threads released together; each result, or the exception it raised."""
    gate = threading.Barrier(n)

    def one(i: int) -> Any:
        gate.wait()
        try:
            return call(i)
        except Exception as exc:  # collected: the test reports every failure, not the first
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def _failures(results: list[Any]) -> list[str]:
    return [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]


def _runs(root: Path, experiment: str, tracking_uri: str | None = None) -> list[Any]:
    from mlops_engineer.engines.mlflow.backend import make_client, resolve_target

    client = make_client(resolve_target(Workspace(root), Settings(workspace=root), tracking_uri))
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id], run_view_type=3, max_results=1000)


def _log_run(experiment: str, artifacts: list[str]) -> dict[str, Any]:
    return {"operation": {"action": "log_run", "experiment": experiment, "params": {"lr": 0.1, "depth": 4},
                          "metrics": {"auc": 0.91}, "tags": {"team": "risk"}, "artifacts": artifacts}}


def test_twenty_identical_log_runs_at_once_make_one_run(tmp_path: Path, tracking_uri: str | None) -> None:
    (tmp_path / "report.txt").write_text("the same artifact every time\n")
    ctx = _context(tmp_path)
    experiment = f"concurrent-{tmp_path.name}"  # the server is shared by the session's tests
    arguments = {**_log_run(experiment, ["report.txt"]), "tracking_uri": tracking_uri}
    # The store and the experiment exist already, so the calls overlap on the run itself.
    execute(TRACK, {"operation": {"action": "create_experiment", "name": experiment}, "tracking_uri": tracking_uri}, ctx)

    results = _all_at_once(CALLS, lambda i: execute(TRACK, arguments, ctx))

    runs = _runs(tmp_path, experiment, tracking_uri)
    assert (len(runs), _failures(results)) == (1, []), f"{len(runs)} runs for {CALLS} identical calls"
    assert {r.run.run_id for r in results} == {runs[0].info.run_id}
    assert sorted(r.run.created for r in results) == [False] * (CALLS - 1) + [True]
    assert runs[0].info.status == "FINISHED"


def test_twenty_concurrent_registers_of_one_run_make_one_version(tmp_path: Path) -> None:
    files = write_training_files(tmp_path)
    ctx = _context(tmp_path)
    logged = execute(TRACK, {"operation": {"action": "log_run", "experiment": "reg", "model": {"path": files["model"]}}}, ctx)
    register = {"operation": {"action": "register", "name": "churn", "run_id": logged.run.run_id}}

    results = _all_at_once(CALLS, lambda i: execute(REGISTER, register, ctx))

    from mlops_engineer.engines.mlflow.backend import make_client, resolve_target

    client = make_client(resolve_target(ctx.workspace, ctx.settings))
    versions = client.search_model_versions("name = 'churn'")
    assert (len(versions), _failures(results)) == (1, []), f"{len(versions)} versions for {CALLS} identical registers"
    assert {r.version.version for r in results} == {"1"}
    assert sorted(r.version.created for r in results) == [False] * (CALLS - 1) + [True]


def _pipeline(i: int) -> dict[str, Any]:
    return {"name": f"p{i:02d}", "stages": [{"name": "a", "command": f"echo {i}", "outputs": [f"out/{i}.txt"]}]}


def test_twenty_concurrent_renders_keep_every_manifest_entry(tmp_path: Path) -> None:
    ctx = _context(tmp_path)

    def render(i: int) -> Any:
        return execute(PIPELINE, {"operation": {"action": "render", "spec": _pipeline(i), "targets": ["prefect"], "check": False}}, ctx)

    results = _all_at_once(CALLS, render)

    assert not _failures(results), _failures(results)
    written = {f.path for r in results for f in r.files}
    manifest = json.loads((tmp_path / ".mlops/rendered.json").read_text())
    assert len(written) == 2 * CALLS
    assert sorted(written - set(manifest)) == [], f"{len(written - set(manifest))} of {len(written)} files lost from the manifest"
    # A later render of the same pipelines is ours to update, never a user edit to confirm.
    for i in range(CALLS):
        spec = _pipeline(i)
        spec["stages"][0]["command"] = f"echo again {i}"
        out = execute(PIPELINE, {"operation": {"action": "render", "spec": spec, "targets": ["prefect"], "check": False}}, ctx)
        assert {f.action for f in out.files} == {"update"}, out.files


def test_first_optimize_calls_on_a_fresh_workspace_do_not_race_on_the_study_storage(tmp_path: Path) -> None:
    (tmp_path / "quick.py").write_text("def objective(params):\n    return -(params['x'] - 0.3) ** 2\n")
    ctx = _context(tmp_path)

    def optimize(i: int) -> Any:
        return execute(AUTOML, {"operation": {
            "action": "optimize", "study_name": f"s{i}", "n_trials": 2, "sampler": "random", "plots": False, "log_to_mlflow": False,
            "space": [{"type": "float", "name": "x", "low": 0, "high": 1}],
            "objective": {"kind": "callable", "function": "quick:objective"}}}, ctx)

    results = _all_at_once(8, optimize)

    assert not _failures(results), _failures(results)
    assert [r.study.finished for r in results] == [2] * 8


# --------------------------------------------------------------------------- two server processes


def _server(root: Path) -> Any:
    params = StdioServerParameters(
        command=str(SERVER_SCRIPT), args=["--workspace", str(root), "serve"],
        env={"MLOPS_ENGINEER_CONFIG": str(root / "no-config.toml")}, cwd=str(root),
    )
    return stdio_client(params, errlog=open(root.parent / f"{root.name}-{id(params)}.log", "w"))  # noqa: SIM115 - closed with the process


def test_two_server_processes_times_ten_identical_calls_make_one_run(tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_text("shared artifact\n")
    arguments = _log_run("two-servers", ["report.txt"])
    results: list[Any] = []

    async def main() -> None:
        async with Client(_server(tmp_path)) as first, Client(_server(tmp_path)) as second:
            go = anyio.Event()

            async def call(client: Client) -> None:
                await go.wait()
                results.append(await client.call_tool("track_ml_experiments", arguments))

            async with anyio.create_task_group() as tg:
                for client in (first, second):
                    for _ in range(CALLS // 2):
                        tg.start_soon(call, client)
                await anyio.sleep(0.2)
                go.set()

    anyio.run(main)
    errors = [text_of(r) for r in results if r.is_error]
    runs = _runs(tmp_path, "two-servers")
    assert (len(runs), errors) == (1, []), f"{len(runs)} runs from 2 processes x {CALLS // 2} identical calls"
    created = [r.structured_content["run"]["created"] for r in results]
    assert sorted(created) == [False] * (CALLS - 1) + [True]

