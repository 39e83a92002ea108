"""commit_changes on real git repositories in tmp folders, with bare repositories as remotes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.commit_changes import TOOL
from tests.helpers import ToolRunner


def git(repo: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, input=input).stdout


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    return root


@pytest.fixture
def run(ws: Path):  # noqa: ANN201
    runner = ToolRunner(ws)

    def call(operation: dict[str, Any], **fields: Any) -> Any:
        return runner(TOOL, operation, **fields)

    return call


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def index_state(repo: Path) -> tuple[str, str]:
    """The index as git sees it: its tree and the staged diff."""
    return git(repo, "write-tree"), git(repo, "diff", "--cached", "--no-color")


def first_commit(ws: Path) -> None:
    write(ws, "README.md", "# Project\n")
    git(ws, "add", "README.md")
    git(ws, "commit", "-q", "-m", "docs: add readme")


def test_stage_takes_only_named_paths_and_commit_only_the_index(ws: Path, run) -> None:
    first_commit(ws)
    write(ws, "src/a.py", "def a():\n    return 1\n")
    write(ws, "src/b.py", "def b():\n    return 2\n")
    write(ws, "README.md", "# Project\n\nMore.\n")
    out = run({"action": "stage", "paths": ["src/a.py"]})
    assert [e.path for e in out.staged] == ["src/a.py"]
    assert "src/b.py" in out.untracked and [e.path for e in out.unstaged] == ["README.md"]
    out = run({"action": "commit", "message": "feat(src): add a"})
    assert out.created and [e.path for e in out.committed] == ["src/a.py"]
    assert git(ws, "show", "--name-only", "--format=", "HEAD").split() == ["src/a.py"]
    assert "src/b.py" in out.untracked and [e.path for e in out.unstaged] == ["README.md"]
    # The same call again finds its commit instead of failing or committing twice.
    again = run({"action": "commit", "message": "feat(src): add a"})
    assert again.commit == out.commit and not again.created
    with pytest.raises(ToolError) as err:
        run({"action": "commit", "message": "feat(src): add b"})
    assert err.value.code == "invalid_input" and "Nothing is staged" in err.value.message


@pytest.mark.parametrize("paths", [["../outside.txt"], ["--all"], ["--upload-pack=touch /tmp/pwned"], ["/etc/hostname"]])
def test_paths_outside_or_disguised_as_options_are_refused(ws: Path, run, paths: list[str]) -> None:
    write(ws, "a.txt", "a\n")
    with pytest.raises(ToolError) as err:
        run({"action": "stage", "paths": paths})
    assert err.value.code in ("outside_workspace", "invalid_input")
    assert git(ws, "diff", "--cached", "--name-only") == ""


def test_a_range_cannot_smuggle_an_option(ws: Path, run) -> None:
    first_commit(ws)
    for bad in ["--output=/tmp/x", "-n1", "HEAD --all"]:
        with pytest.raises(ToolError) as err:
            run({"action": "check_messages", "range": bad})
        assert err.value.code == "invalid_input"


def test_unstage_before_and_after_the_first_commit(ws: Path, run) -> None:
    write(ws, "a.txt", "a\n")
    write(ws, "b.txt", "b\n")
    run({"action": "stage", "paths": ["a.txt", "b.txt"]})
    out = run({"action": "unstage", "paths": ["b.txt"]})
    assert [e.path for e in out.staged] == ["a.txt"] and "b.txt" in out.untracked
    run({"action": "commit", "message": "chore: add a"})
    write(ws, "a.txt", "changed\n")
    run({"action": "stage", "paths": ["a.txt"]})
    out = run({"action": "unstage"})
    assert out.staged == [] and [e.path for e in out.unstaged] == ["a.txt"]
    assert (ws / "a.txt").read_text() == "changed\n", "the file keeps its change"


def test_stage_hunks_by_pattern(ws: Path, run) -> None:
    lines = [f"line {i}" for i in range(40)]
    write(ws, "params.py", "\n".join(lines) + "\n")
    git(ws, "add", "params.py")
    git(ws, "commit", "-q", "-m", "chore: params")
    lines[2] = "learning_rate = 0.1"
    lines[30] = "batch_size = 64"
    write(ws, "params.py", "\n".join(lines) + "\n")
    write(ws, "notes.txt", "nothing relevant\n")
    write(ws, "lr.txt", "learning_rate here\n")
    planned = run({"action": "stage", "paths": ["."], "pattern": "learning_rate"}, dry_run=True)
    assert planned.hunks_staged == 2 and git(ws, "diff", "--cached") == ""
    out = run({"action": "stage", "paths": ["."], "pattern": "learning_rate"})
    assert (out.hunks_staged, out.hunks_total) == (2, 4)
    staged = git(ws, "diff", "--cached")
    assert "+learning_rate = 0.1" in staged and "batch_size" not in staged
    assert git(ws, "diff", "--cached", "--name-only").split() == ["lr.txt", "params.py"]
    assert "+batch_size = 64" in git(ws, "diff"), "the other hunk stays in the working tree, unstaged"


SECRETS = {
    "key.txt": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    "aws.cfg": "aws_access_key_id = AKIAIOSFODNN7EXAMPLQ\n",
    "ci.yml": "token: ghp_0123456789abcdefghijABCDEFGHIJ012345\n",
    "slack.py": 'SLACK = "xoxb-123456789012-abcdefghijkl"\n',
    "db.py": 'URL = "postgresql://ml:hunter2pass@db.internal/ml"\n',
    "settings.py": 'password = "s3cr3t-Value-42"\n',
    ".env": "HOST=localhost\n",
}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_secrets_are_refused_unless_confirmed_and_never_echoed(ws: Path, run, name: str) -> None:
    write(ws, name, SECRETS[name])
    git(ws, "add", "--", name)
    before = index_state(ws)
    with pytest.raises(ToolError) as err:
        run({"action": "commit", "message": "chore: add config"})
    assert err.value.code == "needs_confirm" and name in err.value.message
    for secret in ("b3BlbnNzaC1rZXktdjEAAAAA", "IOSFODNN7EXAMPLQ", "abcdefghijABCDEFGHIJ", "abcdefghijkl", "hunter2pass", "s3cr3t-Value"):
        assert secret not in str(err.value)
    assert index_state(ws) == before and git(ws, "rev-list", "--all") == ""
    out = run({"action": "commit", "message": "chore: add config"}, confirm=True)
    assert out.created and out.secrets


def test_placeholders_and_allowlisted_lines_pass(ws: Path, run) -> None:
    write(ws, "settings.py", 'password = os.environ["DB_PASSWORD"]\ntoken = "${API_TOKEN}"\n'
          'api_key = "AKIAIOSFODNN7EXAMPLQ"  # pragma: allowlist secret\n')
    write(ws, ".env.example", "API_TOKEN=\n")
    git(ws, "add", "settings.py", ".env.example")
    out = run({"action": "commit", "message": "chore: read secrets from the environment"})
    assert out.created and out.secrets == []


def test_removing_a_secret_is_not_blocked(ws: Path, run) -> None:
    write(ws, "aws.cfg", SECRETS["aws.cfg"])
    git(ws, "add", "aws.cfg")
    git(ws, "commit", "-q", "-m", "chore: oops")
    write(ws, "aws.cfg", "# moved to the environment\n")
    run({"action": "stage", "paths": ["aws.cfg"]})
    assert run({"action": "commit", "message": "fix: drop the leaked key"}).created


def test_the_diff_masks_secrets_and_long_diffs_go_to_a_file(ws: Path, run) -> None:
    write(ws, "aws.cfg", SECRETS["aws.cfg"] + "x = 1\n" * 3000)
    run({"action": "stage", "paths": ["aws.cfg"]})
    out = run({"action": "diff", "which": "staged", "max_chars": 1000})
    assert "IOSFODNN7EXAMPLQ" not in out.diff and "AKIA***" in out.diff
    assert out.diff_file and len(out.diff) < 1200
    saved = (ws / out.diff_file).read_text()
    assert len(saved) == out.diff_chars and "IOSFODNN7EXAMPLQ" not in saved
    assert ".mlops" not in git(ws, "status", "--porcelain"), "result files stay out of git status"


def test_large_and_data_files_point_to_dvc(ws: Path, run) -> None:
    write(ws, "data/train.csv", "a,b\n" + "1,2\n" * 300_000)  # 1.2 MB: over the 1 MB data limit
    run({"action": "stage", "paths": ["data/train.csv"]})
    with pytest.raises(ToolError) as err:
        run({"action": "commit", "message": "feat(data): add training data"}, confirm=True)
    assert err.value.code == "invalid_input" and "data/train.csv" in err.value.message
    assert "version_ml_data" in err.value.hint
    plan = run({"action": "commit", "message": "feat(data): add training data"}, dry_run=True)
    assert plan.dry_run and plan.large_files[0].path == "data/train.csv" and git(ws, "rev-list", "--all") == ""
    out = run({"action": "commit", "message": "feat(data): add training data", "max_data_file_mb": 5})
    assert out.created


def test_messages_failing_the_convention_are_refused(ws: Path, run) -> None:
    write(ws, "a.py", "x = 1\n")
    run({"action": "stage", "paths": ["a.py"]})
    with pytest.raises(ToolError) as err:
        run({"action": "commit", "message": "Added stuff."})
    assert err.value.code == "invalid_input" and "type-empty" in err.value.message
    with pytest.raises(ToolError) as err:
        run({"action": "commit", "message": "bump: version 1.0.0 → 1.1.0"})
    assert "type-enum" in err.value.message
    # commitizen's rules know `bump`; "none" checks nothing but emptiness.
    assert run({"action": "commit", "message": "bump: version 1.0.0 → 1.1.0", "convention": "commitizen"}).created


def _hook(ws: Path, name: str, body: str) -> None:
    path = ws / ".git" / "hooks" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_a_failing_pre_commit_hook_leaves_the_index_as_it_was(ws: Path, run) -> None:
    first_commit(ws)
    write(ws, "train.py", "print('debug')\n")
    write(ws, "other.txt", "not staged\n")
    run({"action": "stage", "paths": ["train.py"]})
    # A hook that re-stages things (as formatters do) and then fails.
    _hook(ws, "pre-commit", "git add other.txt\necho 'lint: train.py:1 print() left in code' >&2\nexit 1\n")
    before = index_state(ws)
    with pytest.raises(ToolError) as err:
        run({"action": "commit", "message": "feat: add training"})
    assert "print() left in code" in err.value.message and "index was restored" in err.value.message
    assert index_state(ws) == before and git(ws, "rev-list", "--count", "HEAD") == "1\n"
    # Fix and retry: the same call now goes through.
    _hook(ws, "pre-commit", "exit 0\n")
    out = run({"action": "commit", "message": "feat: add training"})
    assert out.created and [e.path for e in out.committed] == ["train.py"]


def test_commit_msg_hook_runs_and_other_hooks_do_not(ws: Path, run) -> None:
    marker = ws.parent / "hooks.log"
    _hook(ws, "commit-msg", f"echo commit-msg >> '{marker}'\n")
    _hook(ws, "post-commit", f"echo post-commit >> '{marker}'\n")
    _hook(ws, "prepare-commit-msg", f"echo prepare >> '{marker}'\n")
    write(ws, "a.txt", "a\n")
    run({"action": "stage", "paths": ["a.txt"]})
    run({"action": "commit", "message": "chore: add a"})
    assert marker.read_text() == "commit-msg\n"
    write(ws, "b.txt", "b\n")
    run({"action": "stage", "paths": ["b.txt"]})
    run({"action": "commit", "message": "chore: add b", "run_hooks": False})
    assert marker.read_text() == "commit-msg\n"


def test_amend_needs_confirm_once_head_is_pushed(ws: Path, run, tmp_path: Path) -> None:
    first_commit(ws)
    write(ws, "a.txt", "a\n")
    run({"action": "stage", "paths": ["a.txt"]})
    run({"action": "commit", "message": "feat: add a"})
    write(ws, "a.txt", "a, fixed\n")
    run({"action": "stage", "paths": ["a.txt"]})
    out = run({"action": "amend"})  # local HEAD: no confirm needed; the message is kept
    assert out.created and out.message == "feat: add a\n" and git(ws, "rev-list", "--count", "HEAD") == "2\n"
    assert run({"action": "amend"}).created is False, "nothing staged, same message: nothing to do"

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(ws, "remote", "add", "origin", str(remote))
    git(ws, "push", "-q", "-u", "origin", "main")
    pushed_head = git(ws, "rev-parse", "HEAD").strip()
    with pytest.raises(ToolError) as err:
        run({"action": "amend", "message": "feat: add a, reworded"})
    assert err.value.code == "needs_confirm" and "origin/main" in err.value.message
    assert git(ws, "rev-parse", "HEAD").strip() == pushed_head
    out = run({"action": "amend", "message": "feat: add a, reworded"}, confirm=True)
    assert out.created and out.commit != pushed_head and out.ahead == 1 and out.behind == 1
    assert git(remote, "rev-parse", "main").strip() == pushed_head, "the remote is untouched"


def test_message_proposals(ws: Path, run) -> None:
    first_commit(ws)
    write(ws, "docs/usage.md", "# Usage\n")
    run({"action": "stage", "paths": ["docs/usage.md"]})
    out = run({"action": "message"})
    assert out.message.startswith("docs(docs): add usage.md") and out.check.valid
    run({"action": "commit"})  # no message: the proposal is used
    assert git(ws, "log", "-1", "--format=%s").strip() == "docs(docs): add usage.md"

    write(ws, "src/churn/model.py", "def fit(x):\n    return x\n\n\ndef predict(x):\n    return x\n")
    run({"action": "stage", "paths": ["src/churn/model.py"]})
    out = run({"action": "message"})
    assert (out.type, out.scope, out.breaking) == ("feat", "churn", None) and "fit" in out.message
    run({"action": "commit"})

    write(ws, "src/churn/model.py", "def fit(x):\n    return x\n")
    run({"action": "stage", "paths": ["src/churn/model.py"]})
    out = run({"action": "message"})
    assert out.breaking and "predict" in out.breaking and out.message.startswith("refactor(churn)!:")
    assert "\n\nBREAKING CHANGE: removes predict" in out.message
    assert out.check.valid and out.reasons
    custom = run({"action": "message", "type": "perf", "subject": "drop the slow predict path", "convention": "commitizen"})
    assert custom.message.startswith("perf(churn)!: drop the slow predict path") and custom.check.valid


def test_check_messages_over_a_range(ws: Path, run) -> None:
    first_commit(ws)
    git(ws, "switch", "-q", "-c", "feature")
    for message in ["feat: add x", "Fixed a bug.", "fix(api): handle empty input", "WIP"]:
        git(ws, "commit", "-q", "--allow-empty", "-m", message)
    out = run({"action": "check_messages", "range": "main..HEAD"})
    assert out.checked == 4 and out.invalid.total_rows == 2
    assert {row["header"] for row in out.invalid.rows} == {"Fixed a bug.", "WIP"}
    cz = run({"action": "check_messages", "range": "main..feature", "convention": "commitizen"})
    assert cz.invalid.total_rows == 2


def test_status_dry_run_and_a_repo_outside_the_workspace(ws: Path, run, tmp_path: Path) -> None:
    write(ws, "a.txt", "a\n")
    planned = run({"action": "stage", "paths": ["a.txt"]}, dry_run=True)
    assert planned.dry_run and planned.staged == [] and "git add -- a.txt" in planned.planned_calls[0]
    out = run({"action": "status"})
    assert out.branch == "main" and out.head is None and out.untracked == ["a.txt"]
    with pytest.raises(ToolError) as err:
        run({"action": "status"}, repo="../")
    assert err.value.code == "outside_workspace"


def test_a_cancelled_commit_leaves_no_commit_and_the_index_as_it_was(ws: Path) -> None:
    import threading

    runner = ToolRunner(ws)
    first_commit(ws)
    write(ws, "a.txt", "a\n")
    write(ws, "b.txt", "b\n")
    git(ws, "add", "a.txt")
    _hook(ws, "pre-commit", "git add b.txt\nsleep 30\n")
    before = index_state(ws)
    threading.Timer(1.0, runner.ctx.cancelled.set).start()
    with pytest.raises(ToolError) as err:
        runner(TOOL, {"action": "commit", "message": "chore: add a"})
    assert err.value.code == "cancelled"
    assert index_state(ws) == before and git(ws, "rev-list", "--count", "HEAD") == "1\n"
    assert not (ws / ".git" / "index.lock").exists()


def test_the_next_call_cleans_up_after_a_commit_killed_mid_way(ws: Path, run) -> None:
    from mlops_engineer.locks import owner

    first_commit(ws)
    dead = subprocess.Popen(["true"])
    dead.wait()
    # What a server killed during `git commit` leaves: its record, and git's index.lock.
    (ws / ".git" / "mlops-commit.owner").write_text(f"{owner(dead.pid)} {dead.pid}\n")
    (ws / ".git" / "index.lock").write_text("")
    write(ws, "a.txt", "a\n")
    # git add itself would stop at the stale lock: stage through the index file git left unlocked.
    (ws / ".git" / "index.lock").rename(ws / ".git" / "index.lock.keep")
    git(ws, "add", "a.txt")
    (ws / ".git" / "index.lock.keep").rename(ws / ".git" / "index.lock")
    out = run({"action": "commit", "message": "chore: add a"})
    assert out.created and out.recovered and "index.lock" in out.recovered[0]
    assert not (ws / ".git" / "index.lock").exists() and not (ws / ".git" / "mlops-commit.owner").exists()


def test_a_lock_held_by_someone_elses_git_is_left_alone(ws: Path, run) -> None:
    first_commit(ws)
    write(ws, "a.txt", "a\n")
    git(ws, "add", "a.txt")
    (ws / ".git" / "index.lock").write_text("")
    with pytest.raises(ToolError) as err:
        run({"action": "commit", "message": "chore: add a"})
    assert "index.lock" in err.value.message and (ws / ".git" / "index.lock").exists()
