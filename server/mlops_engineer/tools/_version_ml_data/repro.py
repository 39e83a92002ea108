"""Action repro: dvc repro with the stage commands' output in a log, or in a dry run the stages it would run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.commit import commit
from mlops_engineer.tools._version_ml_data.models import (
    Repro,
    StageRun,
    VersionDataInput,
    VersionDataOutput,
)

if TYPE_CHECKING:
    from dvc.repo import Repo

LOG_TAIL = 20


def run_repro(op: Repro, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import open_repo, stage_output_to
    from mlops_engineer.workspace import STATE_DIR

    ws = ctx.workspace
    if not ws.resolve("dvc.yaml").exists():
        raise ToolError("not_found", "There is no dvc.yaml in the workspace.", "Write one with action write_pipeline.")
    with open_repo(ws.root, ctx.check_cancelled) as repo:
        names = {s.name for s in repo.index.stages if getattr(s, "name", None)} if op.targets else set()
        unknown = [t for t in op.targets if t not in names]
        if unknown:
            raise ToolError("not_found", f"No stage named {', '.join(unknown)} in dvc.yaml; stages: {', '.join(sorted(names))}.", "Give stage names from dvc.yaml.")
        # Absolute addresses: DVC resolves relative ones against the process's cwd, not the project.
        project = str(ws.root / "dvc.yaml")
        targets = [f"{project}:{t}" for t in op.targets] or [project]
        base.planned_calls = ["dvc repro" + (" --force" if op.force else "") + "".join(f" {t}" for t in op.targets)]
        if inp.dry_run:
            base.stages = _repro_plan(repo, targets, op.force)
            return base
        log_path = ws.resolve(f"{STATE_DIR}/outputs/dvc-repro.log")
        base.log_path = ws.relative(log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        from dvc.exceptions import ReproductionError
        from dvc.repo.reproduce import _reproduce_stage
        from dvc.stage import PipelineStage

        seen: list[StageRun] = []

        def repro_one(stage: Any, **kwargs: Any) -> Any:
            ctx.progress(len(seen), None, f"stage {stage.addressing}")
            ran = _reproduce_stage(stage, **kwargs)
            if isinstance(stage, PipelineStage):
                seen.append(StageRun(stage=stage.addressing, status="ran" if ran else "skipped"))
            return ran

        try:
            with stage_output_to(log_path):
                repo.reproduce(targets, force=op.force, repro_fn=repro_one)
        except ReproductionError as exc:
            if isinstance(exc.__cause__, ToolError):  # cancelled between stages: say so, not "failed"
                raise exc.__cause__ from None
            tail = "\n".join(log_path.read_text("utf-8", errors="replace").splitlines()[-LOG_TAIL:])
            cause = f" ({exc.__cause__})" if exc.__cause__ else ""
            from mlops_engineer.redact import redact_text

            raise ToolError(
                "failed", redact_text(f"{exc}{cause}. Last lines of {base.log_path}:\n{tail}"),
                "Fix the stage command and run repro again; stages that finished are kept.",
            ) from exc
        base.stages = seen
        outs = []
        for stage in repo.index.stages if op.git_commit else []:
            if isinstance(stage, PipelineStage):  # git-tracked outputs (metrics), and the .gitignore of cached ones
                outs += [Path(o.fs_path) if not o.use_cache else Path(o.fs_path).parent / ".gitignore" for o in stage.outs]
        base.git_commit = commit(repo, ctx, [ws.root / "dvc.lock", ws.root / "dvc.yaml", ws.root / "params.yaml", *outs], op.git_commit)
    ran = [s.stage for s in base.stages if s.status == "ran"]
    base.next_steps = ["Push the new outputs: action push." if ran else "Nothing changed: every stage was up to date."]
    return base


def _repro_plan(repo: Repo, targets: list[str], force: bool) -> list[StageRun]:
    """Stages a repro would run: changed ones and everything downstream of them, in run order.

    (`dvc repro --dry` cannot tell: it stops at the first stage whose input a skipped
    upstream stage would have written.)"""
    import networkx as nx
    from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro
    from dvc.stage import PipelineStage

    graph = get_active_graph(repo.index.graph)
    steps = plan_repro(graph, collect_stages(repo, targets))
    changed = set(repo.status(targets=[s.addressing for s in steps if getattr(s, "name", None)] or None))
    dirty = {s for s in steps if force or s.addressing in changed or getattr(s, "always_changed", False)}
    for stage in list(dirty):
        dirty |= set(nx.ancestors(graph, stage)) & set(steps)  # stages that depend on it
    return [StageRun(stage=s.addressing, status="would_run" if s in dirty else "skipped") for s in steps if isinstance(s, PipelineStage)]
