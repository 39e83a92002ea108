"""label_training_data without a server: specs and configs, answer values, export and
agreement on a JSON export file, and the refusals that come before any call."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest

from mlops_engineer.bundle import bundle_path
from mlops_engineer.engines.labeling.config import Spec, labels_in, render_config, spec_from_config, value_of
from mlops_engineer.errors import ToolError
from mlops_engineer.tools.label_training_data import TOOL
from tests.helpers import ToolRunner

SAMPLE = bundle_path("templates") / "labeling" / "sample_export.json"


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ToolRunner:
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    (tmp_path / "labels").mkdir()
    shutil.copy(SAMPLE, tmp_path / "labels" / "export.json")
    return ToolRunner(tmp_path)


def _error(call) -> ToolError:  # noqa: ANN001
    with pytest.raises(ToolError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(("kind", "labels", "control", "target"), [
    ("classification", ["pos", "neg"], "Choices", "Text"),
    ("multi_label", ["a", "b", "c"], "Choices", "Text"),
    ("ner", ["PER", "ORG"], "Labels", "Text"),
    ("bbox", ["car"], "RectangleLabels", "Image"),
    ("rating", [], "Rating", "Text"),
])
def test_every_kind_renders_a_config_that_reads_back(kind: str, labels: list[str], control: str, target: str) -> None:
    spec = Spec(kind, tuple(labels), "image" if kind == "bbox" else "text", "label", 4, 'Say "why" & <how>')  # type: ignore[arg-type]
    xml = render_config(spec)
    root = ET.fromstring(xml)
    assert root.find(control).get("toName") == root.find(target).get("name") == spec.data_field
    assert root.find("Header").get("value") == 'Say "why" & <how>'  # escaped by ElementTree, read back intact
    back = spec_from_config(xml)
    assert (back.kind, back.labels, back.name, back.data_field) == (kind, tuple(labels), "label", spec.data_field)


@pytest.mark.parametrize(("spec", "fragment"), [
    (Spec("classification", ("only",), "text", "label"), "at least two labels"),
    (Spec("classification", ("a", "a"), "text", "label"), "listed twice"),
    (Spec("multi_label", ("a|b", "c"), "text", "label"), "may not contain"),
    (Spec("ner", ("PER",), "text", "text"), "must differ"),
    (Spec("rating", ("x",), "text", "label"), "no labels"),
    (Spec("classification", ("a", "b"), "bad field", "label"), "data_field"),
    (Spec("classification", ("a\x00", "b\ud7ff\ud800"), "text", "label"), "control character"),
])
def test_bad_specs_are_refused(spec: Spec, fragment: str) -> None:
    assert fragment in _error(lambda: render_config(spec)).message


def test_answer_values_per_kind() -> None:
    def result(kind: str, **value: object) -> list[dict[str, object]]:
        return [{"from_name": "label", "to_name": "text", "type": kind, "value": value}]

    multi = Spec("multi_label", ("a", "b"), "text", "label")
    assert value_of(result("choices", choices=["b", "a"]), multi) == "a|b"
    assert labels_in("a|b", multi) == {"a", "b"}
    ner = Spec("ner", ("PER",), "text", "label")
    spans = result("labels", start=0, end=4, labels=["PER"]) + result("labels", start=9, end=12, labels=["ORG"])
    assert value_of(spans, ner) == "0-4:PER|9-12:ORG" and labels_in("0-4:PER|9-12:ORG", ner) == {"PER", "ORG"}
    box = Spec("bbox", ("car",), "image", "label")
    assert value_of(result("rectanglelabels", x=10.2, y=20.7, width=5, height=5, rectanglelabels=["car"]), box) == "10,21,5,5:car"
    assert value_of(result("rating", rating=4), Spec("rating", (), "text", "label")) == 4
    assert value_of(result("choices", choices=["x"]), Spec("classification", ("x", "y"), "text", "other")) is None


def test_agreement_on_a_bundled_export_equals_the_reference_packages(tools: ToolRunner) -> None:
    out = tools(TOOL, {"action": "agreement", "export_file": "labels/export.json", "bootstrap": 200})
    tasks = json.loads(SAMPLE.read_text())
    codes = {"negative": 0, "neutral": 1, "positive": 2}
    matrix = np.full((3, len(tasks)), np.nan)
    for j, task in enumerate(tasks):
        for a in task["annotations"]:
            matrix[a["completed_by"] - 1, j] = codes[a["result"][0]["value"]["choices"][0]]
    a = out.agreement
    assert abs(a.alpha["nominal"].estimate - krippendorff.alpha(matrix, level_of_measurement="nominal")) <= 1e-12
    assert a.alpha["nominal"].low < a.alpha["nominal"].estimate < a.alpha["nominal"].high
    assert list(a.alpha) == ["nominal"] and a.kind == "classification" and a.annotators == 3
    pair = {(r["annotator_a"], r["annotator_b"]): r for r in a.pairs.rows}
    assert pair[("1", "2")]["kappa"] > pair[("1", "3")]["kappa"]  # annotator 3 is the careless one
    assert {r["label"] for r in a.labels.rows} == set(codes)
    shares = [r["disagreement"] for r in a.disagreements.rows]
    assert shares == sorted(shares, reverse=True) and shares[0] == 1.0 and a.disagreements.rows[0]["distinct"] >= 2
    again = tools(TOOL, {"action": "agreement", "export_file": "labels/export.json", "bootstrap": 200})
    assert again.agreement == out.agreement  # fixed seed: the same call, the same figures
    bad = _error(lambda: tools(TOOL, {"action": "agreement", "export_file": "labels/export.json", "levels": ["interval"]}))
    assert bad.code == "invalid_input" and "numeric" in bad.message


def test_export_resolves_conflicts_and_records_provenance(tools: ToolRunner) -> None:
    out = tools(TOOL, {"action": "export", "export_file": "labels/export.json", "output": "data/train.csv"})
    frame = pd.read_csv(tools.root / "data/train.csv")
    assert len(frame) == out.export.rows == 40
    assert set(frame.label_source) <= {"majority", "majority_tie"} and {"text", "votes", "annotators", "task_id"} <= set(frame.columns)
    first = frame.iloc[0]
    assert first.votes.split(";")[0].startswith(first.label + "=")
    again = tools(TOOL, {"action": "export", "export_file": "labels/export.json", "output": "data/train.csv"})
    assert again.export == out.export  # rewriting our own file needs no confirm

    ds = tools(TOOL, {"action": "export", "export_file": "labels/export.json", "output": "data/ds.parquet", "resolve": "dawid_skene"})
    assert ds.export.sources == {"dawid_skene": 40}
    assert ds.export.annotator_accuracy["3"] < min(ds.export.annotator_accuracy["1"], ds.export.annotator_accuracy["2"])
    provenance = json.loads((tools.root / ds.export.provenance_path).read_text())
    assert provenance["method"] == "dawid_skene" and provenance["dawid_skene"]["converged"]
    assert pd.read_parquet(tools.root / "data/ds.parquet").label_source.eq("dawid_skene").all()

    chosen = tools(TOOL, {"action": "export", "export_file": "labels/export.json", "output": "data/a2.jsonl",
                          "resolve": "annotator", "annotator": "2"})
    assert chosen.export.sources["annotator:2"] == 35  # annotator 2 skipped five tasks
    assert sum(chosen.export.sources.values()) == 40

    (tools.root / "data/mine.csv").write_text("hand,made\n")
    refused = _error(lambda: tools(TOOL, {"action": "export", "export_file": "labels/export.json", "output": "data/mine.csv"}))
    assert refused.code == "needs_confirm" and (tools.root / "data/mine.csv").read_text() == "hand,made\n"


def test_refusals_before_any_call(tools: ToolRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"kind": "classification", "labels": ["a", "b"]}
    plan = tools(TOOL, {"action": "create_project", "title": "t", "spec": spec}, dry_run=True)
    assert plan.dry_run and "<Choices" in plan.project.label_config
    missing = _error(lambda: tools(TOOL, {"action": "create_project", "title": "t", "spec": spec}))
    assert missing.code == "invalid_input" and "LABEL_STUDIO_URL" in missing.message
    token = "FUZZTOKEN0123456789abcdef0123456789abcd"
    down = _error(lambda: tools(TOOL, {"action": "create_project", "title": "t", "spec": spec}, url="http://127.0.0.1:9", api_key=token))
    assert down.code == "backend_unreachable" and token not in str(down)
    in_url = _error(lambda: tools(TOOL, {"action": "next_batch", "project": 1}, url=f"http://user:{token}@127.0.0.1:9"))
    assert in_url.code == "invalid_input" and token not in str(in_url)
    both = _error(lambda: tools(TOOL, {"action": "agreement", "project": 1, "export_file": "labels/export.json"}))
    assert both.code == "invalid_input"
    outside = _error(lambda: tools(TOOL, {"action": "export", "export_file": "../x.json", "output": "o.csv"}))
    assert outside.code == "outside_workspace"
    (tools.root / "labels/garbage.json").write_text("{not json")
    assert _error(lambda: tools(TOOL, {"action": "agreement", "export_file": "labels/garbage.json"})).code == "invalid_input"


def test_export_tracked_with_version_ml_data(tools: ToolRunner) -> None:
    """track=true runs version_ml_data's `track` on the export: a .dvc file with its md5."""
    import hashlib

    from mlops_engineer.tools.version_ml_data import TOOL as VERSION_DATA

    tools(VERSION_DATA, {"action": "init"}, confirm=True)
    out = tools(TOOL, {"action": "export", "export_file": "labels/export.json", "output": "data/tracked.csv", "track": True})
    data = (tools.root / "data/tracked.csv").read_bytes()
    assert out.export.tracked["dvc_file"] == "data/tracked.csv.dvc"
    assert out.export.tracked["md5"] == hashlib.md5(data).hexdigest()  # noqa: S324 - DVC's own content hash
    assert (tools.root / "data/tracked.csv.dvc").is_file()
