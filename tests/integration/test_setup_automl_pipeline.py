"""setup_automl_pipeline against real Optuna storages (SQLite, PostgreSQL), the embedded MLflow
store, a local Ray and a real two-node Ray cluster on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.setup_automl_pipeline import TOOL
from tests.fixtures.ray_cluster import ray_daemons
from tests.helpers import ToolRunner

SPACE = [
    {"type": "float", "name": "C", "low": 0.01, "high": 10.0, "log": True},
    {"type": "categorical", "name": "fit_intercept", "choices": [True, False]},
]
GBM_SPACE = [
    {"type": "int", "name": "max_depth", "low": 2, "high": 5},
    {"type": "float", "name": "learning_rate", "low": 0.05, "high": 0.3, "log": True},
    {"type": "categorical", "name": "early_stopping", "choices": [True, False]},
    {"type": "int", "name": "n_iter_no_change", "low": 2, "high": 8, "step": 2, "when": {"early_stopping": [True]}},
]


def _dataset(root: Path, rows: int = 160) -> str:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["a", "b", "c"])
    frame["plan"] = rng.choice(["basic", "pro"], rows)
    frame["label"] = ((frame.a + 0.7 * frame.b + (frame.plan == "pro") + rng.normal(scale=0.6, size=rows)) > 0.5).astype(int)
    (root / "data").mkdir(exist_ok=True)
    frame.to_csv(root / "data/train.csv", index=False)
    return "data/train.csv"


def _logreg(dataset: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "estimator", "estimator": "logistic_regression", "dataset": dataset, "target": "label", **extra}


def _children(tools: ToolRunner, parent: str) -> list[Any]:
    from mlops_engineer.engines.mlflow.backend import make_client, resolve_target

    client = make_client(resolve_target(tools.ctx.workspace, tools.settings, tools.tracking_uri))
    parent_run = client.get_run(parent)
    return client.search_runs([parent_run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'", max_results=100)


@pytest.fixture
def tools(tmp_path: Path) -> ToolRunner:
    return ToolRunner(tmp_path)


def test_optimize_logs_nested_runs_plots_registers_and_resumes(tools: ToolRunner) -> None:
    dataset = _dataset(tools.root)
    op = {"action": "optimize", "study_name": "gbm", "space": GBM_SPACE, "n_trials": 4, "pruner": "median",
          "objective": {"kind": "estimator", "estimator": "hist_gradient_boosting", "dataset": dataset, "target": "label",
                        "fixed_params": {"max_iter": 20}},
          "register_model": "automl-gbm"}
    out = tools(TOOL, op)
    study = out.study
    assert study.finished == 4 and study.new_trials == 4 and study.metrics == ["roc_auc"]
    assert study.storage == "sqlite:///.mlops/optuna.db"
    assert study.best is not None and 0.5 < study.best.values["roc_auc"] <= 1.0
    # Conditional parameter: present exactly when early_stopping is on.
    for row in out.trials.rows:
        assert ("params.n_iter_no_change" in row and row["params.n_iter_no_change"] is not None) == bool(row["params.early_stopping"])
    # One progress notification per finished trial, with the study's total.
    trial_progress = [p for p in tools.progress if p[2] and p[2].startswith("trial ")]
    assert [p[0] for p in trial_progress] == [1, 2, 3, 4] and all(p[1] == 4 for p in trial_progress)
    # MLflow: a parent run per study, a nested run per trial.
    children = _children(tools, out.mlflow.parent_run_id)
    assert sorted(int(r.data.tags["mlops_engineer.trial_number"]) for r in children) == [0, 1, 2, 3]
    assert out.mlflow.logged_trials == 4
    assert all("max_depth" in r.data.params for r in children)
    # Plots are real PNGs.
    assert {Path(p).name for p in out.plots} >= {"optimization_history.png"}
    for path in out.plots:
        assert (tools.root / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The best trial's model is registered from its own run.
    assert out.registered.created and out.registered.run_id == study.best.mlflow_run_id

    again = tools(TOOL, op)  # idempotent: no new trial, no new run, same version
    assert again.study.new_trials == 0 and again.study.finished == 4
    assert len(_children(tools, again.mlflow.parent_run_id)) == 4 and again.mlflow.parent_run_id == out.mlflow.parent_run_id
    assert again.registered.version == out.registered.version and again.registered.created is False

    more = tools(TOOL, {**op, "n_trials": 5, "register_model": None})  # resume: only the missing trial runs
    assert more.study.new_trials == 1 and more.study.finished == 5
    assert sorted(int(r.data.tags["mlops_engineer.trial_number"]) for r in _children(tools, more.mlflow.parent_run_id)) == [0, 1, 2, 3, 4]

    status = tools(TOOL, {"action": "status", "study_name": "gbm"})
    assert status.study.finished == 5 and status.study.best.number == more.study.best.number


@pytest.mark.parametrize(
    ("sampler", "pruner"), [("cmaes", "hyperband"), ("random", "successive_halving"), ("tpe", "none")],
)
def test_samplers_and_pruners(tools: ToolRunner, sampler: str, pruner: str) -> None:
    dataset = _dataset(tools.root)
    space = SPACE[:1] if sampler == "cmaes" else SPACE
    out = tools(TOOL, {"action": "optimize", "study_name": f"s-{sampler}", "space": space, "objective": _logreg(dataset),
                       "n_trials": 3, "sampler": sampler, "pruner": pruner, "log_to_mlflow": False, "plots": False})
    assert out.study.finished == 3 and out.study.best is not None and out.mlflow is None


def test_nsga2_multi_objective_returns_a_pareto_front(tools: ToolRunner) -> None:
    dataset = _dataset(tools.root)
    out = tools(TOOL, {"action": "optimize", "study_name": "moo", "space": SPACE, "n_trials": 4, "sampler": "nsga2",
                       "objective": _logreg(dataset, metrics=["roc_auc", "neg_log_loss"]), "plots": True})
    assert out.study.directions == ["maximize", "maximize"] and out.study.metrics == ["roc_auc", "neg_log_loss"]
    assert out.study.pareto_front and set(out.study.pareto_front[0].values) == {"roc_auc", "neg_log_loss"}
    assert len(_children(tools, out.mlflow.parent_run_id)) == 4


def _write_user_objective(root: Path) -> None:
    (root / "my_objective.py").write_text(
        "def objective(params, report):\n"
        "    x = params['x']\n"
        "    for step in range(1, 4):\n"
        "        report(-(x - 1.0) ** 2 * step / 3, step)\n"
        "    return -(x - 1.0) ** 2 + (0.5 if params.get('bonus') == 'yes' else 0.0)\n"
    )


def test_callable_objective_with_pruning(tools: ToolRunner) -> None:
    _write_user_objective(tools.root)
    space = [{"type": "float", "name": "x", "low": -3, "high": 3, "step": 0.5},
             {"type": "categorical", "name": "bonus", "choices": ["yes", "no"]}]
    out = tools(TOOL, {"action": "optimize", "study_name": "user", "space": space, "n_trials": 6, "pruner": "median",
                       "objective": {"kind": "callable", "function": "my_objective:objective", "metric_names": ["score"]},
                       "log_to_mlflow": False, "plots": False})
    assert out.study.finished == 6 and out.study.metrics == ["score"]
    best = out.study.best
    assert best.values["score"] == pytest.approx(-(best.params["x"] - 1.0) ** 2 + (0.5 if best.params["bonus"] == "yes" else 0.0))


def test_budget_is_one_count_query_per_check_however_large_the_study(tools: ToolRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared budget reads counts from the storage in one query; it used to list every trial of the study for each trial."""
    import traceback

    import optuna
    from optuna.storages import RDBStorage
    from optuna.trial import TrialState, create_trial

    from mlops_engineer.engines.tuning import optuna_study as engine

    _write_user_objective(tools.root)
    target = engine.resolve_storage(tools.ctx.workspace, None)
    with engine.storage_session(target) as storage:
        study = optuna.create_study(storage=storage, study_name="big", direction="maximize")
        dist = {"x": optuna.distributions.FloatDistribution(-3, 3), "bonus": optuna.distributions.CategoricalDistribution(["yes", "no"])}
        for i in range(150):
            state = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)[i % 3]
            study.add_trial(create_trial(state=state, value=0.0 if state == TrialState.COMPLETE else None,
                                         params={"x": 0.0, "bonus": "no"}, distributions=dist))
        first, second = study.ask(), study.ask()  # two RUNNING trials, as two workers would hold
        study_id = storage.get_study_id_from_name("big")
        counts = engine.trial_counts(storage, study_id, second.number)
        assert counts == engine.TrialCounts(finished=100, running=2, running_before=1)
        assert counts.finished == len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)))
        for trial in (first, second):
            study.tell(trial, state=TrialState.FAIL)

    listings: list[str] = []
    real = RDBStorage._get_trials

    def spy(self: RDBStorage, study_id: int, states: Any, *args: Any, **kwargs: Any) -> Any:
        # Who listed: the last frame of our engine, and what it called (Optuna's sampler listing is not ours).
        # Listing only the RUNNING trials (to reclaim dead workers' slots) is O(workers), not O(study).
        stack = traceback.extract_stack()
        ours = [i for i, f in enumerate(stack) if f.filename.endswith("optuna_study.py")]
        if ours and tuple(states or ()) != (TrialState.RUNNING,):
            listings.append(f"{stack[ours[-1]].name} -> {stack[ours[-1] + 1].name}")
        return real(self, study_id, states, *args, **kwargs)

    monkeypatch.setattr(RDBStorage, "_get_trials", spy)
    out = tools(TOOL, {"action": "optimize", "study_name": "big", "space": [{"type": "float", "name": "x", "low": -3, "high": 3},
                       {"type": "categorical", "name": "bonus", "choices": ["yes", "no"]}], "n_trials": 106, "pruner": "none",
                       "objective": {"kind": "callable", "function": "my_objective:objective"}, "log_to_mlflow": False, "plots": False})
    assert out.study.finished == 106 and out.study.new_trials == 6
    assert not [call for call in listings if call.endswith("get_trials")], sorted(set(listings))


def test_cancel_stops_the_study_and_keeps_finished_trials(tools: ToolRunner) -> None:
    dataset = _dataset(tools.root)
    op = {"action": "optimize", "study_name": "cancel-me", "space": SPACE, "objective": _logreg(dataset), "n_trials": 10, "plots": False}

    def cancel_after_two(done: float, total: float | None, message: str | None) -> None:
        tools.progress.append((done, total, message))
        if message and message.startswith("trial ") and done >= 2:
            tools.ctx.cancelled.set()

    tools.ctx.on_progress = cancel_after_two
    with pytest.raises(ToolError) as caught:
        tools(TOOL, op)
    assert caught.value.code == "cancelled" and "finished trials are kept" in caught.value.message
    tools.ctx.cancelled.clear()
    status = tools(TOOL, {"action": "status", "study_name": "cancel-me"})
    assert status.study.finished == 2
    logged = [r for r in status.trials.rows if r["mlflow_run_id"]]
    assert len(logged) == 2  # the finished trials are in MLflow too
    resumed = tools(TOOL, {**op, "n_trials": 3})
    assert resumed.study.new_trials == 1 and resumed.mlflow.logged_trials == 3


def test_render_script_is_reproducible_and_runs(tools: ToolRunner) -> None:
    dataset = _dataset(tools.root)
    op = {"action": "render_script", "study_name": "scripted", "space": GBM_SPACE,
          "objective": {"kind": "estimator", "estimator": "hist_gradient_boosting", "dataset": dataset, "target": "label", "fixed_params": {"max_iter": 10}},
          "n_trials": 2}
    planned = tools(TOOL, op, dry_run=True)
    assert [f.action for f in planned.files] == ["create"] and not (tools.root / "mlops/tuning/scripted.py").exists()
    out = tools(TOOL, op)
    assert [f.path for f in out.files] == ["mlops/tuning/scripted.py"]
    assert tools(TOOL, op).files[0].action == "unchanged"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    result = subprocess.run([sys.executable, "mlops/tuning/scripted.py"], cwd=tools.root, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "best roc_auc=" in result.stdout
    status = tools(TOOL, {"action": "status", "study_name": "scripted"})
    assert status.study.finished == 2


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"space": [{"type": "float", "name": "C", "low": 1.0, "high": 1.0}]}, "empty range"),
        ({"space": [{"type": "int", "name": "n", "low": 5, "high": 2}]}, "empty range"),
        ({"space": [{"type": "float", "name": "C", "low": 0.0, "high": 1.0, "log": True}]}, "log scale needs low > 0"),
        ({"space": [{"type": "float", "name": "C", "low": 0.1, "high": 1.0}, {"type": "float", "name": "C", "low": 0.1, "high": 2.0}]}, "defined twice"),
        ({"space": [{"type": "float", "name": "C", "low": 0.1, "high": 1.0, "when": {"penalty": ["l1"]}}]}, "not defined before it"),
        ({"objective": {"kind": "estimator", "estimator": "svm", "dataset": "data/train.csv", "target": "label"}}, "hist_gradient_boosting"),
    ],
)
def test_invalid_spec_is_refused_before_anything_runs(tools: ToolRunner, change: dict[str, Any], words: str) -> None:
    dataset = _dataset(tools.root)
    op = {"action": "optimize", "study_name": "bad", "space": SPACE, "objective": _logreg(dataset), "n_trials": 2, **change}
    with pytest.raises(ToolError) as caught:
        tools(TOOL, op)
    assert caught.value.code == "invalid_input" and words in caught.value.message, caught.value.message
    assert not (tools.root / ".mlops/optuna.db").exists()


def test_missing_target_column_and_unknown_param(tools: ToolRunner) -> None:
    dataset = _dataset(tools.root)
    base = {"action": "optimize", "study_name": "bad", "space": SPACE, "n_trials": 2}
    with pytest.raises(ToolError) as caught:
        tools(TOOL, {**base, "objective": {**_logreg(dataset), "target": "churned"}})
    assert caught.value.code == "invalid_input" and "no target column 'churned'" in caught.value.message
    with pytest.raises(ToolError) as caught:
        tools(TOOL, {**base, "space": [{"type": "int", "name": "max_leaf_nodes", "low": 2, "high": 8}], "objective": _logreg(dataset)})
    assert caught.value.code == "invalid_input" and "max_leaf_nodes" in caught.value.message


def test_callable_that_does_not_import(tools: ToolRunner) -> None:
    (tools.root / "broken.py").write_text("import not_a_real_module_xyz\n\ndef objective(params):\n    return 0.0\n")
    base = {"action": "optimize", "study_name": "bad", "space": SPACE, "n_trials": 2, "log_to_mlflow": False}
    for function, words in (("broken:objective", "does not import: ModuleNotFoundError"), ("missing_module:objective", "not a module in the workspace"),
                            ("my_objective:nothing_here", "has no function 'nothing_here'")):
        _write_user_objective(tools.root)
        with pytest.raises(ToolError) as caught:
            tools(TOOL, {**base, "objective": {"kind": "callable", "function": function}})
        assert caught.value.code == "invalid_input" and words in caught.value.message, caught.value.message


@pytest.mark.parametrize("body", ["import sys\n    sys.exit(3)", "raise KeyboardInterrupt", "exit()"])
def test_an_objective_that_exits_fails_the_call_not_the_server(tmp_path: Path, body: str) -> None:
    tools = ToolRunner(tmp_path)
    (tools.root / "quitter.py").write_text(f"def objective(params):\n    {body}\n")
    with pytest.raises(ToolError) as caught:
        tools(TOOL, {"action": "optimize", "study_name": "quits", "space": SPACE, "n_trials": 5, "log_to_mlflow": False, "plots": False,
                     "objective": {"kind": "callable", "function": "quitter:objective"}})
    assert caught.value.code == "invalid_input" and "must not call sys.exit()" in caught.value.hint, caught.value
    status = tools(TOOL, {"action": "status", "study_name": "quits"})
    assert status.study.finished == 0 and status.study.failed == 1  # stopped at the first trial


@pytest.mark.parametrize("function", ["sys:exit", "builtins:exit", "os:system", "json:dumps", "link_out:objective", "exits_on_import:objective"])
def test_callables_must_be_workspace_modules(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, function: str) -> None:
    tools = ToolRunner(tmp_path)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "link_out.py").write_text("def objective(params):\n    return 1.0\n")
    (tools.root / "link_out.py").symlink_to(outside / "link_out.py")
    (tools.root / "json.py").write_text("def dumps(params):\n    return 1.0\n")  # would shadow the server's json
    (tools.root / "exits_on_import.py").write_text("import sys\nsys.exit(1)\n")
    with pytest.raises(ToolError) as caught:
        tools(TOOL, {"action": "optimize", "study_name": "ext", "space": SPACE, "n_trials": 1, "log_to_mlflow": False,
                     "objective": {"kind": "callable", "function": function}})
    assert caught.value.code in ("invalid_input", "outside_workspace"), caught.value
    assert json.dumps({}) == "{}" and not str(sys.modules["json"].__file__).startswith(str(tmp_path))  # the server's json


def test_external_callables_need_the_setting(tmp_path: Path) -> None:
    from mlops_engineer.settings import Settings

    tools = ToolRunner(tmp_path)
    op = {"action": "optimize", "study_name": "ext", "space": [{"type": "float", "name": "x", "low": 0, "high": 1}], "n_trials": 1,
          "log_to_mlflow": False, "plots": False, "objective": {"kind": "callable", "function": "math:fabs"}}
    with pytest.raises(ToolError) as refused:
        tools(TOOL, op)
    assert "allow_external_callables" in refused.value.hint
    tools.ctx.settings = Settings(workspace=tmp_path, allow_external_callables=True)
    try:  # imported now: math.fabs({"x": ...}) fails the trial, not the import
        out = tools(TOOL, op)
        assert out.study.failures >= 1 if hasattr(out.study, "failures") else True
    except ToolError as error:
        assert "allow_external_callables" not in error.hint and "not a module" not in error.message


# --- distributed: PostgreSQL workers, Ray ---------------------------------------------------------

WORKER_OBJECTIVE = """
import os, time

HERE = os.path.dirname(__file__)


def objective(params):
    # A barrier: no trial finishes before both workers hold one, however unequal their start-up.
    with open(os.path.join(HERE, "started.log"), "a") as log:
        log.write(f"{os.getpid()}\\n")
    deadline = time.time() + 240
    while len(set(open(os.path.join(HERE, "started.log")).read().split())) < 2 and time.time() < deadline:
        time.sleep(0.2)
    with open(os.path.join(HERE, "ran.log"), "a") as log:
        log.write(f"{os.getpid()} {params['x']}\\n")
    time.sleep(0.2)
    return -(params["x"] - 0.5) ** 2
"""


@pytest.mark.server
def test_two_workers_share_one_postgres_study(tmp_path: Path, postgres_server: Any) -> None:
    dsn = postgres_server.create_database(f"optuna_{tmp_path.name.replace('-', '_')[:40]}")
    (tmp_path / "worker_objective.py").write_text(WORKER_OBJECTIVE)
    n_trials = 8
    payload = {"operation": {"action": "optimize", "study_name": "shared", "storage": dsn, "n_trials": n_trials, "sampler": "random",
                             "space": [{"type": "float", "name": "x", "low": 0, "high": 1}], "plots": False, "log_to_mlflow": False,
                             "objective": {"kind": "callable", "function": "worker_objective:objective"}}}
    (tmp_path / "input.json").write_text(json.dumps(payload))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_ENGINEER_"))}
    argv = [sys.executable, "-m", "mlops_engineer", "--workspace", str(tmp_path), "call", "setup_automl_pipeline", "--input", "@input.json"]
    workers = [subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stdout[-2000:] + stderr[-2000:]  # a ToolError is printed on stdout
        outputs.append(json.loads(stdout))
    # Together they finished exactly N trials; each ran some; no trial was run twice.
    assert [o["study"]["finished"] for o in outputs] == [n_trials, n_trials]
    assert sum(o["study"]["new_trials"] for o in outputs) == n_trials
    ran = (tmp_path / "ran.log").read_text().splitlines()
    assert len(ran) == n_trials
    assert len({line.split()[0] for line in ran}) == 2, "both workers ran trials"
    import optuna

    study = optuna.load_study(study_name="shared", storage=dsn)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == n_trials and len({t.number for t in complete}) == n_trials
    assert sorted(round(t.params["x"], 12) for t in complete) == sorted(round(float(line.split()[1]), 12) for line in ran)


@pytest.fixture
def ray_temp(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A short temp dir for a local Ray, so its processes can be told apart from anyone else's."""
    folder = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    monkeypatch.setenv("MLOPS_ENGINEER_RAY_TEMP_DIR", str(folder))
    yield folder
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def test_ray_tune_local_asha_logs_trials_and_leaves_no_ray_process(tools: ToolRunner, ray_temp: Path) -> None:
    dataset = _dataset(tools.root)
    op = {"action": "ray_tune", "study_name": "ray-local", "space": SPACE, "objective": _logreg(dataset), "n_trials": 3,
          "max_concurrent": 2, "num_cpus": 2}
    out = tools(TOOL, op)
    assert out.study.backend == "ray" and out.study.finished == 3 and out.ray_nodes == 1
    assert out.study.best is not None and out.study.best.mlflow_run_id
    assert len(_children(tools, out.mlflow.parent_run_id)) == 3
    assert [p[0] for p in tools.progress if p[2] and p[2].startswith("ray trial")] == [1, 2, 3]
    assert ray_daemons(str(ray_temp)) == [], "the local Ray was shut down with the call"
    again = tools(TOOL, op)  # the same spec: answered from its record, nothing runs
    assert again.study.new_trials == 0 and again.study.finished == 3
    assert len(_children(tools, again.mlflow.parent_run_id)) == 3


@pytest.mark.server
def test_ray_tune_on_a_two_node_cluster(tools: ToolRunner, ray_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ray_cluster.env().items():
        monkeypatch.setenv(key, value)
    dataset = _dataset(tools.root)
    before = set(ray_cluster.daemon_pids())
    out = tools(TOOL, {"action": "ray_tune", "study_name": "ray-cluster", "space": SPACE, "objective": _logreg(dataset),
                       "n_trials": 2, "max_concurrent": 2, "ray_address": ray_cluster.address})
    assert out.ray_nodes == 2 and out.study.finished == 2
    assert len(_children(tools, out.mlflow.parent_run_id)) == 2
    assert set(ray_cluster.daemon_pids()) == before, "the call neither started nor stopped cluster daemons"


def test_ray_address_that_does_not_answer(tools: ToolRunner) -> None:
    from tests.fixtures.ports import free_port

    dataset = _dataset(tools.root)
    with pytest.raises(ToolError) as caught:
        tools(TOOL, {"action": "ray_tune", "study_name": "nowhere", "space": SPACE, "objective": _logreg(dataset), "n_trials": 2,
                     "ray_address": f"127.0.0.1:{free_port()}"})
    assert caught.value.code == "backend_unreachable" and "ray start --head" in caught.value.hint
