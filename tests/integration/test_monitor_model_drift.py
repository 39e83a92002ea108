"""monitor_model_drift with the real SDKs: Evidently (report and parity of its numbers with
ours), MLflow models and artifacts (embedded store and a real tracking server), and a real
Pushgateway."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_engineer.engines.drift import stats as ds
from mlops_engineer.errors import ToolError
from mlops_engineer.tools.monitor_model_drift import TOOL
from tests.fixtures.ports import free_port
from tests.helpers import ToolRunner
from tests.integration.conftest import write_training_files


def _frames(rows: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({
        "age": rng.normal(40, 10, rows),
        "income": rng.lognormal(10, 0.5, rows),
        "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2]),
        "visits": rng.integers(0, 6, rows),
    })
    cur = ref.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cur["age"] = cur["age"] + 9  # severe
    cur["plan"] = rng.choice(["basic", "plus", "pro"], rows, p=[0.3, 0.3, 0.4])  # shares move
    return ref, cur


def _write(root: Path, ref: pd.DataFrame, cur: pd.DataFrame) -> None:
    (root / "data").mkdir(exist_ok=True)
    ref.to_csv(root / "data/ref.csv", index=False)
    cur.to_parquet(root / "data/cur.parquet")


def _check(tools: ToolRunner, **fields: object) -> object:
    operation = {"action": "check", "reference": "data/ref.csv", "current": "data/cur.parquet", **fields}
    return tools(TOOL, operation)


@pytest.fixture
def runner(tmp_path: Path) -> ToolRunner:
    return ToolRunner(tmp_path)


def test_check_writes_table_json_html_and_textfile_and_is_idempotent(runner: ToolRunner) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    ref, cur = _frames()
    _write(runner.root, ref, cur)
    out = _check(runner, html_max_rows=500)
    rows = {r["feature"]: r for r in out.features.rows}
    assert set(rows) == {"age", "income", "plan", "visits"}
    assert rows["age"]["severity"] == "severe" and rows["age"]["kind"] == "numerical"
    assert rows["visits"]["kind"] == "numerical"  # an integer dtype stays numerical, however few its values
    assert rows["income"]["severity"] == "none" and rows["income"]["ks_pvalue"] == 1.0  # same values, shuffled
    assert rows["plan"]["drifted"] and rows["plan"]["chi2_pvalue"] < 1e-6
    assert out.dataset_drift is True and out.drift_share == 0.5
    assert out.severe_features == ["age"] or "age" in out.severe_features

    report = json.loads((runner.root / "reports/drift/drift.json").read_text())
    assert report["features"] == out.features.rows and report["dataset_drift"] is True
    html = (runner.root / "reports/drift/drift.html").read_text()
    assert "<html" in html.lower() and "age" in html
    families = {f.name: f for f in text_string_to_metric_families((runner.root / "reports/drift/drift.prom").read_text())}
    psi = {s.labels["feature"]: s.value for s in families["mlops_drift_psi"].samples}
    assert psi["age"] == pytest.approx(rows["age"]["psi"], abs=1e-6)
    assert families["mlops_drift_dataset_drift"].samples[0].value == 1.0

    again = _check(runner, html_max_rows=500)
    assert again.features == out.features and again.dataset_drift == out.dataset_drift
    actions = {f.path: f.action for f in again.files}
    assert actions["reports/drift/drift.json"] == "unchanged" and actions["reports/drift/drift.prom"] == "unchanged"


def test_dry_run_plans_and_writes_nothing(runner: ToolRunner) -> None:
    _write(runner.root, *_frames(200))
    out = runner(TOOL, {"action": "check", "reference": "data/ref.csv", "current": "data/cur.parquet"}, dry_run=True)
    assert out.dry_run and [f.action for f in out.files] == ["create", "create", "create"]
    assert not (runner.root / "reports").exists()


# --------------------------------------------------------------------------- streaming


def _streaming_frames(rows: int = 6000) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref, cur = _frames(rows, seed=4)
    rng = np.random.default_rng(9)
    ref["flat"], cur["flat"] = 7.5, 7.5
    ref["gone"], cur["gone"] = ref["age"], np.nan
    ref["never"], cur["never"] = np.nan, cur["age"]
    ref["prediction"], cur["prediction"] = rng.beta(2, 5, rows), rng.beta(2, 3, rows)
    ref.loc[::7, "income"] = np.nan  # missing values in a numerical column
    cur.loc[::11, "plan"] = None  # and in a categorical one
    return ref, cur


def test_streaming_matches_the_in_memory_check_within_its_stated_bounds(runner: ToolRunner) -> None:
    ref, cur = _streaming_frames()
    (runner.root / "data").mkdir()
    ref.to_csv(runner.root / "data/ref.csv", index=False)  # a CSV is read in blocks of rows
    cur.to_parquet(runner.root / "data/cur.parquet", row_group_size=700)  # a Parquet file one row group at a time
    numerical = ["age", "income", "flat", "gone", "never"]
    fields = {"columns": {"numerical": numerical, "categorical": ["plan", "visits"], "prediction": "prediction"}, "html_max_rows": 400}
    exact = _check(runner, streaming="off", name="exact", **fields)
    streamed = _check(runner, streaming="on", name="streamed", memory_budget_mb=64, **fields)

    assert exact.method.path == "in_memory" and streamed.method.path == "streaming"
    assert streamed.method.reason == "asked (streaming: on)" and streamed.method.chunks >= 10
    assert any("ks_statistic" in b and "ks_error_bound" in b for b in streamed.method.bounded)
    assert "Streamed in" in TOOL.summarize(streamed) and "Computed in memory" in TOOL.summarize(exact)
    assert streamed.rows == exact.rows == {"reference": 6000, "current": 6000}
    assert streamed.skipped == exact.skipped and streamed.drifted_features == exact.drifted_features
    a = {r["feature"]: r for r in exact.features.rows}
    b = {r["feature"]: r for r in streamed.features.rows}
    assert list(a) == list(b)
    for feature in ("plan", "visits"):  # value counts: exact
        for stat in ("psi", "js_distance", "chi2_statistic", "chi2_pvalue", "missing_current"):
            assert b[feature][stat] == pytest.approx(a[feature][stat], abs=1e-9), (feature, stat)
    for feature in ("age", "income"):
        row = b[feature]
        assert row["ks_statistic"] <= a[feature]["ks_statistic"] + 1e-9 <= row["ks_statistic"] + row["ks_error_bound"] + 2e-9
        assert abs(row["wasserstein"] - a[feature]["wasserstein"]) <= row["wasserstein_error_bound"] + 1e-9
        for stat in ("reference_mean", "current_mean", "missing_reference", "n_reference", "n_current"):
            assert row[stat] == pytest.approx(a[feature][stat], rel=1e-9), (feature, stat)
        assert row["severity"] == a[feature]["severity"]
    assert (b["flat"]["severity"], b["gone"]["note"]) == (a["flat"]["severity"], a["gone"]["note"])
    assert streamed.prediction_drift.kind == exact.prediction_drift.kind == "score"
    assert streamed.prediction_drift.severity == exact.prediction_drift.severity
    report = json.loads((runner.root / "reports/drift/streamed.json").read_text())
    assert report["method"]["path"] == "streaming" and report["features"] == streamed.features.rows
    assert "<html" in (runner.root / "reports/drift/streamed.html").read_text().lower()  # drawn from a sample of rows


def test_auto_streams_files_over_the_memory_budget_and_refuses_concept_drift_there(runner: ToolRunner) -> None:
    rng = np.random.default_rng(2)
    rows, cols = 120_000, 12  # 11.5 MB a side as float64: the in-memory check needs about 46 MB
    (runner.root / "data").mkdir()
    for name, shift in (("ref", 0.0), ("cur", 0.5)):
        pd.DataFrame(rng.normal(shift, 1, (rows, cols)), columns=[f"x{i}" for i in range(cols)]).to_parquet(
            runner.root / f"data/{name}.parquet", row_group_size=30_000)
    operation = {"action": "check", "reference": "data/ref.parquet", "current": "data/cur.parquet", "html": False}
    roomy = runner(TOOL, {**operation, "memory_budget_mb": 1024})
    assert roomy.method.path == "in_memory" and "fits memory_budget_mb" in roomy.method.reason
    tight = runner(TOOL, {**operation, "memory_budget_mb": 40})
    assert tight.method.path == "streaming" and "over memory_budget_mb (40)" in tight.method.reason
    assert tight.method.in_memory_estimate_mb == pytest.approx(2.3 * 2 * rows * cols * 8 / 2**20, rel=0.01)
    assert tight.drifted_features == roomy.drifted_features == [f"x{i}" for i in range(cols)]
    planned = runner(TOOL, {**operation, "memory_budget_mb": 40}, dry_run=True)
    assert planned.method.path == "streaming" and "streaming" in planned.planned_calls[1]
    with pytest.raises(ToolError) as err:
        runner(TOOL, {**operation, "memory_budget_mb": 40, "concept": {"max_drop": 0.1}})
    assert err.value.code == "invalid_input" and "Concept drift needs both datasets in memory" in err.value.message


# --------------------------------------------------------------------------- bad input


def test_empty_frames_are_refused(runner: ToolRunner) -> None:
    ref, _ = _frames(100)
    _write(runner.root, ref, ref)
    ref.head(0).to_csv(runner.root / "data/empty.csv", index=False)
    with pytest.raises(ToolError) as err:
        runner(TOOL, {"action": "check", "reference": "data/ref.csv", "current": "data/empty.csv"})
    assert err.value.code == "invalid_input" and "no rows" in err.value.message
    (runner.root / "data/blank.csv").write_text("")
    with pytest.raises(ToolError, match="could not be read"):
        runner(TOOL, {"action": "check", "reference": "data/blank.csv", "current": "data/ref.csv"})


def test_a_column_missing_from_one_side(runner: ToolRunner) -> None:
    ref, cur = _frames(300)
    _write(runner.root, ref, cur.drop(columns=["income"]).assign(extra=1.0))
    with pytest.raises(ToolError) as err:
        _check(runner, columns={"numerical": ["age", "income"]})
    assert err.value.code == "invalid_input" and "'income' is missing from the current" in err.value.message
    out = _check(runner, html=False)  # inferred roles: compared on the shared columns, the rest listed
    assert {s["feature"]: s["reason"] for s in out.skipped} == {"income": "only in the reference data", "extra": "only in the current data"}
    assert "income" not in {r["feature"] for r in out.features.rows}


def test_all_missing_and_constant_columns(runner: ToolRunner) -> None:
    ref, cur = _frames(400)
    ref["flat"], cur["flat"] = 7.5, 7.5
    ref["gone"], cur["gone"] = ref["age"], np.nan
    ref["never"], cur["never"] = np.nan, cur["age"]
    _write(runner.root, ref, cur)
    out = _check(runner, columns={"numerical": ["age", "income", "flat", "gone", "never"]}, html=False)
    rows = {r["feature"]: r for r in out.features.rows}
    assert rows["flat"]["psi"] == 0.0 and rows["flat"]["ks_statistic"] == 0.0 and rows["flat"]["severity"] == "none"
    assert rows["gone"]["severity"] == "severe" and "psi" not in rows["gone"] and "missing" in rows["gone"]["note"]
    assert {"feature": "never", "reason": "skipped: every reference value is missing"} in out.skipped
    assert out.drift_share == pytest.approx(2 / 4)  # age and gone of age/income/flat/gone


def test_mismatched_dtypes(runner: ToolRunner) -> None:
    ref, cur = _frames(300)
    cur["visits"] = cur["visits"].map(lambda v: f"v{v}")
    cur["income"] = cur["income"].astype(str).str.replace(".", ",", regex=False)  # European decimals
    _write(runner.root, ref, cur)
    with pytest.raises(ToolError) as err:
        _check(runner, columns={"numerical": ["age", "income"], "categorical": ["visits"]})
    assert err.value.code == "invalid_input" and "income is object in the current data" in err.value.message
    assert "categorical" in err.value.hint
    out = _check(runner, columns={"numerical": ["age"], "categorical": ["income", "visits"]}, html=False)
    rows = {r["feature"]: r for r in out.features.rows}
    assert rows["visits"]["severity"] == "severe" and "new categories" in rows["visits"]["note"]


def test_a_small_integer_count_column_stays_numerical(runner: ToolRunner) -> None:
    """3,000 rows of a count with 10 values (0-9); three current rows hold 10 and 11. The column is
    stable: as categories it read "new categories: 10, 11" with p = 0."""
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"calls": rng.binomial(9, 0.4, 3000), "age": rng.normal(40, 10, 3000)})
    cur = pd.DataFrame({"calls": rng.binomial(9, 0.4, 3000), "age": rng.normal(40, 10, 3000)})
    cur.loc[:2, "calls"] = [10, 11, 10]
    _write(runner.root, ref, cur)
    out = _check(runner, html=False)
    calls = {r["feature"]: r for r in out.features.rows}["calls"]
    assert calls["kind"] == "numerical" and "note" not in calls and calls["severity"] == "none"
    assert calls["ks_pvalue"] > 0.05 and calls.get("chi2_pvalue") is None


def test_unreachable_pushgateway_fails_before_writing(runner: ToolRunner) -> None:
    _write(runner.root, *_frames(200))
    with pytest.raises(ToolError) as err:
        _check(runner, prometheus={"pushgateway_url": f"http://127.0.0.1:{free_port()}"})
    assert err.value.code == "backend_unreachable" and "-/ready" in err.value.hint
    assert not (runner.root / "reports").exists()


@pytest.mark.server
def test_push_to_a_real_pushgateway(runner: ToolRunner, pushgateway_server) -> None:
    _write(runner.root, *_frames(500))
    out = _check(runner, name="churn", html=False, prometheus={"pushgateway_url": pushgateway_server.url})
    assert out.pushed_to == pushgateway_server.url
    text = pushgateway_server.metrics_text()
    age = next(r for r in out.features.rows if r["feature"] == "age")
    line = next(line for line in text.splitlines() if line.startswith("mlops_drift_psi{") and 'feature="age"' in line)
    assert 'job="mlops_drift"' in line and 'monitor="churn"' in line
    assert float(line.rsplit(" ", 1)[1]) == pytest.approx(age["psi"], abs=1e-6)
    assert 'mlops_drift_dataset_drift{instance="",job="mlops_drift",monitor="churn"} 1' in text
    pushgateway_server.delete_group("mlops_drift/monitor/churn")


# --------------------------------------------------------------------------- models, artifacts, concept drift


@pytest.mark.server
def test_concept_drift_with_a_registered_model_and_run_artifacts(tools: ToolRunner) -> None:
    from mlops_engineer.tools.register_ml_model import TOOL as REGISTER
    from mlops_engineer.tools.track_ml_experiments import TOOL as TRACK

    files = write_training_files(tools.root)
    logged = tools(TRACK, {"action": "log_run", "experiment": tools.unique("drift"), "artifacts": [files["train"]],
                           "model": {"path": files["model"], "input_example": files["sample"]}}).run
    name = tools.unique("drift-model")
    version = tools(REGISTER, {"action": "register", "name": name, "run_id": logged.run_id}).version.version
    tools(REGISTER, {"action": "set_alias", "name": name, "alias": "champion", "version": version})

    train = pd.read_csv(tools.root / files["train"])
    # Data drift on a, and the concept moves: the label now follows b alone.
    shifted = train.assign(a=train.a + 1.5, label=(train.b > 0).astype(int))
    shifted.to_csv(tools.root / "data/shifted.csv", index=False)
    out = tools(TOOL, {"action": "check", "reference": f"runs:/{logged.run_id}/train.csv", "current": "data/shifted.csv",
                       "columns": {"target": "label"}, "html": False,
                       "concept": {"model_uri": f"models:/{name}@champion", "window": 100, "max_drop": 0.05}})
    assert out.severe_features == ["a"]
    cd = out.concept_drift
    assert cd.metric == "roc_auc" and len(cd.windows) == 2 and cd.drifted and cd.drop > 0.05
    assert cd.reference > 0.9 and cd.latest < cd.reference
    assert out.prediction_drift.kind == "score" and out.prediction_drift.drifted

    same = tools(TOOL, {"action": "check", "reference": files["train"], "current": files["train"], "html": False,
                        "concept": {"model_uri": f"runs:/{logged.run_id}/model"}})
    assert same.concept_drift.drop == 0.0 and not same.concept_drift.drifted and not same.drifted_features


def test_concept_drift_from_a_prediction_column_needs_labels(runner: ToolRunner) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=1000)
    ref = pd.DataFrame({"x": x, "target": (x > 0).astype(int), "prediction": (x > 0).astype(int)})
    cur = ref.assign(prediction=(x > 0.8).astype(int))
    _write(runner.root, ref, cur)
    out = _check(runner, html=False, concept={"metric": "accuracy", "max_drop": 0.1})
    assert out.concept_drift.metric == "accuracy" and out.concept_drift.reference == 1.0
    assert out.concept_drift.drifted and out.prediction_drift.kind == "label" and out.prediction_drift.drifted
    _write(runner.root, ref, cur.drop(columns=["target"]))
    unlabelled = _check(runner, html=False, concept={"metric": "accuracy"})
    assert unlabelled.concept_drift is None and any("labels" in s for s in unlabelled.next_steps)


# --------------------------------------------------------------------------- scheduled check


def test_schedule_renders_a_flow_whose_check_writes_a_retrain_request(runner: ToolRunner) -> None:
    ref, cur = _frames(300)
    _write(runner.root, ref, cur)
    (runner.root / "data/incoming").mkdir()
    ref.to_csv(runner.root / "data/incoming/batch-1.csv", index=False)
    out = runner(TOOL, {"action": "schedule", "reference": "data/ref.csv", "current": "data/incoming/*.csv",
                        "name": "churn", "cron": "*/30 * * * *"})
    flow = runner.root / "mlops/monitoring/drift_flow_churn.py"
    assert [f.path for f in out.files] == ["mlops/monitoring/drift_flow_churn.py", "mlops/monitoring/drift_churn.cron"]
    compile(flow.read_text(), str(flow), "exec")
    cron = (runner.root / "mlops/monitoring/drift_churn.cron").read_text()
    assert "*/30 * * * * cd " in cron and "drift_flow_churn.py" in cron

    spec = importlib.util.spec_from_file_location("drift_flow_churn", flow)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "prefect" not in module.__dict__  # Prefect is imported only by build_flow()
    request = runner.root / "mlops/monitoring/retrain_request-churn.json"
    calm = module.run_check(workspace=runner.root)  # newest incoming file = the reference itself
    assert calm["current"] == "data/incoming/batch-1.csv" and not calm["retrain_requested"] and not request.exists()
    severe = module.run_check(current="data/cur.parquet", workspace=runner.root)
    assert severe["retrain_requested"] and "age" in severe["severe_features"]
    written = json.loads(request.read_text())
    assert written["next_tool"] == "track_ml_experiments" and written["monitor"] == "churn"
    assert (runner.root / "reports/drift/churn.json").exists()
    again = runner(TOOL, {"action": "schedule", "reference": "data/ref.csv", "current": "data/incoming/*.csv",
                          "name": "churn", "cron": "*/30 * * * *"})
    assert [f.action for f in again.files] == ["unchanged", "unchanged"]


# --------------------------------------------------------------------------- Evidently parity


def test_our_numbers_match_evidently_where_defined_the_same_way() -> None:
    """Evidently's ValueDrift values against ours on the same data. Where Evidently bins
    differently (numerical PSI/JS: Sturges bins over both sets), we use its edges; PSI needs
    no empty bin, since the two fill empty bins with different epsilons."""
    from mlops_engineer.engines.drift.evidently_report import value_drift

    rng = np.random.default_rng(11)
    n_ref, n_cur = 3000, 2500
    num_ref, num_cur = rng.uniform(0, 10, n_ref), rng.uniform(0.7, 10.7, n_cur)
    cat_ref = rng.choice(list("abcd"), n_ref, p=[0.4, 0.3, 0.2, 0.1])
    cat_cur = rng.choice(list("abcd"), n_cur, p=[0.3, 0.3, 0.25, 0.15])
    methods = {"n_psi": "psi", "n_js": "jensenshannon", "n_ks": "ks", "n_w": "wasserstein",
               "c_psi": "psi", "c_js": "jensenshannon", "c_chi": "chisquare"}
    ref = pd.DataFrame({c: (num_ref if c.startswith("n_") else cat_ref) for c in methods})
    cur = pd.DataFrame({c: (num_cur if c.startswith("n_") else cat_cur) for c in methods})
    numerical = [c for c in methods if c.startswith("n_")]
    categorical = [c for c in methods if c.startswith("c_")]
    import evidently
    from evidently.presets import DataDriftPreset

    definition = evidently.DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    report = evidently.Report([DataDriftPreset(per_column_method=methods)])
    theirs = value_drift(report.run(evidently.Dataset.from_pandas(cur, data_definition=definition),
                                    evidently.Dataset.from_pandas(ref, data_definition=definition)))

    a, b = ds.NumericSample.from_values(num_ref), ds.NumericSample.from_values(num_cur)
    edges = ds.sturges_edges(a.values, b.values)
    rc, cc = ds.histogram_counts(a.values, edges), ds.histogram_counts(b.values, edges)
    assert rc.min() > 0 and cc.min() > 0
    assert ds.psi(rc, cc) == pytest.approx(theirs["n_psi"], rel=1e-9)
    assert ds.jensen_shannon(rc, cc) == pytest.approx(theirs["n_js"], rel=1e-9)
    ours = ds.numeric_stats("n", a, b)
    assert ours.ks_pvalue == pytest.approx(theirs["n_ks"], rel=1e-9, abs=1e-300)
    assert ours.wasserstein_normed == pytest.approx(theirs["n_w"], rel=1e-9)
    cat = ds.categorical_stats("c", ds.CategoricalCounts.from_values(cat_ref), ds.CategoricalCounts.from_values(cat_cur))
    assert cat.psi == pytest.approx(theirs["c_psi"], rel=1e-9)
    assert cat.js_distance == pytest.approx(theirs["c_js"], rel=1e-9)
    # Evidently's chi-square takes the reference shares as exact; ours is the two-sample test.
    keys = sorted(set(cat_ref))
    counts = [np.array([np.sum(side == k) for k in keys]) for side in (cat_ref, cat_cur)]
    assert ds.evidently_chi_square(*counts)[1] == pytest.approx(theirs["c_chi"], rel=1e-9, abs=1e-300)
    assert cat.chi2_pvalue != pytest.approx(theirs["c_chi"], rel=1e-3, abs=0)
    # Our default numerical PSI (reference-quantile bins) is a different statistic: stated, not hidden.
    assert ours.psi != pytest.approx(theirs["n_psi"], rel=1e-3)
