"""What a model reads about each tool, kept lean, and the full schemas it can ask for.

Every client sends each tool's name, description and `inputSchema` to the model at
the start of every session, so the default catalogue is compact: the top-level
fields by type, and `operation` as an object whose `action` enum names the actions.
It is always a superset of what the server accepts (a client that validates
arguments against it never refuses a valid call); the server still validates every
field against the full pydantic model. The rest is one call away:
`{"operation": {"action": A}, "help": true}` answers with action A's full schema
and its examples, and an invalid call answers with the schema of the action it chose.

Results may be the tool's output, an error or a help answer; the published
`outputSchema` says exactly that, because TypeScript clients check structured
content against it even when `isError` is true.
"""

from __future__ import annotations

import copy
import functools
import json
import typing
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from mlops_engineer.errors import ErrorInfo

HELP_FIELD = "help"


class ErrorEnvelope(BaseModel):
    """The structured content of a failed call."""

    error: ErrorInfo


class ActionHelp(BaseModel):
    tool: str
    action: str | None = Field(description="The action described; null when none (or an unknown one) was named.")
    actions: dict[str, str] = Field(description="Every action of the tool -> what it does.")
    input_schema: dict[str, Any] | None = Field(
        default=None, description="The complete JSON Schema of a call to this action (what the server validates)."
    )
    examples: list[dict[str, Any]] = Field(default_factory=list, description="Valid inputs for this action, from the skill.")


class HelpEnvelope(BaseModel):
    """The structured content of a `help: true` call: nothing is run."""

    help: ActionHelp


# --- actions ------------------------------------------------------------------------------------


def action_hint(input_model: type[BaseModel], example: str) -> str:
    """The hint of an `invalid_input`: the tool's actions, read from its model, and one example input."""
    return f"Set operation.action to one of: {', '.join(operation_variants(input_model))}; e.g. {example}."


def operation_variants(input_model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """action name -> its model, in declaration order, from the `operation` discriminated union.

    Empty for a tool with a single operation (no `operation.action`).
    """
    field = input_model.model_fields.get("operation")
    annotation = field.annotation if field else None
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    members = typing.get_args(annotation) or (annotation,)
    variants: dict[str, type[BaseModel]] = {}
    for member in members:
        action_field = member.model_fields.get("action") if isinstance(member, type) and issubclass(member, BaseModel) else None
        if action_field is None:
            return {}
        (action,) = typing.get_args(action_field.annotation)
        variants[action] = member
    return variants


def action_summary(model: type[BaseModel]) -> str:
    """The first line of an action model's docstring: what the action does, in a few words."""
    return (model.__doc__ or "").strip().split("\n", 1)[0].rstrip(".")


def action_details(model: type[BaseModel]) -> str:
    """The whole docstring, on one line."""
    return " ".join(line.strip() for line in (model.__doc__ or "").strip().splitlines() if line.strip())


# --- the schemas --------------------------------------------------------------------------------


def _without_titles(node: Any) -> Any:
    """pydantic's generated `title`s repeat the field names; a `properties` map keeps its keys."""
    if isinstance(node, list):
        return [_without_titles(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs", "patternProperties") and isinstance(value, dict):
            result[key] = {name: _without_titles(sub) for name, sub in value.items()}
        else:
            result[key] = _without_titles(value)
    return result


def _json_types(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    """The JSON types a (sub)schema admits, loosely: enough to state a superset."""
    if "$ref" in schema:
        return _json_types(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "type" in schema:
        kinds = schema["type"]
        return set(kinds) if isinstance(kinds, list) else {kinds}
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return {_json_type_of(v) for v in values}
    union = schema.get("anyOf") or schema.get("oneOf")
    if union:
        return set().union(*(_json_types(s, defs) for s in union))
    return set()


def _json_type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "string")


def _loose(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    types = _json_types(schema, defs)
    if not types:
        return {}
    if "integer" in types and "number" in types:
        types.discard("integer")
    ordered = sorted(types)
    return {"type": ordered[0] if len(ordered) == 1 else ordered}


def full_input_schema(input_model: type[BaseModel]) -> dict[str, Any]:
    """Today's complete schema, as pydantic builds it."""
    return input_model.model_json_schema()


def compact_input_schema(input_model: type[BaseModel]) -> dict[str, Any]:
    """Top-level fields by type only; `operation` names its actions and admits their fields."""
    full = full_input_schema(input_model)
    defs = full.get("$defs", {})
    properties: dict[str, Any] = {}
    variants = operation_variants(input_model)
    for name, prop in full["properties"].items():
        if name == "operation" and variants:
            properties[name] = {
                "type": "object",
                "properties": {"action": {"enum": list(variants)}},
                "required": ["action"],
            }
        else:
            properties[name] = _loose(prop, defs)
    return {"type": "object", "properties": properties, "required": full.get("required", [])}


def _reachable_defs(node: Any, defs: dict[str, Any], found: dict[str, Any]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.rsplit("/", 1)[-1]
            if name not in found:
                found[name] = defs[name]
                _reachable_defs(defs[name], defs, found)
        for value in node.values():
            _reachable_defs(value, defs, found)
    elif isinstance(node, list):
        for item in node:
            _reachable_defs(item, defs, found)


@functools.cache
def _action_schema_text(input_model: type[BaseModel], action: str) -> str:
    full = copy.deepcopy(full_input_schema(input_model))
    defs = full.pop("$defs", {})
    variant = operation_variants(input_model)[action]
    operation = full["properties"]["operation"]
    full["properties"]["operation"] = {"$ref": f"#/$defs/{variant.__name__}"}
    if "description" in operation:
        full["properties"]["operation"]["description"] = operation["description"]
    found: dict[str, Any] = {}
    _reachable_defs(full, defs, found)
    if found:
        full["$defs"] = dict(sorted(found.items()))
    return json.dumps(_without_titles(full), separators=(",", ":"))


def action_input_schema(input_model: type[BaseModel], action: str | None) -> dict[str, Any]:
    """The complete schema of a call to one action: top-level fields, that action's operation, its $defs.

    With no action (a tool without actions), the whole input schema.
    """
    if action is None:
        return _without_titles(full_input_schema(input_model))
    return json.loads(_action_schema_text(input_model, action))


def published_output_schema(output_model: type[BaseModel]) -> dict[str, Any]:
    """The tool's result, an error, or a help answer: what `structuredContent` may be."""
    schema = TypeAdapter(output_model | ErrorEnvelope | HelpEnvelope).json_schema()
    return {"type": "object", **_without_titles(schema)}


# --- descriptions -------------------------------------------------------------------------------


def summary_of(description: str) -> str:
    """The first paragraph of a tool's description, on one line."""
    return " ".join(description.strip().split("\n\n", 1)[0].split())


def compact_description(description: str, input_model: type[BaseModel], skill_uri: str) -> str:
    variants = operation_variants(input_model)
    if not variants:
        return f'{summary_of(description)}\nFields: {{"{HELP_FIELD}":true}}. Procedure: {skill_uri}'
    actions = "; ".join(f"{name}: {action_summary(model)}" for name, model in variants.items())
    return (
        f"{summary_of(description)}\nActions: {actions}\n"
        f'An action\'s fields: {{"operation":{{"action":A}},"{HELP_FIELD}":true}}. Procedure: {skill_uri}'
    )


def full_description(description: str, input_model: type[BaseModel], skill_id: str, skill_uri: str) -> str:
    actions = "\n".join(f"- `{name}`: {action_details(model)}" for name, model in operation_variants(input_model).items())
    listed = f"\n\nActions (field `operation.action`):\n{actions}" if actions else ""
    return f"{description.strip()}{listed}\n\nProcedure: prompt '{skill_id}' or resource {skill_uri}."


def requested_action(arguments: Any) -> str | None:
    """The action a raw call names, if any (before validation)."""
    operation = arguments.get("operation") if isinstance(arguments, dict) else None
    action = operation.get("action") if isinstance(operation, dict) else None
    return action if isinstance(action, str) else None


def help_answer(
    tool: str, input_model: type[BaseModel], action: str | None, examples: list[dict[str, Any]]
) -> HelpEnvelope:
    variants = operation_variants(input_model)
    known = action if action in variants else None
    described = known is not None or not variants  # a tool without actions has one schema
    return HelpEnvelope(
        help=ActionHelp(
            tool=tool,
            action=known,
            actions={name: action_summary(model) for name, model in variants.items()},
            input_schema=action_input_schema(input_model, known) if described else None,
            examples=[e for e in examples if requested_action(e) == known] if described else [],
        )
    )


def help_text(answer: HelpEnvelope) -> str:
    """What the model reads: the schema itself, since clients often show only the text."""
    info = answer.help
    if info.input_schema is None:
        listed = "\n".join(f"- {name}: {summary}" for name, summary in info.actions.items())
        return (
            f"{info.tool} actions:\n{listed}\n"
            f'Ask for one action\'s fields with {{"operation": {{"action": "<name>"}}, "{HELP_FIELD}": true}}.'
        )
    head = f"{info.tool} action {info.action}: {info.actions[info.action]}" if info.action else info.tool
    parts = [head, "Input schema: " + json.dumps(info.input_schema, separators=(",", ":"))]
    parts += ["Example: " + json.dumps(example, separators=(",", ":")) for example in info.examples]
    return "\n".join(parts)
