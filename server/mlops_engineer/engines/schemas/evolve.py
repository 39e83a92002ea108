"""The compatible form of an intended change: try the change as asked, then safer forms, keep the first that passes.

Each change names a field of the subject's top-level record (Avro), object (JSON Schema) or first
message (Protobuf). Safer forms, in the order tried:

- add a field: with a default (Avro: a nullable union defaulting to null when no default is
  given), optional rather than required (JSON Schema), a fresh number (Protobuf);
- remove a field: deprecate it instead, keeping it readable (Avro: with a default so a later
  removal is safe; JSON Schema: `deprecated: true`, no longer required; Protobuf: delete it and
  reserve its number and name);
- rename a field: an Avro alias; else a new field beside the deprecated old one;
- change a type: a promotion or a widened union; else a new field beside the deprecated old one;
- add or remove an enum symbol: Avro's enum default; Protobuf reserves removed values.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from mlops_engineer.errors import ToolError

MISSING = object()
AVRO_TYPES = {"boolean": "boolean", "int": "int", "long": "long", "float": "float", "double": "double", "string": "string", "bytes": "bytes"}
JSON_TYPES = {"boolean": "boolean", "int": "integer", "long": "integer", "float": "number", "double": "number", "string": "string", "bytes": "string"}
PROTO_TYPES = {"boolean": "bool", "int": "int32", "long": "int64", "float": "float", "double": "double", "string": "string", "bytes": "bytes"}
ZERO = {"boolean": False, "int": 0, "long": 0, "float": 0.0, "double": 0.0, "string": "", "bytes": ""}


@dataclass
class Change:
    kind: str
    """add_field, remove_field, rename_field, change_type, add_enum_symbol, remove_enum_symbol."""
    field: str
    type: str | None = None
    default: Any = MISSING
    new_name: str | None = None
    symbol: str | None = None


@dataclass
class Candidate:
    label: str
    text: str
    explanation: list[str] = field(default_factory=list)


def _missing(what: str, hint: str) -> ToolError:
    return ToolError("invalid_input", what, hint)


def candidates(fmt: str, text: str, change: Change) -> tuple[Candidate, list[Candidate]]:
    """(the change as asked, the safer forms to try in order)."""
    if fmt == "avro":
        return _avro(json.loads(text), change)
    if fmt == "json":
        return _json(json.loads(text), change)
    return _proto(text, change)


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=2) + "\n"


# --------------------------------------------------------------------------- Avro


def _avro_field(doc: dict, name: str) -> tuple[int, dict]:
    if not isinstance(doc, dict) or doc.get("type") != "record":
        raise _missing("evolve needs a record at the top of the Avro schema.", "Register a record schema first.")
    for i, f in enumerate(doc["fields"]):
        if f["name"] == name:
            return i, f
    raise _missing(f"The record has no field '{name}' (fields: {', '.join(f['name'] for f in doc['fields'])}).", "Name an existing field.")


def _avro_base(t: Any) -> str:
    if isinstance(t, list):
        t = next((b for b in t if b != "null"), "string")
    if isinstance(t, dict):
        t = t.get("type", "string")
    return t if isinstance(t, str) else "string"


def _avro_zero(f: dict) -> Any:
    t = f["type"]
    if isinstance(t, list):
        return None if t[0] == "null" else _avro_zero({"type": t[0]})
    if isinstance(t, dict) and t.get("type") == "enum":
        return t.get("default", t["symbols"][0])
    if isinstance(t, dict) and t.get("type") in ("array", "map"):
        return [] if t["type"] == "array" else {}
    return ZERO.get(_avro_base(t), None)


def _deprecate_avro(f: dict, why: str) -> None:
    f["doc"] = f"Deprecated: {why}"
    if "default" not in f:
        f["default"] = _avro_zero(f)


def _avro_type(change: Change) -> str:
    if change.type not in AVRO_TYPES:
        raise _missing(f"`type` must be one of {', '.join(AVRO_TYPES)}.", 'e.g. {"kind": "add_field", "field": "tenure_band", "type": "string"}')
    return AVRO_TYPES[change.type]


def _avro(doc: dict, c: Change) -> tuple[Candidate, list[Candidate]]:
    naive, safer = copy.deepcopy(doc), []
    if c.kind == "add_field":
        t = _avro_type(c)
        if any(f["name"] == c.field for f in doc.get("fields", [])):
            raise _missing(f"Field '{c.field}' already exists.", "Pick a new name.")
        entry = {"name": c.field, "type": t}
        if c.default is not MISSING and c.default is not None and not _fits(c.default, t):
            raise _missing(f"The default {json.dumps(c.default)} is not a {t}.", f"Give a {t} default, or none (the field then defaults to null).")
        naive["fields"].append(entry)
        alt = copy.deepcopy(doc)
        if c.default is not MISSING and c.default is not None:
            alt["fields"].append({**entry, "default": c.default})
            note = f"'{c.field}' gets the default {json.dumps(c.default)}: a reader of the new schema fills it into old records"
        else:
            alt["fields"].append({"name": c.field, "type": ["null", t], "default": None})
            note = f"'{c.field}' is a union with null, defaulting to null: old records read as null"
        safer.append(Candidate("add the field with a default", _dump(alt), [note]))
    elif c.kind == "remove_field":
        i, _ = _avro_field(doc, c.field)
        del naive["fields"][i]
        alt = copy.deepcopy(doc)
        _deprecate_avro(alt["fields"][i], "kept for readers of the old schema; stop writing meaningful values")
        safer.append(Candidate("deprecate instead of removing", _dump(alt),
                               [f"'{c.field}' stays, documented as deprecated, with a default: once every reader has the default, removing it breaks nobody"]))
    elif c.kind == "rename_field":
        if not c.new_name:
            raise _missing("rename_field needs `new_name`.", '{"kind": "rename_field", "field": "old", "new_name": "new"}')
        i, _ = _avro_field(doc, c.field)
        naive["fields"][i]["name"] = c.new_name
        alias = copy.deepcopy(naive)
        alias["fields"][i]["aliases"] = sorted({*alias["fields"][i].get("aliases", []), c.field})
        safer.append(Candidate("rename with an alias", _dump(alias), [f"'{c.new_name}' lists '{c.field}' in its aliases: new readers find old data under the old name"]))
        both = copy.deepcopy(doc)
        _deprecate_avro(both["fields"][i], f"renamed to {c.new_name}")
        new = copy.deepcopy(doc["fields"][i])
        new["name"] = c.new_name
        new["default"] = _avro_zero(new)
        new.pop("doc", None)
        both["fields"].append(new)
        safer.append(Candidate("add the new name, deprecate the old one", _dump(both),
                               [f"'{c.new_name}' is added with a default and '{c.field}' kept (deprecated): writers fill both until every reader has moved"]))
    elif c.kind == "change_type":
        t = _avro_type(c)
        i, f = _avro_field(doc, c.field)
        naive["fields"][i]["type"] = ["null", t] if isinstance(f["type"], list) and "null" in f["type"] else t
        naive["fields"][i].pop("default", None) if not isinstance(f["type"], list) else None
        both = copy.deepcopy(doc)
        _deprecate_avro(both["fields"][i], f"replaced by {c.field}_{c.type}")
        both["fields"].append({"name": f"{c.field}_{c.type}", "type": ["null", t], "default": None})
        safer.append(Candidate("add a field of the new type, deprecate the old one", _dump(both),
                               [f"'{c.field}_{c.type}' ({t}, null by default) is added beside '{c.field}', which stays deprecated"]))
    elif c.kind in ("add_enum_symbol", "remove_enum_symbol"):
        if not c.symbol:
            raise _missing(f"{c.kind} needs `symbol`.", '{"kind": "add_enum_symbol", "field": "plan", "symbol": "enterprise"}')
        i, f = _avro_field(doc, c.field)
        enum = _enum_of(naive["fields"][i])
        if c.kind == "add_enum_symbol":
            if c.symbol in enum["symbols"]:
                raise _missing(f"'{c.symbol}' is already a symbol of '{c.field}'.", "Pick a new symbol.")
            enum["symbols"].append(c.symbol)
        else:
            if c.symbol not in enum["symbols"]:
                raise _missing(f"'{c.symbol}' is not a symbol of '{c.field}'.", f"Symbols: {', '.join(enum['symbols'])}.")
            enum["symbols"].remove(c.symbol)
        alt = copy.deepcopy(naive)
        alt_enum = _enum_of(alt["fields"][i])
        alt_enum.setdefault("default", alt_enum["symbols"][0])
        safer.append(Candidate("give the enum a default symbol", _dump(alt),
                               [f"enum default '{alt_enum['default']}': a reader meeting a symbol it lacks reads it as the default"]))
    else:
        raise _missing(f"Unknown change kind '{c.kind}'.", "One of add_field, remove_field, rename_field, change_type, add_enum_symbol, remove_enum_symbol.")
    return Candidate("the change as asked", _dump(naive)), safer


def _fits(value: Any, avro_type: str) -> bool:
    """Whether a JSON default suits a primitive Avro type (the spec encodes bytes defaults as strings)."""
    if avro_type == "boolean":
        return isinstance(value, bool)
    if avro_type in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if avro_type in ("float", "double"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _enum_of(f: dict) -> dict:
    t = f["type"]
    for branch in t if isinstance(t, list) else [t]:
        if isinstance(branch, dict) and branch.get("type") == "enum":
            return branch
    raise _missing(f"Field '{f['name']}' is not an enum.", "Name a field whose type is an enum.")


# --------------------------------------------------------------------------- JSON Schema


def _json_prop(doc: dict, name: str) -> dict:
    props = doc.get("properties") if isinstance(doc, dict) else None
    if not isinstance(props, dict) or name not in props:
        raise _missing(f"The schema has no property '{name}'.", f"Properties: {', '.join(props or {})}.")
    return props[name]


def _json(doc: dict, c: Change) -> tuple[Candidate, list[Candidate]]:
    naive, safer = copy.deepcopy(doc), []
    naive.setdefault("properties", {})
    if c.kind == "add_field":
        if c.type not in JSON_TYPES:
            raise _missing(f"`type` must be one of {', '.join(JSON_TYPES)}.", '{"kind": "add_field", "field": "x", "type": "string"}')
        prop: dict[str, Any] = {"type": JSON_TYPES[c.type]}
        naive["properties"][c.field] = dict(prop)
        naive["required"] = [*doc.get("required", []), c.field]
        alt = copy.deepcopy(doc)
        alt.setdefault("properties", {})[c.field] = {**prop, **({"default": c.default} if c.default is not MISSING else {})}
        safer.append(Candidate("add the property as optional", _dump(alt),
                               [f"'{c.field}' is optional: old documents without it stay valid (a JSON Schema default documents the value; validators do not fill it in)"]))
    elif c.kind == "remove_field":
        _json_prop(doc, c.field)
        del naive["properties"][c.field]
        naive["required"] = [r for r in doc.get("required", []) if r != c.field]
        alt = copy.deepcopy(doc)
        alt["properties"][c.field] = {**alt["properties"][c.field], "deprecated": True}
        alt["required"] = [r for r in doc.get("required", []) if r != c.field]
        safer.append(Candidate("deprecate and make optional", _dump(alt), [f"'{c.field}' stays declared (deprecated: true) and is no longer required"]))
        keep = copy.deepcopy(doc)
        keep["properties"][c.field] = {**keep["properties"][c.field], "deprecated": True}
        safer.append(Candidate("deprecate only", _dump(keep), [f"'{c.field}' stays declared and required, marked deprecated: readers of the old schema still get it"]))
    elif c.kind == "rename_field":
        if not c.new_name:
            raise _missing("rename_field needs `new_name`.", '{"kind": "rename_field", "field": "old", "new_name": "new"}')
        old = _json_prop(doc, c.field)
        props = naive["properties"]
        naive["properties"] = {(c.new_name if k == c.field else k): v for k, v in props.items()}
        naive["required"] = [c.new_name if r == c.field else r for r in doc.get("required", [])]
        alt = copy.deepcopy(doc)
        alt["properties"][c.field] = {**old, "deprecated": True}
        alt["properties"][c.new_name] = copy.deepcopy(old)
        safer.append(Candidate("add the new name, deprecate the old one", _dump(alt),
                               [f"'{c.new_name}' is added as optional beside '{c.field}' (deprecated, as required as before)"]))
    elif c.kind == "change_type":
        if c.type not in JSON_TYPES:
            raise _missing(f"`type` must be one of {', '.join(JSON_TYPES)}.", '{"kind": "change_type", "field": "x", "type": "string"}')
        old = _json_prop(doc, c.field)
        old_types = old.get("type", [])
        old_types = [old_types] if isinstance(old_types, str) else list(old_types)
        new_t = JSON_TYPES[c.type]
        naive["properties"][c.field] = {**old, "type": [new_t, "null"] if "null" in old_types else new_t}
        widened = copy.deepcopy(doc)
        widened["properties"][c.field] = {**old, "type": sorted({*old_types, new_t})}
        safer.append(Candidate("widen the type to both", _dump(widened), [f"'{c.field}' accepts {' or '.join(sorted({*old_types, new_t}))}"]))
        both = copy.deepcopy(doc)
        both["properties"][c.field] = {**old, "deprecated": True}
        both["properties"][f"{c.field}_{c.type}"] = {"type": new_t}
        safer.append(Candidate("add a property of the new type, deprecate the old one", _dump(both),
                               [f"'{c.field}_{c.type}' is added as optional; '{c.field}' stays, deprecated"]))
    elif c.kind in ("add_enum_symbol", "remove_enum_symbol"):
        prop = naive["properties"].get(c.field) if isinstance(naive.get("properties"), dict) else None
        if not isinstance(prop, dict) or "enum" not in prop or not c.symbol:
            raise _missing(f"{c.kind} needs `symbol` and a property '{c.field}' with an enum.", "Name a property whose schema has `enum`.")
        if c.kind == "add_enum_symbol":
            prop["enum"] = [*prop["enum"], c.symbol]
        else:
            prop["enum"] = [v for v in prop["enum"] if v != c.symbol]
    else:
        raise _missing(f"Unknown change kind '{c.kind}'.", "One of add_field, remove_field, rename_field, change_type, add_enum_symbol, remove_enum_symbol.")
    return Candidate("the change as asked", _dump(naive)), safer


# --------------------------------------------------------------------------- Protobuf


def _block(text: str, keyword: str, name: str, start: int = 0) -> tuple[int, int]:
    """(index after the opening brace, index of the closing brace) of `keyword name { ... }`."""
    m = re.compile(rf"\b{keyword}\s+{re.escape(name)}\s*\{{").search(text, start)
    if not m:
        raise _missing(f"No {keyword} {name} in the .proto text.", "Check the schema.")
    depth, i = 1, m.end()
    while depth and i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return m.end(), i - 1


def _proto(text: str, c: Change) -> tuple[Candidate, list[Candidate]]:
    from mlops_engineer.engines.schemas.languages import PROTO_FILE, parse

    fds = parse("protobuf", text)
    main = next(f for f in fds.file if f.name == PROTO_FILE)
    if not main.message_type:
        raise _missing("The .proto has no message to evolve.", "Register a schema with a message.")
    msg = main.message_type[0]
    start, end = _block(text, "message", msg.name)
    body = text[start:end]
    used = {f.number for f in msg.field} | {n for r in msg.reserved_range for n in range(r.start, min(r.end, r.start + 10_000))}
    next_number = max(used | {0}) + 1
    by_name = {f.name: f for f in msg.field}

    def with_body(new_body: str) -> str:
        return text[:start] + new_body + text[end:]

    def field_line(name: str) -> re.Match[str]:
        m = re.compile(rf"^[ \t]*(?:(?:optional|repeated|required)\s+)?[\w.<>, ]+?\s+{re.escape(name)}\s*=\s*\d+[^;]*;[ \t]*\n?", re.M).search(body)
        if not m or name not in by_name:
            raise _missing(f"Message {msg.name} has no field '{name}' (fields: {', '.join(by_name)}).", "Name an existing field.")
        return m

    safer: list[Candidate] = []
    if c.kind == "add_field":
        if c.type not in PROTO_TYPES:
            raise _missing(f"`type` must be one of {', '.join(PROTO_TYPES)}.", '{"kind": "add_field", "field": "x", "type": "string"}')
        line = f"  optional {PROTO_TYPES[c.type]} {c.field} = {next_number};\n"
        naive = with_body(body.rstrip() + "\n" + line)
        safer.append(Candidate("add the field with a fresh number", naive,
                               [f"'{c.field}' takes number {next_number}, never used or reserved: old data simply lacks it (explicit presence tells unset from zero)"]))
        return Candidate("the change as asked", naive), safer
    if c.kind in ("remove_field", "rename_field", "change_type"):
        m = field_line(c.field)
        f = by_name[c.field]
        reserve = f"  reserved {f.number};\n  reserved \"{f.name}\";\n"
        if c.kind == "remove_field":
            naive = with_body(body[: m.start()] + body[m.end():])
            safer.append(Candidate("delete and reserve the number and name", with_body(body[: m.start()] + reserve + body[m.end():]),
                                   [f"number {f.number} and name '{f.name}' are reserved: no later field can reuse them and misread old data"]))
            return Candidate("the change as asked", naive), safer
        deprecated = _proto_deprecated(m.group(0))
        if c.kind == "rename_field":
            if not c.new_name:
                raise _missing("rename_field needs `new_name`.", '{"kind": "rename_field", "field": "old", "new_name": "new"}')
            naive = with_body(body[: m.start()] + re.sub(rf"\b{re.escape(c.field)}(\s*=)", rf"{c.new_name}\1", m.group(0), count=1) + body[m.end():])
            copy_line = re.sub(rf"\b{re.escape(c.field)}\s*=\s*\d+", f"{c.new_name} = {next_number}", m.group(0), count=1)
            safer.append(Candidate("add the new name with a new number, deprecate the old field",
                                   with_body(body[: m.start()] + deprecated + body[m.end():].rstrip() + "\n" + copy_line.rstrip() + "\n"),
                                   [f"'{c.new_name}' = {next_number} is added; '{c.field}' stays, [deprecated = true], so JSON keys and numbers both keep working"]))
            return Candidate("the change as asked", naive), safer
        if c.type not in PROTO_TYPES:
            raise _missing(f"`type` must be one of {', '.join(PROTO_TYPES)}.", '{"kind": "change_type", "field": "x", "type": "int64"}')
        new_type = PROTO_TYPES[c.type]
        line = m.group(0)
        typed = re.sub(rf"[\w.]+(\s+{re.escape(c.field)}\s*=)", rf"{new_type}\1", line, count=1)
        naive = with_body(body[: m.start()] + typed + body[m.end():])
        added = f"  optional {new_type} {c.field}_{c.type} = {next_number};\n"
        safer.append(Candidate("add a field of the new type, deprecate the old one",
                               with_body(body[: m.start()] + deprecated + body[m.end():].rstrip() + "\n" + added),
                               [f"'{c.field}_{c.type}' = {next_number} carries the new type; '{c.field}' stays, [deprecated = true]"]))
        return Candidate("the change as asked", naive), safer
    if c.kind in ("add_enum_symbol", "remove_enum_symbol"):
        f = by_name.get(c.field)
        if f is None or not f.type_name or not c.symbol:
            raise _missing(f"{c.kind} needs `symbol` and an enum-typed field '{c.field}'.", "Name a field whose type is an enum.")
        enum_name = f.type_name.rsplit(".", 1)[-1]
        enum = next((e for e in [*msg.enum_type, *main.enum_type] if e.name == enum_name), None)
        if enum is None:
            raise _missing(f"Field '{c.field}' is not an enum of this file.", "Name a field whose type is an enum.")
        e_start, e_end = _block(text, "enum", enum_name)
        e_body = text[e_start:e_end]
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum_name).upper()
        value = c.symbol if c.symbol.upper().startswith(prefix + "_") else f"{prefix}_{c.symbol.upper()}"
        if c.kind == "add_enum_symbol":
            number = max([v.number for v in enum.value] + [r.end for r in enum.reserved_range] + [0]) + 1
            naive = text[:e_start] + e_body.rstrip() + f"\n    {value} = {number};\n  " + text[e_end:]
            safer.append(Candidate("add the value with a fresh number", naive, [f"{value} = {number}: old readers keep it as an unknown value"]))
            return Candidate("the change as asked", naive), safer
        v = next((v for v in enum.value if v.name in (value, c.symbol)), None)
        if v is None:
            raise _missing(f"Enum {enum_name} has no value {value}.", f"Values: {', '.join(x.name for x in enum.value)}.")
        vm = re.compile(rf"^[ \t]*{re.escape(v.name)}\s*=\s*-?\d+[^;]*;[ \t]*\n?", re.M).search(e_body)
        assert vm is not None
        naive = text[:e_start] + e_body[: vm.start()] + e_body[vm.end():] + text[e_end:]
        reserved = text[:e_start] + e_body[: vm.start()] + f"    reserved {v.number};\n    reserved \"{v.name}\";\n" + e_body[vm.end():] + text[e_end:]
        safer.append(Candidate("delete and reserve the value's number and name", reserved, [f"{v.name} = {v.number} is reserved, never reused"]))
        return Candidate("the change as asked", naive), safer
    raise _missing(f"Unknown change kind '{c.kind}'.", "One of add_field, remove_field, rename_field, change_type, add_enum_symbol, remove_enum_symbol.")


def _proto_deprecated(line: str) -> str:
    if "deprecated" in line:
        return line
    if "[" in line:
        return line.replace("[", "[deprecated = true, ", 1)
    return re.sub(r"\s*;", " [deprecated = true];", line, count=1)
