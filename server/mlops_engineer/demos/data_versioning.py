"""Demo step: version the churn CSVs that `champion` wrote with DVC, push them to a local
remote inside the workspace, and show the status."""

from __future__ import annotations

from typing import Any

from mlops_engineer.demos import DemoSession

REMOTE_DIR = ".mlops/dvc-remote"


def _call(session: DemoSession, operation: dict[str, Any], **fields: Any) -> Any:
    """`version_ml_data` with `confirm` (the demo may `git init` its own workspace)."""
    from mlops_engineer.registry import load_registry
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings

    ctx = ToolContext(workspace=session.workspace, settings=Settings(workspace=session.root, tracking_uri=None))
    return execute(load_registry().tool("version_ml_data"), {"operation": operation, **fields}, ctx)


def run(session: DemoSession) -> None:
    from mlops_engineer.engines.dvc.repo import git_root

    say, root = session.say, session.root
    files = [session.facts.get("train_csv", "data/churn_train.csv"), session.facts.get("test_csv", "data/churn_test.csv")]
    own_repo = git_root(root) in (None, root)
    init = _call(session, {"action": "init", "local_remote": REMOTE_DIR}, confirm=own_repo)
    done = [w for w, flag in (("git init", init.git_initialised), ("dvc init", init.dvc_initialised)) if flag]
    say(f"data versioning: DVC project {'created (' + ', '.join(done) + ')' if done else 'already set up'}, remote {REMOTE_DIR}")

    # Commit only in the demo's own repository, never into a repository that happens to contain it.
    message = "Version the churn data with DVC (demo)" if own_repo else None
    tracked = _call(session, {"action": "track", "paths": files, "git_commit": message})
    for item in tracked.tracked:
        say(f"tracked {item.path} md5={item.md5} ({item.size} bytes) -> {item.dvc_file}")
    say(f"git commit {tracked.git_commit[:12]}" if tracked.git_commit else "git: the .dvc files were already committed")
    pushed = _call(session, {"action": "push"})
    say(f"pushed {pushed.transferred} file(s) to {REMOTE_DIR}" if pushed.transferred else f"remote {REMOTE_DIR} already has the data")
    status = _call(session, {"action": "status"}).status
    say("data status: clean (nothing changed, nothing missing, nothing left to push)" if status.clean
        else f"data status: changed={status.changed} not_in_remote={status.not_in_remote}")

    session.facts.update(
        dvc_remote=REMOTE_DIR, dvc_remote_name="local",
        dvc_tracked={t.path: t.md5 for t in tracked.tracked},
        dvc_files=[t.dvc_file for t in tracked.tracked],
    )
    session.where("data remote (DVC)", root / REMOTE_DIR)
    session.where("data versions", f"git -C {root} log --oneline -- {tracked.tracked[0].dvc_file}")
