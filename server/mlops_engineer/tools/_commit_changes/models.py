"""The tool's input (one model per action) and output models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.output import TablePreview

Convention = Literal["commitlint", "commitizen", "none"]
Paths = Annotated[list[Annotated[str, Field(min_length=1, max_length=4096)]], Field(max_length=1000)]
ConventionField = Field(
    default="commitlint",
    description="Rules the message must pass: commitlint (config-conventional), commitizen (cz check) or none.",
)
MAX_LIST = 50  # files per list in a response


class Status(StrictModel):
    """Branch and changed files."""

    action: Literal["status"]
    paths: Paths = Field(default_factory=list, description="Limit to these files or folders (workspace-relative).")


class Diff(StrictModel):
    """Staged and unstaged diff, bounded."""

    action: Literal["diff"]
    which: Literal["staged", "unstaged", "both"] = Field(default="both", description="Staged (index vs HEAD), unstaged (files vs index), or both.")
    paths: Paths = Field(default_factory=list, description="Limit to these files or folders.")
    context: int = Field(default=3, ge=0, le=50, description="Lines of context around each change.")
    max_chars: int = Field(default=20_000, ge=1000, le=200_000, description="Longer diffs are written to .mlops/outputs/ and cut here.")


class Stage(StrictModel):
    """Stage named paths, or hunks matching a pattern."""

    action: Literal["stage"]
    paths: Paths = Field(min_length=1, description="Files or folders (workspace-relative) to stage; '.' stages everything, on purpose only.")
    pattern: str | None = Field(
        default=None, max_length=500,
        description="Regex: stage only the hunks whose changed lines match it (new files: only if a line matches).",
    )


class Unstage(StrictModel):
    """Take paths out of the index."""

    action: Literal["unstage"]
    paths: Paths = Field(default_factory=list, description="Files or folders; empty unstages everything.")


class Commit(StrictModel):
    """Commit the index after secret, size and message checks.

    Refuses secrets (unless confirm), files over the size limits (track them with version_ml_data),
    and messages the convention rejects. Hooks pre-commit and commit-msg run; when one fails,
    the index is left exactly as it was.
    """

    action: Literal["commit"]
    message: str | None = Field(default=None, max_length=20_000, description="The commit message; omitted: the one `message` proposes.")
    convention: Convention = ConventionField
    run_hooks: bool = Field(default=True, description="Run the repository's pre-commit and commit-msg hooks (never other hooks).")
    max_file_mb: float = Field(default=10.0, gt=0, le=1000, description="Largest file committed to git; bigger ones belong in DVC.")
    max_data_file_mb: float = Field(default=1.0, gt=0, le=1000, description="Largest data or model file (csv, parquet, pkl, pt, onnx, ...).")


class Amend(Commit):
    """Amend HEAD; confirm if it was pushed."""

    action: Literal["amend"]  # type: ignore[assignment]
    message: str | None = Field(default=None, max_length=20_000, description="New message; omitted: keep HEAD's message.")


class Message(StrictModel):
    """Propose a message from the staged diff."""

    action: Literal["message"]
    type: str | None = Field(default=None, pattern=r"^[a-z]+$", max_length=20, description="Commit type instead of the guessed one (feat, fix, docs, ...).")
    scope: str | None = Field(default=None, pattern=r"^[a-z0-9._/-]+$", max_length=40, description="Scope instead of the guessed one.")
    subject: str | None = Field(default=None, min_length=1, max_length=90, description="Subject (imperative, lower-case start, no full stop).")
    body: str | None = Field(default=None, max_length=10_000, description="Body text; wrapped at 72 columns.")
    breaking: str | None = Field(default=None, max_length=500, description="What breaks: adds `!` and a BREAKING CHANGE footer.")
    convention: Convention = ConventionField


class CheckMessages(StrictModel):
    """Check the messages of a range."""

    action: Literal["check_messages"]
    range: str = Field(
        default="HEAD", max_length=200, pattern=r"^[A-Za-z0-9_./@{}~^-]+$",
        description="A revision or range: HEAD, main..HEAD, origin/main...feature, v1.0..HEAD.",
    )
    max_count: int = Field(default=500, ge=1, le=100_000, description="Check at most this many commits, newest first.")
    include_merges: bool = Field(default=False, description="Check merge commits too.")
    convention: Literal["commitlint", "commitizen"] = Field(default="commitlint", description="commitlint (config-conventional) or commitizen (cz check).")


Operation = Annotated[Status | Diff | Stage | Unstage | Commit | Amend | Message | CheckMessages, Field(discriminator="action")]


class CommitChangesInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    repo: str = Field(default=".", max_length=4096, description="The git repository's folder, inside the workspace.")


class FileEntry(BaseModel):
    path: str
    status: str = Field(description="A added, M modified, D deleted, R renamed, T type changed, ? untracked.")
    size_bytes: int | None = None
    old_path: str | None = None


class SecretFinding(BaseModel):
    path: str
    line: int | None = None
    kind: str
    preview: str = Field(description="The first characters only, never the secret.")


class LargeFile(BaseModel):
    path: str
    size_mb: float
    limit_mb: float


class MessageCheck(BaseModel):
    valid: bool
    convention: str
    errors: list[str] = Field(default_factory=list, description="`rule: explanation` for each failed rule.")
    warnings: list[str] = Field(default_factory=list)


class CommitChangesOutput(ToolOutput):
    action: str
    repo: str
    branch: str | None = None
    upstream: str | None = None
    ahead: int = 0
    behind: int = 0
    head: str | None = Field(default=None, description="HEAD's commit after the call.")
    staged: list[FileEntry] = Field(default_factory=list)
    unstaged: list[FileEntry] = Field(default_factory=list)
    untracked: list[str] = Field(default_factory=list)
    conflicted: list[str] = Field(default_factory=list)
    omitted: int = Field(default=0, description=f"Entries left out of the lists above (each shows at most {MAX_LIST}).")
    diff: str | None = None
    diff_file: str | None = Field(default=None, description="Workspace path of the whole diff when `diff` was cut.")
    diff_chars: int = 0
    hunks_staged: int | None = None
    hunks_total: int | None = None
    committed: list[FileEntry] = Field(default_factory=list, description="What the commit recorded.")
    commit: str | None = Field(default=None, description="The commit made (or found, when an identical one is HEAD).")
    created: bool = False
    message: str | None = None
    type: str | None = None
    scope: str | None = None
    breaking: str | None = None
    reasons: list[str] = Field(default_factory=list, description="Why the proposal chose its type, scope and footer.")
    check: MessageCheck | None = None
    secrets: list[SecretFinding] = Field(default_factory=list)
    large_files: list[LargeFile] = Field(default_factory=list)
    hook_output: str | None = None
    checked: int | None = Field(default=None, description="check_messages: commits checked.")
    invalid: TablePreview | None = Field(default=None, description="check_messages: the commits whose messages fail.")
