"""Validation against the Compose Specification's JSON schema (draft-07), when a copy is at hand.

We do not ship the schema: `docker compose config` carries its own copy and always runs. Point
`MLOPS_ENGINEER_COMPOSE_SCHEMA` (or the tool's `schema_path`) at compose-spec.json to also get
every schema error with its JSON path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

SCHEMA_ENV = "MLOPS_ENGINEER_COMPOSE_SCHEMA"
MAX_ERRORS = 20


def schema_file(given: Path | None) -> Path | None:
    """The schema to use: the call's file, else the environment's, else none."""
    if given is not None:
        return given
    env = os.environ.get(SCHEMA_ENV, "").strip()
    return Path(env) if env else None


def load_schema(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolError("invalid_input", f"The Compose schema {path} cannot be read as JSON ({type(exc).__name__}).",
                        f"Point schema_path or {SCHEMA_ENV} at compose-spec.json from github.com/compose-spec/compose-spec.") from exc
    if not isinstance(schema, dict) or "services" not in schema.get("properties", {}):
        raise ToolError("invalid_input", f"{path} is not the Compose Specification schema (no properties.services).",
                        "Use compose-spec.json from github.com/compose-spec/compose-spec (schema/compose-spec.json).")
    return schema


def schema_errors(document: Any, schema: dict[str, Any]) -> list[str]:
    """Each violation as `<json path>: <message>`, in a stable order, at most MAX_ERRORS."""
    jsonschema = import_optional("jsonschema", "containers")
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    errors = sorted(validator_cls(schema).iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{e.json_path}: {e.message[:300]}" for e in errors[:MAX_ERRORS]]
