"""review_data_analysis on real files: an injected-problem corpus (one problem per check), a clean
project that reports nothing above info, overlap counts against DuckDB, and the three
notebook leakage kinds of ASE 2022 with their correct twins, as scripts and as notebooks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_engineer.engines.review.findings import finding, sort_findings
from mlops_engineer.errors import ToolError
from mlops_engineer.tools.review_data_analysis import TOOL
from tests.helpers import ToolRunner

ROLES = {"target": "churned", "group_key": "customer_id", "time_column": "signup"}
ABOVE_INFO = {"low", "medium", "high", "critical"}


# --------------------------------------------------------------------------- a clean project


def clean_frames(rows: int = 800, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A churn table split by time (train older than test), one row per customer."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": np.arange(10_000, 10_000 + rows),
        "signup": pd.date_range("2024-01-01", periods=rows, freq="6h").strftime("%Y-%m-%d %H:%M"),
        "tenure_months": rng.integers(1, 72, rows),
        "monthly_charges": rng.normal(70, 20, rows).round(2),
        "plan": rng.choice(["basic", "plus", "pro"], rows),
        "support_calls": rng.poisson(1.5, rows),
    })
    logit = -1.0 + 0.04 * (frame.monthly_charges - 70) - 0.02 * frame.tenure_months + 0.3 * frame.support_calls
    frame["churned"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    cut = int(rows * 0.75)
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


CLEAN_TRAIN = '''"""Train the churn model: split by time, scale inside a pipeline, log to MLflow."""
import mlflow
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["tenure_months", "monthly_charges", "support_calls"]
train = pd.read_csv("data/train.csv")
holdout = pd.read_csv("data/test.csv")
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
with mlflow.start_run():
    model.fit(train[FEATURES], train["churned"])
    mlflow.log_metric("test_accuracy", model.score(holdout[FEATURES], holdout["churned"]))
'''


def write_clean_project(root: Path) -> None:
    train, test = clean_frames()
    (root / "data").mkdir(parents=True, exist_ok=True)
    train.to_csv(root / "data/train.csv", index=False)
    test.to_csv(root / "data/test.csv", index=False)
    (root / "train.py").write_text(CLEAN_TRAIN)
    (root / "requirements.txt").write_text("pandas==2.2.3\nscikit-learn==1.5.2\nmlflow==3.5.0\n")
    (root / ".dvc").mkdir(exist_ok=True)
    for name in ("train.csv", "test.csv"):
        (root / f"data/{name}.dvc").write_text(f"outs:\n- md5: 0\n  path: {name}\n")


@pytest.fixture
def tools(tmp_path: Path) -> ToolRunner:
    return ToolRunner(tmp_path)


def run(tools: ToolRunner, operation: dict[str, Any], **fields: Any) -> Any:
    return tools(TOOL, operation, **fields)


def all_findings(tools: ToolRunner, name: str) -> list[dict[str, Any]]:
    return json.loads((tools.root / f".mlops/reviews/{name}/findings.json").read_text())


def test_clean_project_reports_nothing_above_info_and_reruns_identically(tools: ToolRunner) -> None:
    write_clean_project(tools.root)
    operation = {"action": "project", "name": "clean", "train": "data/train.csv", "test": "data/test.csv", **ROLES}
    out = run(tools, operation)
    found = all_findings(tools, "clean")
    assert [f for f in found if f["severity"] != "info"] == [], found
    assert out.worst == "info"
    assert {f["check"] for f in found} >= {"split.summary", "repro.dependencies", "repro.data_versioning", "repro.run_tracking"}
    folder = tools.root / ".mlops/reviews/clean"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = run(tools, operation)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert again.model_dump() == out.model_dump()
    report = (folder / "report.md").read_text()
    assert "| high | 0 |" in report and "How this review was made" in report


# --------------------------------------------------------------------------- injected data problems

Frames = tuple[pd.DataFrame, pd.DataFrame]


def _dup_exact(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    return pd.concat([tr, tr.iloc[:40]], ignore_index=True), te


def _dup_near(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    copy = tr.iloc[:40].copy()
    copy["plan"] = copy["plan"].str.upper() + "  "
    copy["monthly_charges"] = copy["monthly_charges"] + 1e-9
    return pd.concat([tr, copy], ignore_index=True), te


def _overlap_rows(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    return tr, pd.concat([te, tr.iloc[:25]], ignore_index=True)


def _overlap_group(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    te = te.copy()
    te.loc[:29, "customer_id"] = tr["customer_id"].iloc[:30].to_numpy()
    return tr, te


def _overlap_time(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    te = te.copy()
    te.loc[:19, "signup"] = "2023-06-01 00:00"
    return tr, te


def _leak_feature(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    rng = np.random.default_rng(1)
    return tr.assign(account_flag=tr["churned"] * 3 + rng.normal(0, 0.1, len(tr))), te


def _leak_name(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    rng = np.random.default_rng(2)
    return tr.assign(churn_reason_code=rng.integers(0, 5, len(tr))), te.assign(churn_reason_code=rng.integers(0, 5, len(te)))


def _labels_missing(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    tr = tr.astype({"churned": "float"})
    tr.loc[:24, "churned"] = np.nan
    return tr, te


def _labels_inconsistent(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    tr = tr.assign(churned=tr["churned"].map({0: "no", 1: "yes"}))
    tr.loc[:9, "churned"] = tr.loc[:9, "churned"].str.upper() + " "
    return tr, te.assign(churned=te["churned"].map({0: "no", 1: "yes"}))


def _labels_imbalance(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    tr = tr.assign(churned=0)
    tr.loc[:11, "churned"] = 1  # 2 %
    return tr, te


def _labels_single(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    return tr.assign(churned=0), te


def _labels_conflicting(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    copy = tr.iloc[:20].copy()
    copy["churned"] = 1 - copy["churned"]
    copy["customer_id"] = copy["customer_id"] + 50_000
    return pd.concat([tr, copy], ignore_index=True), te


def _missing_share(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    tr = tr.copy()
    tr.loc[tr.index % 3 == 0, "support_calls"] = np.nan
    return tr, te


def _missing_informative(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    tr = tr.copy()
    tr.loc[tr["churned"] == 1, "monthly_charges"] = np.nan
    tr.loc[tr.index % 40 == 0, "monthly_charges"] = np.nan
    return tr, te


def _constant(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    return tr.assign(country="NL"), te.assign(country="NL")


def _id_like(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    return tr.assign(order_ref=[f"o-{i:06d}" for i in range(len(tr))]), te


def _high_cardinality(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    words = [f"note {i % 400}" for i in range(len(tr))]
    return tr.assign(free_text=words), te


def _drift(tr: pd.DataFrame, te: pd.DataFrame) -> Frames:
    return tr, te.assign(monthly_charges=te["monthly_charges"] + 60)


# injection, expected check, checks it may also raise (the same problem seen by another check)
DATA_CASES: list[tuple[str, Callable[[pd.DataFrame, pd.DataFrame], Frames], str, set[str]]] = [
    ("duplicates.exact", _dup_exact, "duplicates.exact", set()),
    ("duplicates.near", _dup_near, "duplicates.near", {"drift.split"}),  # upper-cased plans are new categories
    ("overlap.rows", _overlap_rows, "overlap.rows", {"overlap.group", "overlap.time"}),
    ("overlap.group", _overlap_group, "overlap.group", set()),
    ("overlap.time", _overlap_time, "overlap.time", set()),
    ("leakage.single_feature", _leak_feature, "leakage.single_feature", set()),
    ("leakage.name", _leak_name, "leakage.name", set()),
    ("labels.missing", _labels_missing, "labels.missing", set()),
    ("labels.inconsistent", _labels_inconsistent, "labels.inconsistent", set()),
    ("labels.imbalance", _labels_imbalance, "labels.imbalance", set()),
    ("labels.single_class", _labels_single, "labels.single_class", set()),
    ("labels.conflicting", _labels_conflicting, "labels.conflicting", set()),
    ("missing.share", _missing_share, "missing.share", set()),
    ("missing.informative", _missing_informative, "missing.informative",
     {"missing.share", "leakage.single_feature", "drift.split", "labels.conflicting"}),  # NaN for most churners
    ("columns.constant", _constant, "columns.constant", set()),
    ("columns.id_like", _id_like, "columns.id_like", set()),
    ("columns.high_cardinality", _high_cardinality, "columns.high_cardinality", set()),
    ("drift.split", _drift, "drift.split", set()),
]


@pytest.mark.parametrize(("label", "inject", "expected", "also"), DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_each_injected_data_problem_is_found(tools: ToolRunner, label: str, inject: Callable, expected: str, also: set[str]) -> None:
    train, test = inject(*clean_frames())
    (tools.root / "data").mkdir()
    train.to_csv(tools.root / "data/train.csv", index=False)
    test.to_parquet(tools.root / "data/test.parquet")
    run(tools, {"action": "data", "name": "case", "train": "data/train.csv", "test": "data/test.parquet", **ROLES})
    raised = [f for f in all_findings(tools, "case") if f["severity"] in ABOVE_INFO]
    assert expected in {f["check"] for f in raised}, raised
    assert {f["check"] for f in raised} <= {expected, *also}, raised  # one problem, not a cascade of alarms
    hit = next(f for f in raised if f["check"] == expected)
    assert hit["evidence"]["file"] and hit["fix"] and hit["evidence"]["command"]
    assert hit["evidence"]["numbers"] or hit["evidence"]["detail"]


def test_declared_pandera_contract_is_enforced(tools: ToolRunner) -> None:
    import os

    from mlops_engineer.engines.review.data_review import import_pandera

    before = os.environ.get("PYARROW_IGNORE_TIMEZONE")
    pa = import_pandera()
    assert os.environ.get("PYARROW_IGNORE_TIMEZONE") == before, "pandera's import must not leak PYARROW_IGNORE_TIMEZONE"

    train, test = clean_frames()
    train.loc[:6, "tenure_months"] = -3
    (tools.root / "data").mkdir()
    train.to_csv(tools.root / "data/train.csv", index=False)
    schema = pa.DataFrameSchema({"tenure_months": pa.Column(int, pa.Check.in_range(1, 72))})
    (tools.root / "contract.yaml").write_text(schema.to_yaml())
    run(tools, {"action": "data", "name": "contract", "data": "data/train.csv", "target": "churned", "contract": "contract.yaml"})
    hits = [f for f in all_findings(tools, "contract") if f["check"] == "contract.violation"]
    assert len(hits) == 1 and hits[0]["evidence"]["numbers"]["failures"] == 7


def test_single_feature_leak_on_a_regression_target(tools: ToolRunner) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=500), "noise": rng.normal(size=500)})
    frame["revenue"] = frame["x"] * 10 + rng.normal(0, 0.1, 500)
    frame.to_parquet(tools.root / "sales.parquet")
    run(tools, {"action": "data", "name": "reg", "data": "sales.parquet", "target": "revenue"})
    leaks = {f["evidence"]["detail"].split(";")[0]: f for f in all_findings(tools, "reg") if f["check"] == "leakage.single_feature"}
    assert list(leaks) == ["column x"] and leaks["column x"]["evidence"]["numbers"]["cv_r2"] > 0.95


# --------------------------------------------------------------------------- overlap counts against DuckDB


def test_overlap_counts_equal_duckdb(tools: ToolRunner) -> None:
    import duckdb

    train, test = clean_frames(rows=1200, seed=11)
    train.loc[train.index % 17 == 0, "plan"] = None  # missing values must match missing values
    rng = np.random.default_rng(3)
    copied = train.sample(37, random_state=1)
    test = pd.concat([test, copied, copied.iloc[:5]], ignore_index=True)  # repeats count per test row
    test.loc[rng.choice(len(test), 50, replace=False), "customer_id"] = rng.choice(train["customer_id"], 50)
    test.loc[rng.choice(len(test), 30, replace=False), "signup"] = "2024-02-01 00:00"
    (tools.root / "data").mkdir()
    train.to_csv(tools.root / "data/train.csv", index=False)
    test.to_csv(tools.root / "data/test.csv", index=False)
    run(tools, {"action": "data", "name": "ov", "train": "data/train.csv", "test": "data/test.csv", **ROLES})
    numbers = {f["check"]: f["evidence"]["numbers"] for f in all_findings(tools, "ov")}

    con = duckdb.connect()
    con.execute(f"CREATE TABLE tr AS SELECT * FROM read_csv_auto('{tools.root}/data/train.csv')")
    con.execute(f"CREATE TABLE te AS SELECT * FROM read_csv_auto('{tools.root}/data/test.csv')")
    same = " AND ".join(f't."{c}" IS NOT DISTINCT FROM r."{c}"' for c in train.columns)
    rows = con.execute(f"SELECT count(*) FROM te t WHERE EXISTS (SELECT 1 FROM tr r WHERE {same})").fetchone()[0]
    groups, group_rows = con.execute(
        "SELECT count(DISTINCT customer_id), count(*) FROM te WHERE customer_id IN (SELECT customer_id FROM tr)").fetchone()
    older = con.execute("SELECT count(*) FROM te WHERE signup < (SELECT max(signup) FROM tr)").fetchone()[0]
    assert rows > 20  # some copies were changed by the group and time injections below
    assert numbers["overlap.rows"]["test_rows_in_train"] == rows
    assert (numbers["overlap.group"]["shared_groups"], numbers["overlap.group"]["test_rows"]) == (groups, group_rows)
    assert numbers["overlap.time"]["test_rows_older"] == older


# --------------------------------------------------------------------------- code: ASE 2022 kinds and twins

HEAD = """import pandas as pd
from sklearn.model_selection import train_test_split
df = pd.read_csv("data.csv")
X, y = df.drop(columns=["y"]), df["y"]
"""
# kind -> (leaking body, its correct twin, the check, line of the finding in the leaking script)
ASE_CASES = {
    "preprocessing": (
        "from sklearn.preprocessing import StandardScaler\n"
        "X = StandardScaler().fit_transform(X)\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n",
        "from sklearn.preprocessing import StandardScaler\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
        "scaler = StandardScaler().fit(X_train)\n"
        "X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)\n",
        "code.preprocessing_before_split", 6,
    ),
    "overlap": (
        "from imblearn.over_sampling import SMOTE\n"
        "X_res, y_res = SMOTE(random_state=0).fit_resample(X, y)\n"
        "X_train, X_test, y_train, y_test = train_test_split(X_res, y_res, random_state=0)\n",
        "from imblearn.over_sampling import SMOTE\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
        "X_res, y_res = SMOTE(random_state=0).fit_resample(X_train, y_train)\n",
        "code.resampling_before_split", 6,
    ),
    "multi-test": (
        "from sklearn.neighbors import KNeighborsClassifier\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
        "scores = {}\n"
        "for k in (1, 3, 5):\n"
        "    model = KNeighborsClassifier(n_neighbors=k).fit(X_train, y_train)\n"
        "    scores[k] = model.score(X_test, y_test)\n",
        "from sklearn.neighbors import KNeighborsClassifier\n"
        "X_rest, X_test, y_rest, y_test = train_test_split(X, y, random_state=0)\n"
        "X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, random_state=0)\n"
        "scores = {}\n"
        "for k in (1, 3, 5):\n"
        "    model = KNeighborsClassifier(n_neighbors=k).fit(X_train, y_train)\n"
        "    scores[k] = model.score(X_val, y_val)\n"
        "best = KNeighborsClassifier(n_neighbors=max(scores, key=scores.get)).fit(X_rest, y_rest)\n"
        "print(best.score(X_test, y_test))\n",
        "code.multi_test", 10,
    ),
}


def notebook(cells: list[str]) -> str:
    return json.dumps({"cells": [{"cell_type": "markdown", "source": ["# notes"]}]
                      + [{"cell_type": "code", "source": c.splitlines(keepends=True), "metadata": {}, "outputs": []} for c in cells],
                      "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.mark.parametrize("kind", list(ASE_CASES))
def test_ase_2022_leakage_kinds_found_and_twins_clean(tools: ToolRunner, kind: str) -> None:
    leaking, twin, check, line = ASE_CASES[kind]
    (tools.root / "leak.py").write_text(HEAD + leaking)
    (tools.root / "twin.py").write_text(HEAD + twin)
    # The same code as notebooks: the head in one cell, the rest in the next, behind a magic.
    (tools.root / "leak.ipynb").write_text(notebook([HEAD, "%matplotlib inline\n" + leaking]))
    (tools.root / "twin.ipynb").write_text(notebook([HEAD, "%matplotlib inline\n" + twin]))
    run(tools, {"action": "code", "name": kind, "paths": ["."]})
    found = [f for f in all_findings(tools, kind) if f["severity"] in ABOVE_INFO]
    by_file = {name: [(f["check"], f["evidence"]["line"]) for f in found if f["evidence"]["file"] == name]
               for name in ("leak.py", "twin.py", "leak.ipynb", "twin.ipynb")}
    assert by_file["leak.py"] == [(check, line)]
    assert by_file["leak.ipynb"] == [(check, line - 4 + 1)]  # line in cell 2, after the magic line
    assert by_file["twin.py"] == [] and by_file["twin.ipynb"] == []
    cell = next(f for f in found if f["evidence"]["file"] == "leak.ipynb")
    assert cell["evidence"]["detail"].startswith("cell 2") and f"ASE 2022 kind: {kind}" in cell["evidence"]["detail"]


CODE_CASES = {
    "code.fit_on_test": "from sklearn.preprocessing import StandardScaler\n"
                        "train, test = pd.read_csv('train.csv'), pd.read_csv('test.csv')\n"
                        "scaler = StandardScaler().fit(pd.concat([train, test]))\n",
    "code.train_on_test": "from sklearn.linear_model import LogisticRegression\n"
                          "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
                          "LogisticRegression().fit(X_test, y_test)\n",
    "code.early_stopping_on_test": "from xgboost import XGBClassifier\n"
                                   "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
                                   "XGBClassifier().fit(X_train, y_train, eval_set=[(X_test, y_test)])\n",
    "code.multi_test": "from sklearn.linear_model import LogisticRegression\nfrom sklearn.svm import SVC\n"
                       "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
                       "lr = LogisticRegression().fit(X_train, y_train)\nsvc = SVC().fit(X_train, y_train)\n"
                       "print(lr.score(X_test, y_test), svc.score(X_test, y_test))\n",
    "code.seed_missing": "from sklearn.ensemble import RandomForestClassifier\n"
                         "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
                         "RandomForestClassifier(n_estimators=10).fit(X_train, y_train)\n",
    "repro.absolute_path": "other = pd.read_csv('/home/alice/churn/extra.csv')\n",
}


@pytest.mark.parametrize("check", list(CODE_CASES))
def test_each_injected_code_problem_is_found(tools: ToolRunner, check: str) -> None:
    (tools.root / "train.py").write_text(HEAD + CODE_CASES[check])
    run(tools, {"action": "code", "name": "c", "paths": ["train.py"]})
    raised = [f["check"] for f in all_findings(tools, "c") if f["severity"] in ABOVE_INFO]
    assert raised == [check]


def test_reproducibility_problems_are_found(tools: ToolRunner) -> None:
    write_clean_project(tools.root)
    (tools.root / "requirements.txt").write_text("pandas\nscikit-learn>=1.5\nmlflow==3.5.0\n")
    (tools.root / "data/extra.parquet").write_bytes(b"PAR1")
    (tools.root / "train.py").write_text(CLEAN_TRAIN.replace("import mlflow\n", "").replace("with mlflow.start_run():\n", "if True:\n"))
    run(tools, {"action": "project", "name": "repro"})
    raised = {f["check"]: f for f in all_findings(tools, "repro") if f["severity"] in ABOVE_INFO}
    assert set(raised) == {"repro.dependencies", "repro.data_versioning", "repro.run_tracking"}
    assert raised["repro.dependencies"]["evidence"]["numbers"]["unpinned"] == 2
    assert raised["repro.data_versioning"]["evidence"]["detail"] == "data/extra.parquet"


# --------------------------------------------------------------------------- contract behaviour


def test_dry_run_writes_nothing_and_bad_inputs_are_named(tools: ToolRunner) -> None:
    write_clean_project(tools.root)
    out = run(tools, {"action": "data", "train": "data/train.csv", "test": "data/test.csv", "target": "churned"}, dry_run=True)
    assert out.dry_run and out.planned_calls and not (tools.root / ".mlops/reviews").exists()
    with pytest.raises(ToolError) as missing:
        run(tools, {"action": "data", "data": "data/nope.csv"})
    assert missing.value.code == "not_found"
    with pytest.raises(ToolError) as column:
        run(tools, {"action": "data", "data": "data/train.csv", "target": "churn"})
    assert column.value.code == "invalid_input" and "churn" in column.value.message
    with pytest.raises(ToolError) as outside:
        run(tools, {"action": "code", "paths": ["../elsewhere.py"]})
    assert outside.value.code == "outside_workspace"


def test_a_dvc_pointer_reviews_its_data(tools: ToolRunner) -> None:
    write_clean_project(tools.root)
    out = run(tools, {"action": "data", "name": "dvc", "data": "data/train.csv.dvc", "target": "churned"})
    assert out.reviewed == ["data/train.csv"]


def test_finding_ids_and_order_are_stable() -> None:
    a = finding("x.check", "low", "title 1", "fix", file="a.py", line=3)
    b = finding("x.check", "high", "title 2", "fix", file="a.py", line=9)
    assert a.id == finding("x.check", "low", "title 1", "other fix", file="a.py", line=3).id
    assert [f.id for f in sort_findings([a, b, a])] == [b.id, a.id]


def test_rank_auc_equals_scikit_learn() -> None:
    from sklearn.metrics import roc_auc_score

    from mlops_engineer.engines.review.leakage import auc

    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 3000)
    tied = rng.integers(0, 7, 3000) + truth  # many ties, as a target encoding has
    smooth = rng.normal(size=3000) + truth
    for score in (tied, smooth):
        assert auc(truth, score) == pytest.approx(roc_auc_score(truth, score), abs=1e-12)
