"""Workspace: path confinement and atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    return Workspace(root)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a.txt", "a.txt"),
        ("sub/dir/b.yml", "sub/dir/b.yml"),
        ("./sub/../c.py", "c.py"),
        (".", ""),
        ("sub/./d", "sub/d"),
    ],
)
def test_relative_paths_resolve_inside(ws: Workspace, given: str, expected: str) -> None:
    resolved = ws.resolve(given)
    assert resolved == (ws.root / expected).resolve()
    assert resolved == ws.root or ws.root in resolved.parents


def test_absolute_path_inside_is_accepted(ws: Workspace) -> None:
    inside = ws.root / "x" / "y.txt"
    assert ws.resolve(inside) == inside
    assert ws.resolve(str(inside)) == inside
    assert ws.relative(inside) == "x/y.txt"


@pytest.mark.parametrize(
    "given",
    [
        "..",
        "../outside.txt",
        "sub/../../outside.txt",
        "a/b/../../../../etc/passwd",
    ],
)
def test_dotdot_escape_is_refused(ws: Workspace, given: str) -> None:
    with pytest.raises(ToolError) as info:
        ws.resolve(given)
    assert info.value.code == "outside_workspace"
    assert given in info.value.message


def test_absolute_path_elsewhere_is_refused(ws: Workspace, tmp_path: Path) -> None:
    for path in (tmp_path / "other.txt", Path("/etc/passwd"), tmp_path / "ws-sibling" / "f"):
        with pytest.raises(ToolError) as info:
            ws.resolve(path)
        assert info.value.code == "outside_workspace"


def test_sibling_with_common_prefix_is_refused(ws: Workspace, tmp_path: Path) -> None:
    # /tmp/.../ws2 starts with the string /tmp/.../ws but is not inside it.
    (tmp_path / "ws2").mkdir()
    with pytest.raises(ToolError) as info:
        ws.resolve(tmp_path / "ws2" / "f.txt")
    assert info.value.code == "outside_workspace"


@pytest.mark.parametrize("target_exists", [True, False])
def test_symlink_out_of_workspace_is_refused(ws: Workspace, tmp_path: Path, target_exists: bool) -> None:
    outside = tmp_path / "secret"
    if target_exists:
        outside.mkdir()
        (outside / "key").write_text("k")
    (ws.root / "link").symlink_to(outside)
    for given in ("link", "link/key", ws.root / "link" / "key"):
        with pytest.raises(ToolError) as info:
            ws.resolve(given)
        assert info.value.code == "outside_workspace"
    # and nothing can be written through it
    with pytest.raises(ToolError):
        ws.write_text("link/new.txt", "x")
    assert not (outside / "new.txt").exists()


def test_symlink_inside_workspace_is_followed(ws: Workspace) -> None:
    (ws.root / "real").mkdir()
    (ws.root / "alias").symlink_to(ws.root / "real")
    assert ws.resolve("alias/f.txt") == ws.root / "real" / "f.txt"


def test_must_exist(ws: Workspace) -> None:
    (ws.root / "there.txt").write_text("hi")
    assert ws.resolve("there.txt", must_exist=True) == ws.root / "there.txt"
    assert ws.resolve("missing.txt") == ws.root / "missing.txt"  # fine without must_exist
    with pytest.raises(ToolError) as info:
        ws.resolve("missing.txt", must_exist=True)
    assert info.value.code == "not_found"
    assert "missing.txt" in info.value.message
    # confinement is checked before existence
    with pytest.raises(ToolError) as info:
        ws.resolve("../nope", must_exist=True)
    assert info.value.code == "outside_workspace"


def test_root_is_resolved(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")
    ws = Workspace(tmp_path / "via" / ".." / "via")
    assert ws.root == (tmp_path / "real").resolve()
    assert ws.state_dir == ws.root / ".mlops"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_creates_parents_and_leaves_no_temp_files(ws: Workspace) -> None:
    target = ws.write_text("deep/er/file.txt", "héllo\n")
    assert target == ws.root / "deep" / "er" / "file.txt"
    assert target.read_bytes() == "héllo\n".encode()
    assert _leftovers(target.parent) == []
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_overwrite_keeps_permissions(ws: Workspace) -> None:
    target = ws.write_text("run.sh", "echo 1\n")
    os.chmod(target, 0o750)
    ws.write_text("run.sh", "echo 2\n")
    assert target.read_text() == "echo 2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert _leftovers(ws.root) == []


def test_write_outside_is_refused_and_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ToolError) as info:
        ws.write_bytes("../escape.bin", b"x")
    assert info.value.code == "outside_workspace"
    assert not (tmp_path / "escape.bin").exists()


def test_failure_mid_write_keeps_old_content(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    target = ws.write_text("config.yml", "old: true\n")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        ws.write_text("config.yml", "new: true\n")
    assert target.read_text() == "old: true\n"
    assert _leftovers(ws.root) == []
    assert sorted(p.name for p in ws.root.iterdir()) == ["config.yml"]


def test_failure_mid_write_of_new_file_leaves_nothing(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # BaseException: still cleaned up

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        ws.write_text("new.txt", "data")
    assert list(ws.root.iterdir()) == []


def test_a_cancelled_call_writes_nothing_more(ws: Workspace) -> None:
    import threading

    from mlops_engineer.runtime import ToolContext
    from mlops_engineer.settings import Settings
    from mlops_engineer.workspace import writes_checked_by

    ctx = ToolContext(workspace=ws, settings=Settings(workspace=ws.root))
    with writes_checked_by(ctx.check_cancelled):
        ws.write_text("before.txt", "kept")
        ctx.cancelled.set()
        with pytest.raises(ToolError) as refused:
            ws.write_text("after.txt", "never")
        # Another call (another thread) is not affected by this call's cancel.
        other: list[BaseException | None] = []
        thread = threading.Thread(target=lambda: other.append(_write(ws, "other.txt")))
        thread.start()
        thread.join()
    assert refused.value.code == "cancelled"
    assert sorted(p.name for p in ws.root.iterdir()) == ["before.txt", "other.txt"]
    assert other == [None]


def _write(ws: Workspace, name: str) -> BaseException | None:
    try:
        ws.write_text(name, "x")
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        return exc
    return None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///x.db", "sqlite:///{root}/x.db"),
        ("sqlite:///sub/../y.db?timeout=5", "sqlite:///{root}/y.db?timeout=5"),
        ("sqlite+pysqlite:///s%20p.db", "sqlite+pysqlite:///{root}/s%20p.db"),
        ("sqlite:///{root}/abs.db", "sqlite:///{root}/abs.db"),
        ("file:mlruns", "file://{root}/mlruns"),
        ("file:///{root}/store", "file://{root}/store"),
        ("file://localhost{root}/store", "file://{root}/store"),
        ("mlruns", "{root}/mlruns"),
        ("http://host:5000", "http://host:5000"),
        ("postgresql://u:p@db/x", "postgresql://u:p@db/x"),
        ("s3://bucket/path", "s3://bucket/path"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
    ],
)
def test_resolve_uri_confines_local_stores_to_the_workspace(ws: Workspace, given: str, expected: str) -> None:
    root = str(ws.root)
    assert ws.resolve_uri(given.format(root=root)) == expected.format(root=root)


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("sqlite:////some/outside/evil.db", "outside_workspace"),
        ("sqlite:///../x.db", "outside_workspace"),
        ("sqlite:///%2E%2E/x.db", "outside_workspace"),
        ("sqlite+pysqlite:////tmp/evil.db", "outside_workspace"),
        ("file:///tmp/mlruns", "outside_workspace"),
        ("file:../mlruns", "outside_workspace"),
        ("file:///%2Ftmp/%2E%2E/etc", "outside_workspace"),
        ("/tmp/mlruns", "outside_workspace"),
        ("../mlruns", "outside_workspace"),
        ("sqlite:///file:/tmp/x.db?uri=true", "invalid_input"),
        ("sqlite://host/x.db", "invalid_input"),
        ("sqlite:x.db", "invalid_input"),
        ("file://otherhost/x", "invalid_input"),
    ],
)
def test_resolve_uri_refuses_local_stores_outside(ws: Workspace, given: str, code: str) -> None:
    with pytest.raises(ToolError) as info:
        ws.resolve_uri(given)
    assert info.value.code == code
