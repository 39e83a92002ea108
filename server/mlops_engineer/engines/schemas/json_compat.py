"""JSON Schema compatibility: does every document the writer's schema accepts also pass the reader's?

BACKWARD calls it with the new schema as reader, FORWARD with the old one. The walk compares types
(integer is a number; a union is its members), enums and consts, numeric and length bounds,
patterns, array items, object properties and `required`, and the content model:

- closed (`additionalProperties: false`): only the declared properties may appear;
- open (absent or `true`): anything else may appear, with any value;
- partially open (`additionalProperties: {schema}`, or `patternProperties`): anything else may
  appear, matching that schema (a property matching a pattern takes the pattern's schema).

Adding an optional property to an open model is compatible here, with a note saying why: the old
schema allowed the property with any value, so only documents that already carried it under that
name with another type would now fail. Registries that refuse the change (Confluent's
PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL) surprise their users with it (schema-registry#1458, #1529).
Local `$ref`s (`#/definitions/...`, `#/$defs/...`) are followed; recursive ones once per pair.
Keywords this walk does not compare (`allOf`, `not`, `if`/`then`/`else`, `dependentRequired`,
`dependentSchemas`, `propertyNames`, `contains`, `uniqueItems`) are named in a note when they differ,
so a verdict never hides what it did not look at.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mlops_engineer.engines.schemas.violations import Violation

TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UNCHECKED = ("allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "propertyNames", "contains", "uniqueItems")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


class JsonSchemaError(ValueError):
    """The text is not a JSON Schema this checker understands."""


def parse(schema: Any) -> Any:
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as error:
            raise JsonSchemaError(f"not JSON: {error}") from error
    if not isinstance(schema, dict | bool):
        raise JsonSchemaError("a JSON Schema is an object or a boolean")
    return schema


class _Walk:
    def __init__(self, reader_root: Any, writer_root: Any) -> None:
        self.roots = (reader_root, writer_root)
        self.out: list[Violation] = []
        self.notes: list[str] = []
        self.busy: set[tuple[str, str]] = set()

    def deref(self, s: Any, side: int) -> tuple[Any, str | None]:
        seen = 0
        ref = None
        while isinstance(s, dict) and isinstance(s.get("$ref"), str) and seen < 32:
            ref = s["$ref"]
            if not ref.startswith("#"):
                raise JsonSchemaError(f"only local $ref are followed, not {ref!r}")
            target: Any = self.roots[side]
            for part in [p for p in ref[1:].split("/") if p]:
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise JsonSchemaError(f"$ref {ref!r} points nowhere")
                target = target[part]
            s, seen = target, seen + 1
        return s, ref

    def add(self, path: str, kind: str, reason: str) -> None:
        self.out.append(Violation(path or "#", kind, reason))

    def check(self, r: Any, w: Any, path: str) -> None:
        r, rref = self.deref(r, 0)
        w, wref = self.deref(w, 1)
        if rref and wref:
            if (rref, wref) in self.busy:
                return
            self.busy.add((rref, wref))
        if w is False or r is True or r == {}:
            return  # nothing written, or anything read
        if r is False:
            self.add(path, "schema_closed", "the reader accepts nothing (false) where the writer accepts documents")
            return
        if w is True:
            w = {}
        for key in ("anyOf", "oneOf"):
            if isinstance(w.get(key), list) and not isinstance(r.get(key), list):
                for i, branch in enumerate(w[key]):
                    self.check(r, {**{k: v for k, v in w.items() if k != key}, **branch} if isinstance(branch, dict) else branch,
                               f"{path}/{key}/{i}")
                return
        for key in ("anyOf", "oneOf"):
            if isinstance(r.get(key), list):
                branches = w.get(key) if isinstance(w.get(key), list) else [w]
                for i, wb in enumerate(branches):
                    if not any(self._fits(rb, wb) for rb in r[key]):
                        where = f"{path}/{key}" if wb is w else f"{path}/{key}/{i}"
                        self.add(where, "combined_criteria_narrowed",
                                 f"no branch of the reader's {key} accepts the writer's {_show(wb)}")
                return
        for key in UNCHECKED:
            if r.get(key) != w.get(key):
                self.notes.append(f"{path}/{key}: differs between the schemas and is not checked; review it by hand")
        self._types(r, w, path)
        self._values(r, w, path)
        self._bounds(r, w, path)
        if "properties" in r or "properties" in w or "additionalProperties" in r or "required" in r:
            self._object(r, w, path)
        if "items" in r:
            w_items = w.get("items", True)
            if isinstance(r["items"], dict | bool) and isinstance(w_items, dict | bool):
                self.check(r["items"], w_items, f"{path}/items")

    def _fits(self, r: Any, w: Any) -> bool:
        saved, self.out = self.out, []
        try:
            self.check(r, w, "")
            return not self.out
        finally:
            self.out = saved

    def _types(self, r: dict, w: dict, path: str) -> None:
        rt, wt = _types(r), _types(w)
        if rt is None:
            return
        if wt is None:
            if "enum" in w or "const" in w:
                return  # the values decide; `_values` checks them
            self.add(f"{path}/type", "type_narrowed", f"the writer accepts any type, the reader only {', '.join(sorted(rt))}")
            return
        lost = {t for t in wt if t not in rt and not (t == "integer" and "number" in rt)}
        if lost:
            widened = wt & rt or (lost == {"number"} and "integer" in rt)
            kind = "nullability_removed" if lost == {"null"} else "type_narrowed" if widened else "type_changed"
            self.add(f"{path}/type", kind,
                     f"the writer may write {', '.join(sorted(lost))}; the reader accepts only {', '.join(sorted(rt))}")

    def _values(self, r: dict, w: dict, path: str) -> None:
        r_values = [r["const"]] if "const" in r else r.get("enum")
        if r_values is None:
            return
        w_values = [w["const"]] if "const" in w else w.get("enum")
        if w_values is None:
            self.add(f"{path}/enum", "enum_added", "the reader restricts values to an enum the writer does not have")
            return
        missing = [v for v in w_values if v not in r_values]
        if missing:
            self.add(f"{path}/enum", "enum_narrowed",
                     f"the writer may write {', '.join(json.dumps(v) for v in missing)}, which the reader's enum lacks")

    def _bounds(self, r: dict, w: dict, path: str) -> None:
        for key in LOWER_BOUNDS:
            if key in r and (key not in w or _num(w[key]) < _num(r[key])):
                self.add(f"{path}/{key}", f"{key}_added" if key not in w else f"{key}_increased",
                         f"the reader requires {key} {r[key]}, the writer {w.get(key, 'nothing')}")
        for key in UPPER_BOUNDS:
            if key in r and (key not in w or _num(w[key]) > _num(r[key])):
                self.add(f"{path}/{key}", f"{key}_added" if key not in w else f"{key}_decreased",
                         f"the reader allows {key} {r[key]}, the writer {w.get(key, 'no limit')}")
        for key in ("pattern", "format", "multipleOf"):
            if key in r and r.get(key) != w.get(key):
                self.add(f"{path}/{key}", f"{key}_added" if key not in w else f"{key}_changed",
                         f"the reader requires {key} {json.dumps(r[key])}, the writer {json.dumps(w.get(key))}")

    def _object(self, r: dict, w: dict, path: str) -> None:
        rp, wp = r.get("properties", {}), w.get("properties", {})
        r_extra, w_extra = r.get("additionalProperties", True), w.get("additionalProperties", True)
        w_required, r_required = set(w.get("required", [])), set(r.get("required", []))
        for name, w_schema in wp.items():
            where = f"{path}/properties/{name}"
            declared = _declared(r, name)
            if declared is not None:
                self.check(declared, w_schema, where)
            elif r_extra is False:
                self.add(where, "property_removed_from_closed_content_model",
                         f"the writer may write '{name}'; the reader's content model is closed (additionalProperties: false) and no longer declares it")
            elif isinstance(r_extra, dict):
                self.check(r_extra, w_schema, where)
        for name, r_schema in rp.items():
            if name in wp:
                continue
            where = f"{path}/properties/{name}"
            by_pattern = _declared(w, name)
            if by_pattern is not None:
                self.check(r_schema, by_pattern, where)
            elif w_extra is False:
                continue  # the writer never writes it
            elif isinstance(w_extra, dict):
                self.check(r_schema, w_extra, where)
            elif not (r_schema is True or r_schema == {}):
                self.notes.append(
                    f"{where}: added to an open content model; compatible, since the old schema allowed '{name}' with any value "
                    f"(documents that already carried '{name}' with another type would fail: close the model to rule that out)"
                )
        for name in sorted(r_required - w_required):
            self.add(f"{path}/required/{name}", "required_property_added",
                     f"the reader requires '{name}', which the writer's documents may leave out"
                     + (" (a default does not help: validators do not fill defaults in)" if isinstance(rp.get(name), dict) and "default" in rp[name] else ""))
        if r_extra is False and w_extra is not False:
            self.add(f"{path}/additionalProperties", "content_model_closed",
                     "the writer's content model is open (undeclared properties allowed), the reader's closed: documents with extra properties fail")
        elif isinstance(r_extra, dict) and w_extra is not False:
            self.check(r_extra, w_extra if isinstance(w_extra, dict) else True, f"{path}/additionalProperties")
        r_patterns, w_patterns = r.get("patternProperties") or {}, w.get("patternProperties") or {}
        for pattern, w_schema in w_patterns.items():
            where = f"{path}/patternProperties/{pattern}"
            if pattern in r_patterns:
                self.check(r_patterns[pattern], w_schema, where)
            elif r_extra is False:
                self.add(where, "content_model_closed",
                         f"the writer allows any property matching {pattern!r}; the reader's closed model does not")
            elif isinstance(r_extra, dict):
                self.check(r_extra, w_schema, where)


def _declared(s: dict, name: str) -> Any:
    """The schema `s` gives property `name`: its own, else the first matching patternProperties one."""
    if name in s.get("properties", {}):
        return s["properties"][name]
    for pattern, schema in (s.get("patternProperties") or {}).items():
        try:
            if re.search(pattern, name):
                return schema
        except re.error:
            continue
    return None


def _types(s: dict) -> set[str] | None:
    t = s.get("type")
    if t is None:
        return None
    return {t} if isinstance(t, str) else set(t)


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


def _show(s: Any) -> str:
    text = json.dumps(s, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def check(reader: Any, writer: Any) -> tuple[list[Violation], list[str]]:
    """Every reason a document valid under `writer` fails `reader`, and notes on the compatible changes."""
    walk = _Walk(parse(reader), parse(writer))
    walk.check(walk.roots[0], walk.roots[1], "#")
    return walk.out, walk.notes
