"""Demo step: a feature branch created, squash-merged and cleaned up with manage_git_branches.

It works in a clone of the demo project (`.mlops/git-demo`, the demo project as its
`origin`), so the project's own branches and working tree are never touched. The developer's
commits and the host's squash merge are plain git, as a person or a server would make them;
the tool creates the branch and, after the merge, recognises it as merged by content and
deletes it, where `git branch -d` would refuse.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mlops_engineer.demos import DemoSession

WORK = ".mlops/git-demo"
BRANCH = "demo/squash-merged"
IDENTITY = ["-c", "user.name=mlops-demo", "-c", "user.email=mlops-demo@example.invalid"]


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *IDENTITY, *args], capture_output=True, text=True, check=False)


def run(session: DemoSession) -> None:
    call, say, root = session.call, session.say, session.root
    if _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}").returncode != 0:
        say("branches: skipped: the demo project is not a git repository with a commit yet")
        return
    work = root / WORK
    if (work / ".git").is_dir() and _git(work, "log", "--format=%s", "-n", "1").stdout.strip() == f"{BRANCH} (squashed)":
        listed = call("manage_git_branches", {"action": "list"}, repo=WORK)
        names = [b.name for b in listed.branches]
        say(f"branches: already done: {BRANCH} was squash-merged and cleaned up; branches left: {', '.join(names)}")
        return
    shutil.rmtree(work, ignore_errors=True)  # our own scratch clone, left half-way by an interrupted run
    work.parent.mkdir(parents=True, exist_ok=True)
    cloned = _git(root, "clone", "-q", str(root), str(work))
    if cloned.returncode != 0:
        say(f"branches: skipped: could not clone the demo project: {cloned.stderr.strip()[:200]}")
        return
    trunk = _git(work, "symbolic-ref", "--short", "HEAD").stdout.strip()

    created = call("manage_git_branches", {"action": "create", "name": BRANCH}, repo=WORK)
    say(f"branches: created {BRANCH} from {created.base} (tracking {created.branch.upstream})")
    for n, line in enumerate(["Why the champion won: roc_auc beat the baseline.", "Next: watch drift weekly."], 1):
        notes = work / "docs" / "branch-demo.md"
        notes.parent.mkdir(exist_ok=True)
        notes.write_text((notes.read_text() if notes.exists() else "# Notes\n") + line + "\n")
        _git(work, "add", "docs/branch-demo.md")
        _git(work, "commit", "-q", "-m", f"notes, part {n}")
    # The host squash-merges the pull request: one new commit on the trunk, the branch's two are not in it.
    _git(work, "switch", "-q", trunk)
    _git(work, "merge", "-q", "--squash", BRANCH)
    _git(work, "commit", "-q", "-m", f"{BRANCH} (squashed)")

    plain = _git(work, "branch", "-d", BRANCH)  # what git itself says: not fully merged
    cleaned = call("manage_git_branches", {"action": "cleanup"}, repo=WORK)
    deleted = ", ".join(f"{d.name} ({d.status}, tip {d.commit[:12]})" for d in cleaned.deleted) or "nothing"
    refused = "refused it" if plain.returncode != 0 else "deleted it"
    say(f"branches: squash-merged into {trunk}; `git branch -d` {refused}; cleanup deleted {deleted}")
    session.where("branch demo clone", work)
