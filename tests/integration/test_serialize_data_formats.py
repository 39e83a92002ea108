"""serialize_data_formats against files it did not write: Avro from the specification's examples
(written by fastavro and by the Apache `avro` reference package), and every file of
apache/parquet-testing (read in place)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.serialize_data_formats import TOOL
from tests.helpers import ToolRunner
from tests.shared_data import missing_reason, shared_data

REPO = Path(__file__).resolve().parents[2]

# The Avro specification's examples (1.12, "Complex Types" and "Logical Types"), in one record.
SPEC_SCHEMA = {
    "type": "record", "name": "SpecExamples", "namespace": "org.example",
    "fields": [
        {"name": "suit", "type": {"type": "enum", "name": "Suit", "symbols": ["SPADES", "HEARTS", "DIAMONDS", "CLUBS"]}},
        {"name": "names", "type": {"type": "array", "items": "string", "default": []}},
        {"name": "counts", "type": {"type": "map", "values": "long", "default": {}}},
        {"name": "maybe", "type": ["null", "string"], "default": None},
        {"name": "md5", "type": {"type": "fixed", "size": 16, "name": "md5"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "nested", "type": {"type": "record", "name": "Inner", "fields": [
            {"name": "x", "type": "int"}, {"name": "tags", "type": {"type": "array", "items": ["null", "string"]}}]}},
    ],
}
UTC = dt.UTC


def _spec_rows() -> list[dict[str, Any]]:
    return [
        {"suit": "HEARTS", "names": ["a", "b"], "counts": {"x": 1, "y": 2}, "maybe": None, "md5": bytes(range(16)),
         "price": decimal.Decimal("12.34"), "id": str(uuid.UUID(int=1)), "day": dt.date(2026, 12, 5),
         "at_ms": dt.datetime(2026, 12, 5, 8, 0, 0, 123000, tzinfo=UTC), "at_us": dt.datetime(2026, 12, 5, 8, 0, 0, 123456, tzinfo=UTC),
         "nested": {"x": 7, "tags": ["t", None]}},
        {"suit": "CLUBS", "names": [], "counts": {}, "maybe": "yes", "md5": b"\xff" * 16,
         "price": decimal.Decimal("-0.01"), "id": str(uuid.UUID(int=2**128 - 1)), "day": dt.date(1970, 1, 1),
         "at_ms": dt.datetime(1970, 1, 1, tzinfo=UTC), "at_us": dt.datetime(2262, 4, 11, tzinfo=UTC),
         "nested": {"x": -1, "tags": []}},
    ]


def _write_fastavro(path: Path, schema: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    import fastavro

    with path.open("wb") as handle:
        fastavro.writer(handle, fastavro.parse_schema(schema), rows, codec="deflate")


def _write_reference(path: Path, schema: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """The Apache `avro` package: the other implementation."""
    import avro.datafile
    import avro.io
    import avro.schema

    parsed = avro.schema.parse(json.dumps(schema))
    with path.open("wb") as handle:
        writer = avro.datafile.DataFileWriter(handle, avro.io.DatumWriter(), parsed)
        for row in rows:
            writer.append(row)
        writer.close()


def _read_reference(path: Path) -> list[dict[str, Any]]:
    import avro.datafile
    import avro.io

    with path.open("rb") as handle:
        return list(avro.datafile.DataFileReader(handle, avro.io.DatumReader()))


@pytest.mark.parametrize("writer", [_write_fastavro, _write_reference], ids=["fastavro", "avro-reference"])
def test_avro_spec_examples_round_trip(tmp_path: Path, writer: Any) -> None:
    run = ToolRunner(tmp_path)
    writer(tmp_path / "spec.avro", SPEC_SCHEMA, _spec_rows())
    out = run(TOOL, {"action": "convert", "source": "spec.avro", "target": "spec.parquet"})
    assert out.rows == 2 and not out.lossy, out.changes
    table = pq.read_table(tmp_path / "spec.parquet")
    types = {f.name: str(f.type) for f in table.schema}
    assert types["price"] == "decimal128(4, 2)" and types["day"] == "date32[day]" and types["md5"] == "fixed_size_binary[16]"
    assert types["at_ms"] == "timestamp[ms, tz=UTC]" and types["at_us"] == "timestamp[us, tz=UTC]"
    assert types["suit"].startswith("dictionary<values=string") and types["counts"].startswith("map<string, int64")
    rows = table.to_pylist()
    for got, want in zip(rows, _spec_rows(), strict=True):
        assert got["counts"] == list(want["counts"].items())
        assert {k: v for k, v in got.items() if k != "counts"} == {k: v for k, v in want.items() if k != "counts"}

    # Back to Avro through our writer, read by the reference implementation.
    back = run(TOOL, {"action": "convert", "source": "spec.parquet", "target": "back.avro"})
    assert {(c.column, c.kind) for c in back.changes} == {("suit", "dictionary")} and not back.lossy
    again = _read_reference(tmp_path / "back.avro")
    for got, want in zip(again, _spec_rows(), strict=True):
        assert got["price"] == want["price"] and got["day"] == want["day"] and got["md5"] == want["md5"]
        assert got["at_us"] == want["at_us"] and got["at_ms"] == want["at_ms"] and got["counts"] == want["counts"]
        assert got["suit"] == want["suit"] and got["nested"] == want["nested"] and got["id"] == want["id"]


def test_avro_cases_arrow_cannot_hold_are_refused(tmp_path: Path) -> None:
    run = ToolRunner(tmp_path)
    linked = {"type": "record", "name": "LongList", "aliases": ["LinkedLongs"],
              "fields": [{"name": "value", "type": "long"}, {"name": "next", "type": ["null", "LongList"]}]}
    _write_fastavro(tmp_path / "linked.avro", linked, [{"value": 1, "next": {"value": 2, "next": None}}])
    with pytest.raises(ToolError) as refused:
        run(TOOL, {"action": "convert", "source": "linked.avro", "target": "linked.parquet"})
    assert refused.value.code == "invalid_input" and "refers to itself" in refused.value.message
    union = {"type": "record", "name": "U", "fields": [{"name": "v", "type": ["int", "string"]}]}
    _write_fastavro(tmp_path / "union.avro", union, [{"v": 1}, {"v": "x"}])
    with pytest.raises(ToolError) as refused:
        run(TOOL, {"action": "inspect", "path": "union.avro"})
    assert "several non-null branches" in refused.value.message
    plain = {"type": "record", "name": "P", "fields": [{"name": "v", "type": "long"}]}
    _write_fastavro(tmp_path / "plain.avro", plain, [{"v": i} for i in range(1000)])
    (tmp_path / "cut.avro").write_bytes((tmp_path / "plain.avro").read_bytes()[:-20])
    with pytest.raises(ToolError) as refused:
        run(TOOL, {"action": "inspect", "path": "cut.avro"})
    assert refused.value.code == "invalid_input" and "cut.avro" in refused.value.message


# --------------------------------------------------------------------------- apache/parquet-testing

# Known outcomes that are not the obvious ones, each with its reason (docs/benchmarks.md, serialize_data_formats).
READ_BUT_IN_BAD_DATA = {"bad_data/ARROW-GH-43605.parquet"}  # a valid file: a one-entry dictionary with 0-bit indices (a Go reader crashed on it)
NEITHER = {"data/int96_from_spark.parquet"}  # Arrow's INT96 conversion wraps the year-290000 value (the other five are right)


def test_every_parquet_testing_file_is_read_or_refused_cleanly() -> None:
    corpus = shared_data("parquet-testing")
    if corpus is None:
        pytest.skip(missing_reason("parquet-testing"))
    done = subprocess.run([sys.executable, str(REPO / "benchmarks/parquet_testing.py"), "--json", "--root", str(corpus)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = {r["file"]: r for r in json.loads(done.stdout)}
    assert sum(f.startswith("data/") for f in results) == 110
    neither = {f for f, r in results.items() if r["status"] == "neither"}
    assert neither == NEITHER, {f: results[f]["detail"] for f in neither}
    bad = {f: r for f, r in results.items() if f.startswith("bad_data/") and f.endswith(".parquet")}
    assert {f for f, r in bad.items() if r["status"] != "refused"} == READ_BUT_IN_BAD_DATA
    encrypted = {f: r for f, r in results.items() if f.endswith(".parquet.encrypted")}
    assert encrypted and all(r["status"] == "refused" and "encrypt" in r["detail"].lower() for r in encrypted.values()), encrypted
    for name in ("delta_binary_packed", "delta_byte_array", "delta_encoding_optional_column", "delta_encoding_required_column"):
        assert results[f"data/{name}.parquet"]["detail"].startswith(f"values equal {name}_expect.csv"), results[f"data/{name}.parquet"]
    for name in ("datapage_v1-corrupt-checksum", "rle-dict-uncompressed-corrupt-checksum"):
        assert "CRC checksum verification failed" in results[f"data/{name}.parquet"]["detail"]
