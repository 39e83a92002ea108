"""label_training_data against a real Label Studio 1.23 (tests/fixtures/label_studio.py).

The round trip: create a project, import 130 tasks (more than one page of the API and more
than the 50 the peer MCP server lists), three users annotate through the API each with
their own token, then next_batch, export and agreement read every page back.
"""

from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.label_training_data import TOOL
from tests.helpers import ToolRunner

pytestmark = pytest.mark.server

LABELS = ["positive", "negative", "neutral"]
TASKS = 130
ANNOTATED = 21


@pytest.fixture
def tools(tmp_path: Path, label_studio_server, monkeypatch: pytest.MonkeyPatch) -> ToolRunner:  # noqa: ANN001
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio_server.token)
    return ToolRunner(tmp_path)


def _write_reviews(root: Path) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    truth = [LABELS[i % 3] for i in range(TASKS)]
    frame = pd.DataFrame({"review_id": [f"r{i:03d}" for i in range(TASKS)], "text": [f"review number {i}" for i in range(TASKS)],
                          "stars": [{"positive": 5, "negative": 1, "neutral": 3}[t] + int(rng.integers(-1, 2)) for t in truth],
                          "length": rng.integers(10, 400, TASKS), "truth": truth})
    (root / "data").mkdir(exist_ok=True)
    frame.to_csv(root / "data/reviews.csv", index=False)
    return frame


def test_round_trip_three_annotators(tools: ToolRunner, label_studio_server) -> None:  # noqa: ANN001
    title = f"rt-{tools.root.name}"[:50]
    spec = {"kind": "classification", "labels": LABELS, "name": "sentiment"}
    created = tools(TOOL, {"action": "create_project", "title": title, "spec": spec})
    assert created.project.created and created.server == label_studio_server.url
    again = tools(TOOL, {"action": "create_project", "title": title, "spec": spec})
    assert (again.project.id, again.project.created) == (created.project.id, False)
    changed = {**spec, "labels": [*LABELS, "mixed"]}
    with pytest.raises(ToolError) as refused:
        tools(TOOL, {"action": "create_project", "title": title, "spec": changed})
    assert refused.value.code == "needs_confirm"
    project = created.project.id

    _write_reviews(tools.root)
    imported = tools(TOOL, {"action": "import_tasks", "project": title, "path": "data/reviews.csv", "id_column": "review_id", "batch_size": 50})
    assert (imported.imported.imported, imported.imported.batches) == (TASKS, 3)
    assert [p for p in tools.progress if p[2] and p[2].startswith("importing")][-1][:2] == (100, TASKS)
    repeat = tools(TOOL, {"action": "import_tasks", "project": project, "path": "data/reviews.csv", "id_column": "review_id"})
    assert (repeat.imported.imported, repeat.imported.skipped_existing) == (0, TASKS)

    # Three users, each with a token of their own; user 3 answers at random half the time.
    admin = label_studio_server.client()
    users = [label_studio_server.annotator(f"{name}-{tools.root.name}@example.com") for name in ("ann-b", "ann-c")]
    clients = [admin, *(label_studio_server.client(token) for _, token in users)]
    tasks = sorted(admin.tasks.list(project=project, page_size=100), key=lambda t: t.id)
    assert len(tasks) == TASKS
    truth = {t.id: t.data["truth"] for t in tasks}
    rng = np.random.default_rng(9)
    given: dict[tuple[int, int], str] = {}
    for who, (client, accuracy) in enumerate(zip(clients, (0.95, 0.9, 0.5), strict=True)):
        for task in tasks[:ANNOTATED]:
            answer = truth[task.id] if rng.random() < accuracy else str(rng.choice([x for x in LABELS if x != truth[task.id]]))
            client.annotations.create(id=task.id, result=[{"from_name": "sentiment", "to_name": "text", "type": "choices",
                                                           "value": {"choices": [answer]}}])
            given[(who, task.id)] = answer
    user_ids = {a.completed_by for a in admin.annotations.list(id=tasks[0].id)}
    assert len(user_ids) == 3 and {uid for uid, _ in users} < user_ids  # each annotation is its author's

    uncertain = tools(TOOL, {"action": "next_batch", "project": project, "strategy": "uncertainty", "size": 1000})
    assert uncertain.batch.total_rows == TASKS - ANNOTATED  # every page read: more than 50, more than 100
    assert {r["task_id"] for r in pd.read_csv(tools.root / uncertain.batch.full_result_path).to_dict("records")} == {t.id for t in tasks[ANNOTATED:]}
    disputed = tools(TOOL, {"action": "next_batch", "project": project, "strategy": "disagreement", "size": 5})
    assert 0 < disputed.batch.total_rows <= 5 and disputed.batch.rows[0]["disagreement"] >= disputed.batch.rows[-1]["disagreement"]

    exported = tools(TOOL, {"action": "export", "project": title, "output": "data/labels.parquet", "resolve": "dawid_skene", "min_annotations": 2})
    labels = pd.read_parquet(tools.root / "data/labels.parquet")
    assert len(labels) == ANNOTATED and set(labels.label_source) == {"dawid_skene"}
    assert (labels.label == labels.truth).mean() >= 0.9
    careless = f"ann-c-{tools.root.name}@example.com"
    assert exported.export.annotator_accuracy[careless] < min(v for k, v in exported.export.annotator_accuracy.items() if k != careless)
    assert careless in labels.annotators.iloc[0]  # annotators named by email
    majority = tools(TOOL, {"action": "export", "project": project, "output": "data/majority.csv"})
    assert sum(majority.export.sources.values()) == ANNOTATED

    report = tools(TOOL, {"action": "agreement", "project": project, "bootstrap": 200}).agreement
    matrix = np.full((3, ANNOTATED), np.nan)
    for (who, task_id), answer in given.items():
        matrix[who, [t.id for t in tasks].index(task_id)] = LABELS.index(answer)
    assert abs(report.alpha["nominal"].estimate - krippendorff.alpha(matrix, level_of_measurement="nominal")) <= 1e-12
    assert report.fleiss_items == ANNOTATED and report.fleiss_raters == 3
    admin_email = "admin@example.com"
    pair = next(r for r in report.pairs.rows if {r["annotator_a"], r["annotator_b"]} == {admin_email, careless})
    a, c = sorted([admin_email, careless])
    rows = {admin_email: matrix[0], careless: matrix[2]}
    assert pair["kappa"] == round(cohen_kappa_score(rows[a], rows[c]), 6)


def test_pre_annotations_from_an_mlflow_model(tools: ToolRunner) -> None:
    """A classifier registered in the embedded store pre-labels the tasks with its top class
    and probability; next_batch then puts the least confident first."""
    import sklearn
    from sklearn.linear_model import LogisticRegression

    from mlops_engineer.engines.mlflow.backend import fluent, make_client, resolve_target

    frame = _write_reviews(tools.root)
    model = LogisticRegression(max_iter=500).fit(frame[["stars", "length"]], frame["truth"])
    name = tools.unique("sentiment")
    target = resolve_target(tools.ctx.workspace, tools.settings)
    # Artifacts inside the test's workspace, never MLflow's default ./mlruns in the checkout.
    experiment = make_client(target).create_experiment(name, artifact_location=(tools.root / "mlartifacts").as_uri())
    with fluent(target) as mlflow:
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name, serialization_format="cloudpickle",
                                            pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
    make_client(target).set_registered_model_alias(name, "champion", info.registered_model_version)

    title = f"pre-{tools.root.name}"[:50]
    tools(TOOL, {"action": "create_project", "title": title, "spec": {"kind": "classification", "labels": LABELS}})
    out = tools(TOOL, {"action": "import_tasks", "project": title, "path": "data/reviews.csv",
                       "predictions": {"model_uri": f"models:/{name}@champion", "feature_columns": ["stars", "length"]}})
    assert out.imported.predictions == TASKS and out.imported.model_version == f"models:/{name}@champion"
    batch = tools(TOOL, {"action": "next_batch", "project": title, "size": 10}).batch
    proba = model.predict_proba(frame[["stars", "length"]]).max(axis=1)
    assert [r["score"] for r in batch.rows] == pytest.approx(sorted(proba)[:10])
    assert batch.rows[0]["reason"] == "low prediction score"

    bad = {"action": "import_tasks", "project": title, "path": "data/reviews.csv", "id_column": "review_id",
           "predictions": {"model_uri": f"models:/{name}@missing"}}
    with pytest.raises(ToolError) as missing:
        tools(TOOL, bad)
    assert missing.value.code == "not_found"


def test_exported_json_round_trips_offline(tools: ToolRunner, label_studio_server) -> None:  # noqa: ANN001
    """Label Studio's own JSON export, read by the offline path, gives the live figures."""
    title = f"off-{tools.root.name}"[:50]
    project = tools(TOOL, {"action": "create_project", "title": title, "spec": {"kind": "rating", "max_rating": 5, "name": "score"}}).project.id
    (tools.root / "t.jsonl").write_text("".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(8)))
    tools(TOOL, {"action": "import_tasks", "project": project, "path": "t.jsonl"})
    admin = label_studio_server.client()
    other = label_studio_server.client(label_studio_server.annotator(f"rater-{tools.root.name}@example.com")[1])
    for i, task in enumerate(sorted(admin.tasks.list(project=project), key=lambda t: t.id)):
        for client, rating in ((admin, 1 + i % 5), (other, 1 + (i + i % 2) % 5)):
            client.annotations.create(id=task.id, result=[{"from_name": "score", "to_name": "text", "type": "rating", "value": {"rating": rating}}])
    exported = admin.projects.exports.as_json(project)
    (tools.root / "export.json").write_text(json.dumps(exported))
    live = tools(TOOL, {"action": "agreement", "project": project, "bootstrap": 0}).agreement
    offline = tools(TOOL, {"action": "agreement", "export_file": "export.json", "bootstrap": 0}).agreement
    assert list(live.alpha) == ["nominal", "ordinal", "interval", "ratio"]
    assert {k: v.estimate for k, v in live.alpha.items()} == {k: v.estimate for k, v in offline.alpha.items()}


def test_wrong_key_and_unknown_project(tools: ToolRunner, label_studio_server) -> None:  # noqa: ANN001
    wrong = "0" * 40
    with pytest.raises(ToolError) as refused:
        tools(TOOL, {"action": "next_batch", "project": 1}, api_key=wrong)
    assert refused.value.code == "backend_unreachable" and "API key" in refused.value.message and wrong not in str(refused.value)
    with pytest.raises(ToolError) as missing:
        tools(TOOL, {"action": "export", "project": "no such project", "output": "x.csv"})
    assert missing.value.code == "not_found"
