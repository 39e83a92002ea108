"""Fields every tool shares, so each tool module only declares what is its own."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Base of every input model: an unknown field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ToolInput(StrictModel):
    """Base of every tool input: the operation-independent switches."""

    dry_run: bool = Field(
        default=False, description="Return the plan (files, diffs, backend calls) without changing anything."
    )
    confirm: bool = Field(
        default=False,
        description="Allow destructive steps: deleting, archiving, overwriting a file someone edited.",
    )
    help: bool = Field(
        default=False,
        description="Run nothing; answer with the chosen action's complete input schema and examples.",
    )


class ToolOutput(BaseModel):
    dry_run: bool = Field(default=False, description="True when nothing was changed and this is the plan.")
    planned_calls: list[str] = Field(
        default_factory=list, description="Backend calls made (or, in a dry run, that would be made)."
    )
