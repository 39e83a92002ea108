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
    import numpy as np
    import pandas as pd

SAMPLE_ROWS = 50_000
SEED = 0
FOLDS = 5
BINS = 64
HIGH, CRITICAL = 0.95, 0.99
# Words in a column name that say it is known only after the outcome.
AFTER_WORDS = ("outcome", "result", "label", "target", "future", "after", "post", "final_status")


def _folds(n: int) -> np.ndarray:
    import numpy as np

    return np.random.default_rng(SEED).permutation(n) % FOLDS


def _encoded(series: pd.Series) -> tuple[np.ndarray, int]:
    """(an integer key per row, the number of keys): quantile bins for numbers, the value otherwise.

    Missing values get a key of their own, so missingness that predicts the target counts too.
    """
    import numpy as np
    import pandas as pd
    from pandas.api import types

    if types.is_numeric_dtype(series) and not types.is_bool_dtype(series) and series.nunique() > BINS:
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(values)
        edges = np.unique(np.quantile(values[present], np.linspace(0, 1, BINS + 1)[1:-1])) if present.any() else np.array([])
        keys = np.where(present, np.searchsorted(edges, values, side="right"), len(edges) + 1)
        return keys.astype(np.int64), len(edges) + 2
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return np.where(codes < 0, len(uniques), codes).astype(np.int64), len(uniques) + 1


def feature_score(x: pd.Series, y: np.ndarray, classify: bool) -> float:
    """Cross-validated AUC (classification, one-vs-rest macro) or R² of one feature alone."""
    import numpy as np

    keys, size = _encoded(x)
    folds = _folds(len(keys))
    if classify:
        classes = np.unique(y)
        targets = (np.asarray(y)[:, None] == classes[None, :]).astype(float)
    else:
        targets = np.asarray(y, dtype=float)[:, None]
    predicted = np.zeros_like(targets)
    for k in range(FOLDS):
        held = folds == k
        counts = np.bincount(keys[~held], minlength=size)
        prior = targets[~held].mean(axis=0)
        for j in range(targets.shape[1]):
            sums = np.bincount(keys[~held], weights=targets[~held, j], minlength=size)
            means = np.divide(sums, counts, out=np.full(size, prior[j]), where=counts > 0)
            predicted[held, j] = means[keys[held]]
    if not classify:
        return r2(targets[:, 0], predicted[:, 0])
    if len(classes) == 2:
        return auc(targets[:, 1], predicted[:, 1])
    scores = [auc(targets[:, i], predicted[:, i]) for i in range(len(classes)) if 0 < targets[:, i].sum() < len(y)]
    return float(np.mean(scores))


def auc(truth: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC with ties counted half (the Mann-Whitney form): equals sklearn's roc_auc_score.

    Computed per distinct score (a target encoding has a few dozen), so it costs one sort.
    """
    import numpy as np

    truth = np.asarray(truth, dtype=bool)
    levels, inverse = np.unique(np.asarray(score, dtype=float), return_inverse=True)
    positives = np.bincount(inverse, weights=truth, minlength=len(levels))
    negatives = np.bincount(inverse, weights=~truth, minlength=len(levels))
    below = np.cumsum(negatives) - negatives
    total = positives.sum() * negatives.sum()
    return float((positives * (below + negatives / 2)).sum() / total) if total else 0.5


def r2(truth: "object", predicted: "object") -> float:
    import numpy as np

    truth, predicted = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
    total = float(((truth - truth.mean()) ** 2).sum())
    return 1.0 - float(((truth - predicted) ** 2).sum()) / total if total else 0.0


def single_feature_leaks(frame: pd.DataFrame, ref: TableRef, roles: Roles, progress: "object" = None) -> list[Finding]:
    import numpy as np
    import pandas as pd

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
    y = pd.factorize(data[target].astype("string"))[0] if classify else data[target].to_numpy(dtype=float)
    if classify and len(np.unique(y)) < 2:
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
