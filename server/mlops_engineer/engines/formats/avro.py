"""Arrow schemas as Avro schemas, and Arrow batches as Avro records (fastavro writes them).

Reading Avro into Arrow is in `readers.py`. The mapping follows the Avro specification:
nullable columns become `["null", T]` unions, decimals the `decimal` logical type on bytes,
timestamps `timestamp-micros` (UTC) or `local-timestamp-micros` (no zone), dates `date`,
structs records, lists arrays, maps with string keys maps. What this changes is listed by
`losses.changes(schema, "avro")`.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pyarrow as pa

EXTRA = "formats"
_NAME = re.compile(r"[^A-Za-z0-9_]")


def _avro_name(text: str, taken: set[str]) -> str:
    name = _NAME.sub("_", text) or "f"
    name = name if not name[0].isdigit() else f"_{name}"
    base, n = name, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def avro_schema(schema: pa.Schema, name: str = "Row") -> dict[str, Any]:
    """The Avro record schema for rows of `schema`."""
    names: set[str] = {name}
    return {"type": "record", "name": name, "fields": [_field(f, names) for f in schema]}


def _field(field: pa.Field, names: set[str]) -> dict[str, Any]:
    kind = _type(field.type, field.name, names)
    if field.nullable:
        return {"name": field.name, "type": ["null", kind], "default": None}
    return {"name": field.name, "type": kind}


def _type(kind: pa.DataType, hint: str, names: set[str]) -> Any:
    pa = import_optional("pyarrow", EXTRA)
    t = pa.types
    if t.is_dictionary(kind):
        return _type(kind.value_type, hint, names)
    if t.is_boolean(kind):
        return "boolean"
    if t.is_integer(kind):
        return "long" if kind.bit_width == 64 or t.is_uint32(kind) else "int"
    if t.is_floating(kind):
        return "double" if kind.bit_width == 64 else "float"
    if t.is_string(kind) or t.is_large_string(kind):
        return "string"
    if t.is_fixed_size_binary(kind):
        return {"type": "fixed", "name": _avro_name(f"{hint}_fixed", names), "size": kind.byte_width}
    if t.is_binary(kind) or t.is_large_binary(kind):
        return "bytes"
    if t.is_decimal(kind):
        return {"type": "bytes", "logicalType": "decimal", "precision": kind.precision, "scale": kind.scale}
    if t.is_timestamp(kind):
        return {"type": "long", "logicalType": "timestamp-micros" if kind.tz else "local-timestamp-micros"}
    if t.is_date(kind):
        return {"type": "int", "logicalType": "date"}
    if t.is_time(kind):
        return {"type": "long", "logicalType": "time-micros"}
    if t.is_duration(kind):
        return "long"
    if t.is_null(kind):
        return "null"
    if t.is_struct(kind):
        return {"type": "record", "name": _avro_name(hint, names), "fields": [_field(f, names) for f in kind]}
    if t.is_map(kind):
        item = kind.item_field
        inner = _type(item.type, hint + "_value", names)
        return {"type": "map", "values": ["null", inner] if item.nullable else inner}
    if t.is_list(kind) or t.is_large_list(kind) or t.is_fixed_size_list(kind):
        item = kind.value_field
        inner = _type(item.type, hint + "_item", names)
        return {"type": "array", "items": ["null", inner] if item.nullable else inner}
    raise ToolError("invalid_input", f"Column '{hint}' has type {kind}, which has no Avro counterpart here.",
                    "Cast or drop the column before converting to Avro.")


def records(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """The batch's rows as Python values fastavro writes: maps as dicts, durations as counts."""
    pa = import_optional("pyarrow", EXTRA)
    columns, maps = [], []
    for column in batch.columns:
        kind = column.type
        if pa.types.is_duration(kind):
            column = column.cast(pa.int64())
        # fastavro takes the logical types' numbers as they are: no datetime objects to build and take apart.
        elif pa.types.is_timestamp(kind):
            column = column.cast(pa.timestamp("us", kind.tz), safe=False).cast(pa.int64())
        elif pa.types.is_time(kind):
            column = column.cast(pa.time64("us"), safe=False).cast(pa.int64())
        elif pa.types.is_date32(kind):
            column = column.cast(pa.int32())
        elif pa.types.is_date64(kind):
            column = column.cast(pa.date32()).cast(pa.int32())
        columns.append(column)
        maps.append(_has_map(kind))
    # Arrow builds the row dicts (in C++), far faster than zipping Python lists.
    rows = pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pylist()
    for name, kind, has_map in zip(batch.schema.names, batch.schema.types, maps, strict=True):
        if has_map:
            for row in rows:
                row[name] = _maps_as_dicts(row[name], kind)
    return rows


def _has_map(kind: pa.DataType) -> bool:
    return "map<" in str(kind)


def _maps_as_dicts(value: Any, kind: pa.DataType) -> Any:
    pa = import_optional("pyarrow", EXTRA)
    if value is None:
        return None
    if pa.types.is_map(kind):
        return {_key(k): _maps_as_dicts(v, kind.item_type) for k, v in value}
    if pa.types.is_struct(kind):
        return {f.name: _maps_as_dicts(value[f.name], f.type) for f in kind}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return [_maps_as_dicts(v, kind.value_type) for v in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, bytes):
        return base64.b64encode(key).decode("ascii")
    if isinstance(key, dt.date | dt.datetime):
        return key.isoformat()
    return str(key)
