"""The typed Feast spec and results shared by `build_feature_store` and the engine.

They live beside the engine, not in the tool module, so the engine depends on the
core only and the tool imports both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.grammar import DbName, Host
from mlops_engineer.output import TablePreview
from mlops_engineer.render import FileChange

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", description="Identifier: letters, digits, underscores.")]
ValueTypeName = Literal["int32", "int64", "float32", "float64", "string", "bool", "bytes", "unix_timestamp"]
FeatureRef = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(:([A-Za-z_][A-Za-z0-9_]*|\*))?$",
                                  description="'view' or 'view:*' (all features) or 'view:feature'.")]


class EntitySpec(StrictModel):
    name: Name
    join_key: Name | None = Field(default=None, description="Column that identifies the entity; the name when omitted.")
    value_type: ValueTypeName = Field(description="Type of the join key.")
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class SourceSpec(StrictModel):
    name: Name
    path: str | None = Field(default=None, description="Parquet file in the workspace. File offline store: read in place; postgres: loaded into `table`.")
    table: Name | None = Field(default=None, description="PostgreSQL table (postgres offline store).")
    query: str | None = Field(default=None, description="PostgreSQL query instead of a table (postgres offline store).")
    timestamp_field: str = Field(default="event_timestamp", min_length=1, description="Event-time column used for point-in-time joins.")
    created_timestamp_column: str | None = Field(default=None, description="Row creation time; breaks ties between rows with the same event time.")


class FeatureSpec(StrictModel):
    name: Name
    dtype: ValueTypeName


class FeatureViewSpec(StrictModel):
    name: Name
    entities: list[Name] = Field(min_length=1, description="Entity names (their join keys key the view).")
    source: Name = Field(description="Name of a declared source.")
    schema_: list[FeatureSpec] = Field(alias="schema", min_length=1, description="Features and their types.")
    ttl_seconds: int = Field(default=86400, ge=0, description="Values older than this (relative to the entity row's timestamp) are not used; 0 = no limit.")
    online: bool = Field(default=True, description="Materialize into the online store.")
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)

    model_config = {"extra": "forbid", "populate_by_name": True}


class OnDemandFeature(StrictModel):
    name: Name
    dtype: ValueTypeName
    expression: str = Field(min_length=1, max_length=500, description="pandas expression over input feature names, e.g. \"monthly_charges / (tenure_months + 1)\".")


class OnDemandViewSpec(StrictModel):
    name: Name
    sources: list[Name] = Field(min_length=1, description="Feature views whose features the expressions read.")
    request_fields: dict[Name, ValueTypeName] = Field(default_factory=dict, description="Values supplied with each request (a RequestSource).")
    schema_: list[OnDemandFeature] = Field(alias="schema", min_length=1)
    description: str = ""

    model_config = {"extra": "forbid", "populate_by_name": True}


class FeatureServiceSpec(StrictModel):
    name: Name
    features: list[FeatureRef] = Field(min_length=1)
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class SqliteOnline(StrictModel):
    type: Literal["sqlite"] = "sqlite"


class RedisOnline(StrictModel):
    type: Literal["redis"]
    host: Host = "127.0.0.1"
    port: int = Field(default=6379, ge=1, le=65535)
    db: int = Field(default=0, ge=0, le=15)
    password_env: Name | None = Field(default=None, description="Environment variable holding the password (never written to files).")


class FileOffline(StrictModel):
    type: Literal["file"] = "file"


class PostgresOffline(StrictModel):
    type: Literal["postgres"]
    host: Host = "127.0.0.1"
    port: int = Field(default=5432, ge=1, le=65535)
    database: DbName
    user: DbName = "postgres"
    db_schema: Name = "public"
    password_env: Name | None = Field(default=None, description="Environment variable holding the password (never written to files).")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"


class Apply(StrictModel):
    """Check the spec, render the repository and register it.

    In team mode Parquet sources are loaded into PostgreSQL tables first. Objects removed from
    the spec are deleted from the registry only with confirm=true.
    """

    action: Literal["apply"]
    project: Name = Field(description="Feast project name.")
    online_store: Annotated[SqliteOnline | RedisOnline, Field(discriminator="type")] = Field(default_factory=SqliteOnline)
    offline_store: Annotated[FileOffline | PostgresOffline, Field(discriminator="type")] = Field(default_factory=FileOffline)
    registry: Literal["file", "sql"] = Field(
        default="file",
        description="file: data/registry.db in the repository; sql: tables in the offline store's PostgreSQL database, shared by every machine (needs the postgres offline store).",
    )
    entities: list[EntitySpec] = Field(min_length=1)
    sources: list[SourceSpec] = Field(min_length=1)
    feature_views: list[FeatureViewSpec] = Field(min_length=1)
    on_demand_feature_views: list[OnDemandViewSpec] = Field(default_factory=list)
    feature_services: list[FeatureServiceSpec] = Field(default_factory=list)


class Materialize(StrictModel):
    """Copy feature values into the online store.

    Incrementally (since each view's last run) or for a time range.
    """

    action: Literal["materialize"]
    mode: Literal["incremental", "range"] = Field(default="incremental", description="incremental: from each view's last materialization (or its TTL) to `end`; range: from `start` to `end`.")
    start: datetime | None = Field(default=None, description="Range start (ISO 8601; UTC when no zone).")
    end: datetime | None = Field(default=None, description="End (ISO 8601; UTC when no zone); now when omitted.")
    feature_views: list[Name] = Field(default_factory=list, description="Only these views; all online views when empty.")

    @model_validator(mode="after")
    def _range(self) -> Materialize:
        if self.mode == "range" and self.start is None:
            raise ValueError("mode 'range' needs `start`")
        if self.start and self.end and utc(self.start) >= utc(self.end):
            raise ValueError("`start` must be before `end`")
        return self


class TrainingSet(StrictModel):
    """Point-in-time join of entity rows with features, to Parquet."""

    action: Literal["training_set"]
    entity_df: str = Field(description="Parquet or CSV in the workspace: join-key columns plus an event-timestamp column.")
    timestamp_column: str = Field(default="event_timestamp", description="Column of `entity_df` holding each row's point in time.")
    features: list[FeatureRef] = Field(default_factory=list, description="Features to join; or use feature_service.")
    feature_service: Name | None = None
    output_path: str = Field(default="data/training_set.parquet", description="Where the training set is written (Parquet, in the workspace).")
    full_feature_names: bool = Field(default=False, description="Name columns view__feature instead of feature.")

    @model_validator(mode="after")
    def _one(self) -> TrainingSet:
        if bool(self.features) == bool(self.feature_service):
            raise ValueError("give exactly one of `features` or `feature_service`")
        return self


class Online(StrictModel):
    """Latest feature values for entity keys."""

    action: Literal["online"]
    entity_rows: list[dict[str, str | int | float | bool]] = Field(min_length=1, max_length=10000, description="One dict of join key -> value per entity (plus request fields for on-demand views).")
    features: list[FeatureRef] = Field(default_factory=list)
    feature_service: Name | None = None
    full_feature_names: bool = False

    @model_validator(mode="after")
    def _one(self) -> Online:
        if bool(self.features) == bool(self.feature_service):
            raise ValueError("give exactly one of `features` or `feature_service`")
        return self


class ListObjects(StrictModel):
    """What the registry holds."""

    action: Literal["list"]


Operation = Annotated[Apply | Materialize | TrainingSet | Online | ListObjects, Field(discriminator="action")]


class FeatureStoreInput(ToolInput):
    repo_path: str = Field(default="feature_repo", description="Workspace folder of the Feast repository.")
    operation: Operation = Field(description="What to do; `action` selects the operation.")


class RegistryChange(BaseModel):
    kind: str
    name: str
    change: Literal["create", "update", "delete", "unchanged"]


class MaterializeInfo(BaseModel):
    feature_views: list[str]
    start: str | None
    end: str
    seconds: float


class RegistryContents(BaseModel):
    project: str
    entities: list[dict[str, Any]] = Field(default_factory=list)
    data_sources: list[dict[str, Any]] = Field(default_factory=list)
    feature_views: list[dict[str, Any]] = Field(default_factory=list)
    on_demand_feature_views: list[dict[str, Any]] = Field(default_factory=list)
    feature_services: list[dict[str, Any]] = Field(default_factory=list)


class StaleValue(BaseModel):
    row: int = Field(description="Index of the entity in rows (and in entity_rows).")
    feature_view: str
    features: list[str] = Field(description="Its features in this answer: one event time, so one age.")
    age_seconds: float = Field(description="Now minus the values' event timestamp.")
    ttl_seconds: float = Field(description="The feature view's TTL, which the age exceeds.")


class FeatureStoreOutput(ToolOutput):
    action: str
    repo_path: str
    online_store: str = Field(default="", description="sqlite | redis")
    offline_store: str = Field(default="", description="file | postgres")
    files: list[FileChange] = Field(default_factory=list)
    changes: list[RegistryChange] = Field(default_factory=list, description="apply: what the registry gained, changed or lost.")
    loaded_tables: list[str] = Field(default_factory=list, description="apply (postgres): tables (re)loaded from Parquet.")
    materialized: MaterializeInfo | None = None
    training_set: TablePreview | None = None
    output_path: str | None = None
    rows: TablePreview | None = None
    stale: list[StaleValue] = Field(default_factory=list, description="online: values older than their feature view's TTL, which Feast "
                                    "still returns as present (feast#6821); the first 100.")
    stale_count: int = Field(default=0, description="online: how many (row, feature view) pairs are stale in all.")
    registry: RegistryContents | None = None
    next_steps: list[str] = Field(default_factory=list)


def utc(value: datetime) -> datetime:
    """A naive datetime read as UTC; an aware one converted to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
