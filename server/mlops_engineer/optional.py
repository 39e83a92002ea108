"""Import an optional SDK, or explain which extra installs it."""

from __future__ import annotations

import importlib
from importlib import metadata
from types import ModuleType

from mlops_engineer.errors import ToolError

# Extra name -> distributions it brings. Read from package metadata only, so
# `doctor` can report what is installed without importing a single SDK.
EXTRAS: dict[str, tuple[str, ...]] = {
    "tracking": ("mlflow", "scikit-learn", "pandas"),
    "data": ("dvc",),
    "features": ("feast",),
    "monitoring": ("evidently", "scipy", "prometheus-client"),
    "tuning": ("optuna", "ray", "cmaes", "matplotlib"),
    "serving": ("bentoml", "kubernetes-validate"),
    "forecasting": ("statsmodels", "matplotlib", "pyarrow"),
    "labeling": ("label-studio-sdk", "pandas", "pyarrow", "numpy"),
    "containers": ("docker", "jsonschema"),
    "orchestration": ("prefect",),
    "experiments": ("statsmodels", "scipy", "pyarrow"),
    "review": ("pandas", "pyarrow", "scikit-learn", "scipy", "pandera", "grimp", "import-linter"),
    "formats": ("pyarrow", "pandas", "fastavro", "protobuf", "grpcio-tools", "jsonschema"),
}


def install_hint(extra: str) -> str:
    return f"pip install 'mlops-engineer[{extra}]'  (or: uv sync --extra {extra})"


def import_optional(module: str, extra: str) -> ModuleType:
    """Import `module`, turning ImportError into a `missing_dependency` ToolError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ToolError(
            "missing_dependency",
            f"This tool needs the Python package '{module.split('.')[0]}', which is not installed ({exc}).",
            install_hint(extra),
        ) from exc


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
