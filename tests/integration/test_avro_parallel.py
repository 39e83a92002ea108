"""Avro files decoded and encoded by worker processes (engines.formats.avro_parallel): the same
table as one process reads, in order, from files written by fastavro and by the Apache `avro`
package; the same records written, read back by both; a corrupt file refused with its name; and
no worker left behind, whether the work ends, fails or is abandoned half-way."""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import uuid
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pytest

from mlops_engineer.engines.formats import avro_parallel, readers, writers
from mlops_engineer.errors import ToolError
from mlops_engineer.tools.serialize_data_formats import TOOL
from tests.helpers import ToolRunner

SCHEMA = {
    "type": "record", "name": "Row",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": ["null", "string"]},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "key", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "counts", "type": {"type": "map", "values": "long"}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ],
}
ROWS = 5_000
BATCH_ROWS = 300  # many runs, so every worker gets several and the order is tested


def _rows() -> list[dict[str, Any]]:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [{"id": i, "name": None if i % 7 == 0 else f"row-{i}", "price": decimal.Decimal(i) / 100,
             "at": start + dt.timedelta(seconds=i), "key": str(uuid.UUID(int=i)),
             "counts": {"a": i} if i % 2 else {}, "tags": ["x"] * (i % 3)} for i in range(ROWS)]


def _write(path: Path, codec: str, library: str = "fastavro") -> Path:
    if library == "fastavro":
        with path.open("wb") as handle:  # small blocks: a run spans many of them
            fastavro.writer(handle, fastavro.parse_schema(SCHEMA), _rows(), codec=codec, sync_interval=2_000)
    else:
        import json

        import avro.datafile
        import avro.io
        import avro.schema

        with path.open("wb") as handle:
            writer = avro.datafile.DataFileWriter(handle, avro.io.DatumWriter(), avro.schema.parse(json.dumps(SCHEMA)), codec=codec)
            for row in _rows():
                writer.append(row)
            writer.close()
    return path


def _children() -> set[str]:
    return {pid for task in Path("/proc/self/task").iterdir() for pid in (task / "children").read_text().split()}


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decode every Avro file with two workers, however small it is and however many cores there are."""
    monkeypatch.setattr(avro_parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(avro_parallel, "worker_count", lambda: 2)
    monkeypatch.setattr(writers, "PARALLEL_AVRO_BATCHES", 2)


def _read(path: Path) -> pa.Table:
    return readers.open_reader(path, batch_rows=BATCH_ROWS).read_all()


@pytest.mark.parametrize(("codec", "library"), [("null", "fastavro"), ("deflate", "fastavro"), ("deflate", "avro")])
def test_workers_read_the_same_table_as_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    codec: str, library: str) -> None:
    path = _write(tmp_path / "rows.avro", codec, library)
    in_process = _read(path)
    monkeypatch.setattr(avro_parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(avro_parallel, "worker_count", lambda: 2)
    before = _children()
    reader = readers.open_reader(path, batch_rows=BATCH_ROWS)
    batches = list(reader)
    assert all(b.num_rows <= BATCH_ROWS for b in batches) and len(batches) >= ROWS // BATCH_ROWS
    assert pa.Table.from_batches(batches, schema=reader.schema).equals(in_process)
    assert in_process.column("id").to_pylist() == list(range(ROWS))
    assert _children() == before


def test_the_tool_converts_with_workers(tmp_path: Path, parallel: None) -> None:
    _write(tmp_path / "rows.avro", "deflate")
    out = ToolRunner(tmp_path)(TOOL, {"action": "convert", "source": "rows.avro", "target": "rows.parquet"})
    assert out.rows == ROWS
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "rows.parquet").column("key").to_pylist()[:2] == [str(uuid.UUID(int=0)), str(uuid.UUID(int=1))]


def _block_starts(path: Path) -> list[int]:
    with path.open("rb") as handle:
        _, sync = avro_parallel.read_header(handle)
        data = path.read_bytes()
    return [i + len(sync) for i in range(len(data)) if data.startswith(sync, i)]


def test_a_broken_sync_marker_is_refused_with_the_files_name(tmp_path: Path, parallel: None) -> None:
    path = _write(tmp_path / "rows.avro", "null")
    data = bytearray(path.read_bytes())
    data[_block_starts(path)[5] - 1] ^= 0xFF  # the last byte of the fifth block's marker
    path.write_bytes(bytes(data))
    before = _children()
    with pytest.raises(ToolError) as caught:
        _read(path)
    assert caught.value.code == "invalid_input" and "'rows.avro' is not valid avro" in caught.value.message
    assert "sync marker" in caught.value.message
    assert _children() == before


def test_a_corrupt_block_is_reported_by_its_worker(tmp_path: Path, parallel: None) -> None:
    path = _write(tmp_path / "rows.avro", "deflate")
    data = bytearray(path.read_bytes())
    start = _block_starts(path)[3]
    data[start + 10:start + 40] = b"\x00" * 30  # inside the compressed body: the framing still holds
    path.write_bytes(bytes(data))
    with pytest.raises(ToolError) as caught:
        ToolRunner(tmp_path)(TOOL, {"action": "convert", "source": "rows.avro", "target": "rows.parquet"})
    assert caught.value.code == "invalid_input" and "'rows.avro' is not valid avro" in caught.value.message
    assert not (tmp_path / "rows.parquet").exists() and not list(tmp_path.glob(".rows.parquet.*"))


def test_a_truncated_file_is_refused(tmp_path: Path, parallel: None) -> None:
    path = _write(tmp_path / "rows.avro", "null")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ToolError) as caught:
        _read(path)
    assert caught.value.code == "invalid_input" and "ends" in caught.value.message


def test_an_abandoned_read_leaves_no_worker(tmp_path: Path, parallel: None) -> None:
    path = _write(tmp_path / "rows.avro", "null")
    before = _children()
    reader = readers.open_reader(path, batch_rows=BATCH_ROWS)
    reader.read_next_batch()
    assert len(_children() - before) == 2
    reader.close()  # Arrow lets go of the batches' generator; closing it stops the workers
    del reader
    gc.collect()
    assert _children() == before


def _reference_records(path: Path) -> list[dict[str, Any]]:
    import avro.datafile
    import avro.io

    with path.open("rb") as handle:
        return list(avro.datafile.DataFileReader(handle, avro.io.DatumReader()))


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_workers_write_the_same_records_as_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: str) -> None:
    source = _write(tmp_path / "rows.avro", "null")
    writers.write(readers.open_reader(source, batch_rows=BATCH_ROWS), tmp_path / "one.avro", "avro", compression=codec)
    monkeypatch.setattr(avro_parallel, "worker_count", lambda: 2)
    monkeypatch.setattr(writers, "PARALLEL_AVRO_BATCHES", 2)
    before = _children()
    rows = writers.write(readers.open_reader(source, batch_rows=BATCH_ROWS), tmp_path / "many.avro", "avro", compression=codec)
    assert rows == ROWS and _children() == before
    with (tmp_path / "many.avro").open("rb") as handle:
        assert fastavro.reader(handle).codec == codec
    expected = _reference_records(tmp_path / "one.avro")
    assert _reference_records(tmp_path / "many.avro") == expected and [r["id"] for r in expected] == list(range(ROWS))


def test_a_cancelled_write_leaves_no_worker_and_no_file(tmp_path: Path, parallel: None) -> None:
    source = _write(tmp_path / "rows.avro", "null")
    before = _children()

    def cancel_after_a_few(rows: int) -> None:
        if rows >= 5 * BATCH_ROWS:
            raise KeyboardInterrupt("cancelled")

    with pytest.raises(KeyboardInterrupt):
        writers.write(readers.open_reader(source, batch_rows=BATCH_ROWS), tmp_path / "out.avro", "avro", on_batch=cancel_after_a_few)
    gc.collect()
    assert _children() == before
    assert not (tmp_path / "out.avro").exists() and not list(tmp_path.glob(".out.avro.*"))
