"""Drift statistics, vectorised with numpy/scipy, from summaries that can be merged.

Two ways to summarise a numerical column:

- **Exact** (`NumericSample`): the sorted, NaN-free values. KS and Wasserstein are
  computed from one stable merge of the two sorted samples, so they equal
  `scipy.stats.ks_2samp` (statistic and p-value, same `method`) and
  `scipy.stats.wasserstein_distance` to floating-point precision. Two exact
  summaries of partitions merge by a sorted merge.
- **Grid** (`GridSummary`): counts on a fixed uniform grid shared by reference and
  current, plus count/NaN/min/max/sum/sum of squares. Partitions (Parquet row
  groups, Ray tasks) each produce one; they merge by adding counts. KS from the
  grid is within `ks_error_bound` of the exact statistic (the largest mass either
  sample puts in one grid cell); Wasserstein is within one cell width.

PSI and Jensen-Shannon use bins cut at reference quantiles (`quantile_edges`), so
each bin holds about the same share of the reference. Evidently bins numerical
columns differently (Sturges bins over the combined data, `sturges_edges` here) and
fills empty bins with its own epsilon rule; on the same edges and with no empty bin
the two agree exactly (tests/unit/test_drift_stats.py).

Categorical columns get a two-sample chi-square test (`chi_square`: both sides' shares
are estimates). Evidently's variant (`evidently_chi_square`) takes the reference shares
as exact and rejects too often under no shift; it is kept for parity checks only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

KsMethod = Literal["auto", "exact", "asymp"]
MAX_AUTO_N = 10_000  # scipy.stats.ks_2samp: 'auto' is exact up to this many rows per side
DEFAULT_BINS = 10
DEFAULT_EPSILON = 1e-4


# --------------------------------------------------------------------------- numerical, exact


@dataclass(frozen=True)
class NumericSample:
    """One side of a numerical column: sorted finite values plus the missing count."""

    values: np.ndarray  # sorted float64, no NaN
    missing: int = 0

    @classmethod
    def from_values(cls, values: np.ndarray) -> NumericSample:
        arr = np.asarray(values, dtype=np.float64)
        nan = np.isnan(arr)
        missing = int(nan.sum())
        clean = arr[~nan] if missing else arr
        return cls(np.sort(clean), missing)  # np.sort copies: the caller's frame is never changed

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    def merge(self, other: NumericSample) -> NumericSample:
        """Summary of the union of two partitions (a sorted merge)."""
        merged = np.concatenate([self.values, other.values])
        merged.sort(kind="stable")  # two sorted runs: a linear-time merge
        return NumericSample(merged, self.missing + other.missing)


@dataclass(frozen=True)
class KsResult:
    statistic: float
    pvalue: float
    method: str


def _merge_counts(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The merged sorted values and, after each of them, n1 * n2 * (F_ref - F_cur) as exact integers."""
    n1, n2 = ref.shape[0], cur.shape[0]
    both = np.concatenate([ref, cur])
    order = np.argsort(both, kind="stable")  # two sorted runs: timsort merges them in linear time
    merged = both[order]
    del both
    from_ref = order < n1
    del order
    c_ref = np.cumsum(from_ref, dtype=np.int64)
    del from_ref
    # n1 n2 (F_ref - F_cur) = n2 * c_ref - n1 * c_cur with c_cur = position - c_ref, in place: no float rounding in the KS statistic.
    diff = c_ref
    diff *= n1 + n2
    diff -= np.arange(n1, n1 * (n1 + n2 + 1), n1, dtype=np.int64)
    return merged, diff


def ks_and_wasserstein(ref: NumericSample, cur: NumericSample, method: KsMethod = "auto") -> tuple[KsResult, float]:
    """Two-sample KS (two-sided) and the 1-Wasserstein distance from one merge of the sorted samples."""
    n1, n2 = ref.n, cur.n
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one non-missing value")
    merged, diff = _merge_counts(ref.values, cur.values)
    widths = np.diff(merged)
    ties = np.count_nonzero(widths) < widths.shape[0]
    # KS: only positions after the last copy of a tied value are points of the ECDFs.
    at = diff[np.append(widths != 0, True)] if ties else diff
    scale = float(n1) * float(n2)
    d_plus = float(at.max()) / scale
    d_minus = min(max(-float(at.min()) / scale, 0.0), 1.0)
    d = max(d_plus, d_minus)
    # Wasserstein: integral of |F1 - F2| between consecutive merged points (ties have width 0).
    np.abs(diff, out=diff)
    # |n1 n2 (F1 - F2)| <= n1 n2 < 2**53 for any realistic size: exact as float64, and BLAS does the dot.
    wasserstein = float(np.dot(diff[:-1].astype(np.float64), widths)) / scale
    return ks_pvalue(d, n1, n2, method), wasserstein


def ks_pvalue(d: float, n1: int, n2: int, method: KsMethod = "auto") -> KsResult:
    """The two-sided p-value of a KS statistic exactly as `scipy.stats.ks_2samp` computes it."""
    from scipy import stats

    mode = method
    if mode == "auto":
        mode = "exact" if max(n1, n2) <= MAX_AUTO_N else "asymp"
    g = math.gcd(n1, n2)
    if mode == "exact" and n1 // g >= np.iinfo(np.int32).max / (n2 // g):
        mode = "asymp"
    if mode == "exact":
        try:  # scipy's own exact recursion; private, so guard against its removal
            from scipy.stats._stats_py import _attempt_exact_2kssamp

            success, d_exact, prob = _attempt_exact_2kssamp(n1, n2, g, d, "two-sided")
            if success:
                return KsResult(float(d_exact), float(np.clip(prob, 0, 1)), "exact")
        except ImportError:
            pass
        mode = "asymp"
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    prob = stats.distributions.kstwo.sf(d, np.round(en))
    return KsResult(float(d), float(np.clip(prob, 0, 1)), mode)


def quantile_edges(ref_sorted: np.ndarray, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """Interior bin edges at the reference's quantiles (duplicates dropped, so a column with few
    distinct values gets fewer bins). Bin i holds values in (edges[i-1], edges[i]]; the outer
    bins are open-ended, so current values outside the reference's range still land in a bin."""
    if ref_sorted.shape[0] == 0:
        return np.empty(0)
    qs = np.linspace(0, 1, n_bins + 1)[1:-1]
    # The inverted-CDF quantile (numpy's method="inverted_cdf") of sorted values is one index
    # each, so a bin edge is always an observed value.
    n = ref_sorted.shape[0]
    idx = np.clip(np.ceil(qs * n).astype(np.int64) - 1, 0, n - 1)
    return np.unique(ref_sorted[idx])


def sturges_edges(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Evidently's numerical binning: `np.histogram_bin_edges(concat(ref, cur), "sturges")`,
    computed from min, max and count alone (no concatenated copy)."""
    lo = float(min(ref.min(), cur.min()))
    hi = float(max(ref.max(), cur.max()))
    total = ref.shape[0] + cur.shape[0]
    return np.histogram_bin_edges(np.array([lo, hi]), bins=int(np.ceil(np.log2(total)) + 1), range=(lo, hi))


def counts_in_bins(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin (-inf, e0], (e0, e1], ..., (ek, inf) of sorted values: O(bins log n)."""
    cuts = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(np.concatenate([[0], cuts, [sorted_values.shape[0]]])).astype(np.int64)


def histogram_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`np.histogram(values, edges)[0]` for sorted values (closed last bin, values outside dropped)."""
    left = np.searchsorted(sorted_values, edges[:-1], side="left")
    right = np.searchsorted(sorted_values, edges[1:], side="left")
    right[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return (right - left).astype(np.int64)


def proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros(counts.shape[0])


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, epsilon: float = DEFAULT_EPSILON) -> float:
    """Population stability index: sum((c - r) * ln(c / r)) over bins, empty bins set to `epsilon`."""
    r = np.where(ref_counts > 0, proportions(ref_counts), epsilon)
    c = np.where(cur_counts > 0, proportions(cur_counts), epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log, as scipy.spatial.distance.jensenshannon's default)."""
    p, q = proportions(ref_counts), proportions(cur_counts)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(math.sqrt(max((kl_p + kl_q) / 2, 0.0)))


# --------------------------------------------------------------------------- per-column results


@dataclass
class ColumnStats:
    column: str
    kind: Literal["numerical", "categorical"]
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    psi: float
    js_distance: float
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    ks_method: str | None = None
    ks_error_bound: float | None = None  # grid summaries only: exact KS lies in [ks, ks + bound]
    wasserstein: float | None = None
    wasserstein_normed: float | None = None  # divided by the reference std (Evidently's normalisation)
    chi2_statistic: float | None = None
    chi2_pvalue: float | None = None
    reference_mean: float | None = None
    current_mean: float | None = None
    bins: int = 0
    extra: dict[str, object] = field(default_factory=dict)


def numeric_stats(column: str, ref: NumericSample, cur: NumericSample, *, n_bins: int = DEFAULT_BINS,
                  epsilon: float = DEFAULT_EPSILON, ks_method: KsMethod = "auto",
                  edges: np.ndarray | None = None) -> ColumnStats:
    """Every statistic for one numerical column from its two exact summaries."""
    edges = quantile_edges(ref.values, n_bins) if edges is None else edges
    rc, cc = counts_in_bins(ref.values, edges), counts_in_bins(cur.values, edges)
    ks, wasserstein = ks_and_wasserstein(ref, cur, ks_method)
    std = float(np.std(ref.values))
    return ColumnStats(
        column=column, kind="numerical", n_reference=ref.n, n_current=cur.n,
        missing_reference=ref.missing / max(ref.n + ref.missing, 1),
        missing_current=cur.missing / max(cur.n + cur.missing, 1),
        psi=psi(rc, cc, epsilon), js_distance=jensen_shannon(rc, cc),
        ks_statistic=ks.statistic, ks_pvalue=ks.pvalue, ks_method=ks.method,
        wasserstein=wasserstein, wasserstein_normed=wasserstein / max(std, 0.001),
        reference_mean=float(ref.values.mean()), current_mean=float(cur.values.mean()),
        bins=int(rc.shape[0]),
    )


# --------------------------------------------------------------------------- categorical


@dataclass(frozen=True)
class CategoricalCounts:
    """Value counts of one side of a categorical column; merges by adding counts."""

    counts: dict[str, int]
    missing: int = 0

    @classmethod
    def from_values(cls, values: Sequence[object] | np.ndarray) -> CategoricalCounts:
        import pandas as pd

        series = pd.Series(values)
        missing = int(series.isna().sum())
        counted = series.dropna().astype(str).value_counts(sort=False)
        return cls({str(k): int(v) for k, v in counted.items()}, missing)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: CategoricalCounts) -> CategoricalCounts:
        merged = dict(self.counts)
        for key, value in other.counts.items():
            merged[key] = merged.get(key, 0) + value
        return CategoricalCounts(merged, self.missing + other.missing)


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Two-sample chi-square test of homogeneity: `scipy.stats.chi2_contingency` on the 2 x k
    table of reference and current counts (categories neither side has are dropped; Yates'
    correction when k = 2, scipy's default). Both shares are estimates, so under no shift the
    p-value is uniform; a category new in the current data is one more column, not p = 0."""
    keep = (ref_counts + cur_counts) > 0
    table = np.vstack([ref_counts[keep], cur_counts[keep]]).astype(np.int64)
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return 0.0, 1.0
    from scipy import stats

    result = stats.chi2_contingency(table)
    return float(result.statistic), float(result.pvalue)


def evidently_chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Evidently's categorical chi-square, for parity checks only: goodness of fit of the current
    counts to the reference shares taken as exact (expected = reference counts scaled to the
    current total, `scipy.stats.chisquare`). It ignores the reference's own sampling noise, so
    under no shift it rejects far more often than its level (27.7 % at 5 %, against 4.8 % for
    `chi_square`, on 2,000 simulated pairs of 500 rows: tests/unit/test_drift_stats.py). A category only the current data has gives an
    infinite statistic (p = 0)."""
    n_ref, n_cur = ref_counts.sum(), cur_counts.sum()
    expected = ref_counts * (n_cur / n_ref)
    if np.any((expected == 0) & (cur_counts > 0)):
        return math.inf, 0.0
    keep = expected > 0
    f_obs, f_exp = cur_counts[keep].astype(float), expected[keep]
    statistic = float(np.sum((f_obs - f_exp) ** 2 / f_exp))
    dof = int(keep.sum()) - 1
    if dof < 1:
        return 0.0, 1.0
    from scipy import stats

    return statistic, float(stats.chi2.sf(statistic, dof))


def categorical_stats(column: str, ref: CategoricalCounts, cur: CategoricalCounts, *,
                      epsilon: float = DEFAULT_EPSILON) -> ColumnStats:
    keys = sorted(set(ref.counts) | set(cur.counts))
    rc = np.array([ref.counts.get(k, 0) for k in keys], dtype=np.int64)
    cc = np.array([cur.counts.get(k, 0) for k in keys], dtype=np.int64)
    chi2, p = chi_square(rc, cc)
    return ColumnStats(
        column=column, kind="categorical", n_reference=ref.n, n_current=cur.n,
        missing_reference=ref.missing / max(ref.n + ref.missing, 1),
        missing_current=cur.missing / max(cur.n + cur.missing, 1),
        psi=psi(rc, cc, epsilon), js_distance=jensen_shannon(rc, cc),
        chi2_statistic=chi2, chi2_pvalue=p, bins=len(keys),
        extra={"new_categories": [k for k in keys if ref.counts.get(k, 0) == 0][:20]},
    )


# --------------------------------------------------------------------------- numerical, grid (mergeable)


@dataclass(frozen=True)
class Grid:
    """A uniform grid of `cells` cells over [lo, hi], shared by every partition of both sides."""

    lo: float
    hi: float
    cells: int = 16_384

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.cells if self.hi > self.lo else 0.0

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.cells + 1)


@dataclass(frozen=True)
class GridSummary:
    """Per-partition summary of a numerical column on a `Grid`: merge by adding."""

    grid: Grid
    counts: np.ndarray
    missing: int
    total: float
    total_sq: float

    @classmethod
    def from_values(cls, values: np.ndarray, grid: Grid) -> GridSummary:
        arr = np.asarray(values, dtype=np.float64)
        finite = arr[~np.isnan(arr)]
        if finite.shape[0] and (finite.min() < grid.lo or finite.max() > grid.hi):
            raise ValueError(f"values outside the grid [{grid.lo}, {grid.hi}]: build the grid from both sides' min and max")
        if grid.hi > grid.lo:
            idx = ((finite - grid.lo) * (grid.cells / (grid.hi - grid.lo))).astype(np.int64)
            np.minimum(idx, grid.cells - 1, out=idx)
            counts = np.bincount(idx, minlength=grid.cells)
        else:
            counts = np.zeros(grid.cells, dtype=np.int64)
            counts[0] = finite.shape[0]
        return cls(grid, counts.astype(np.int64), int(arr.shape[0] - finite.shape[0]),
                   float(finite.sum()), float(np.dot(finite, finite)))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def merge(self, other: GridSummary) -> GridSummary:
        if other.grid != self.grid:
            raise ValueError("grid summaries merge only on the same grid")
        return GridSummary(self.grid, self.counts + other.counts, self.missing + other.missing,
                           self.total + other.total, self.total_sq + other.total_sq)

    def quantile_cells(self, n_bins: int) -> np.ndarray:
        """Cell indices whose upper edges approximate the reference quantiles (grid resolution)."""
        cdf = np.cumsum(self.counts) / max(self.n, 1)
        qs = np.linspace(0, 1, n_bins + 1)[1:-1]
        cells = np.unique(np.searchsorted(cdf, qs, side="left"))
        return cells[cells < self.grid.cells - 1]


def grid_stats(column: str, ref: GridSummary, cur: GridSummary, *, n_bins: int = DEFAULT_BINS,
               epsilon: float = DEFAULT_EPSILON) -> ColumnStats:
    """Statistics from merged grid summaries. PSI/JS bins are unions of grid cells cut near the
    reference quantiles; KS is a lower bound within `ks_error_bound` of the exact value;
    Wasserstein is within one cell width of the exact value."""
    if ref.n == 0 or cur.n == 0:
        raise ValueError("both samples need at least one non-missing value")
    cdf_r = np.cumsum(ref.counts) / ref.n
    cdf_c = np.cumsum(cur.counts) / cur.n
    diff = cdf_r - cdf_c
    ks = float(np.abs(diff).max())
    bound = float(np.maximum(ref.counts / ref.n, cur.counts / cur.n).max())
    # Mass at cell centres: the distance between the two discretised distributions.
    wasserstein = float(np.abs(diff[:-1]).sum() * ref.grid.width)
    cuts = ref.quantile_cells(n_bins) + 1
    rc = np.add.reduceat(ref.counts, np.concatenate([[0], cuts]))
    cc = np.add.reduceat(cur.counts, np.concatenate([[0], cuts]))
    mean_r, mean_c = ref.total / ref.n, cur.total / cur.n
    std = math.sqrt(max(ref.total_sq / ref.n - mean_r**2, 0.0))
    result = ks_pvalue(ks, ref.n, cur.n, "asymp")
    return ColumnStats(
        column=column, kind="numerical", n_reference=ref.n, n_current=cur.n,
        missing_reference=ref.missing / max(ref.n + ref.missing, 1),
        missing_current=cur.missing / max(cur.n + cur.missing, 1),
        psi=psi(rc, cc, epsilon), js_distance=jensen_shannon(rc, cc),
        ks_statistic=ks, ks_pvalue=result.pvalue, ks_method="grid", ks_error_bound=bound,
        wasserstein=wasserstein, wasserstein_normed=wasserstein / max(std, 0.001),
        reference_mean=mean_r, current_mean=mean_c, bins=int(rc.shape[0]),
        extra={"wasserstein_error_bound": ref.grid.width},
    )
