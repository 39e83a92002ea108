"""Demo step: A/B test the new champion against the previous one on simulated traffic.

Users are drawn (seeded) from the test CSV; each is hashed to the previous
champion or the new one, and whether they churn is drawn from the churn
probability *their* model predicts for them. Latency and errors come from one
fixed distribution for both arms (the real router measures them). Same seed,
same files, same decision on every run.
"""

from __future__ import annotations

import json
from typing import Any

from mlops_engineer.demos import DemoSession

EXPERIMENT = "churn-champion-vs-previous"
USERS = 16_000
SEED = 11
LOG = "data/ab_test_log.jsonl"
UNITS = "data/ab_test_users.csv"


def _probabilities(session: DemoSession, versions: dict[str, str]) -> dict[str, Any]:
    import pandas as pd

    from mlops_engineer.engines.mlflow.backend import fluent, resolve_target
    from mlops_engineer.settings import Settings

    facts = session.facts
    test = pd.read_csv(session.workspace.resolve(facts["test_csv"]))
    target = resolve_target(session.workspace, Settings(workspace=session.root, tracking_uri=None))
    out = {}
    with fluent(target) as mlflow:
        for arm, version in versions.items():
            model = mlflow.sklearn.load_model(f"models:/{facts['model']}/{version}")
            out[arm] = model.predict_proba(test[facts["features"]])[:, 1]
    return out


def run(session: DemoSession) -> None:
    import numpy as np

    call, say, facts = session.call, session.say, session.facts
    if not facts.get("previous_version") or facts["previous_version"] == facts["champion_version"]:
        say("ab_test: no previous champion to compare with; skipped")
        return
    versions = {"previous": facts["previous_version"], "champion": facts["champion_version"]}
    proba = _probabilities(session, versions)
    say(f"\nA/B test: champion v{versions['champion']} against previous v{versions['previous']}")

    baseline = float(np.mean(proba["previous"]))
    design = call("run_ab_test_models", {"action": "design", "baseline": round(baseline, 4), "mde": 0.02,
                                         "daily_units": 4000}).design
    say(f"design: churn {design.baseline:.3f}, MDE 2 points -> {design.n_total} users, about {design.expected_days} days")

    rng = np.random.default_rng(SEED)
    rows = rng.integers(0, len(proba["previous"]), USERS)
    users = [f"cust-{i:05d}" for i in range(USERS)]
    text = "unit_id\n" + "".join(u + "\n" for u in users)
    split = {"previous": 50, "champion": 50}
    if not session.workspace.resolve(UNITS).exists() or session.workspace.resolve(UNITS).read_text() != text:
        session.workspace.write_text(UNITS, text)
    assigned = call("run_ab_test_models", {"action": "assign", "experiment": EXPERIMENT, "units_path": UNITS, "split": split})
    say(f"assignment: {assigned.counts}, SRM p={assigned.srm.p_value:.3f} ({'MISMATCH' if assigned.srm.mismatch else 'ok'})")

    variant = _variants(session, assigned)
    churn_draw = rng.random(USERS)
    latency = rng.gamma(4.0, 2.5, USERS)
    lines = []
    for i, unit in enumerate(users):
        arm = variant[unit]
        churned = int(churn_draw[i] < proba[arm][rows[i]])
        lines.append(json.dumps({"ts": i, "unit_id": unit, "variant": arm, "churned": churned,
                                 "latency_ms": round(float(latency[i]), 3), "error": 0}))
    log_text = "\n".join(lines) + "\n"
    path = session.workspace.resolve(LOG)
    if not path.exists() or path.read_text() != log_text:
        session.workspace.write_text(LOG, log_text)

    report = call("run_ab_test_models", {
        "action": "analyze", "experiment": EXPERIMENT, "log_path": LOG, "metric_column": "churned",
        "higher_is_better": False, "planned_units": design.n_total, "mde": 0.02, "split": split,
        "variants": ["previous", "champion"],
    })
    fixed, seq = report.fixed_test, report.sequential_test
    arms = ", ".join(f"{a.variant} {a.mean:.4f} (n={a.n})" for a in report.arms)
    say(f"churn: {arms}")
    say(f"fixed-horizon z-test: diff {fixed.difference:+.4f} [{fixed.ci_low:+.4f}, {fixed.ci_high:+.4f}], p={fixed.p_value:.3g}")
    say(f"sequential (mSPRT): always-valid p={seq.p_value:.3g}")
    meaning = {"keep": "the promotion did not measurably change churn; the previous version stays a safe rollback",
               "roll_out": "the new champion measurably lowers churn", "roll_back": "the new champion raises churn: roll back",
               "extend": "not enough users yet"}[report.decision]
    say(f"decision: {report.decision} ({meaning})")
    for reason in report.reasons:
        say(f"  - {reason}")
    aa = call("run_ab_test_models", {"action": "simulate_aa", "baseline": round(baseline, 4), "n_per_arm": 2000}).aa
    say(f"A/A check x{aa.experiments}: false positives fixed {aa.fpr_fixed:.3f}, sequential {aa.fpr_sequential:.3f} "
        f"(alpha {aa.alpha:g} ± {aa.tolerance:.3f}); naive peeking {aa.fpr_naive_peeking:.3f}")
    facts.update(ab_test={"decision": report.decision, "log": LOG})
    session.where("A/B test log", session.root / LOG)


def _variants(session: DemoSession, assigned: Any) -> dict[str, str]:
    import csv

    with session.workspace.resolve(assigned.files[0].path).open(newline="") as handle:
        return {row["unit_id"]: row["variant"] for row in csv.DictReader(handle)}
