"""Demo step: the churn pipeline rendered for Prefect, Airflow and DVC, then run for real by Prefect.

prepare (data versioned with DVC) -> features -> train (tracked in MLflow) ->
evaluate -> register. The first demo runs every stage; a second demo finds
the inputs unchanged and every task comes from Prefect's cache.
"""

from __future__ import annotations

from mlops_engineer.demos import DemoSession
from mlops_engineer.demos.data_versioning import push_and_report

DIRECTORY = "pipelines/churn"
SPEC = f"{DIRECTORY}/pipeline.yaml"


def run(session: DemoSession) -> None:
    call, say, root = session.call, session.say, session.root
    say("\nPipeline: churn with Prefect (Airflow and DVC renderings checked)")
    # The prepare stage versions its data in the git + DVC repository the data_versioning step set up.
    call("orchestrate_ml_pipeline", {"action": "scaffold", "directory": DIRECTORY})
    rendered = call("orchestrate_ml_pipeline", {"action": "render", "spec_path": SPEC})
    for check in rendered.checks:
        edges = f", {len(check.edges)} edges" if check.edges else ""
        say(f"  {check.target:8} {'ok' if check.ok else 'FAILED'}: {len(check.tasks)} tasks{edges} ({check.method.split(';')[0]})")
    result = call("orchestrate_ml_pipeline", {"action": "run", "spec_path": SPEC}).run
    for task in result.tasks:
        retries = f", {task.retries} retr{'y' if task.retries == 1 else 'ies'}" if task.retries else ""
        say(f"  task {task.name:9} {task.state:9} {task.duration_seconds:6.1f} s{retries}")
    say(f"pipeline {result.flow_state}: {result.cached}/{len(result.tasks)} tasks from the cache; "
        f"{result.wall_seconds:.1f} s in all, of which Prefect start-up {result.prefect_overhead_seconds or 0:.1f} s")
    push_and_report(session)
    # A session keeps the workspace's Prefect API for its next runs; the demo leaves nothing running.
    stopped = call("orchestrate_ml_pipeline", {"action": "stop"}).servers
    say(f"  stopped the workspace's kept Prefect services: {', '.join(s.name for s in stopped) or 'none'}")
    session.facts.update(pipeline_spec=SPEC, pipeline_flow=f"{DIRECTORY}/flow.py")
    session.where("pipeline", root / DIRECTORY / "flow.py")
    session.where("pipeline (Airflow, DVC)", f"{root / DIRECTORY / 'airflow_dag.py'}, {root / DIRECTORY / 'dvc.yaml'}")
    session.where("pipeline results", root / result.results_path)
