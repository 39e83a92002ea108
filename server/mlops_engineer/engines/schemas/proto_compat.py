"""Protobuf compatibility on the wire (and in JSON): compile with protoc, compare the descriptors.

`compile_proto` runs protoc (from grpcio-tools, in-process) on the text into a FileDescriptorSet.
`check` compares an old and a new file the way Buf's WIRE and WIRE_JSON rule sets do (the rule
names are Buf's, so a report can be looked up in its documentation; the code is our own):

- WIRE: what breaks decoding binary data either way. Messages, enums and services match by full
  name, fields by number, enum values by number. Deleting a field or value without reserving its
  number, a wire-incompatible type, cardinality or oneof change, a changed proto2 default, a
  required field added or removed, a reserved range or name dropped, a package change, an RPC's
  types or streaming changed.
- WIRE_JSON: the above plus what breaks the JSON mapping, where names are the keys: renamed fields
  and enum values, a changed json_name, a deleted field or value whose name is not reserved, and
  the stricter JSON type table (int32 and int64 are written differently, string and bytes too).
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlops_engineer.engines.schemas.violations import Violation

RuleSet = Literal["WIRE", "WIRE_JSON"]
# protoc runs in-process and writes errors to fd 2, which compile_proto points at a file for the
# call: one compile at a time, or two threads would swap each other's fd 2 and lose the server's.
_PROTOC = threading.Lock()

# Field types that read each other's bytes (protoc's FieldDescriptorProto.Type names).
_WIRE_GROUPS = [
    {"int32", "int64", "uint32", "uint64", "bool"},
    {"sint32", "sint64"},
    {"fixed32", "sfixed32"},
    {"fixed64", "sfixed64"},
]
# One way only: bytes written as string are valid bytes; bytes read as string must be UTF-8.
_WIRE_ONE_WAY = {("string", "bytes")}
_JSON_GROUPS = [{"int32", "uint32"}, {"int64", "uint64"}, {"fixed32", "sfixed32"}, {"fixed64", "sfixed64"}]


class ProtoSchemaError(ValueError):
    """protoc refused the text; the message is protoc's."""


def compile_proto(text: str, name: str = "schema.proto") -> Any:
    """The FileDescriptorSet of one .proto text (imports of Google's well-known types allowed)."""
    from grpc_tools import protoc

    from mlops_engineer.optional import import_optional

    descriptor_pb2 = import_optional("google.protobuf.descriptor_pb2", "formats")
    include = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="proto-") as tmp:
        src = Path(tmp) / name
        src.write_text(text, encoding="utf-8")
        out = Path(tmp) / "set.pb"
        err = Path(tmp) / "stderr"
        # protoc writes its errors to fd 2, which belongs to the server's log: send them to a file.
        with _PROTOC:
            saved = os.dup(2)
            try:
                with open(err, "wb") as sink:
                    os.dup2(sink.fileno(), 2)
                    code = protoc.main(["protoc", f"-I{tmp}", f"-I{include}", "--include_imports",
                                        f"--descriptor_set_out={out}", str(src)])
            finally:
                os.dup2(saved, 2)
                os.close(saved)
        if code != 0:
            message = err.read_text(errors="replace").replace(tmp + "/", "").strip()
            raise ProtoSchemaError(message or f"protoc failed with code {code}")
        fds = descriptor_pb2.FileDescriptorSet()
        fds.ParseFromString(out.read_bytes())
    return fds


@dataclass
class _Msg:
    proto: Any
    syntax: str


def _index(fds: Any, main: str) -> tuple[Any, dict[str, _Msg], dict[str, Any], dict[str, Any]]:
    """The main file, and its messages, enums and services by full name (imports only resolve types)."""
    file = next(f for f in fds.file if f.name == main)
    messages: dict[str, _Msg] = {}
    enums: dict[str, Any] = {}
    prefix = f".{file.package}" if file.package else ""
    syntax = file.syntax or "proto2"

    def walk(msg: Any, scope: str) -> None:
        full = f"{scope}.{msg.name}"
        messages[full] = _Msg(msg, syntax)
        for e in msg.enum_type:
            enums[f"{full}.{e.name}"] = e
        for nested in msg.nested_type:
            walk(nested, full)

    for m in file.message_type:
        walk(m, prefix)
    for e in file.enum_type:
        enums[f"{prefix}.{e.name}"] = e
    services = {f"{prefix}.{s.name}": s for s in file.service}
    return file, messages, enums, services


def _type_name(field: Any) -> str:
    from google.protobuf.descriptor_pb2 import FieldDescriptorProto

    kind = FieldDescriptorProto.Type.Name(field.type).removeprefix("TYPE_").lower()
    if kind in ("message", "enum", "group"):
        return f"{kind} {field.type_name.lstrip('.')}"
    return kind


def _types_compatible(old: str, new: str, rules: RuleSet) -> bool:
    if old == new:
        return True
    if rules == "WIRE":
        return any(old in g and new in g for g in _WIRE_GROUPS) or (old, new) in _WIRE_ONE_WAY
    return any(old in g and new in g for g in _JSON_GROUPS)


def _cardinality(field: Any, msg: _Msg, rules: RuleSet) -> str:
    label = {1: "optional", 2: "required", 3: "repeated"}[field.label]
    if label == "optional" and msg.syntax == "proto3" and not field.proto3_optional and not field.HasField("oneof_index"):
        return "implicit"
    if label == "repeated" and rules == "WIRE_JSON" and _is_map(field, msg):
        return "map"  # on the wire a repeated entry message (a type change only); in JSON an object, not a list
    return label


def _is_map(field: Any, msg: _Msg) -> bool:
    entry = field.type_name.rsplit(".", 1)[-1]
    return any(n.name == entry and n.options.map_entry for n in msg.proto.nested_type)


def _oneof(field: Any, msg: _Msg) -> str | None:
    if not field.HasField("oneof_index") or field.proto3_optional:
        return None  # proto3 `optional` is a synthetic oneof, not a real one
    return msg.proto.oneof_decl[field.oneof_index].name


def _reserved(proto: Any, number: int) -> bool:
    # Message ranges are [start, end); enum ranges are [start, end].
    is_enum = hasattr(proto, "value")
    return any(r.start <= number < r.end + (1 if is_enum else 0) for r in proto.reserved_range)


def _ranges(proto: Any) -> set[tuple[int, int]]:
    return {(r.start, r.end) for r in proto.reserved_range}


def check_descriptors(old_fds: Any, new_fds: Any, rules: RuleSet = "WIRE", name: str = "schema.proto") -> list[Violation]:
    old_file, old_msgs, old_enums, old_svcs = _index(old_fds, name)
    new_file, new_msgs, new_enums, new_svcs = _index(new_fds, name)
    out: list[Violation] = []

    def add(path: str, rule: str, reason: str) -> None:
        out.append(Violation(path, rule, reason, direction="both"))

    if old_file.package != new_file.package:
        add(name, "FILE_SAME_PACKAGE", f"the package changed from '{old_file.package}' to '{new_file.package}': every full type name changes")
    for full, old in old_msgs.items():
        new = new_msgs.get(full)
        if new is None:
            continue  # a deleted message type breaks no bytes; a field that used it is reported on the field
        _check_message(full.lstrip("."), old, new, rules, add)
    for full, old in old_enums.items():
        new = new_enums.get(full)
        if new is not None:
            _check_enum(full.lstrip("."), old, new, rules, add)
    for full, old in old_svcs.items():
        new = new_svcs.get(full)
        if new is None:
            continue
        methods = {m.name: m for m in new.method}
        for m in old.method:
            nm = methods.get(m.name)
            if nm is None:
                continue
            where = f"{full.lstrip('.')}.{m.name}"
            for attr, rule in (("input_type", "RPC_SAME_REQUEST_TYPE"), ("output_type", "RPC_SAME_RESPONSE_TYPE"),
                               ("client_streaming", "RPC_SAME_CLIENT_STREAMING"), ("server_streaming", "RPC_SAME_SERVER_STREAMING")):
                if getattr(m, attr) != getattr(nm, attr):
                    add(where, rule, f"{attr} changed from {getattr(m, attr)!s} to {getattr(nm, attr)!s}".replace("..", "."))
            if m.options.idempotency_level != nm.options.idempotency_level:
                add(where, "RPC_SAME_IDEMPOTENCY_LEVEL", "the idempotency_level option changed")
    return out


def _check_message(full: str, old: _Msg, new: _Msg, rules: RuleSet, add: Any) -> None:
    new_by_number = {f.number: f for f in new.proto.field}
    for f in old.proto.field:
        where = f"{full}.{f.name}"
        nf = new_by_number.get(f.number)
        if nf is None:
            if not _reserved(new.proto, f.number):
                add(where, "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED",
                    f"field {f.number} '{f.name}' was deleted without reserving its number: a later field may reuse it and misread old data")
            if rules == "WIRE_JSON" and f.name not in new.proto.reserved_name:
                add(where, "FIELD_NO_DELETE_UNLESS_NAME_RESERVED",
                    f"field '{f.name}' was deleted without reserving its name: JSON documents carry it as a key")
            continue
        old_type, new_type = _type_name(f), _type_name(nf)
        if not _types_compatible(old_type, new_type, rules):
            rule = "FIELD_WIRE_COMPATIBLE_TYPE" if rules == "WIRE" else "FIELD_WIRE_JSON_COMPATIBLE_TYPE"
            add(where, rule, f"field {f.number} changed type from {old_type} to {new_type}, which {'the wire' if rules == 'WIRE' else 'the wire or JSON'} format cannot read across")
        old_card, new_card = _cardinality(f, old, rules), _cardinality(nf, new, rules)
        if old_card != new_card and not _cardinality_compatible(old_card, new_card):
            rule = "FIELD_WIRE_COMPATIBLE_CARDINALITY" if rules == "WIRE" else "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY"
            add(where, rule, f"field {f.number} changed cardinality from {old_card} to {new_card}")
        if _oneof(f, old) != _oneof(nf, new):
            add(where, "FIELD_SAME_ONEOF",
                f"field {f.number} moved from oneof {_oneof(f, old) or '(none)'} to {_oneof(nf, new) or '(none)'}: setting it may now clear another field, or no longer")
        if f.default_value != nf.default_value and (f.HasField("default_value") or nf.HasField("default_value")) and old_type == new_type:
            add(where, "FIELD_SAME_DEFAULT", f"the default changed from {f.default_value or '(the type default)'!r} to {nf.default_value or '(the type default)'!r}: unset fields now read differently")
        if rules == "WIRE_JSON":
            if f.name != nf.name:
                add(where, "FIELD_SAME_NAME", f"field {f.number} was renamed from '{f.name}' to '{nf.name}': JSON uses the name as the key")
            if f.json_name != nf.json_name:
                add(where, "FIELD_SAME_JSON_NAME", f"field {f.number}'s json_name changed from '{f.json_name}' to '{nf.json_name}'")
    old_required = {f.number for f in old.proto.field if f.label == 2}
    new_required = {f.number for f in new.proto.field if f.label == 2}
    for number in sorted(new_required - old_required):
        nf = new_by_number[number]
        add(f"{full}.{nf.name}", "MESSAGE_SAME_REQUIRED_FIELDS", f"required field {number} '{nf.name}' was added: old data lacks it and fails to parse")
    old_by_number = {f.number: f for f in old.proto.field}
    for number in sorted(old_required - new_required):
        add(f"{full}.{old_by_number[number].name}", "MESSAGE_SAME_REQUIRED_FIELDS",
            f"required field {number} '{old_by_number[number].name}' is no longer required: old readers reject data without it")
    _check_reserved(full, old.proto, new.proto, "RESERVED_MESSAGE_NO_DELETE", add)


def _cardinality_compatible(old: str, new: str) -> bool:
    # Presence (implicit or explicit) does not change the bytes; singular and repeated, or
    # required, do change what a reader accepts (Buf refuses even length-delimited ones).
    return {old, new} <= {"optional", "implicit"}


def _check_enum(full: str, old: Any, new: Any, rules: RuleSet, add: Any) -> None:
    new_by_number: dict[int, list[str]] = {}
    for v in new.value:
        new_by_number.setdefault(v.number, []).append(v.name)
    for v in old.value:
        where = f"{full}.{v.name}"
        names = new_by_number.get(v.number)
        if names is None:
            if not _reserved(new, v.number):
                add(where, "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED",
                    f"value {v.number} '{v.name}' was deleted without reserving its number")
            if rules == "WIRE_JSON" and v.name not in new.reserved_name:
                add(where, "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED",
                    f"value '{v.name}' was deleted without reserving its name: JSON writes enum values by name")
            continue
        if rules == "WIRE_JSON" and v.name not in names:
            add(where, "ENUM_VALUE_SAME_NAME", f"value {v.number} was renamed from '{v.name}' to '{names[0]}': JSON writes enum values by name")
    _check_reserved(full, old, new, "RESERVED_ENUM_NO_DELETE", add)


def _check_reserved(full: str, old: Any, new: Any, rule: str, add: Any) -> None:
    lost_ranges = _ranges(old) - _ranges(new)
    lost_names = set(old.reserved_name) - set(new.reserved_name)
    for start, end in sorted(lost_ranges):
        add(full, rule, f"reserved range {start}..{end} was removed: those numbers may be reused and misread old data")
    for reserved in sorted(lost_names):
        add(full, rule, f"reserved name '{reserved}' was removed")


def check(old: str, new: str, rules: RuleSet = "WIRE") -> list[Violation]:
    """Every Buf-style WIRE (or WIRE_JSON) breaking change from the `old` .proto text to the `new` one."""
    return check_descriptors(compile_proto(old), compile_proto(new), rules)
