"""The dvc.yaml engine (pure Python) and the remote URL checks, without DVC itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlops_engineer.engines.dvc.pipeline import (
    DvcStage,
    StageMetric,
    StageOut,
    StagePlot,
    dump_dvc_yaml,
    dump_params_yaml,
    render_dvc_yaml,
    validate_stages,
)
from mlops_engineer.engines.dvc.repo import parse_remote_url
from mlops_engineer.errors import ToolError
from mlops_engineer.workspace import Workspace


def _stage(name: str, **fields: object) -> DvcStage:
    return DvcStage(name=name, cmd=f"python {name}.py", **fields)


def _error(call) -> ToolError:  # noqa: ANN001
    with pytest.raises(ToolError) as error:
        call()
    return error.value


def test_renders_every_field_in_dvc_yaml_shape() -> None:
    stages = [
        _stage("train", deps=["data/train.csv", "train.py"], params=["train.lr"],
               outs=["models/model.pkl", StageOut(path="cache/feat", persist=True)],
               metrics=["metrics.json", StageMetric(path="big.json", cache=True)],
               plots=[StagePlot(path="roc.csv", x="fpr", y="tpr", template="simple")], desc="Fit"),
    ]
    assert render_dvc_yaml(stages) == {"stages": {"train": {
        "desc": "Fit", "cmd": "python train.py", "deps": ["data/train.csv", "train.py"], "params": ["train.lr"],
        "outs": ["models/model.pkl", {"cache/feat": {"persist": True}}],
        "metrics": [{"metrics.json": {"cache": False}}, "big.json"],
        "plots": [{"roc.csv": {"x": "fpr", "y": "tpr", "template": "simple", "cache": False}}],
    }}}
    assert yaml.safe_load(dump_dvc_yaml(stages)) == render_dvc_yaml(stages)
    assert yaml.safe_load(dump_params_yaml({"train": {"lr": 0.1}})) == {"train": {"lr": 0.1}}


def test_upstream_outputs_become_dependencies_and_order_follows_the_graph() -> None:
    stages = [
        _stage("evaluate", upstream=["train"], deps=["eval.py"], metrics=["metrics.json"]),
        _stage("train", deps=["data/clean.csv"], outs=["model.pkl"]),
        _stage("prepare", deps=["raw.csv"], outs=["data/clean.csv"]),
    ]
    assert validate_stages(stages, exists=lambda p: p in {"raw.csv", "eval.py"}) == ["prepare", "train", "evaluate"]
    assert render_dvc_yaml(stages)["stages"]["evaluate"]["deps"] == ["eval.py", "model.pkl"]


def test_wdir_is_written_on_every_stage_only_when_given() -> None:
    stages = [_stage("prepare", deps=["raw.csv"], outs=["data/clean.csv"]), _stage("train", upstream=["prepare"])]
    assert all("wdir" not in body for body in render_dvc_yaml(stages)["stages"].values())
    rendered = render_dvc_yaml(stages, wdir="../..")["stages"]
    assert [list(body)[0] for body in rendered.values()] == ["wdir", "wdir"]
    assert {body["wdir"] for body in rendered.values()} == {"../.."}


def test_a_dependency_inside_an_output_folder_is_produced_by_that_stage() -> None:
    stages = [_stage("split", outs=["data/split"]), _stage("train", deps=["data/split/train.csv"])]
    assert validate_stages(stages, exists=lambda p: False) == ["split", "train"]


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([_stage("a", deps=["b.out"], outs=["a.out"]), _stage("b", deps=["a.out"], outs=["b.out"])], "cycle: a -> b -> a"),
        ([_stage("a", deps=["a.out"], outs=["a.out"])], "cycle: a -> a"),
        ([_stage("a", upstream=["b"], outs=["a.out"]), _stage("b", upstream=["a"])], "cycle"),
        ([_stage("a", upstream=["nope"])], "unknown upstream stage 'nope'"),
        ([_stage("a", deps=["missing.csv"])], "depends on 'missing.csv', which does not exist"),
        ([_stage("a", outs=["x"]), _stage("b", outs=["x"])], "output of both stage 'a' and stage 'b'"),
        ([_stage("a"), _stage("a")], "unique"),
        ([_stage("a", params=["train.nope"])], "train.nope"),
        ([], "no stages"),
    ],
)
def test_bad_graphs_are_invalid_input(stages: list[DvcStage], message: str) -> None:
    error = _error(lambda: validate_stages(stages, exists=lambda p: False, params={"train": {"lr": 1}}))
    assert error.code == "invalid_input"
    assert message in error.message


@pytest.mark.parametrize("path", ["../outside.csv", "/etc/passwd", "data/../../x", "~/x"])
def test_paths_leaving_the_project_are_refused(path: str) -> None:
    error = _error(lambda: validate_stages([_stage("a", deps=[path])]))
    assert error.code == "outside_workspace"


def test_stage_names_and_commands_are_checked_by_the_model() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        DvcStage(name="bad name!", cmd="x")
    with pytest.raises(ValidationError):
        DvcStage(name="ok", cmd=["  "])


@pytest.mark.parametrize("url", ["ftp://host/path", "http://example.com/data", "hdfs://nn/x", "oss://b/x", "mailto:x"])
def test_unsupported_remote_schemes(tmp_path: Path, url: str) -> None:
    error = _error(lambda: parse_remote_url(url, Workspace(tmp_path)))
    assert error.code == "invalid_input"
    assert "s3://" in error.hint


def test_remote_urls(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert parse_remote_url("s3://bucket/dvc", ws).kind == "s3"
    assert parse_remote_url("gs://bucket/dvc", ws).kind == "gs"
    assert parse_remote_url("azure://container/dvc", ws).kind == "azure"
    assert parse_remote_url("ssh://me@host/srv/dvc", ws).kind == "ssh"
    local = parse_remote_url(".mlops/dvc-remote", ws)
    assert (local.kind, local.display, local.url) == ("local", ".mlops/dvc-remote", str(tmp_path.resolve() / ".mlops/dvc-remote"))
    assert _error(lambda: parse_remote_url("../elsewhere", ws)).code == "outside_workspace"
    assert _error(lambda: parse_remote_url("/tmp", ws)).code == "outside_workspace"
    leaked = _error(lambda: parse_remote_url("ssh://me:hunter2@host/x", ws))
    assert leaked.code == "invalid_input" and "hunter2" not in leaked.message
    assert _error(lambda: parse_remote_url("s3://", ws)).code == "invalid_input"
