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
from typing import Any, TextIO

from mlops_engineer.demos import DemoSession
from mlops_engineer.demos.output import terminal_to_log
from mlops_engineer.errors import ToolError
from mlops_engineer.registry import load_registry
from mlops_engineer.runtime import ToolContext, execute
from mlops_engineer.settings import Settings
from mlops_engineer.workspace import STATE_DIR, Workspace

STEPS = [
    "champion",
    "data_versioning",
    "features",
    "serving",
    "drift",
    "ab_test",
    "pipeline",
    "tuning",
    "review",
    "formats",
    "schemas",
    "labels",
    "containers",  # before commit, which commits the Dockerfile it renders (after it, a rerun would commit it)
    "claude_md",
    "commit",
    "branches",
]
LOG = f"{STATE_DIR}/demo.log"


def open_session(root: Path, out: TextIO | None = None) -> DemoSession:
    """A session whose `call` runs the tools in-process, on the embedded backends of `root`."""
    # The demo always runs on the embedded store, whatever the environment points at.
    settings = Settings(workspace=root, tracking_uri=None)
    workspace = Workspace(root)
    registry = load_registry()
    ctx = ToolContext(workspace=workspace, settings=settings)

    def call(tool: str, operation: dict[str, Any], **fields: Any) -> Any:
        return execute(registry.tool(tool), {"operation": operation, **fields}, ctx)

    return DemoSession(root=root, workspace=workspace, call=call, out=out)


def run_demo(workspace_dir: str | None = None) -> int:
    root = Path(workspace_dir or os.environ.get("MLOPS_ENGINEER_WORKSPACE") or "mlops-demo").resolve()
    root.mkdir(parents=True, exist_ok=True)
    log = root / LOG
    with terminal_to_log(log) as terminal:
        session = open_session(root, terminal)
        session.say(f"mlops-engineer demo — workspace {root}")
        session.say(f"(the SDKs' own output goes to {log})\n")
        for step in STEPS:
            try:
                importlib.import_module(f"mlops_engineer.demos.{step}").run(session)
            except ToolError as error:
                session.say(f"demo failed in step {step}: {error}\nThe SDKs' output is in {log}")
                return 1

        session.where("demo log", log)
        session.say("\nWhere things are:")
        width = max(len(label) for label, _ in session.locations)
        for label, location in session.locations:
            session.say(f"  {label:<{width}}  {location}")
    return 0
