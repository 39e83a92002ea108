"""JSON Schema compatibility and the seven modes: each change's verdict, kind and path, with its reason."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from mlops_engineer.engines.schemas import languages, json_compat
from mlops_engineer.engines.schemas.violations import MODES, check_mode, directions

BASE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "plan": {"type": "string", "enum": ["basic", "pro"]},
        "charges": {"type": ["number", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
    },
    "required": ["id", "plan"],
}


def _changed(edit: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    edit(doc)
    return doc


CLOSED = _changed(lambda d: d.update(additionalProperties=False))

# (name, old, new, backward kinds, forward kinds): BACKWARD checks new reads old, FORWARD old reads new.
CASES = [
    ("same", BASE, BASE, set(), set()),
    ("add_optional_open", BASE, _changed(lambda d: d["properties"].update(region={"type": "string"})), set(), set()),
    ("add_required", BASE, _changed(lambda d: (d["properties"].update(region={"type": "string"}), d["required"].append("region"))),
     {"required_property_added"}, set()),
    ("remove_optional_open", BASE, _changed(lambda d: d["properties"].pop("charges")), set(), set()),
    ("remove_from_closed", CLOSED, _changed(lambda d: (d.update(additionalProperties=False), d["properties"].pop("charges"))),
     {"property_removed_from_closed_content_model"}, set()),
    ("add_to_closed", CLOSED, _changed(lambda d: (d.update(additionalProperties=False), d["properties"].update(region={"type": "string"}))),
     set(), {"property_removed_from_closed_content_model"}),
    ("close_model", BASE, CLOSED, {"content_model_closed"}, set()),
    ("open_model", CLOSED, BASE, set(), {"content_model_closed"}),
    ("integer_to_number", BASE, _changed(lambda d: d["properties"]["id"].update(type="number")), set(), {"type_narrowed"}),
    ("integer_to_string", BASE, _changed(lambda d: d["properties"]["id"].update(type="string")), {"type_changed"}, {"type_changed"}),
    ("drop_null", BASE, _changed(lambda d: d["properties"]["charges"].update(type="number")), {"nullability_removed"}, set()),
    ("enum_add", BASE, _changed(lambda d: d["properties"]["plan"]["enum"].append("team")), set(), {"enum_narrowed"}),
    ("enum_remove", BASE, _changed(lambda d: d["properties"]["plan"]["enum"].remove("pro")), {"enum_narrowed"}, set()),
    ("max_items_down", BASE, _changed(lambda d: d["properties"]["tags"].update(maxItems=3)), {"maxItems_decreased"}, set()),
    ("item_type", BASE, _changed(lambda d: d["properties"]["tags"]["items"].update(type="integer")), {"type_changed"}, {"type_changed"}),
    ("optional_to_required", BASE, _changed(lambda d: d["required"].append("charges")), {"required_property_added"}, set()),
    ("pattern_added", BASE, _changed(lambda d: d["properties"]["plan"].update(pattern="^[a-z]+$")), {"pattern_added"}, set()),
]


@pytest.mark.parametrize(("name", "old", "new", "backward", "forward"), CASES, ids=[c[0] for c in CASES])
def test_each_change(name: str, old: dict, new: dict, backward: set[str], forward: set[str]) -> None:
    back, _ = json_compat.check(new, old)
    fwd, _ = json_compat.check(old, new)
    assert {v.kind for v in back} == backward, back
    assert {v.kind for v in fwd} == forward, fwd
    for v in back + fwd:
        assert v.path.startswith("#") and v.reason


def test_verdicts_hold_on_real_documents() -> None:
    """Where we say compatible, documents valid under the writer validate under the reader (jsonschema)."""
    docs = [{"id": 1, "plan": "basic"}, {"id": 2, "plan": "pro", "charges": None, "tags": ["a"]}, {"id": 3, "plan": "pro", "region": "eu"}]
    for name, old, new, backward, forward in CASES:
        for reader, writer, expected in ((new, old, backward), (old, new, forward)):
            valid = [d for d in docs if jsonschema.Draft202012Validator(writer).is_valid(d)]
            if not expected:
                assert all(jsonschema.Draft202012Validator(reader).is_valid(d) for d in valid), name


def test_adding_an_optional_property_explains_the_open_content_model() -> None:
    new = _changed(lambda d: d["properties"].update(region={"type": "string"}))
    violations, notes = json_compat.check(new, BASE)
    assert violations == [] and len(notes) == 1
    assert "#/properties/region" in notes[0] and "open content model" in notes[0]


def test_refs_and_recursion() -> None:
    tree = {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
            "$ref": "#/$defs/node"}
    narrowed = copy.deepcopy(tree)
    narrowed["$defs"]["node"]["properties"]["v"]["type"] = "string"
    assert json_compat.check(tree, tree)[0] == []
    assert {v.kind for v in json_compat.check(narrowed, tree)[0]} == {"type_changed"}


def test_any_of_branches() -> None:
    old = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert json_compat.check({"anyOf": [{"type": "string"}, {"type": "number"}]}, old)[0] == []
    [v] = json_compat.check({"type": "string"}, old)[0]
    assert v.path == "#/anyOf/1/type" and v.kind == "type_changed"


# ----------------------------------------------------------------------------- modes

V1 = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
V2 = {"type": "object", "properties": {"a": {"type": "integer"}}}  # a no longer required
V3 = {"type": "object", "properties": {"a": {"type": "string"}}}  # a retyped


def test_mode_directions() -> None:
    assert directions("BACKWARD") == (True, False, False)
    assert directions("FORWARD_TRANSITIVE") == (False, True, True)
    assert directions("FULL") == (True, True, False)
    assert len(MODES) == 7
    with pytest.raises(ValueError):
        directions("SIDEWAYS")


@pytest.mark.parametrize(("mode", "compatible", "against"), [
    ("NONE", True, set()),
    ("BACKWARD", True, {2}),
    ("FORWARD", True, {2}),
    ("FULL", True, {2}),
])
def test_non_transitive_modes_check_the_last_version(mode: str, compatible: bool, against: set[int]) -> None:
    v2b = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
    verdict = check_mode(mode, v2b, [(1, V1), (2, V2)], json_compat.check)
    assert verdict.compatible is compatible
    assert {v.against_version for v in verdict.violations} <= against


def test_transitive_modes_check_every_version() -> None:
    """V2 -> V2' is fine, but V1 required `a` where V2' does not: FORWARD_TRANSITIVE sees it, FORWARD does not."""
    v2b = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
    assert check_mode("FORWARD", v2b, [(1, V1), (2, V2)], json_compat.check).compatible
    verdict = check_mode("FORWARD_TRANSITIVE", v2b, [(1, V1), (2, V2)], json_compat.check)
    assert not verdict.compatible
    assert [(v.kind, v.direction, v.against_version) for v in verdict.violations] == [("required_property_added", "forward", 1)]
    full = check_mode("FULL_TRANSITIVE", V3, [(1, V1), (2, V2)], json_compat.check)
    assert {(v.direction, v.against_version) for v in full.violations} == {("backward", 1), ("backward", 2), ("forward", 1), ("forward", 2)}
    assert full.checked == ["new reads v2", "v2 reads new", "new reads v1", "v1 reads new"]


def test_guess_format() -> None:
    assert languages.guess_format('{"type": "record", "name": "A", "fields": []}') == "avro"
    assert languages.guess_format('{"type": "object"}') == "json"
    assert languages.guess_format('syntax = "proto3";') == "protobuf"
    assert languages.guess_format("{}", "x.proto") == "protobuf"


def test_pattern_properties_are_a_partially_open_model() -> None:
    old = {"type": "object", "properties": {"x_a": {"type": "integer"}}, "additionalProperties": False}
    new = {"type": "object", "patternProperties": {"^x_": {"type": "number"}}, "additionalProperties": False}
    assert json_compat.check(new, old)[0] == []  # x_a is still allowed, as a number
    found = {(v.path, v.kind) for v in json_compat.check(old, new)[0]}
    assert found == {("#/properties/x_a/type", "type_narrowed"), ("#/patternProperties/^x_", "content_model_closed")}
