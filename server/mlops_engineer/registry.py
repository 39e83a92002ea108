"""Skills on disk, tools in code, and the check that they match one to one.

Built-in skills are registered through `Registry.register`, the same path an
outside skill pack would use. A skill folder without a tool module (or a tool
without a skill) stops the server at start-up instead of shipping half a skill.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mlops_engineer.bundle import bundle_path

SKILL_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FRONTMATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n?(.*)\Z", re.S)
_EXAMPLES = re.compile(r"^```jsonl examples\n(.*?)^```", re.M | re.S)


class RegistryError(RuntimeError):
    """The skills and the tools do not line up; the message lists every mismatch."""


@dataclass(frozen=True)
class Skill:
    id: str
    description: str
    path: Path
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> str:
        """The procedure after the frontmatter, read when asked for (prompts are rare, starts are not)."""
        match = _FRONTMATTER.match(self.path.read_text("utf-8"))
        return match.group(2) if match else ""

    @property
    def examples(self) -> list[dict[str, Any]]:
        """Example inputs of the skill's tool: its `jsonl examples` block, one complete call a line."""
        match = _EXAMPLES.search(self.path.read_text("utf-8"))
        return [json.loads(line) for line in match.group(1).splitlines() if line.strip()] if match else []

    @property
    def tool_name(self) -> str:
        return tool_name_for(self.id)

    @property
    def uri(self) -> str:
        return f"skill://{self.id}"


@dataclass(frozen=True)
class Hints:
    """MCP tool annotations, stated per tool and kept truthful."""

    read_only: bool = False
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = False


@dataclass(frozen=True)
class ToolSpec:
    """A tool: typed input and output, what it does, and how to run it."""

    name: str
    title: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    run: Callable[[Any, Any], BaseModel]
    summarize: Callable[[Any], str]
    hints: Hints = Hints()
    input_hint: str = "See the tool's input schema for the accepted fields and values."


def tool_name_for(skill_id: str) -> str:
    return skill_id.replace("-", "_")


def parse_skill(path: Path) -> Skill:
    """Read `skills/<id>/SKILL.md`: YAML frontmatter, then the procedure."""
    import yaml

    match = _FRONTMATTER.match(path.read_text("utf-8"))
    if not match:
        raise RegistryError(f"{path}: missing YAML frontmatter between '---' lines")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: invalid YAML frontmatter: {exc}") from exc
    if not isinstance(meta, dict):
        raise RegistryError(f"{path}: the frontmatter must be a mapping of fields, not {type(meta).__name__}")
    skill_id = str(meta.get("name", ""))
    if skill_id != path.parent.name or not SKILL_ID.match(skill_id):
        raise RegistryError(f"{path}: frontmatter name {skill_id!r} must equal the folder name {path.parent.name!r}")
    return Skill(
        id=skill_id,
        description=str(meta.get("description") or "").strip(),
        path=path,
        metadata={str(k): "" if v is None else str(v) for k, v in (meta.get("metadata") or {}).items()},
    )


def discover_skills(skills_dir: Path) -> list[Skill]:
    return [parse_skill(p) for p in sorted(skills_dir.glob("*/SKILL.md"))]


class Registry:
    """Skill id -> (skill, tool), listed in a stable (alphabetical) order."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Skill, ToolSpec]] = {}

    def register(self, skill: Skill, spec: ToolSpec) -> None:
        if skill.id in self._entries:
            raise RegistryError(f"skill {skill.id!r} is registered twice")
        if spec.name != skill.tool_name:
            raise RegistryError(f"skill {skill.id!r} must be served by tool {skill.tool_name!r}, not {spec.name!r}")
        self._entries[skill.id] = (skill, spec)

    def entries(self) -> list[tuple[Skill, ToolSpec]]:
        return [self._entries[k] for k in sorted(self._entries)]

    def skills(self) -> list[Skill]:
        return [self._entries[k][0] for k in sorted(self._entries)]

    def tools(self) -> list[ToolSpec]:
        return [self._entries[k][1] for k in sorted(self._entries)]

    def skill(self, skill_id: str) -> Skill:
        return self._entries[skill_id][0]

    def tool(self, name: str) -> ToolSpec:
        for _, spec in self._entries.values():
            if spec.name == name:
                return spec
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self._entries)


def tool_module_names(folder: Path) -> list[str]:
    """Tools in a folder: every `<name>.py`. A tool that grew keeps its parts in `_<name>/`, which is not a tool."""
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


def _tool_modules(tools_package: str) -> Iterable[str]:
    package = importlib.import_module(tools_package)
    return tool_module_names(Path(package.__file__ or "").parent)


def load_registry(skills_dir: Path | None = None, tools_package: str = "mlops_engineer.tools") -> Registry:
    """Bind every skill folder to `tools/<skill_id>.py` (its `TOOL`), or fail listing all mismatches."""
    skills = discover_skills(skills_dir or bundle_path("skills"))
    modules = set(_tool_modules(tools_package))
    problems = [f"skill {s.id!r} has no module {tools_package}.{s.tool_name}" for s in skills if s.tool_name not in modules]
    known = {s.tool_name for s in skills}
    problems += [f"module {tools_package}.{m} has no skills/{m.replace('_', '-')}/SKILL.md" for m in sorted(modules - known)]
    if problems:
        raise RegistryError("Skills and tools do not match:\n  " + "\n  ".join(problems))

    registry = Registry()
    for skill in skills:
        module = importlib.import_module(f"{tools_package}.{skill.tool_name}")
        spec = getattr(module, "TOOL", None)
        if not isinstance(spec, ToolSpec):
            raise RegistryError(f"{module.__name__} must define TOOL = ToolSpec(...)")
        registry.register(skill, spec)
    return registry
