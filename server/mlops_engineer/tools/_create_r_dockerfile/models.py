"""Input and output models of create_r_dockerfile."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.grammar import ImageRef, OneLine
from mlops_engineer.render import FileChange

Flavour = Literal["auto", "debian", "python", "rocker", "conda"]
_RELATIVE = r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$"


class _Options(StrictModel):
    project: str = Field(default=".", description="Project folder in the workspace (holds renv.lock, DESCRIPTION, pyproject.toml, ...).")
    base_image: ImageRef | None = Field(
        default=None,
        description="Base image; default a digest-pinned public one for the project kind (python slim, debian slim, "
        "rocker/r-ver for renv, micromamba for conda). Any local image works, e.g. local/debian:bookworm.",
    )
    base_flavour: Flavour = Field(
        default="auto",
        description="What the base already has. debian: nothing (Python and R come from apt); python: Python "
        "(official python images); rocker: R built from source (rocker/r-ver); conda: micromamba. auto: from the image name.",
    )
    r_install: Literal["apt", "renv"] = Field(
        default="apt",
        description="apt: Debian's r-cran-* binaries (no CRAN needed, Debian's versions); renv: renv::restore() of "
        "renv.lock from CRAN with a renv cache mount (exact versions, needs CRAN access).",
    )
    port: int | None = Field(default=None, ge=1, le=65535, description="A service's port: adds EXPOSE and a HEALTHCHECK.")
    health_path: str = Field(default="/health", pattern=r"^/[A-Za-z0-9._~/-]*$", description="Path the HEALTHCHECK requests.")
    command: list[OneLine] = Field(default_factory=list, max_length=50, description="CMD (exec form); default python3 or R.")
    keep: list[str] = Field(default_factory=list, description="Folders that look like data (data, models, ...) but the image needs.")
    dockerfile: str = Field(default="Dockerfile", pattern=_RELATIVE, description="Dockerfile name inside the project folder.")


class Render(_Options):
    """Write Dockerfile + .dockerignore from the project's files.

    Detects renv.lock / DESCRIPTION / uv.lock / pyproject.toml / requirements*.txt / environment.yml,
    renders a multi-stage, cache-mounted, non-root Dockerfile and lints it with hadolint.
    """

    action: Literal["render"]


class Build(_Options):
    """Render, build with BuildKit, run a smoke command.

    The smoke command imports the project (Python) or loads its packages (R) inside the image.
    """

    action: Literal["build"]
    tag: ImageRef | None = Field(default=None, description="Image tag; default <project>:dev.")
    docker_host: str | None = Field(default=None, pattern=r"^(unix|tcp|ssh)://[^\s]+$", description="Engine address; default DOCKER_HOST.")
    ca_bundle: str | None = Field(
        default=None,
        description="Workspace file with extra CA certificates (a TLS-inspecting proxy) passed to pip/uv as the "
        "build secret pip_cert; never copied into the image.",
    )
    network: Literal["host", "default", "none"] = Field(default="host", description="Network of the build's RUN steps.")
    smoke: list[OneLine] | None = Field(default=None, max_length=50, description="Smoke command to run instead of the detected one.")
    timeout_s: int = Field(default=1800, ge=10, le=7200, description="Stop the build after this long.")


Operation = Annotated[Render | Build, Field(discriminator="action")]


class DockerfileInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")


class Detected(BaseModel):
    kind: Literal["r", "python", "mixed"]
    sources: list[str] = Field(description="The dependency files read.")
    python_manager: str | None = None
    python_dependencies: int = 0
    r_packages: list[str] = Field(default_factory=list, description="R packages installed (the first 50).")
    apt_packages: list[str] = Field(default_factory=list, description="apt packages the Dockerfile installs.")
    system_requirements: dict[str, list[str]] = Field(
        default_factory=dict, description="R package (or SystemRequirements) -> apt -dev packages, from our table."
    )
    smoke: list[list[str]] = Field(default_factory=list, description="Commands that check the image.")
    notes: list[str] = Field(default_factory=list)


class LintInfo(BaseModel):
    ran: bool = Field(description="False when hadolint is not installed.")
    findings: list[str] = Field(default_factory=list, description="line code level message; empty means clean.")
    ignored: dict[str, str] = Field(default_factory=dict, description="Rules the Dockerfile ignores, with the reason.")


class SmokeResult(BaseModel):
    command: list[str]
    exit_code: int
    output: str


class BuildInfo(BaseModel):
    tag: str
    image_id: str
    size_mb: float
    seconds: float
    cached_steps: int = Field(description="BuildKit steps served from its cache.")
    builder: str = Field(description="How the image was built.")
    log: str = Field(description="Workspace path of the full build log.")
    smoke: list[SmokeResult] = Field(default_factory=list)


class DockerfileOutput(ToolOutput):
    action: str
    project: str
    base_image: str
    base_flavour: str
    detected: Detected
    files: list[FileChange] = Field(default_factory=list)
    dockerfile: str | None = Field(default=None, description="The rendered Dockerfile (in a dry run).")
    lint: LintInfo
    build: BuildInfo | None = None
    next_steps: list[str] = Field(default_factory=list)
