"""register_ml_model against the embedded store and a real MLflow server."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.register_ml_model import TOOL as REGISTER
from mlops_engineer.tools.track_ml_experiments import TOOL as TRACK
from tests.helpers import ToolRunner
from tests.integration.conftest import write_training_files


@pytest.fixture
def runs(tools: ToolRunner, tmp_path: Path) -> list[str]:
    """Three runs with logged models and AUCs 0.80, 0.83, 0.90."""
    run_ids = []
    for seed, auc in enumerate((0.80, 0.83, 0.90)):
        files = write_training_files(tmp_path, seed=seed)
        out = tools(TRACK, {
            "action": "log_run", "experiment": tools.unique("reg"), "run_name": f"m{seed}",
            "params": {"seed": seed}, "metrics": {"auc": auc},
            "datasets": [{"path": files["train"], "targets": "label"}],
            "model": {"path": files["model"], "input_example": files["sample"]},
        })
        run_ids.append(out.run.run_id)
    return run_ids


def _reg(tools: ToolRunner, action: str, dry_run: bool = False, confirm: bool = False, **fields: object):  # noqa: ANN202
    return tools(REGISTER, {"action": action, "name": tools.unique("churn"), **fields}, dry_run=dry_run, confirm=confirm)


def _approve(tools: ToolRunner, version: str) -> None:
    _reg(tools, "request_approval", version=version, requested_by="alice")
    _reg(tools, "review", version=version, decision="approve", approver="bob", reason="metrics checked")


def _code(call) -> str:  # noqa: ANN001
    with pytest.raises(ToolError) as error:
        call()
    return error.value.code


def test_register_is_idempotent(tools: ToolRunner, runs: list[str], mlflow_client) -> None:  # noqa: ANN001
    first = _reg(tools, "register", run_id=runs[0])
    again = _reg(tools, "register", run_id=runs[0])
    assert first.version.created and not again.version.created
    assert first.version.version == again.version.version == "1"
    second = _reg(tools, "register", run_id=runs[1])
    assert second.version.version == "2"
    assert len(mlflow_client.search_model_versions(f"name = '{tools.unique('churn')}'")) == 2
    plan = _reg(tools, "register", run_id=runs[0], dry_run=True)
    assert plan.planned_calls == ["already registered as version 1"]


def test_register_unknown_run_creates_nothing(tools: ToolRunner, mlflow_client) -> None:  # noqa: ANN001
    assert _code(lambda: _reg(tools, "register", run_id="0" * 32)) == "not_found"
    assert not mlflow_client.search_registered_models(f"name = '{tools.unique('churn')}'")


def test_approval_workflow_gates_promotion(tools: ToolRunner, runs: list[str], mlflow_client) -> None:  # noqa: ANN001
    version = _reg(tools, "register", run_id=runs[0]).version.version
    assert _code(lambda: _reg(tools, "promote", version=version, metric="auc")) == "conflict"
    assert _code(lambda: _reg(tools, "review", version=version, decision="approve", approver="bob", reason="x")) == "conflict"

    pending = _reg(tools, "request_approval", version=version, requested_by="alice", note="first model")
    assert pending.version.approval == "pending"
    rejected = _reg(tools, "review", version=version, decision="reject", approver="bob", reason="needs calibration")
    assert rejected.version.approval == "rejected"
    assert _code(lambda: _reg(tools, "promote", version=version, metric="auc")) == "conflict"

    _reg(tools, "review", version=version, decision="approve", approver="bob", reason="calibrated")
    tags = mlflow_client.get_model_version(tools.unique("churn"), version).tags
    assert tags["approval.status"] == "approved" and tags["approval.approver"] == "bob"
    assert tags["approval.reason"] == "calibrated" and tags["approval.requested_by"] == "alice"

    promoted = _reg(tools, "promote", version=version, metric="auc")
    assert promoted.promoted and promoted.gate.reason == "no current champion"
    assert promoted.aliases == {"champion": version}


def test_validation_gate_compares_with_champion(tools: ToolRunner, runs: list[str]) -> None:
    versions = [_reg(tools, "register", run_id=r).version.version for r in runs]  # auc .80 .83 .90
    for version in versions:
        _approve(tools, version)
    _reg(tools, "promote", version=versions[1], metric="auc")  # champion: .83

    worse = _reg(tools, "promote", version=versions[0], metric="auc")
    assert not worse.promoted and not worse.gate.passed
    assert worse.gate.champion_value == pytest.approx(0.83) and worse.gate.candidate_value == pytest.approx(0.80)
    assert worse.aliases["champion"] == versions[1]

    too_small = _reg(tools, "promote", version=versions[2], metric="auc", min_improvement=0.1)
    assert not too_small.promoted and too_small.gate.improvement == pytest.approx(0.07)

    assert _reg(tools, "promote", version=versions[2], metric="auc", min_improvement=0.05, dry_run=True).aliases == {"champion": versions[1]}
    better = _reg(tools, "promote", version=versions[2], metric="auc", min_improvement=0.05)
    assert better.promoted and better.aliases == {"champion": versions[2], "previous": versions[1]}

    repeat = _reg(tools, "promote", version=versions[2], metric="auc", min_improvement=0.05)
    assert not repeat.promoted and repeat.aliases == better.aliases  # idempotent

    lower_is_better = _reg(tools, "promote", version=versions[0], metric="auc", goal="minimize")
    assert lower_is_better.promoted
    assert _code(lambda: _reg(tools, "promote", version=versions[1], metric="nope")) == "invalid_input"


def test_aliases_and_destructive_actions_need_confirm(tools: ToolRunner, runs: list[str], mlflow_client) -> None:  # noqa: ANN001
    version = _reg(tools, "register", run_id=runs[0]).version.version
    assert _reg(tools, "set_alias", alias="challenger", version=version).aliases == {"challenger": version}
    assert _code(lambda: _reg(tools, "delete_alias", alias="challenger")) == "needs_confirm"
    assert _reg(tools, "delete_alias", alias="challenger", confirm=True).aliases == {}

    assert _code(lambda: _reg(tools, "delete_version", version=version)) == "needs_confirm"
    assert _reg(tools, "delete_version", version=version, dry_run=True).planned_calls
    assert mlflow_client.get_model_version(tools.unique("churn"), version)
    _reg(tools, "delete_version", version=version, confirm=True)
    assert _code(lambda: _reg(tools, "describe")) == "not_found"


def test_stage_transitions(tools: ToolRunner, runs: list[str]) -> None:
    version = _reg(tools, "register", run_id=runs[0]).version.version
    assert _reg(tools, "transition_stage", version=version, stage="Staging").version.stage == "Staging"
    assert _code(lambda: _reg(tools, "transition_stage", version=version, stage="Production")) == "conflict"
    _approve(tools, version)
    assert _reg(tools, "transition_stage", version=version, stage="Production").version.stage == "Production"
    assert _code(lambda: _reg(tools, "transition_stage", version=version, stage="Archived")) == "needs_confirm"
    assert _reg(tools, "transition_stage", version=version, stage="Archived", confirm=True).version.stage == "Archived"


def test_model_card(tools: ToolRunner, runs: list[str], tmp_path: Path) -> None:
    version = _reg(tools, "register", run_id=runs[2]).version.version
    out = _reg(tools, "model_card", version=version)
    card = tmp_path / out.files[0].path
    text = card.read_text()
    assert f"# Model card: {tools.unique('churn')} v{version}" in text
    assert "| auc | 0.9 |" in text and "| seed | 2 |" in text and "train.csv" in text
    assert "'a': double" in text  # signature from the input example
    assert _reg(tools, "model_card", version=version).files[0].action == "unchanged"
    card.write_text(text.replace("fill in — known failure modes", "Fails on new regions."))
    assert _code(lambda: _reg(tools, "model_card", version=version)) == "needs_confirm"
    assert "Fails on new regions." in card.read_text()


def test_describe_lists_versions(tools: ToolRunner, runs: list[str]) -> None:
    for run_id in runs:
        _reg(tools, "register", run_id=run_id)
    _reg(tools, "set_alias", alias="champion", version="3")
    described = _reg(tools, "describe")
    assert [v.version for v in described.versions] == ["3", "2", "1"]
    assert described.aliases == {"champion": "3"} and described.versions[0].aliases == ["champion"]


def test_bad_versions_are_rejected_before_any_call(tools: ToolRunner) -> None:
    assert _code(lambda: _reg(tools, "set_alias", alias="champion", version="0")) == "invalid_input"
    assert _code(lambda: _reg(tools, "set_alias", alias="bad alias!", version="1")) == "invalid_input"
    assert _code(lambda: _reg(tools, "set_alias", alias="champion", version="7")) == "not_found"


def test_version_registered_by_hand_is_found_not_duplicated(tools: ToolRunner, runs: list[str], mlflow_client) -> None:  # noqa: ANN001
    from mlops_engineer.engines.mlflow.backend import fluent, resolve_target

    with fluent(resolve_target(tools.ctx.workspace, tools.settings, tools.tracking_uri)) as mlflow:
        by_hand = mlflow.register_model(f"runs:/{runs[0]}/model", tools.unique("churn"))
    out = _reg(tools, "register", run_id=runs[0])
    assert not out.version.created and out.version.version == str(by_hand.version)


def test_archive_existing_moves_the_old_production_version(tools: ToolRunner, runs: list[str]) -> None:
    first, second = (_reg(tools, "register", run_id=r).version.version for r in runs[:2])
    for version in (first, second):
        _approve(tools, version)
    _reg(tools, "transition_stage", version=first, stage="Production")
    assert _code(lambda: _reg(tools, "transition_stage", version=second, stage="Production", archive_existing=True)) == "needs_confirm"
    moved = _reg(tools, "transition_stage", version=second, stage="Production", archive_existing=True, confirm=True)
    assert moved.version.stage == "Production" and f"archived version {first}" in moved.planned_calls
    assert {v.version: v.stage for v in _reg(tools, "describe").versions}[first] == "Archived"
