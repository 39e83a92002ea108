"""Demo step: version the churn CSVs that `champion` wrote with DVC, push them to a local
remote inside the workspace, and show the status."""

from __future__ import annotations

from mlops_engineer.demos import DemoSession

REMOTE_DIR = ".mlops/dvc-remote"


def run(session: DemoSession) -> None:
    say, root, call = session.say, session.root, session.call
    files = [session.facts.get("train_csv", "data/churn_train.csv"), session.facts.get("test_csv", "data/churn_test.csv")]
    # The demo folder is a project of its own, so it is its own git repository wherever it
    # sits. Run as the README says, from the root of a clone, `mlops-demo/` is inside our
    # repository, whose .gitignore ignores it: DVC cannot version data in an ignored folder,
    # and the demo's commits do not belong in our history anyway. Inside no repository at
    # all, this is the plain `git init` DVC needs.
    init = call("version_ml_data", {"action": "init", "local_remote": REMOTE_DIR, "own_repository": True}, confirm=True)
    done = [w for w, flag in (("git init", init.git_initialised), ("dvc init", init.dvc_initialised)) if flag]
    say(f"data versioning: DVC project {'created (' + ', '.join(done) + ')' if done else 'already set up'}, remote {REMOTE_DIR}")

    tracked = call("version_ml_data", {"action": "track", "paths": files, "git_commit": "Version the churn data with DVC (demo)"})
    for item in tracked.tracked:
        say(f"tracked {item.path} md5={item.md5} ({item.size} bytes) -> {item.dvc_file}")
    say(f"git commit {tracked.git_commit[:12]}" if tracked.git_commit else "git: the .dvc files were already committed")
    push_and_report(session)

    session.facts.update(
        dvc_remote=REMOTE_DIR, dvc_remote_name="local",
        dvc_tracked={t.path: t.md5 for t in tracked.tracked},
        dvc_files=[t.dvc_file for t in tracked.tracked],
    )
    session.where("data remote (DVC)", root / REMOTE_DIR)
    session.where("data versions", f"git -C {root} log --oneline -- {tracked.tracked[0].dvc_file}")


def push_and_report(session: DemoSession) -> None:
    """Push whatever DVC has that the remote lacks, then say whether the project is clean.

    Also called after the pipeline step, which versions data of its own: whatever a step
    versions is pushed in the same run, so a second demo finds nothing left to push.
    """
    call, say = session.call, session.say
    pushed = call("version_ml_data", {"action": "push"})
    say(f"pushed {pushed.transferred} file(s) to {REMOTE_DIR}" if pushed.transferred else f"remote {REMOTE_DIR} already has the data")
    status = call("version_ml_data", {"action": "status"}).status
    say("data status: clean (nothing changed, nothing missing, nothing left to push)" if status.clean
        else f"data status: changed={status.changed} not_in_remote={status.not_in_remote} stages_changed={status.stages_changed}")
