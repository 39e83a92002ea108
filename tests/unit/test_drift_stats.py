"""The drift statistics engine against scipy on the same data, and the mergeable summaries
against the one-shot ones. Evidently parity is in tests/integration/test_monitor_model_drift.py
(importing Evidently takes seconds)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from mlops_engineer.engines.drift import stats as ds
from mlops_engineer.engines.drift.check import Thresholds, feature_drift

RNG = np.random.default_rng(42)

SAMPLES = {
    # name: (reference, current)
    "small-shifted": (RNG.normal(0, 1, 300), RNG.normal(0.3, 1, 250)),
    "ties-rounded": (RNG.normal(0, 1, 2000).round(1), RNG.normal(0.1, 1.2, 1500).round(1)),
    "integers": (RNG.integers(0, 20, 900).astype(float), RNG.integers(2, 22, 1100).astype(float)),
    "large-same": (RNG.normal(5, 2, 30_000), RNG.normal(5, 2, 20_000)),
    "unequal-sizes": (RNG.exponential(1, 12_000), RNG.exponential(1.1, 700)),
}


# scipy's exact method takes minutes on 30,000 rows: that sample runs with auto and asymp only.
KS_CASES = [(name, method) for name in SAMPLES for method in ("auto", "exact", "asymp")
            if not (method == "exact" and max(map(len, SAMPLES[name])) > 15_000)]


@pytest.mark.parametrize(("name", "method"), KS_CASES)
def test_ks_equals_scipy_statistic_and_pvalue(name: str, method: str) -> None:
    a, b = SAMPLES[name]
    ours, _ = ds.ks_and_wasserstein(ds.NumericSample.from_values(a), ds.NumericSample.from_values(b), method)
    theirs = stats.ks_2samp(a, b, method=method)
    assert ours.statistic == pytest.approx(theirs.statistic, abs=1e-12)
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_wasserstein_equals_scipy(name: str) -> None:
    a, b = SAMPLES[name]
    _, ours = ds.ks_and_wasserstein(ds.NumericSample.from_values(a), ds.NumericSample.from_values(b))
    assert ours == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_js_distance_equals_scipy_on_the_same_bins(name: str) -> None:
    a, b = SAMPLES[name]
    ref, cur = ds.NumericSample.from_values(a), ds.NumericSample.from_values(b)
    edges = ds.quantile_edges(ref.values, 10)
    rc, cc = ds.counts_in_bins(ref.values, edges), ds.counts_in_bins(cur.values, edges)
    assert ds.jensen_shannon(rc, cc) == pytest.approx(distance.jensenshannon(rc / rc.sum(), cc / cc.sum()), rel=1e-9, abs=1e-12)


def test_bin_counts_equal_numpy() -> None:
    a, b = SAMPLES["ties-rounded"]
    ref, cur = ds.NumericSample.from_values(a), ds.NumericSample.from_values(b)
    edges = ds.quantile_edges(ref.values, 10)
    assert np.array_equal(edges, np.unique(np.quantile(a, np.linspace(0, 1, 11)[1:-1], method="inverted_cdf")))
    # Our bins are (-inf, e0], (e0, e1], ..., (ek, inf): np.digitize(right=True) numbers them the same way.
    expected = np.bincount(np.digitize(b, edges, right=True), minlength=len(edges) + 1)
    assert ds.counts_in_bins(cur.values, edges).tolist() == expected.tolist()
    sturges = ds.sturges_edges(ref.values, cur.values)
    assert np.allclose(sturges, np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges"))
    assert ds.histogram_counts(cur.values, sturges).tolist() == np.histogram(b, sturges)[0].tolist()
    # Reference quantile bins hold about the same share of the reference each.
    shares = ds.counts_in_bins(ref.values, ds.quantile_edges(ds.NumericSample.from_values(SAMPLES["large-same"][0]).values, 10))
    assert shares.sum() == len(a)


def test_psi_formula_and_epsilon() -> None:
    ref, cur = np.array([50, 30, 20, 0]), np.array([40, 30, 20, 10])
    r, c = np.array([0.5, 0.3, 0.2, 1e-4]), np.array([0.4, 0.3, 0.2, 0.1])
    assert ds.psi(ref, cur) == pytest.approx(float(np.sum((c - r) * np.log(c / r))))
    assert ds.psi(cur, cur) == 0.0


def test_chi_square_is_the_two_sample_test_of_scipy_chi2_contingency() -> None:
    ref, cur = np.array([500, 300, 200, 0]), np.array([380, 340, 280, 0])
    theirs = stats.chi2_contingency(np.vstack([ref[:3], cur[:3]]))  # a category neither side has is dropped
    assert ds.chi_square(ref, cur) == pytest.approx((theirs.statistic, theirs.pvalue), rel=1e-12)
    # A category only the current data has is one more column of the table, not an infinite statistic.
    ref, cur = np.array([60, 40, 0]), np.array([55, 40, 5])
    statistic, p = ds.chi_square(ref, cur)
    assert math.isfinite(statistic) and 0 < p < 0.1
    assert p == pytest.approx(stats.chi2_contingency(np.vstack([ref, cur])).pvalue, rel=1e-12)


def test_chi_square_holds_its_level_when_nothing_shifted() -> None:
    """Both sides drawn from the same shares: a test at 5 % must reject about 5 % of the time.
    The goodness-of-fit test against the reference shares (Evidently's) rejects about 27 %."""
    rng = np.random.default_rng(2026)
    shares = [0.4, 0.3, 0.2, 0.1]
    cases = 2000
    ours = theirs = 0
    for _ in range(cases):
        ref, cur = rng.multinomial(500, shares), rng.multinomial(500, shares)
        ours += ds.chi_square(ref, cur)[1] < 0.05
        theirs += ds.evidently_chi_square(ref, cur)[1] < 0.05
    assert 0.035 <= ours / cases <= 0.065, ours / cases
    assert theirs / cases > 0.2, theirs / cases  # why it is kept under its own name, for parity only


def test_evidently_chi_square_equals_scipy_chisquare_as_evidently_runs_it() -> None:
    ref, cur = np.array([500, 300, 200]), np.array([380, 340, 280])
    expected = ref * cur.sum() / ref.sum()
    statistic, p = ds.evidently_chi_square(ref, cur)
    theirs = stats.chisquare(cur, expected)
    assert statistic == pytest.approx(theirs.statistic) and p == pytest.approx(theirs.pvalue)
    # A category the reference never saw: infinite statistic, p = 0 (scipy says the same, with a warning).
    assert ds.evidently_chi_square(np.array([10, 0]), np.array([5, 5])) == (math.inf, 0.0)


def test_categorical_stats_count_new_categories() -> None:
    ref = ds.CategoricalCounts.from_values(["a"] * 60 + ["b"] * 40 + [None] * 5)
    cur = ds.CategoricalCounts.from_values(["a"] * 30 + ["b"] * 40 + ["c"] * 30)
    s = ds.categorical_stats("plan", ref, cur)
    assert (s.n_reference, s.n_current, s.bins) == (100, 100, 3)
    assert s.missing_reference == pytest.approx(5 / 105)
    assert s.extra["new_categories"] == ["c"] and s.chi2_pvalue < 1e-6 and s.psi > 0.2


def test_exact_summaries_merge_like_the_whole() -> None:
    a, b = SAMPLES["ties-rounded"]
    parts = [ds.NumericSample.from_values(p) for p in np.array_split(np.append(a, np.nan), 4)]
    merged = parts[0].merge(parts[1]).merge(parts[2]).merge(parts[3])
    whole = ds.NumericSample.from_values(np.append(a, np.nan))
    assert merged.missing == whole.missing == 1
    assert np.array_equal(merged.values, whole.values)
    counts = ds.CategoricalCounts.from_values(["x", "y"]).merge(ds.CategoricalCounts.from_values(["y", None]))
    assert counts.counts == {"x": 1, "y": 2} and counts.missing == 1


def test_grid_summaries_merge_and_stay_within_their_error_bounds() -> None:
    a, b = RNG.normal(0, 1, 200_000), RNG.normal(0.05, 1.1, 150_000)
    grid = ds.Grid(float(min(a.min(), b.min())), float(max(a.max(), b.max())), cells=4096)
    parts = [ds.GridSummary.from_values(p, grid) for p in np.array_split(a, 5)]
    ref = parts[0]
    for part in parts[1:]:
        ref = ref.merge(part)
    assert np.array_equal(ref.counts, ds.GridSummary.from_values(a, grid).counts)
    cur = ds.GridSummary.from_values(b, grid)
    approx = ds.grid_stats("x", ref, cur)
    exact = ds.numeric_stats("x", ds.NumericSample.from_values(a), ds.NumericSample.from_values(b))
    assert approx.ks_statistic <= exact.ks_statistic + 1e-12
    assert exact.ks_statistic <= approx.ks_statistic + approx.ks_error_bound + 1e-12
    assert abs(approx.wasserstein - exact.wasserstein) <= grid.width
    assert approx.psi == pytest.approx(exact.psi, abs=0.01)
    with pytest.raises(ValueError, match="outside the grid"):
        ds.GridSummary.from_values(np.array([grid.hi + 1]), grid)


def test_constant_columns() -> None:
    same = ds.numeric_stats("c", ds.NumericSample.from_values(np.full(100, 3.0)), ds.NumericSample.from_values(np.full(80, 3.0)))
    assert (same.psi, same.ks_statistic, same.wasserstein, same.js_distance) == (0.0, 0.0, 0.0, 0.0)
    assert same.ks_pvalue == 1.0 and same.bins == 2
    moved = ds.numeric_stats("c", ds.NumericSample.from_values(np.full(100, 3.0)), ds.NumericSample.from_values(np.full(80, 4.0)))
    assert moved.ks_statistic == 1.0 and moved.wasserstein == 1.0
    # Normalised by a zero std: floored at 0.001, as Evidently does.
    assert moved.wasserstein_normed == pytest.approx(1000.0)
    assert moved.psi > 0.2


def test_missing_values_are_counted_not_compared() -> None:
    a = np.concatenate([RNG.normal(size=100), [np.nan] * 10])
    s = ds.numeric_stats("m", ds.NumericSample.from_values(a), ds.NumericSample.from_values(a[:100]))
    assert s.n_reference == 100 and s.missing_reference == pytest.approx(10 / 110) and s.psi == 0.0
    with pytest.raises(ValueError, match="at least one"):
        ds.ks_and_wasserstein(ds.NumericSample.from_values(np.array([np.nan])), ds.NumericSample.from_values(a))


def test_feature_drift_handles_all_missing_and_severity() -> None:
    t = Thresholds()
    values = pd.Series(RNG.normal(size=500))
    gone = feature_drift("f", "numerical", values, pd.Series([np.nan] * 50), t)
    assert (gone.severity, gone.drifted, gone.stats) == ("severe", True, None)
    never = feature_drift("f", "numerical", pd.Series([np.nan] * 50), values, t)
    assert (never.severity, never.drifted, never.stats) == ("none", False, None) and "skipped" in never.note
    shifted = feature_drift("f", "numerical", values, values + 1.5, t)
    assert shifted.severity == "severe" and shifted.stats.psi >= 0.2
    slightly = feature_drift("f", "numerical", values, values, t)
    assert slightly.severity == "none" and slightly.stats.psi == 0.0
    # Whole-number floats and integers are the same categories.
    cat = feature_drift("k", "categorical", pd.Series([1, 2, 2, 3] * 20), pd.Series([1.0, 2.0, 2.0, 3.0] * 20), t)
    assert cat.stats.psi == 0.0 and cat.stats.chi2_pvalue == 1.0


def test_parquet_row_groups_stream_into_the_same_statistics(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops_engineer.engines.drift.partitions import (
        parquet_drift,
        parquet_grids,
        parquet_summaries,
    )

    a, b = RNG.normal(0, 1, 50_000), RNG.normal(0.1, 1.2, 40_000)
    paths = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    for path, values in zip(paths, (a, b), strict=True):
        pq.write_table(pa.table({"x": values, "label": (values > 0).astype("int64")}), path, row_group_size=7_000)
    assert pq.ParquetFile(paths[0]).metadata.num_row_groups == 8
    grids = parquet_grids(paths, ["x"], cells=4096)
    assert (grids["x"].lo, grids["x"].hi) == (min(a.min(), b.min()), max(a.max(), b.max()))
    streamed = parquet_summaries(paths[0], grids)["x"]
    assert np.array_equal(streamed.counts, ds.GridSummary.from_values(a, grids["x"]).counts)

    progress = []
    approx = {s.column: s for s in parquet_drift(*paths, cells=4096, progress=lambda d, t, m: progress.append(d))}
    assert set(approx) == {"x", "label"} and len(progress) == 8 + 6
    exact = ds.numeric_stats("x", ds.NumericSample.from_values(a), ds.NumericSample.from_values(b))
    x = approx["x"]
    assert x.ks_statistic <= exact.ks_statistic + 1e-12 <= x.ks_statistic + x.ks_error_bound + 2e-12
    assert abs(x.wasserstein - exact.wasserstein) <= grids["x"].width
