"""What writing an Arrow schema to a format loses or changes, column by column, before any row is read.

A change is `lossy` when a reader of the target cannot get the source's values or types back
(a time zone reduced to UTC, a decimal written as text, a 64-bit unsigned integer in a signed
long, a nested value flattened to JSON text); otherwise it is a representation change the
values survive (dictionary encoding dropped, a 16-bit integer widened, a NOT NULL declaration
the format cannot state). The tool refuses a lossy conversion unless the caller confirms it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pyarrow as pa

EXTRA = "formats"


@dataclass(frozen=True)
class Change:
    column: str
    kind: str  # nullability | decimal | timezone | nested | dictionary | integer_width | precision | type | dropped | default
    detail: str
    lossy: bool


def _walk(schema: pa.Schema) -> Iterator[tuple[str, pa.Field]]:
    """Every field, nested ones as `parent.child` (list items as `parent[]`)."""
    pa = import_optional("pyarrow", EXTRA)

    def visit(prefix: str, field: pa.Field) -> Iterator[tuple[str, pa.Field]]:
        name = f"{prefix}{field.name}"
        yield name, field
        kind = field.type
        if pa.types.is_struct(kind):
            for child in kind:
                yield from visit(name + ".", child)
        elif pa.types.is_map(kind):
            yield from visit(name + ".", kind.key_field)
            yield from visit(name + ".", kind.item_field)
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            yield from visit(name + "[].", kind.value_field)

    for field in schema:
        yield from visit("", field)


def changes(schema: pa.Schema, target: str) -> list[Change]:
    """What `target` (csv, jsonl, json, parquet, arrow, avro) does to each column of `schema`."""
    rules = {"csv": _csv, "jsonl": _json, "json": _json, "parquet": _parquet, "arrow": _arrow, "avro": _avro}
    found: list[Change] = []
    for name, field in _walk(schema):
        found += rules[target](name, field)
    return found


def _common_text(name: str, field: pa.Field, fmt: str) -> list[Change]:
    """What CSV and JSON share: no declared types, so widths, zones and encodings are not kept."""
    pa = import_optional("pyarrow", EXTRA)
    kind, out = field.type, []
    if pa.types.is_dictionary(kind):
        out.append(Change(name, "dictionary", f"dictionary encoding dropped: the categories are written as plain values ({fmt})", False))
        kind = kind.value_type
    if not field.nullable and "." not in name:
        out.append(Change(name, "nullability", f"NOT NULL is not declared in {fmt}; a reader infers a nullable column", False))
    if pa.types.is_integer(kind) and kind.bit_width < 64:
        out.append(Change(name, "integer_width", f"{kind} is read back as int64 ({fmt} has no integer widths)", False))
    if pa.types.is_decimal(kind):
        out.append(Change(name, "decimal", f"{kind} written as exact text; a reader infers float64 or text, not a decimal", True))
    if pa.types.is_timestamp(kind) and kind.tz not in (None, "UTC", "+00:00", "Z"):
        out.append(Change(name, "timezone", f"time zone '{kind.tz}' reduced to a UTC offset in the text; the zone name is lost", True))
    if pa.types.is_floating(kind) and kind.bit_width == 16:
        out.append(Change(name, "precision", "half floats are read back as float64 (their values are kept)", False))
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        out.append(Change(name, "type", f"bytes written as base64 text ({fmt} has no binary type); read back as text", True))
    if pa.types.is_duration(kind) or pa.types.is_interval(kind):
        out.append(Change(name, "type", f"{kind} written as a number of its unit; read back as int64", True))
    return out


def _csv(name: str, field: pa.Field) -> list[Change]:
    pa = import_optional("pyarrow", EXTRA)
    if "." in name:
        return []  # reported on its parent, which becomes one JSON text cell
    kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
    if pa.types.is_nested(kind):
        return [Change(name, "nested", f"{kind} written as JSON text in one cell; a CSV reader sees a string", True)]
    return _common_text(name, field, "CSV")


def _json(name: str, field: pa.Field) -> list[Change]:
    pa = import_optional("pyarrow", EXTRA)
    out = _common_text(name, field, "JSON")
    if pa.types.is_map(field.type):
        out.append(Change(name, "nested", "map written as a JSON object (keys as text); a JSON reader sees a struct, not a map", True))
    if pa.types.is_timestamp(field.type) or pa.types.is_date(field.type) or pa.types.is_time(field.type):
        out.append(Change(name, "type", f"{field.type} written as ISO 8601 text; readers infer a timestamp or keep text", False))
    return out


def _parquet(name: str, field: pa.Field) -> list[Change]:
    pa = import_optional("pyarrow", EXTRA)
    kind = field.type
    if pa.types.is_union(kind):
        return [Change(name, "type", "Parquet has no union type", True)]
    out = []
    if pa.types.is_timestamp(kind) and kind.tz not in (None, "UTC"):
        out.append(Change(name, "timezone", f"stored as UTC instants; the zone name '{kind.tz}' survives only in the Arrow schema "
                          "Parquet keeps for Arrow readers (Spark, DuckDB and others see UTC)", False))
    if pa.types.is_dictionary(kind):
        out.append(Change(name, "dictionary", "kept: Parquet dictionary pages, and Arrow readers get the dictionary type back", False))
    if pa.types.is_duration(kind) or pa.types.is_interval(kind):
        out.append(Change(name, "type", f"{kind} stored as int64; only Arrow readers get {kind} back (from the stored Arrow schema)", False))
    return out


def _arrow(name: str, field: pa.Field) -> list[Change]:
    return []  # the IPC format is Arrow's own memory layout: nothing changes


def _avro(name: str, field: pa.Field) -> list[Change]:
    pa = import_optional("pyarrow", EXTRA)
    kind, out = field.type, []
    if pa.types.is_dictionary(kind):
        out.append(Change(name, "dictionary", "categories written as Avro strings (an Avro enum needs identifier-like symbols)", False))
        kind = kind.value_type
    if pa.types.is_integer(kind):
        if pa.types.is_uint64(kind):
            out.append(Change(name, "integer_width", "uint64 written as a signed long: values above 2**63-1 cannot be written", True))
        elif kind.bit_width < 32 or pa.types.is_uint32(kind):
            target = "long" if pa.types.is_uint32(kind) else "int"
            out.append(Change(name, "integer_width", f"{kind} widened to Avro {target}; read back as {'int64' if target == 'long' else 'int32'}", False))
    if pa.types.is_floating(kind) and kind.bit_width == 16:
        out.append(Change(name, "precision", "half float widened to Avro float", False))
    if pa.types.is_timestamp(kind):
        if kind.unit == "ns":
            out.append(Change(name, "precision", "nanoseconds truncated to microseconds (timestamp-micros)", True))
        if kind.tz not in (None, "UTC", "+00:00", "Z"):
            out.append(Change(name, "timezone", f"written as timestamp-micros (UTC instants); the zone '{kind.tz}' is lost", True))
    if pa.types.is_time(kind) and kind.unit == "ns":
        out.append(Change(name, "precision", "time of day truncated to microseconds (time-micros)", True))
    if pa.types.is_decimal(kind) and kind.precision > 38:
        out.append(Change(name, "decimal", f"{kind} kept as an Avro decimal, read back as decimal256", False))
    if pa.types.is_map(kind) and not (pa.types.is_string(kind.key_type) or pa.types.is_large_string(kind.key_type)):
        out.append(Change(name, "nested", f"map keys of type {kind.key_type} written as strings (Avro map keys are strings)", True))
    if pa.types.is_duration(kind) or pa.types.is_interval(kind):
        out.append(Change(name, "type", f"{kind} written as a long count of its unit; read back as int64", True))
    if pa.types.is_large_string(kind) or pa.types.is_large_binary(kind) or pa.types.is_large_list(kind):
        out.append(Change(name, "type", f"{kind} read back as its 32-bit-offset form", False))
    if pa.types.is_union(kind):
        out.append(Change(name, "type", "Arrow unions are not converted to Avro unions", True))
    return out
