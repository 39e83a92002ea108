"""Demo step: convert the churn training set that `champion` wrote to Parquet, Avro and Protobuf
(a .proto this step writes), show what each conversion changes, and inspect the Parquet file."""

from __future__ import annotations

from mlops_engineer.demos import DemoSession

OUT_DIR = "data/formats"
PROTO = f"{OUT_DIR}/churn_row.proto"
# Arrow type of a CSV column -> the proto3 field type that holds it; `optional` keeps nulls as nulls.
PROTO_TYPES = {"int64": "int64", "double": "double", "string": "string", "bool": "bool"}


def _proto_text(columns: list[dict[str, str]]) -> str:
    fields = "\n".join(f"  optional {PROTO_TYPES.get(c['type'], 'string')} {c['name']} = {i};" for i, c in enumerate(columns, 1))
    return f'syntax = "proto3";\npackage churn;\n\n// One row of the churn training set.\nmessage ChurnRow {{\n{fields}\n}}\n'


def run(session: DemoSession) -> None:
    say, call, root = session.say, session.call, session.root
    train = session.facts.get("train_csv", "data/churn_train.csv")
    plan = call("serialize_data_formats", {"action": "convert", "source": train, "target": f"{OUT_DIR}/churn_train.parquet"}, dry_run=True)
    text = _proto_text(plan.schema_)
    if not (root / PROTO).exists() or (root / PROTO).read_text() != text:  # a re-run changes nothing
        session.workspace.write_text(PROTO, text)
    proto = {"proto": PROTO, "message": "ChurnRow"}
    written: dict[str, str] = {}
    for fmt, suffix, extra in (("Parquet", "parquet", {"compression": "zstd"}), ("Avro", "avro", {"compression": "deflate"}),
                               ("Protobuf", "pb", {"protobuf": proto})):
        target = f"{OUT_DIR}/churn_train.{suffix}"
        out = call("serialize_data_formats", {"action": "convert", "source": train, "target": target, **extra})
        changes = "; ".join(f"{c.column}: {c.kind}" for c in out.changes) or "nothing lost or changed"
        state = f"{out.rows:,} rows, {out.bytes_written:,} bytes" if out.written else f"already up to date ({out.bytes_written:,} bytes)"
        say(f"formats: {train} -> {target} ({fmt}): {state}; {changes}")
        written[fmt] = target
    info = call("serialize_data_formats", {"action": "inspect", "path": written["Parquet"]}).inspection
    compression = sorted({c for leaf in info.columns.rows for c in leaf.get("compression", [])})
    say(f"formats: {written['Parquet']} holds {info.rows:,} rows in {info.row_groups.total_rows} row group(s), "
        f"{'/'.join(compression)} compressed; every row decoded ({info.rows_read:,})")
    session.facts.update(formats=written, formats_proto=PROTO)
    session.where("converted training set (Parquet, Avro, Protobuf)", root / OUT_DIR)
