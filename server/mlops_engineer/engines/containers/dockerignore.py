"""A project's `.dockerignore`: what never belongs in a build context, plus what this project has.

The context is sent to the engine whole and `COPY . .` puts it in the image, so data, local
environments, tracking stores, notebook checkpoints and credentials are left out by default.
"""

from __future__ import annotations

from pathlib import Path

ALWAYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Version control and editors", (".git", ".gitignore", ".idea", ".vscode", "**/.DS_Store")),
    ("Python environments and caches", (".venv", "venv", "**/__pycache__", "**/*.py[cod]", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.egg-info", "build", "dist")),
    ("R session and renv state (packages come from the image)", (".Rproj.user", ".Rhistory", ".RData", "renv/library", "renv/staging", "renv/python")),
    ("Notebooks' checkpoints", ("**/.ipynb_checkpoints",)),
    ("ML state: mlops-engineer, MLflow, DVC's cache", (".mlops", "mlruns", "mlartifacts", ".dvc/cache", ".dvc/tmp")),
    ("Credentials: never in an image (pass them at run time or as build secrets)", (".env", ".env.*", "*.pem", "*.key", "*.crt", ".netrc", ".aws", ".ssh")),
    ("The container files themselves", ("Dockerfile*", ".dockerignore")),
)
# Folders that, when the project has them, hold data or outputs rather than code.
DATA_DIRS = ("data", "datasets", "models", "outputs", "logs", "wandb", "lightning_logs", "checkpoints", "node_modules")


def dockerignore_sections(root: Path, keep: list[str]) -> list[tuple[str, list[str]]]:
    """Sections of patterns; `keep` names folders the image needs even though they look like data."""
    sections = [(title, list(patterns)) for title, patterns in ALWAYS]
    found = [name for name in DATA_DIRS if (root / name).is_dir() and name not in keep]
    if found:
        sections.append(("Data and outputs found in this project (mount them at run time; list a folder in `keep` to ship it)", found))
    return sections
