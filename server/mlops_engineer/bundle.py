"""Where the agent, skills and templates live: inside the wheel, or in a source checkout."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def bundle_root() -> Path:
    """The folder holding `agent/`, `skills/` and `templates/`.

    A built wheel carries them in `mlops_engineer/_bundle`; an editable install
    or a checkout finds them at the repository root, two levels up.
    """
    for candidate in (_PACKAGE_DIR / "_bundle", _PACKAGE_DIR.parent.parent):
        if (candidate / "skills").is_dir() and (candidate / "agent").is_dir():
            return candidate
    raise RuntimeError(
        f"Cannot find the skills/ and agent/ folders next to {_PACKAGE_DIR}. "
        "Reinstall the package (uv sync, or pip install mlops-engineer)."
    )


def bundle_path(name: str) -> Path:
    return bundle_root() / name
