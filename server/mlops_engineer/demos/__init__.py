"""Steps of `mlops-engineer demo`: one module per part of the story, each with `run(session)`.

Steps run in the order of `mlops_engineer.demo.STEPS` and share one `DemoSession`:
later steps read what earlier ones left in `session.facts` (the champion's
version, the data files) instead of redoing the work.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mlops_engineer.workspace import Workspace


@dataclass
class DemoSession:
    root: Path
    workspace: Workspace
    call: Callable[..., Any]
    """Runs a tool exactly as an MCP client would: `call(tool, operation, confirm=..., dry_run=...)`."""
    facts: dict[str, Any] = field(default_factory=dict)
    locations: list[tuple[str, str]] = field(default_factory=list)
    out: TextIO | None = None
    """Where the demo's own lines go; None is `sys.stdout` (see `demos.output`)."""

    def say(self, line: str = "") -> None:
        print(line, file=self.out or sys.stdout, flush=True)

    def command(self, program: str, *args: str | Path, env: dict[str, str] | None = None) -> str:
        """A shell command that works when pasted in any folder.

        `uv run` puts the environment's programs (mlflow, bentoml, python) on PATH only
        for its own child, so name them by absolute path; and pass what the demo's
        embedded backends need (tracking URI, BentoML home) explicitly.
        """
        here = Path(sys.executable)
        found = here if program == "python" else here.parent / program
        words = [*(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()),
                 shlex.quote(str(found) if found.exists() else program), *(shlex.quote(str(a)) for a in args)]
        return " ".join(words)

    def where(self, label: str, location: str | Path) -> None:
        """Adds a line to the closing "Where things are" list."""
        self.locations.append((label, str(location)))
