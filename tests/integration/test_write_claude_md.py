"""write_claude_md on real project folders: real make, npm, git and Python commands, and skillsaw
(an independent linter for agent context files) as the oracle on what we write."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.write_claude_md import TOOL
from tests.helpers import ToolRunner

REPO_ROOT = Path(__file__).resolve().parents[2]
SKILLSAW = shutil.which("skillsaw", path=str(Path(sys.executable).parent)) or shutil.which("skillsaw")
NODE = shutil.which("npm") is not None


@pytest.fixture
def runner(tmp_path: Path) -> ToolRunner:
    return ToolRunner(tmp_path)


def make_project(root: Path) -> Path:
    """pyproject with a console script and pytest config, a Makefile, a README with shell
    blocks, AGENTS.md, and a sub-project with its own package.json."""
    project = root / "proj"
    (project / "src" / "churn").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "web").mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "churn-service"\nversion = "0.1.0"\n\n[project.scripts]\nchurn = "churn.cli:main"\n\n'
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
    )
    (project / "Makefile").write_text(
        "check:\n\tpython3 -c 'print(42)'\n"
        "broken:\n\tpython3 -c 'raise SystemExit(3)'\n"
        "deploy:\n\ttouch deployed.marker\n"
    )
    (project / "README.md").write_text(
        "# Churn service\n\nThe churn service scores customers every night and stores the scores in the warehouse.\n\n"
        "```bash\nmake check\npython3 scripts/old_train.py\npython3 tools/ok.py && echo done\n"
        "cat > x.txt <<'EOF'\nmake not-a-command\nEOF\n```\n\n`bash run` is a name, not a command.\n"
    )
    (project / "AGENTS.md").write_text("# Agents\n\n- Branch names: feature/<ticket>.\n- Run `make check` before committing.\n")
    (project / "src/churn/__init__.py").write_text('"""Churn."""\n')
    (project / "tests/test_ok.py").write_text("def test_ok():\n    assert True\n")
    (project / "web/package.json").write_text(json.dumps({"name": "web", "private": True, "scripts": {
        "test": "node -e \"process.exit(0)\"", "lint": "node -e \"process.exit(4)\""}}))
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return project


def skillsaw_errors(project: Path) -> list[dict]:
    assert SKILLSAW, "skillsaw is a dev dependency: uv sync (it is in the dev group)"
    done = subprocess.run([SKILLSAW, "lint", "--format", "json", "--no-progress", str(project)],
                          capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout)
    return [v for v in report["violations"] if v["severity"] == "error"]


def by_command(out) -> dict:  # noqa: ANN001
    return {c.command: c for c in out.commands}


def test_draft_checks_statically_imports_agents_and_passes_skillsaw(runner: ToolRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    out = runner(TOOL, {"action": "draft", "project": "proj", "notes": ["Customer ids are strings: never cast them to int."]})
    checks = by_command(out)
    assert checks["make check"].status == "checked"
    assert checks["python3 scripts/old_train.py"].status == "missing" and not checks["python3 scripts/old_train.py"].written
    assert "scripts/old_train.py does not exist" in checks["python3 scripts/old_train.py"].reason
    assert "make not-a-command" not in checks and "bash run" not in checks  # heredoc body, prose
    # The console script is declared but not installed, and nothing would install it (no uv.lock).
    assert checks["churn --help"].status == "missing"
    text = (project / "CLAUDE.md").read_text()
    assert text.count("@AGENTS.md") == 1
    assert "make check" not in text  # AGENTS.md says it: imported, never repeated
    assert "make broken" in text and "make deploy" in text  # checked statically, not run
    assert "feature/<ticket>" not in text
    assert "scores customers every night" not in text  # nothing restated from the README
    assert "Customer ids are strings" in text
    assert len(text.splitlines()) <= 100
    rule = (project / ".claude/rules/web.md").read_text()
    assert rule.startswith('---\npaths:\n  - "web/**"\n---\n') and "npm test" in rule and "npm run lint" in rule
    assert skillsaw_errors(project) == []
    audit = runner(TOOL, {"action": "audit", "project": "proj"})
    assert audit.errors == 0 and audit.warnings == 0, audit.findings

    again = runner(TOOL, {"action": "draft", "project": "proj", "notes": ["Customer ids are strings: never cast them to int."]})
    assert [f.action for f in again.files] == ["unchanged", "unchanged"]


@pytest.mark.skipif(not NODE, reason="npm is not installed")
def test_run_commands_needs_consent_writes_only_what_passed_and_kills_on_timeout(runner: ToolRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    # A slow command whose child would outlive a plain kill: it records the child's pid.
    (project / "slow.py").write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "open('child.pid', 'w').write(str(child.pid))\ntime.sleep(60)\n"
    )
    with (project / "README.md").open("a") as readme:
        readme.write("\n```bash\npython3 slow.py\n```\n")
    # pytest's start-up on a busy machine could reach the short timeout: it is skipped here.
    op = {"action": "draft", "project": "proj", "run_commands": True, "timeout_seconds": 8, "skip_commands": ["pytest"]}

    with pytest.raises(ToolError) as refused:
        runner(TOOL, op)
    assert refused.value.code == "needs_confirm" and "make check" in refused.value.message
    assert "make deploy" not in refused.value.message  # never planned: it deploys
    assert not (project / "CLAUDE.md").exists()

    plan = runner(TOOL, op, dry_run=True)
    assert by_command(plan)["make check"].status == "planned"
    assert not (project / "child.pid").exists() and not (project / "CLAUDE.md").exists()

    out = runner(TOOL, op, confirm=True)
    checks = by_command(out)
    assert checks["make broken"].status == "failed" and checks["make broken"].exit_code == 2 and not checks["make broken"].written
    assert checks["make deploy"].status == "checked" and "deploys" in checks["make deploy"].reason
    assert not (project / "deployed.marker").exists()
    assert checks["make check"].status == "passed" and not checks["make check"].written  # AGENTS.md has it
    assert checks["pytest"].status == "checked" and checks["pytest"].reason == "in skip_commands: not run" and checks["pytest"].written
    assert checks["npm test"].status == "passed" and checks["npm test"].cwd == "proj/web"
    assert checks["npm run lint"].status == "failed" and checks["npm run lint"].exit_code == 4
    assert checks["python3 tools/ok.py && echo done"].status in ("missing", "checked")  # shell syntax: never run
    slow = checks["python3 slow.py"]
    assert slow.status == "timed_out" and slow.written
    text = (project / "CLAUDE.md").read_text()
    assert "make broken" not in text and "python3 slow.py  # still running after 8 s" in text
    assert "npm run lint" not in (project / ".claude/rules/web.md").read_text()
    # The whole process group died with the timeout, grandchild included.
    child = int((project / "child.pid").read_text())
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child)
    assert skillsaw_errors(project) == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def test_update_keeps_hand_edits_and_asks_before_replacing_an_edited_block(runner: ToolRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    runner(TOOL, {"action": "draft", "project": "proj"})
    path = project / "CLAUDE.md"
    path.write_text(path.read_text() + "\n## Conventions\n\n- Scores are probabilities in [0, 1].\n")
    (project / "Makefile").write_text((project / "Makefile").read_text() + "lint:\n\tpython3 -c 'print(0)'\n")

    out = runner(TOOL, {"action": "update", "project": "proj"})
    assert out.files[0].action == "update" and "+make lint" in out.files[0].diff
    text = path.read_text()
    assert "make lint" in text and "Scores are probabilities" in text
    assert runner(TOOL, {"action": "update", "project": "proj"}).files[0].action == "unchanged"

    path.write_text(text.replace("## Layout", "## Layout (hand edit)"))
    with pytest.raises(ToolError) as refused:
        runner(TOOL, {"action": "update", "project": "proj"})
    assert refused.value.code == "needs_confirm" and "(hand edit)" in path.read_text()
    plan = runner(TOOL, {"action": "update", "project": "proj"}, dry_run=True)
    assert plan.files[0].action == "overwrite" and "-## Layout (hand edit)" in plan.files[0].diff
    runner(TOOL, {"action": "update", "project": "proj"}, confirm=True)
    assert "(hand edit)" not in path.read_text() and "Scores are probabilities" in path.read_text()

    # A hand-written file without a block: draft will not replace it, update appends the block only with confirm.
    path.write_text("# Churn\n\nWritten by hand.\n")
    with pytest.raises(ToolError) as replace:
        runner(TOOL, {"action": "draft", "project": "proj"})
    assert replace.value.code == "needs_confirm" and "action update" in replace.value.hint
    with pytest.raises(ToolError):
        runner(TOOL, {"action": "update", "project": "proj"})
    runner(TOOL, {"action": "update", "project": "proj"}, confirm=True)
    text = path.read_text()
    assert text.startswith("# Churn\n\nWritten by hand.\n\n<!-- write_claude_md: begin")
    assert skillsaw_errors(project) == []


def test_draft_writes_folder_rules_with_paths_frontmatter(runner: ToolRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    rules = [{"name": "api", "paths": ["src/churn/**", "tests/**"], "lines": ["Handlers return typed models, never dicts."]}]
    out = runner(TOOL, {"action": "draft", "project": "proj", "rules": rules})
    assert "proj/.claude/rules/api.md" in {f.path for f in out.files}
    text = (project / ".claude/rules/api.md").read_text()
    assert text.startswith('---\npaths:\n  - "src/churn/**"\n  - "tests/**"\n---\n')
    assert "- Handlers return typed models, never dicts." in text
    assert skillsaw_errors(project) == []
    assert runner(TOOL, {"action": "audit", "project": "proj"}).errors == 0


def test_audit_finds_stale_commands_paths_secrets_contradictions_and_copies(runner: ToolRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / ".claude/rules").mkdir(parents=True)
    (project / ".claude/rules/bad.md").write_text("---\npaths: src/**\nowner: me\n---\n\nRule.\n")
    (project / ".claude/rules/none.md").write_text('---\npaths:\n  - "nowhere/**"\n---\n\nRule.\n')
    (project / ".claude/rules/notes.txt").write_text("not markdown\n")
    secret = "AKIA" + "ABCDEFGHIJKLMNOP"
    (project / "CLAUDE.md").write_text(
        "# Churn\n\n@docs/missing.md\n\n```bash\nmake check\nmake lint\npython3 scripts/old_train.py\nnpm run build\n```\n\n"
        f"- The code lives in `src/churn/` and `src/gone/models.py`; logs in `.cache/run.log`.\n"
        f"- AWS key for the bucket: {secret}\n"
        "- Always use the staging bucket.\n- Never use the staging bucket.\n"
        "The churn service scores customers every night and stores the scores in the warehouse.\n"
        "- Run `npm ci` in the web folder.\n"
    )
    out = runner(TOOL, {"action": "audit", "project": "proj", "max_lines": 20})
    kinds = {(f.kind, f.severity) for f in out.findings}
    messages = " | ".join(f.message for f in out.findings)
    assert ("stale_command", "error") in kinds and "no make target 'lint'" in messages
    assert "scripts/old_train.py does not exist" in messages
    assert by_command(out)["make check"].status == "checked"
    assert by_command(out)["npm ci"].cwd == "proj/web"  # found where it works: the sub-project
    assert ("missing_path", "error") in kinds and "src/gone/models.py" in messages
    assert "src/churn/" not in messages
    assert ("bad_import", "error") in kinds and ("secret", "error") in kinds
    assert secret not in out.model_dump_json()
    assert ("contradiction", "warning") in kinds and ("duplicates_readme", "warning") in kinds
    assert ("agents_import", "warning") in kinds
    bad_rules = [f.message for f in out.findings if f.kind == "bad_rule"]
    assert any("bad.md" in m and "owner" in m for m in bad_rules) and any("notes.txt" in m for m in bad_rules)
    assert any("nowhere/**" in m for m in bad_rules)
    assert not any(f.kind == "length" for f in out.findings)
    long = runner(TOOL, {"action": "audit", "project": "proj", "max_lines": 20, "file": "CLAUDE.md"})
    assert long.lines == len((project / "CLAUDE.md").read_text().splitlines())

    (project / "CLAUDE.md").write_text("# Churn\n\n" + "- a line\n" * 30)
    length = runner(TOOL, {"action": "audit", "project": "proj", "max_lines": 20})
    assert [f.severity for f in length.findings if f.kind == "length"] == ["warning"]


def test_audit_runs_commands_only_with_consent(runner: ToolRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "CLAUDE.md").write_text("# Churn\n\n@AGENTS.md\n\n```bash\nmake broken\n```\n")
    assert runner(TOOL, {"action": "audit", "project": "proj"}).errors == 0  # statically fine
    with pytest.raises(ToolError) as refused:
        runner(TOOL, {"action": "audit", "project": "proj", "run_commands": True})
    assert refused.value.code == "needs_confirm"
    out = runner(TOOL, {"action": "audit", "project": "proj", "run_commands": True, "timeout_seconds": 30}, confirm=True)
    stale = [f for f in out.findings if f.kind == "stale_command"]
    assert stale and stale[0].line == 6 and "exit code 2" in stale[0].message
    skipped = runner(TOOL, {"action": "audit", "project": "proj", "run_commands": True, "skip_commands": ["make broken"]}, confirm=True)
    assert skipped.errors == 0 and by_command(skipped)["make broken"].reason == "in skip_commands: not run"


def test_refuses_paths_outside_the_workspace_and_a_missing_file(runner: ToolRunner, tmp_path: Path) -> None:
    with pytest.raises(ToolError) as outside:
        runner(TOOL, {"action": "audit", "project": "../"})
    assert outside.value.code == "outside_workspace"
    with pytest.raises(ToolError) as missing:
        runner(TOOL, {"action": "audit"})
    assert missing.value.code == "not_found"
    (tmp_path / "CLAUDE.md").write_bytes(b"\x00\xff\xfe" * 50)
    garbage = runner(TOOL, {"action": "audit"})
    assert [f.kind for f in garbage.findings if f.severity == "error"] == ["unreadable"]


def test_this_repositorys_own_claude_md_audits_clean() -> None:
    """The repository's CLAUDE.md, checked statically (running the full suite takes ~20 minutes)."""
    out = ToolRunner(REPO_ROOT)(TOOL, {"action": "audit"})
    assert out.errors == 0, [f for f in out.findings if f.severity == "error"]
    assert {c.status for c in out.commands} == {"checked"}, [c for c in out.commands if c.status != "checked"]
    assert out.lines is not None and out.lines <= 200


def test_cancel_kills_the_running_command_and_writes_nothing(runner: ToolRunner, tmp_path: Path) -> None:
    import threading

    project = tmp_path / "slow"
    project.mkdir()
    (project / "slow.py").write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "open('child.pid', 'w').write(str(child.pid))\ntime.sleep(60)\n"
    )
    (project / "README.md").write_text("```bash\npython3 slow.py\n```\n")
    pid_file = project / "child.pid"

    def cancel_when_started() -> None:
        for _ in range(200):
            if pid_file.exists():
                break
            time.sleep(0.05)
        runner.ctx.cancelled.set()

    threading.Thread(target=cancel_when_started, daemon=True).start()
    with pytest.raises(ToolError) as cancelled:
        runner(TOOL, {"action": "draft", "project": "slow", "run_commands": True, "timeout_seconds": 60}, confirm=True)
    assert cancelled.value.code == "cancelled"
    assert not (project / "CLAUDE.md").exists()
    child = int(pid_file.read_text())
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child)


def test_a_file_one_folder_down_imports_and_links_relative_to_itself(runner: ToolRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    runner(TOOL, {"action": "draft", "project": "proj", "file": ".claude/CLAUDE.md"})
    text = (project / ".claude/CLAUDE.md").read_text()
    assert "@../AGENTS.md" in text and "[.claude/rules/web.md](rules/web.md)" in text
    assert runner(TOOL, {"action": "audit", "project": "proj", "file": ".claude/CLAUDE.md"}).errors == 0
    assert skillsaw_errors(project) == []


def test_a_file_only_the_tool_wrote_stays_its_own_across_update_and_draft(runner: ToolRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    runner(TOOL, {"action": "draft", "project": "proj"})
    (project / "Makefile").write_text((project / "Makefile").read_text() + "fmt:\n\tpython3 -c 'print(0)'\n")
    assert runner(TOOL, {"action": "update", "project": "proj"}).files[0].action == "update"
    (project / "Makefile").write_text((project / "Makefile").read_text() + "docs:\n\tpython3 -c 'print(0)'\n")
    again = runner(TOOL, {"action": "draft", "project": "proj"})  # no confirm needed: nobody edited it
    assert again.files[0].action == "update" and "make docs" in (project / "CLAUDE.md").read_text()


def test_after_a_crash_the_next_call_stops_the_command_the_dead_call_left_running(tmp_path: Path) -> None:
    import signal

    project = tmp_path / "crash"
    project.mkdir()
    (project / "slow.py").write_text("import os, time\nopen('leader.pid', 'w').write(str(os.getpid()))\ntime.sleep(120)\n")
    (project / "README.md").write_text("```bash\npython3 slow.py\n```\n")
    arguments = {"operation": {"action": "draft", "project": "crash", "run_commands": True, "timeout_seconds": 120}, "confirm": True}
    (tmp_path / "input.json").write_text(json.dumps(arguments))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_ENGINEER_")}
    victim = subprocess.Popen([sys.executable, "-m", "mlops_engineer", "--workspace", str(tmp_path), "call", "write_claude_md",
                               "--input", "@input.json"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file = project / "leader.pid"
    for _ in range(600):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)  # the call dies; the command, in its own session, does not
    victim.wait()
    leader = int(pid_file.read_text())
    assert _alive(leader)

    out = ToolRunner(tmp_path)(TOOL, {"action": "draft", "project": "crash"})  # static checks: runs nothing
    assert any("python3 slow.py" in r and str(leader) in r for r in out.recovered), out.recovered
    for _ in range(50):
        if not _alive(leader):
            break
        time.sleep(0.1)
    assert not _alive(leader)
    assert not list((tmp_path / ".mlops/claude_md/running").glob("*.json"))
