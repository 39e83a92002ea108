"""Drift between the training and test splits, through the drift engine (`engines.drift`).

A random split should not drift: a feature that does means the split is not what it claims
(time, source or population changed between the two files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_engineer.engines.review.data_quality import Roles, TableRef
from mlops_engineer.engines.review.findings import Finding, finding

if TYPE_CHECKING:
    import pandas as pd


MAX_PVALUE = 1e-3


def split_drift(train: pd.DataFrame, test: pd.DataFrame, refs: tuple[TableRef, TableRef], roles: Roles,
                skip: set[str], progress: object = None) -> list[Finding]:
    from mlops_engineer.engines.drift.check import Thresholds, all_features, infer_roles

    columns = [c for c in train.columns if c in test.columns and c not in roles.reserved() and c not in skip]
    if not columns or len(train) < 2 or len(test) < 2:
        return []
    exclude = [c for c in train.columns if c not in columns]
    drift_roles, _ = infer_roles(train, test, None, None, None, None, exclude)
    drift_roles.target = None
    results = all_features(train, test, drift_roles, Thresholds(), progress)
    found = []
    for result in results:
        if not result.drifted or result.stats is None:
            continue
        # PSI alone is biased upward on small splits (about bins x (1/n_train + 1/n_test)): a few hundred
        # test rows of a stable feature reach 0.1. Only a shift the test also finds significant is reported.
        pvalue = result.stats.ks_pvalue if result.kind == "numerical" else result.stats.chi2_pvalue
        if pvalue is None or pvalue >= MAX_PVALUE:
            continue
        psi = float(result.stats.psi)
        found.append(finding(
            "drift.split", "medium" if result.severity == "severe" else "low",
            f"{result.column} drifts between train and test (PSI {psi:.3f}, {result.severity})",
            "Check how the split was made: a random split of one population does not drift. If the test set is a later "
            "period on purpose, expect this and monitor it in production (monitor_model_drift).",
            numbers={"psi": psi, "ks_pvalue": result.stats.ks_pvalue, "chi2_pvalue": result.stats.chi2_pvalue,
                     "train_mean": result.stats.reference_mean, "test_mean": result.stats.current_mean},
            file=refs[1].file, detail=f"column {result.column} ({result.kind}); {result.note}".rstrip("; "),
            key=result.column,
        ))
    return found
