"""One typed settings object: command-line flags > environment > config file > defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_NAME = ".mlops-engineer.toml"
CatalogMode = Literal["compact", "full"]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _default_workspace() -> Path:
    # Claude Code exports the project folder to the servers it starts.
    return Path(os.environ.get("CLAUDE_PROJECT_DIR") or os.getcwd())


def config_file_path(workspace: str | Path | None = None) -> Path:
    explicit = os.environ.get("MLOPS_ENGINEER_CONFIG")
    if explicit:
        return Path(explicit)
    root = workspace or os.environ.get("MLOPS_ENGINEER_WORKSPACE") or _default_workspace()
    return Path(root) / CONFIG_FILE_NAME


class Settings(BaseSettings):
    """Server settings. Every field can be set as `MLOPS_ENGINEER_<FIELD>` or in `.mlops-engineer.toml`."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_ENGINEER_", extra="ignore")

    workspace: Path = Field(
        default_factory=_default_workspace,
        description="Root folder every tool reads and writes under.",
    )
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLOPS_ENGINEER_TRACKING_URI", "MLFLOW_TRACKING_URI", "tracking_uri"),
        description="MLflow tracking URI for team mode; unset means the embedded SQLite store.",
    )
    registry_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLOPS_ENGINEER_REGISTRY_URI", "MLFLOW_REGISTRY_URI", "registry_uri"),
        description="MLflow model registry URI when it differs from the tracking URI.",
    )
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP transport binds.")
    http_port: int = Field(default=8765, ge=1, le=65535, description="Port of the HTTP transport.")
    http_token: SecretStr | None = Field(
        default=None, description="Bearer token the HTTP transport requires (mandatory off loopback)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    catalog: CatalogMode = Field(
        default="compact",
        description="compact: tools/list shows each tool's actions and top-level fields, the rest on demand "
        "(help: true); full: every field's schema and the long descriptions, as pydantic builds them.",
    )

    allow_external_callables: bool = Field(
        default=False,
        description="Let a callable objective (module:function) name a module outside the workspace; "
        "by default only workspace files may be imported and run.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Settings(workspace=X) reads X's config file, like --workspace X does.
        workspace = getattr(init_settings, "init_kwargs", {}).get("workspace")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, config_file_path(workspace)))

    @property
    def http_is_loopback(self) -> bool:
        return self.http_host in LOOPBACK_HOSTS
