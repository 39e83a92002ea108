"""Demo step: review the churn data, a copy of it with a planted leak, and the generated pipeline code."""

from __future__ import annotations

from mlops_engineer.demos import DemoSession

LEAKY_CSV = "data/churn_train_leaky.csv"


def _plant_leak(session: DemoSession) -> None:
    """A copy of the training data with `refund_issued`: set when a customer left, so known only afterwards."""
    import pandas as pd

    train = pd.read_csv(session.workspace.resolve(session.facts["train_csv"]))
    session.workspace.write_text(LEAKY_CSV, train.assign(refund_issued=train[session.facts["target"]]).to_csv(index=False))


def _show(session: DemoSession, label: str, out: object) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in reversed(list(out.counts.items())) if n) or "no findings"  # type: ignore[attr-defined]
    session.say(f"  {label}: {counts}")
    for row in out.findings.rows:  # type: ignore[attr-defined]
        if row["severity"] != "info":
            session.say(f"    {row['severity']:8} {row['title']}")


def run(session: DemoSession) -> None:
    call, say, facts = session.call, session.say, session.facts
    say("\nReview: the churn data, a copy with a planted leak, and the pipeline code")
    data = call("review_data_analysis", {"action": "data", "name": "churn-data", "train": facts["train_csv"],
                                         "test": facts["test_csv"], "target": facts["target"]})
    _show(session, "churn train/test", data)
    _plant_leak(session)
    leaky = call("review_data_analysis", {"action": "data", "name": "churn-leaky", "train": LEAKY_CSV,
                                          "test": facts["test_csv"], "target": facts["target"]})
    _show(session, "copy with refund_issued", leaky)
    folder = facts.get("pipeline_flow", "pipelines/churn/flow.py").rsplit("/", 1)[0]
    if session.workspace.resolve(folder).is_dir():
        code = call("review_data_analysis", {"action": "code", "name": "churn-pipeline", "paths": [folder]})
        _show(session, f"pipeline code ({folder})", code)
    session.where("review report (leaky copy)", session.root / next(f for f in leaky.files if f.endswith(".md")))
