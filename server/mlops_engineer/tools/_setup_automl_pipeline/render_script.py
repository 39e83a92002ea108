"""Action render_script: a standalone, reproducible Optuna script for the study."""

from __future__ import annotations

from mlops_engineer.engines.tuning.objective import CallableObjective, EstimatorObjective
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._setup_automl_pipeline.models import (
    AutomlInput,
    AutomlOutput,
    RenderScript,
)


def run_render_script(op: RenderScript, inp: AutomlInput, ctx: ToolContext, out: AutomlOutput) -> AutomlOutput:
    import pprint

    from markupsafe import Markup

    from mlops_engineer.engines.mlflow.backend import resolve_target
    from mlops_engineer.redact import without_credentials
    from mlops_engineer.render import render_template, write_files

    if isinstance(op.objective, EstimatorObjective):
        ctx.workspace.resolve(op.objective.dataset)  # inside the workspace (may not exist yet)
    target = resolve_target(ctx.workspace, ctx.settings, inp.tracking_uri)
    path = op.output_path or f"mlops/tuning/{op.study_name}.py"
    objective = op.objective
    multi = isinstance(objective, CallableObjective) and len(objective.directions) > 1 or \
        isinstance(objective, EstimatorObjective) and len(objective.metrics) > 1
    pruner = ("none" if multi else "median") if op.pruner == "auto" else op.pruner
    values = {
        "study_name": op.study_name, "space": [p.model_dump(mode="json") for p in op.space], "objective": objective.model_dump(mode="json"),
        "seed": op.seed, "sampler": op.sampler, "pruner": pruner, "experiment": op.experiment or f"automl-{op.study_name}",
        "storage": without_credentials(op.storage) if op.storage else "",
        "tracking_uri": without_credentials(target.tracking_uri) if inp.tracking_uri else "",
    }
    # Python literals (True/None), not JSON (true/null): the script must run as written.
    # pformat's literals are escaped (and may span lines on purpose): Markup lets them through one_line.
    py = {k: Markup(pprint.pformat(v, width=110, sort_dicts=False)) for k, v in values.items()}
    text = render_template("tuning/optuna_study.py.j2", py=py, objective=values["objective"], n_trials=op.n_trials)
    out.files = write_files(ctx.workspace, {path: text}, dry_run=inp.dry_run, confirm=inp.confirm)
    out.planned_calls = [f"render {path}"]
    out.next_steps = [f"Run it: python {path} (set OPTUNA_STORAGE / MLFLOW_TRACKING_URI to share the study and the runs)."]
    return out
