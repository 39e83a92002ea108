"""`mlops-engineer demo`: the churn story end to end on the embedded backends, through the same tools a client calls.

It makes a synthetic churn dataset, trains a baseline and a challenger model,
tracks both runs, registers them, and promotes the challenger to champion only
after approval and the validation gate. Re-running finds everything already
done and changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.registry import load_registry
from mlops_engineer.runtime import ToolContext, execute
from mlops_engineer.settings import Settings
from mlops_engineer.workspace import Workspace

EXPERIMENT = "churn-demo"
MODEL = "churn-classifier"
GATE_METRIC = "roc_auc"
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_monthly", "has_fiber"]


def make_churn_data(rows: int = 4000, seed: int = 7) -> Any:
    """A churn table whose label depends on the features through a known logistic model."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure_months": rng.integers(1, 72, rows),
            "monthly_charges": rng.normal(70, 25, rows).clip(15, 150).round(2),
            "support_calls": rng.poisson(1.5, rows),
            "contract_monthly": rng.integers(0, 2, rows),
            "has_fiber": rng.integers(0, 2, rows),
        }
    )
    # Thresholds and interactions: a linear baseline misses them, a tree ensemble finds them.
    logit = (
        -2.0 + 2.2 * (frame.tenure_months < 6) - 0.02 * frame.tenure_months
        + 1.6 * (frame.monthly_charges > 100) + 0.7 * frame.support_calls * frame.contract_monthly
        + 0.8 * frame.contract_monthly - 0.9 * frame.has_fiber * (1 - frame.contract_monthly)
    )
    frame["churned"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _train(workspace: Workspace) -> list[dict[str, Any]]:
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    data = make_churn_data()
    train, test = train_test_split(data, test_size=0.25, random_state=7, stratify=data.churned)
    for name, frame in (("train", train), ("test", test)):
        workspace.write_text(f"data/churn_{name}.csv", frame.to_csv(index=False))
    workspace.write_text("data/churn_features_sample.csv", test[FEATURES].head(20).to_csv(index=False))

    candidates = [
        ("baseline-logreg", LogisticRegression(C=0.5, max_iter=500), {"model": "logistic_regression", "C": 0.5}),
        ("challenger-gbm", GradientBoostingClassifier(n_estimators=150, max_depth=3, random_state=7),
         {"model": "gradient_boosting", "n_estimators": 150, "max_depth": 3}),
    ]
    results = []
    for run_name, estimator, params in candidates:
        estimator.fit(train[FEATURES], train.churned)
        proba = estimator.predict_proba(test[FEATURES])[:, 1]
        predicted = (proba >= 0.5).astype(int)
        path = workspace.resolve(f"models/{run_name}.joblib")
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(estimator, path)
        results.append({
            "run_name": run_name,
            "params": params,
            "metrics": {
                "roc_auc": round(float(roc_auc_score(test.churned, proba)), 6),
                "accuracy": round(float(accuracy_score(test.churned, predicted)), 6),
                "f1": round(float(f1_score(test.churned, predicted)), 6),
            },
            "model_path": workspace.relative(path),
        })
    return results


def run_demo(workspace_dir: str | None = None) -> int:
    root = Path(workspace_dir or os.environ.get("MLOPS_ENGINEER_WORKSPACE") or "mlops-demo").resolve()
    root.mkdir(parents=True, exist_ok=True)
    # The demo always runs on the embedded store, whatever the environment points at.
    settings = Settings(workspace=root, tracking_uri=None)
    workspace = Workspace(root)
    registry = load_registry()
    ctx = ToolContext(workspace=workspace, settings=settings)

    def call(tool: str, operation: dict[str, Any]) -> Any:
        return execute(registry.tool(tool), {"operation": operation}, ctx)

    print(f"mlops-engineer demo — workspace {root}\n")
    try:
        results = _train(workspace)
        for r in results:
            print(f"trained {r['run_name']:16} roc_auc={r['metrics']['roc_auc']:.4f} accuracy={r['metrics']['accuracy']:.4f}")
        setup = call("track_ml_experiments", {"action": "setup", "experiment": EXPERIMENT})
        print(f"tracking: {setup.mode} store {setup.tracking_uri}")

        runs = {}
        for r in results:
            out = call("track_ml_experiments", {
                "action": "log_run", "experiment": EXPERIMENT, "run_name": r["run_name"],
                "params": r["params"], "metrics": r["metrics"], "tags": {"demo": "churn"},
                "datasets": [{"path": "data/churn_train.csv", "context": "training", "targets": "churned"},
                             {"path": "data/churn_test.csv", "context": "test", "targets": "churned"}],
                "model": {"path": r["model_path"], "input_example": "data/churn_features_sample.csv"},
            })
            runs[r["run_name"]] = out.run
            print(f"run {out.run.run_id} {r['run_name']}: {'logged' if out.run.created else 'already logged'}")

        best = call("track_ml_experiments", {"action": "compare_runs", "experiment": EXPERIMENT, "metric": GATE_METRIC}).comparison.best
        print(f"best run by {GATE_METRIC}: {best.run_name} ({best.value:.4f})")

        versions = {}
        for name, run in runs.items():
            versions[name] = call("register_ml_model", {"action": "register", "name": MODEL, "run_id": run.run_id}).version
            print(f"registered {name} as {MODEL} v{versions[name].version}")

        described = call("register_ml_model", {"action": "describe", "name": MODEL})
        if "champion" not in described.aliases:
            # The baseline plays the model already in production, so the gate has someone to beat.
            baseline = versions["baseline-logreg"].version
            _approve(call, baseline)
            call("register_ml_model", {"action": "promote", "name": MODEL, "version": baseline, "metric": GATE_METRIC})
            print(f"baseline v{baseline} is the current champion")

        challenger = versions[best.run_name].version
        _approve(call, challenger)
        promoted = call("register_ml_model", {
            "action": "promote", "name": MODEL, "version": challenger, "metric": GATE_METRIC, "min_improvement": 0.005,
        })
        print(f"validation gate: {promoted.gate.reason}")
        print(f"champion is now v{promoted.aliases.get('champion')} (previous: v{promoted.aliases.get('previous', '-')})")
        card = call("register_ml_model", {"action": "model_card", "name": MODEL, "version": promoted.aliases["champion"]})
    except ToolError as error:
        print(f"demo failed: {error}")
        return 1

    print("\nWhere things are:")
    print(f"  tracking store   {root / '.mlops' / 'mlflow.db'}")
    print(f"  artifacts        {root / '.mlops' / 'mlartifacts'}")
    print(f"  model card       {root / card.files[0].path}")
    print(f"  team stack       {root / 'mlops' / 'tracking' / 'docker-compose.yml'}")
    print(f"  browse           mlflow ui --backend-store-uri sqlite:///{root / '.mlops' / 'mlflow.db'}")
    print(f"  load champion    mlflow.pyfunc.load_model('models:/{MODEL}@champion')")
    return 0


def _approve(call: Any, version: str) -> None:
    call("register_ml_model", {"action": "request_approval", "name": MODEL, "version": version, "requested_by": "demo"})
    call("register_ml_model", {"action": "review", "name": MODEL, "version": version, "decision": "approve",
                               "approver": "demo-reviewer", "reason": "demo: metrics reviewed"})
