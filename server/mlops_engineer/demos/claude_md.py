"""Demo step: a CLAUDE.md for the demo project, from commands that were checked and run here.

The project gets a small Makefile with the commands a person uses on it; the tool finds
them, runs the quick ones (the Prefect run is listed but not run: it takes minutes), and
writes only those that passed. A second demo refreshes the block and keeps hand edits.
"""

from __future__ import annotations

import sys

from mlops_engineer.demos import DemoSession

MAKEFILE = """\
# Commands for the churn demo project. PYTHON: the environment the demo ran in (override it: make PYTHON=python3 ...).
PYTHON ?= {python}
check-pipeline:
\t"$(PYTHON)" -c "import yaml; spec = yaml.safe_load(open('pipelines/churn/pipeline.yaml')); print(len(spec['stages']), 'stages')"
check-data:
\t"$(PYTHON)" -c "import pandas as pd; print(len(pd.read_csv('data/churn_train.csv')), 'training rows')"
pipeline:
\t"$(PYTHON)" pipelines/churn/flow.py
"""


def run(session: DemoSession) -> None:
    call, say, facts, ws = session.call, session.say, session.facts, session.workspace
    say("\nCLAUDE.md for this project, from commands checked here")
    if not ws.resolve("Makefile").exists():
        ws.write_text("Makefile", MAKEFILE.format(python=sys.executable))
    operation = {"run_commands": True, "timeout_seconds": 120, "skip_commands": ["make pipeline"]}
    if ws.resolve("CLAUDE.md").exists():
        out = call("write_claude_md", {"action": "update", **operation}, confirm=True)
    else:
        notes = [
            "Runs and models live in the embedded MLflow store .mlops/mlflow.db; set MLFLOW_TRACKING_URI for a team server.",
            f"The serving model is models:/{facts.get('model', 'churn-classifier')}@champion; promote through register_ml_model, never by hand.",
            "Data files are DVC-tracked (data/*.dvc): change them with dvc add, then commit the .dvc file.",
        ]
        out = call("write_claude_md", {"action": "draft", "notes": notes, **operation}, confirm=True)
    for check in out.commands:
        say(f"  {check.status:9} {check.command}" + (f"  ({check.reason})" if check.reason else ""))
    audit = call("write_claude_md", {"action": "audit"})
    say(f"CLAUDE.md: {out.lines} lines, {sum(c.written for c in out.commands)} command(s) written; "
        f"audit: {audit.errors} error(s), {audit.warnings} warning(s)")
    session.where("CLAUDE.md", session.root / "CLAUDE.md")
