"""Open a data file as an Arrow `RecordBatchReader`, batch by batch, whatever its format.

Formats: CSV, JSON Lines, JSON (one array of objects), Parquet, Arrow IPC (file or stream;
Feather v2 is the IPC file format) and Avro (fastavro). Protobuf files carry no schema of their
own, so they are read by `engines.formats.protobuf` with the message class of a `.proto`.

Nothing is read whole except a JSON array (its grammar has no record boundary to stream on):
CSV comes in blocks, JSON Lines in newline-cut blocks parsed by Arrow, Parquet a row group's
pages at a time, Avro `batch_rows` records at a time (a file of 16 MiB or more decoded by worker
processes on every core, see `avro_parallel`). A malformed file becomes a `ToolError`
(`invalid_input`) naming the file and what is wrong with it, raised when the bad part is met,
which for a streamed file may be after earlier batches were returned.

This module depends only on `mlops_engineer.errors`, `mlops_engineer.optional` and its sibling
`avro_parallel`, so the three can be copied as they are.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.formats import avro_parallel
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pyarrow as pa

EXTRA = "formats"
FORMATS = ("csv", "jsonl", "json", "parquet", "arrow", "avro", "protobuf")
SUFFIXES = {
    ".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
    ".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow",
    ".arrows": "arrow", ".avro": "avro", ".pb": "protobuf", ".binpb": "protobuf", ".protobuf": "protobuf",
}
DEFAULT_BATCH_ROWS = 65_536
JSONL_BLOCK_BYTES = 8 << 20  # text per JSON Lines block: bounded memory, few Arrow calls
JSONL_PARSE_BYTES = 2 << 20  # Arrow parses a block's 2 MiB pieces on its threads (one piece would use one core)
# Arrow's and fastavro's exceptions for a malformed file: anything else is our bug, not the file's.
_MALFORMED = (OSError, ValueError, EOFError, IndexError, KeyError, TypeError, OverflowError, UnicodeDecodeError)


def detect_format(path: Path) -> str:
    """The file's format from its leading bytes, else its suffix; `invalid_input` when neither says."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except IsADirectoryError:
        raise ToolError("invalid_input", f"'{path.name}' is a folder, not a file.", "Give one file, or a folder to the tool's folder read.") from None
    if head.startswith(b"PAR1") or head.startswith(b"PARE"):
        return "parquet"
    if head.startswith(b"ARROW1"):
        return "arrow"
    if head.startswith(b"Obj\x01"):
        return "avro"
    by_suffix = SUFFIXES.get(path.suffix.lower())
    if by_suffix == "arrow" and head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"  # an IPC stream
    if by_suffix is None:
        raise ToolError(
            "invalid_input",
            f"Cannot tell the format of '{path.name}' (suffix '{path.suffix}', leading bytes {head[:4]!r}).",
            f"Name the format explicitly (one of {', '.join(FORMATS)}), or give the file a known suffix.",
        )
    return by_suffix


def malformed(path: Path, fmt: str, exc: BaseException) -> ToolError:
    """The error for a file that is not valid `fmt`: what the reader said, and what to do."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "encrypt" in text.lower() or "decrypt" in text.lower():
        return ToolError("invalid_input", f"'{path.name}' is an encrypted Parquet file ({text}); no decryption keys are configured.",
                         "Decrypt it with the tool that wrote it (its key management service), then convert the plain file.")
    return ToolError("invalid_input", f"'{path.name}' is not valid {fmt}: {text}",
                     "Check the file (is it complete, is the format right?); re-export it from its source.")


def guarded(path: Path, fmt: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Iterate, turning a reader's error in the middle of the file into a ToolError."""
    pa = import_optional("pyarrow", EXTRA)
    try:
        yield from batches
    except ToolError:
        raise
    except (pa.ArrowException, *_MALFORMED) as exc:
        raise malformed(path, fmt, exc) from exc


def open_reader(path: Path, fmt: str | None = None, *, batch_rows: int = DEFAULT_BATCH_ROWS,
                max_row_group_bytes: int | None = None) -> pa.RecordBatchReader:
    """A reader over `path`'s rows, `batch_rows` at a time (a Parquet or IPC file keeps its own batches
    when they are smaller). `max_row_group_bytes` refuses a Parquet file whose row group would take more
    memory than that once decompressed (the footer says so before anything is read)."""
    pa = import_optional("pyarrow", EXTRA)
    fmt = fmt or detect_format(path)
    openers: dict[str, Callable[..., tuple[pa.Schema, Iterator[pa.RecordBatch]]]] = {
        "csv": _csv, "jsonl": _jsonl, "json": _json_array, "parquet": _parquet, "arrow": _ipc, "avro": _avro,
    }
    if fmt == "protobuf":
        raise ToolError("invalid_input", f"'{path.name}' is Protobuf, which carries no schema: it needs its .proto and message name.",
                        "Give the .proto file and the message type (see engines.formats.protobuf).")
    if fmt not in openers:
        raise ToolError("invalid_input", f"Unknown format '{fmt}'.", f"Use one of {', '.join(FORMATS)}.")
    try:
        schema, batches = openers[fmt](path, batch_rows, max_row_group_bytes)
    except ToolError:
        raise
    except (pa.ArrowException, *_MALFORMED) as exc:
        raise malformed(path, fmt, exc) from exc
    return pa.RecordBatchReader.from_batches(schema, guarded(path, fmt, batches))




# --------------------------------------------------------------------------- text formats


def _csv(path: Path, batch_rows: int, _budget: int | None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    csv = import_optional("pyarrow.csv", EXTRA)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # About 100 bytes a row keeps a block near batch_rows rows; the first block decides the types.
    options = csv.ReadOptions(block_size=max(1 << 16, min(64 << 20, batch_rows * 100)))
    reader = csv.open_csv(path, read_options=options, parse_options=csv.ParseOptions(delimiter=delimiter))
    return reader.schema, iter(reader)


def _jsonl_blocks(path: Path) -> Iterator[bytes]:
    """The file in blocks of whole lines, about JSONL_BLOCK_BYTES each."""
    with path.open("rb") as handle:
        carry = b""
        while True:
            chunk = handle.read(JSONL_BLOCK_BYTES)
            if not chunk:
                break
            chunk, cut = carry + chunk, (carry + chunk).rfind(b"\n")
            if cut < 0:
                carry = chunk
                continue
            carry = chunk[cut + 1:]
            yield chunk[: cut + 1]
        if carry.strip():
            yield carry + b"\n"


def _jsonl(path: Path, batch_rows: int, _budget: int | None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    pa_json = import_optional("pyarrow.json", EXTRA)
    blocks = _jsonl_blocks(path)
    first = next(blocks, b"")
    if not first.strip():
        raise ToolError("invalid_input", f"'{path.name}' holds no JSON rows.", "Give a file with one JSON object per line.")
    table = pa_json.read_json(io.BytesIO(first), read_options=pa_json.ReadOptions(block_size=len(first) + 1))
    schema = table.schema
    # Later blocks are parsed against the first block's types: a field that changes type is an error, not a guess.
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")

    def batches() -> Iterator[pa.RecordBatch]:
        yield from table.to_batches(max_chunksize=batch_rows)
        for block in blocks:
            part = pa_json.read_json(io.BytesIO(block), read_options=pa_json.ReadOptions(block_size=JSONL_PARSE_BYTES), parse_options=options)
            yield from part.to_batches(max_chunksize=batch_rows)

    return schema, batches()


def _json_array(path: Path, batch_rows: int, _budget: int | None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    pa = import_optional("pyarrow", EXTRA)
    with path.open("rb") as handle:
        head = handle.read(64).lstrip()
    if head[:1] == b"{":  # a JSON Lines file named .json
        return _jsonl(path, batch_rows, _budget)
    try:
        rows = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise malformed(path, "json", exc) from exc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ToolError("invalid_input", f"'{path.name}' is JSON but not an array of objects.",
                        "Give an array of row objects, or JSON Lines (one object per line).")
    table = pa.Table.from_pylist(rows)
    return table.schema, iter(table.to_batches(max_chunksize=batch_rows))


# --------------------------------------------------------------------------- binary formats


def _parquet(path: Path, batch_rows: int, budget: int | None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    pq = import_optional("pyarrow.parquet", EXTRA)
    # Checksums are verified where the writer stored them: a corrupted page is refused, not decoded.
    # INT96 (legacy Spark/Impala timestamps) as microseconds: Spark writes microseconds, and as
    # nanoseconds (Arrow's default) dates past 2262 wrap around silently; Impala's sub-microsecond
    # digits are dropped.
    # pre_buffer off: on, Arrow caches the reads of every row group ahead (most of the file in memory).
    handle = pq.ParquetFile(path, page_checksum_verification=True, coerce_int96_timestamp_unit="us", pre_buffer=False)
    check_row_groups(path, handle.metadata, budget)
    return handle.schema_arrow, handle.iter_batches(batch_size=batch_rows)


def check_row_groups(path: Path, meta: Any, budget: int | None) -> None:
    """Refuse a file whose row group would not fit the budget once decompressed.

    Only row-group totals are read: touching a column chunk's metadata in a file with encrypted
    columns and a plaintext footer aborts the process inside Arrow (C++ `terminate`), where
    reading the rows raises a catchable error instead.
    """
    if budget is None:
        return
    for g in range(meta.num_row_groups):
        size = meta.row_group(g).total_byte_size
        if size > budget:
            raise ToolError(
                "invalid_input",
                f"'{path.name}': row group {g} takes {size / 2**20:,.0f} MiB once decompressed, over the memory budget "
                f"of {budget / 2**20:,.0f} MiB (Parquet decodes a column chunk's pages together).",
                "Raise the memory budget, or rewrite the file with smaller row groups where there is more memory.",
            )


def _ipc(path: Path, batch_rows: int, _budget: int | None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    pa = import_optional("pyarrow", EXTRA)
    ipc = import_optional("pyarrow.ipc", EXTRA)
    source = pa.memory_map(str(path))
    with path.open("rb") as handle:
        is_file = handle.read(6) == b"ARROW1"
    if is_file:
        reader = ipc.open_file(source)

        def file_batches() -> Iterator[pa.RecordBatch]:
            for i in range(reader.num_record_batches):
                yield from _split(reader.get_batch(i), batch_rows)

        return reader.schema, file_batches()
    stream = ipc.open_stream(source)
    return stream.schema, (part for batch in stream for part in _split(batch, batch_rows))


def _split(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, max(batch.num_rows, 1), rows):
        yield batch.slice(start, rows)


# --------------------------------------------------------------------------- Avro


def avro_to_arrow_type(schema: Any, named: dict[str, Any] | None = None) -> tuple[pa.DataType, bool]:
    """An Avro schema (parsed JSON) as an Arrow type, and whether it is nullable (a union with null)."""
    pa = import_optional("pyarrow", EXTRA)
    named = {} if named is None else named
    if isinstance(schema, str):
        if schema in named:
            if named[schema] is None:  # a record's own name inside itself
                raise ToolError("invalid_input", f"The Avro record '{schema}' refers to itself; Arrow has no recursive types.",
                                "Flatten the recursive field, or keep this data in Avro.")
            return named[schema], False
        primitive = {"null": pa.null(), "boolean": pa.bool_(), "int": pa.int32(), "long": pa.int64(), "float": pa.float32(),
                     "double": pa.float64(), "bytes": pa.binary(), "string": pa.string()}
        if schema not in primitive:
            raise ToolError("invalid_input", f"Unknown Avro type '{schema}'.", "Check the file's writer schema.")
        return primitive[schema], schema == "null"
    if isinstance(schema, list):
        members = [m for m in schema if m != "null"]
        if len(members) != 1:
            raise ToolError("invalid_input", f"The Avro union {json.dumps(schema)[:200]} has several non-null branches, which Arrow "
                            "columns cannot hold without a union type.", "Split the union into separate nullable fields.")
        inner, _ = avro_to_arrow_type(members[0], named)
        return inner, len(members) != len(schema)
    kind, logical = schema.get("type"), schema.get("logicalType")
    if logical == "decimal" and kind in ("bytes", "fixed"):
        precision, scale = int(schema["precision"]), int(schema.get("scale", 0))
        result = pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    elif logical in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros") and kind == "long":
        unit = "ms" if logical.endswith("millis") else "us"
        result = pa.timestamp(unit, tz=None if logical.startswith("local") else "UTC")
    elif logical == "date" and kind == "int":
        result = pa.date32()
    elif logical == "time-millis" and kind == "int":
        result = pa.time32("ms")
    elif logical == "time-micros" and kind == "long":
        result = pa.time64("us")
    elif logical == "uuid" and kind in ("string", "fixed"):
        result = pa.string()
    elif kind == "record":
        fields = []
        named[schema["name"]] = None  # a recursive record cannot be an Arrow type
        for f in schema["fields"]:
            inner, nullable = avro_to_arrow_type(f["type"], named)
            fields.append(pa.field(f["name"], inner, nullable=nullable))
        result = pa.struct(fields)
    elif kind == "enum":
        result = pa.dictionary(pa.int32(), pa.string())
    elif kind == "array":
        inner, nullable = avro_to_arrow_type(schema["items"], named)
        result = pa.list_(pa.field("item", inner, nullable=nullable))
    elif kind == "map":
        inner, nullable = avro_to_arrow_type(schema["values"], named)
        result = pa.map_(pa.string(), pa.field("value", inner, nullable=nullable))
    elif kind == "fixed":
        result = pa.binary(int(schema["size"]))
    else:
        result, _ = avro_to_arrow_type(kind, named)
    if isinstance(schema, dict) and "name" in schema and kind in ("record", "enum", "fixed"):
        named[schema["name"]] = result
        if schema.get("namespace"):
            named[f"{schema['namespace']}.{schema['name']}"] = result
    return result, False


def _plain(value: Any) -> Any:
    """fastavro's Python values in the shape Arrow takes: UUIDs as text, maps as key/value pairs."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if type(value).__name__ == "UUID":
        return str(value)
    return value


def _avro(path: Path, batch_rows: int, _budget: int | None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    pa = import_optional("pyarrow", EXTRA)
    fastavro = import_optional("fastavro", EXTRA)
    handle = path.open("rb")
    try:
        reader = fastavro.reader(handle)
    except BaseException:
        handle.close()
        raise
    writer_schema = reader.writer_schema
    if not isinstance(writer_schema, dict) or writer_schema.get("type") != "record":
        handle.close()
        raise ToolError("invalid_input", f"'{path.name}' holds Avro values that are not records ({json.dumps(writer_schema)[:120]}).",
                        "Only files of records convert to a table.")
    struct, _ = avro_to_arrow_type(writer_schema)
    schema = pa.schema(list(struct))
    needs_plain = any(_has_uuid_or_map(f) for f in writer_schema["fields"])
    if avro_parallel.worth_parallel(path):
        handle.close()
        return schema, avro_parallel.parallel_batches(path, schema, batch_rows, needs_plain)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            rows: list[dict[str, Any]] = []
            for record in reader:
                rows.append(_plain(record) if needs_plain else record)
                if len(rows) >= batch_rows:
                    yield pa.RecordBatch.from_pylist(rows, schema=schema)
                    rows = []
            if rows:
                yield pa.RecordBatch.from_pylist(rows, schema=schema)
        finally:
            handle.close()

    return schema, batches()


def _has_uuid_or_map(node: Any) -> bool:
    text = json.dumps(node)
    return '"uuid"' in text or '"map"' in text
