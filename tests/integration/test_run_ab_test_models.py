"""run_ab_test_models against real MLflow stores and a real `bentoml serve` router."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_engineer.engines.abtest.assignment import assign
from mlops_engineer.engines.local_services import get_service, service_pids
from mlops_engineer.errors import ToolError
from mlops_engineer.tools.deploy_ml_model_serving import TOOL as SERVING
from mlops_engineer.tools.register_ml_model import TOOL as REGISTER
from mlops_engineer.tools.run_ab_test_models import TOOL as ABTEST
from mlops_engineer.tools.track_ml_experiments import TOOL as TRACK
from tests.fixtures.ports import free_port
from tests.helpers import ToolRunner
from tests.integration.conftest import write_training_files


def _code(call) -> str:  # noqa: ANN001
    with pytest.raises(ToolError) as error:
        call()
    return error.value.code


def _register_pair(tools: ToolRunner, root: Path, distinct: bool = True) -> str:
    """Two small logistic regressions registered as champion and challenger of one model
    (or, when `distinct` is false, one version holding both aliases: half the cost)."""
    name = tools.unique("ab")
    for alias, c in (("champion", 1.0), ("challenger", 0.05))[: 2 if distinct else 1]:
        files = write_training_files(root, seed=0, c=c)
        run = tools(TRACK, {
            "action": "log_run", "experiment": tools.unique("ab"), "run_name": alias, "params": {"C": c},
            "model": {"path": files["model"], "input_example": files["sample"]},
        }).run
        version = tools(REGISTER, {"action": "register", "name": name, "run_id": run.run_id}).version.version
        for held in (alias,) if distinct else ("champion", "challenger"):
            tools(REGISTER, {"action": "set_alias", "name": name, "alias": held, "version": version})
    return name


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as resp:
        return json.loads(resp.read())


def _check_uris(tools: ToolRunner, root: Path, name: str) -> None:
    out = tools(ABTEST, {"action": "render_router", "experiment": "uris", "model_name": name, "mode": "ab"})
    assert out.router.champion.endswith("(@champion)") and out.router.challenger.endswith("(@challenger)")
    assert {f.action for f in out.files} == {"create"}
    again = tools(ABTEST, {"action": "render_router", "experiment": "uris", "model_name": name, "mode": "ab"})
    assert {f.action for f in again.files} == {"unchanged"}
    for uri in (f"models:/{name}@nobody", f"models:/{name}/99", "models:/no-such-model@champion", "runs:/" + "0" * 32 + "/model", "models/missing.joblib"):
        code = _code(lambda uri=uri: tools(ABTEST, {"action": "render_router", "experiment": "bad", "champion_uri": f"models:/{name}@champion", "challenger_uri": uri}))
        assert code == "not_found", uri
    assert not (root / "mlops/abtest/bad").exists(), "a failed render writes nothing"


@pytest.mark.server
def test_render_checks_model_uris_on_a_tracking_server(mlflow_server, tmp_path: Path) -> None:  # noqa: ANN001
    tools = ToolRunner(tmp_path, mlflow_server.tracking_uri)
    _check_uris(tools, tmp_path, _register_pair(tools, tmp_path, distinct=False))


@pytest.fixture
def embedded(tmp_path: Path) -> ToolRunner:
    return ToolRunner(tmp_path, None)


@pytest.fixture
def router_guard(embedded: ToolRunner) -> Iterator[list[str]]:
    """Stops whatever router the test started, even when it fails half-way."""
    experiments: list[str] = []
    yield experiments
    for experiment in experiments:
        try:
            embedded(ABTEST, {"action": "stop_router", "experiment": experiment}, confirm=True)
        except ToolError:
            pass


def test_router_checks_uris_serves_ab_and_shadow_and_leaves_no_process(embedded: ToolRunner, tmp_path: Path, router_guard: list[str]) -> None:
    tools = embedded
    name = _register_pair(tools, tmp_path)
    _check_uris(tools, tmp_path, name)  # the same checks as on the tracking server, on the embedded store
    experiment = "router-ab"
    router_guard.append(experiment)
    service_dir = tmp_path / "mlops/abtest" / experiment
    features = {"a": 0.3, "b": -1.2, "c": 0.5}
    units = [f"user-{i}" for i in range(24)]
    expected = {u: v for u, _, v in assign(units, experiment, {"champion": 50, "challenger": 50})}

    tools(ABTEST, {"action": "render_router", "experiment": experiment, "model_name": name, "mode": "ab"})
    # A start that does not become ready in time is torn down: nothing is left running.
    assert _code(lambda: tools(ABTEST, {"action": "serve_router", "experiment": experiment, "port": free_port(), "timeout_seconds": 0.5})) == "failed"
    assert not _processes_mentioning(str(service_dir))
    port = free_port()
    served = tools(ABTEST, {"action": "serve_router", "experiment": experiment, "port": port, "timeout_seconds": 240})
    assert served.router.running
    pgid = served.router.pid
    record = get_service(tmp_path / ".mlops", f"abtest-{experiment}")
    assert record is not None and record.kind == "ab_router"
    assert len(service_pids(record)) >= 2, "the router and its worker carry the marker"
    listed = tools(SERVING, {"action": "list"}).deployments
    assert [(d.name, d.kind, d.pid) for d in listed] == [(record.name, "ab_router", record.pid)], "the serving tool lists the router"
    again = tools(ABTEST, {"action": "serve_router", "experiment": experiment, "port": port})
    assert again.router.pid == pgid and "already running" in again.planned_calls[0]
    answers = {u: _post(f"{served.router.url}/predict", {"unit_id": u, "features": features}) for u in units}
    assert {u: a["variant"] for u, a in answers.items()} == expected, "router and engine assign identically"

    log = [json.loads(line) for line in (service_dir / "logs/assignments.jsonl").read_text().splitlines()]
    assert len(log) == len(units)
    assert {r["unit_id"]: r["variant"] for r in log} == expected
    assert all(r["latency_ms"] > 0 and r["error"] == 0 and r["prediction"] in (0, 1) for r in log)

    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("unit_id,outcome\n" + "".join(f"{u},{i % 3 == 0:d}\n" for i, u in enumerate(units)))
    report = tools(ABTEST, {"action": "analyze", "experiment": experiment, "outcomes_path": "outcomes.csv", "planned_units": 1000})
    assert report.counts == {"champion": list(expected.values()).count("champion"), "challenger": list(expected.values()).count("challenger")}
    assert report.decision == "extend" and {g.name for g in report.guardrails} == {"p95 latency (ms)", "error rate"}

    # Shadow, without a restart: the router re-reads abtest.json. The champion always answers;
    # the challenger's answer is logged, never returned.
    (service_dir / "logs/assignments.jsonl").unlink()
    tools(ABTEST, {"action": "render_router", "experiment": experiment, "model_name": name, "mode": "shadow"})
    for unit in units[:6]:
        assert _post(f"{served.router.url}/predict", {"unit_id": unit, "features": features})["variant"] == "champion"
    log = [json.loads(line) for line in (service_dir / "logs/assignments.jsonl").read_text().splitlines()]
    assert sorted((r["variant"], r["served"]) for r in log) == [("challenger", False)] * 6 + [("champion", True)] * 6
    assert all(r["mode"] == "shadow" for r in log)
    shadow = tools(ABTEST, {"action": "analyze", "experiment": experiment})  # no outcome needed in shadow mode
    assert shadow.srm is None and shadow.fixed_test is None, "shadow traffic is not an experiment"
    assert [g.enough_data for g in shadow.guardrails] == [False, False]
    assert shadow.decision == "extend" and "too few calls" in shadow.reasons[0]

    assert _code(lambda: tools(ABTEST, {"action": "stop_router", "experiment": experiment})) == "needs_confirm"
    stopped = tools(ABTEST, {"action": "stop_router", "experiment": experiment}, confirm=True)
    assert not stopped.router.running
    assert not _processes_mentioning(str(service_dir)), "no router process is left behind"
    assert not service_pids(record), "no worker is left behind either"
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_serve_without_render_and_stop_without_router(embedded: ToolRunner) -> None:
    assert _code(lambda: embedded(ABTEST, {"action": "serve_router", "experiment": "none"})) == "not_found"
    out = embedded(ABTEST, {"action": "stop_router", "experiment": "none"}, confirm=True)
    assert out.planned_calls == ["nothing to stop: no router of this experiment is running"]
