"""Dawid-Skene: each item's true class and each annotator's confusion matrix, by EM.

Dawid and Skene (1979), "Maximum likelihood estimation of observer error-rates using the
EM algorithm". Initialised from the majority vote (per-item vote shares as the first
posteriors), so the result is deterministic and starts where majority voting ends; an
annotator who is usually wrong then gets a confusion matrix that discounts, or even
inverts, their votes.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from mlops_engineer.engines.labeling.agreement import Rating, rating_table

SMOOTHING = 0.01  # added to every confusion count: an unseen (class, answer) pair is unlikely, not impossible


@dataclass
class DawidSkeneResult:
    labels: dict[Hashable, Hashable]  # item -> most probable class
    posterior: dict[Hashable, float]  # item -> probability of that class
    annotator_accuracy: dict[Hashable, float]  # sum over classes of prior * P(answer = class | class)
    priors: dict[Hashable, float]
    iterations: int
    converged: bool


def dawid_skene(ratings: Sequence[Rating], max_iterations: int = 100, tolerance: float = 1e-8) -> DawidSkeneResult:
    table = rating_table(ratings)
    n_items, n_classes, n_annotators = len(table.items), len(table.values), len(table.annotators)
    # answers[a, u, k] = 1 when annotator a gave item u class k
    answers = np.zeros((n_annotators, n_items, n_classes))
    answers[table.annotator_index, table.item_index, table.value_index] = 1.0
    t = table.counts / np.maximum(table.counts.sum(axis=1, keepdims=True), 1)  # majority vote shares
    converged = False
    iteration = 0
    log_likelihood = -np.inf
    for iteration in range(1, max_iterations + 1):  # noqa: B007 - reported
        # M step: class priors and per-annotator confusion matrices pi[a, true, given].
        priors = t.mean(axis=0)
        pi = np.einsum("uj,auk->ajk", t, answers) + SMOOTHING
        pi /= pi.sum(axis=2, keepdims=True)
        # E step: posterior over the true class, in logs to survive many annotators.
        log_t = np.log(np.maximum(priors, 1e-300))[None, :] + np.einsum("auk,ajk->uj", answers, np.log(pi))
        top = log_t.max(axis=1, keepdims=True)
        t = np.exp(log_t - top)
        total = t.sum(axis=1, keepdims=True)
        t /= total
        new_log_likelihood = float((np.log(total) + top).sum())
        if abs(new_log_likelihood - log_likelihood) <= tolerance * max(1.0, abs(new_log_likelihood)):
            converged = True
            break
        log_likelihood = new_log_likelihood
    best = t.argmax(axis=1)
    accuracy = np.einsum("j,ajj->a", priors, pi)
    return DawidSkeneResult(
        labels={item: table.values[best[u]] for u, item in enumerate(table.items)},
        posterior={item: float(t[u, best[u]]) for u, item in enumerate(table.items)},
        annotator_accuracy={a: float(accuracy[i]) for i, a in enumerate(table.annotators)},
        priors={v: float(priors[k]) for k, v in enumerate(table.values)},
        iterations=iteration,
        converged=converged,
    )
