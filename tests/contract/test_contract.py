"""The contract between skills, tools, the agent and the MCP server.

Checks that every skill folder has a tool and every tool a skill, that the agent
lists exactly the skills there are, that each SKILL.md meets the Agent Skills
rules and our own section layout, that each tool publishes complete schemas and
annotations, that `tools/list` is stable, and that starting the server imports
no ML SDK.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, get_args

import anyio
import pytest
import yaml
from pydantic import BaseModel

from mlops_engineer.registry import (
    SKILL_ID,
    ToolSpec,
    load_registry,
    tool_module_names,
    tool_name_for,
)
from mlops_engineer.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SKILLS = REPO / "skills"
TOOLS = REPO / "server" / "mlops_engineer" / "tools"
AGENT = REPO / "agent" / "mlops-engineer.md"

SKILL_FOLDERS = sorted(p.parent.name for p in SKILLS.glob("*/SKILL.md"))
TOOL_MODULES = tool_module_names(TOOLS)
ALLOWED_FRONTMATTER = {"name", "description", "license", "allowed-tools", "metadata", "compatibility"}
REQUIRED_SECTIONS = [
    "## When to use",
    "## Inputs",
    "## Procedure",
    "## Validation checklist",
    "## Common pitfalls",
    "## Related skills",
    "## Tool",
]
ML_SDKS = [
    "mlflow", "sklearn", "pandas", "numpy", "feast", "evidently", "optuna", "ray",
    "bentoml", "prefect", "dvc", "statsmodels", "docker", "label_studio_sdk",
]


def _split(path: Path) -> tuple[dict[str, Any], str]:
    match = re.match(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", path.read_text("utf-8"), re.S)
    assert match, f"{path}: no YAML frontmatter"
    meta = yaml.safe_load(match.group(1))
    assert isinstance(meta, dict), f"{path}: frontmatter is not a mapping"
    return meta, match.group(2)


def _section(body: str, heading: str) -> str:
    """The text under `heading` up to the next `## ` heading."""
    start = body.index(heading + "\n") if heading + "\n" in body else body.index(heading)
    rest = body[start + len(heading):]
    following = re.search(r"^## ", rest, re.M)
    return rest[: following.start()] if following else rest


@pytest.fixture(scope="module")
def registry():
    return load_registry()


# --- skills <-> tools <-> agent ------------------------------------------------------------------


def test_there_are_skills() -> None:
    assert SKILL_FOLDERS, "no skills/*/SKILL.md found"


def test_every_skill_has_a_tool_and_every_tool_a_skill(registry) -> None:
    skill_ids = [s.id for s in registry.skills()]
    assert skill_ids == SKILL_FOLDERS
    assert [t.name for t in registry.tools()] == TOOL_MODULES
    assert [tool_name_for(s) for s in SKILL_FOLDERS] == TOOL_MODULES
    for skill, spec in zip(registry.skills(), registry.tools(), strict=True):
        assert spec.name == skill.tool_name


def test_agent_lists_exactly_the_skills() -> None:
    meta, body = _split(AGENT)
    assert meta.get("name") == "mlops-engineer"
    listed = meta.get("skills")
    assert isinstance(listed, list), "agent frontmatter needs a `skills:` list"
    assert len(listed) == len(set(listed)), f"duplicate skills in the agent: {listed}"
    assert sorted(listed) == SKILL_FOLDERS
    for skill_id in SKILL_FOLDERS:
        assert skill_id in body, f"the agent body never mentions {skill_id}"
    for key in ("description", "tools", "model"):
        assert meta.get(key), f"agent frontmatter lacks {key!r}"


def test_agent_may_call_every_tool() -> None:
    """A subagent with a `tools` list sees only those: each skill's MCP tool must be on it,
    under the name Claude Code gives a plugin server's tools."""
    meta, _ = _split(AGENT)
    tools = {t.strip() for t in str(meta["tools"]).split(",")}
    for skill_id in SKILL_FOLDERS:
        name = f"mcp__plugin_mlops-engineer_mlops-engineer__{skill_id.replace('-', '_')}"
        assert name in tools, f"agent tools lack {name}"


# --- each SKILL.md -------------------------------------------------------------------------------


@pytest.mark.parametrize("skill_id", SKILL_FOLDERS)
def test_reference_validator_accepts_skill(skill_id: str) -> None:
    validator = Path(sys.prefix) / "bin" / "agentskills"
    assert validator.exists(), "skills-ref is not installed: uv sync (it is in the dev group)"
    done = subprocess.run(
        [str(validator), "validate", str(SKILLS / skill_id)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"agentskills validate skills/{skill_id}:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("skill_id", SKILL_FOLDERS)
def test_skill_frontmatter(skill_id: str) -> None:
    meta, _ = _split(SKILLS / skill_id / "SKILL.md")
    assert set(meta) <= ALLOWED_FRONTMATTER, f"not allowed: {sorted(set(meta) - ALLOWED_FRONTMATTER)}"
    assert meta["name"] == skill_id
    assert SKILL_ID.match(skill_id) and len(skill_id) <= 64
    description = meta.get("description")
    assert isinstance(description, str) and description.strip()
    assert len(description) <= 1024, f"description is {len(description)} characters"
    assert re.search(r"\bwhen\b|\buse (it|this) (for|to|before|after|if)\b", description, re.I), (
        "the description should say when to use the skill"
    )
    metadata = meta.get("metadata", {})
    assert isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values()), (
        "metadata must be a string-to-string map"
    )


@pytest.mark.parametrize("skill_id", SKILL_FOLDERS)
def test_skill_body_layout(skill_id: str) -> None:
    _, body = _split(SKILLS / skill_id / "SKILL.md")
    assert len(body.splitlines()) < 500, "body too long: move examples to references/"
    headings = [line.strip() for line in body.splitlines() if line.startswith("## ")]
    positions = []
    for section in REQUIRED_SECTIONS:
        assert section in headings, f"missing section {section!r}; has {headings}"
        positions.append(headings.index(section))
    assert positions == sorted(positions), f"sections out of order: {headings}"
    procedure = _section(body, "## Procedure")
    assert "**Expected:**" in procedure
    assert "**On failure:**" in procedure
    tool_section = _section(body, "## Tool")
    assert f"`{tool_name_for(skill_id)}`" in tool_section or tool_name_for(skill_id) in tool_section


@pytest.mark.parametrize("skill_id", SKILL_FOLDERS)
def test_skill_links_resolve(skill_id: str) -> None:
    folder = SKILLS / skill_id
    _, body = _split(folder / "SKILL.md")
    for target in re.findall(r"\]\(((?!https?://|#|mailto:)[^)\s]+)\)", body):
        assert (folder / target.split("#")[0]).exists(), f"broken link {target}"
    for related in re.findall(r"`([a-z0-9]+(?:-[a-z0-9]+)+)`", _section(body, "## Related skills")):
        # a related skill is either one of ours or clearly named; ours must exist
        if related in SKILL_FOLDERS:
            assert (SKILLS / related / "SKILL.md").exists()


# --- each tool -----------------------------------------------------------------------------------


def _operation_models(spec: ToolSpec) -> list[type[BaseModel]]:
    annotation = spec.input_model.model_fields["operation"].annotation
    members = get_args(annotation) or (annotation,)
    return [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]


def _tool_ids() -> list[str]:
    return TOOL_MODULES


def _spec(name: str) -> ToolSpec:
    import importlib

    return importlib.import_module(f"mlops_engineer.tools.{name}").TOOL


@pytest.mark.parametrize("name", _tool_ids())
def test_input_schema(name: str) -> None:
    spec = _spec(name)
    schema = spec.input_model.model_json_schema()
    assert schema["type"] == "object"
    props = schema["properties"]
    for field in ("operation", "dry_run", "confirm"):
        assert field in props, f"{name}: input lacks {field!r}"
    assert props["dry_run"]["type"] == "boolean" and props["dry_run"]["default"] is False
    assert props["confirm"]["type"] == "boolean" and props["confirm"]["default"] is False
    assert "operation" in schema.get("required", [])
    operation = props["operation"]
    assert operation.get("discriminator", {}).get("propertyName") == "action", f"{name}: operation not discriminated by action"
    mapping = operation["discriminator"]["mapping"]
    models = _operation_models(spec)
    assert len(models) == len(mapping) >= 1
    defs = schema["$defs"]
    for model in models:
        action = get_args(model.model_fields["action"].annotation)[0]
        assert mapping[action] == f"#/$defs/{model.__name__}"
        published = defs[model.__name__]
        assert published["type"] == "object"
        assert published.get("additionalProperties") is False, f"{name}.{action}: unknown fields must be refused"
        assert set(model.model_fields) == set(published["properties"])
        assert "action" in published["required"]
        for field_name, field in model.model_fields.items():
            clear_name = re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", field_name) and len(field_name) >= 3
            assert field.description or clear_name, f"{name}.{action}.{field_name}: no description, unclear name"
    for field_name, field in spec.input_model.model_fields.items():
        assert field.description, f"{name}.{field_name}: top-level fields need a description"


@pytest.mark.parametrize("name", _tool_ids())
def test_output_schema_and_metadata(name: str) -> None:
    spec = _spec(name)
    schema = spec.output_model.model_json_schema()
    assert schema["type"] == "object"
    assert "dry_run" in schema["properties"]
    assert spec.title and spec.description.strip()
    assert spec.input_hint and "action" in spec.input_hint
    assert callable(spec.run) and callable(spec.summarize)


@pytest.mark.parametrize("name", _tool_ids())
def test_input_models_refuse_unknown_actions_and_fields(name: str) -> None:
    from pydantic import ValidationError

    spec = _spec(name)
    with pytest.raises(ValidationError):
        spec.input_model.model_validate({"operation": {"action": "does-not-exist"}})
    assert spec.input_model.model_config.get("extra") == "forbid"
    for model in _operation_models(spec):
        assert model.model_config.get("extra") == "forbid", f"{name}: {model.__name__} ignores unknown fields"


def _list_tools(tmp_path: Path, **settings: Any) -> list[Any]:
    from mlops_engineer.app import build_server

    return anyio.run(build_server(Settings(workspace=tmp_path, **settings)).list_tools)


def test_tools_list_is_sorted_stable_and_complete(tmp_path: Path, registry) -> None:
    from mlops_engineer import schemas

    first = _list_tools(tmp_path)
    second = _list_tools(tmp_path)
    full = {t.name: t for t in _list_tools(tmp_path, catalog="full")}
    names = [t.name for t in first]
    assert names == sorted(names) == TOOL_MODULES == sorted(full)
    assert [t.model_dump(mode="json") for t in first] == [t.model_dump(mode="json") for t in second]
    for tool in first:
        spec = registry.tool(tool.name)
        assert tool.input_schema == schemas.compact_input_schema(spec.input_model)
        assert full[tool.name].input_schema == spec.input_model.model_json_schema(), "full: today's schema, untouched"
        assert tool.output_schema == full[tool.name].output_schema == schemas.published_output_schema(spec.output_model)
        assert tool.output_schema["type"] == "object"
        assert tool.title == spec.title
        assert tool.description and tool.description.startswith(schemas.summary_of(spec.description)[:40])
        assert full[tool.name].description.startswith(spec.description.strip()[:40])
        hints = tool.annotations
        assert hints is not None
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint) == (
            spec.hints.read_only, spec.hints.destructive, spec.hints.idempotent, spec.hints.open_world,
        )
        assert not (hints.read_only_hint and hints.destructive_hint)


# --- the catalogue a model reads -----------------------------------------------------------------

CATALOG_BUDGET_BYTES = 1000  # per tool on average: name + description + inputSchema, compact JSON


def _model_visible_bytes(tool: Any) -> int:
    seen = {"name": tool.name, "description": tool.description, "inputSchema": tool.input_schema}
    return len(json.dumps(seen, separators=(",", ":")).encode("utf-8"))


def test_default_catalogue_fits_the_budget(tmp_path: Path) -> None:
    sizes = {t.name: _model_visible_bytes(t) for t in _list_tools(tmp_path)}
    average = sum(sizes.values()) / len(sizes)
    assert average <= CATALOG_BUDGET_BYTES, f"{average:.0f} B per tool on average (budget {CATALOG_BUDGET_BYTES}): {sizes}"


def test_every_action_has_a_skill_example_reachable_from_the_compact_catalogue(tmp_path: Path, registry) -> None:
    """Each example validates against the server's model, against the compact schema a client
    may check arguments with, and against the action schema `help` returns."""
    import jsonschema

    from mlops_engineer import schemas

    listed = {t.name: t for t in _list_tools(tmp_path)}
    problems = []
    for skill, spec in registry.entries():
        examples = skill.examples
        actions = list(schemas.operation_variants(spec.input_model))
        covered = [schemas.requested_action(e) for e in examples]
        if missing := sorted(set(actions) - set(covered)):
            problems.append(f"skills/{skill.id}: no example for {missing} in its `jsonl examples` block")
        compact = listed[spec.name].input_schema
        for example in examples:
            action = schemas.requested_action(example)
            try:
                spec.input_model.model_validate(example)
                jsonschema.validate(example, compact)
                assert action in compact["properties"]["operation"]["properties"]["action"]["enum"]
                help_answer = schemas.help_answer(spec.name, spec.input_model, action, examples).help
                assert help_answer.input_schema is not None
                jsonschema.validate(example, help_answer.input_schema)
                assert example in help_answer.examples
            except Exception as exc:  # collect them all: one report per run
                problems.append(f"skills/{skill.id} example {json.dumps(example)[:120]}: {type(exc).__name__}: {str(exc)[:300]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", _tool_ids())
def test_output_schema_admits_the_result_an_error_and_a_help_answer(name: str) -> None:
    import jsonschema

    from mlops_engineer import schemas
    from mlops_engineer.errors import ToolError

    spec = _spec(name)
    published = schemas.published_output_schema(spec.output_model)
    assert published["type"] == "object"
    error = ToolError("invalid_input", "m", "h", schema={"type": "object"}).structured()
    jsonschema.validate(error, published)
    jsonschema.validate(ToolError("needs_confirm", "m").structured(), published)
    actions = list(schemas.operation_variants(spec.input_model))
    for action in (actions[0], None):
        jsonschema.validate(schemas.help_answer(name, spec.input_model, action, []).model_dump(mode="json"), published)


def test_tools_that_write_accept_dry_run_and_confirm_truthfully(registry) -> None:
    for spec in registry.tools():
        if spec.hints.read_only:
            continue
        fields = spec.input_model.model_fields
        assert "dry_run" in fields and "confirm" in fields


def test_skills_are_served_as_prompts_and_resources(tmp_path: Path) -> None:
    from mlops_engineer.app import build_server

    server = build_server(Settings(workspace=tmp_path))
    prompts = sorted(p.name for p in anyio.run(server.list_prompts))
    resources = sorted(str(r.uri) for r in anyio.run(server.list_resources))
    assert prompts == SKILL_FOLDERS
    assert resources == sorted([f"skill://{s}" for s in SKILL_FOLDERS] + ["agent://mlops-engineer"])


def test_starting_the_server_imports_no_ml_sdk(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        import anyio
        import mlops_engineer.app
        from mlops_engineer.app import build_server
        from mlops_engineer.settings import Settings
        server = build_server(Settings(workspace={str(tmp_path)!r}))
        tools = anyio.run(server.list_tools)
        banned = {ML_SDKS!r}
        loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(banned))
        print(json.dumps({{"tools": len(tools), "loaded": loaded}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["tools"] == len(TOOL_MODULES)
    assert result["loaded"] == [], f"starting the server imported {result['loaded']}"


# --- the package's layering ----------------------------------------------------------------------


def _imported_modules(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_engines_depend_on_the_core_never_on_tools() -> None:
    engines = REPO / "server" / "mlops_engineer" / "engines"
    offenders = {
        str(path.relative_to(engines)): sorted(m for m in _imported_modules(path) if m.startswith("mlops_engineer.tools"))
        for path in engines.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    flat = sorted(p.name for p in engines.glob("*.py") if p.name != "__init__.py")
    assert flat == ["local_services.py", "prometheus.py"], f"engine modules belong in a domain subpackage: {flat}"
