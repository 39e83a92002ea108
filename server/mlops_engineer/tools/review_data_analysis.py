"""Review a dataset and the code that trains on it: duplicates, train/test overlap, target
leakage, labels, missingness, split drift; leakage, seeds and paths in scripts and notebooks;
pinned dependencies, DVC, MLflow. Findings with evidence and a fix go to a table and a report.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.output import TablePreview
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Review name: its folder under .mlops/reviews/.")]
REVIEWS_DIR = ".mlops/reviews"


class _DataFields(StrictModel):
    data: str | None = Field(default=None, description="One CSV/Parquet table (or its .dvc pointer).")
    train: str | None = Field(default=None, description="Training split (CSV/Parquet/.dvc); with `test`.")
    test: str | None = Field(default=None, description="Test split; with `train`.")
    target: str | None = Field(default=None, description="Target column: labels, leakage and imbalance checks.")
    group_key: str | None = Field(default=None, description="Entity column (e.g. customer_id) that must not span splits.")
    time_column: str | None = Field(default=None, description="Timestamp column: test rows must be newer than training rows.")
    ignore: list[str] = Field(default_factory=list, description="Columns to leave out of every check (row ids).")
    contract: str | None = Field(default=None, description="A pandera YAML schema the tables must satisfy.")

    @model_validator(mode="after")
    def _one_source(self) -> _DataFields:
        if self.data and (self.train or self.test):
            raise ValueError("give either `data` or `train` + `test`, not both")
        if bool(self.train) != bool(self.test):
            raise ValueError("`train` and `test` go together")
        return self

    def has_data(self) -> bool:
        return bool(self.data or self.train)


class ReviewData(_DataFields):
    """Review a table or a train/test pair."""

    action: Literal["data"]
    name: Name = "data"

    @model_validator(mode="after")
    def _needs_data(self) -> ReviewData:
        if not self.has_data():
            raise ValueError("give `data`, or `train` and `test`")
        return self


class ReviewCode(StrictModel):
    """Static leakage/seed/path checks on scripts and notebooks."""

    action: Literal["code"]
    name: Name = "code"
    paths: list[str] = Field(default_factory=lambda: ["."], min_length=1, description="Files (.py, .ipynb) or folders to scan.")


class ReviewProject(_DataFields):
    """Code, reproducibility, and data if given."""

    action: Literal["project"]
    name: Name = "project"
    paths: list[str] = Field(default_factory=lambda: ["."], min_length=1, description="Files or folders whose code to scan.")


Operation = Annotated[ReviewData | ReviewCode | ReviewProject, Field(discriminator="action")]


class ReviewInput(ToolInput):
    operation: Operation = Field(description="What to review; `action` selects it.")


class ReviewOutput(ToolOutput):
    action: str
    name: str
    counts: dict[str, int] = Field(default_factory=dict, description="Findings per severity.")
    worst: str | None = Field(default=None, description="Highest severity found; none when there is no finding.")
    findings: TablePreview | None = Field(default=None, description="id, severity, check, title, where; most severe first.")
    files: list[str] = Field(default_factory=list, description="report.md, findings.json, findings.csv (workspace paths).")
    reviewed: list[str] = Field(default_factory=list, description="Data and code files reviewed (first 50).")
    notes: list[str] = Field(default_factory=list, description="How numbers were computed (sampling, skipped files).")


def run(inp: ReviewInput, ctx: ToolContext) -> ReviewOutput:
    from mlops_engineer.tools._review_data_analysis.review import review

    return review(inp, ctx)


def summarize(out: ReviewOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.dry_run:
        return f"{prefix}Review '{out.name}' ({out.action}) would run {len(out.planned_calls)} checks."
    shown = ", ".join(f"{s} {n}" for s, n in reversed(list(out.counts.items())) if n) or "no findings"
    report = next((f for f in out.files if f.endswith(".md")), "")
    return f"Review '{out.name}' ({out.action}): {shown}; report {report}."


TOOL = ToolSpec(
    name="review_data_analysis",
    title="Review data and training code",
    description=__doc__ or "",
    input_model=ReviewInput,
    output_model=ReviewOutput,
    run=run,
    summarize=summarize,
    # Writes only its own report folder, the same bytes on every rerun of an unchanged project.
    hints=Hints(read_only=False, destructive=False, idempotent=True, open_world=False),
    input_hint=action_hint(ReviewInput, '{"operation": {"action": "data", "train": "data/train.csv", "test": "data/test.csv", "target": "churned"}}'),
)
