"""Rendering: StrictUndefined templates and the edit-aware file writer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest

from mlops_engineer import render
from mlops_engineer.bundle import bundle_path
from mlops_engineer.errors import ToolError
from mlops_engineer.render import MANIFEST, MAX_DIFF_LINES, render_template, write_files
from mlops_engineer.workspace import Workspace


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private templates/ folder; the cached Jinja environment is rebuilt around the test."""
    root = tmp_path / "bundle"
    (root / "templates" / "demo").mkdir(parents=True)
    monkeypatch.setattr(render, "bundle_path", lambda name: root / name)
    render._environment.cache_clear()
    yield root / "templates"
    render._environment.cache_clear()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    return Workspace(root)


def test_render_fills_variables_and_keeps_trailing_newline(templates: Path) -> None:
    (templates / "demo" / "hello.txt.j2").write_text("Hello {{ name }} on port {{ port }}\n")
    assert render_template("demo/hello.txt.j2", name="mlflow", port=5000) == "Hello mlflow on port 5000\n"


@pytest.mark.parametrize(
    "source",
    [
        "{{ missing }}",
        "{{ cfg.missing }}",
        "{% for x in missing %}{{ x }}{% endfor %}",
        "{% if missing %}yes{% endif %}",
    ],
)
def test_missing_variable_raises(templates: Path, source: str) -> None:
    (templates / "demo" / "strict.j2").write_text(source)
    with pytest.raises(jinja2.UndefinedError):
        render_template("demo/strict.j2", cfg={})


def test_no_html_autoescape(templates: Path) -> None:
    (templates / "demo" / "raw.j2").write_text("{{ value }}")
    assert render_template("demo/raw.j2", value="<a & 'b'>") == "<a & 'b'>"


def test_real_environment_is_strict_and_loads_the_bundled_templates() -> None:
    render._environment.cache_clear()
    try:
        env = render._environment()
        assert env.undefined is jinja2.StrictUndefined
        with pytest.raises(jinja2.UndefinedError):
            env.from_string("{{ nope }}").render()
        names = sorted(p.relative_to(bundle_path("templates")).as_posix() for p in bundle_path("templates").rglob("*.j2"))
        assert names, "no templates found"
        assert all(env.get_template(name) for name in names)  # each parses
    finally:
        render._environment.cache_clear()


# --- write_files -----------------------------------------------------------------------------


def _manifest(ws: Workspace) -> dict[str, str]:
    return json.loads((ws.root / MANIFEST).read_text())


def _actions(changes: list[render.FileChange]) -> dict[str, str]:
    return {c.path: c.action for c in changes}


def test_create_then_unchanged_then_update(ws: Workspace) -> None:
    first = write_files(ws, {"a.txt": "one\n", "sub/b.txt": "two\n"}, dry_run=False, confirm=False)
    assert _actions(first) == {"a.txt": "create", "sub/b.txt": "create"}
    assert all(c.diff is None for c in first)
    assert (ws.root / "sub" / "b.txt").read_text() == "two\n"
    assert set(_manifest(ws)) == {"a.txt", "sub/b.txt"}

    again = write_files(ws, {"a.txt": "one\n", "sub/b.txt": "two\n"}, dry_run=False, confirm=False)
    assert _actions(again) == {"a.txt": "unchanged", "sub/b.txt": "unchanged"}

    updated = write_files(ws, {"a.txt": "one\nmore\n", "sub/b.txt": "two\n"}, dry_run=False, confirm=False)
    assert _actions(updated) == {"a.txt": "update", "sub/b.txt": "unchanged"}
    diff = next(c.diff for c in updated if c.path == "a.txt")
    assert diff is not None and "+more" in diff and "a/a.txt" in diff and "b/a.txt" in diff
    assert (ws.root / "a.txt").read_text() == "one\nmore\n"


def test_paths_are_reported_relative_and_normalised(ws: Workspace) -> None:
    changes = write_files(ws, {"./x/../y.txt": "y", str(ws.root / "z.txt"): "z"}, dry_run=False, confirm=False)
    assert [c.path for c in changes] == ["y.txt", "z.txt"]
    assert set(_manifest(ws)) == {"y.txt", "z.txt"}


def test_user_edit_needs_confirm_before_any_write(ws: Workspace) -> None:
    write_files(ws, {"a.txt": "a1\n", "b.txt": "b1\n", "c.txt": "c1\n"}, dry_run=False, confirm=False)
    (ws.root / "b.txt").write_text("b edited by hand\n")
    manifest_before = (ws.root / MANIFEST).read_text()

    new = {"a.txt": "a2\n", "b.txt": "b2\n", "c.txt": "c2\n", "d.txt": "d\n"}
    with pytest.raises(ToolError) as info:
        write_files(ws, new, dry_run=False, confirm=False)
    assert info.value.code == "needs_confirm"
    assert "b.txt" in info.value.message and "a.txt" not in info.value.message
    assert "confirm" in info.value.hint
    # nothing was touched: not the files before or after the edited one, not the manifest
    assert (ws.root / "a.txt").read_text() == "a1\n"
    assert (ws.root / "b.txt").read_text() == "b edited by hand\n"
    assert (ws.root / "c.txt").read_text() == "c1\n"
    assert not (ws.root / "d.txt").exists()
    assert (ws.root / MANIFEST).read_text() == manifest_before


def test_file_not_written_by_us_counts_as_edited(ws: Workspace) -> None:
    (ws.root / "Dockerfile").write_text("FROM mine\n")
    with pytest.raises(ToolError) as info:
        write_files(ws, {"Dockerfile": "FROM ours\n"}, dry_run=False, confirm=False)
    assert info.value.code == "needs_confirm"
    assert (ws.root / "Dockerfile").read_text() == "FROM mine\n"


def test_dry_run_writes_nothing_not_even_the_manifest(ws: Workspace) -> None:
    (ws.root / "edited.txt").write_text("user\n")
    plan = write_files(ws, {"new.txt": "n\n", "edited.txt": "ours\n"}, dry_run=True, confirm=False)
    assert _actions(plan) == {"new.txt": "create", "edited.txt": "overwrite"}
    overwrite = next(c for c in plan if c.action == "overwrite")
    assert overwrite.diff and "-user" in overwrite.diff and "+ours" in overwrite.diff
    assert sorted(p.name for p in ws.root.iterdir()) == ["edited.txt"]
    assert (ws.root / "edited.txt").read_text() == "user\n"


def test_dry_run_plan_equals_real_run(ws: Workspace) -> None:
    write_files(ws, {"a.txt": "1"}, dry_run=False, confirm=False)
    files = {"a.txt": "2", "b.txt": "b"}
    plan = write_files(ws, files, dry_run=True, confirm=False)
    done = write_files(ws, files, dry_run=False, confirm=False)
    assert plan == done


def test_confirm_overwrites_and_then_the_file_is_ours(ws: Workspace) -> None:
    write_files(ws, {"a.txt": "v1\n", "b.txt": "b\n"}, dry_run=False, confirm=False)
    (ws.root / "a.txt").write_text("hand edit\n")
    changes = write_files(ws, {"a.txt": "v2\n", "b.txt": "b\n"}, dry_run=False, confirm=True)
    assert _actions(changes) == {"a.txt": "overwrite", "b.txt": "unchanged"}
    assert (ws.root / "a.txt").read_text() == "v2\n"
    # after the confirmed overwrite, the next change is an ordinary update
    assert _actions(write_files(ws, {"a.txt": "v3\n"}, dry_run=False, confirm=False)) == {"a.txt": "update"}


@pytest.mark.parametrize("damage", ["{not json", "[1, 2, 3]", "null", "\xff\xfe garbage"])
def test_damaged_manifest_means_everything_is_edited(ws: Workspace, damage: str) -> None:
    write_files(ws, {"a.txt": "v1\n", "b.txt": "same\n"}, dry_run=False, confirm=False)
    (ws.root / MANIFEST).write_bytes(damage.encode("latin-1"))
    plan = write_files(ws, {"a.txt": "v2\n", "b.txt": "same\n", "c.txt": "c\n"}, dry_run=True, confirm=False)
    assert _actions(plan) == {"a.txt": "overwrite", "b.txt": "unchanged", "c.txt": "create"}
    with pytest.raises(ToolError) as info:
        write_files(ws, {"a.txt": "v2\n"}, dry_run=False, confirm=False)
    assert info.value.code == "needs_confirm"
    assert (ws.root / "a.txt").read_text() == "v1\n"
    # confirming repairs the manifest
    write_files(ws, {"a.txt": "v2\n"}, dry_run=False, confirm=True)
    assert set(_manifest(ws)) == {"a.txt"}


def test_manifest_holds_sha256_of_written_content(ws: Workspace) -> None:
    import hashlib

    write_files(ws, {"a.txt": "content\n"}, dry_run=False, confirm=False)
    assert _manifest(ws) == {"a.txt": hashlib.sha256(b"content\n").hexdigest()}
    assert (ws.root / MANIFEST).read_text().endswith("\n")


def test_paths_outside_the_workspace_are_refused(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ToolError) as info:
        write_files(ws, {"ok.txt": "x", "../evil.txt": "x"}, dry_run=False, confirm=True)
    assert info.value.code == "outside_workspace"
    assert not (ws.root / "ok.txt").exists()
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(("changed_lines", "truncated"), [(10, False), (200, True)])
def test_diff_truncation(ws: Workspace, changed_lines: int, truncated: bool) -> None:
    old = "".join(f"old {i}\n" for i in range(changed_lines))
    new = "".join(f"new {i}\n" for i in range(changed_lines))
    write_files(ws, {"big.txt": old}, dry_run=False, confirm=False)
    (change,) = write_files(ws, {"big.txt": new}, dry_run=True, confirm=False)
    assert change.action == "update" and change.diff
    lines = change.diff.splitlines()
    full = 3 + 2 * changed_lines  # ---, +++, @@ and one -/+ per line
    if truncated:
        assert len(lines) == MAX_DIFF_LINES + 1
        assert lines[-1] == f"... {full - MAX_DIFF_LINES} more diff lines"
    else:
        assert len(lines) == full
        assert "more diff lines" not in change.diff
