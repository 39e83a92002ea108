"""Every skill whose SKILL.md has runnable blocks is run end to end against the embedded
default (no MLFLOW_TRACKING_URI: a local SQLite store in the workspace), and again
against a real MLflow tracking server (PostgreSQL + S3 artifacts) when its runnable
blocks use MLflow.

The convention is documented in docs/runnable-procedures.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.procedures.runner import (
    Block,
    check_results,
    extract_runnable_blocks,
    format_failure,
    run_blocks,
    run_procedure,
)

REPO = Path(__file__).resolve().parents[2]
SKILLS_DIR = REPO / "skills"


def _skills_with_runnable_blocks() -> list[Path]:
    found = []
    for skill_md in sorted(SKILLS_DIR.glob("*/SKILL.md")):
        if extract_runnable_blocks(skill_md.read_text(encoding="utf-8")):
            found.append(skill_md)
    return found


def _uses_mlflow(skill_md: Path) -> bool:
    """A procedure whose runnable blocks never mention MLflow would run the same twice."""
    blocks = extract_runnable_blocks(skill_md.read_text(encoding="utf-8"))
    return any("mlflow" in block.code.lower() for block in blocks)


RUNNABLE_SKILLS = _skills_with_runnable_blocks()
SKILL_PARAMS = [pytest.param(p, id=p.parent.name) for p in RUNNABLE_SKILLS]
MLFLOW_SKILL_PARAMS = [pytest.param(p, id=p.parent.name) for p in RUNNABLE_SKILLS if _uses_mlflow(p)]


def _base_env() -> dict[str, str]:
    """This process's environment without anything that says where MLflow or S3 data
    go, so a procedure only sees what the mode under test gives it."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "AWS_"))
        # pytest's own variables (PYTEST_CURRENT_TEST, ...) belong to this process only.
        and not k.startswith("PYTEST_")
    }
    # No internet on test machines: keep MLflow's usage telemetry from trying.
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return env


def _run_and_check(skill_md: Path, workdir: Path, env: Mapping[str, str]) -> None:
    assert not workdir.exists() or not any(workdir.iterdir()), "workspace must start empty"
    results = run_procedure(skill_md, workdir, env)
    expected = len(extract_runnable_blocks(skill_md.read_text(encoding="utf-8")))
    check_results(skill_md.parent.name, results)
    assert len(results) == expected, f"ran {len(results)} of {expected} blocks"
    timings = ", ".join(f"{r.index}:{r.seconds:.1f}s" for r in results)
    total = sum(r.seconds for r in results)
    print(f"{skill_md.parent.name}: {len(results)} blocks in {total:.1f} s ({timings})")


@pytest.mark.parametrize("skill_md", SKILL_PARAMS)
def test_procedure_embedded(skill_md: Path, tmp_path: Path) -> None:
    """No MLFLOW_TRACKING_URI: the procedure must fall back to a local SQLite store."""
    _run_and_check(skill_md, tmp_path / "workspace", _base_env())


@pytest.mark.server
@pytest.mark.parametrize("skill_md", MLFLOW_SKILL_PARAMS)
def test_procedure_server(skill_md: Path, tmp_path: Path, mlflow_server, s3_server) -> None:
    """MLFLOW_TRACKING_URI points at a real tracking server (PostgreSQL + S3)."""
    env = _base_env()
    env.update(s3_server.env())
    env["MLFLOW_TRACKING_URI"] = mlflow_server.tracking_uri
    _run_and_check(skill_md, tmp_path / "workspace", env)


# --- the runner itself -----------------------------------------------------------

SNIPPET = """\
# Demo

```bash run
export GREETING="hello from block 1"
mkdir -p sub && cd sub
```

Illustrative only, never run:

```bash
exit 1
```

```python run
import os, pathlib
assert os.environ["GREETING"] == "hello from block 1"
assert pathlib.Path.cwd().name == "sub"
pathlib.Path("seen.txt").write_text(os.environ["GREETING"])
```

````markdown
```bash run
echo "nested in an example: not runnable"
```
````

```bash run
test "$(cat seen.txt)" = "$GREETING"
echo "about to fail" >&2
false
echo "never printed"
```

```python run
raise SystemExit("must not run after a failure")
```
"""


def test_extract_runnable_blocks() -> None:
    blocks = extract_runnable_blocks(SNIPPET)
    assert [b.lang for b in blocks] == ["bash", "python", "bash", "python"]
    assert blocks[0].first_line == 'export GREETING="hello from block 1"'
    assert blocks[0].line == 3
    assert all("nested in an example" not in b.code for b in blocks)
    assert extract_runnable_blocks("```bash\nls\n```\n```python\nx = 1\n```\n") == []
    assert extract_runnable_blocks("  ```sh run\n  echo hi\n  ```\n") == [
        Block("bash", "echo hi\n", 1)
    ]


def test_runner_carries_env_and_reports_failing_block(tmp_path: Path) -> None:
    results = run_blocks(extract_runnable_blocks(SNIPPET), tmp_path / "ws", _base_env(),
                         timeout=60)
    assert [r.ok for r in results] == [True, True, False]  # block 4 never ran
    assert results[0].env_after["GREETING"] == "hello from block 1"
    assert (tmp_path / "ws" / "sub" / "seen.txt").read_text() == "hello from block 1"
    failed = results[-1]
    assert failed.index == 3 and failed.returncode == 1
    message = format_failure("demo-skill", failed)
    assert "demo-skill: runnable block 3" in message
    assert "first line: test \"$(cat seen.txt)\" = \"$GREETING\"" in message
    assert "about to fail" in message and "never printed" not in message
    with pytest.raises(AssertionError, match=re.escape("runnable block 3 (bash")):
        check_results("demo-skill", results)


def test_runner_times_out(tmp_path: Path) -> None:
    results = run_blocks([Block("bash", "sleep 30\n", 1)], tmp_path, _base_env(), timeout=1)
    assert results[0].timed_out and not results[0].ok
    assert "timed out" in format_failure("demo-skill", results[0])


def test_python_blocks_use_this_interpreter(tmp_path: Path) -> None:
    import sys

    code = (
        "import sys, shutil, pathlib\n"
        f"assert sys.executable == {sys.executable!r}\n"
        f"assert pathlib.Path(shutil.which('python')).parent == pathlib.Path({sys.executable!r}).parent\n"
    )
    results = run_blocks([Block("python", code, 1)], tmp_path, {"PATH": "/usr/bin:/bin"})
    assert results[0].ok, format_failure("demo-skill", results[0])
