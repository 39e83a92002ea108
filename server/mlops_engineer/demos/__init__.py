"""Steps of `mlops-engineer demo`: one module per part of the story, each with `run(session)`.

Steps run in the order of `mlops_engineer.demo.STEPS` and share one `DemoSession`:
later steps read what earlier ones left in `session.facts` (the champion's
version, the data files) instead of redoing the work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_engineer.workspace import Workspace


@dataclass
class DemoSession:
    root: Path
    workspace: Workspace
    call: Callable[[str, dict[str, Any]], Any]
    """Runs a tool exactly as an MCP client would: `call(tool, operation)`."""
    facts: dict[str, Any] = field(default_factory=dict)
    locations: list[tuple[str, str]] = field(default_factory=list)

    def say(self, line: str = "") -> None:
        print(line, flush=True)

    def where(self, label: str, location: str | Path) -> None:
        """Adds a line to the closing "Where things are" list."""
        self.locations.append((label, str(location)))
