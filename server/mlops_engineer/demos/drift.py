"""Demo step: check the champion for drift on a shifted batch of the test data."""

from __future__ import annotations

from mlops_engineer.demos import DemoSession

SHIFTED_CSV = "data/churn_shifted.csv"


def _shifted_batch(session: DemoSession) -> None:
    """The test rows with newer customers (tenure down 18 months) paying 35 % more."""
    import pandas as pd

    test = pd.read_csv(session.workspace.resolve(session.facts["test_csv"]))
    shifted = test.assign(
        tenure_months=(test.tenure_months - 18).clip(lower=1),
        monthly_charges=(test.monthly_charges * 1.35).round(2),
    )
    session.workspace.write_text(SHIFTED_CSV, shifted.to_csv(index=False))


def run(session: DemoSession) -> None:
    call, say, facts = session.call, session.say, session.facts
    _shifted_batch(session)
    out = call("monitor_model_drift", {
        "action": "check", "name": "churn-champion",
        "reference": facts["train_csv"], "current": SHIFTED_CSV,
        "columns": {"target": facts["target"]},
        "concept": {"model_uri": f"models:/{facts['model']}@champion"},
    })
    for row in out.features.rows:
        say(f"drift {row['feature']:16} {row['severity']:9} psi={row.get('psi', float('nan')):.3f}")
    say(f"dataset drift: {'yes' if out.dataset_drift else 'no'} ({len(out.drifted_features)} of "
        f"{out.features.total_rows} features drifted)")
    if out.prediction_drift:
        say(f"prediction drift: {out.prediction_drift.severity} (psi={out.prediction_drift.psi:.3f})")
    if out.concept_drift:
        cd = out.concept_drift
        say(f"concept drift: {'yes' if cd.drifted else 'no'} ({cd.metric} {cd.reference:.4f} on training data "
            f"-> {cd.latest:.4f} on the shifted batch)")
    html = next(f.path for f in out.files if f.path.endswith(".html"))
    say(f"drift report: {html}")
    session.where("drift report", session.root / html)
    session.where("drift metrics", session.root / next(f.path for f in out.files if f.path.endswith(".prom")))
