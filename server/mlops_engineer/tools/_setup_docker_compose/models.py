"""Input and output models of setup_docker_compose."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.compose.stack import Component, Profile
from mlops_engineer.render import FileChange

StackName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Stack name: the Compose project name's stem and the default folder compose/<stack>.")]
Directory = Annotated[str | None, Field(default=None, description="Workspace folder of the stack; default compose/<stack>.")]
DockerHost = Annotated[str | None, Field(default=None, pattern=r"^(unix|tcp|ssh|npipe)://[^\s]+$", description="Docker engine, e.g. unix:///run/docker.sock; default DOCKER_HOST, then the local socket.")]
Profiles = Annotated[list[Profile], Field(default_factory=list, description="Compose profiles to enable (optional services).")]


class Render(StrictModel):
    """Render a stack from typed components.

    Writes docker-compose.yml, .env.example (placeholders only; .env is never written), Dockerfiles
    and configs under compose/<stack>/.
    """

    action: Literal["render"]
    stack: StackName
    directory: Directory
    components: list[Component] = Field(min_length=1, description="What the stack holds; each kind once.")


class Validate(StrictModel):
    """Check a compose file: schema, policy, docker compose config.

    YAML (1.2, duplicate keys refused) and round trip through our reader, the Compose Specification's
    JSON schema (schema_path or MLOPS_ENGINEER_COMPOSE_SCHEMA), our policy (healthchecks, depends_on
    conditions, named volumes, no literal secrets), and `docker compose config`.
    """

    action: Literal["validate"]
    stack: StackName | None = Field(default=None, description="Validate compose/<stack>/docker-compose.yml.")
    directory: Directory
    path: str | None = Field(default=None, description="Any compose file in the workspace instead of a stack's.")
    schema_path: str | None = Field(default=None, description="compose-spec.json in the workspace.")
    policy: bool = Field(default=True, description="Apply our policy checks (false for third-party files).")


class Up(StrictModel):
    """Build, start and wait until every service is healthy."""

    action: Literal["up"]
    stack: StackName
    directory: Directory
    profiles: Profiles
    build: bool = Field(default=True, description="Build images from the stack's Dockerfiles first.")
    timeout_seconds: int = Field(default=600, ge=10, le=7200, description="Longest wait for builds and health.")
    docker_host: DockerHost


class Status(StrictModel):
    """Each service's state and health."""

    action: Literal["status"]
    stack: StackName
    directory: Directory
    docker_host: DockerHost


class Down(StrictModel):
    """Stop and remove the stack; volumes only with confirm."""

    action: Literal["down"]
    stack: StackName
    directory: Directory
    volumes: bool = Field(default=False, description="Also delete the stack's named volumes (its data): needs confirm.")
    timeout_seconds: int = Field(default=300, ge=10, le=3600)
    docker_host: DockerHost


Operation = Annotated[Render | Validate | Up | Status | Down, Field(discriminator="action")]


class ComposeInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")


class CheckResult(BaseModel):
    name: str = Field(description="yaml, round_trip, schema, policy or compose_config.")
    ok: bool | None = Field(description="None when skipped.")
    details: list[str] = Field(default_factory=list, description="Errors, or why the check was skipped.")


class ServiceState(BaseModel):
    service: str
    container: str
    state: str = Field(description="running, exited, created, ...")
    health: str = Field(description="healthy, unhealthy, starting, or empty when the service has no healthcheck.")
    exit_code: int | None = None
    ports: list[str] = Field(default_factory=list, description="Published host:port -> container port.")


class ComposeOutput(ToolOutput):
    action: str
    stack: str | None = None
    project: str | None = Field(default=None, description="The Compose project name (fixed per workspace and stack).")
    compose_file: str | None = None
    files: list[FileChange] = Field(default_factory=list)
    env_keys: list[str] = Field(default_factory=list, description="Keys .env must set (from .env.example).")
    checks: list[CheckResult] = Field(default_factory=list)
    valid: bool | None = None
    services: list[ServiceState] = Field(default_factory=list)
    healthy: bool | None = Field(default=None, description="up/status: every running service healthy.")
    left: list[str] = Field(default_factory=list, description="down: containers of the project still there afterwards.")
    next_steps: list[str] = Field(default_factory=list)
