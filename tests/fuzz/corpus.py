"""The fuzz corpus: hostile variations of every tool's own example inputs.

Each skill's `jsonl examples` block holds one valid call per action; every case here is
one of them, mutated in one way:

- schema: a required field dropped, a value of the wrong type, an unknown field, a huge
  string, deep nesting, a NUL byte, a lax boolean, a non-finite number;
- path: every path-like string pointed outside the workspace (`..`, an absolute path in a
  canary folder, a symlink that leaves, a NUL byte, a very long name);
- secret: every URL-like string given credentials (userinfo and `?token=`) with a
  unique secret, which must never come back;
- content: the files the example reads, present but holding garbage.

Cases are generated from a fixed seed, so a run is repeatable and a failure can be
replayed by its id. Actions that start long work (a Prefect run, a study, a served
model) are fuzzed as dry runs: they still parse, confine and plan everything.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_engineer.registry import load_registry
from mlops_engineer.schemas import requested_action

# Long work that a fuzz case must not start for real: these run as dry runs.
HEAVY_ACTIONS = {
    ("orchestrate_ml_pipeline", "run"), ("setup_automl_pipeline", "optimize"), ("setup_automl_pipeline", "ray_tune"),
    ("deploy_ml_model_serving", "serve"), ("deploy_ml_model_serving", "build"), ("deploy_ml_model_serving", "containerize"),
    ("deploy_ml_model_serving", "smoke_test"), ("run_ab_test_models", "serve_router"), ("run_ab_test_models", "simulate_aa"),
    ("forecast_operational_metrics", "forecast"), ("forecast_operational_metrics", "backtest"),
    ("detect_anomalies_aiops", "detect"), ("monitor_model_drift", "check"), ("version_ml_data", "repro"),
    ("create_r_dockerfile", "build"),
    ("setup_docker_compose", "up"), ("setup_docker_compose", "down"),
    ("optimize_docker_build_cache", "measure"),
}
PATH_LIKE = re.compile(r"(^|/)[\w.-]+\.(csv|parquet|json|jsonl|yaml|yml|py|md|db|txt|joblib|pkl)$|^[\w.-]+/[\w./-]*$")
URL_LIKE = re.compile(r"^[a-z][a-z0-9+.-]*://")
SECRET_PREFIX = "FUZZSECRET"


@dataclass
class Case:
    id: str
    tool: str
    kind: str  # schema | path | secret | content
    arguments: dict[str, Any]
    secrets: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # workspace files to write first (content cases)


def _strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(location, value) of every string in a JSON value, keys excluded."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


def _set(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    node = copy.deepcopy(node)
    target = node
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return node


def _fields(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(location, value) of every field of every object, except `action`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "action":
                yield (*path, key), value
            yield from _fields(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _fields(value, (*path, index))


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"d": value}
    return value


def _schema_mutations(example: dict[str, Any], rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
    located = list(_fields(example))
    operation_fields = [(p, v) for p, v in located if p[0] == "operation"]
    if operation_fields:
        path, _ = rng.choice(operation_fields)
        dropped = copy.deepcopy(example)
        parent = dropped
        for step in path[:-1]:
            parent = parent[step]
        del parent[path[-1]]
        yield "drop-field", dropped
    for path, value in rng.sample(located, min(3, len(located))):
        wrong: Any = {"unexpected": "object"} if isinstance(value, str | int | float | bool) else "not-a-container"
        yield "wrong-type", _set(example, path, wrong)
    yield "unknown-field", {**example, "operation": {**example["operation"], "zz_unknown": 1}}
    strings = list(_strings(example["operation"], ("operation",)))
    strings = [(p, v) for p, v in strings if p[-1] != "action"]
    if strings:
        path, _ = rng.choice(strings)
        yield "huge-string", _set(example, path, "x" * 200_000)
        path, _ = rng.choice(strings)
        yield "nul-byte", _set(example, path, "a\x00b")
        path, _ = rng.choice(strings)
        yield "unicode", _set(example, path, "\u202e\u0000\ud7ff😀" + "é" * 50)
    numbers = [(p, v) for p, v in located if isinstance(v, int | float) and not isinstance(v, bool)]
    for path, _ in rng.sample(numbers, min(2, len(numbers))):
        yield "number-extreme", _set(example, path, rng.choice([-1, 0, 10**30, -(10**30), 1e308, "NaN", "Infinity"]))
    # 100 levels: what a client can still serialise (deeper lines are covered by test_stdio_malformed).
    yield "deep-nesting", {**example, "operation": {**example["operation"], "zz_deep": _deep(100)}}
    yield "lax-boolean", {**example, "confirm": "yes"}
    yield "operation-not-object", {**example, "operation": ["not", "an", "object"]}


def _path_mutations(example: dict[str, Any], canary: Path, link_name: str, rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
    paths = [(p, v) for p, v in _strings(example) if p[-1] != "action" and PATH_LIKE.search(v) and not URL_LIKE.match(v)]
    for path, value in paths:
        name = Path(value).name or "x"
        for label, hostile in [
            ("dotdot", f"../../{name}"),
            ("absolute", str(canary / name)),
            ("symlink-out", f"{link_name}/{name}"),
            ("nul", f"{value}\x00.csv"),
            ("long", "d/" * 1500 + name),
            ("tilde", f"~/{name}"),
        ]:
            yield f"path-{label}", _set(example, path, hostile)


def _secret_mutations(example: dict[str, Any], tool_fields: set[str], counter: Iterator[int]) -> Iterator[tuple[str, dict[str, Any], str]]:
    urls = [(p, v) for p, v in _strings(example) if URL_LIKE.match(v)]
    for path, value in urls:
        secret = f"{SECRET_PREFIX}{next(counter)}"
        scheme = value.split("://", 1)[0]
        hostile = f"{scheme}://fuzzuser:{secret}@127.0.0.1:9/x?token={secret}&sig={secret}"
        yield "secret-in-url", _set(example, path, hostile), secret
        token_user = f"{SECRET_PREFIX}{next(counter)}"
        yield "secret-as-user", _set(example, path, f"{scheme}://{token_user}@127.0.0.1:9/"), token_user
    if "tracking_uri" in tool_fields:
        secret = f"{SECRET_PREFIX}{next(counter)}"
        yield "secret-tracking-uri", {**example, "tracking_uri": f"http://admin:{secret}@127.0.0.1:9"}, secret


GARBAGE = [b"\x00\xff\xfe" * 300, b"", b"a,b\n1\n2,3,4,5\n\"unterminated\n", b"PAR1garbagePAR1", "é,ü\n\x81\x82,1\n".encode("latin-1")]


def _content_mutations(example: dict[str, Any], rng: random.Random) -> Iterator[tuple[str, dict[str, Any], dict[str, bytes]]]:
    paths = [v for p, v in _strings(example) if p[-1] != "action" and PATH_LIKE.search(v) and "." in Path(v).name
             and not URL_LIKE.match(v) and not v.startswith(("/", ".."))]
    for value in paths[:2]:
        yield "content-garbage", example, {value: rng.choice(GARBAGE)}


def build_corpus(canary: Path, link_name: str, seed: int = 16, per_tool: int = 60) -> list[Case]:
    rng = random.Random(seed)
    counter = iter(range(10**6))
    cases: list[Case] = []
    for skill, spec in load_registry().entries():
        tool_fields = set(spec.input_model.model_fields)
        found: list[Case] = []
        for n, example in enumerate(skill.examples):
            example = json.loads(json.dumps(example))
            if (spec.name, requested_action(example)) in HEAVY_ACTIONS:
                example["dry_run"] = True
            base = f"{spec.name}.{requested_action(example)}.{n}"
            for label, arguments in _schema_mutations(example, rng):
                found.append(Case(f"{base}.{label}", spec.name, "schema", arguments))
            for label, arguments in _path_mutations(example, canary, link_name, rng):
                found.append(Case(f"{base}.{label}", spec.name, "path", arguments))
            for label, arguments, secret in _secret_mutations(example, tool_fields, counter):
                found.append(Case(f"{base}.{label}", spec.name, "secret", arguments, secrets=[secret]))
            for label, arguments, files in _content_mutations(example, rng):
                found.append(Case(f"{base}.{label}", spec.name, "content", arguments, files=files))
        # Within the budget: every secret case, then paths and contents, then a seeded sample of schemas.
        by_kind: dict[str, list[Case]] = {}
        for case in found:
            by_kind.setdefault(case.kind, []).append(case)
        chosen = by_kind.get("secret", [])[:per_tool // 3]
        for kind in ("path", "content"):
            chosen += rng.sample(by_kind.get(kind, []), min(len(by_kind.get(kind, [])), per_tool // 4))
        schema = by_kind.get("schema", [])
        chosen += rng.sample(schema, max(0, min(len(schema), per_tool - len(chosen))))
        cases += sorted(chosen, key=lambda c: c.id)
    return cases
