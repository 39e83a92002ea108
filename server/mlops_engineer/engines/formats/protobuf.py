"""Protobuf messages from a `.proto`, as a stream of length-delimited messages.

The `.proto` is compiled with `grpc_tools.protoc` (the Python protoc plugin, well-known types
included) into `.mlops/protobuf/<digest>/` inside the workspace and the generated module is
imported from there. A data file is a sequence of messages, each preceded by its length as a
base-128 varint: the framing of Java's `writeDelimitedTo`/`parseDelimitedFrom` and C++'s
`SerializeDelimitedToOstream`, so those read our files and we read theirs.

Columns match message fields by name. Types map as: integers and floats to the same kinds,
`string` and `bytes`, `bool`, enums (Arrow dictionary of the enum names), `google.protobuf.Timestamp`
(timestamps, UTC), nested messages (structs), `repeated` (lists) and `map<,>` (maps). A field
with presence (`optional`, or a message) is nullable; a plain proto3 scalar is not, and a null
written to it becomes the field's default.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlops_engineer.engines.formats.losses import Change
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pyarrow as pa

EXTRA = "formats"
TIMESTAMP = "google.protobuf.Timestamp"
MAX_MESSAGE_BYTES = 64 << 20  # a length prefix above this is a corrupt file, not a message


# --------------------------------------------------------------------------- compile and load


def load_message(proto: Path, message: str, out_root: Path) -> type:
    """The generated class of `message` in `proto`, compiled into `out_root/<digest of the .proto>/`."""
    protoc = import_optional("grpc_tools.protoc", EXTRA)
    import_optional("google.protobuf", EXTRA)
    digest = hashlib.sha256(proto.read_bytes() + proto.name.encode()).hexdigest()[:16]
    out = out_root / digest
    module_name = proto.stem.replace("-", "_").replace(".", "_") + "_pb2"
    generated = out / f"{module_name}.py"
    if not generated.exists():
        out.mkdir(parents=True, exist_ok=True)
        include = Path(protoc.__file__).parent / "_proto"
        code = protoc.main(["grpc_tools.protoc", f"-I{proto.parent}", f"-I{include}", f"--python_out={out}", str(proto)])
        if code != 0 or not generated.exists():
            raise ToolError("invalid_input", f"protoc could not compile '{proto.name}' (exit {code}); its messages are printed in the server log.",
                            "Fix the .proto (protoc prints the line), or check it with: python -m grpc_tools.protoc -I. --python_out=/tmp <file>.")
    unique = f"mlops_formats_{digest}_{module_name}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, generated)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # a .proto importing another local .proto, or a clash in the descriptor pool
            raise ToolError("invalid_input", f"The code generated from '{proto.name}' does not load: {exc}",
                            "Use one self-contained .proto (well-known types may be imported).") from exc
        sys.modules[unique] = module
    found = getattr(module, message.split(".")[-1], None)
    if found is None:
        names = sorted(n for n, v in vars(module).items() if hasattr(v, "DESCRIPTOR") and hasattr(v, "SerializeToString"))
        raise ToolError("not_found", f"No message '{message}' in '{proto.name}'.", f"Messages defined there: {', '.join(names) or 'none'}.")
    return found


# --------------------------------------------------------------------------- schema


def _repeated(fd: Any) -> bool:
    if hasattr(fd, "is_repeated"):  # protobuf >= 6; `label` is gone in 7
        return bool(fd.is_repeated)
    return bool(fd.label == fd.LABEL_REPEATED)


def _is_map(fd: Any) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _nullable(fd: Any) -> bool:
    return bool(fd.has_presence) and not _repeated(fd)


def _scalar_type(fd: Any) -> pa.DataType:
    pa = import_optional("pyarrow", EXTRA)
    T = fd.__class__
    table = {
        T.TYPE_DOUBLE: pa.float64(), T.TYPE_FLOAT: pa.float32(), T.TYPE_INT64: pa.int64(), T.TYPE_SINT64: pa.int64(),
        T.TYPE_SFIXED64: pa.int64(), T.TYPE_UINT64: pa.uint64(), T.TYPE_FIXED64: pa.uint64(), T.TYPE_INT32: pa.int32(),
        T.TYPE_SINT32: pa.int32(), T.TYPE_SFIXED32: pa.int32(), T.TYPE_UINT32: pa.uint32(), T.TYPE_FIXED32: pa.uint32(),
        T.TYPE_BOOL: pa.bool_(), T.TYPE_STRING: pa.string(), T.TYPE_BYTES: pa.binary(),
        T.TYPE_ENUM: pa.dictionary(pa.int32(), pa.string()),
    }
    return table[fd.type]


def _value_type(fd: Any) -> pa.DataType:
    pa = import_optional("pyarrow", EXTRA)
    if fd.message_type is None:
        return _scalar_type(fd)
    if fd.message_type.full_name == TIMESTAMP:
        return pa.timestamp("us", tz="UTC")
    return pa.struct([_field(child) for child in fd.message_type.fields])


def _field(fd: Any) -> pa.Field:
    pa = import_optional("pyarrow", EXTRA)
    if _is_map(fd):
        key, value = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
        return pa.field(fd.name, pa.map_(_value_type(key), _value_type(value)), nullable=False)
    if _repeated(fd):
        return pa.field(fd.name, pa.list_(pa.field("item", _value_type(fd), nullable=False)), nullable=False)
    return pa.field(fd.name, _value_type(fd), nullable=_nullable(fd))


def arrow_schema(message_class: type) -> pa.Schema:
    pa = import_optional("pyarrow", EXTRA)
    return pa.schema([_field(fd) for fd in message_class.DESCRIPTOR.fields])  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- what writing loses


def changes(schema: pa.Schema, message_class: type) -> list[Change]:
    """Column by column, what writing `schema` into `message_class` changes; `invalid_input` for a
    column whose type cannot go into its field at all."""
    pa = import_optional("pyarrow", EXTRA)
    fields = {fd.name: fd for fd in message_class.DESCRIPTOR.fields}  # type: ignore[attr-defined]
    target = arrow_schema(message_class)
    out: list[Change] = []
    for field in schema:
        fd = fields.get(field.name)
        if fd is None:
            out.append(Change(field.name, "dropped", f"no field '{field.name}' in {message_class.__name__}: the column is not written", True))
            continue
        want = target.field(field.name)
        out += _compare(field.name, field, want, pa)
    for name in fields.keys() - set(schema.names):
        out.append(Change(name, "default", f"no column '{name}': the field is left unset (its default)", False))
    return out


def _compare(name: str, have: pa.Field, want: pa.Field, pa: Any) -> list[Change]:
    t, src, dst, out = pa.types, have.type, want.type, []
    if t.is_dictionary(src) and not t.is_dictionary(dst):
        out.append(Change(name, "dictionary", "dictionary encoding dropped: categories written as plain values", False))
        src = src.value_type
    if have.nullable and not want.nullable and not (t.is_list(dst) or t.is_map(dst)):
        out.append(Change(name, "nullability", "the field has no presence (not `optional`): nulls are written as the default value", True))
    if t.is_dictionary(dst):  # an enum: written by name
        if not (t.is_string(src) or t.is_large_string(src) or t.is_dictionary(src)):
            raise _incompatible(name, have.type, "an enum (give the enum's names as text)")
        return out
    if t.is_integer(dst):
        if not t.is_integer(src):
            raise _incompatible(name, have.type, str(dst))
        if src.bit_width > dst.bit_width or (t.is_signed_integer(src) and t.is_unsigned_integer(dst)) or (
                t.is_unsigned_integer(src) and t.is_signed_integer(dst) and src.bit_width == dst.bit_width):
            out.append(Change(name, "integer_width", f"{src} into a {dst} field: out-of-range values cannot be written", True))
        elif src.bit_width < dst.bit_width:
            out.append(Change(name, "integer_width", f"{src} widened to {dst}", False))
    elif t.is_floating(dst):
        if t.is_integer(src):
            lossy = src.bit_width > (52 if dst.bit_width == 64 else 23)
            out.append(Change(name, "precision", f"{src} written as {dst}" + (" (large integers lose digits)" if lossy else ""), lossy))
        elif t.is_decimal(src):
            out.append(Change(name, "decimal", f"{src} written as a {dst}: decimal digits beyond its precision are lost", True))
        elif t.is_floating(src):
            if src.bit_width > dst.bit_width:
                out.append(Change(name, "precision", f"{src} narrowed to {dst}", True))
        else:
            raise _incompatible(name, have.type, str(dst))
    elif t.is_string(dst):
        if t.is_decimal(src):
            out.append(Change(name, "decimal", f"{src} written as exact text", False))
        elif t.is_timestamp(src) or t.is_date(src) or t.is_time(src):
            out.append(Change(name, "type", f"{src} written as ISO 8601 text", False))
        elif t.is_integer(src) or t.is_floating(src) or t.is_boolean(src):
            out.append(Change(name, "type", f"{src} written as text", False))
        elif not (t.is_string(src) or t.is_large_string(src)):
            raise _incompatible(name, have.type, "string")
    elif t.is_timestamp(dst):
        if not t.is_timestamp(src):
            raise _incompatible(name, have.type, "google.protobuf.Timestamp")
        if src.tz not in (None, "UTC"):
            out.append(Change(name, "timezone", f"written as a UTC Timestamp: the zone '{src.tz}' is lost", True))
        if src.tz is None:
            out.append(Change(name, "timezone", "a timestamp without zone is written as if it were UTC", False))
    elif t.is_boolean(dst):
        if not t.is_boolean(src):
            raise _incompatible(name, have.type, "bool")
    elif t.is_binary(dst):
        if not (t.is_binary(src) or t.is_large_binary(src) or t.is_fixed_size_binary(src)):
            raise _incompatible(name, have.type, "bytes")
    elif t.is_struct(dst):
        if not t.is_struct(src):
            raise _incompatible(name, have.type, "a message")
        inner = {f.name: f for f in dst}
        for child in src:
            if child.name not in inner:
                out.append(Change(f"{name}.{child.name}", "dropped", "no such field in the nested message", True))
            else:
                out += _compare(f"{name}.{child.name}", child, inner[child.name], pa)
    elif t.is_list(dst) or t.is_map(dst):
        if not (t.is_list(src) or t.is_large_list(src) or t.is_map(src)) or t.is_map(src) != t.is_map(dst):
            raise _incompatible(name, have.type, str(dst))
        if t.is_list(dst):
            out += _compare(f"{name}[]", src.value_field, dst.value_field, pa)
        else:
            out += _compare(f"{name}.key", src.key_field, dst.key_field, pa)
            out += _compare(f"{name}.value", src.item_field, dst.item_field, pa)
    return out


def _incompatible(name: str, have: pa.DataType, want: str) -> ToolError:
    return ToolError("invalid_input", f"Column '{name}' ({have}) cannot be written to a Protobuf field of type {want}.",
                     "Change the field's type in the .proto, or cast the column first.")


# --------------------------------------------------------------------------- framing


def varint(n: int) -> bytes:
    """`n` as a base-128 varint: the length prefix of a delimited message."""
    out = bytearray()
    while True:
        bits, n = n & 0x7F, n >> 7
        out.append(bits | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(handle: BinaryIO) -> int | None:
    shift = result = 0
    while True:
        byte = handle.read(1)
        if not byte:
            if shift:
                raise ValueError("the file ends inside a length prefix")
            return None
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise ValueError("a length prefix is longer than 10 bytes")


# --------------------------------------------------------------------------- write


def _converter(fd: Any) -> Callable[[Any], Any]:
    """Python value (from Arrow's to_pylist) -> what the message constructor takes."""
    if _is_map(fd):
        key, value = _converter(fd.message_type.fields_by_name["key"]), _converter(fd.message_type.fields_by_name["value"])
        return lambda v: None if v is None else {key(k): value(x) for k, x in (v.items() if isinstance(v, dict) else v)}
    one = _single(fd)
    if _repeated(fd):
        return lambda v: None if v is None else [one(x) for x in v]
    return one


def _single(fd: Any) -> Callable[[Any], Any]:
    T = fd.__class__
    if fd.message_type is not None and fd.message_type.full_name == TIMESTAMP:
        from google.protobuf.timestamp_pb2 import Timestamp

        def stamp(v: Any) -> Any:
            if v is None:
                return None
            ts = Timestamp()
            ts.FromDatetime(v if v.tzinfo is None else v.astimezone(dt.UTC).replace(tzinfo=None))
            return ts
        return stamp
    if fd.message_type is not None:
        inner = {child.name: _converter(child) for child in fd.message_type.fields}
        return lambda v: None if v is None else {k: inner[k](x) for k, x in v.items() if k in inner and x is not None}
    if fd.type == T.TYPE_STRING:
        return lambda v: v if v is None or isinstance(v, str) else (v.isoformat() if hasattr(v, "isoformat") else str(v))
    if fd.type in (T.TYPE_DOUBLE, T.TYPE_FLOAT):
        return lambda v: None if v is None else float(v)
    return lambda v: v


def _column_values(column: pa.Array, fd: Any) -> list[Any]:
    """A column's values as the message constructor takes them; the common scalar cases are converted
    by Arrow first (timestamps as integers, text fields cast to text) rather than value by value."""
    pa = import_optional("pyarrow", EXTRA)
    pc = import_optional("pyarrow.compute", EXTRA)
    t, kind = pa.types, column.type
    if not _repeated(fd) and not _is_map(fd):
        if fd.message_type is not None and fd.message_type.full_name == TIMESTAMP and t.is_timestamp(kind):
            from google.protobuf.timestamp_pb2 import Timestamp

            micros = column.cast(pa.timestamp("us", kind.tz), safe=False).cast(pa.int64()).to_pylist()
            return [None if v is None else Timestamp(seconds=v // 1_000_000, nanos=v % 1_000_000 * 1000) for v in micros]
        if fd.type == fd.TYPE_STRING:
            if t.is_dictionary(kind):
                column, kind = column.dictionary_decode(), kind.value_type
            if t.is_timestamp(kind):
                text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S" + ("%z" if kind.tz else ""))
                return text.to_pylist()
            if t.is_decimal(kind) or t.is_integer(kind) or t.is_floating(kind) or t.is_date(kind) or t.is_string(kind) or t.is_large_string(kind):
                return column.cast(pa.string()).to_pylist()
        if fd.type in (fd.TYPE_DOUBLE, fd.TYPE_FLOAT) and t.is_floating(kind):
            return column.to_pylist()
    convert = _converter(fd)
    return [convert(v) for v in column.to_pylist()]


def write_messages(batches: Iterator[pa.RecordBatch], message_class: type, handle: BinaryIO) -> Iterator[int]:
    """Write each batch's rows as delimited messages; yields the rows written per batch."""
    fields = {fd.name: fd for fd in message_class.DESCRIPTOR.fields}  # type: ignore[attr-defined]
    for batch in batches:
        names = [n for n in batch.schema.names if n in fields]
        columns = [_column_values(batch.column(n), fields[n]) for n in names]
        out = []
        for row in zip(*columns, strict=True):
            try:
                message = message_class(**{n: v for n, v in zip(names, row, strict=True) if v is not None})
            except (ValueError, TypeError) as exc:
                raise ToolError("invalid_input", f"A row does not fit {message_class.__name__}: {exc}",
                                "Check the column's values against the field's type (an enum needs its names).") from exc
            data = message.SerializeToString()
            out.append(varint(len(data)) + data)
        handle.write(b"".join(out))
        yield batch.num_rows


# --------------------------------------------------------------------------- read


def _to_python(fd: Any, message: Any) -> Any:
    if _is_map(fd):
        value_fd = fd.message_type.fields_by_name["value"]
        container = getattr(message, fd.name)
        return [(k, _value(value_fd, container[k])) for k in container]
    if _repeated(fd):
        return [_value(fd, v) for v in getattr(message, fd.name)]
    if fd.has_presence and not message.HasField(fd.name):
        return None
    return _value(fd, getattr(message, fd.name))


def _value(fd: Any, value: Any) -> Any:
    if fd.message_type is not None:
        if fd.message_type.full_name == TIMESTAMP:
            return value.ToDatetime(tzinfo=dt.UTC)
        return {child.name: _to_python(child, value) for child in fd.message_type.fields}
    if fd.type == fd.TYPE_ENUM:
        named = fd.enum_type.values_by_number.get(value)
        return named.name if named is not None else str(value)
    return value


def read_messages(path: Path, message_class: type, batch_rows: int) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The file's delimited messages as Arrow batches of `batch_rows` rows."""
    pa = import_optional("pyarrow", EXTRA)
    schema = arrow_schema(message_class)
    fields = list(message_class.DESCRIPTOR.fields)  # type: ignore[attr-defined]

    def batches() -> Iterator[pa.RecordBatch]:
        from google.protobuf.message import DecodeError

        with path.open("rb") as handle:
            rows: list[dict[str, Any]] = []
            while True:
                size = _read_varint(handle)
                if size is None:
                    break
                if size > MAX_MESSAGE_BYTES:
                    raise ValueError(f"a length prefix says {size} bytes, over {MAX_MESSAGE_BYTES}: not a delimited message file")
                data = handle.read(size)
                if len(data) != size:
                    raise ValueError(f"the file ends inside a message ({len(data)} of {size} bytes)")
                message = message_class()
                try:
                    message.ParseFromString(data)
                except DecodeError as exc:
                    raise ValueError(f"a message does not parse as {message_class.__name__}: {exc}") from exc
                rows.append({fd.name: _to_python(fd, message) for fd in fields})
                if len(rows) >= batch_rows:
                    yield pa.RecordBatch.from_pylist(rows, schema=schema)
                    rows = []
            if rows:
                yield pa.RecordBatch.from_pylist(rows, schema=schema)

    return schema, batches()
