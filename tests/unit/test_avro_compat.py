"""Our Avro checker against the Apache Avro Python package's own checker, on its own test cases.

The data: every schema pair in `avro.test.test_compatibility` (apache/avro,
lang/py/avro/test/test_compatibility.py, as installed with the `avro` package pinned in uv.lock;
the same file is at apache/avro commits 4468ad2d678d8297e2e779c18a0e981c00dac979 and
349ac757515d331e7e95dc9433a399098c1aa3a2), read as data: the module's schema constants and the
lists of (reader, writer, ...) tuples inside its test methods, plus every ordered pair of its
constants. For each pair our verdict must equal `avro.compatibility.ReaderWriterCompatibilityChecker`'s,
and where it says incompatible, its locations and its kind (from the test's name) must be among ours.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
from typing import Any

import avro.test.test_compatibility as avro_cases  # the dev oracle `avro`, in uv.lock: uv sync --all-extras
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import Schema

from mlops_engineer.engines.schemas import avro_compat

KINDS = {  # test method -> the incompatibility kind its pairs show
    "test_schema_compatibility_fixed_size_mismatch": "fixed_size_mismatch",
    "test_schema_compatibility_missing_enum_symbols": "missing_enum_symbols",
    "test_schema_compatibility_missing_union_branch": "missing_union_branch",
    "test_schema_compatibility_name_mismatch": "name_mismatch",
    "test_schema_compatibility_reader_field_missing_default_value": "reader_field_missing_default_value",
    "test_schema_compatibility_type_mismatch": "type_mismatch",
}


def _listed_pairs() -> list[tuple[str, Schema, Schema]]:
    """(test method, reader, writer) for each tuple in the test methods' case lists."""
    tree = ast.parse(inspect.getsource(avro_cases))
    found = []
    for method in ast.walk(tree):
        if not isinstance(method, ast.FunctionDef):
            continue
        for node in ast.walk(method):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.List) and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.endswith(("_pairs", "_cases"))):
                items = eval(compile(ast.Expression(node.value), "cases", "eval"), vars(avro_cases))  # the module's own data
                found += [(method.name, item[0], item[1]) for item in items]
    return found


LISTED = _listed_pairs()
CONSTANTS = [v for v in vars(avro_cases).values() if isinstance(v, Schema)]


def _oracle(reader: Schema, writer: Schema) -> Any:
    return ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)


def _ours(reader: Schema, writer: Schema) -> list:
    return avro_compat.check(reader.to_json(), writer.to_json())[0]


def test_the_corpus_is_the_packages() -> None:
    assert len(LISTED) >= 120, len(LISTED)
    assert {m for m, _, _ in LISTED} >= set(KINDS)
    assert len(CONSTANTS) >= 60


def test_verdicts_agree_on_every_pair() -> None:
    pairs = [(r, w) for _, r, w in LISTED] + list(itertools.product(CONSTANTS, CONSTANTS))
    disagree = []
    for reader, writer in pairs:
        theirs = _oracle(reader, writer).compatibility is SchemaCompatibilityType.compatible
        ours = not _ours(reader, writer)
        if theirs != ours:
            disagree.append((json.dumps(reader.to_json()), json.dumps(writer.to_json()), theirs))
    agreement = 1 - len(disagree) / len(pairs)
    print(f"avro oracle: {len(pairs) - len(disagree)}/{len(pairs)} pairs agree ({agreement:.2%})")
    assert not disagree, disagree[:5]


@pytest.mark.parametrize("method", sorted(KINDS))
def test_kinds_and_locations_agree(method: str) -> None:
    for _, reader, writer in [p for p in LISTED if p[0] == method]:
        ours = _ours(reader, writer)
        assert KINDS[method] in {v.kind for v in ours}, (method, reader.to_json(), writer.to_json(), ours)
        paths = {v.path for v in ours}
        locations = set(_oracle(reader, writer).locations)
        if len(locations) > 1:
            locations.discard("/")  # avro lists the root too beside a name mismatch's own path
        assert locations <= paths, (method, locations, paths)


def test_every_violation_explains_itself() -> None:
    reader = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}, {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X"]}}]}
    writer = {"type": "record", "name": "R", "fields": [{"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}}]}
    found = {(v.path, v.kind): v.reason for v in avro_compat.check(reader, writer)[0]}
    assert set(found) == {("/fields/0", "reader_field_missing_default_value"), ("/fields/1/type/symbols", "missing_enum_symbols")}
    assert "'a'" in found[("/fields/0", "reader_field_missing_default_value")]
    assert "Y" in found[("/fields/1/type/symbols", "missing_enum_symbols")]


def test_recursive_records_and_aliases() -> None:
    node = {"type": "record", "name": "Node", "namespace": "t", "fields": [
        {"name": "value", "type": "int"}, {"name": "next", "type": ["null", "Node"], "default": None}]}
    wider = json.loads(json.dumps(node).replace('"int"', '"long"'))
    assert avro_compat.check(wider, node)[0] == []
    assert [v.kind for v in avro_compat.check(node, wider)[0]] == ["type_mismatch"]
    renamed = {"type": "record", "name": "Other", "aliases": ["t.Node"], "fields": [{"name": "v", "aliases": ["value"], "type": "int"}]}
    assert avro_compat.check(renamed, node)[0] == []
