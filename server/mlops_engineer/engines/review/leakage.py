"""Target leakage in a table: one feature that predicts the target almost perfectly, and feature
names that reveal the target.

Each feature is scored alone by a cross-validated target encoding: numbers are cut into
quantile bins, categories kept as they are, and each held-out fold is predicted by the
target mean (per class) of its bin in the other folds. AUC for a classification target, R²
for a numeric one. Unseen categories get the prior, so an ID column scores like noise, not
like a leak. Large tables are subsampled deterministically (fixed seed), and the evidence
says so.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mlops_engineer.engines.review.data_quality import Roles, TableRef, is_classification
from mlops_engineer.engines.review.findings import Finding, finding

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_ROWS = 50_000
SEED = 0
FOLDS = 5
BINS = 64
HIGH, CRITICAL = 0.95, 0.99
# Words in a column name that say it is known only after the outcome.
AFTER_WORDS = ("outcome", "result", "label", "target", "future", "after", "post", "final_status")


def _folds(n: int) -> "object":
    import numpy as np

    return np.random.default_rng(SEED).permutation(n) % FOLDS


def _encoded(series: pd.Series) -> pd.Series:
    """The bin (numbers) or the value (anything else) as a string key; missing is its own key."""
    import pandas as pd
    from pandas.api import types

    if types.is_numeric_dtype(series) and not types.is_bool_dtype(series) and series.nunique() > BINS:
        codes = pd.qcut(series.rank(method="first"), BINS, labels=False)
        return codes.astype("float").fillna(-1).astype(int).astype(str)
    return series.astype("string").fillna("<NA>")


def feature_score(x: pd.Series, y: "object", classify: bool) -> float:
    """Cross-validated AUC (classification, one-vs-rest macro) or R² of one feature alone."""
    import numpy as np
    import pandas as pd

    keys = _encoded(x).to_numpy()
    folds = _folds(len(keys))
    if classify:
        classes = np.unique(y)
        onehot = (np.asarray(y)[:, None] == classes[None, :]).astype(float)
    else:
        onehot = np.asarray(y, dtype=float)[:, None]
    predicted = np.zeros_like(onehot)
    for k in range(FOLDS):
        held = folds == k
        train = pd.DataFrame(onehot[~held]).groupby(keys[~held]).mean()
        prior = onehot[~held].mean(axis=0)
        predicted[held] = train.reindex(keys[held]).fillna(pd.Series(prior)).to_numpy()
    if not classify:
        return r2(onehot[:, 0], predicted[:, 0])
    if len(classes) == 2:
        return auc(onehot[:, 1], predicted[:, 1])
    scores = [auc(onehot[:, i], predicted[:, i]) for i in range(len(classes)) if 0 < onehot[:, i].sum() < len(y)]
    return float(np.mean(scores))


def auc(truth: "object", score: "object") -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties averaged: equals sklearn's roc_auc_score."""
    import numpy as np
    from scipy.stats import rankdata

    truth = np.asarray(truth, dtype=bool)
    ranks = rankdata(score)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def r2(truth: "object", predicted: "object") -> float:
    import numpy as np

    truth, predicted = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
    total = float(((truth - truth.mean()) ** 2).sum())
    return 1.0 - float(((truth - predicted) ** 2).sum()) / total if total else 0.0


def single_feature_leaks(frame: pd.DataFrame, ref: TableRef, roles: Roles, progress: "object" = None) -> list[Finding]:
    target = roles.target
    if not target or target not in frame.columns:
        return []
    data = frame[frame[target].notna()]
    sampled = len(data) > SAMPLE_ROWS
    if sampled:
        data = data.sample(SAMPLE_ROWS, random_state=SEED)
    if len(data) < 4 * FOLDS:
        return []
    classify = is_classification(data[target])
    y = data[target].astype("string").to_numpy() if classify else data[target].to_numpy()
    if classify and len(set(y)) < 2:
        return []
    metric = "cv_auc" if classify else "cv_r2"
    features = [c for c in data.columns if c not in roles.reserved()]
    found = []
    for i, column in enumerate(features):
        if progress:
            progress(i, len(features), f"leakage {column}")  # type: ignore[operator]
        score = feature_score(data[column], y, classify)
        if score < HIGH:
            continue
        found.append(finding(
            "leakage.single_feature", "critical" if score >= CRITICAL else "high",
            f"{column} alone predicts {target} with {metric.replace('_', ' ').upper()} {score:.4f}",
            f"Find out when {column} is recorded: if only after the outcome, drop it; if it is a copy or transform of "
            f"{target}, drop it. A real feature is rarely this strong on its own.",
            numbers={metric: score, "rows_scored": len(data), "folds": FOLDS, "sampled": sampled, "seed": SEED},
            file=ref.file, detail=f"column {column}; {'deterministic sample of ' + str(SAMPLE_ROWS) + ' rows' if sampled else 'all rows'}",
            key=f"{ref.label}:{column}",
        ))
    return found


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()) if t}


def revealing_names(frame: pd.DataFrame, ref: TableRef, roles: Roles) -> list[Finding]:
    """Feature names that contain the target's name, or words for what happens after the outcome."""
    target = roles.target
    if not target:
        return []
    stem = target.lower().rstrip("ed").rstrip("_") if len(target) > 4 else target.lower()
    found = []
    for column in frame.columns:
        if column in roles.reserved():
            continue
        tokens = _tokens(str(column))
        hit = next((t for t in tokens if len(stem) >= 3 and t.startswith(stem)), None)
        after = sorted(tokens & set(AFTER_WORDS))
        if not hit and not after:
            continue
        why = f"contains the target's name ({hit})" if hit else f"says it is known after the outcome ({', '.join(after)})"
        found.append(finding(
            "leakage.name", "medium", f"feature {column} {why}",
            f"Confirm {column} is known at prediction time; if it is derived from {target} or recorded later, drop it.",
            file=ref.file, detail=f"column {column}; target {target}", key=f"{ref.label}:{column}",
        ))
    return found
