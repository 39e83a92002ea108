"""Demo step: commit the demo project's own text files (rendered configs, pipeline code, model
cards) with the Conventional Commits message `commit_changes` proposes from the staged diff."""

from __future__ import annotations

from pathlib import PurePosixPath

from mlops_engineer.demos import DemoSession

# What a project keeps in git: configuration and code the earlier steps wrote. Data, stores and
# reports stay out (DVC versions the data; .mlops/ is ignored).
FOLDERS = ("mlops", "pipelines", "docs", "feature_repo")
TEXT = (".py", ".md", ".yml", ".yaml", ".toml", ".txt", ".cfg", ".ini", ".sh", ".example", ".gitignore", ".dvcignore")


def run(session: DemoSession) -> None:
    call, say = session.call, session.say
    folders = [f for f in FOLDERS if (session.root / f).is_dir()]
    status = call("commit_changes", {"action": "status", "paths": folders}) if folders else None
    changed = (status.untracked + [e.path for e in status.unstaged]) if status else []
    # A copied MLflow model (serving/<name>/model/) is a build input, not source.
    paths = sorted(p for p in changed if (PurePosixPath(p).name.endswith(TEXT) or "Dockerfile" in p) and "/model/" not in p)
    if not paths:
        say("commit: the project's files are already committed")
        return
    call("commit_changes", {"action": "stage", "paths": paths})
    plan = call("commit_changes", {"action": "commit"}, dry_run=True)
    held_back = sorted({f.path for f in plan.secrets} | {f.path for f in plan.large_files})
    if held_back:  # never commit what looks like a secret or belongs in DVC: leave it unstaged
        call("commit_changes", {"action": "unstage", "paths": held_back})
        say(f"commit: held back {', '.join(held_back)} (possible secret or too large for git)")
        if set(held_back) >= set(paths):
            say("commit: nothing else to commit")
            return
    proposal = call("commit_changes", {"action": "message"})
    committed = call("commit_changes", {"action": "commit", "message": proposal.message})
    header = proposal.message.splitlines()[0]
    say(f"commit {committed.commit[:12]} {header} ({len(committed.committed)} file(s); {proposal.reasons[0]})")
    session.where("last commit", f"git -C {session.root} show --stat HEAD")
