"""Agreement statistics against their reference implementations.

Krippendorff's alpha is compared with the `krippendorff` package (fast-krippendorff) to
1e-12 on the matrices of that package's own test suite
(github.com/pln-fing-udelar/fast-krippendorff, tests/test_krippendorff.py, commit
13c1938f), Cohen's kappa with `sklearn.metrics.cohen_kappa_score` exactly (==), Fleiss'
kappa with `statsmodels.stats.inter_rater.fleiss_kappa`.
"""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from mlops_engineer.engines.labeling import agreement as ag
from mlops_engineer.engines.labeling.dawid_skene import dawid_skene

NAN = np.nan
# fast-krippendorff tests/test_krippendorff.py: test_nominal_metric_reliability_data, test_interval_metric
WIKIPEDIA = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]
# test_ordinal_metric, test_ratio_metric (Hayes & Krippendorff 2007, p. 8)
HAYES = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
RATIO_ZEROS = [[0, 1, 2], [0, 1, 2]]  # test_ratio_metric_with_zeros
STRINGS = [["pos", "neg", "neu", NAN], ["pos", "neg", "neu", "pos"], ["pos", "neg", "pos", "pos"]]  # test_string_labels_nominal
PERFECT = [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]]  # test_perfect_agreement
# test_nominal_metric_value_counts
VALUE_COUNTS = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 2, 0, 0], [2, 0, 0, 0], [0, 0, 2, 0], [0, 0, 2, 1], [0, 0, 0, 3],
                         [1, 0, 1, 0], [0, 2, 0, 0], [2, 0, 0, 0], [2, 0, 0, 0], [0, 0, 2, 0], [0, 0, 2, 0], [0, 0, 0, 0],
                         [0, 0, 1, 1]])


def _ratings(matrix: list[list[object]]) -> list[ag.Rating]:
    out = []
    for coder, row in enumerate(matrix):
        for unit, value in enumerate(row):
            if isinstance(value, float) and math.isnan(value):
                continue
            out.append(ag.Rating(unit, coder, value))
    return out


def _ours(matrix: list[list[object]], level: ag.Level) -> float | None:
    table = ag.rating_table(_ratings(matrix))
    return ag.krippendorff_alpha(table.counts, table.values, level)


CASES = [
    ("wikipedia", WIKIPEDIA, ag.LEVELS),
    ("hayes", HAYES, ag.LEVELS),
    ("ratio-zeros", RATIO_ZEROS, ("ratio", "interval", "nominal")),
    ("strings", STRINGS, ("nominal",)),
    ("perfect", PERFECT, ("nominal", "interval")),
]


@pytest.mark.parametrize(("name", "matrix", "levels"), CASES, ids=[c[0] for c in CASES])
def test_alpha_equals_krippendorff_package_on_its_test_data(name: str, matrix: list, levels: tuple) -> None:
    for level in levels:
        theirs = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
        assert abs(_ours(matrix, level) - theirs) <= 1e-12, (name, level)


def test_alpha_from_value_counts_and_known_figures() -> None:
    ours = ag.krippendorff_alpha(VALUE_COUNTS, list(range(4)), "nominal")
    assert abs(ours - krippendorff.alpha(value_counts=VALUE_COUNTS, level_of_measurement="nominal")) <= 1e-12
    assert round(ours, 6) == 0.691358  # the figure the package's test asserts
    assert round(_ours(HAYES, "ordinal"), 3) == 0.815 and round(_ours(HAYES, "ratio"), 3) == 0.797
    assert round(_ours(STRINGS, "nominal"), 6) == 0.722222


def test_ordinal_strings_with_explicit_order() -> None:
    """The package's string ordinal case: our ordinal level needs numbers, so the labels map to ranks."""
    words = ["very low", "low", "mid", "high", "very high"]
    data = [["very low", "low", "mid", "mid", "low", "very low", "high", "very low", "low", NAN, NAN, NAN],
            ["very low", "low", "mid", "mid", "low", "low", "high", "very low", "low", "very high", NAN, "mid"],
            [NAN, "mid", "mid", "mid", "low", "mid", "high", "low", "low", "very high", "very low", NAN],
            ["very low", "low", "mid", "mid", "low", "high", "high", "very low", "low", "very high", "very low", NAN]]
    ranks = [[words.index(v) if isinstance(v, str) else v for v in row] for row in data]
    theirs = krippendorff.alpha(data, level_of_measurement="ordinal", value_domain=words)
    assert abs(_ours(ranks, "ordinal") - theirs) <= 1e-12


def test_alpha_on_random_data_every_level() -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(1, 6, size=(5, 300)).astype(float)
    data[rng.random(data.shape) < 0.3] = NAN
    for level in ag.LEVELS:
        assert abs(_ours(data.tolist(), level) - krippendorff.alpha(data, level_of_measurement=level)) <= 1e-12


def test_cohen_kappa_is_bit_identical_to_sklearn() -> None:
    rng = np.random.default_rng(7)
    for trial in range(40):
        k = int(rng.integers(2, 7))
        y1 = rng.integers(0, k, size=int(rng.integers(5, 400)))
        y2 = np.where(rng.random(len(y1)) < 0.6, y1, rng.integers(0, k, size=len(y1)))
        labels1 = [f"c{v}" for v in y1] if trial % 2 else y1.tolist()
        labels2 = [f"c{v}" for v in y2] if trial % 2 else y2.tolist()
        for weights in (None, "linear", "quadratic"):
            assert ag.cohen_kappa(labels1, labels2, weights) == cohen_kappa_score(labels1, labels2, weights=weights)
    y1 = ["negative", "positive", "negative", "neutral", "positive"]
    y2 = ["negative", "positive", "negative", "neutral", "negative"]
    assert ag.cohen_kappa(y1, y2) == cohen_kappa_score(y1, y2) == 0.6875


def test_fleiss_matches_statsmodels() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, size=200)
    ratings = np.where(rng.random((200, 4)) < 0.7, truth[:, None], rng.integers(0, 3, size=(200, 4)))
    counts = np.stack([(ratings == c).sum(axis=1) for c in range(3)], axis=1)
    ours, per_category = ag.fleiss_kappa(counts)
    assert abs(ours - sm_fleiss(counts)) <= 1e-12
    assert per_category.shape == (3,) and np.all(per_category < 1)


def test_report_pairs_labels_intervals_and_disagreements() -> None:
    ratings = _ratings(HAYES)
    report = ag.agreement_report(ratings, ["nominal", "ordinal"], replicates=300, seed=1, top=3)
    a = report.alpha["ordinal"]
    assert abs(a.estimate - krippendorff.alpha(HAYES, level_of_measurement="ordinal")) <= 1e-12
    assert a.low < a.estimate < a.high <= 1
    again = ag.agreement_report(ratings, ["nominal", "ordinal"], replicates=300, seed=1, top=3)
    assert (again.alpha["ordinal"].low, again.alpha["ordinal"].high) == (a.low, a.high)  # fixed seed
    pair = next(p for p in report.pairs if (p.annotator_a, p.annotator_b) == (0, 1))
    both = [u for u in range(12) if not math.isnan(HAYES[0][u]) and not math.isnan(HAYES[1][u])]
    assert pair.items == len(both)
    assert pair.kappa.estimate == cohen_kappa_score([HAYES[0][u] for u in both], [HAYES[1][u] for u in both])
    assert [label.label for label in report.labels] == [1, 2, 3, 4, 5]
    assert report.fleiss_raters == 4 and report.fleiss_items == 8  # units 2-9 of the paper: rated by all four coders
    worst = report.disagreements[0]
    assert worst.item == 5 and worst.distinct == 4  # unit 6 of the paper: 1, 2, 3, 4


def test_dawid_skene_discounts_a_bad_annotator() -> None:
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 2, size=300)
    ratings = []
    for item, t in enumerate(truth):
        ratings.append(ag.Rating(item, "good-1", int(t) if rng.random() < 0.9 else 1 - int(t)))
        ratings.append(ag.Rating(item, "good-2", int(t) if rng.random() < 0.85 else 1 - int(t)))
        # Adversarial: mostly the wrong answer. Majority vote follows it whenever one good one slips.
        ratings.append(ag.Rating(item, "bad", 1 - int(t) if rng.random() < 0.9 else int(t)))
    result = dawid_skene(ratings)
    accuracy = np.mean([result.labels[i] == truth[i] for i in range(300)])
    votes = ag.rating_table(ratings).counts  # columns: class 0, class 1
    majority = np.mean(votes.argmax(axis=1) == truth)
    assert accuracy > 0.9 and accuracy > majority + 0.1, (accuracy, majority)
    assert result.annotator_accuracy["bad"] < 0.2 < 0.8 < result.annotator_accuracy["good-1"]
    assert result.converged
