"""Registry: SKILL.md parsing and the one-to-one binding of skills to tool modules."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlops_engineer.contract import ToolInput, ToolOutput
from mlops_engineer.registry import (
    Hints,
    Registry,
    RegistryError,
    Skill,
    ToolSpec,
    load_registry,
    parse_skill,
    tool_name_for,
)

GOOD_TOOL = """
from mlops_engineer.contract import ToolInput, ToolOutput
from mlops_engineer.registry import ToolSpec

class Inp(ToolInput):
    pass

class Out(ToolOutput):
    pass

TOOL = ToolSpec(
    name={name!r}, title="t", description="d", input_model=Inp, output_model=Out,
    run=lambda inp, ctx: Out(), summarize=lambda out: "ok",
)
"""


def _skill_md(name: str, description: str = "Does a thing. Use it when testing.", extra: str = "") -> str:
    return f"---\nname: {name}\ndescription: {description}\n{extra}---\n\n# Title\n\nBody of {name}.\n"


def _write_skill(skills: Path, folder: str, text: str | None = None) -> Path:
    path = skills / folder / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text is not None else _skill_md(folder))
    return path


@pytest.fixture
def skills_dir(tmp_path: Path) -> Path:
    path = tmp_path / "skills"
    path.mkdir()
    return path


@pytest.fixture
def tools_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, str]], str]]:
    """Make a throwaway tools package on sys.path: {module: source} -> package name."""
    made: list[str] = []

    def make(modules: dict[str, str]) -> str:
        name = f"fake_tools_{uuid.uuid4().hex[:10]}"
        folder = tmp_path / "pkgs" / name
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        (folder / "_private.py").write_text("raise RuntimeError('helpers starting with _ are not tools')\n")
        for module, source in modules.items():
            (folder / f"{module}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
        importlib.invalidate_caches()
        made.append(name)
        return name

    yield make
    for module in [m for m in sys.modules if any(m == n or m.startswith(n + ".") for n in made)]:
        del sys.modules[module]


# --- parse_skill --------------------------------------------------------------------------------


def test_parse_skill_reads_frontmatter_and_body(skills_dir: Path) -> None:
    path = _write_skill(
        skills_dir,
        "train-model",
        _skill_md("train-model", "Trains.", extra="metadata:\n  tool: train_model\n  version: 2\n"),
    )
    skill = parse_skill(path)
    assert skill.id == "train-model"
    assert skill.description == "Trains."
    assert skill.body.lstrip("\n").startswith("# Title") and "Body of train-model." in skill.body
    assert "name:" not in skill.body
    assert skill.metadata == {"tool": "train_model", "version": "2"}
    assert skill.tool_name == "train_model"
    assert skill.uri == "skill://train-model"
    assert skill.path == path


def test_parse_skill_folded_description_is_stripped(skills_dir: Path) -> None:
    text = "---\nname: a-b\ndescription: >-\n  line one\n  line two\n---\nbody\n"
    assert parse_skill(_write_skill(skills_dir, "a-b", text)).description == "line one line two"


@pytest.mark.parametrize(
    "text",
    [
        "# No frontmatter\n\nname: x\n",
        "name: x\n---\nbody\n",
        "---\nname: x\ndescription: never closed\n",
        "",
    ],
)
def test_parse_skill_without_frontmatter(skills_dir: Path, text: str) -> None:
    path = _write_skill(skills_dir, "x", text)
    with pytest.raises(RegistryError, match="frontmatter") as info:
        parse_skill(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("my-skill", "other-skill"),
        ("my-skill", ""),
        ("my-skill", "My-Skill"),
    ],
)
def test_parse_skill_name_must_equal_folder(skills_dir: Path, folder: str, name: str) -> None:
    path = _write_skill(skills_dir, folder, _skill_md(name) if name else "---\ndescription: d\n---\nbody\n")
    with pytest.raises(RegistryError, match="must equal the folder name") as info:
        parse_skill(path)
    assert repr(folder) in str(info.value)


@pytest.mark.parametrize("bad_id", ["Upper-Case", "under_score", "-leading", "trailing-", "double--dash", "sp ace"])
def test_parse_skill_rejects_bad_ids_even_when_name_matches_folder(skills_dir: Path, bad_id: str) -> None:
    path = _write_skill(skills_dir, bad_id, _skill_md(f"'{bad_id}'"))
    with pytest.raises(RegistryError):
        parse_skill(path)


@pytest.mark.parametrize("good_id", ["a", "abc", "a1-b2", "monitor-model-drift", "x9"])
def test_parse_skill_accepts_good_ids(skills_dir: Path, good_id: str) -> None:
    assert parse_skill(_write_skill(skills_dir, good_id)).id == good_id


@pytest.mark.parametrize("frontmatter", ["name: [unclosed", "- just\n- a list"])
def test_parse_skill_malformed_yaml_is_a_registry_error(skills_dir: Path, frontmatter: str) -> None:
    path = _write_skill(skills_dir, "bad-yaml", f"---\n{frontmatter}\n---\nbody\n")
    with pytest.raises(RegistryError) as info:
        parse_skill(path)
    assert str(path) in str(info.value)


def test_tool_name_for() -> None:
    assert tool_name_for("register-ml-model") == "register_ml_model"
    assert tool_name_for("single") == "single"


# --- Registry ------------------------------------------------------------------------------------


def _spec(name: str) -> ToolSpec:
    class Inp(ToolInput):
        pass

    class Out(ToolOutput):
        pass

    return ToolSpec(name=name, title=name, description="d", input_model=Inp, output_model=Out,
                    run=lambda i, c: Out(), summarize=lambda o: "ok")


def _skill(skill_id: str) -> Skill:
    return Skill(id=skill_id, description="d", path=Path(f"/x/{skill_id}/SKILL.md"))


def test_register_keeps_a_stable_sorted_order() -> None:
    registry = Registry()
    for skill_id in ["zeta-tool", "alpha", "mid-way", "beta"]:
        registry.register(_skill(skill_id), _spec(tool_name_for(skill_id)))
    assert [s.id for s in registry.skills()] == ["alpha", "beta", "mid-way", "zeta-tool"]
    assert [t.name for t in registry.tools()] == ["alpha", "beta", "mid_way", "zeta_tool"]
    assert len(registry) == 4
    assert registry.skill("mid-way").id == "mid-way"
    assert registry.tool("zeta_tool").name == "zeta_tool"
    with pytest.raises(KeyError):
        registry.tool("zeta-tool")


def test_register_twice_is_refused() -> None:
    registry = Registry()
    registry.register(_skill("alpha"), _spec("alpha"))
    with pytest.raises(RegistryError, match="registered twice"):
        registry.register(_skill("alpha"), _spec("alpha"))
    assert len(registry) == 1


def test_register_tool_name_mismatch() -> None:
    with pytest.raises(RegistryError, match="'my_skill', not 'other'"):
        Registry().register(_skill("my-skill"), _spec("other"))


def test_hints_defaults() -> None:
    assert Hints() == Hints(read_only=False, destructive=False, idempotent=True, open_world=False)


# --- load_registry ---------------------------------------------------------------------------------


def test_load_registry_binds_skills_to_modules(skills_dir: Path, tools_package: Callable[..., str]) -> None:
    for folder in ["zz-last", "aa-first", "mm-middle"]:
        _write_skill(skills_dir, folder)
    package = tools_package({m: GOOD_TOOL.format(name=m) for m in ["zz_last", "aa_first", "mm_middle"]})
    registry = load_registry(skills_dir, package)
    assert [s.id for s in registry.skills()] == ["aa-first", "mm-middle", "zz-last"]
    assert [t.name for t in registry.tools()] == ["aa_first", "mm_middle", "zz_last"]
    # twice the same
    assert [t.name for t in load_registry(skills_dir, package).tools()] == ["aa_first", "mm_middle", "zz_last"]


def test_load_registry_lists_every_mismatch_in_one_error(skills_dir: Path, tools_package: Callable[..., str]) -> None:
    _write_skill(skills_dir, "matched")
    _write_skill(skills_dir, "lonely-skill")
    package = tools_package({"matched": GOOD_TOOL.format(name="matched"), "orphan_module": GOOD_TOOL.format(name="orphan_module")})
    with pytest.raises(RegistryError) as info:
        load_registry(skills_dir, package)
    text = str(info.value)
    assert f"skill 'lonely-skill' has no module {package}.lonely_skill" in text
    assert f"module {package}.orphan_module has no skills/orphan-module/SKILL.md" in text
    assert "matched" not in text.replace("Skills and tools do not match", "")


def test_load_registry_module_without_tool(skills_dir: Path, tools_package: Callable[..., str]) -> None:
    _write_skill(skills_dir, "no-tool")
    package = tools_package({"no_tool": "TOOL = 'not a ToolSpec'\n"})
    with pytest.raises(RegistryError, match=rf"{package}\.no_tool must define TOOL = ToolSpec"):
        load_registry(skills_dir, package)


def test_load_registry_module_missing_tool_attribute(skills_dir: Path, tools_package: Callable[..., str]) -> None:
    _write_skill(skills_dir, "no-tool")
    package = tools_package({"no_tool": "x = 1\n"})
    with pytest.raises(RegistryError, match="must define TOOL"):
        load_registry(skills_dir, package)


def test_load_registry_tool_name_mismatch(skills_dir: Path, tools_package: Callable[..., str]) -> None:
    _write_skill(skills_dir, "right-name")
    package = tools_package({"right_name": GOOD_TOOL.format(name="wrong_name")})
    with pytest.raises(RegistryError, match="'right_name', not 'wrong_name'"):
        load_registry(skills_dir, package)


def test_load_registry_bad_skill_file_stops_loading(skills_dir: Path, tools_package: Callable[..., str]) -> None:
    _write_skill(skills_dir, "good")
    _write_skill(skills_dir, "bad", _skill_md("not-bad"))
    package = tools_package({"good": GOOD_TOOL.format(name="good"), "bad": GOOD_TOOL.format(name="bad")})
    with pytest.raises(RegistryError, match="must equal the folder name"):
        load_registry(skills_dir, package)


def test_load_registry_ignores_folders_without_skill_md(skills_dir: Path, tools_package: Callable[..., str]) -> None:
    _write_skill(skills_dir, "real")
    (skills_dir / "notes").mkdir()
    (skills_dir / "notes" / "README.md").write_text("not a skill")
    package = tools_package({"real": GOOD_TOOL.format(name="real")})
    assert [s.id for s in load_registry(skills_dir, package).skills()] == ["real"]


def test_load_registry_empty(skills_dir: Path, tools_package: Callable[..., str]) -> None:
    assert len(load_registry(skills_dir, tools_package({}))) == 0


def test_parse_skill_empty_description_is_empty(skills_dir: Path) -> None:
    path = _write_skill(skills_dir, "empty-desc", "---\nname: empty-desc\ndescription:\n---\nbody\n")
    assert parse_skill(path).description == ""
