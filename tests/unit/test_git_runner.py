"""The shared git runner: allow-list, smuggled options, hooks, confinement, bounds, cancellation."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from mlops_engineer.engines.git.runner import (
    GitError,
    check_pathspec,
    check_ref_name,
    repo_root,
    run_git,
)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "t@example.com")
    _git(root, "config", "user.name", "T")
    (root / "a.txt").write_text("a\n")
    return root


def test_subcommands_and_options_outside_the_allow_list_are_refused(repo: Path) -> None:
    with pytest.raises(GitError, match="not allowed"):
        run_git(repo, ["filter-branch"])
    with pytest.raises(GitError, match="not allowed"):
        run_git(repo, ["fetch", "--upload-pack=touch /tmp/pwned", "origin"])
    with pytest.raises(GitError, match="not allowed"):
        run_git(repo, ["diff", "--output=/tmp/x"])
    # After `--` everything is a path, so a file named like an option is harmless.
    assert run_git(repo, ["status", "--porcelain=v1", "--", "--upload-pack=x"]).ok


@pytest.mark.parametrize("name", ["--upload-pack=touch x", "-D", "a..b", "a b", "x.lock", ".hidden", "a/", "@", "a@{1}", "", "a:b"])
def test_bad_ref_names_are_refused(name: str) -> None:
    with pytest.raises(GitError):
        check_ref_name(name)


def test_good_ref_names_pass() -> None:
    assert check_ref_name("feature/add-x_1.2") == "feature/add-x_1.2"


def test_pathspecs_stay_in_the_workspace(repo: Path, tmp_path: Path) -> None:
    assert check_pathspec("a.txt", repo, repo) == "a.txt"
    assert check_pathspec("gone/deleted.txt", repo, repo) == "gone/deleted.txt"
    for bad in ["../x", str(tmp_path / "other"), "-A", "--all"]:
        with pytest.raises(GitError):
            check_pathspec(bad, repo, repo)
    (repo / "out").symlink_to(tmp_path)
    with pytest.raises(GitError):
        check_pathspec("out/x", repo, repo)


def test_hooks_run_only_when_named(repo: Path) -> None:
    marker = repo / "ran.txt"
    for hook in ("pre-commit", "post-commit"):
        path = repo / ".git" / "hooks" / hook
        path.write_text(f"#!/bin/sh\necho {hook} >> '{marker}'\n")
        path.chmod(0o755)
    _git(repo, "add", "a.txt")
    run_git(repo, ["commit", "-q", "--file=-"], input_text="chore: one\n")
    assert not marker.exists()
    (repo / "a.txt").write_text("b\n")
    _git(repo, "add", "a.txt")
    run_git(repo, ["commit", "-q", "--file=-"], input_text="chore: two\n", allow_hooks=("pre-commit",))
    assert marker.read_text() == "pre-commit\n"  # post-commit was not named, so it did not run


def test_output_is_bounded_and_can_go_to_a_file(repo: Path, tmp_path: Path) -> None:
    (repo / "big.txt").write_text("x\n" * 100_000)
    _git(repo, "add", "big.txt")
    result = run_git(repo, ["diff", "--cached", "--no-color"], max_output=1000)
    assert result.truncated and len(result.stdout) <= 1000
    target = tmp_path / "diff.patch"
    result = run_git(repo, ["diff", "--cached", "--no-color"], stdout_to=target)
    assert result.stdout == "" and target.stat().st_size > 100_000


def test_failures_carry_gits_message(repo: Path) -> None:
    with pytest.raises(GitError, match="unknown revision|bad revision|ambiguous") as info:
        run_git(repo, ["log", "--format=%H", "nope"])
    assert info.value.returncode and info.value.code == "failed"
    assert not run_git(repo, ["log", "--format=%H", "nope"], check=False).ok


def test_cancellation_kills_git(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nsleep 30\n")
    hook.chmod(0o755)
    _git(repo, "add", "a.txt")
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()

    def check() -> None:
        if stop.is_set():
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        run_git(repo, ["commit", "-q", "--file=-"], input_text="x\n", allow_hooks=("pre-commit",), check_cancelled=check)
    assert _git(repo, "rev-list", "--all") == ""


def test_discovery_stops_at_the_workspace(repo: Path) -> None:
    inner = repo / "sub" / "ws"
    inner.mkdir(parents=True)
    assert repo_root(repo / "sub", repo) == repo.resolve()
    with pytest.raises(GitError) as info:
        repo_root(inner, inner)  # the repository above the workspace is not seen
    assert info.value.code == "not_found"
