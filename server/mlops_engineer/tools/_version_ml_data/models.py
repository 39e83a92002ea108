"""The tool's input (one model per action) and output models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.dvc.pipeline import DvcStage
from mlops_engineer.output import TablePreview
from mlops_engineer.render import FileChange

RemoteName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Remote name, e.g. storage.")]
Rev = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s~^:]+(~\d*|\^\d*)*$", description="Git revision: commit, branch, tag, HEAD~1.")]
MAX_LIST = 50  # paths per status list in a response


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
