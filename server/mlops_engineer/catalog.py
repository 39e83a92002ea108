"""What `tools/list` shows, without importing a tool until it is called.

Building a tool's JSON schemas means importing its module and letting pydantic
build its models: ~20 ms a tool, paid at every server start and growing with
each skill. The catalog is computed once, cached on disk keyed by a hash of
the package's source files, the skills and the library versions, and read back
in a few milliseconds on every later start. Any change to those files gives a
new key, so a stale catalog is never served.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlops_engineer import __version__, schemas
from mlops_engineer.bundle import bundle_path
from mlops_engineer.registry import Hints, Registry, RegistryError, Skill, ToolSpec, load_registry
from mlops_engineer.settings import CatalogMode
from mlops_engineer.workspace import atomic_write_bytes

logger = logging.getLogger("mlops_engineer")

_PACKAGE_DIR = Path(__file__).resolve().parent
TOOLS_PACKAGE = "mlops_engineer.tools"


@dataclass(frozen=True)
class ToolCard:
    """A tool as clients see it, in the compact and the full catalogue, plus the way to load it."""

    skill: Skill
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    full_description: str
    full_input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    hints: Hints
    load: Callable[[], ToolSpec]

    def listed(self, catalog: CatalogMode) -> tuple[str, dict[str, Any]]:
        """(description, inputSchema) as `tools/list` shows them in that catalogue."""
        if catalog == "full":
            return self.full_description, self.full_input_schema
        return self.description, self.input_schema


def card_for(skill: Skill, spec: ToolSpec) -> ToolCard:
    return ToolCard(
        skill=skill,
        name=spec.name,
        title=spec.title,
        description=schemas.compact_description(spec.description, spec.input_model, skill.uri),
        input_schema=schemas.compact_input_schema(spec.input_model),
        full_description=schemas.full_description(spec.description, spec.input_model, skill.id, skill.uri),
        full_input_schema=schemas.full_input_schema(spec.input_model),
        output_schema=schemas.published_output_schema(spec.output_model),
        hints=spec.hints,
        load=lambda: spec,
    )


def cards_from_registry(registry: Registry) -> list[ToolCard]:
    return [card_for(skill, spec) for skill, spec in registry.entries()]


def cache_dir() -> Path:
    explicit = os.environ.get("MLOPS_ENGINEER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlops-engineer"


def fingerprint(skills_dir: Path) -> str:
    """Changes whenever anything that shapes a schema or a skill does.

    Files count by path, size and modification time, as Python's own bytecode cache does:
    reading and hashing every source would cost more than the start-up the cache saves.
    pydantic builds the schemas, so its version counts too (read from the module, which is
    already imported, not from package metadata, which is slow to parse).
    """
    import pydantic
    import pydantic_core

    digest = hashlib.sha256(f"pydantic={pydantic.VERSION};core={pydantic_core.__version__};ours={__version__};".encode())
    files = sorted(_PACKAGE_DIR.rglob("*.py")) + sorted(skills_dir.glob("*/SKILL.md"))
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:24]


@functools.cache
def _import_spec(module_name: str, expected_name: str) -> ToolSpec:
    spec = getattr(importlib.import_module(module_name), "TOOL", None)
    if not isinstance(spec, ToolSpec) or spec.name != expected_name:
        raise RegistryError(f"{module_name} must define TOOL = ToolSpec(name={expected_name!r}, ...)")
    return spec


# What a cached card stores as is; the skill, the hints and the loader are rebuilt.
_PLAIN_FIELDS = ("name", "title", "description", "input_schema", "full_description", "full_input_schema", "output_schema")


def _card_from_json(entry: dict[str, Any]) -> ToolCard:
    skill = Skill(id=entry["skill_id"], description=entry["skill_description"],
                  path=Path(entry["skill_path"]), metadata=entry["skill_metadata"])
    module_name = f"{TOOLS_PACKAGE}.{entry['name']}"
    return ToolCard(
        skill=skill, hints=Hints(**entry["hints"]), load=functools.partial(_import_spec, module_name, entry["name"]),
        **{name: entry[name] for name in _PLAIN_FIELDS},
    )


def _card_to_json(card: ToolCard) -> dict[str, Any]:
    return {
        "skill_id": card.skill.id, "skill_description": card.skill.description,
        "skill_path": str(card.skill.path), "skill_metadata": card.skill.metadata,
        "hints": asdict(card.hints), **{name: getattr(card, name) for name in _PLAIN_FIELDS},
    }


def _install_prefix() -> str:
    """Cache files are per installation: a plugin's copy and a checkout must not evict each other's."""
    return f"catalog-{hashlib.sha256(str(_PACKAGE_DIR).encode()).hexdigest()[:8]}-"


def builtin_catalog() -> list[ToolCard]:
    """The built-in tools, from the cache when it matches the installed files, else built and cached."""
    skills_dir = bundle_path("skills")
    cache_file = cache_dir() / f"{_install_prefix()}{fingerprint(skills_dir)}.json"
    try:
        return [_card_from_json(entry) for entry in json.loads(cache_file.read_text("utf-8"))]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache yet, or an unreadable one: build it

    cards = cards_from_registry(load_registry(skills_dir, TOOLS_PACKAGE))
    _write_cache(cache_file, [_card_to_json(card) for card in cards])
    return cards


def _write_cache(path: Path, data: list[dict[str, Any]]) -> None:
    try:
        atomic_write_bytes(path, json.dumps(data).encode("utf-8"))
        for stale in path.parent.glob(f"{_install_prefix()}*.json"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError as exc:  # a read-only home only costs speed
        logger.debug("catalog cache not written: %s", exc)
