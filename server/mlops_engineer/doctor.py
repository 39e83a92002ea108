"""`mlops-engineer doctor`: what is installed and which configured backends answer, without importing an SDK."""

from __future__ import annotations

import os
import sys

from mlops_engineer import __version__
from mlops_engineer.optional import EXTRAS, install_hint, installed_version
from mlops_engineer.redact import redact_text
from mlops_engineer.settings import Settings


def _check_workspace(settings: Settings) -> tuple[bool, str]:
    root = settings.workspace
    if not root.is_dir():
        return False, f"{root} does not exist"
    if not os.access(root, os.W_OK):
        return False, f"{root} is not writable"
    return True, str(root)


def _check_tracking(settings: Settings) -> tuple[bool, str]:
    from mlops_engineer.engines.mlflow.backend import check_reachable, resolve_target
    from mlops_engineer.errors import ToolError
    from mlops_engineer.redact import redact_text
    from mlops_engineer.workspace import Workspace

    if not settings.tracking_uri:
        return True, f"embedded SQLite store in {settings.workspace / '.mlops'} (no server needed)"
    try:
        target = resolve_target(Workspace(settings.workspace), settings)  # a local store outside the workspace is refused
        check_reachable(target)
    except ToolError as error:
        return False, f"{redact_text(settings.tracking_uri)}: {error.message}"
    return True, f"{target.display_uri} answers"


def run_doctor() -> int:
    settings = Settings()
    print(f"mlops-engineer {__version__} on Python {sys.version.split()[0]}\n")
    print("SDK groups (extras):")
    missing = []
    for extra, distributions in EXTRAS.items():
        versions = {d: installed_version(d) for d in distributions}
        ok = all(versions.values())
        shown = ", ".join(f"{d} {v or 'MISSING'}" for d, v in versions.items())
        print(f"  [{'ok' if ok else '--'}] {extra:14} {shown}")
        if not ok:
            missing.append(extra)
    for extra in missing:
        print(f"       install {extra}: {install_hint(extra)}")

    print("\nBackends:")
    failures = 0
    for name, check in (("workspace", _check_workspace), ("mlflow", _check_tracking)):
        ok, detail = check(settings)
        failures += not ok
        print(f"  [{'ok' if ok else 'FAIL'}] {name:10} {redact_text(detail)}")
    return 1 if failures else 0
