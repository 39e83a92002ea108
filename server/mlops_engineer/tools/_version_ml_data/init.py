"""Action init: git init (with confirm), dvc init, and the local default remote."""

from __future__ import annotations

from pathlib import Path

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.models import (
    Init,
    RemoteInfo,
    VersionDataInput,
    VersionDataOutput,
)
from mlops_engineer.tools._version_ml_data.remotes import remote_info


def run_init(op: Init, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc import repo as dvc_repo

    root = ctx.workspace.root
    remote_url = dvc_repo.parse_remote_url(op.local_remote, ctx.workspace) if op.local_remote else None
    if remote_url and remote_url.kind != "local":
        raise ToolError("invalid_input", f"local_remote must be a folder in the workspace, not {remote_url.display}.", "Add cloud remotes with action add_remote.")
    top = dvc_repo.git_root(root)
    needs_git = top is None or (op.own_repository and top != root)
    needs_dvc = not dvc_repo.is_dvc_project(root)
    dvc_repo.load()  # a missing extra is reported before anything is planned or written
    subdir = not needs_git and top != root
    if needs_dvc and subdir and top is not None:
        _refuse_ignored(root, top)
    base.planned_calls = [
        *(["git init"] if needs_git else []),
        *(["dvc init" + (" --subdir" if subdir else "")] if needs_dvc else []),
        *([f"dvc remote add {dvc_repo.DEFAULT_REMOTE_NAME} {remote_url.display} (default unless one exists)"] if remote_url else []),
    ]
    if needs_git and not inp.confirm:
        where = f"inside the git repository {top}, not its own" if top else "not inside a git repository; DVC versions data alongside git"
        if inp.dry_run:
            base.next_steps = [f"The workspace is {where}: call init with confirm=true to run git init."]
            return base
        raise ToolError("needs_confirm", f"{root} is {where}.", "Call init with confirm=true to run `git init` here (or run it yourself).")
    if inp.dry_run:
        return base
    if needs_git or needs_dvc:
        dvc_repo.init(root, git_init=needs_git)
    base.git_initialised, base.dvc_initialised = needs_git, needs_dvc
    with dvc_repo.open_repo(root) as repo:
        if remote_url:
            existing_default = dvc_repo.default_remote(repo)
            make_default = existing_default in (None, dvc_repo.DEFAULT_REMOTE_NAME)
            change = dvc_repo.configure_remote(repo, dvc_repo.DEFAULT_REMOTE_NAME, remote_url, {}, {}, default=make_default)
            base.remote = RemoteInfo(**vars(change))
        default = dvc_repo.default_remote(repo)
        base.remotes = [remote_info(repo, n, s, default) for n, s in sorted(dvc_repo.remotes(repo).items())]
    base.next_steps = ["Track data with action track (paths=[...], git_commit='...'), then push."]
    return base


def _refuse_ignored(root: Path, top: Path) -> None:
    """`dvc init --subdir` in a folder the enclosing repository ignores fails inside DVC with
    "... is ignored by your SCM tool", which reached the client as a bare `failed`: say which
    rule ignores it, and the two ways out, before anything is planned or written."""
    from mlops_engineer.engines.dvc.repo import ignore_rule

    rule = ignore_rule(top, root / ".dvc")
    if rule is None:
        return
    rel = root.relative_to(top).as_posix()
    parts = rule.split(":", 2)  # source:line:pattern
    named = f"rule '{parts[2]}' in {parts[0]}, line {parts[1]}" if len(parts) == 3 else "one of its ignore rules"
    raise ToolError(
        "conflict",
        f"{root} is ignored by the git repository at {top} ({named}): DVC cannot version data there, "
        "because git would never see its .dvc files.",
        f"Either remove that rule (`git -C {top} check-ignore -v {rel}/.dvc` shows it), or make the folder its own "
        "git repository: call init with own_repository=true and confirm=true.",
    )
