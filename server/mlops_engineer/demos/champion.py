"""Demo step: track a baseline and a challenger, register both, and promote the challenger through the gate."""

from __future__ import annotations

import json
from typing import Any

from mlops_engineer.demos import DemoSession
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


def run(session: DemoSession) -> None:
    call, say, root = session.call, session.say, session.root
    results = _train(session.workspace)
    for r in results:
        say(f"trained {r['run_name']:16} roc_auc={r['metrics']['roc_auc']:.4f} accuracy={r['metrics']['accuracy']:.4f}")
    setup = call("track_ml_experiments", {"action": "setup", "experiment": EXPERIMENT})
    say(f"tracking: {setup.mode} store {setup.tracking_uri}")

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
        say(f"run {out.run.run_id} {r['run_name']}: {'logged' if out.run.created else 'already logged'}")

    best = call("track_ml_experiments", {"action": "compare_runs", "experiment": EXPERIMENT, "metric": GATE_METRIC}).comparison.best
    say(f"best run by {GATE_METRIC}: {best.run_name} ({best.value:.4f})")

    versions = {}
    for name, run in runs.items():
        versions[name] = call("register_ml_model", {"action": "register", "name": MODEL, "run_id": run.run_id}).version
        say(f"registered {name} as {MODEL} v{versions[name].version}")

    described = call("register_ml_model", {"action": "describe", "name": MODEL})
    if "champion" not in described.aliases:
        # The baseline plays the model already in production, so the gate has someone to beat.
        baseline = versions["baseline-logreg"].version
        _approve(call, baseline)
        call("register_ml_model", {"action": "promote", "name": MODEL, "version": baseline, "metric": GATE_METRIC})
        say(f"baseline v{baseline} is the current champion")

    challenger = versions[best.run_name].version
    _approve(call, challenger)
    promoted = call("register_ml_model", {
        "action": "promote", "name": MODEL, "version": challenger, "metric": GATE_METRIC, "min_improvement": 0.005,
    })
    say(f"validation gate: {promoted.gate.reason}")
    say(f"champion is now v{promoted.aliases.get('champion')} (previous: v{promoted.aliases.get('previous', '-')})")
    card = call("register_ml_model", {"action": "model_card", "name": MODEL, "version": promoted.aliases["champion"]})

    session.facts.update(
        experiment=EXPERIMENT, model=MODEL, features=FEATURES, target="churned",
        champion_version=promoted.aliases["champion"], previous_version=promoted.aliases.get("previous"),
        runs={name: run.run_id for name, run in runs.items()},
        train_csv="data/churn_train.csv", test_csv="data/churn_test.csv",
    )
    session.where("tracking store", root / ".mlops" / "mlflow.db")
    session.where("artifacts", root / ".mlops" / "mlartifacts")
    session.where("model card", root / card.files[0].path)
    session.where("team stack", root / "mlops" / "tracking" / "docker-compose.yml")
    store = f"sqlite:///{root / '.mlops' / 'mlflow.db'}"
    session.where("browse", session.command("mlflow", "ui", "--backend-store-uri", store))
    # The tracking URI travels with the command: without it MLflow would look for the model
    # in a new ./mlflow.db wherever the user pastes it.
    sample = json.dumps(str(root / "data" / "churn_features_sample.csv"))  # double quotes: the shell quotes the code in single ones
    load = (f'import mlflow, pandas; model = mlflow.pyfunc.load_model("models:/{MODEL}@champion"); '
            f"print(model.predict(pandas.read_csv({sample}).head(5)))")
    session.where("load champion", session.command("python", "-c", load, env={"MLFLOW_TRACKING_URI": store}))


def _approve(call: Any, version: str) -> None:
    call("register_ml_model", {"action": "request_approval", "name": MODEL, "version": version, "requested_by": "demo"})
    call("register_ml_model", {"action": "review", "name": MODEL, "version": version, "decision": "approve",
                               "approver": "demo-reviewer", "reason": "demo: metrics reviewed"})
