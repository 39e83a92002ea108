"""Action write_pipeline: dvc.yaml and params.yaml from typed stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_engineer.engines.dvc.pipeline import DvcStage
from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.commit import commit
from mlops_engineer.tools._version_ml_data.models import (
    VersionDataInput,
    VersionDataOutput,
    WritePipeline,
)


def run_write_pipeline(op: WritePipeline, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc import pipeline as dvc_pipeline
    from mlops_engineer.engines.dvc.repo import open_repo
    from mlops_engineer.render import write_files

    ws = ctx.workspace
    for stage in op.stages:  # refuse paths that leave the workspace (symlinks included)
        for path in [*stage.deps, *stage.out_paths()]:
            ws.resolve(dvc_pipeline.normalise_path(path, f"stage '{stage.name}'"))
    params = op.params
    if params is None and stage_params(op.stages):
        existing = ws.resolve(dvc_pipeline.PARAMS_FILE)
        params = _read_yaml(existing) if existing.exists() else {}
    base.order = dvc_pipeline.validate_stages(op.stages, exists=lambda p: ws.resolve(p).exists(), params=params)
    files = {"dvc.yaml": dvc_pipeline.dump_dvc_yaml(op.stages)}
    if op.params is not None:
        files[dvc_pipeline.PARAMS_FILE] = dvc_pipeline.dump_params_yaml(op.params)
    with open_repo(ws.root) as repo:
        base.files = write_files(ws, files, dry_run=inp.dry_run, confirm=inp.confirm)
        base.planned_calls = [f"write {f.path} ({f.action})" for f in base.files]
        if inp.dry_run:
            return base
        base.git_commit = commit(repo, ctx, [ws.root / name for name in files], op.git_commit)
    base.next_steps = ["Run it: action repro (unchanged stages are skipped)."]
    return base


def stage_params(stages: list[DvcStage]) -> bool:
    return any(s.params for s in stages)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ToolError("invalid_input", f"{path.name} is not valid YAML: {exc}", "Fix the file or pass params.") from exc
    return data if isinstance(data, dict) else {}
