"""Write Arrow batches to a file of any supported format, batch by batch, atomically.

Rows go to a temporary file beside the target (`.<name>.<random>.tmp`) that replaces the target
only once every batch is written: a failure half-way (a malformed row in the middle of the
source, a cancelled call, a full disk) leaves the old target, or none, never half a file.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlops_engineer.optional import import_optional
from mlops_engineer.workspace import check_before_write

if TYPE_CHECKING:
    import pyarrow as pa

EXTRA = "formats"
COMPRESSION = {"parquet": "zstd", "arrow": None, "avro": "null", "csv": None, "jsonl": None, "json": None, "protobuf": None}
PARALLEL_AVRO_BATCHES = 4  # a stream this many batches long is encoded by worker processes
ROW_GROUP_ROWS = 1 << 20  # Parquet row groups of about a million rows: readers skip by them, writers buffer one


def write(batches: pa.RecordBatchReader, target: Path, fmt: str, *, compression: str | None = None,
          message_class: type | None = None, row_group_bytes: int = 256 << 20,
          on_batch: Callable[[int], None] = lambda rows: None) -> int:
    """Write every batch of `batches` to `target` as `fmt`; the rows written. `on_batch(rows so far)`
    runs after each batch (progress, and the cancellation point: raising there aborts the write)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    check_before_write()
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            rows = _WRITERS[fmt](batches, handle, compression or COMPRESSION[fmt], message_class, row_group_bytes, on_batch)
        os.chmod(tmp, 0o644)
        check_before_write()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows


def _counted(batches: Iterator[pa.RecordBatch], on_batch: Callable[[int], None]) -> Iterator[pa.RecordBatch]:
    total = 0
    for batch in batches:
        yield batch
        total += batch.num_rows
        on_batch(total)


def _parquet(batches: pa.RecordBatchReader, handle: BinaryIO, compression: str, _m: type | None, group_bytes: int,
             on_batch: Callable[[int], None]) -> int:
    pa = import_optional("pyarrow", EXTRA)
    pq = import_optional("pyarrow.parquet", EXTRA)
    total, pending, pending_bytes = 0, [], 0
    with pq.ParquetWriter(handle, batches.schema, compression=None if compression == "none" else compression) as writer:
        for batch in _counted(batches, on_batch):
            pending.append(batch)
            pending_bytes += batch.nbytes
            total += batch.num_rows
            if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS or pending_bytes >= group_bytes:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=ROW_GROUP_ROWS)
                pending, pending_bytes = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=ROW_GROUP_ROWS)
    return total


def _ipc(batches: pa.RecordBatchReader, handle: BinaryIO, compression: str | None, _m: type | None, _g: int,
         on_batch: Callable[[int], None]) -> int:
    pa = import_optional("pyarrow", EXTRA)
    ipc = import_optional("pyarrow.ipc", EXTRA)
    options = ipc.IpcWriteOptions(compression=None if compression in (None, "none") else compression)
    total = 0
    with ipc.new_file(pa.PythonFile(handle, mode="w"), batches.schema, options=options) as writer:
        for batch in _counted(batches, on_batch):
            writer.write_batch(batch)
            total += batch.num_rows
    return total


def _text_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns CSV cannot hold as they are: nested values as JSON text, bytes as base64, dictionaries decoded."""
    pa = import_optional("pyarrow", EXTRA)
    columns, fields = [], []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        kind = field.type
        if pa.types.is_dictionary(kind):
            column, kind = column.dictionary_decode(), kind.value_type
        if pa.types.is_nested(kind):
            column = pa.array([None if v is None else json.dumps(v, default=_json_default) for v in column.to_pylist()], pa.string())
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
            column = pa.array([None if v is None else base64.b64encode(v).decode("ascii") for v in column.to_pylist()], pa.string())
        elif pa.types.is_duration(kind):
            column = column.cast(pa.int64())
        columns.append(column)
        fields.append(pa.field(field.name, column.type))
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


def _csv(batches: pa.RecordBatchReader, handle: BinaryIO, _c: str | None, _m: type | None, _g: int,
         on_batch: Callable[[int], None]) -> int:
    pa = import_optional("pyarrow", EXTRA)
    csv = import_optional("pyarrow.csv", EXTRA)
    writer, total = None, 0
    sink = pa.PythonFile(handle, mode="w")
    try:
        for batch in _counted(batches, on_batch):
            ready = _text_ready(batch)
            if writer is None:
                writer = csv.CSVWriter(sink, ready.schema)
            writer.write_batch(ready)
            total += batch.num_rows
        if writer is None:  # no rows: still a header
            csv.CSVWriter(sink, _text_ready(_empty(batches.schema)).schema).close()
    finally:
        if writer is not None:
            writer.close()
    return total


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    pa = import_optional("pyarrow", EXTRA)
    return pa.RecordBatch.from_pylist([], schema=schema)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return str(value)  # Decimal: exact text


def _json_values(column: pa.Array) -> pa.Array:
    """Each value of `column` as JSON text ("null" for nulls), built by Arrow's kernels where they can;
    nested, binary and non-finite values go through Python's json one value at a time."""
    pa = import_optional("pyarrow", EXTRA)
    pc = import_optional("pyarrow.compute", EXTRA)
    t, kind = pa.types, column.type
    if t.is_dictionary(kind):  # each distinct value formatted once
        return pc.fill_null(_json_values(column.dictionary).take(column.indices), "null")
    quoted = None
    if t.is_string(kind) or t.is_large_string(kind):
        if _plain_text(column):
            quoted = pc.binary_join_element_wise('"', column, '"', "")
        elif not pc.any(pc.match_substring_regex(column, r"[\x00-\x1f]")).as_py():
            escaped = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
            quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    elif t.is_boolean(kind) or t.is_integer(kind):
        quoted = column.cast(pa.string())
    elif t.is_floating(kind):
        if not pc.any(pc.invert(pc.is_finite(column))).as_py():
            quoted = column.cast(pa.float64()).cast(pa.string())
    elif t.is_decimal(kind) or t.is_date(kind) or t.is_time(kind):
        quoted = pc.binary_join_element_wise('"', column.cast(pa.string()), '"', "")
    elif t.is_timestamp(kind) and (kind.tz is None or kind.tz in _UTC):
        quoted = _iso_utc(column, kind)
    elif t.is_timestamp(kind):
        text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S" + ("%z" if kind.tz else ""))
        if kind.tz:  # +0100 -> +01:00, as ISO 8601 readers (and Python) expect
            text = pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2")
        quoted = pc.binary_join_element_wise('"', text, '"', "")
    if quoted is None:
        from mlops_engineer.engines.formats.avro import _maps_as_dicts

        dumps = json.JSONEncoder(default=_json_default, ensure_ascii=False, separators=(",", ":")).encode
        return pa.array([dumps(_maps_as_dicts(v, kind)) for v in column.to_pylist()], pa.string())
    return pc.fill_null(quoted, "null")


def _plain_text(column: pa.Array) -> bool:
    """True when no byte of the strings needs escaping in JSON (no quote, backslash or control
    character): one pass over the data buffer, ten times faster than a regex over the values. Bytes
    outside the column's slice are looked at too, which at worst sends it down the escaping path."""
    import numpy as np

    data = column.buffers()[2]
    return data is None or not _needs_escape_table()[np.frombuffer(data, dtype=np.uint8)].any()


@functools.cache
def _needs_escape_table() -> Any:
    import numpy as np

    table = np.zeros(256, dtype=bool)
    table[:0x20] = table[ord('"')] = table[ord("\\")] = True
    return table


_UTC = ("UTC", "Etc/UTC", "+00:00")
_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


def _iso_utc(column: pa.Array, kind: pa.DataType) -> pa.Array:
    """Quoted ISO 8601 text of a zone-less or UTC timestamp column, the same as `strftime`'s
    "%Y-%m-%dT%H:%M:%S" (+ "+00:00"), but 5-10x faster: each day is formatted once, the time of day
    is looked up in a table of the day's 86,400 seconds, and the fraction is zero-padded digits
    (Arrow's strftime takes ~1.7 us a value)."""
    import numpy as np

    pa = import_optional("pyarrow", EXTRA)
    pc = import_optional("pyarrow.compute", EXTRA)
    per_second = _PER_SECOND[kind.unit]
    raw = column.cast(pa.int64())
    values = pc.fill_null(raw, 0).to_numpy(zero_copy_only=False)
    day, rem = np.divmod(values, 86_400 * per_second)
    first, last = (int(day.min()), int(day.max())) if len(day) else (0, 0)
    if last - first <= 4 * len(day):  # a dense range of days: index by offset instead of sorting
        days, where = np.arange(first, last + 1), day - first
    else:
        days, where = np.unique(day, return_inverse=True)
    dates = pc.strftime(pa.array(days * (86_400 * per_second), pa.timestamp(kind.unit)), format="%Y-%m-%d")
    secs, frac = np.divmod(rem, per_second)
    parts = ['"', dates.take(pa.array(where.ravel())), "T", _clock().take(pa.array(secs))]
    if per_second > 1:
        parts += [".", pc.utf8_lpad(pa.array(frac).cast(pa.string()), width=len(str(per_second)) - 1, padding="0")]
    parts.append('+00:00"' if kind.tz else '"')
    text = pc.binary_join_element_wise(*parts, "")
    return pc.if_else(pc.is_null(raw), pa.scalar(None, pa.string()), text) if raw.null_count else text


@functools.cache
def _clock() -> pa.Array:
    """"HH:MM:SS" for every second of a day, by its index."""
    import numpy as np

    pa = import_optional("pyarrow", EXTRA)
    pc = import_optional("pyarrow.compute", EXTRA)
    second = np.arange(86_400)
    fields = [pc.utf8_lpad(pa.array(n).cast(pa.string()), width=2, padding="0") for n in (second // 3600, second // 60 % 60, second % 60)]
    return pc.binary_join_element_wise(*fields, ":")


def _json_rows(batch: pa.RecordBatch) -> pa.Array:
    """One JSON object per row, each ending in a newline."""
    pc = import_optional("pyarrow.compute", EXTRA)
    parts: list[Any] = []
    for i, (name, column) in enumerate(zip(batch.schema.names, batch.columns, strict=True)):
        parts += [("{" if i == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":", _json_values(column)]
    parts.append("}\n" if parts else "{}\n")
    if len(parts) == 1:
        return import_optional("pyarrow", EXTRA).array(["{}\n"] * batch.num_rows)
    return pc.binary_join_element_wise(*parts, "")


def _jsonl(batches: pa.RecordBatchReader, handle: BinaryIO, _c: str | None, _m: type | None, _g: int,
           on_batch: Callable[[int], None], *, array: bool = False) -> int:
    total = 0
    handle.write(b"[" if array else b"")
    for batch, rows in _formatted_ahead(_counted(batches, on_batch), _json_rows):
        if batch.num_rows:
            if array:
                text = ",".join(rows.to_pylist())
                handle.write(((",\n" if total else "") + text.rstrip("\n")).encode("utf-8"))
            else:  # the rows' text lies back to back in the array's data buffer
                offsets = rows.buffers()[1]
                import numpy as np

                bounds = np.frombuffer(offsets, dtype=np.int32 if rows.type == "string" else np.int64)
                start, end = int(bounds[rows.offset]), int(bounds[rows.offset + len(rows)])
                handle.write(memoryview(rows.buffers()[2])[start:end])
        total += batch.num_rows
    handle.write(b"]\n" if array else b"")
    return total


def _formatted_ahead(batches: Iterator[pa.RecordBatch], format_batch: Callable[[pa.RecordBatch], Any]
                     ) -> Iterator[tuple[pa.RecordBatch, Any]]:
    """(batch, format_batch(batch)) in the batches' order, formatting up to one batch per core ahead
    on threads: Arrow's kernels release the GIL, and one thread formatting JSON is the bottleneck
    of a conversion to JSON text (the readers already parse on Arrow's own threads)."""
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(4, os.cpu_count() or 1))
    pending: deque[tuple[pa.RecordBatch, Any]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="json-text")
    try:
        for batch in batches:
            pending.append((batch, pool.submit(format_batch, batch)))
            if len(pending) > workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:  # a cancelled or failed write leaves no thread formatting behind it
        pool.shutdown(wait=True, cancel_futures=True)


def _json(batches: pa.RecordBatchReader, handle: BinaryIO, _c: str | None, _m: type | None, _g: int,
          on_batch: Callable[[int], None]) -> int:
    return _jsonl(batches, handle, _c, _m, _g, on_batch, array=True)


def _avro(batches: pa.RecordBatchReader, handle: BinaryIO, codec: str, _m: type | None, _g: int,
          on_batch: Callable[[int], None]) -> int:
    fastavro = import_optional("fastavro", EXTRA)
    from mlops_engineer.engines.formats import avro_parallel
    from mlops_engineer.engines.formats.avro import avro_schema, records

    schema = avro_schema(batches.schema)
    parsed = fastavro.parse_schema(schema)
    counted = _counted(batches, on_batch)
    first = list(itertools.islice(counted, PARALLEL_AVRO_BATCHES))
    total = sum(batch.num_rows for batch in first)
    if len(first) == PARALLEL_AVRO_BATCHES and avro_parallel.worker_count() > 1:
        # fastavro encodes under the GIL: a long stream goes to worker processes, a run per batch.
        sync = os.urandom(avro_parallel.SYNC_BYTES)
        fastavro.writer(handle, parsed, [], codec=codec, sync_marker=sync)  # the header alone

        def rest() -> Iterator[pa.RecordBatch]:
            nonlocal total
            yield from first
            for batch in counted:
                total += batch.num_rows
                yield batch

        for blocks in avro_parallel.encoded_blocks(rest(), schema, codec, sync):
            handle.write(blocks)
        return total

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal total
        for batch in first:
            yield from records(batch)
        for batch in counted:
            yield from records(batch)
            total += batch.num_rows

    # fastavro pulls the records in its own compiled loop instead of one Python call per record.
    fastavro.writer(handle, parsed, rows(), codec=codec)
    return total


def _protobuf(batches: pa.RecordBatchReader, handle: BinaryIO, _c: str | None, message_class: type | None, _g: int,
              on_batch: Callable[[int], None]) -> int:
    from mlops_engineer.engines.formats.protobuf import write_messages

    assert message_class is not None
    return sum(write_messages(_counted(batches, on_batch), message_class, handle))


_WRITERS = {"parquet": _parquet, "arrow": _ipc, "csv": _csv, "jsonl": _jsonl, "json": _json, "avro": _avro, "protobuf": _protobuf}
