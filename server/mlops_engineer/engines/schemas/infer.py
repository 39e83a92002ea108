"""A schema from a data file: each column's type, whether it holds nulls, and the enums it found.

The file is read with `engines.formats.readers` (CSV, JSON Lines, JSON, Parquet, Arrow, Avro), batch
by batch, so only the distinct values of candidate enum columns are kept in memory.

Enums: a string column becomes an enum when it has at most `enum_max_values` distinct values
(default 10) over at least `enum_min_rows` rows (default 20), and every value is a valid symbol
name (letters, digits, underscore, not starting with a digit) so Avro and Protobuf can name it.
A few rows never make an enum: with 5 rows, 5 distinct names is a free-text column, not a category.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_engineer.engines.formats.readers import open_reader

SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENUM_MAX_VALUES = 10
ENUM_MIN_ROWS = 20


@dataclass
class Column:
    name: str
    type: str
    """boolean, int, long, float, double, string, bytes, date, timestamp, array<...>, record, or enum."""
    nullable: bool
    nulls: int = 0
    symbols: list[str] = field(default_factory=list)
    items: str | None = None
    """For arrays: the item type."""


@dataclass
class Inferred:
    rows: int
    columns: list[Column]
    notes: list[str] = field(default_factory=list)


def _kind(dtype: Any) -> tuple[str, str | None]:
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(dtype):
        return _kind(dtype.value_type)
    if t.is_boolean(dtype):
        return "boolean", None
    if t.is_integer(dtype):
        return ("int" if dtype.bit_width <= 32 and t.is_signed_integer(dtype) else "long"), None
    if t.is_float32(dtype) or t.is_float16(dtype):
        return "float", None
    if t.is_floating(dtype) or t.is_decimal(dtype):
        return "double", None
    if t.is_string(dtype) or t.is_large_string(dtype) or t.is_null(dtype):
        return "string", None
    if t.is_binary(dtype) or t.is_large_binary(dtype) or t.is_fixed_size_binary(dtype):
        return "bytes", None
    if t.is_date(dtype):
        return "date", None
    if t.is_timestamp(dtype):
        return "timestamp", None
    if t.is_list(dtype) or t.is_large_list(dtype):
        inner, _ = _kind(dtype.value_type)
        return "array", inner if inner in ("boolean", "int", "long", "float", "double", "string", "bytes") else "string"
    return "string", None  # structs, maps and other nested values are kept as their JSON text


def infer_file(path: Path, fmt: str | None = None, *, enum_max_values: int = ENUM_MAX_VALUES, enum_min_rows: int = ENUM_MIN_ROWS,
               check_cancelled: Callable[[], None] | None = None) -> Inferred:
    """Read `path` and describe its columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    reader = open_reader(path, fmt)
    schema = reader.schema
    kinds = {f.name: _kind(f.type) for f in schema}
    nulls = dict.fromkeys(kinds, 0)
    distinct: dict[str, set[str] | None] = {n: set() for n, (k, _) in kinds.items() if k == "string" and enum_max_values > 0}
    rows = 0
    for batch in reader:
        if check_cancelled:
            check_cancelled()
        rows += batch.num_rows
        for name in kinds:
            column = batch.column(name)
            nulls[name] += column.null_count
            seen = distinct.get(name)
            if seen is not None:
                values = pc.unique(column.cast(pa.string()) if not pa.types.is_string(column.type) else column)
                seen.update(v for v in values.to_pylist() if v is not None)
                if len(seen) > enum_max_values:
                    distinct[name] = None  # too many: stop collecting
    out = Inferred(rows=rows, columns=[])
    for f in schema:
        kind, items = kinds[f.name]
        col = Column(f.name, kind, nullable=nulls[f.name] > 0, nulls=nulls[f.name], items=items)
        seen = distinct.get(f.name)
        if seen and rows >= enum_min_rows:
            if all(SYMBOL.match(s) for s in seen):
                col.type, col.symbols = "enum", sorted(seen)
            else:
                out.notes.append(f"'{f.name}' has {len(seen)} distinct values but some are not valid symbol names; kept as string")
        if not NAME.match(f.name):
            out.notes.append(f"column '{f.name}' is not a valid Avro/Protobuf name: those schemas call it '{safe_name(f.name)}'")
        out.columns.append(col)
    if rows < enum_min_rows:
        out.notes.append(f"only {rows} rows (< {enum_min_rows}): no enum was inferred")
    return out


def safe_name(name: str) -> str:
    """A column name as an Avro/Protobuf identifier: other characters become '_'."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return text if NAME.match(text) else f"_{text}"


def _camel(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    text = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return text if text[:1].isalpha() else f"T{text}"


def _avro_type(col: Column, record: str) -> Any:
    simple = {"boolean": "boolean", "int": "int", "long": "long", "float": "float", "double": "double",
              "string": "string", "bytes": "bytes"}
    if col.type in simple:
        return simple[col.type]
    if col.type == "date":
        return {"type": "int", "logicalType": "date"}
    if col.type == "timestamp":
        return {"type": "long", "logicalType": "timestamp-micros"}
    if col.type == "array":
        return {"type": "array", "items": simple.get(col.items or "string", "string")}
    if col.type == "enum":
        return {"type": "enum", "name": f"{record}{_camel(col.name)}", "symbols": col.symbols}
    return "string"


def to_avro(inferred: Inferred, name: str, namespace: str | None = None) -> dict[str, Any]:
    record = _camel(name)
    fields = []
    for col in inferred.columns:
        t = _avro_type(col, record)
        # A nullable field is a union with null first, so its default can be null.
        name = safe_name(col.name)
        fields.append({"name": name, "type": ["null", t], "default": None} if col.nullable else {"name": name, "type": t})
    schema: dict[str, Any] = {"type": "record", "name": record}
    if namespace:
        schema["namespace"] = namespace
    schema["fields"] = fields
    return schema


def _json_type(col: Column) -> dict[str, Any]:
    simple = {"boolean": {"type": "boolean"}, "int": {"type": "integer"}, "long": {"type": "integer"},
              "float": {"type": "number"}, "double": {"type": "number"}, "string": {"type": "string"},
              "bytes": {"type": "string", "contentEncoding": "base64"},
              "date": {"type": "string", "format": "date"}, "timestamp": {"type": "string", "format": "date-time"}}
    if col.type == "array":
        return {"type": "array", "items": simple.get(col.items or "string", {"type": "string"})}
    if col.type == "enum":
        return {"type": "string", "enum": list(col.symbols)}
    return dict(simple.get(col.type, {"type": "string"}))


def to_json_schema(inferred: Inferred, name: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for col in inferred.columns:
        p = _json_type(col)
        if col.nullable:
            p["type"] = [p["type"], "null"]
            if "enum" in p:
                p["enum"] = [*p["enum"], None]
        properties[col.name] = p
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": _camel(name),
        "type": "object",
        "properties": properties,
        "required": [c.name for c in inferred.columns if not c.nullable],
    }


def to_proto(inferred: Inferred, name: str, package: str) -> str:
    message = _camel(name)
    scalar = {"boolean": "bool", "int": "int32", "long": "int64", "float": "float", "double": "double",
              "string": "string", "bytes": "bytes", "date": "string", "timestamp": "google.protobuf.Timestamp"}
    lines, enums = [], []
    for number, col in enumerate(inferred.columns, start=1):
        if col.type == "enum":
            enum = _camel(col.name)
            prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum).upper()
            values = [f"    {prefix}_UNSPECIFIED = 0;"] + [f"    {prefix}_{s.upper()} = {i};" for i, s in enumerate(col.symbols, start=1)]
            enums.append(f"  enum {enum} {{\n" + "\n".join(values) + "\n  }")
            kind = enum
        elif col.type == "array":
            kind = f"repeated {scalar.get(col.items or 'string', 'string')}"
        else:
            kind = scalar.get(col.type, "string")
        optional = "optional " if col.nullable and not kind.startswith("repeated") else ""
        lines.append(f"  {optional}{kind} {safe_name(col.name)} = {number};")
    imports = 'import "google/protobuf/timestamp.proto";\n\n' if any(c.type == "timestamp" for c in inferred.columns) else ""
    body = "\n".join([*enums, *lines])
    return f'syntax = "proto3";\n\npackage {package};\n\n{imports}message {message} {{\n{body}\n}}\n'


def render(inferred: Inferred, fmt: str, name: str, package: str) -> str:
    """The schema text in `fmt` (avro, json, protobuf)."""
    if fmt == "avro":
        return json.dumps(to_avro(inferred, name, package), indent=2) + "\n"
    if fmt == "json":
        return json.dumps(to_json_schema(inferred, name), indent=2) + "\n"
    return to_proto(inferred, name, package)
