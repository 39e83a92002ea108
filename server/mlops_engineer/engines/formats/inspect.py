"""What a data file holds: schema, rows, and for Parquet its row groups, compression and statistics."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.formats.readers import check_row_groups, malformed, open_reader
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pyarrow as pa

EXTRA = "formats"


@dataclass
class FileInfo:
    format: str
    size_bytes: int
    columns: list[dict[str, Any]]  # name, type, nullable (+ Parquet: compression, encodings, min, max, null_count)
    rows: int | None = None  # from the metadata; None when only a full read can tell
    rows_read: int | None = None  # rows decoded by a full read (verify)
    row_groups: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def describe_schema(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def _stat(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value[:64].hex()
    return str(value)


def _parquet(path: Path, info: FileInfo, budget: int | None) -> None:
    pq = import_optional("pyarrow.parquet", EXTRA)
    pa = import_optional("pyarrow", EXTRA)
    try:
        handle = pq.ParquetFile(path)
        meta = handle.metadata
        schema = handle.schema_arrow
        check_row_groups(path, meta, budget)
        # Decode one row first: for a column encrypted under a plaintext footer this raises, where
        # reading its column chunk metadata below would abort the process (see check_row_groups).
        next(iter(handle.iter_batches(batch_size=1)), None)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise malformed(path, "parquet", exc) from exc
    info.rows = meta.num_rows
    info.columns = describe_schema(schema)
    info.details = {"created_by": meta.created_by, "format_version": meta.format_version, "num_row_groups": meta.num_row_groups,
                    "serialized_footer_bytes": meta.serialized_size,
                    "key_value_metadata": sorted(k.decode("utf-8", "replace") for k in (meta.metadata or {}))}
    leaves: dict[str, dict[str, Any]] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        info.row_groups.append({"index": g, "rows": group.num_rows, "total_bytes": group.total_byte_size,
                                "compressed_bytes": sum(group.column(c).total_compressed_size for c in range(group.num_columns))})
        for c in range(group.num_columns):
            chunk = group.column(c)
            leaf = leaves.setdefault(chunk.path_in_schema, {"path": chunk.path_in_schema, "physical_type": chunk.physical_type,
                                                            "compression": set(), "encodings": set(), "null_count": 0,
                                                            "min": None, "max": None, "compressed_bytes": 0, "uncompressed_bytes": 0})
            leaf["compression"].add(chunk.compression)
            leaf["encodings"].update(chunk.encodings)
            leaf["compressed_bytes"] += chunk.total_compressed_size
            leaf["uncompressed_bytes"] += chunk.total_uncompressed_size
            stats = chunk.statistics
            if stats is None:
                leaf["null_count"] = None
                continue
            if leaf["null_count"] is not None:
                leaf["null_count"] = leaf["null_count"] + stats.null_count if stats.has_null_count else None
            if stats.has_min_max:
                try:
                    lo, hi = stats.min, stats.max
                    leaf["min"] = lo if leaf["min"] is None else min(leaf["min"], lo)
                    leaf["max"] = hi if leaf["max"] is None else max(leaf["max"], hi)
                except (TypeError, ValueError, OverflowError):  # a logical type Arrow cannot turn into Python values
                    pass
    info.details["leaf_columns"] = [
        {**leaf, "compression": sorted(leaf["compression"]), "encodings": sorted(leaf["encodings"]),
         "min": _stat(leaf["min"]), "max": _stat(leaf["max"])} for leaf in leaves.values()
    ]


def _ipc(path: Path, info: FileInfo, _budget: int | None) -> None:
    pa = import_optional("pyarrow", EXTRA)
    ipc = import_optional("pyarrow.ipc", EXTRA)
    with path.open("rb") as handle:
        is_file = handle.read(6) == b"ARROW1"
    try:
        if is_file:
            reader = ipc.open_file(pa.memory_map(str(path)))
            info.columns = describe_schema(reader.schema)
            info.rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
            info.details = {"ipc": "file (Feather v2)", "record_batches": reader.num_record_batches}
        else:
            info.details = {"ipc": "stream"}
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise malformed(path, "arrow", exc) from exc


def _avro(path: Path, info: FileInfo, _budget: int | None) -> None:
    fastavro = import_optional("fastavro", EXTRA)
    with path.open("rb") as handle:
        try:
            reader = fastavro.reader(handle)
            info.details = {"codec": reader.codec, "writer_schema": json.dumps(reader.writer_schema)[:4000]}
        except (ValueError, EOFError, KeyError, TypeError) as exc:
            raise malformed(path, "avro", exc) from exc


def inspect_file(path: Path, fmt: str, *, verify: bool, batch_rows: int, max_row_group_bytes: int | None,
                 reader: pa.RecordBatchReader | None = None, on_batch: Callable[[int], None] = lambda rows: None) -> FileInfo:
    """Metadata first (never the whole file); with `verify`, decode every row too and count them."""
    info = FileInfo(format=fmt, size_bytes=path.stat().st_size, columns=[])
    {"parquet": _parquet, "arrow": _ipc, "avro": _avro}.get(fmt, lambda p, i, b: None)(path, info, max_row_group_bytes)
    if reader is None and (verify or not info.columns):
        reader = open_reader(path, fmt, batch_rows=batch_rows, max_row_group_bytes=max_row_group_bytes)
    if reader is not None:
        info.columns = info.columns or describe_schema(reader.schema)
        if verify:
            total = 0
            for batch in reader:
                total += batch.num_rows
                on_batch(total)
            info.rows_read = total
            if info.rows is not None and info.rows != total:
                raise ToolError("invalid_input", f"'{path.name}': the metadata says {info.rows} rows but {total} were decoded.",
                                "The file is inconsistent: re-export it from its source.")
            info.rows = total
    return info
