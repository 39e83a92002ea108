"""serialize_data_formats: conversions, loss reports, atomic writes, folders, Protobuf, inspect, memory."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.serialize_data_formats import TOOL
from tests.helpers import ToolRunner

PARIS = dt.timezone(dt.timedelta(hours=1))


def _table() -> pa.Table:
    return pa.table({
        "id": pa.array([1, 2, 3], pa.int32()),
        "amount": pa.array([decimal.Decimal("10.50"), None, decimal.Decimal("-3.25")], pa.decimal128(10, 2)),
        "seen": pa.array([dt.datetime(2026, 1, 5, 9, 30, tzinfo=PARIS)] * 3, pa.timestamp("us", tz="Europe/Paris")),
        "plan": pa.array(["basic", "pro", "basic"]).dictionary_encode(),
        "tags": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
        "attrs": pa.array([[("k", 1)], [], None], pa.map_(pa.string(), pa.int64())),
        "ok": [True, False, None],
        "score": [0.5, None, 1.25],
    })


@pytest.fixture
def run(tmp_path: Path) -> ToolRunner:
    (tmp_path / "data").mkdir()
    pq.write_table(_table(), tmp_path / "data/t.parquet")
    return ToolRunner(tmp_path)


def _convert(run: ToolRunner, source: str, target: str, **fields):  # noqa: ANN202
    extra = {k: fields.pop(k) for k in list(fields) if k in ("dry_run", "confirm")}
    return run(TOOL, {"action": "convert", "source": source, "target": target, **fields}, **extra)


def test_arrow_and_parquet_keep_everything(run: ToolRunner) -> None:
    for target in ("out/t.arrow", "out/t.feather", "out/t.parquet"):
        out = _convert(run, "data/t.parquet", target)
        assert out.written and out.rows == 3 and not out.lossy, out.changes
        back = pa.ipc.open_file(run.root / target).read_all() if "parquet" not in target else pq.read_table(run.root / target)
        assert back.to_pylist() == _table().to_pylist()
        assert back.schema.field("seen").type.tz == "Europe/Paris"


def test_avro_reports_the_zone_and_keeps_decimals(run: ToolRunner) -> None:
    with pytest.raises(ToolError) as refused:
        _convert(run, "data/t.parquet", "out/t.avro")
    assert refused.value.code == "needs_confirm" and "seen (timezone)" in refused.value.message
    assert not (run.root / "out/t.avro").exists()
    plan = _convert(run, "data/t.parquet", "out/t.avro", dry_run=True)
    assert plan.lossy and not plan.written and not (run.root / "out").exists()
    kinds = {(c.column, c.kind): c.lossy for c in plan.changes}
    assert kinds == {("seen", "timezone"): True, ("plan", "dictionary"): False}
    _convert(run, "data/t.parquet", "out/t.avro", confirm=True)
    back = _convert(run, "out/t.avro", "out/back.parquet")
    rows = pq.read_table(run.root / "out/back.parquet").to_pylist()
    assert [r["amount"] for r in rows] == [decimal.Decimal("10.50"), None, decimal.Decimal("-3.25")]
    assert rows[0]["seen"] == dt.datetime(2026, 1, 5, 8, 30, tzinfo=dt.UTC)  # the instant kept, the zone gone
    assert rows[0]["attrs"] == [("k", 1)] and rows[1]["tags"] == [] and rows[2]["tags"] is None
    assert back.source_format == "avro" and back.rows == 3


def test_csv_and_json_list_their_losses(run: ToolRunner) -> None:
    csv_plan = _convert(run, "data/t.parquet", "out/t.csv", dry_run=True)
    lossy = {c.column for c in csv_plan.changes if c.lossy}
    assert lossy == {"amount", "seen", "tags", "attrs"}
    assert {(c.column, c.kind) for c in csv_plan.changes if not c.lossy} >= {("id", "integer_width"), ("plan", "dictionary")}
    _convert(run, "data/t.parquet", "out/t.csv", confirm=True)
    text = (run.root / "out/t.csv").read_text().splitlines()
    assert text[0] == '"id","amount","seen","plan","tags","attrs","ok","score"'
    assert '"[""a"", ""b""]"' in text[1] and "10.50" in text[1]
    _convert(run, "data/t.parquet", "out/t.jsonl", confirm=True)
    first = json.loads((run.root / "out/t.jsonl").read_text().splitlines()[0])
    assert first["amount"] == "10.50" and first["attrs"] == {"k": 1} and first["seen"].endswith("+01:00")
    _convert(run, "data/t.parquet", "out/t.json", confirm=True)
    assert len(json.loads((run.root / "out/t.json").read_text())) == 3


def test_repeat_is_idempotent_and_a_foreign_target_needs_confirm(run: ToolRunner) -> None:
    first = _convert(run, "data/t.parquet", "out/t.parquet")
    again = _convert(run, "data/t.parquet", "out/t.parquet")
    assert first.written and not again.written and again.rows == 3
    (run.root / "out/t.parquet").write_bytes(b"someone else's file")
    with pytest.raises(ToolError) as refused:
        _convert(run, "data/t.parquet", "out/t.parquet")
    assert refused.value.code == "needs_confirm"
    assert _convert(run, "data/t.parquet", "out/t.parquet", confirm=True).written


def test_a_bad_row_midway_leaves_no_target(run: ToolRunner) -> None:
    rows = ["id,value"] + [f"{i},{i * 0.5}" for i in range(300_000)] + ["oops,1.0"] + ["7,2.0"]
    (run.root / "data/big.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ToolError) as refused:
        _convert(run, "data/big.csv", "out/big.parquet", batch_rows=10_000)
    assert refused.value.code == "invalid_input" and "oops" in refused.value.message
    assert not (run.root / "out/big.parquet").exists()
    assert [p.name for p in (run.root / "out").iterdir()] == []  # no temporary file left either


def test_a_killed_conversion_is_cleaned_up_by_the_next(run: ToolRunner) -> None:
    (run.root / "out").mkdir()
    (run.root / "out/.t.parquet.abc123.tmp").write_bytes(b"half a file")  # what kill -9 mid-write leaves
    out = _convert(run, "data/t.parquet", "out/t.parquet")
    assert out.written and out.recovered == ["removed out/.t.parquet.abc123.tmp, left by an interrupted conversion to out/t.parquet"]
    assert sorted(p.name for p in (run.root / "out").iterdir()) == ["t.parquet"]


def test_json_text_is_escaped_and_parses(run: ToolRunner) -> None:
    table = pa.table({"s": ['a"b\\c', "é", None, "x\ny"], "f": [1.0, None, 2.5, 1e300], "d": pa.array([None, 1, 2, 3], pa.int8())})
    pq.write_table(table, run.root / "data/s.parquet")
    _convert(run, "data/s.parquet", "out/s.jsonl")
    lines = (run.root / "out/s.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == table.to_pylist()


def test_a_folder_with_an_evolved_schema_is_unified(run: ToolRunner) -> None:
    folder = run.root / "data/monthly"
    folder.mkdir()
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int32()), "plan": ["a", "b"]}), folder / "2026-01.parquet")
    pq.write_table(pa.table({"id": pa.array([3], pa.int64()), "plan": pa.array(["c"]).dictionary_encode(),
                             "score": pa.array([0.5], pa.float32())}), folder / "2026-02.parquet")
    import pyarrow.dataset as ds

    assert ds.dataset(folder).to_table().column_names == ["id", "plan"]  # plain pyarrow.dataset: the first file's schema; score is dropped
    out = _convert(run, "data/monthly", "out/all.parquet")
    table = pq.read_table(run.root / "out/all.parquet")
    assert table.schema.field("id").type == pa.int64() and table.column("score").to_pylist() == [None, None, 0.5]
    assert out.files_read == 2 and any(n.startswith("id: int32 and int64") for n in out.unified)
    assert any(n.startswith("score: missing from 1 file(s) (2026-01.parquet)") for n in out.unified)
    pq.write_table(pa.table({"id": pa.array(["x"])}), folder / "2026-03.parquet")
    with pytest.raises(ToolError) as refused:
        _convert(run, "data/monthly", "out/all2.parquet")
    assert "Column 'id'" in refused.value.message and "2026-03.parquet" in refused.value.message


PROTO = textwrap.dedent("""\
    syntax = "proto3";
    package demo;
    import "google/protobuf/timestamp.proto";
    enum Plan { PLAN_UNSPECIFIED = 0; basic = 1; pro = 2; }
    message Row {
      int64 id = 1;
      optional double score = 2;
      string amount = 3;
      google.protobuf.Timestamp seen = 4;
      Plan plan = 5;
      repeated string tags = 6;
      map<string, int64> attrs = 7;
      optional bool ok = 8;
    }
""")


def test_protobuf_round_trip_with_delimited_framing(run: ToolRunner) -> None:
    from google.protobuf.internal.decoder import _DecodeVarint32

    (run.root / "rows.proto").write_text(PROTO)
    spec = {"proto": "rows.proto", "message": "Row"}
    plan = _convert(run, "data/t.parquet", "out/t.pb", protobuf=spec, dry_run=True)
    kinds = {(c.column, c.kind): c.lossy for c in plan.changes}
    assert kinds[("seen", "timezone")] and not kinds[("id", "integer_width")] and not kinds[("amount", "decimal")]
    assert kinds[("id", "nullability")] and ("score", "nullability") not in kinds  # `optional double score` keeps nulls
    _convert(run, "data/t.parquet", "out/t.pb", protobuf=spec, confirm=True)
    data = (run.root / "out/t.pb").read_bytes()
    pos, sizes = 0, []
    while pos < len(data):  # protobuf's own varint decoder reads our framing
        size, pos = _DecodeVarint32(data, pos)
        sizes.append(size)
        pos += size
    assert len(sizes) == 3 and pos == len(data)
    back = _convert(run, "out/t.pb", "out/back.parquet", protobuf=spec)
    rows = pq.read_table(run.root / "out/back.parquet").to_pylist()
    assert [r["amount"] for r in rows] == ["10.50", "", "-3.25"]  # a null in a plain proto3 string is ""
    assert [r["score"] for r in rows] == [0.5, None, 1.25] and [r["ok"] for r in rows] == [True, False, None]
    assert rows[0]["plan"] == "basic" and rows[0]["tags"] == ["a", "b"] and rows[0]["attrs"] == [("k", 1)]
    assert rows[0]["seen"] == dt.datetime(2026, 1, 5, 8, 30, tzinfo=dt.UTC) and back.rows == 3
    seen = run(TOOL, {"action": "inspect", "path": "out/t.pb", "protobuf": spec})
    assert seen.rows == 3 and [c["name"] for c in seen.schema_][:3] == ["id", "score", "amount"]
    with pytest.raises(ToolError) as refused:
        _convert(run, "data/t.parquet", "out/t2.pb")
    assert refused.value.code == "invalid_input" and ".proto" in refused.value.message
    with pytest.raises(ToolError) as missing:
        _convert(run, "data/t.parquet", "out/t2.pb", protobuf={"proto": "rows.proto", "message": "Nope"})
    assert missing.value.code == "not_found" and "Row" in missing.value.hint


def test_inspect_reports_row_groups_compression_and_statistics(run: ToolRunner) -> None:
    pq.write_table(pa.table({"x": list(range(1000)), "s": [str(i % 7) for i in range(1000)]}), run.root / "data/g.parquet",
                   row_group_size=300, compression="snappy")
    out = run(TOOL, {"action": "inspect", "path": "data/g.parquet"})
    info = out.inspection
    assert info.rows == info.rows_read == 1000 and info.row_groups.total_rows == 4
    x = next(c for c in info.columns.rows if c["path"] == "x")
    assert (x["min"], x["max"], x["null_count"], x["compression"]) == (0, 999, 0, ["SNAPPY"])
    (run.root / "data/cut.parquet").write_bytes((run.root / "data/g.parquet").read_bytes()[:-100])
    with pytest.raises(ToolError) as refused:
        run(TOOL, {"action": "inspect", "path": "data/cut.parquet"})
    assert refused.value.code == "invalid_input" and "cut.parquet" in refused.value.message


def test_paths_outside_the_workspace_are_refused(run: ToolRunner) -> None:
    with pytest.raises(ToolError) as refused:
        _convert(run, "data/t.parquet", "../elsewhere.parquet")
    assert refused.value.code == "outside_workspace"


MEMORY_CHILD = textwrap.dedent("""\
    import sys
    from pathlib import Path
    import pyarrow as pa, pyarrow.parquet as pq
    from mlops_engineer.engines.formats import readers, writers
    root = Path(sys.argv[1])
    n = 1_000_000
    table = pa.table({"i": pa.array(range(n), pa.int64()), "f": pa.array([i * 0.5 for i in range(n)]),
                      "s": pa.array([f"row-{i:09d}" for i in range(n)])})
    pq.write_table(table, root / "big.parquet", row_group_size=50_000)
    full = table.nbytes
    del table
    pool = pa.default_memory_pool()
    peak = [0]
    for fmt in ("arrow", "csv", "parquet"):
        reader = readers.open_reader(root / "big.parquet", batch_rows=20_000, max_row_group_bytes=16 << 20)
        writers.write(reader, root / f"out.{fmt}", fmt, row_group_bytes=4 << 20,
                      on_batch=lambda rows: peak.__setitem__(0, max(peak[0], pool.bytes_allocated())))
    print(full, peak[0])
""")


def test_streaming_stays_within_a_bounded_memory(tmp_path: Path) -> None:
    """A 1M-row file (33 MB in Arrow) converted with 20k-row batches: Arrow's pool peak stays a small
    fraction of the table, as it would for a file larger than memory."""
    done = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(tmp_path)], capture_output=True, text=True, timeout=300, check=True)
    full, peak = map(int, done.stdout.split())
    # Measured: ~6 MB reading (a 50k-row group, a 20k-row batch), ~10 MB with the Parquet writer's 4 MB of pending rows,
    # for a 33 MB table; neither grows with the file.
    assert peak < min(full / 3, 12 << 20), (full, peak)
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_rows == 1_000_000


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "+00:00"])
def test_fast_timestamp_json_text_equals_strftime(unit: str, tz: str | None) -> None:
    """The zone-less/UTC fast path writes exactly what Arrow's strftime did: negatives, day edges, nulls, slices."""
    import numpy as np
    import pyarrow.compute as pc

    from mlops_engineer.engines.formats import writers

    per_day = 86_400 * {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    rng = np.random.default_rng(7)
    spread = rng.integers(-per_day * 40_000, per_day * 40_000, 3000)  # days looked up by sorting
    dense = rng.integers(-per_day * 3, per_day * 9, 3000)  # days looked up by offset
    kind = pa.timestamp(unit, tz)
    parts = []
    for values in (spread, dense):
        values[:5] = [0, -1, 1, per_day - 1, -per_day]
        column = pa.array(values, kind, mask=rng.random(3000) < 0.1)
        parts += [column, column.slice(7, 100)]
    for part in parts:
        text = pc.strftime(part, format="%Y-%m-%dT%H:%M:%S" + ("%z" if tz else ""))
        if tz:
            text = pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2")
        expected = pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")
        assert writers._json_values(part).equals(expected)


def test_json_text_of_strings_and_dictionaries_equals_json_dumps() -> None:
    """Strings with nothing to escape take the fast path, the others are escaped; a dictionary's
    values are formatted once: the text is json.dumps' in every case, slices and nulls included."""
    import json

    from mlops_engineer.engines.formats import writers

    plain = pa.array(["a", "b c", None, "é", ""] * 20)
    awkward = pa.array(['say "hi"', "back\\slash", None, "tab\there", "line\nbreak"] * 20)
    dictionary = pa.array(["pro", None, "basic", 'q"uote', "pro"] * 20).dictionary_encode()
    for column in (plain, awkward, dictionary, plain.slice(3, 9), awkward.slice(1, 7), dictionary.slice(2, 11)):
        expected = ["null" if v is None else json.dumps(v, ensure_ascii=False) for v in column.to_pylist()]
        assert writers._json_values(column).to_pylist() == expected
