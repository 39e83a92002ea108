"""Shared by the benchmark scripts (run as `python benchmarks/<script>.py`, so this folder is on sys.path)."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from typing import Any


def versions() -> dict[str, str]:
    """Python and the versions of the packages a figure depends on."""
    out = {"python": platform.python_version()}
    for dist in ("mcp", "mlflow", "mlops-engineer"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def print_header() -> None:
    """The first line of a report: versions and the load average at the start."""
    print("versions:", versions(), "| load average:", os.getloadavg())


def finish(results: Any, json_path: str | None) -> None:
    """The last line of a report (load average at the end), and every figure as JSON when asked."""
    print("load average at end:", os.getloadavg())
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(results, handle, indent=2)
