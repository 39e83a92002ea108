"""Version data and pipelines with DVC in the workspace's git repository: track, push, pull,
status, restore any revision, and `dvc.yaml` pipelines from typed stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.dvc.pipeline import DvcStage
from mlops_engineer.errors import ToolError
from mlops_engineer.output import TablePreview
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.render import FileChange
from mlops_engineer.runtime import ToolContext

if TYPE_CHECKING:
    from dvc.repo import Repo

RemoteName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Remote name, e.g. storage.")]
Rev = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s~^:]+(~\d*|\^\d*)*$", description="Git revision: commit, branch, tag, HEAD~1.")]
MAX_LIST = 50  # paths per status list in a response
LOG_TAIL = 20


class Init(StrictModel):
    """dvc init (git init needs confirm) and a local remote.

    The default remote is the folder .mlops/dvc-remote in the workspace. `own_repository`
    makes the workspace its own git repository inside another one (with confirm).
    """

    action: Literal["init"]
    local_remote: str | None = Field(
        default=".mlops/dvc-remote",
        description="Folder (inside the workspace) for a remote named 'local', made the default when no default exists; null for none.",
    )
    own_repository: bool = Field(
        default=False,
        description="Make the workspace its own git repository (git init there, needs confirm) even inside another one, "
        "e.g. one whose .gitignore ignores this folder.",
    )


class AddRemote(StrictModel):
    """Local, s3, gs, azure or ssh remote.

    Options go to .dvc/config, credentials only to the git-ignored .dvc/config.local, never
    echoed.
    """

    action: Literal["add_remote"]
    name: RemoteName = "storage"
    url: str = Field(min_length=1, description="A folder inside the workspace, or s3://bucket/path, gs://bucket/path, azure://container/path, ssh://user@host/path.")
    default: bool = Field(default=True, description="Make it the default remote for push/pull.")
    options: dict[str, str | int | bool] = Field(
        default_factory=dict,
        description="Committed settings, e.g. s3: endpointurl, region, profile; gs: projectname; azure: account_name; ssh: port, user.",
    )
    credentials: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Secrets, written only to .dvc/config.local (git-ignored) and never returned: s3: access_key_id, secret_access_key, "
        "session_token; gs: credentialpath; azure: connection_string, sas_token, account_key, client_secret; ssh: password, passphrase, keyfile.",
    )


class Track(StrictModel):
    """dvc add files or folders; optionally commit.

    Optionally commits the .dvc files to git.
    """

    action: Literal["track"]
    paths: list[str] = Field(min_length=1, description="Files or folders in the workspace to version with DVC.")
    git_commit: str | None = Field(default=None, description="Commit the .dvc files and .gitignore changes with this message.")


class Push(StrictModel):
    """Send tracked data to a remote."""

    action: Literal["push"]
    targets: list[str] = Field(default_factory=list, description="Tracked paths; all when empty.")
    remote: RemoteName | None = Field(default=None, description="Remote name; the default remote when omitted.")


class Pull(StrictModel):
    """Fetch tracked data from a remote."""

    action: Literal["pull"]
    targets: list[str] = Field(default_factory=list, description="Tracked paths; all when empty.")
    remote: RemoteName | None = None


class Status(StrictModel):
    """Changed, not in cache, not pushed, stale stages."""

    action: Literal["status"]
    targets: list[str] = Field(default_factory=list, description="Tracked paths; all when empty.")
    remote: RemoteName | None = Field(default=None, description="Remote to compare with; the default remote when omitted.")
    check_remote: bool = Field(default=True, description="Also list what is not pushed (asks the remote).")


class Checkout(StrictModel):
    """Restore the data of a git revision.

    Its .dvc files and dvc.lock, then dvc checkout; overwriting uncommitted data needs confirm.
    """

    action: Literal["checkout"]
    rev: Rev
    targets: list[str] = Field(default_factory=list, description="Tracked paths to restore; all .dvc files and dvc.lock when empty.")


class WritePipeline(StrictModel):
    """dvc.yaml and params.yaml from typed stages.

    Refuses cycles and unknown dependencies.
    """

    action: Literal["write_pipeline"]
    stages: list[DvcStage] = Field(min_length=1, description="Stages in any order; DVC orders them by their deps and outs.")
    params: dict[str, Any] | None = Field(default=None, description="Content of params.yaml; stage params keys must exist in it.")
    git_commit: str | None = Field(default=None, description="Commit dvc.yaml and params.yaml with this message.")


class Repro(StrictModel):
    """dvc repro; unchanged stages are skipped.

    Command output goes to a log file.
    """

    action: Literal["repro"]
    targets: list[str] = Field(default_factory=list, description="Stage names; the whole pipeline when empty.")
    force: bool = Field(default=False, description="Run stages even when nothing changed.")
    git_commit: str | None = Field(default=None, description="Commit dvc.lock and git-tracked metrics with this message.")


class Diff(StrictModel):
    """Metrics and params between two git revisions."""

    action: Literal["diff"]
    a_rev: Rev = "HEAD"
    b_rev: Rev | None = Field(default=None, description="Second revision; the workspace when omitted.")


class Gc(StrictModel):
    """List what dvc gc would delete; delete with confirm."""

    action: Literal["gc"]
    scope: Literal["workspace", "all_branches", "all_tags", "all_commits"] = Field(
        default="workspace", description="Data to keep: used by the workspace only, or by every branch / tag / commit too."
    )
    cloud: bool = Field(default=False, description="Also delete unused objects from the remote.")
    remote: RemoteName | None = None


Operation = Annotated[
    Init | AddRemote | Track | Push | Pull | Status | Checkout | WritePipeline | Repro | Diff | Gc,
    Field(discriminator="action"),
]


class VersionDataInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")


class RemoteInfo(BaseModel):
    name: str
    kind: str = Field(description="local | s3 | gs | azure | ssh")
    url: str
    default: bool
    options: dict[str, Any] = Field(default_factory=dict)
    credentials_set: list[str] = Field(default_factory=list, description="Names of the credentials kept in .dvc/config.local (values never shown).")
    changed: bool | None = Field(default=None, description="For add_remote/init: false when the configuration was already so.")


class TrackedPath(BaseModel):
    path: str
    dvc_file: str
    md5: str | None
    size: int | None
    files: int | None = Field(default=None, description="For a folder: how many files it holds.")


class DataStatus(BaseModel):
    clean: bool = Field(description="Nothing changed, nothing missing, nothing left to push.")
    changed: dict[str, list[str]] = Field(default_factory=dict, description="Workspace vs the .dvc files: added / modified / deleted (run track to record).")
    not_committed: dict[str, list[str]] = Field(default_factory=dict, description="Recorded by DVC but the .dvc change is not committed to git.")
    not_in_cache: list[str] = Field(default_factory=list)
    not_in_remote: list[str] = Field(default_factory=list, description="Not pushed yet.")
    stages_changed: list[str] = Field(default_factory=list, description="Pipeline stages a repro would run.")
    remote: str | None = None
    truncated: bool = Field(default=False, description=f"A list was cut to {MAX_LIST} entries.")


class StageRun(BaseModel):
    stage: str
    status: Literal["ran", "skipped", "would_run"]


class GcResult(BaseModel):
    objects: list[str] = Field(description=f"Cache object ids (md5), at most {MAX_LIST}.")
    count: int
    deleted: bool


class VersionDataOutput(ToolOutput):
    action: str
    root: str = Field(description="The DVC project (the workspace root).")
    git_initialised: bool = Field(default=False, description="init: git init ran in this call.")
    dvc_initialised: bool = Field(default=False, description="init: dvc init ran in this call.")
    remote: RemoteInfo | None = None
    remotes: list[RemoteInfo] = Field(default_factory=list)
    tracked: list[TrackedPath] = Field(default_factory=list)
    transferred: int | None = Field(default=None, description="push/pull: files transferred (0 when all were there).")
    restored: list[str] = Field(default_factory=list, description="pull/checkout: workspace paths that changed.")
    status: DataStatus | None = None
    rev: str | None = Field(default=None, description="checkout: the commit restored.")
    stages: list[StageRun] = Field(default_factory=list)
    order: list[str] = Field(default_factory=list, description="write_pipeline: the order DVC runs the stages in.")
    log_path: str | None = Field(default=None, description="repro: workspace file with the stage commands' output.")
    metrics_diff: TablePreview | None = None
    params_diff: TablePreview | None = None
    gc: GcResult | None = None
    files: list[FileChange] = Field(default_factory=list)
    git_commit: str | None = Field(default=None, description="The git commit made, when git_commit was asked and something changed.")
    next_steps: list[str] = Field(default_factory=list)


def run(inp: VersionDataInput, ctx: ToolContext) -> VersionDataOutput:
    op = inp.operation
    base = VersionDataOutput(action=op.action, root=str(ctx.workspace.root), dry_run=inp.dry_run)
    handlers = {
        "init": _init, "add_remote": _add_remote, "track": _track, "push": _push, "pull": _pull,
        "status": _status, "checkout": _checkout, "write_pipeline": _write_pipeline, "repro": _repro,
        "diff": _diff, "gc": _gc,
    }
    return handlers[op.action](op, inp, ctx, base)  # type: ignore[operator]


# ---------------------------------------------------------------- helpers


def _resolve_tracked(ctx: ToolContext, paths: list[str], *, must_exist: bool) -> list[Path]:
    """Workspace paths, refused when outside the workspace or inside DVC's and git's own folders."""
    resolved = []
    for raw in paths:
        path = ctx.workspace.resolve(raw, must_exist=must_exist)
        rel = ctx.workspace.relative(path) if path != ctx.workspace.root else "."
        if rel == "." or rel.split("/")[0] in (".dvc", ".git"):
            raise ToolError("invalid_input", f"'{raw}' cannot be versioned with DVC (it is the project itself or DVC/git metadata).", "Give data files or folders inside the workspace.")
        resolved.append(path)
    return resolved


def _targets(ctx: ToolContext, paths: list[Path]) -> list[str] | None:
    return [str(p) for p in paths] or None


def _check_remote(repo: Repo, name: str | None) -> str:
    from mlops_engineer.engines.dvc.repo import default_remote, remotes

    configured = remotes(repo)
    chosen = name or default_remote(repo)
    if not chosen:
        raise ToolError("invalid_input", "No default DVC remote is configured.", "Add one with action add_remote (or init), or pass remote.")
    if chosen not in configured:
        raise ToolError("not_found", f"No DVC remote named '{chosen}'; configured: {', '.join(sorted(configured)) or 'none'}.", "Add it with action add_remote.")
    return chosen


def _remote_info(repo: Repo, name: str, settings: dict[str, Any], default: str | None) -> RemoteInfo:
    from mlops_engineer.engines.dvc.repo import CREDENTIALS, SCHEMES

    url = str(settings.get("url", ""))
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    kind = SCHEMES.get(scheme, "local")
    local = repo.config.read("local").get("remote", {}).get(name, {})
    return RemoteInfo(
        name=name, kind=kind, url=url, default=name == default,
        options={k: v for k, v in settings.items() if k != "url" and k not in CREDENTIALS[kind]},
        credentials_set=sorted(local),
    )


def _cap(items: Any) -> tuple[list[str], bool]:
    values = sorted(str(i) for i in items)
    return values[:MAX_LIST], len(values) > MAX_LIST


def _commit(repo: Repo, ctx: ToolContext, paths: list[Path], message: str | None) -> str | None:
    from mlops_engineer.engines.dvc.repo import commit_paths

    if not message:
        return None
    root = ctx.workspace.root
    meta = [root / ".dvc" / "config", root / ".dvc" / ".gitignore", root / ".dvcignore", root / ".gitignore"]
    return commit_paths(repo, [str(p) for p in dict.fromkeys([*meta, *paths])], message)


# ---------------------------------------------------------------- actions


def _init(op: Init, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
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
        base.remotes = [_remote_info(repo, n, s, default) for n, s in sorted(dvc_repo.remotes(repo).items())]
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


def _add_remote(op: AddRemote, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc import repo as dvc_repo

    url = dvc_repo.parse_remote_url(op.url, ctx.workspace)
    unknown = sorted(set(op.options) - dvc_repo.OPTIONS[url.kind])
    secret_in_options = sorted(set(op.options) & dvc_repo.CREDENTIALS[url.kind])
    if secret_in_options:
        raise ToolError("invalid_input", f"{', '.join(secret_in_options)} are credentials; options end up in git.", "Pass them in credentials instead (kept in .dvc/config.local).")
    if unknown:
        allowed = ", ".join(sorted(dvc_repo.OPTIONS[url.kind])) or "none"
        raise ToolError("invalid_input", f"Unknown option(s) for a {url.kind} remote: {', '.join(unknown)}.", f"Accepted options: {allowed}.")
    bad_creds = sorted(set(op.credentials) - dvc_repo.CREDENTIALS[url.kind])
    if bad_creds:
        allowed = ", ".join(sorted(dvc_repo.CREDENTIALS[url.kind])) or "none"
        raise ToolError("invalid_input", f"Unknown credential(s) for a {url.kind} remote: {', '.join(bad_creds)}.", f"Accepted credentials: {allowed}.")
    base.planned_calls = [
        f"dvc remote add {'-d ' if op.default else ''}{op.name} {url.display}",
        *(f"dvc remote modify {op.name} {k} <value>" for k in sorted(op.options)),
        *(f"dvc remote modify --local {op.name} {k} ***" for k in sorted(op.credentials)),
    ]
    with dvc_repo.open_repo(ctx.workspace.root) as repo:
        if inp.dry_run:
            return base
        credentials = {k: v.get_secret_value() for k, v in op.credentials.items()}
        change = dvc_repo.configure_remote(repo, op.name, url, dict(op.options), credentials, default=op.default)
        base.remote = RemoteInfo(**vars(change))
    base.next_steps = [f"Push tracked data: action push (remote '{op.name}')."]
    if url.kind != "local":
        from mlops_engineer.optional import installed_version

        plugin = dvc_repo.PLUGINS[url.kind]
        if installed_version(plugin) is None:
            base.next_steps.insert(0, f"Install the DVC plugin before pushing: pip install {plugin}")
    return base


def _track(op: Track, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo

    paths = _resolve_tracked(ctx, op.paths, must_exist=True)
    base.planned_calls = [f"dvc add {ctx.workspace.relative(p)}" for p in paths]
    if op.git_commit:
        base.planned_calls.append(f"git commit -m {op.git_commit!r} (the .dvc files and .gitignore)")
    with open_repo(ctx.workspace.root) as repo:
        if inp.dry_run:
            return base
        for i, path in enumerate(paths):
            ctx.progress(i, len(paths), f"dvc add {ctx.workspace.relative(path)}")
            stages = repo.add([str(path)])
            for stage in stages:
                out = stage.outs[0]
                base.tracked.append(TrackedPath(
                    path=ctx.workspace.relative(path), dvc_file=ctx.workspace.relative(Path(stage.path)),
                    md5=out.hash_info.value if out.hash_info else None,
                    size=out.meta.size if out.meta else None,
                    files=out.meta.nfiles if out.meta and out.meta.isdir else None,
                ))
        ctx.progress(len(paths), len(paths), "tracked")
        commit_files = [Path(str(p) + ".dvc") for p in paths] + [p.parent / ".gitignore" for p in paths]
        base.git_commit = _commit(repo, ctx, commit_files, op.git_commit)
    base.next_steps = ["Send the data to the remote: action push."]
    return base


def _push(op: Push, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo

    paths = _resolve_tracked(ctx, op.targets, must_exist=False)
    with open_repo(ctx.workspace.root) as repo:
        remote = _check_remote(repo, op.remote)
        base.planned_calls = [f"dvc push -r {remote}" + "".join(f" {ctx.workspace.relative(p)}" for p in paths)]
        if inp.dry_run:
            base.status = _data_status(repo, ctx, paths, remote, True)
            return base
        ctx.progress(0, 1, f"pushing to {remote}")
        base.transferred = int(repo.push(targets=_targets(ctx, paths), remote=remote) or 0)
        ctx.progress(1, 1, "pushed")
    return base


def _pull(op: Pull, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo

    paths = _resolve_tracked(ctx, op.targets, must_exist=False)
    with open_repo(ctx.workspace.root) as repo:
        remote = _check_remote(repo, op.remote)
        base.planned_calls = [f"dvc pull -r {remote}" + (" --force" if inp.confirm else "") + "".join(f" {ctx.workspace.relative(p)}" for p in paths)]
        if inp.dry_run:
            base.status = _data_status(repo, ctx, paths, remote, False)
            return base
        dirty = _unrecorded_edits(repo, _targets(ctx, paths))
        if dirty and not inp.confirm:
            raise ToolError("needs_confirm", f"These files have changes not recorded by DVC and would be overwritten: {', '.join(dirty[:MAX_LIST])}.", "Track them first (action track), or call again with confirm=true to discard the changes.")
        ctx.progress(0, 1, f"pulling from {remote}")
        result = repo.pull(targets=_targets(ctx, paths), remote=remote, force=inp.confirm)
        stats = result.get("stats", {}) if isinstance(result, dict) else {}
        base.transferred = int(stats.get("fetched", 0))
        base.restored = _changed_paths(ctx, result)[:MAX_LIST]
        ctx.progress(1, 1, "pulled")
    return base


def _unrecorded_edits(repo: Repo, targets: list[str] | None) -> list[str]:
    """Workspace data that differs from its .dvc record: a checkout would overwrite it."""
    local = repo.data_status(targets=targets)
    return sorted({p for kind in ("modified", "added") for p in (local.get("uncommitted") or {}).get(kind, [])})


def _changed_paths(ctx: ToolContext, result: Any) -> list[str]:
    """Workspace paths `dvc checkout`/`pull` added or modified (folders end with /)."""
    if not isinstance(result, dict):
        return []
    found = set()
    for key in ("added", "modified"):
        for raw in result.get(key) or []:
            path = Path(raw) if Path(raw).is_absolute() else ctx.workspace.root / raw
            found.add(ctx.workspace.relative(path) + ("/" if str(raw).endswith(("/", "\\")) else ""))
    return sorted(found)


def _data_status(repo: Repo, ctx: ToolContext, paths: list[Path], remote: str | None, check_remote: bool) -> DataStatus:
    from mlops_engineer.engines.dvc.repo import default_remote

    remote = remote or default_remote(repo)
    use_remote = bool(check_remote and remote)
    raw = repo.data_status(
        targets=_targets(ctx, paths), not_in_remote=use_remote, remote_refresh=use_remote, remote=remote if use_remote else None,
    )
    status = DataStatus(clean=True, remote=remote if use_remote else None)
    truncated = False
    for key, target in (("uncommitted", status.changed), ("committed", status.not_committed)):
        for kind, items in (raw.get(key) or {}).items():
            if items:
                target[kind], cut = _cap(items)
                truncated |= cut
    status.not_in_cache, cut1 = _cap(raw.get("not_in_cache") or [])
    status.not_in_remote, cut2 = _cap(raw.get("not_in_remote") or [])
    pipeline = repo.status(targets=_targets(ctx, paths)) if not paths else {}
    status.stages_changed = sorted(name for name in pipeline if not name.endswith(".dvc"))
    status.truncated = truncated or cut1 or cut2
    status.clean = not (status.changed or status.not_in_cache or status.not_in_remote or status.stages_changed)
    return status


def _status(op: Status, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo

    paths = _resolve_tracked(ctx, op.targets, must_exist=False)
    with open_repo(ctx.workspace.root) as repo:
        remote = _check_remote(repo, op.remote) if op.remote else None
        base.planned_calls = ["dvc data status --not-in-remote" if op.check_remote else "dvc data status", "dvc status"]
        base.status = _data_status(repo, ctx, paths, remote, op.check_remote)
    return base


def _checkout(op: Checkout, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import (
        dvc_files_at_revision,
        file_at_revision,
        load,
        open_repo,
    )

    load()
    from dvc.exceptions import CheckoutError, DownloadError

    paths = _resolve_tracked(ctx, op.targets, must_exist=False)
    with open_repo(ctx.workspace.root) as repo:
        sha = repo.scm.resolve_rev(op.rev)
        base.rev = sha
        if paths:
            meta_files = [Path(str(p) + ".dvc") for p in paths]
            missing = [ctx.workspace.relative(p) for p in meta_files if file_at_revision(repo, sha, p) is None]
            if missing:
                raise ToolError("not_found", f"Not tracked by DVC at {op.rev}: {', '.join(missing)}.", "Check the paths and the revision (git log -- <path>.dvc).")
        else:
            meta_files = dvc_files_at_revision(repo, sha, ctx.workspace.root)
        wanted = {p: file_at_revision(repo, sha, p) or "" for p in meta_files}
        changes = [p for p, text in wanted.items() if not p.exists() or p.read_text("utf-8") != text]
        data_targets = [str(p)[: -len(".dvc")] if p.suffix == ".dvc" else str(p) for p in meta_files]
        base.planned_calls = [
            *(f"restore {ctx.workspace.relative(p)} from {sha[:12]}" for p in changes),
            "dvc fetch (objects missing from the cache)",
            "dvc checkout" + (" --force" if inp.confirm else ""),
        ]
        # Uncommitted data edits would be lost: ask before overwriting them.
        dirty = _unrecorded_edits(repo, [t for t in data_targets if Path(t).exists() and not t.endswith("dvc.lock")] or None)
        if dirty and not inp.confirm and not inp.dry_run:
            raise ToolError("needs_confirm", f"These files have changes not recorded by DVC and would be overwritten: {', '.join(dirty[:MAX_LIST])}.", "Track them first (action track), or call again with confirm=true to discard the changes.")
        if inp.dry_run:
            base.restored = [ctx.workspace.relative(p) for p in changes]
            return base
    before = {p: p.read_text("utf-8") if p.exists() else None for p in changes}
    for path in changes:
        ctx.workspace.write_text(path, wanted[path])
    with_lock = [t for t in data_targets if not t.endswith("dvc.lock")]
    scope = (with_lock or None) if paths else None
    # A fresh Repo reads the restored .dvc files; fetch in workspace mode, because a remote
    # path in the committed config is relative and only resolves against the real folder.

    def put_back(missing: str, cause: Exception | None = None) -> ToolError:
        for path, text in before.items():  # the .dvc files as they were: the workspace is unchanged
            if text is None:
                path.unlink(missing_ok=True)
            else:
                ctx.workspace.write_text(path, text)
        return ToolError(
            "not_found", f"The data of {op.rev} is neither in the cache nor on the remote: {missing}.",
            "Push it from a clone that has it (action push), or configure the remote that holds it.",
        )

    with open_repo(ctx.workspace.root) as repo:
        try:
            if _remote_configured(repo):
                ctx.progress(0, 2, f"fetching the data of {sha[:12]}")
                repo.fetch(targets=scope)
            # Checked before checkout, which deletes a file whose new content it cannot find.
            absent = repo.data_status(targets=scope).get("not_in_cache") or []
        except DownloadError as exc:
            raise put_back(str(exc)) from exc
        except BaseException:
            put_back("")
            raise
        if absent:
            raise put_back(", ".join(sorted(absent)[:MAX_LIST]))
        ctx.progress(1, 2, "checking out")
        try:
            result = repo.checkout(targets=scope, force=True)
        except CheckoutError as exc:
            raise put_back(", ".join(map(str, exc.target_infos))) from exc
        base.restored = sorted(set(_changed_paths(ctx, result)) | {ctx.workspace.relative(p) for p in changes})[:MAX_LIST]
        ctx.progress(2, 2, "checked out")
    base.next_steps = [f"The .dvc files now match {op.rev}; commit them to keep this version, or checkout HEAD to go back."]
    return base


def _remote_configured(repo: Repo) -> list[str]:
    from mlops_engineer.engines.dvc.repo import default_remote

    return [r for r in [default_remote(repo)] if r]


def _write_pipeline(op: WritePipeline, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc import pipeline as dvc_pipeline
    from mlops_engineer.engines.dvc.repo import open_repo
    from mlops_engineer.render import write_files

    ws = ctx.workspace
    for stage in op.stages:  # refuse paths that leave the workspace (symlinks included)
        for path in [*stage.deps, *stage.out_paths()]:
            ws.resolve(dvc_pipeline.normalise_path(path, f"stage '{stage.name}'"))
    params = op.params
    if params is None and stage_params(op.stages):
        existing = ws.resolve(dvc_pipeline.PARAMS_FILE)
        params = _read_yaml(existing) if existing.exists() else {}
    base.order = dvc_pipeline.validate_stages(op.stages, exists=lambda p: ws.resolve(p).exists(), params=params)
    files = {"dvc.yaml": dvc_pipeline.dump_dvc_yaml(op.stages)}
    if op.params is not None:
        files[dvc_pipeline.PARAMS_FILE] = dvc_pipeline.dump_params_yaml(op.params)
    with open_repo(ws.root) as repo:
        base.files = write_files(ws, files, dry_run=inp.dry_run, confirm=inp.confirm)
        base.planned_calls = [f"write {f.path} ({f.action})" for f in base.files]
        if inp.dry_run:
            return base
        base.git_commit = _commit(repo, ctx, [ws.root / name for name in files], op.git_commit)
    base.next_steps = ["Run it: action repro (unchanged stages are skipped)."]
    return base


def stage_params(stages: list[DvcStage]) -> bool:
    return any(s.params for s in stages)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ToolError("invalid_input", f"{path.name} is not valid YAML: {exc}", "Fix the file or pass params.") from exc
    return data if isinstance(data, dict) else {}


def _repro(op: Repro, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo, stage_output_to
    from mlops_engineer.workspace import STATE_DIR

    ws = ctx.workspace
    if not ws.resolve("dvc.yaml").exists():
        raise ToolError("not_found", "There is no dvc.yaml in the workspace.", "Write one with action write_pipeline.")
    with open_repo(ws.root) as repo:
        names = {s.name for s in repo.index.stages if getattr(s, "name", None)} if op.targets else set()
        unknown = [t for t in op.targets if t not in names]
        if unknown:
            raise ToolError("not_found", f"No stage named {', '.join(unknown)} in dvc.yaml; stages: {', '.join(sorted(names))}.", "Give stage names from dvc.yaml.")
        # Absolute addresses: DVC resolves relative ones against the process's cwd, not the project.
        project = str(ws.root / "dvc.yaml")
        targets = [f"{project}:{t}" for t in op.targets] or [project]
        base.planned_calls = ["dvc repro" + (" --force" if op.force else "") + "".join(f" {t}" for t in op.targets)]
        if inp.dry_run:
            base.stages = _repro_plan(repo, targets, op.force)
            return base
        log_path = ws.resolve(f"{STATE_DIR}/outputs/dvc-repro.log")
        base.log_path = ws.relative(log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        from dvc.exceptions import ReproductionError
        from dvc.repo.reproduce import _reproduce_stage
        from dvc.stage import PipelineStage

        seen: list[StageRun] = []

        def repro_one(stage: Any, **kwargs: Any) -> Any:
            ctx.progress(len(seen), None, f"stage {stage.addressing}")
            ran = _reproduce_stage(stage, **kwargs)
            if isinstance(stage, PipelineStage):
                seen.append(StageRun(stage=stage.addressing, status="ran" if ran else "skipped"))
            return ran

        try:
            with stage_output_to(log_path):
                repo.reproduce(targets, force=op.force, repro_fn=repro_one)
        except ReproductionError as exc:
            if isinstance(exc.__cause__, ToolError):  # cancelled between stages: say so, not "failed"
                raise exc.__cause__ from None
            tail = "\n".join(log_path.read_text("utf-8", errors="replace").splitlines()[-LOG_TAIL:])
            cause = f" ({exc.__cause__})" if exc.__cause__ else ""
            from mlops_engineer.redact import redact_text

            raise ToolError(
                "failed", redact_text(f"{exc}{cause}. Last lines of {base.log_path}:\n{tail}"),
                "Fix the stage command and run repro again; stages that finished are kept.",
            ) from exc
        base.stages = seen
        outs = []
        for stage in repo.index.stages if op.git_commit else []:
            if isinstance(stage, PipelineStage):  # git-tracked outputs (metrics), and the .gitignore of cached ones
                outs += [Path(o.fs_path) if not o.use_cache else Path(o.fs_path).parent / ".gitignore" for o in stage.outs]
        base.git_commit = _commit(repo, ctx, [ws.root / "dvc.lock", ws.root / "dvc.yaml", ws.root / "params.yaml", *outs], op.git_commit)
    ran = [s.stage for s in base.stages if s.status == "ran"]
    base.next_steps = ["Push the new outputs: action push." if ran else "Nothing changed: every stage was up to date."]
    return base


def _repro_plan(repo: Repo, targets: list[str], force: bool) -> list[StageRun]:
    """Stages a repro would run: changed ones and everything downstream of them, in run order.

    (`dvc repro --dry` cannot tell: it stops at the first stage whose input a skipped
    upstream stage would have written.)"""
    import networkx as nx
    from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro
    from dvc.stage import PipelineStage

    graph = get_active_graph(repo.index.graph)
    steps = plan_repro(graph, collect_stages(repo, targets))
    changed = set(repo.status(targets=[s.addressing for s in steps if getattr(s, "name", None)] or None))
    dirty = {s for s in steps if force or s.addressing in changed or getattr(s, "always_changed", False)}
    for stage in list(dirty):
        dirty |= set(nx.ancestors(graph, stage)) & set(steps)  # stages that depend on it
    return [StageRun(stage=s.addressing, status="would_run" if s in dirty else "skipped") for s in steps if isinstance(s, PipelineStage)]


def _flatten(diff: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for file, entries in sorted(diff.items()):
        for key, change in sorted(entries.items()):
            rows.append({"file": file, "key": key, "old": change.get("old"), "new": change.get("new"), "diff": change.get("diff")})
    return rows


def _diff(op: Diff, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo
    from mlops_engineer.output import preview_table

    with open_repo(ctx.workspace.root) as repo:
        a = repo.scm.resolve_rev(op.a_rev)
        b = repo.scm.resolve_rev(op.b_rev) if op.b_rev else "workspace"
        base.planned_calls = [f"dvc metrics diff {op.a_rev} {op.b_rev or ''}".strip(), f"dvc params diff {op.a_rev} {op.b_rev or ''}".strip()]
        metrics = repo.metrics.diff(a_rev=a, b_rev=b)
        params = repo.params.diff(a_rev=a, b_rev=b)
    base.metrics_diff = preview_table(ctx.workspace, "dvc-metrics-diff", _flatten(metrics.get("diff", {})))
    base.params_diff = preview_table(ctx.workspace, "dvc-params-diff", _flatten(params.get("diff", {})))
    return base


def _gc(op: Gc, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import gc_candidates, open_repo

    scope: dict[str, Any] = {op.scope: True}
    with open_repo(ctx.workspace.root) as repo:
        if op.cloud:
            scope.update(cloud=True, remote=_check_remote(repo, op.remote))
        flags = " ".join(f"--{k.replace('_', '-')}" if v is True else f"--{k} {v}" for k, v in scope.items())
        base.planned_calls = [f"dvc gc {flags}"]
        candidates = gc_candidates(repo, **scope)
        base.gc = GcResult(objects=candidates[:MAX_LIST], count=len(candidates), deleted=False)
        if inp.dry_run or not candidates:
            return base
        if not inp.confirm:
            raise ToolError(
                "needs_confirm",
                f"dvc gc would delete {len(candidates)} object(s) from the cache{' and the remote' if op.cloud else ''}: {', '.join(candidates[:10])}{' ...' if len(candidates) > 10 else ''}.",
                "Call with dry_run=true to see the list, then with confirm=true to delete them.",
            )
        repo.gc(**scope)
        base.gc.deleted = True
    return base


def summarize(out: VersionDataOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    action = out.action
    if action == "init":
        done = [w for w, flag in (("git init", out.git_initialised), ("dvc init", out.dvc_initialised)) if flag]
        remote = f"; default remote {out.remote.name} -> {out.remote.url}" if out.remote else ""
        return f"{prefix}DVC project at {out.root} ({', '.join(done) or 'already initialised'}){remote}."
    if action == "add_remote" and out.remote:
        creds = f", credentials in .dvc/config.local: {', '.join(out.remote.credentials_set)}" if out.remote.credentials_set else ""
        return f"{prefix}Remote {out.remote.name} ({out.remote.kind}) -> {out.remote.url}{' (default)' if out.remote.default else ''}{creds}."
    if action == "track":
        commit = f"; committed {out.git_commit[:12]}" if out.git_commit else ""
        return f"{prefix}Tracked {len(out.tracked)} path(s): {', '.join(t.path for t in out.tracked)}{commit}."
    if action in ("push", "pull") and out.transferred is not None:
        return f"{prefix}{action}: {out.transferred} file(s) transferred."
    if out.status is not None:
        s = out.status
        if s.clean:
            return f"{prefix}Data status: clean (remote {s.remote or 'not checked'})."
        parts = [f"changed {sum(len(v) for v in s.changed.values())}", f"not in cache {len(s.not_in_cache)}",
                 f"not pushed {len(s.not_in_remote)}", f"stages out of date {len(s.stages_changed)}"]
        return f"{prefix}Data status: " + ", ".join(parts) + "."
    if action == "checkout":
        return f"{prefix}Checked out data of {out.rev}: {len(out.restored)} path(s) restored."
    if action == "write_pipeline":
        return f"{prefix}dvc.yaml with stages {', '.join(out.order)}; " + ", ".join(f"{f.path} {f.action}" for f in out.files) + "."
    if action == "repro":
        ran = [s.stage for s in out.stages if s.status in ("ran", "would_run")]
        verb = "would run" if out.dry_run else "ran"
        return f"{prefix}repro {verb}: {', '.join(ran) or 'nothing'}; skipped {sum(s.status == 'skipped' for s in out.stages)}."
    if action == "diff":
        m = out.metrics_diff.total_rows if out.metrics_diff else 0
        p = out.params_diff.total_rows if out.params_diff else 0
        return f"{m} metric(s) and {p} param(s) differ."
    if action == "gc" and out.gc:
        verb = "deleted" if out.gc.deleted else "would delete"
        return f"{prefix}dvc gc {verb} {out.gc.count} object(s)."
    return f"{prefix}{action}: done."


TOOL = ToolSpec(
    name="version_ml_data",
    title="Version ML data and pipelines (DVC)",
    description=__doc__ or "",
    input_model=VersionDataInput,
    output_model=VersionDataOutput,
    run=run,
    summarize=summarize,
    # destructive: gc deletes cache objects and checkout/pull with confirm overwrite data (all need confirm).
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint='Set operation.action to one of: init, add_remote, track, push, pull, status, checkout, write_pipeline, repro, diff, gc; e.g. {"operation": {"action": "track", "paths": ["data/train.csv"]}}.',
)
