"""Tune hyperparameters with Optuna or Ray Tune from one typed spec, and log every trial to MLflow.

The spec: a search space (float with log scale or step, int with step, categorical,
conditional parameters) and an objective, either a built-in estimator
(hist_gradient_boosting, random_forest, logistic_regression; xgboost/lightgbm when
installed) scored by cross-validation on a workspace CSV/Parquet, or your own
`module:function`.
"""

from __future__ import annotations

from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._setup_automl_pipeline.models import (
    AutomlInput,
    AutomlOutput,
    Optimize,
    RenderScript,
    Status,
)
from mlops_engineer.tools._setup_automl_pipeline.optimize import run_optimize
from mlops_engineer.tools._setup_automl_pipeline.ray_tune import run_ray_tune
from mlops_engineer.tools._setup_automl_pipeline.render_script import run_render_script
from mlops_engineer.tools._setup_automl_pipeline.status import run_status
from mlops_engineer.schemas import action_hint


def run(inp: AutomlInput, ctx: ToolContext) -> AutomlOutput:
    op = inp.operation
    out = AutomlOutput(action=op.action, dry_run=inp.dry_run)
    if isinstance(op, RenderScript):
        return run_render_script(op, inp, ctx, out)
    if isinstance(op, Status):
        return run_status(op, ctx, out)
    if isinstance(op, Optimize):
        return run_optimize(op, inp, ctx, out)
    return run_ray_tune(op, inp, ctx, out)


def summarize(out: AutomlOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.files:
        return f"{prefix}Study script: " + ", ".join(f"{f.path} ({f.action})" for f in out.files) + "."
    if out.study is None:
        return f"{prefix}{out.action}: " + "; ".join(out.planned_calls)
    s = out.study
    text = f"{prefix}Study '{s.name}' ({s.backend}): {s.finished} finished trials ({s.new_trials} new, {s.pruned} pruned, {s.failed} failed)"
    if s.best:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in s.best.values.items())
        text += f"; best trial {s.best.number}: {shown} with {s.best.params}"
    if out.mlflow:
        text += f"; MLflow parent run {out.mlflow.parent_run_id} with {out.mlflow.logged_trials} trial runs"
    if out.registered:
        text += f"; registered {out.registered.name} v{out.registered.version}"
    return text + "."


TOOL = ToolSpec(
    name="setup_automl_pipeline",
    title="Tune hyperparameters (Optuna, Ray Tune)",
    description=__doc__ or "",
    input_model=AutomlInput,
    output_model=AutomlOutput,
    run=run,
    summarize=summarize,
    # destructive: render_script with confirm=true overwrites a script the user edited.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(AutomlInput, '{"operation": {"action": "optimize", "study_name": "churn", '
                           '"space": [{"type": "float", "name": "learning_rate", "low": 0.01, "high": 0.3, "log": true}], '
                           '"objective": {"kind": "estimator", "estimator": "hist_gradient_boosting", "dataset": "data/train.csv", '
                           '"target": "churned"}, "n_trials": 10}}'),
)
