"""Shared by the benchmark scripts (run as `python benchmarks/<script>.py`, so this folder is on sys.path)."""

from __future__ import annotations

import platform
from importlib import metadata


def versions() -> dict[str, str]:
    """Python and the versions of the packages a figure depends on."""
    out = {"python": platform.python_version()}
    for dist in ("mcp", "mlflow", "mlops-engineer"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out
