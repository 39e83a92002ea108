"""`mlops-engineer demo`: the churn story end to end on the embedded backends, through the same tools a client calls.

Each step lives in `mlops_engineer.demos.<step>` and runs in `STEPS` order:
`champion` makes a synthetic churn dataset, tracks a baseline and a challenger,
registers both and promotes the challenger only after approval and the
validation gate; later steps build on what it left. Re-running finds
everything already done and changes nothing.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from mlops_engineer.demos import DemoSession
from mlops_engineer.errors import ToolError
from mlops_engineer.registry import load_registry
from mlops_engineer.runtime import ToolContext, execute
from mlops_engineer.settings import Settings
from mlops_engineer.workspace import Workspace

STEPS = [
    "champion",
    "data_versioning",
    "features",
    "serving",
    "drift",
    "ab_test",
    "pipeline",
    "tuning",
]


def run_demo(workspace_dir: str | None = None) -> int:
    root = Path(workspace_dir or os.environ.get("MLOPS_ENGINEER_WORKSPACE") or "mlops-demo").resolve()
    root.mkdir(parents=True, exist_ok=True)
    # The demo always runs on the embedded store, whatever the environment points at.
    settings = Settings(workspace=root, tracking_uri=None)
    workspace = Workspace(root)
    registry = load_registry()
    ctx = ToolContext(workspace=workspace, settings=settings)

    def call(tool: str, operation: dict[str, Any]) -> Any:
        return execute(registry.tool(tool), {"operation": operation}, ctx)

    session = DemoSession(root=root, workspace=workspace, call=call)
    session.say(f"mlops-engineer demo — workspace {root}\n")
    for step in STEPS:
        try:
            importlib.import_module(f"mlops_engineer.demos.{step}").run(session)
        except ToolError as error:
            session.say(f"demo failed in step {step}: {error}")
            return 1

    session.say("\nWhere things are:")
    width = max(len(label) for label, _ in session.locations)
    for label, location in session.locations:
        session.say(f"  {label:<{width}}  {location}")
    return 0
