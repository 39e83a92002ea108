"""Avro reader/writer compatibility, from the resolution rules of the Avro specification.

"Schema Resolution" in the spec says when data written with one schema (the writer's) can be read
with another (the reader's). A check walks both schemas together and reports every place the
rules fail, with a JSON-pointer-like path into the reader's schema (`/fields/1/type/symbols`).
Kinds: type_mismatch, name_mismatch, fixed_size_mismatch, missing_enum_symbols,
reader_field_missing_default_value, missing_union_branch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mlops_engineer.engines.schemas.violations import Violation

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # the spec's names; a full name joins them with dots
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
# What a reader of the key type accepts from a writer of another type (the spec's promotions).
PROMOTIONS: dict[str, frozenset[str]] = {
    "long": frozenset({"int"}),
    "float": frozenset({"int", "long"}),
    "double": frozenset({"int", "long", "float"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


class AvroSchemaError(ValueError):
    """The text is not a valid Avro schema."""


@dataclass(eq=False)
class AvroField:
    name: str
    type: AvroNode
    has_default: bool
    aliases: frozenset[str]


@dataclass(eq=False)
class AvroNode:
    type: str
    fullname: str = ""
    aliases: frozenset[str] = frozenset()
    fields: list[AvroField] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    enum_default: str | None = None
    size: int = 0
    items: AvroNode | None = None
    values: AvroNode | None = None
    branches: list[AvroNode] = field(default_factory=list)

    @property
    def short(self) -> str:
        return self.fullname.rsplit(".", 1)[-1]


def _full(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def parse(schema: Any) -> AvroNode:
    """An Avro schema (JSON text, or its parsed form) as a tree; named types are shared nodes."""
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "[", '"'):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError:
            pass  # a bare type name such as `int`
    names: dict[str, AvroNode] = {}
    return _parse(schema, "", names)


def _parse(s: Any, namespace: str, names: dict[str, AvroNode]) -> AvroNode:
    if isinstance(s, str):
        if s in PRIMITIVES:
            return AvroNode(s)
        for candidate in (_full(s, namespace), s):
            if candidate in names:
                return names[candidate]
        raise AvroSchemaError(f"unknown type name {s!r}")
    if isinstance(s, list):
        return AvroNode("union", branches=[_parse(b, namespace, names) for b in s])
    if not isinstance(s, dict) or "type" not in s:
        raise AvroSchemaError(f"not an Avro schema: {json.dumps(s)[:200]}")
    kind = s["type"]
    if kind in NAMED:
        if not isinstance(s.get("name"), str):
            raise AvroSchemaError(f"a {kind} needs a name")
        fullname = _full(s["name"], s.get("namespace", namespace))
        if not all(NAME.match(part) for part in fullname.split(".")):
            raise AvroSchemaError(f"{fullname!r} is not a valid Avro name (letters, digits, '_', not starting with a digit)")
        inner = fullname.rsplit(".", 1)[0] if "." in fullname else ""
        node = AvroNode("record" if kind == "error" else kind, fullname,
                        frozenset(_full(a, inner) for a in s.get("aliases", [])))
        names[fullname] = node  # before the fields: a record may refer to itself
        if kind in ("record", "error"):
            for f in s.get("fields", []):
                if not isinstance(f, dict) or not NAME.match(str(f.get("name", ""))) or "type" not in f:
                    raise AvroSchemaError(f"record {fullname}: field {json.dumps(f)[:120]} needs a valid name and a type")
                node.fields.append(AvroField(f["name"], _parse(f["type"], inner, names), "default" in f, frozenset(f.get("aliases", []))))
        elif kind == "enum":
            node.symbols, node.enum_default = list(s.get("symbols", [])), s.get("default")
        else:
            node.size = int(s.get("size", 0))
        return node
    if kind == "array":
        return AvroNode("array", items=_parse(s.get("items"), namespace, names))
    if kind == "map":
        return AvroNode("map", values=_parse(s.get("values"), namespace, names))
    if kind in PRIMITIVES:
        return AvroNode(kind)  # logical types read as their underlying type, as the spec allows
    return _parse(kind, namespace, names)  # {"type": "SomeNamedType"} or {"type": {...}}


def _describe(node: AvroNode) -> str:
    return f"{node.type} {node.fullname}" if node.fullname else node.type


def check(reader: Any, writer: Any) -> tuple[list[Violation], list[str]]:
    """Every reason data written with `writer` cannot be read with `reader` (empty: compatible)."""
    r = reader if isinstance(reader, AvroNode) else parse(reader)
    w = writer if isinstance(writer, AvroNode) else parse(writer)
    out: list[Violation] = []
    _check(r, w, "", out, set())
    return out, []


def _names_match(r: AvroNode, w: AvroNode) -> bool:
    # The spec matches unqualified names; a reader alias may name the writer's type.
    return r.short == w.short or w.fullname in r.aliases or w.short in {a.rsplit(".", 1)[-1] for a in r.aliases}


def _check(r: AvroNode, w: AvroNode, path: str, out: list[Violation], busy: set[tuple[int, int]]) -> None:
    here = path or "/"
    if w.type == "union":
        # Each branch the writer may have used must be readable.
        for i, branch in enumerate(w.branches):
            if r.type == "union":
                if not any(_compatible(rb, branch, busy) for rb in r.branches):
                    out.append(Violation(f"{path}/{i}", "missing_union_branch",
                                         f"the reader's union has no branch that reads the writer's {_describe(branch)}"))
            else:
                _check(r, branch, path, out, busy)
        return
    if r.type == "union":
        if not any(_compatible(rb, w, busy) for rb in r.branches):
            out.append(Violation(here, "missing_union_branch", f"the reader's union has no branch that reads the writer's {_describe(w)}"))
        return
    if r.type != w.type:
        if w.type in PROMOTIONS.get(r.type, frozenset()):
            return
        out.append(Violation(here, "type_mismatch", f"the reader's {_describe(r)} cannot read the writer's {_describe(w)}"))
        return
    kind = r.type
    if kind in NAMED:
        if not _names_match(r, w):
            out.append(Violation(f"{path}/name", "name_mismatch",
                                 f"the reader's {kind} is named {r.fullname}, the writer's {w.fullname} (and no reader alias names it)"))
            return
    if kind == "fixed" and r.size != w.size:
        out.append(Violation(f"{path}/size", "fixed_size_mismatch", f"fixed {r.fullname} is {r.size} bytes in the reader, {w.size} in the writer"))
    elif kind == "enum":
        missing = [s for s in w.symbols if s not in r.symbols]
        if missing and r.enum_default is None:
            out.append(Violation(f"{path}/symbols", "missing_enum_symbols",
                                 f"the writer may write {', '.join(missing)}, which enum {r.fullname} does not have (and it has no default symbol)"))
    elif kind == "array":
        _check(r.items, w.items, f"{path}/items", out, busy)  # type: ignore[arg-type]
    elif kind == "map":
        _check(r.values, w.values, f"{path}/values", out, busy)  # type: ignore[arg-type]
    elif kind == "record":
        key = (id(r), id(w))
        if key in busy:  # a recursive type already being compared on this path
            return
        busy.add(key)
        try:
            by_name = {f.name: f for f in w.fields}
            for i, rf in enumerate(r.fields):
                wf = by_name.get(rf.name) or next((by_name[a] for a in rf.aliases if a in by_name), None)
                if wf is None:
                    if not rf.has_default:
                        out.append(Violation(f"{path}/fields/{i}", "reader_field_missing_default_value",
                                             f"field '{rf.name}' of {r.fullname} is not in the writer's record and has no default"))
                    continue
                _check(rf.type, wf.type, f"{path}/fields/{i}/type", out, busy)
        finally:
            busy.discard(key)


def _compatible(r: AvroNode, w: AvroNode, busy: set[tuple[int, int]]) -> bool:
    found: list[Violation] = []
    _check(r, w, "", found, busy)
    return not found
