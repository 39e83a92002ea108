"""track_ml_experiments against the embedded store and a real MLflow server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.track_ml_experiments import TOOL as TRACK
from tests.helpers import ToolRunner
from tests.integration.conftest import write_training_files


def _log(tools: ToolRunner, dry_run: bool = False, **fields: object):  # noqa: ANN202
    return tools(TRACK, {"action": "log_run", "experiment": tools.unique("churn"), **fields}, dry_run=dry_run)


def test_setup_renders_team_stack_and_respects_user_edits(tools: ToolRunner, tmp_path: Path) -> None:
    first = tools(TRACK, {"action": "setup", "experiment": tools.unique("churn")})
    paths = {f.path for f in first.files}
    assert {"mlops/tracking/docker-compose.yml", "mlops/tracking/autolog_sklearn.py"} <= paths
    assert all(f.action == "create" for f in first.files)
    assert first.experiment.name == tools.unique("churn") and first.experiment.created

    again = tools(TRACK, {"action": "setup", "experiment": tools.unique("churn")})
    assert all(f.action == "unchanged" for f in again.files)
    assert not again.experiment.created

    compose = tmp_path / "mlops/tracking/docker-compose.yml"
    compose.write_text(compose.read_text() + "# my change\n")
    with pytest.raises(ToolError) as refused:
        tools(TRACK, {"action": "setup", "experiment": tools.unique("churn")})
    assert refused.value.code == "needs_confirm"
    assert compose.read_text().endswith("# my change\n")  # nothing was touched

    plan = tools(TRACK, {"action": "setup", "experiment": tools.unique("churn")}, dry_run=True)
    edited = next(f for f in plan.files if f.path.endswith("docker-compose.yml"))
    assert edited.action == "overwrite" and "-# my change" in edited.diff
    tools(TRACK, {"action": "setup", "experiment": tools.unique("churn")}, confirm=True)
    assert not compose.read_text().endswith("# my change\n")


def test_rendered_compose_and_snippets_are_valid(tools: ToolRunner, tmp_path: Path) -> None:
    import yaml

    tools(TRACK, {"action": "setup", "experiment": tools.unique("churn"), "mlflow_port": 5555})
    stack = yaml.safe_load((tmp_path / "mlops/tracking/docker-compose.yml").read_text())
    assert set(stack["services"]) == {"postgres", "minio", "create-bucket", "mlflow"}
    assert "127.0.0.1:5555:5000" in stack["services"]["mlflow"]["ports"]
    for framework in ("sklearn", "xgboost", "pytorch"):
        source = (tmp_path / f"mlops/tracking/autolog_{framework}.py").read_text()
        compile(source, framework, "exec")


def test_create_experiment_is_idempotent(tools: ToolRunner) -> None:
    first = tools(TRACK, {"action": "create_experiment", "name": tools.unique("exp-a"), "tags": {"team": "risk"}})
    second = tools(TRACK, {"action": "create_experiment", "name": tools.unique("exp-a"), "tags": {"team": "risk"}})
    assert first.experiment.created and not second.experiment.created
    assert first.experiment.experiment_id == second.experiment.experiment_id


def test_log_run_logs_everything_once(tools: ToolRunner, tmp_path: Path, mlflow_client) -> None:  # noqa: ANN001
    files = write_training_files(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/confusion.txt").write_text("tp fp\nfn tn\n")
    (tmp_path / "notes.md").write_text("baseline\n")
    fields = {
        "run_name": "baseline",
        "params": {"C": 1.0, "penalty": "l2", "balanced": True},
        "metrics": {"accuracy": 0.91, "loss": [{"value": 0.7, "step": 0}, {"value": 0.4, "step": 1}, {"value": 0.3, "step": 2}]},
        "tags": {"owner": "ds-team"},
        "artifacts": ["notes.md", "reports"],
        "datasets": [{"path": files["train"], "targets": "label", "context": "training"}],
        "model": {"path": files["model"], "input_example": files["sample"]},
    }
    out = _log(tools, **fields)
    run = out.run
    assert run.created and run.status == "FINISHED" and run.model_uri == f"runs:/{run.run_id}/model"
    assert tools.progress and tools.progress[-1][0] == tools.progress[-1][1]

    logged = mlflow_client.get_run(run.run_id)
    assert logged.data.params == {"C": "1.0", "penalty": "l2", "balanced": "True"}
    assert logged.data.tags["owner"] == "ds-team"
    assert [(m.step, m.value) for m in mlflow_client.get_metric_history(run.run_id, "loss")] == [(0, 0.7), (1, 0.4), (2, 0.3)]
    artifacts = {a.path for a in mlflow_client.list_artifacts(run.run_id)}
    assert {"notes.md", "reports"} <= artifacts
    assert logged.inputs.dataset_inputs[0].dataset.name == "train.csv"

    import mlflow.pyfunc
    import pandas as pd

    from mlops_engineer.engines.mlflow.backend import fluent, resolve_target

    with fluent(resolve_target(tools.ctx.workspace, tools.settings, tools.tracking_uri)):
        model = mlflow.pyfunc.load_model(run.model_uri)
        predictions = model.predict(pd.read_csv(tmp_path / files["sample"]))
    assert len(predictions) == 5
    assert model.metadata.signature is not None

    again = _log(tools, **fields)
    assert not again.run.created and again.run.run_id == run.run_id
    experiment = mlflow_client.get_experiment_by_name(tools.unique("churn"))
    assert len(mlflow_client.search_runs([experiment.experiment_id])) == 1

    (tmp_path / "notes.md").write_text("changed\n")  # new artifact content = a new run
    assert _log(tools, **fields).run.created


def test_log_run_checks_files_before_creating_anything(tools: ToolRunner, mlflow_client) -> None:  # noqa: ANN001
    with pytest.raises(ToolError) as missing:
        _log(tools, metrics={"a": 1.0}, artifacts=["does-not-exist.txt"])
    assert missing.value.code == "not_found"
    with pytest.raises(ToolError) as escaping:
        _log(tools, metrics={"a": 1.0}, artifacts=["../../etc/passwd"])
    assert escaping.value.code == "outside_workspace"
    experiment = mlflow_client.get_experiment_by_name(tools.unique("churn"))
    assert experiment is None or not mlflow_client.search_runs([experiment.experiment_id])


def test_log_run_dry_run_changes_nothing(tools: ToolRunner, mlflow_client) -> None:  # noqa: ANN001
    out = _log(tools, params={"x": 1}, metrics={"m": 1.0}, dry_run=True)
    assert out.dry_run and out.run is None
    assert any("create run" in call for call in out.planned_calls)
    assert mlflow_client.get_experiment_by_name(tools.unique("churn")) is None


def test_compare_runs_best_diff_history_and_csv(tools: ToolRunner) -> None:
    for i in range(25):
        _log(tools, run_name=f"r{i}", params={"lr": 0.01 * (i + 1), "depth": 3},
             metrics={"auc": 0.5 + i / 100, "loss": [{"value": 1.0 / (s + 1 + i), "step": s} for s in range(3)]})
    out = tools(TRACK, {"action": "compare_runs", "experiment": tools.unique("churn"), "metric": "auc", "history": ["loss"]})
    comparison = out.comparison
    assert comparison.best.run_name == "r24" and comparison.best.value == pytest.approx(0.74)
    assert "lr" in comparison.differing_params and "depth" not in comparison.differing_params
    assert [p["step"] for p in comparison.history["loss"].rows] == [0, 1, 2]
    assert comparison.runs.total_rows == 25 and len(comparison.runs.rows) == 20
    csv_path = tools.root / comparison.runs.full_result_path
    assert len(csv_path.read_text().strip().splitlines()) == 26

    lowest = tools(TRACK, {"action": "compare_runs", "experiment": tools.unique("churn"), "metric": "auc", "goal": "minimize"})
    assert lowest.comparison.best.run_name == "r0"
    filtered = tools(TRACK, {"action": "compare_runs", "experiment": tools.unique("churn"), "filter": "params.lr = '0.05'"})
    assert filtered.comparison.runs.total_rows == 1


def test_compare_unknown_experiment_is_not_found(tools: ToolRunner) -> None:
    with pytest.raises(ToolError) as error:
        tools(TRACK, {"action": "compare_runs", "experiment": "nope"})
    assert error.value.code == "not_found"


def test_unreachable_server_fails_fast(tmp_path: Path) -> None:
    from tests.fixtures.ports import free_port

    tools = ToolRunner(tmp_path, f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(ToolError) as error:
        tools(TRACK, {"action": "create_experiment", "name": "x"})
    assert error.value.code == "backend_unreachable"
    assert "mlflow server" in error.value.hint
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg2", "mysql"])
def test_unreachable_database_store_fails_fast(tmp_path: Path, scheme: str) -> None:
    """MLflow retries a dead database for about 100 s; the probe answers in a few."""
    from tests.fixtures.ports import free_port

    tools = ToolRunner(tmp_path, f"{scheme}://mlflow:PWSECRET@127.0.0.1:{free_port()}/mlflow")
    started = time.monotonic()
    with pytest.raises(ToolError) as error:
        tools(TRACK, {"action": "create_experiment", "name": "x"})
    assert error.value.code == "backend_unreachable" and "PWSECRET" not in str(error.value)
    assert time.monotonic() - started < 10


def test_password_in_tracking_uri_is_never_shown(tmp_path: Path) -> None:
    from tests.fixtures.ports import free_port

    tools = ToolRunner(tmp_path, f"http://user:s3cret@127.0.0.1:{free_port()}")
    with pytest.raises(ToolError) as error:
        tools(TRACK, {"action": "create_experiment", "name": "x"})
    assert "s3cret" not in str(error.value) and "***" in str(error.value)


def test_fluent_calls_leave_no_global_mlflow_state(tools: ToolRunner) -> None:
    import os

    import mlflow

    from mlops_engineer.engines.mlflow.backend import fluent, resolve_target

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri(), os.environ.get("MLFLOW_TRACKING_URI"))
    target = resolve_target(tools.ctx.workspace, tools.settings, tools.tracking_uri)
    with fluent(target) as inside:
        assert inside.get_tracking_uri() == target.tracking_uri
    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri(), os.environ.get("MLFLOW_TRACKING_URI")) == before


def test_long_comparisons_stay_small(tools: ToolRunner) -> None:
    curve = [{"value": 1.0 / (s + 1), "step": s} for s in range(500)]
    params = {f"p{k:02d}": "x" * 40 for k in range(60)}
    for i in range(22):
        _log(tools, run_name=f"r{i}", params={**params, **{f"p{k:02d}": f"{i}-{k}" for k in range(60)}},
             metrics={"auc": i / 100, "loss": curve})
    out = tools(TRACK, {"action": "compare_runs", "experiment": tools.unique("churn"), "metric": "auc", "history": ["loss"]})
    assert len(out.model_dump_json()) < 80_000  # ~20k tokens
    loss = out.comparison.history["loss"]
    assert loss.total_rows == 500 and len(loss.rows) == 100
    assert len((tools.root / loss.full_result_path).read_text().splitlines()) == 501
    assert len(out.comparison.differing_params) == 30


def test_setup_against_a_dead_server_writes_nothing(tmp_path: Path) -> None:
    from tests.fixtures.ports import free_port

    tools = ToolRunner(tmp_path, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ToolError) as error:
        tools(TRACK, {"action": "setup", "experiment": "x"})
    assert error.value.code == "backend_unreachable"
    assert not (tmp_path / "mlops").exists()


def _confined_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracking_uri: str | None) -> tuple[ToolRunner, Path]:
    """A workspace, and a different working folder for the server: nothing may land in the latter."""
    (tmp_path / "ws").mkdir()
    cwd = tmp_path / "server-cwd" / "deeper"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    return ToolRunner(tmp_path / "ws", tracking_uri), cwd


@pytest.mark.parametrize("uri", ["sqlite:////{tmp}/outside/evil.db", "sqlite:///../x.db", "sqlite:///%2E%2E/x.db",
                                 "file:///{tmp}/outside/mlruns", "file:../mlruns", "{tmp}/outside/mlruns", "../mlruns"])
def test_local_tracking_uri_outside_the_workspace_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    tools, cwd = _confined_runner(tmp_path, monkeypatch, uri.format(tmp=str(tmp_path).lstrip("/") if uri.startswith("sqlite") else tmp_path))
    with pytest.raises(ToolError) as error:
        tools(TRACK, {"action": "create_experiment", "name": "x"})
    assert error.value.code == "outside_workspace"
    created = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() and "ws" not in p.parts)
    assert created == []


def test_relative_sqlite_store_lives_in_the_workspace_with_its_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools, cwd = _confined_runner(tmp_path, monkeypatch, "sqlite:///stores/team.db")
    (tools.root / "notes.md").write_text("hi\n")
    experiment = tools(TRACK, {"action": "create_experiment", "name": "x"}).experiment
    assert (tools.root / "stores" / "team.db").is_file()
    assert experiment.artifact_location.startswith((tools.root / ".mlops").as_uri())
    for name in ("x", "Default"):  # the Default experiment too: MLflow would put it at <cwd>/mlruns/0
        run = tools(TRACK, {"action": "log_run", "experiment": name, "metrics": {"m": 1.0}, "artifacts": ["notes.md"]}).run
        assert run.artifact_uri.startswith((tools.root / ".mlops" / "mlartifacts").as_uri()), run.artifact_uri
    assert not list((tmp_path / "server-cwd").rglob("*.*")), "nothing is written to the server's working folder"


def test_embedded_default_experiment_keeps_artifacts_in_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools, cwd = _confined_runner(tmp_path, monkeypatch, None)
    (tools.root / "notes.md").write_text("hi\n")
    run = tools(TRACK, {"action": "log_run", "experiment": "Default", "metrics": {"m": 1.0}, "artifacts": ["notes.md"]}).run
    assert run.experiment_id == "0"
    assert run.artifact_uri.startswith((tools.root / ".mlops" / "mlartifacts").as_uri()), run.artifact_uri
    assert not (cwd / "mlruns").exists()


def test_log_run_refuses_an_experiment_whose_artifacts_are_outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    tools, cwd = _confined_runner(tmp_path, monkeypatch, "sqlite:///old.db")
    # A store made by plain MLflow elsewhere: its Default experiment points at <cwd>/mlruns/0.
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{tools.root / 'old.db'}").search_experiments()
    (tools.root / "notes.md").write_text("hi\n")
    with pytest.raises(ToolError) as error:
        tools(TRACK, {"action": "log_run", "experiment": "Default", "metrics": {"m": 1.0}, "artifacts": ["notes.md"]})
    assert error.value.code == "outside_workspace" and "Default" in error.value.message
    assert not (cwd / "mlruns").exists()
    assert mlflow.MlflowClient(tracking_uri=f"sqlite:///{tools.root / 'old.db'}").search_runs(["0"]) == []


@pytest.mark.parametrize("artifact", [".", ".mlops", ".dvc", "./sub/.."])
def test_log_run_refuses_artifacts_holding_the_store(tools: ToolRunner, mlflow_client, artifact: str) -> None:  # noqa: ANN001
    (tools.root / ".dvc").mkdir()
    (tools.root / ".dvc" / "config.local").write_text("['remote \"s3\"']\n    secret_access_key = PW\n")
    (tools.root / "sub").mkdir()
    (tools.root / ".mlops").mkdir(exist_ok=True)
    for dry_run in (True, False):
        with pytest.raises(ToolError) as error:
            _log(tools, dry_run=dry_run, metrics={"a": 1.0}, artifacts=[artifact])
        assert error.value.code == "invalid_input"
    experiment = mlflow_client.get_experiment_by_name(tools.unique("churn"))
    assert experiment is None or not mlflow_client.search_runs([experiment.experiment_id])
