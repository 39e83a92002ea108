"""Demo step: tune the churn model with Optuna; every trial is a nested MLflow run, and a re-run resumes without new trials."""

from __future__ import annotations

from mlops_engineer.demos import DemoSession

STUDY = "churn-hgb-demo"
TRIALS = 5


def run(session: DemoSession) -> None:
    call, say, facts = session.call, session.say, session.facts
    out = call("setup_automl_pipeline", {
        "action": "optimize",
        "study_name": STUDY,
        "space": [
            {"type": "float", "name": "learning_rate", "low": 0.03, "high": 0.3, "log": True},
            {"type": "int", "name": "max_depth", "low": 2, "high": 6, "step": 2},
            {"type": "categorical", "name": "early_stopping", "choices": [True, False]},
            {"type": "int", "name": "n_iter_no_change", "low": 3, "high": 9, "step": 3, "when": {"early_stopping": [True]}},
        ],
        "objective": {"kind": "estimator", "estimator": "hist_gradient_boosting", "dataset": facts["train_csv"],
                      "target": facts["target"], "features": facts.get("features", []), "cv_folds": 3,
                      "fixed_params": {"max_iter": 60}},
        "n_trials": TRIALS,
        "sampler": "tpe",
        "pruner": "median",
        "experiment": f"{facts.get('experiment', 'churn-demo')}-tuning",
    })
    study, best = out.study, out.study.best
    state = f"{study.new_trials} new trial(s)" if study.new_trials else "resumed, nothing new to run"
    say(f"tuning: study {study.name} has {study.finished} trials ({state}); best roc_auc={best.values['roc_auc']:.4f} "
        f"in trial {best.number} {best.params}")
    facts.update(tuning_study=STUDY, best_params=best.params, best_run_id=best.mlflow_run_id,
                 tuning_parent_run_id=out.mlflow.parent_run_id if out.mlflow else None)
    for path in out.plots:
        session.where(f"tuning plot ({path.rsplit('/', 1)[-1]})", session.root / path)
    session.where("tuning study", f"optuna.load_study(study_name='{STUDY}', storage='sqlite:///{session.root / '.mlops' / 'optuna.db'}')")
