"""The tool catalog: schemas cached on disk so a server start imports no tool module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_engineer import catalog
from mlops_engineer.bundle import bundle_path
from mlops_engineer.registry import load_registry


def test_cached_catalog_equals_the_computed_one(tmp_path: Path) -> None:
    computed = catalog.builtin_catalog()  # cache miss: built from the registry
    cached = catalog.builtin_catalog()  # cache hit: read from disk
    assert [c.name for c in computed] == [c.name for c in cached] == [t.name for t in load_registry().tools()]
    for a, b in zip(computed, cached, strict=True):
        assert (a.hints, a.skill.id) == (b.hints, b.skill.id)
        for field in catalog._PLAIN_FIELDS:
            assert getattr(a, field) == getattr(b, field), field
        assert b.load() is a.load()  # the lazy loader finds the same ToolSpec
    assert len(list(catalog.cache_dir().glob("catalog-*.json"))) == 1


def test_a_second_start_imports_no_tool_module(tmp_path: Path) -> None:
    script = (
        "import sys; from mlops_engineer.app import build_server; from mlops_engineer.settings import Settings;"
        "build_server(Settings()); print(sorted(m for m in sys.modules if m.startswith('mlops_engineer.tools.')))"
    )
    env = {**os.environ, "MLOPS_ENGINEER_CACHE_DIR": str(tmp_path / "cache"), "MLOPS_ENGINEER_WORKSPACE": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True) for _ in range(2)]
    assert runs[0].stdout.strip() != "[]"  # the first start builds the cache
    assert runs[1].stdout.strip() == "[]"


def test_any_change_to_a_skill_gives_a_new_key(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    shutil.copytree(bundle_path("skills"), skills)
    before = catalog.fingerprint(skills)
    assert catalog.fingerprint(skills) == before
    skill = next(skills.glob("*/SKILL.md"))
    skill.write_text(skill.read_text() + "\n")
    assert catalog.fingerprint(skills) != before


def test_a_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    catalog.builtin_catalog()
    (cache_file,) = catalog.cache_dir().glob("catalog-*.json")
    cache_file.write_text("{not json")
    assert catalog.builtin_catalog()
    assert json.loads(cache_file.read_text())  # rewritten whole


def test_an_unwritable_cache_dir_only_costs_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("MLOPS_ENGINEER_CACHE_DIR", str(blocker / "cache"))  # a file in the way
    assert [c.name for c in catalog.builtin_catalog()] == [t.name for t in load_registry().tools()]


def test_another_installations_cache_is_left_alone(tmp_path: Path) -> None:
    """A plugin's copy and a checkout share ~/.cache: rebuilding ours must not evict theirs
    (each would otherwise rebuild, importing every tool, on every start)."""
    catalog.cache_dir().mkdir(parents=True)
    theirs = catalog.cache_dir() / "catalog-0123abcd-0123456789abcdef01234567.json"
    theirs.write_text("[]")
    catalog.builtin_catalog()
    assert theirs.exists()
    assert len(list(catalog.cache_dir().glob("catalog-*.json"))) == 2
