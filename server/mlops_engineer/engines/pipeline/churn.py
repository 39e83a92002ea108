"""The standard example: the churn pipeline as a spec plus the stage scripts it runs.

prepare (raw data, versioned with DVC) -> features -> train (tracked in MLflow
through track_ml_experiments) -> evaluate (a ROC AUC gate) -> register (through
register_ml_model). Scripts are rendered into the user's project, not run from
our package.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mlops_engineer.engines.pipeline.spec import CronSchedule, PipelineSpec

DATA_DIR = "data/churn"
MODEL_DIR = "models/churn"
REPORTS_DIR = "reports/churn"
SCRIPTS = ("churn_common.py", "prepare.py", "features.py", "train.py", "evaluate.py", "register.py")


def churn_spec(directory: str, *, rows: int, schedule: CronSchedule | None = None) -> PipelineSpec:
    d = Path(directory).as_posix().strip("/")
    common = f"{d}/churn_common.py"
    stages = [
        {"name": "prepare", "command": f"python {d}/prepare.py --rows {rows}", "inputs": [common],
         "outputs": [f"{DATA_DIR}/raw.csv"], "dvc_track": True, "retries": 1, "timeout_seconds": 300},
        {"name": "features", "command": f"python {d}/features.py", "inputs": [f"{DATA_DIR}/raw.csv", common],
         "outputs": [f"{DATA_DIR}/features"], "timeout_seconds": 300},
        {"name": "train", "command": f"python {d}/train.py", "inputs": [f"{DATA_DIR}/features", common],
         "outputs": [f"{MODEL_DIR}/model.joblib", f"{REPORTS_DIR}/train_run.json"], "retries": 2,
         "retry_delay_seconds": 5, "timeout_seconds": 900},
        {"name": "evaluate", "command": f"python {d}/evaluate.py", "inputs": [f"{MODEL_DIR}/model.joblib", f"{DATA_DIR}/features", common],
         "outputs": [f"{REPORTS_DIR}/metrics.json"], "timeout_seconds": 300},
        {"name": "register", "command": f"python {d}/register.py", "inputs": [f"{REPORTS_DIR}/train_run.json", f"{REPORTS_DIR}/metrics.json", common],
         "outputs": [f"{REPORTS_DIR}/registered.json"], "retries": 1, "retry_delay_seconds": 5, "timeout_seconds": 300},
    ]
    return PipelineSpec.model_validate({
        "name": "churn",
        "description": "Churn model: prepare data (DVC) -> features -> train (MLflow) -> evaluate (ROC AUC gate) -> register.",
        "directory": d,
        "stages": stages,
        "schedule": schedule.model_dump() if schedule else None,
        "tags": ["churn", "mlops-engineer"],
    })


def churn_files(directory: str, *, rows: int, experiment: str, model_name: str, min_roc_auc: float,
                schedule: CronSchedule | None = None) -> tuple[PipelineSpec, dict[str, str]]:
    from mlops_engineer.engines.pipeline.render import render_code

    spec = churn_spec(directory, rows=rows, schedule=schedule)
    d = Path(directory).as_posix().strip("/")
    context = {
        "depth": len(Path(d).parts), "data_dir": DATA_DIR, "model_dir": MODEL_DIR, "reports_dir": REPORTS_DIR,
        "experiment": experiment, "model_name": model_name, "min_roc_auc": min_roc_auc, "rows": rows,
        "feature_repo": f"{d}/feature_repo",
    }
    files = {f"{d}/{name}": render_code(f"pipeline/churn/{name}.j2", **context) for name in SCRIPTS}
    files[f"{d}/pipeline.yaml"] = (
        "# The churn pipeline's spec (mlops-engineer orchestrate_ml_pipeline): render or run it with spec_path.\n"
        + yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
    )
    return spec, files
