"""Input and output models of write_claude_md."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.grammar import OneLine
from mlops_engineer.render import FileChange

ContextFile = Literal["CLAUDE.md", ".claude/CLAUDE.md", "CLAUDE.local.md"]
RuleName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Glob = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f\"]+$", max_length=200)]
MAX_NOTES = 30


class _Project(StrictModel):
    project: str = Field(default=".", description="Project folder in the workspace.")
    file: ContextFile = Field(default="CLAUDE.md", description="The context file, relative to the project.")
    run_commands: bool = Field(
        default=False,
        description="Run each discovered command (without a shell, in the project, with a timeout); needs confirm. "
        "Off: commands are only checked statically (program, script, make target, npm script, paths exist).",
    )
    timeout_seconds: int = Field(default=60, ge=1, le=1800, description="Per command; a command still running is killed and reported timed_out.")
    skip_commands: list[Annotated[str, Field(max_length=300)]] = Field(
        default_factory=list, max_length=50, description="Commands (exact text or a prefix) never to run."
    )


class RuleSpec(StrictModel):
    name: RuleName = Field(description="File name under .claude/rules/ (without .md).")
    paths: list[Glob] = Field(min_length=1, max_length=20, description="Globs the rule applies to, e.g. \"src/api/**\".")
    lines: list[OneLine] = Field(min_length=1, max_length=30, description="The rule's bullet points, one line each.")


class Draft(_Project):
    """Write a context file from verified facts.

    Commands found in README, pyproject.toml, Makefile, .ci/run and package.json; a failing
    one is reported, not written. Folders with their own manifest get a .claude/rules file.
    """

    action: Literal["draft"]
    notes: list[Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]+$", max_length=300)]] = Field(
        default_factory=list, max_length=MAX_NOTES,
        description="Gotchas and conventions you know (one line each), written under 'Gotchas', outside the generated block.",
    )
    rules: list[RuleSpec] = Field(default_factory=list, max_length=10, description="Folder-specific rules (.claude/rules/<name>.md).")


class Update(_Project):
    """Refresh the generated block, keep hand edits."""

    action: Literal["update"]


class Audit(_Project):
    """Check a context file: stale commands, missing paths, length, secrets."""

    action: Literal["audit"]
    max_lines: int = Field(default=200, ge=20, le=2000, description="Above this many lines: a warning (Claude Code's docs: under 200).")


Operation = Annotated[Draft | Update | Audit, Field(discriminator="action")]


class ClaudeMdInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")


CommandStatus = Literal["passed", "failed", "timed_out", "checked", "missing", "skipped", "planned"]


class CommandCheck(BaseModel):
    command: str
    source: str = Field(description="Where it was found, e.g. README.md:12, Makefile, package.json.")
    cwd: str = Field(description="Folder it runs in, relative to the workspace.")
    status: CommandStatus = Field(
        description="passed/failed/timed_out: ran; checked: not run, its program and files exist; "
        "missing: its program, script, target or a path it names does not exist; skipped: not run (reason); "
        "planned: would run (dry run)."
    )
    exit_code: int | None = None
    seconds: float | None = None
    reason: str | None = None
    output_tail: str | None = Field(default=None, description="Last lines of a failed or timed-out command's output (redacted).")
    written: bool = Field(default=False, description="Written into the context file.")


class Finding(BaseModel):
    severity: Literal["error", "warning", "info"]
    kind: str = Field(description="stale_command, missing_path, bad_import, length, secret, contradiction, "
                      "duplicates_readme, duplicates_agents, agents_import, bad_rule, unreadable.")
    line: int | None = None
    message: str


class ClaudeMdOutput(ToolOutput):
    action: str
    file: str = Field(description="The context file, relative to the workspace.")
    lines: int | None = Field(default=None, description="Lines of the file written (or audited).")
    commands: list[CommandCheck] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    errors: int = 0
    warnings: int = 0
    omitted: int = Field(default=0, description="Commands or findings left out of these lists to bound the answer.")
    files: list[FileChange] = Field(default_factory=list)
    content: str | None = Field(default=None, description="The drafted file (dry run only).")
    next_steps: list[str] = Field(default_factory=list)
