"""design_serialization_schema through execute(): real files, real pyarrow/fastavro/protoc, a real workspace."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pandas as pd
import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.design_serialization_schema import TOOL
from tests.helpers import ToolRunner

TOOL_NAME = TOOL.name


@pytest.fixture
def runner(tmp_path: Path) -> ToolRunner:
    return ToolRunner(tmp_path)


def _frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "customer_id": np.arange(n),
        "plan": rng.choice(["basic", "pro", "team"], n),
        "tenure": rng.integers(1, 60, n).astype("int32"),
        "charges": rng.normal(50, 9, n),
        "note": [f"free text {i}" for i in range(n)],
        "churned": rng.integers(0, 2, n).astype(bool),
    })
    frame.loc[[3, 7], "charges"] = np.nan
    return frame


def _call(runner: ToolRunner, operation: dict[str, Any], **fields: Any) -> Any:
    return runner(TOOL, operation, **fields)


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl", "avro"])
def test_infer_each_file_format(runner: ToolRunner, suffix: str) -> None:
    frame, path = _frame(), runner.root / f"data/train.{suffix}"
    path.parent.mkdir()
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "parquet":
        frame.to_parquet(path)
    elif suffix == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        schema = {"type": "record", "name": "R", "fields": [
            {"name": "customer_id", "type": "long"}, {"name": "plan", "type": "string"}, {"name": "tenure", "type": "int"},
            {"name": "charges", "type": ["null", "double"]}, {"name": "note", "type": "string"}, {"name": "churned", "type": "boolean"}]}
        rows = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in frame.to_dict("records")]
        with path.open("wb") as handle:
            fastavro.writer(handle, fastavro.parse_schema(schema), rows)
    for fmt in ("avro", "json", "protobuf"):
        out = _call(runner, {"action": "infer", "path": f"data/train.{suffix}", "format": fmt, "name": "Churn"})
        cols = {c.name: c for c in out.columns}
        assert out.rows == 120 and list(cols) == list(frame.columns)
        assert cols["plan"].type == "enum" and cols["plan"].symbols == ["basic", "pro", "team"]
        assert cols["note"].type == "string", "120 distinct values is not an enum"
        assert cols["charges"].nullable and cols["charges"].nulls == 2 and not cols["tenure"].nullable
        assert cols["churned"].type == "boolean"
        assert out.definition
    # The Avro schema reads the data: every row written with it.
    avro = json.loads(_call(runner, {"action": "infer", "path": f"data/train.{suffix}", "format": "avro"}).definition)
    rows = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in frame.to_dict("records")]
    fastavro.writer(open(runner.root / "check.avro", "wb"), fastavro.parse_schema(avro), rows)


def test_infer_enum_threshold_and_output_file(runner: ToolRunner) -> None:
    _frame(12).to_csv(runner.root / "small.csv", index=False)
    out = _call(runner, {"action": "infer", "path": "small.csv", "output": "drafts/small.avsc"}, dry_run=True)
    assert not (runner.root / "drafts").exists() and out.dry_run
    out = _call(runner, {"action": "infer", "path": "small.csv", "output": "drafts/small.avsc"})
    assert {c.type for c in out.columns} >= {"string"} and "enum" not in {c.type for c in out.columns}
    assert any("no enum" in n for n in out.notes)
    assert json.loads((runner.root / "drafts/small.avsc").read_text())["type"] == "record"
    out = _call(runner, {"action": "infer", "path": "small.csv", "enum_min_rows": 5})
    assert {c.name for c in out.columns if c.type == "enum"} == {"plan"}


AVRO_V1 = {"type": "record", "name": "Churn", "namespace": "demo", "fields": [
    {"name": "customer_id", "type": "long"}, {"name": "tenure", "type": "int"},
    {"name": "plan", "type": {"type": "enum", "name": "Plan", "symbols": ["basic", "pro"]}}]}


def _with(schema: dict, **changes: Any) -> dict:
    doc = json.loads(json.dumps(schema))
    for name, value in changes.items():
        if value is None:
            doc["fields"] = [f for f in doc["fields"] if f["name"] != name]
        elif any(f["name"] == name for f in doc["fields"]):
            doc["fields"] = [value if f["name"] == name else f for f in doc["fields"]]
        else:
            doc["fields"].append(value)
    return doc


def test_register_versions_idempotent_and_refused(runner: ToolRunner) -> None:
    first = _call(runner, {"action": "register", "subject": "churn", "definition": AVRO_V1, "mode": "FULL"})
    assert (first.version, first.created, first.file) == (1, True, "schemas/churn/v1.avsc")
    config = json.loads((runner.root / "schemas/churn/subject.json").read_text())
    assert config["format"] == "avro" and config["mode"] == "FULL"
    # The same schema, written differently: the same version, no new file.
    again = _call(runner, {"action": "register", "subject": "churn", "definition": json.dumps(AVRO_V1, indent=4)})
    assert (again.version, again.created) == (1, False)
    v2 = _with(AVRO_V1, region={"name": "region", "type": ["null", "string"], "default": None})
    planned = _call(runner, {"action": "register", "subject": "churn", "definition": v2}, dry_run=True)
    assert planned.version == 2 and planned.created and not (runner.root / "schemas/churn/v2.avsc").exists()
    second = _call(runner, {"action": "register", "subject": "churn", "definition": v2})
    assert second.version == 2 and second.checked == ["new reads v1", "v1 reads new"]
    bad = _with(v2, tenure={"name": "tenure", "type": "string"})
    with pytest.raises(ToolError) as refused:
        _call(runner, {"action": "register", "subject": "churn", "definition": bad})
    message = refused.value.message
    assert refused.value.code == "conflict" and "/fields/1/type [type_mismatch, backward, v2]" in message
    assert "[type_mismatch, forward, v2]" in message and "evolve" in refused.value.hint
    assert sorted(p.name for p in (runner.root / "schemas/churn").iterdir()) == ["subject.json", "v1.avsc", "v2.avsc"]
    # check gives the same violations, structured.
    checked = _call(runner, {"action": "check", "subject": "churn", "definition": bad})
    assert not checked.compatible and {(v.kind, v.direction) for v in checked.violations} == {("type_mismatch", "backward"), ("type_mismatch", "forward")}
    # NONE lets it through, when someone decides so.
    forced = _call(runner, {"action": "register", "subject": "churn", "definition": bad, "mode": "NONE"})
    assert forced.version == 3 and json.loads((runner.root / "schemas/churn/subject.json").read_text())["mode"] == "NONE"


def test_register_refuses_bad_input(runner: ToolRunner) -> None:
    _call(runner, {"action": "register", "subject": "churn", "definition": AVRO_V1})
    cases = [
        ({"action": "register", "subject": "churn", "definition": {"type": "object"}, "format": "json"}, "conflict"),
        ({"action": "register", "subject": "../up", "definition": AVRO_V1}, "invalid_input"),
        ({"action": "register", "subject": "x", "definition": {"type": "record", "name": "A", "fields": [{"name": "a", "type": "nope"}]}}, "invalid_input"),
        ({"action": "register", "subject": "x", "schema_file": "../outside.avsc"}, "outside_workspace"),
        ({"action": "register", "subject": "x"}, "invalid_input"),
        ({"action": "register", "subject": "p", "definition": 'syntax = "proto3";\nmessage A { int32 a = 1 }'}, "invalid_input"),
        ({"action": "register", "subject": "d", "definition": {"type": "record", "name": "A", "fields": [{"name": "a", "type": "int", "default": "x"}]}}, "invalid_input"),
        ({"action": "register", "subject": "n", "definition": {"type": "record", "name": "A", "fields": [{"name": "a b", "type": "int"}]}}, "invalid_input"),
        ({"action": "evolve", "subject": "churn", "change": {"kind": "add_field", "field": "x", "type": "int", "default": "seven"}}, "invalid_input"),
        ({"action": "evolve", "subject": "churn", "change": {"kind": "remove_field", "field": "nope"}}, "invalid_input"),
        ({"action": "evolve", "subject": "churn", "base_version": 9, "change": {"kind": "remove_field", "field": "tenure"}}, "not_found"),
        ({"action": "evolve", "subject": "empty", "change": {"kind": "remove_field", "field": "tenure"}}, "not_found"),
    ]
    for operation, code in cases:
        with pytest.raises(ToolError) as error:
            _call(runner, operation)
        assert error.value.code == code, (operation, error.value.message)


def test_concurrent_identical_registrations_make_one_version(runner: ToolRunner) -> None:
    results: list[Any] = []

    def register() -> None:
        results.append(_call(runner, {"action": "register", "subject": "race", "definition": AVRO_V1}))

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.version for r in results) == [1, 1, 1, 1] and sum(r.created for r in results) == 1
    assert sorted(p.name for p in (runner.root / "schemas/race").iterdir()) == ["subject.json", "v1.avsc"]


@pytest.mark.parametrize(("mode", "change", "label", "asked_breaks"), [
    ("BACKWARD", {"kind": "add_field", "field": "region", "type": "string", "default": "eu"}, "add the field with a default", True),
    ("FULL", {"kind": "remove_field", "field": "tenure"}, "deprecate instead of removing", True),
    ("BACKWARD", {"kind": "remove_field", "field": "tenure"}, "the change as asked", False),
    ("BACKWARD", {"kind": "rename_field", "field": "tenure", "new_name": "tenure_months"}, "rename with an alias", True),
    ("FULL", {"kind": "rename_field", "field": "tenure", "new_name": "tenure_months"}, "add the new name, deprecate the old one", True),
    ("BACKWARD", {"kind": "change_type", "field": "tenure", "type": "long"}, "the change as asked", False),
    ("FULL", {"kind": "change_type", "field": "tenure", "type": "string"}, "add a field of the new type, deprecate the old one", True),
    ("BACKWARD", {"kind": "remove_enum_symbol", "field": "plan", "symbol": "pro"}, "give the enum a default symbol", True),
])
def test_evolve_avro(runner: ToolRunner, mode: str, change: dict, label: str, asked_breaks: bool) -> None:
    _call(runner, {"action": "register", "subject": "churn", "definition": AVRO_V1, "mode": mode})
    out = _call(runner, {"action": "evolve", "subject": "churn", "change": change})
    assert out.proposal.label == label and out.proposal.compatible, out
    assert bool(out.intended) is asked_breaks
    registered = _call(runner, {"action": "register", "subject": "churn", "definition": out.proposal.definition})
    assert registered.version == 2 and registered.created


JSON_V1 = {"type": "object", "properties": {"id": {"type": "integer"}, "plan": {"type": "string", "enum": ["basic", "pro"]}}, "required": ["id", "plan"]}


def test_evolve_json_schema(runner: ToolRunner) -> None:
    _call(runner, {"action": "register", "subject": "events", "definition": JSON_V1, "format": "json", "mode": "BACKWARD_TRANSITIVE"})
    out = _call(runner, {"action": "evolve", "subject": "events", "change": {"kind": "add_field", "field": "region", "type": "string"}})
    assert [v.kind for v in out.intended] == ["required_property_added"]
    proposal = json.loads(out.proposal.definition)
    assert out.proposal.compatible and "region" in proposal["properties"] and "region" not in proposal["required"]
    assert any("open content model" in n for n in out.notes)
    out = _call(runner, {"action": "evolve", "subject": "events", "change": {"kind": "remove_field", "field": "plan"}})
    assert out.proposal.compatible and out.proposal.label == "the change as asked"  # an open model reads it anyway
    _call(runner, {"action": "register", "subject": "events", "definition": out.proposal.definition})
    assert (runner.root / "schemas/events/v2.json").is_file()


PROTO_V1 = 'syntax = "proto3";\npackage churn.v1;\n\nmessage Churn {\n  int64 customer_id = 1;\n  int32 tenure = 2;\n  string plan = 3;\n}\n'


def test_protobuf_register_check_evolve(runner: ToolRunner) -> None:
    (runner.root / "v1.proto").write_text(PROTO_V1)
    first = _call(runner, {"action": "register", "subject": "pb", "schema_file": "v1.proto", "proto_rules": "WIRE_JSON"})
    assert first.file == "schemas/pb/v1.proto" and first.format == "protobuf"
    # Comments and spacing do not make a new version.
    again = _call(runner, {"action": "register", "subject": "pb", "definition": "// the same\n" + PROTO_V1.replace("  ", "    ")})
    assert (again.version, again.created) == (1, False)
    removed = _call(runner, {"action": "evolve", "subject": "pb", "change": {"kind": "remove_field", "field": "tenure"}})
    assert {v.kind for v in removed.intended} == {"FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", "FIELD_NO_DELETE_UNLESS_NAME_RESERVED"}
    assert removed.proposal.compatible and 'reserved "tenure";' in removed.proposal.definition
    renamed = _call(runner, {"action": "evolve", "subject": "pb", "change": {"kind": "rename_field", "field": "plan", "new_name": "tier"}})
    assert {v.kind for v in renamed.intended} == {"FIELD_SAME_NAME", "FIELD_SAME_JSON_NAME"}  # as Buf reports it
    assert renamed.proposal.compatible and "tier = 4" in renamed.proposal.definition and "[deprecated = true]" in renamed.proposal.definition
    added = _call(runner, {"action": "evolve", "subject": "pb", "change": {"kind": "add_field", "field": "region", "type": "string"}})
    assert added.intended == [] and "optional string region = 4;" in added.proposal.definition
    retyped = PROTO_V1.replace("int32 tenure", "int64 tenure")
    with pytest.raises(ToolError) as refused:
        _call(runner, {"action": "register", "subject": "pb", "definition": retyped})
    assert "FIELD_WIRE_JSON_COMPATIBLE_TYPE" in refused.value.message
    wire = _call(runner, {"action": "check", "subject": "pb", "definition": retyped, "proto_rules": "WIRE"})
    assert wire.compatible, "int32 -> int64 is wire-compatible"


def test_check_against_files_lists_every_violation(runner: ToolRunner) -> None:
    old = {"type": "record", "name": "Wide", "fields": [{"name": f"f{i}", "type": "int"} for i in range(60)]}
    new = {"type": "record", "name": "Wide", "fields": [{"name": f"f{i}", "type": "string"} for i in range(60)]}
    (runner.root / "old.avsc").write_text(json.dumps(old))
    (runner.root / "new.avsc").write_text(json.dumps(new))
    out = _call(runner, {"action": "check", "schema_file": "new.avsc", "against": ["old.avsc"], "mode": "FULL"})
    assert not out.compatible and out.violations_total == 120 and len(out.violations) == 50
    assert out.violations_file and len(pd.read_csv(runner.root / out.violations_file)) == 120


def test_a_killed_write_is_cleaned_up(runner: ToolRunner) -> None:
    """What kill -9 during a register leaves: a temporary file, or a version file subject.json does not list."""
    _call(runner, {"action": "register", "subject": "churn", "definition": AVRO_V1})
    folder = runner.root / "schemas/churn"
    (folder / ".v2.avsc.abc123.tmp").write_text('{"half": ')
    v2 = _with(AVRO_V1, region={"name": "region", "type": ["null", "string"], "default": None})
    (folder / "v2.avsc").write_text(json.dumps(v2))  # written, but the config was not updated
    out = _call(runner, {"action": "register", "subject": "churn", "definition": v2})
    assert (out.version, out.created) == (2, False)
    assert any(".v2.avsc.abc123.tmp" in r for r in out.recovered) and any("rebuilt" in r for r in out.recovered)
    assert not (folder / ".v2.avsc.abc123.tmp").exists()
    assert set(json.loads((folder / "subject.json").read_text())["digests"]) == {"1", "2"}


PROTO_ENUM = ('syntax = "proto3";\npackage shop.v1;\n\nmessage Order {\n  enum Status {\n    STATUS_UNSPECIFIED = 0;\n    STATUS_OPEN = 1;\n'
              '    STATUS_CLOSED = 2;\n  }\n  int64 id = 1;\n  Status status = 2;\n}\n')


@pytest.mark.parametrize(("change", "label", "in_text"), [
    ({"kind": "add_enum_symbol", "field": "status", "symbol": "held"}, "the change as asked", "STATUS_HELD = 3;"),
    ({"kind": "remove_enum_symbol", "field": "status", "symbol": "closed"}, "delete and reserve the value's number and name",
     'reserved "STATUS_CLOSED";'),
    ({"kind": "change_type", "field": "id", "type": "string"}, "add a field of the new type, deprecate the old one", "optional string id_string = 3;"),
    ({"kind": "change_type", "field": "id", "type": "int"}, "the change as asked", "int32 id = 1;"),
])
def test_evolve_protobuf_enums_and_types(runner: ToolRunner, change: dict, label: str, in_text: str) -> None:
    _call(runner, {"action": "register", "subject": "orders", "definition": PROTO_ENUM, "format": "protobuf", "mode": "FULL_TRANSITIVE"})
    out = _call(runner, {"action": "evolve", "subject": "orders", "change": change})
    assert (out.proposal.label, out.proposal.compatible) == (label, True), out.proposal
    assert in_text in out.proposal.definition
    assert _call(runner, {"action": "register", "subject": "orders", "definition": out.proposal.definition}).version == 2


def test_evolve_json_schema_type_and_enum(runner: ToolRunner) -> None:
    _call(runner, {"action": "register", "subject": "events", "definition": JSON_V1, "format": "json", "mode": "BACKWARD"})
    widened = _call(runner, {"action": "evolve", "subject": "events", "change": {"kind": "change_type", "field": "id", "type": "string"}})
    assert widened.proposal.label == "widen the type to both" and json.loads(widened.proposal.definition)["properties"]["id"]["type"] == ["integer", "string"]
    narrowed = _call(runner, {"action": "evolve", "subject": "events", "change": {"kind": "remove_enum_symbol", "field": "plan", "symbol": "pro"}})
    assert not narrowed.proposal.compatible and "no form of this change" in narrowed.proposal.explanation[0]
    assert [v.kind for v in narrowed.violations] == ["enum_narrowed"]
