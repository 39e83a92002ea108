"""The team's public test data (`../shared/data`, see its README), read in place and never copied here.

It sits beside the clone, or beside the folder that holds the worktrees; `MLOPS_ENGINEER_SHARED_DATA`
points elsewhere. Tests that need it skip with the reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = "MLOPS_ENGINEER_SHARED_DATA"


def shared_data(*parts: str) -> Path | None:
    """`<shared>/data/<parts>`, or None when no shared folder holds it."""
    bases = [Path(os.environ[ENV])] if os.environ.get(ENV) else []
    bases += [ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data"]
    for base in bases:
        candidate = base.joinpath(*parts)
        if candidate.exists():
            return candidate
    return None


def missing_reason(*parts: str) -> str:
    return f"../shared/data/{'/'.join(parts)} is not beside this checkout (set {ENV} to the shared data folder)"
