"""What tools write into YAML, Python and shell files, under attack: credentials given in a URL
are read from the environment at run time, never written as a literal; and no value (an image,
a glob, a folder, a description, a host) can end its line, string or command and start one of
the caller's choosing. Each test renders through the real tool and reads the real files."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path
from typing import Any

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.build_feature_store import TOOL as FEATURES
from mlops_engineer.tools.deploy_ml_model_serving import TOOL as SERVING
from mlops_engineer.tools.detect_anomalies_aiops import TOOL as ANOMALIES
from mlops_engineer.tools.monitor_model_drift import TOOL as DRIFT
from mlops_engineer.tools.orchestrate_ml_pipeline import TOOL as PIPELINE
from mlops_engineer.tools.setup_automl_pipeline import TOOL as AUTOML
from mlops_engineer.tools.track_ml_experiments import TOOL as TRACK
from tests.helpers import ToolRunner

SECRETS = ("AKSECRET", "PWSECRET", "TOKSECRET")
# A value that would close a docstring or a string and run code if written as it is.
BREAKOUT = 'x"""; import os; os.system("touch PWNED") #\\'


def _written(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and ".mlops" not in p.parts)


def _assigned(path: Path) -> dict[str, Any]:
    """Top-level NAME = <literal> assignments of a rendered Python file (it must parse)."""
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                found[node.targets[0].id] = ast.unparse(node.value)
    return found


def _refused(tools: ToolRunner, spec: Any, operation: dict[str, Any], **fields: Any) -> ToolError:
    with pytest.raises(ToolError) as caught:
        tools(spec, operation, **fields)
    assert caught.value.code == "invalid_input", caught.value
    assert not (tools.root / "mlops").exists() and not (tools.root / "pipelines").exists()
    return caught.value


def test_drift_schedule_reads_credentials_from_the_environment_and_quotes_every_value(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data/ref.csv").write_text("a,b\n1,2\n")
    glob = f"data/in {BREAKOUT}/*.csv"
    out = tools(DRIFT, {"action": "schedule", "reference": "data/ref.csv", "current": glob, "name": "churn",
                        "output_dir": "mlops/mon itor;touch PWNED",
                        "prometheus": {"pushgateway_url": "http://AKSECRET:PWSECRET@127.0.0.1:9091/?token=TOKSECRET"}},
                tracking_uri="http://AKSECRET:PWSECRET@127.0.0.1:5000/?token=TOKSECRET")
    assert not [s for s in SECRETS if s in _written(tmp_path) + out.model_dump_json()]
    flow = tmp_path / "mlops/mon itor;touch PWNED/drift_flow_churn.py"
    values = _assigned(flow)
    assert values["CURRENT_GLOB"] == glob and BREAKOUT.replace("\\", "\\\\").replace('"', '\\"') in flow.read_text()
    assert "os.environ.get('MLFLOW_TRACKING_URI')" in values["TRACKING_URI"] and "http://127.0.0.1:5000" in values["TRACKING_URI"]
    assert 'os.environ["PUSHGATEWAY_URL"]' in flow.read_text()
    cron = (flow.parent / "drift_churn.cron").read_text().splitlines()[1]
    words = shlex.split(cron.split(" ", 5)[5])
    assert words[0] == "cd" and words[4] == "mlops/mon itor;touch PWNED/drift_flow_churn.py"

    for bad in ({"cron": "* * * * *;touch PWNED"}, {"cron": "0 6 * * *\n* * * * * touch PWNED"},
                {"current": "data/x\nimport os"}, {"prometheus": {"pushgateway_url": "http://h:1/\"\nx"}}):
        _refused(ToolRunner(tmp_path / "fresh"), DRIFT, {"action": "schedule", "reference": "data/ref.csv", "current": "d/*.csv", **bad})


def test_scoring_job_reads_credentials_from_the_environment_and_quotes_every_value(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    query = f'up{{job="{BREAKOUT}"}}'
    tools(ANOMALIES, {"action": "render_job", "prometheus_url": "https://AKSECRET:PWSECRET@prom.example:9090/?token=TOKSECRET",
                      "pushgateway_url": "http://TOKSECRET@127.0.0.1:9091", "query": query, "output_dir": "mlops/ai ops;touch PWNED"})
    assert not [s for s in SECRETS if s in _written(tmp_path)]
    script = tmp_path / "mlops/ai ops;touch PWNED/score_job.py"
    values = _assigned(script)
    assert values["QUERY"] == query and values["JOB"] == "aiops_anomaly"
    assert values["PROMETHEUS_URL"] == "os.environ.get('PROMETHEUS_URL') or 'https://prom.example:9090/'"
    assert values["PUSHGATEWAY_URL"] == "os.environ.get('PUSHGATEWAY_URL') or 'http://127.0.0.1:9091'"
    line = (script.parent / "crontab").read_text().splitlines()[2]
    assert shlex.split(line.split(" ", 5)[5])[4] == "mlops/ai ops;touch PWNED/score_job.py"
    for bad in ({"query": "up\nimport os"}, {"prometheus_url": 'http://h:1/"+x'}, {"output_dir": "a\nb"}):
        _refused(ToolRunner(tmp_path / "fresh"), ANOMALIES, {"action": "render_job", "prometheus_url": "http://h:9090",
                                                             "pushgateway_url": "http://h:9091", "query": "up", **bad})


def test_kubernetes_values_keep_to_their_grammar_and_storage_credentials_stay_out(tmp_path: Path) -> None:
    import yaml

    tools = ToolRunner(tmp_path)
    base = {"action": "k8s_manifests", "model_uri": "models:/churn@champion", "image": "registry.example/churn:1"}
    for bad in ({"image": "registry.example/churn:1\n  hostNetwork: true"}, {"image": "AKSECRET:PWSECRET@registry.example/churn:1"},
                {"image": "churn:1 # x"}, {"model_uri": "models:/churn@champion\nkind: Secret"},
                {"seldon_storage_uri": "s3://models/x\"\nkind: Secret"}):
        _refused(tools, SERVING, {**base, **bad})
    _refused(tools, SERVING, {"action": "containerize", "model_uri": "models:/churn@champion", "base_image": "python:3.11\nRUN touch /PWNED"})

    out = tools(SERVING, {**base, "seldon_storage_uri": "s3://AKSECRET:PWSECRET@models/churn/1?token=TOKSECRET"})
    assert not [s for s in SECRETS if s in _written(tmp_path) + out.model_dump_json()]
    seldon = yaml.safe_load((tmp_path / out.manifests[1].path).read_text())
    assert seldon["spec"]["storageUri"] == "s3://models/churn/1" and any("storage secret" in s for s in out.next_steps)


def test_feature_store_hosts_and_names_keep_to_their_grammar(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    spec = {"action": "apply", "project": "churn", "entities": [{"name": "c", "value_type": "int64"}],
            "sources": [{"name": "s", "path": "data/s.parquet", "table": "t"}],
            "feature_views": [{"name": "v", "entities": ["c"], "source": "s", "schema": [{"name": "f", "dtype": "int64"}]}]}
    for offline in ({"host": "db\nregistry: /tmp/x"}, {"host": "db: x"}, {"user": 'u"@evil:5432/x?'}, {"database": "d b"}):
        _refused(tools, FEATURES, {**spec, "offline_store": {"type": "postgres", "database": "f", **offline}})
    _refused(tools, FEATURES, {**spec, "online_store": {"type": "redis", "host": "r\n  type: sqlite"}})


def test_pipeline_free_text_cannot_leave_its_docstring(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    spec = {"name": "demo", "description": BREAKOUT + "\nSecond line.", "directory": "pipelines/de mo",
            "stages": [{"name": "a", "command": "python a.py", "outputs": ["out.txt"]}],
            "schedule": {"cron": "0 3 * * *", "work_pool": "pool"}}
    out = tools(PIPELINE, {"action": "render", "spec": spec, "targets": ["prefect", "airflow"]})
    assert all(c.ok for c in out.checks), out.checks
    for name in ("flow.py", "airflow_dag.py"):
        module = ast.parse((tmp_path / "pipelines/de mo" / name).read_text())
        assert BREAKOUT + "\nSecond line." in ast.get_docstring(module)  # the description stays text, whole
    deployment = (tmp_path / "pipelines/de mo/prefect.yaml").read_text()
    assert '"pipelines/de mo/flow.py:' in deployment
    for bad in ({"schedule": {"cron": "0 3 * * *", "work_pool": "p\nx: y"}},
                {"stages": [{"name": "a", "command": "x", "env": {"A=B": "1"}}]}, {"directory": "p\nq"}):
        _refused(ToolRunner(tmp_path / "fresh"), PIPELINE, {"action": "render", "spec": {**spec, **bad}})


def test_optuna_script_reads_credentials_from_the_environment(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    op = {"action": "render_script", "study_name": "s1", "space": [{"type": "int", "name": "d", "low": 1, "high": 3}],
          "objective": {"kind": "estimator", "estimator": "hist_gradient_boosting", "dataset": "data/d.csv", "target": "y"},
          "storage": "postgresql://AKSECRET:PWSECRET@127.0.0.1:5432/optuna?password=TOKSECRET"}
    tools(AUTOML, op, tracking_uri="http://AKSECRET:PWSECRET@127.0.0.1:5000")
    assert not [s for s in SECRETS if s in _written(tmp_path)]
    text = (tmp_path / "mlops/tuning/s1.py").read_text()
    assert 'os.environ.get("OPTUNA_STORAGE")' in text and "postgresql://127.0.0.1:5432/optuna" in text
    assert 'os.environ.get("MLFLOW_TRACKING_URI")' in text and "http://127.0.0.1:5000" in text


@pytest.mark.server
def test_autolog_snippets_read_credentials_from_the_environment(tmp_path: Path, mlflow_server: Any) -> None:
    uri = str(mlflow_server.tracking_uri).replace("http://", "http://AKSECRET:PWSECRET@", 1)
    tools = ToolRunner(tmp_path, uri)
    out = tools(TRACK, {"action": "setup", "experiment": f'x"y-{tmp_path.name}', "team_stack": False})
    assert not [s for s in SECRETS if s in _written(tmp_path) + out.model_dump_json()]
    values = _assigned(tmp_path / "mlops/tracking/autolog_sklearn.py")  # parses, with a quote in the experiment name
    assert values is not None
    text = (tmp_path / "mlops/tracking/autolog_sklearn.py").read_text()
    assert f'mlflow.set_experiment("x\\"y-{tmp_path.name}")' in text
    assert 'os.environ.get("MLFLOW_TRACKING_URI") or "http://127.0.0.1:' in text
