"""Compose YAML in and out with the YAML 1.2 core schema, as the Compose CLI (go-yaml v3) reads it.

PyYAML speaks YAML 1.1, where `on`, `yes`, `22:22` and `2024-01-01` are a bool, a base-60 int and
a date; Compose reads them as strings. The loader resolves only 1.2 core scalars (null, true/false,
ints, floats), refuses duplicate keys (go-yaml does too) and keeps key order. The dumper quotes any
string that either YAML 1.1 or 1.2 would read as something else, so a 1.1 reader agrees too.

"Unchanged" after a round trip means: `load(dump(load(text)))` equals `load(text)` as data (anchors
and merge keys are resolved on load; comments and quoting style are not kept) and every mapping
keeps its key order.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from mlops_engineer.errors import ToolError

_CORE = [
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), list("~nN") + [""]),
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    ("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")),
    ("tag:yaml.org,2002:float", re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        list("-+.0123456789")),
]


class ComposeLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars, merge keys, and no duplicate keys."""


ComposeLoader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in _CORE:
    ComposeLoader.add_implicit_resolver(_tag, _regexp, _first)
ComposeLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # 1.2: a leading zero is still decimal


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:  # explicit keys only: a merged key may be overridden
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})", key_node.start_mark)
        seen[key] = key_node
    loader.flatten_mapping(node)  # `<<: *anchor` pairs first, so the explicit keys win
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        result[loader.construct_object(key_node, deep=True)] = loader.construct_object(value_node, deep=True)
    return result


ComposeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
ComposeLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


class ComposeDumper(yaml.SafeDumper):
    """SafeDumper that keeps key order, writes no anchors, and quotes strings 1.1 or 1.2 would misread."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


for _tag, _regexp, _first in _CORE:
    ComposeDumper.add_implicit_resolver(_tag, _regexp, _first)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.startswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


ComposeDumper.add_representer(str, _represent_str)


def load(text: str, source: str = "compose file") -> Any:
    """Parse one YAML document as Compose reads it; a syntax error becomes `invalid_input` with its line."""
    try:
        return yaml.load(text, Loader=ComposeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ToolError("invalid_input", f"{source} is not valid YAML{where}: {problem}.",
                        "Fix the YAML at that line (indentation, a missing quote, a duplicated key).") from exc


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=ComposeDumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)


def key_order(data: Any, path: str = "") -> list[str]:
    """Every mapping's keys, in order, with their path: equal lists mean equal key order everywhere."""
    out: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}/{key}"
            out.append(here)
            out += key_order(value, here)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            out += key_order(item, f"{path}[{index}]")
    return out


def round_trip(text: str) -> tuple[Any, Any, str]:
    """(first parse, second parse, dumped text): equal parses and key orders mean unchanged."""
    first = load(text)
    dumped = dump(first)
    return first, load(dumped, "re-dumped compose file"), dumped
