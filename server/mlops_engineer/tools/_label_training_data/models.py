"""The tool's input (one model per action) and output models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.mlflow.backend import TrackingUri
from mlops_engineer.output import TablePreview

ProjectRef = Annotated[int | str, Field(description="Project id, or its exact title.")]
Level = Literal["nominal", "ordinal", "interval", "ratio"]


class LabelSpec(StrictModel):
    kind: Literal["classification", "multi_label", "ner", "bbox", "rating"]
    labels: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=500,
                                                                             description="Classes; none for rating.")
    data_field: str | None = Field(default=None, description="Task data key shown to annotators; default text (image for bbox).")
    name: str = Field(default="label", description="Name of the question (the control tag).")
    max_rating: int = Field(default=5, ge=2, le=100)
    instructions: str | None = Field(default=None, max_length=2000, description="Shown above the task.")


class CreateProject(StrictModel):
    """Project from a typed spec."""

    action: Literal["create_project"]
    title: str = Field(min_length=1, max_length=50, description="Project title; an existing one with the same spec is reused.")
    spec: LabelSpec
    description: str = Field(default="", max_length=2000)


class Predictions(StrictModel):
    model_uri: str = Field(pattern=r"^models:/[^/@\s]+(@[\w-]+|/\d+)$", description="models:/name@alias or models:/name/version.")
    feature_columns: list[str] = Field(default_factory=list, description="Columns the model reads; default all but text_column.")
    tracking_uri: TrackingUri = None


class ImportTasks(StrictModel):
    """Import CSV/JSONL/Parquet rows."""

    action: Literal["import_tasks"]
    project: ProjectRef
    path: str = Field(description="CSV, JSONL or Parquet file in the workspace; each row becomes a task's data.")
    id_column: str | None = Field(default=None, description="Column identifying a row; default a digest of the row. Rows already imported are skipped.")
    batch_size: int = Field(default=500, ge=1, le=10000)
    predictions: Predictions | None = Field(default=None, description="Pre-annotate with an MLflow classifier.")


class NextBatch(StrictModel):
    """Tasks to label next."""

    action: Literal["next_batch"]
    project: ProjectRef
    strategy: Literal["uncertainty", "disagreement"] = Field(
        default="uncertainty", description="uncertainty: lowest prediction score first among tasks lacking annotations; "
        "disagreement: annotated tasks whose annotators disagree most.")
    size: int = Field(default=50, ge=1, le=100000)
    target_annotations: int = Field(default=1, ge=1, le=50, description="uncertainty: tasks with fewer annotations than this are candidates.")


class Export(StrictModel):
    """Training file with provenance."""

    action: Literal["export"]
    project: ProjectRef | None = Field(default=None, description="Live project; or give export_file.")
    export_file: str | None = Field(default=None, description="A Label Studio JSON/JSONL export in the workspace, instead of a live project.")
    output: str = Field(description="Workspace file: .csv, .parquet or .jsonl.")
    resolve: Literal["majority", "annotator", "dawid_skene"] = "majority"
    annotator: str | None = Field(default=None, description="resolve=annotator: the annotator's user id or email.")
    min_annotations: int = Field(default=1, ge=1, le=50)
    control: str | None = Field(default=None, description="Question to read when the project has several; default the first.")
    track: bool = Field(default=False, description="Track the output with version_ml_data (DVC) afterwards.")


class Agreement(StrictModel):
    """Kappas, alpha, bootstrap CIs."""

    action: Literal["agreement"]
    project: ProjectRef | None = Field(default=None, description="Live project; or give export_file.")
    export_file: str | None = Field(default=None, description="A Label Studio JSON/JSONL export in the workspace.")
    levels: list[Level] = Field(default_factory=list, description="Alpha levels; default nominal, plus ordinal/interval/ratio for numeric answers.")
    bootstrap: int = Field(default=1000, ge=0, le=20000, description="Bootstrap replicates over items (0: no intervals).")
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    seed: int = Field(default=0, ge=0)
    top: int = Field(default=20, ge=1, le=100000, description="Items with the most disagreement to list.")
    control: str | None = None


Operation = Annotated[CreateProject | ImportTasks | NextBatch | Export | Agreement, Field(discriminator="action")]


class LabelInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    url: str | None = Field(default=None, description="Label Studio URL; default LABEL_STUDIO_URL.")
    api_key: SecretStr | None = Field(default=None, description="API key; default LABEL_STUDIO_API_KEY. Never echoed.")


class ProjectInfo(BaseModel):
    id: int
    title: str
    created: bool = Field(description="False when a project with this title and config already existed.")
    label_config: str


class ImportInfo(BaseModel):
    rows: int
    imported: int
    skipped_existing: int
    batches: int
    predictions: int
    model_version: str | None = None


class IntervalOut(BaseModel):
    estimate: float | None
    low: float | None = None
    high: float | None = None


class AgreementInfo(BaseModel):
    items: int
    pairable_items: int
    annotators: int
    ratings: int
    kind: str
    alpha: dict[str, IntervalOut]
    fleiss_kappa: IntervalOut
    fleiss_items: int = Field(description="Items with the most common number of ratings, which Fleiss' kappa needs.")
    fleiss_raters: int
    pairs: TablePreview = Field(description="Cohen's kappa per annotator pair on the items both labelled.")
    labels: TablePreview = Field(description="Per label: alpha of 'has this label or not', Fleiss' per-category kappa.")
    disagreements: TablePreview


class ExportInfo(BaseModel):
    path: str
    rows: int
    tasks: int
    sources: dict[str, int] = Field(description="label_source -> rows.")
    provenance_path: str
    annotator_accuracy: dict[str, float] = Field(default_factory=dict, description="Dawid-Skene only.")
    tracked: dict[str, Any] | None = None


class LabelOutput(ToolOutput):
    action: str
    server: str | None = Field(default=None, description="Label Studio URL used (no credentials), or None for a file.")
    project: ProjectInfo | None = None
    imported: ImportInfo | None = None
    batch: TablePreview | None = None
    export: ExportInfo | None = None
    agreement: AgreementInfo | None = None
    next_steps: list[str] = Field(default_factory=list)
