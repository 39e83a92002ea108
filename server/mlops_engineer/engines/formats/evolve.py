"""Read a folder of files whose schema evolved as one stream of batches with one schema.

`pyarrow.dataset` takes the first file's schema and fails on a file where a column is
missing with a non-null declaration or has another type. Here every file's schema is read
first (from the footer or header; CSV and JSON Lines from their first block), then unified:

- a column missing from some files is added to them as nulls (and becomes nullable);
- types widen only where every value survives: int8 < int16 < int32 < int64, unsigned into the
  next wider signed type, int8/16/32 and float32 into float64, timestamps to the finest unit
  (same zone), decimals to the precision and scale that hold both, string and dictionary of
  strings to string, null into anything;
- anything else (int64 with float64, string with a number, two time zones) is refused, naming
  the files and types, since picking one would change values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_engineer.engines.formats.readers import FORMATS, SUFFIXES, detect_format, open_reader
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pyarrow as pa

EXTRA = "formats"
_UNITS = ["s", "ms", "us", "ns"]


@dataclass
class Unified:
    schema: pa.Schema
    files: list[Path]
    fmt: str
    notes: list[str] = field(default_factory=list)  # what was unified, for the report


def folder_files(folder: Path, fmt: str | None) -> tuple[list[Path], str]:
    """The data files of one format in `folder` (recursively, sorted; hidden files skipped)."""
    candidates = sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    data = [p for p in candidates if p.suffix.lower() in SUFFIXES and SUFFIXES[p.suffix.lower()] != "protobuf"]
    if not data:
        raise ToolError("not_found", f"No data files in the folder '{folder.name}'.", f"Put files of one format there ({', '.join(FORMATS[:-1])}).")
    kinds = {p: (fmt or detect_format(p)) for p in data}
    chosen = fmt or kinds[data[0]]
    others = sorted({k for k in kinds.values() if k != chosen})
    if others:
        raise ToolError("invalid_input", f"The folder '{folder.name}' mixes formats: {chosen} and {', '.join(others)}.",
                        "Convert one format at a time: move the others to another folder, or give source_format.")
    return data, chosen


def _widen(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The narrowest type holding every value of both, or None when none does without changing values."""
    pa = import_optional("pyarrow", EXTRA)
    t = pa.types
    if a == b:
        return a
    if t.is_null(a):
        return b
    if t.is_null(b):
        return a
    if t.is_dictionary(a) or t.is_dictionary(b):
        va = a.value_type if t.is_dictionary(a) else a
        vb = b.value_type if t.is_dictionary(b) else b
        return _widen(va, vb)
    if (t.is_string(a) or t.is_large_string(a)) and (t.is_string(b) or t.is_large_string(b)):
        return pa.large_string()
    if t.is_integer(a) and t.is_integer(b):
        signed = t.is_signed_integer(a) or t.is_signed_integer(b)
        width = max(x.bit_width + (1 if signed and t.is_unsigned_integer(x) else 0) for x in (a, b))
        for bits, kind in ((8, pa.int8()), (16, pa.int16()), (32, pa.int32()), (64, pa.int64())) if signed else (
                (8, pa.uint8()), (16, pa.uint16()), (32, pa.uint32()), (64, pa.uint64())):
            if width <= bits:
                return kind
        return None
    if t.is_floating(a) and t.is_floating(b):
        return a if a.bit_width >= b.bit_width else b
    if (t.is_integer(a) and t.is_floating(b)) or (t.is_floating(a) and t.is_integer(b)):
        i = a if t.is_integer(a) else b
        return pa.float64() if i.bit_width <= 32 else None
    if t.is_timestamp(a) and t.is_timestamp(b) and a.tz == b.tz:
        return pa.timestamp(max(a.unit, b.unit, key=_UNITS.index), a.tz)
    if t.is_decimal(a) and t.is_decimal(b):
        scale = max(a.scale, b.scale)
        digits = max(a.precision - a.scale, b.precision - b.scale) + scale
        return pa.decimal128(digits, scale) if digits <= 38 else pa.decimal256(digits, scale) if digits <= 76 else None
    if t.is_date(a) and t.is_date(b):
        return pa.date64() if t.is_date64(a) or t.is_date64(b) else pa.date32()
    return None


def file_schema(path: Path, fmt: str) -> pa.Schema:
    if fmt == "parquet":
        return import_optional("pyarrow.parquet", EXTRA).read_schema(path)
    return open_reader(path, fmt, batch_rows=1024).schema


def unify(folder: Path, fmt: str | None = None) -> Unified:
    """The folder's files, format and unified schema, with a note for everything unified."""
    pa = import_optional("pyarrow", EXTRA)
    files, chosen = folder_files(folder, fmt)
    schemas = [(p, file_schema(p, chosen)) for p in files]
    order: list[str] = []
    types: dict[str, pa.DataType] = {}
    seen_in: dict[str, list[Path]] = {}
    nullable: dict[str, bool] = {}
    notes: list[str] = []
    for path, schema in schemas:
        for f in schema:
            if f.name not in types:
                order.append(f.name)
                types[f.name], seen_in[f.name], nullable[f.name] = f.type, [path], f.nullable
                continue
            wide = _widen(types[f.name], f.type)
            if wide is None:
                first = seen_in[f.name][0]
                raise ToolError("invalid_input",
                                f"Column '{f.name}' is {types[f.name]} in '{first.name}' but {f.type} in '{path.name}': no type holds both "
                                "without changing values.", "Cast the column in one of the files, or convert the files separately.")
            if wide != types[f.name] or wide != f.type:
                notes.append(f"{f.name}: {types[f.name]} and {f.type} unified as {wide} ({path.name})")
            types[f.name] = wide
            seen_in[f.name].append(path)
            nullable[f.name] = nullable[f.name] or f.nullable
    for name in order:
        missing = [p.name for p, s in schemas if name not in s.names]
        if missing:
            nullable[name] = True
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            notes.append(f"{name}: missing from {len(missing)} file(s) ({shown}), filled with nulls")
    unified = pa.schema([pa.field(n, types[n], nullable=nullable[n]) for n in order])
    return Unified(unified, files, chosen, notes)


def read_unified(unified: Unified, batch_rows: int, max_row_group_bytes: int | None = None) -> pa.RecordBatchReader:
    """Every file's batches, with missing columns as nulls and types cast to the unified schema."""
    pa = import_optional("pyarrow", EXTRA)
    schema = unified.schema

    def batches() -> Iterator[pa.RecordBatch]:
        for path in unified.files:
            for batch in open_reader(path, unified.fmt, batch_rows=batch_rows, max_row_group_bytes=max_row_group_bytes):
                columns = []
                for f in schema:
                    if f.name in batch.schema.names:
                        column = batch.column(f.name)
                        columns.append(column if column.type == f.type else column.cast(f.type))  # safe casts only
                    else:
                        columns.append(pa.nulls(batch.num_rows, f.type))
                yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())
