"""Action status: the best trial, the counts and the trial table of a study."""

from __future__ import annotations

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._setup_automl_pipeline.models import AutomlOutput, Status
from mlops_engineer.tools._setup_automl_pipeline.studies import study_info


def run_status(op: Status, ctx: ToolContext, out: AutomlOutput) -> AutomlOutput:
    from mlops_engineer.engines.tuning import optuna_study as engine
    from mlops_engineer.optional import import_optional
    from mlops_engineer.output import preview_table

    import_optional("optuna", "tuning")
    target = engine.resolve_storage(ctx.workspace, op.storage)
    with engine.storage_session(target) as storage:
        study = engine.load_study(storage, op.study_name)
        names = study.user_attrs.get("mlops_engineer.metrics") or [f"value_{i}" for i in range(len(study.directions))]
        info, rows = study_info(study, list(names), target.display, {})
    out.study = info
    out.trials = preview_table(ctx.workspace, f"trials-{op.study_name}", rows)
    out.planned_calls = [f"load study '{op.study_name}' from {target.display}"]
    return out
