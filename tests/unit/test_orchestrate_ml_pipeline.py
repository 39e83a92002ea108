"""orchestrate_ml_pipeline without Prefect running: spec checks, rendering, and the AST check of Airflow DAGs."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from mlops_engineer.engines.pipeline.checks import airflow_graph, check_airflow, check_prefect
from mlops_engineer.engines.pipeline.render import (
    expected_edges,
    flow_function,
    paths_for,
    render_pipeline,
)
from mlops_engineer.engines.pipeline.spec import (
    PipelineSpec,
    cron_problem,
    effective_upstream,
    topological_order,
)
from mlops_engineer.errors import ToolError
from mlops_engineer.tools.orchestrate_ml_pipeline import TOOL
from mlops_engineer.workspace import Workspace
from tests.helpers import ToolRunner


def _spec(stages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": "demo", "stages": stages, **extra}


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


GOOD = [
    {"name": "prepare", "command": "python prep.py", "outputs": ["data/raw.csv"]},
    {"name": "train", "command": "python train.py --lr 0.1", "inputs": ["data/raw.csv"], "outputs": ["models/m.joblib"], "retries": 2, "retry_delay_seconds": 3},
    {"name": "report", "command": "python report.py", "upstream": ["train", "prepare"], "timeout_seconds": 60},
]


# --------------------------------------------------------------------------- bad input, refused before any write

BAD_SPECS = [
    ("cycle", [{"name": "a", "command": "x", "upstream": ["b"]}, {"name": "b", "command": "y", "upstream": ["a"]}], "cycle: a -> b -> a"),
    ("cycle through files", [{"name": "a", "command": "x", "inputs": ["o/b"], "outputs": ["o/a"]},
                             {"name": "b", "command": "y", "inputs": ["o/a"], "outputs": ["o/b"]}], "cycle"),
    ("self loop", [{"name": "a", "command": "x", "upstream": ["a"]}], "itself"),
    ("unknown upstream", [{"name": "a", "command": "x"}, {"name": "b", "command": "y", "upstream": ["nope"]}], "unknown upstream stage(s) 'nope'"),
    ("duplicate names", [{"name": "a", "command": "x"}, {"name": "a", "command": "y"}], "duplicate stage names: a"),
    ("callable not module:function", [{"name": "a", "callable": "steps.train"}], "is not 'module:function'"),
    ("callable with a path", [{"name": "a", "callable": "steps/train.py:main"}], "is not 'module:function'"),
    ("both command and callable", [{"name": "a", "command": "x", "callable": "m:f"}], "exactly one of command and callable"),
    ("shell pipe", [{"name": "a", "command": "python a.py | tee log"}], "shell syntax"),
    ("two writers", [{"name": "a", "command": "x", "outputs": ["o.csv"]}, {"name": "b", "command": "y", "outputs": ["./o.csv"]}], "written by both"),
]


@pytest.mark.parametrize(("label", "stages", "words"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_graphs_are_invalid_input_and_nothing_is_written(tmp_path: Path, label: str, stages: list[dict[str, Any]], words: str) -> None:
    tools = ToolRunner(tmp_path)
    for action in ("render", "run"):
        with pytest.raises(ToolError) as caught:
            tools(TOOL, {"action": action, "spec": _spec(stages)})
        assert caught.value.code == "invalid_input", caught.value
        assert words in caught.value.message, caught.value.message
        assert caught.value.hint
    assert _files(tmp_path) == []


@pytest.mark.parametrize("cron", ["61 * * * *", "* * * *", "0 3 * * 8", "0 25 * * *", "*/0 * * * *", "0 3 32 * *", "5-1 * * * *", "0 3 * foo *", "@fortnightly"])
def test_bad_cron_is_invalid_input(tmp_path: Path, cron: str) -> None:
    tools = ToolRunner(tmp_path)
    with pytest.raises(ToolError) as caught:
        tools(TOOL, {"action": "render", "spec": _spec(GOOD, schedule={"cron": cron})})
    assert caught.value.code == "invalid_input"
    assert "invalid cron string" in caught.value.message and "schedule.cron" in caught.value.message
    assert _files(tmp_path) == []


def test_bad_timezone_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="unknown time zone 'Mars/Olympus'"):
        ToolRunner(tmp_path)(TOOL, {"action": "render", "spec": _spec(GOOD, schedule={"cron": "0 3 * * *", "timezone": "Mars/Olympus"})})


@pytest.mark.parametrize("cron", ["0 3 * * 1-5", "*/15 * * * *", "0 0 1 jan,jul *", "30 2 * * sun", "0 9-17/2 * * mon-fri", "@daily", "@hourly", "0 0 * * 7"])
def test_good_cron_strings_pass(cron: str) -> None:
    assert cron_problem(cron) is None


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("outputs", ["../elsewhere.csv"], "../elsewhere.csv"),
        ("inputs", ["/etc/passwd"], "/etc/passwd"),
    ],
)
def test_paths_outside_the_workspace_are_refused(tmp_path: Path, field: str, value: list[str], shown: str) -> None:
    tools = ToolRunner(tmp_path)
    stages = [{"name": "a", "command": "python a.py", field: value}]
    for action in ("render", "run"):
        with pytest.raises(ToolError) as caught:
            tools(TOOL, {"action": action, "spec": _spec(stages)})
        assert caught.value.code == "outside_workspace" and shown in caught.value.message
    with pytest.raises(ToolError, match="outside the workspace"):
        tools(TOOL, {"action": "render", "spec": _spec([{"name": "a", "command": "x"}], directory="../out")})
    with pytest.raises(ToolError, match="outside the workspace"):
        tools(TOOL, {"action": "scaffold", "directory": "/tmp/elsewhere"})
    assert _files(tmp_path) == []


def test_callable_must_exist_in_the_project(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "train.py").write_text("def fit():\n    return 1\n")
    with pytest.raises(ToolError) as missing_module:
        tools(TOOL, {"action": "render", "spec": _spec([{"name": "a", "callable": "steps.nothere:fit"}])})
    assert missing_module.value.code == "invalid_input" and "module 'steps.nothere'" in missing_module.value.message
    with pytest.raises(ToolError) as missing_function:
        tools(TOOL, {"action": "render", "spec": _spec([{"name": "a", "callable": "steps.train:train"}])})
    assert "defines no top-level 'train'" in missing_function.value.message
    assert _files(tmp_path) == ["steps/train.py"]
    out = tools(TOOL, {"action": "render", "spec": _spec([{"name": "a", "callable": "steps.train:fit", "kwargs": {"lr": 0.1}}]), "targets": ["airflow"]})
    assert out.checks[0].ok, out.checks


def test_spec_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="exactly one of spec"):
        ToolRunner(tmp_path)(TOOL, {"action": "render"})


def test_a_bad_spec_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("name: demo\nstages:\n  - name: a\n    command: x\n    upstream: [b]\n")
    with pytest.raises(ToolError) as caught:
        ToolRunner(tmp_path)(TOOL, {"action": "render", "spec_path": "p.yaml"})
    assert caught.value.code == "invalid_input" and "p.yaml" in caught.value.message and "unknown upstream" in caught.value.message


# --------------------------------------------------------------------------- the graph


def test_inputs_produced_by_another_stage_add_the_dependency() -> None:
    spec = PipelineSpec.model_validate(_spec(GOOD))
    graph = effective_upstream(spec)
    assert graph == {"prepare": [], "train": ["prepare"], "report": ["train", "prepare"]}
    assert topological_order(graph) == ["prepare", "train", "report"]
    assert expected_edges(spec) == {("prepare", "train"), ("train", "report"), ("prepare", "report")}


# --------------------------------------------------------------------------- rendering


def test_render_writes_all_targets_checks_them_and_is_idempotent(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    spec = _spec(GOOD, schedule={"cron": "0 3 * * 1-5", "timezone": "Europe/Berlin"})
    plan = tools(TOOL, {"action": "render", "spec": spec, "check": False}, dry_run=True)
    assert {f.action for f in plan.files} == {"create"} and _files(tmp_path) == []
    out = tools(TOOL, {"action": "render", "spec": spec, "targets": ["prefect", "airflow"]})
    assert sorted(f.path for f in out.files) == [
        "pipelines/demo/airflow_dag.py", "pipelines/demo/flow.py", "pipelines/demo/pipeline.yaml", "pipelines/demo/prefect.yaml"]
    assert [c.target for c in out.checks] == ["prefect", "airflow"] and all(c.ok for c in out.checks), out.checks
    assert "Airflow itself was not imported" in out.checks[1].method
    assert out.checks[1].edges == ["prepare -> report", "prepare -> train", "train -> report"]
    again = tools(TOOL, {"action": "render", "spec": spec, "targets": ["prefect", "airflow"]})
    assert {f.action for f in again.files} == {"unchanged"}

    import yaml

    deployment = yaml.safe_load((tmp_path / "pipelines/demo/prefect.yaml").read_text())["deployments"][0]
    assert deployment["entrypoint"] == "pipelines/demo/flow.py:demo_pipeline"
    assert deployment["schedules"] == [{"cron": "0 3 * * 1-5", "timezone": "Europe/Berlin", "active": True}]
    dag = (tmp_path / "pipelines/demo/airflow_dag.py").read_text()
    assert "schedule='0 3 * * 1-5'" in dag and "tz='Europe/Berlin'" in dag


def test_an_edited_rendered_file_needs_confirm(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    request = {"action": "render", "spec": _spec(GOOD), "targets": ["airflow"], "check": False}
    tools(TOOL, request)
    dag = tmp_path / "pipelines/demo/airflow_dag.py"
    dag.write_text(dag.read_text() + "# my change\n")
    with pytest.raises(ToolError) as caught:
        tools(TOOL, request)
    assert caught.value.code == "needs_confirm"
    assert dag.read_text().endswith("# my change\n")
    actions = {f.path: f.action for f in tools(TOOL, request, confirm=True).files}
    assert actions["pipelines/demo/airflow_dag.py"] == "overwrite"


def test_rendered_flow_carries_retries_timeouts_and_cache_keys(tmp_path: Path) -> None:
    spec = PipelineSpec.model_validate(_spec([*GOOD, {"name": "always", "command": "python x.py", "cache": "none"}]))
    files = render_pipeline(spec, Workspace(tmp_path), {})
    flow = files["pipelines/demo/flow.py"]
    tree = ast.parse(flow)
    tasks = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.decorator_list:
            deco = node.decorator_list[0]
            if isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "task":
                tasks[node.name] = {k.arg: ast.unparse(k.value) for k in deco.keywords}
    assert tasks["stage_train"]["retries"] == "2" and tasks["stage_train"]["retry_delay_seconds"] == "3.0"
    assert tasks["stage_report"]["timeout_seconds"] == "60.0"
    assert tasks["stage_train"]["cache_key_fn"].startswith("inputs_key('train'")
    assert tasks["stage_always"]["cache_policy"] == "NO_CACHE" and "cache_key_fn" not in tasks["stage_always"]
    assert check_prefect(flow, "pipelines/demo/flow.py", flow_function(spec), spec, None).ok


def test_airflow_check_catches_a_missing_edge_and_wrong_retries(tmp_path: Path) -> None:
    spec = PipelineSpec.model_validate(_spec(GOOD))
    dag = render_pipeline(spec, Workspace(tmp_path), {}, ("airflow",))[paths_for(spec).airflow]
    expected = expected_edges(spec)
    assert check_airflow(dag, spec, expected).ok
    broken = dag.replace("    stage_train >> stage_report\n", "").replace("retries=2,", "retries=5,")
    result = check_airflow(broken, spec, expected)
    assert not result.ok
    assert "edge missing: train -> report" in result.problems and any("retries 5 != 2" in p for p in result.problems)
    assert not check_airflow("with DAG(:\n", spec, expected).ok


def test_airflow_graph_reads_chains_lists_and_set_downstream() -> None:
    source = """
a = BashOperator(task_id="a", bash_command="x")
b = BashOperator(task_id="b", bash_command="x")
c = PythonOperator(task_id="c", python_callable=f)
d = EmptyOperator(task_id="d")
a >> [b, c] >> d
d << a
b.set_downstream(c)
"""
    tasks, found = airflow_graph(source)
    assert set(tasks) == {"a", "b", "c", "d"}
    assert found == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d"), ("b", "c")}


def test_scaffold_writes_the_churn_example_and_its_spec(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    out = tools(TOOL, {"action": "scaffold"})
    assert [s.name for s in out.spec.stages] == ["prepare", "features", "train", "evaluate", "register"]
    assert "pipelines/churn/pipeline.yaml" in _files(tmp_path)
    for script in ("prepare.py", "features.py", "train.py", "evaluate.py", "register.py", "churn_common.py"):
        compile((tmp_path / "pipelines/churn" / script).read_text(), script, "exec")
    assert "track_ml_experiments" in (tmp_path / "pipelines/churn/train.py").read_text()
    assert "register_ml_model" in (tmp_path / "pipelines/churn/register.py").read_text()
    assert 'has_tool("build_feature_store", "feast")' in (tmp_path / "pipelines/churn/features.py").read_text()
    rendered = tools(TOOL, {"action": "render", "spec_path": "pipelines/churn/pipeline.yaml", "targets": ["prefect", "airflow"]})
    assert "pipelines/churn/pipeline.yaml" not in [f.path for f in rendered.files], "a spec file is never rewritten"
    assert all(c.ok for c in rendered.checks)
    dag = (tmp_path / "pipelines/churn/airflow_dag.py").read_text()
    assert "dvc commit -f -q pipelines/churn/dvc.yaml:prepare" not in dag  # no dvc.yaml: the DAG uses dvc add
    assert "&& dvc add -q data/churn/raw.csv" in dag


def test_with_a_dvc_yaml_every_stage_run_is_recorded_in_dvc_lock(tmp_path: Path) -> None:
    """Prefect or Airflow runs that left dvc.yaml stages unrecorded made DVC report their outputs as uncommitted forever."""
    tools = ToolRunner(tmp_path)
    tools(TOOL, {"action": "scaffold"})
    tools(TOOL, {"action": "render", "spec_path": "pipelines/churn/pipeline.yaml", "targets": ["prefect", "airflow", "dvc"]})
    dag = (tmp_path / "pipelines/churn/airflow_dag.py").read_text()
    assert "&& dvc commit -f -q pipelines/churn/dvc.yaml:prepare" in dag  # dvc_track: a DVC repository is required
    assert "&& if [ -d .dvc ]; then dvc commit -f -q pipelines/churn/dvc.yaml:features; fi" in dag
    assert "dvc add" not in dag
    flow = (tmp_path / "pipelines/churn/flow.py").read_text()
    assert flow.count("_dvc_version(stage, outputs, dvc_track=dvc_track)") == 2
