"""Orchestrate an ML pipeline from one typed spec: a Prefect 3 flow (run for real in local
mode), its scheduled deployment, the same pipeline as an Airflow DAG and as DVC stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.pipeline.checks import CheckResult
from mlops_engineer.engines.pipeline.spec import CronSchedule, PipelineSpec
from mlops_engineer.redact import redact_text
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.render import FileChange
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint

if TYPE_CHECKING:
    from mlops_engineer.engines.pipeline.render import Target

TargetName = Literal["prefect", "airflow", "dvc"]


class _SpecSource(StrictModel):
    spec: PipelineSpec | None = Field(default=None, description="The pipeline spec, inline. Exactly one of spec and spec_path.")
    spec_path: str | None = Field(default=None, description="A YAML or JSON spec file in the workspace, e.g. pipelines/churn/pipeline.yaml.")

    @model_validator(mode="after")
    def _one_source(self) -> _SpecSource:
        if (self.spec is None) == (self.spec_path is None):
            raise ValueError("give exactly one of spec (inline) and spec_path (a file in the workspace)")
        return self


class Scaffold(StrictModel):
    """Write the churn example pipeline into the project.

    Stage scripts under pipelines/churn/ and its spec pipeline.yaml: prepare data (DVC), build
    features, train (MLflow), evaluate, register.
    """

    action: Literal["scaffold"]
    example: Literal["churn"] = Field(default="churn", description="The example pipeline to write.")
    directory: str = Field(default="pipelines/churn", description="Project folder for the stage scripts and the spec.")
    rows: int = Field(default=4000, ge=200, le=1_000_000, description="Rows of synthetic churn data the prepare stage writes.")
    experiment: str = Field(default="churn-pipeline", min_length=1, description="MLflow experiment the train stage logs to.")
    model_name: str = Field(default="churn-pipeline", min_length=1, description="Registered model name the register stage uses.")
    min_roc_auc: float = Field(default=0.7, ge=0, le=1, description="Evaluation gate: register only at or above this test ROC AUC.")
    schedule: CronSchedule | None = Field(default=None, description="Optional schedule for the example (renders a Prefect deployment).")


class Render(_SpecSource):
    """Render a spec for Prefect, Airflow and DVC; check each.

    pipelines/<name>/flow.py, prefect.yaml (with a schedule), airflow_dag.py and dvc.yaml. The
    flow and the DAG are compiled and their task graphs read from the syntax tree (Airflow is
    not needed); the DVC stages go through `dvc dag`.
    """

    action: Literal["render"]
    targets: list[TargetName] = Field(default_factory=lambda: ["prefect", "airflow", "dvc"], min_length=1,
                                      description="What to render: prefect (flow + deployment), airflow (DAG file), dvc (dvc.yaml).")
    check: bool = Field(default=True, description="Check the rendered files against the spec (AST for Prefect/Airflow, `dvc dag` for DVC).")


class Run(_SpecSource):
    """Run the flow with Prefect locally; state of each task.

    Local mode (state in .mlops/prefect): the first run starts the workspace's Prefect API and a
    warm flow runner and keeps them for later runs (actions list, stop); or a Prefect server
    given by prefect_api_url. Reports each task's state, duration and retries; stages whose
    inputs did not change are Cached.
    """

    action: Literal["run"]
    refresh: bool = Field(default=False, description="Ignore cached results and run every stage.")
    timeout_seconds: float = Field(default=900, ge=10, le=86400, description="Stop the whole flow after this long.")
    prefect_api_url: str | None = Field(default=None, description="A Prefect server's API URL (team mode). Omit for local mode, state in .mlops/prefect.")
    local_server: bool = Field(default=True, description="Local mode: keep the workspace's Prefect API and a warm runner between runs "
                               "(action stop ends them); false: a temporary API for this run only (10-20 s more per run).")


class ListServers(StrictModel):
    """The workspace's kept Prefect API and flow runner."""

    action: Literal["list"]


class StopServers(StrictModel):
    """Stop the workspace's kept Prefect API and flow runner.

    A flow running on them is stopped too. The next local run starts them again.
    """

    action: Literal["stop"]


Operation = Annotated[Scaffold | Render | Run | ListServers | StopServers, Field(discriminator="action")]


class PipelineInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")


class TaskReport(BaseModel):
    name: str
    state: str = Field(description="Prefect state name: Completed, Cached, Failed, TimedOut, Crashed, or Skipped (an upstream failed).")
    ok: bool
    cached: bool = Field(description="True when the result came from the cache and the stage did not run.")
    retries: int = Field(description="Attempts after the first.")
    duration_seconds: float = Field(description="From the first attempt's start to the last attempt's end (0 when cached).")
    message: str = ""


class RunReport(BaseModel):
    ok: bool
    flow_state: str
    tasks: list[TaskReport]
    cached: int = Field(description="Tasks answered from the cache.")
    wall_seconds: float = Field(description="The whole run: starting (or checking) Prefect's API, the flow's process, the stages.")
    flow_seconds: float | None = Field(default=None, description="Inside the flow function: scheduling and the stages.")
    prefect_overhead_seconds: float | None = Field(default=None, description="wall_seconds - flow_seconds: Prefect's API and process start-up (and stop, for a temporary API).")
    local_server: str | None = Field(default=None, description="The workspace's kept Prefect API: started, reused, or replaced (with why). "
                                     "None with a temporary API or prefect_api_url.")
    results_path: str
    log_path: str
    log_tail: str = Field(default="", description="Last lines of the flow's log when it failed.")


class LocalServer(BaseModel):
    name: str = Field(description="prefect-api (the API server) or prefect-runner (the warm flow runner).")
    url: str
    pid: int
    started_at: float
    log_path: str


class PipelineOutput(ToolOutput):
    action: str
    pipeline: str = ""
    spec: PipelineSpec | None = None
    files: list[FileChange] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    run: RunReport | None = None
    servers: list[LocalServer] = Field(default_factory=list, description="list: running; stop: stopped.")
    next_steps: list[str] = Field(default_factory=list)


def run(inp: PipelineInput, ctx: ToolContext) -> PipelineOutput:
    op = inp.operation
    if isinstance(op, Scaffold):
        return _scaffold(op, inp, ctx)
    if isinstance(op, ListServers | StopServers):
        return _servers(op, inp, ctx)
    spec = _load(op, ctx)
    if isinstance(op, Render):
        return _render(op, spec, inp, ctx)
    return _run(op, spec, inp, ctx)


def _load(op: Render | Run, ctx: ToolContext) -> PipelineSpec:
    from mlops_engineer.engines.pipeline.spec import load_spec_file

    return op.spec if op.spec is not None else load_spec_file(ctx.workspace, op.spec_path or "")


def _files(spec: PipelineSpec, op: Render | Run, ctx: ToolContext, targets: tuple[Target, ...]) -> dict[str, str]:
    """Everything checked first (paths, callables), then the files as text."""
    from mlops_engineer.engines.pipeline.render import paths_for, render_pipeline
    from mlops_engineer.engines.pipeline.spec import check_against_workspace

    modules = check_against_workspace(spec, ctx.workspace)
    files = render_pipeline(spec, ctx.workspace, modules, targets)
    if op.spec_path is not None:
        # The spec came from a file: never rewrite the user's own file.
        spec_file = paths_for(spec).spec
        if ctx.workspace.resolve(op.spec_path) == ctx.workspace.resolve(spec_file):
            files.pop(spec_file)
    return files


def _render(op: Render, spec: PipelineSpec, inp: PipelineInput, ctx: ToolContext) -> PipelineOutput:
    from mlops_engineer.render import write_files

    files = _files(spec, op, ctx, tuple(dict.fromkeys(op.targets)))
    out = PipelineOutput(action="render", pipeline=spec.name, spec=spec, dry_run=inp.dry_run)
    out.checks = _check(spec, files, ctx) if op.check else []
    out.files = write_files(ctx.workspace, files, dry_run=inp.dry_run, confirm=inp.confirm)
    out.planned_calls = [f"write {c.path} ({c.action})" for c in out.files]
    out.next_steps = _next_steps(spec, files)
    return out


def _check(spec: PipelineSpec, files: dict[str, str], ctx: ToolContext) -> list[CheckResult]:
    from mlops_engineer.engines.pipeline import checks
    from mlops_engineer.engines.pipeline.render import expected_edges, flow_function, paths_for

    paths = paths_for(spec)
    expected = expected_edges(spec)
    results = []
    if paths.flow in files:
        results.append(checks.check_prefect(files[paths.flow], paths.flow, flow_function(spec), spec, files.get(paths.prefect_yaml)))
    if paths.airflow in files:
        results.append(checks.check_airflow(files[paths.airflow], spec, expected, paths.airflow))
    if paths.dvc in files:
        ctx.progress(len(results), 3, "dvc dag")
        results.append(checks.check_dvc(files[paths.dvc], paths.dvc, spec, expected))
    return results


def _next_steps(spec: PipelineSpec, files: dict[str, str]) -> list[str]:
    from mlops_engineer.engines.pipeline.render import paths_for

    paths = paths_for(spec)
    steps = []
    if paths.flow in files:
        steps.append(f"Run it locally: action run (or `python {paths.flow}`); re-runs skip stages whose inputs did not change.")
    if paths.prefect_yaml in files:
        steps.append(f"Schedule it on a Prefect server: prefect --no-prompt deploy --prefect-file {paths.prefect_yaml} --all, then start a worker for pool '{spec.schedule.work_pool}'.")  # type: ignore[union-attr]
    if paths.airflow in files:
        steps.append(f"Airflow: copy {paths.airflow} into the dags/ folder and set MLOPS_PIPELINE_ROOT on the workers.")
    if paths.dvc in files:
        steps.append(f"DVC: dvc repro {paths.dvc} (the outputs must not also be tracked with `dvc add`).")
    return steps


def _run(op: Run, spec: PipelineSpec, inp: PipelineInput, ctx: ToolContext) -> PipelineOutput:
    from mlops_engineer.engines.pipeline.prefect_runner import run_flow
    from mlops_engineer.engines.pipeline.render import paths_for
    from mlops_engineer.errors import ToolError
    from mlops_engineer.optional import install_hint, installed_version
    from mlops_engineer.render import write_files

    files = _files(spec, op, ctx, ("prefect",))
    if installed_version("prefect") is None:  # before any write: a core-only install changes nothing
        # Checked from metadata: importing Prefect here would cost this process seconds and ~100 MB for nothing.
        raise ToolError("missing_dependency", "Running a flow needs the Python package 'prefect', which is not installed.",
                        install_hint("orchestration"))
    paths = paths_for(spec)
    out = PipelineOutput(action="run", pipeline=spec.name, spec=spec, dry_run=inp.dry_run)
    out.files = write_files(ctx.workspace, files, dry_run=inp.dry_run, confirm=inp.confirm)
    out.planned_calls = [f"write {c.path} ({c.action})" for c in out.files] + [
        f"python {paths.flow}{' --refresh' if op.refresh else ''} (Prefect {'at ' + op.prefect_api_url if op.prefect_api_url else _mode(op)})"
    ]
    if inp.dry_run:
        return out
    flow = run_flow(
        ctx.workspace, ctx.workspace.resolve(paths.flow), spec.name, stages=len(spec.stages), refresh=op.refresh,
        timeout=op.timeout_seconds, api_url=op.prefect_api_url, tracking_uri=ctx.settings.tracking_uri, progress=ctx.progress,
        check_cancelled=ctx.check_cancelled, keep_server=op.local_server,
    )
    results = flow.results
    if results is None:
        raise ToolError(
            "failed",
            f"The flow exited with code {flow.returncode} before reporting its tasks. Last lines of "
            f"{ctx.workspace.relative(flow.log_path)}:\n{flow.log_tail}",
            "Run the flow by hand (python " + paths.flow + ") to see the whole error; a missing package shows up there.",
        )
    tasks = [TaskReport(**{k: redact_text(t[k]) if k == "message" and isinstance(t[k], str) else t[k]
                           for k in TaskReport.model_fields if k in t}) for t in results["tasks"]]
    flow_seconds = results.get("flow_seconds")
    out.run = RunReport(
        ok=bool(results["ok"]) and flow.returncode == 0,
        flow_state="Completed" if results["ok"] else "Failed",
        tasks=tasks,
        cached=sum(t.cached for t in tasks),
        wall_seconds=round(flow.wall_seconds, 3),
        flow_seconds=flow_seconds,
        prefect_overhead_seconds=round(flow.wall_seconds - flow_seconds, 3) if flow_seconds is not None else None,
        local_server=flow.local_server,
        results_path=ctx.workspace.relative(ctx.workspace.state_dir / "pipelines" / spec.name / "last-run.json"),
        log_path=ctx.workspace.relative(flow.log_path),
        log_tail="" if results["ok"] else redact_text(flow.log_tail),  # it may quote the Prefect API URL
    )
    failed = [t for t in tasks if not t.ok]
    if failed:
        out.next_steps = [f"Fix {failed[0].name}: {failed[0].message.splitlines()[0] if failed[0].message else failed[0].state}; "
                          "stage logs are in .mlops/pipelines/" + spec.name + "/logs/. Completed stages stay cached."]
    else:
        out.next_steps = ["Run again: unchanged stages come from the cache.", *_next_steps(spec, {paths.prefect_yaml: ""} if spec.schedule else {})]
    if flow.local_server:
        out.next_steps.append("The workspace's Prefect API and flow runner stay up for later runs: action stop ends them.")
    return out


def _mode(op: Run) -> str:
    return "local mode, the workspace's kept API" if op.local_server else "local mode, a temporary API"


def _servers(op: ListServers | StopServers, inp: PipelineInput, ctx: ToolContext) -> PipelineOutput:
    from mlops_engineer.engines.pipeline import local_prefect

    out = PipelineOutput(action=op.action, dry_run=inp.dry_run)
    records = local_prefect.list_local(ctx.workspace.state_dir)
    if isinstance(op, StopServers):
        out.planned_calls = [f"stop {r.name} (pid {r.pid}) and every process it started" for r in records]
        if not inp.dry_run:
            records = local_prefect.stop_local(ctx.workspace.state_dir)
    out.servers = [LocalServer(name=r.name, url=r.url, pid=r.pid, started_at=r.started_at, log_path=ctx.workspace.relative(Path(r.log_path)))
                   for r in records]
    if isinstance(op, ListServers) and not records:
        out.next_steps = ["None running: the next run in local mode starts them."]
    return out


def _scaffold(op: Scaffold, inp: PipelineInput, ctx: ToolContext) -> PipelineOutput:
    from mlops_engineer.engines.pipeline.churn import churn_files
    from mlops_engineer.render import write_files

    ctx.workspace.resolve(op.directory)
    spec, files = churn_files(op.directory, rows=op.rows, experiment=op.experiment, model_name=op.model_name,
                              min_roc_auc=op.min_roc_auc, schedule=op.schedule)
    out = PipelineOutput(action="scaffold", pipeline=spec.name, spec=spec, dry_run=inp.dry_run)
    out.files = write_files(ctx.workspace, files, dry_run=inp.dry_run, confirm=inp.confirm)
    out.planned_calls = [f"write {c.path} ({c.action})" for c in out.files]
    out.next_steps = [
        "The prepare stage versions its data with DVC: the project must be a DVC repository (git init && dvc init).",
        f"Run it: action run with spec_path {op.directory}/pipeline.yaml; render the Airflow DAG and DVC stages with action render.",
    ]
    return out


def summarize(out: PipelineOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.run is not None:
        r = out.run
        tasks = ", ".join(
            f"{t.name} {t.state} {t.duration_seconds:.1f}s" + (f" ({t.retries} retr{'y' if t.retries == 1 else 'ies'})" if t.retries else "")
            for t in r.tasks
        )
        overhead = f", Prefect overhead {r.prefect_overhead_seconds:.1f} s" if r.prefect_overhead_seconds is not None else ""
        server = f", local Prefect API {r.local_server}" if r.local_server else ""
        return f"Pipeline {out.pipeline} {r.flow_state} in {r.wall_seconds:.1f} s ({r.cached} cached{overhead}{server}): {tasks}."
    if out.action in ("list", "stop"):
        verb = "running" if out.action == "list" else ("to stop" if out.dry_run else "stopped")
        names = ", ".join(f"{s.name} ({s.url}, pid {s.pid})" for s in out.servers) or "none"
        return f"{prefix}Local Prefect servers {verb}: {names}."
    changed = sum(f.action != "unchanged" for f in out.files)
    text = f"{prefix}{out.action} {out.pipeline}: {len(out.files)} file(s), {changed} changed"
    if out.checks:
        text += "; checks: " + ", ".join(f"{c.target} {'ok' if c.ok else 'FAILED (' + '; '.join(c.problems[:3]) + ')'}" for c in out.checks)
    return text + "."


TOOL = ToolSpec(
    name="orchestrate_ml_pipeline",
    title="Orchestrate ML pipelines (Prefect, Airflow, DVC)",
    description=__doc__ or "",
    input_model=PipelineInput,
    output_model=PipelineOutput,
    run=run,
    summarize=summarize,
    # Rendering overwrites an edited file only with confirm; run executes the stages' own commands.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(PipelineInput, '{"operation": {"action": "render", '
                           '"spec": {"name": "demo", "stages": [{"name": "train", "command": "python train.py"}]}}}'),
)
