"""Small helpers shared by the tool tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mlops_engineer.registry import ToolSpec
from mlops_engineer.runtime import ToolContext, execute
from mlops_engineer.settings import Settings
from mlops_engineer.workspace import Workspace


class ToolRunner:
    """Run tools in-process in one workspace, against one tracking URI (None = embedded; given only to tools that take one)."""

    def __init__(self, root: Path, tracking_uri: str | None = None) -> None:
        self.root = root
        self.tracking_uri = tracking_uri
        self.settings = Settings(workspace=root)
        self.progress: list[tuple[float, float | None, str | None]] = []
        self.ctx = ToolContext(
            workspace=Workspace(root), settings=self.settings,
            on_progress=lambda d, t, m: self.progress.append((d, t, m)),
        )

    def unique(self, name: str) -> str:
        """A name no other test uses: tests share one MLflow server per session."""
        return f"{name}-{self.root.name}"

    def __call__(self, spec: ToolSpec, operation: dict[str, Any], **fields: Any) -> BaseModel:
        arguments: dict[str, Any] = {"operation": operation, **fields}
        if self.tracking_uri and "tracking_uri" in spec.input_model.model_fields:
            arguments.setdefault("tracking_uri", self.tracking_uri)
        return execute(spec, arguments, self.ctx)
