"""The pure parts of write_claude_md: which lines are commands, which are safe to run, the marked block."""

from __future__ import annotations

import pytest

from mlops_engineer.tools._write_claude_md import compose
from mlops_engineer.tools._write_claude_md.commands import _inner, markdown_commands, needs_shell, risk

README = """# Project

Install with `uv sync` and test with `uv run pytest -q`; `make` alone is a word.

```bash
$ make test   # the fast suite
uv run --extra dev --python 3.12 pytest \\
    tests/unit -q
cat > cfg.toml <<'EOF'
make not-a-command
EOF
export FOO=1
bash run
npm run build:<target>
```

```python
import os  # not shell
```

```console
npm ci
```
"""


def test_markdown_commands_reads_shell_blocks_and_inline_code() -> None:
    found = markdown_commands(README, set(), inline=True)
    assert found == [
        (3, "uv sync"), (3, "uv run pytest -q"),
        (6, "make test"), (8, "uv run --extra dev --python 3.12 pytest tests/unit -q"),
        (22, "npm ci"),
    ]
    assert [c for _, c in markdown_commands(README, set(), inline=False)] == [
        "make test", "uv run --extra dev --python 3.12 pytest tests/unit -q", "npm ci"]


@pytest.mark.parametrize(("command", "reason"), [
    ("make deploy", "publishes or deploys"),
    ("npm run release:prod", "publishes or deploys"),
    ("make clean", "deletes files or state"),
    ("npm ci", "changes the environment"),
    ("uv sync --all-extras", "changes the environment"),
    ("npm run dev", "may never exit (a server or watcher)"),
    ("docker compose up -d", "may never exit (a server or watcher)"),
    ("make test", None),
    ("uv run pytest tests/test_upload.py", None),  # a file name is not a verb
    ("npm test", None),
])
def test_risky_commands_are_named_by_what_they_would_do(command: str, reason: str | None) -> None:
    assert risk(command.split()) == reason


def test_uv_run_options_are_skipped_to_the_program() -> None:
    assert _inner(["uv", "run", "--extra", "dev", "--all-extras", "-p", "3.12", "pytest", "-q"]) == ["pytest", "-q"]
    assert _inner(["make", "test"]) == ["make", "test"]


@pytest.mark.parametrize(("command", "shell"), [
    ("make test && echo ok", True), ("pytest | tee log", True), ("FOO=1 make", True), ("echo $HOME", True), ("make test", False),
])
def test_shell_syntax_is_recognised(command: str, shell: bool) -> None:
    import shlex

    assert needs_shell(command, shlex.split(command)) is shell


def test_the_marked_block_round_trips_and_a_broken_one_is_none() -> None:
    generated = compose.block("## Commands\n\nx")
    text = f"# T\n\nmine\n\n{generated}\n\nafter\n"
    before, inner, after = compose.split(text)  # type: ignore[misc]
    assert before == "# T\n\nmine\n\n" and inner == "## Commands\n\nx" and after == "\nafter\n"
    assert compose.split(text.replace(compose.END, "")) is None
    assert compose.split(text + compose.BEGIN + "\n") is None
