"""Inter-annotator agreement: Cohen's kappa, Fleiss' kappa and Krippendorff's alpha, with
bootstrap confidence intervals over items.

Every statistic is computed from counts, so a bootstrap replicate is a weighted sum of
per-item contributions (the weights are how often each item was drawn) instead of a second
pass over the ratings: a thousand replicates of 100,000 items cost seconds, not minutes.

- Cohen's kappa follows `sklearn.metrics.cohen_kappa_score` operation for operation
  (a float64 confusion matrix, `outer(column sums, row sums) / n` as chance), so the two
  agree bit for bit.
- Krippendorff's alpha is built on the coincidence matrix `o` (Krippendorff 2011,
  "Computing Krippendorff's alpha-reliability"): each unit with m >= 2 values adds
  (c c^T - diag(c)) / (m - 1), where c counts its values. With n = o's marginals and
  e = (n n^T - diag(n)) / (sum(n) - 1), alpha = 1 - sum(o * d) / sum(e * d) for the
  level's distance d (nominal, ordinal with its rank-sum distance, interval, ratio).
- Fleiss' kappa needs the same number of ratings on every item: it uses the items with
  the most common count (>= 2) and says how many that was.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")
BOOTSTRAP_CHUNK = 64  # replicates whose weights are held in memory at once


@dataclass(frozen=True)
class Rating:
    item: Hashable
    annotator: Hashable
    value: Hashable


@dataclass
class Interval:
    estimate: float | None
    low: float | None = None
    high: float | None = None


@dataclass
class RatingTable:
    """Ratings as integer codes: `counts[u, v]` is how many annotators gave item u value v."""

    items: list[Hashable]
    annotators: list[Hashable]
    values: list[Hashable]  # sorted: the value domain, ordered for ordinal/interval/ratio
    item_index: np.ndarray  # per rating
    annotator_index: np.ndarray
    value_index: np.ndarray
    counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.counts = np.zeros((len(self.items), len(self.values)), dtype=np.int64)
        np.add.at(self.counts, (self.item_index, self.value_index), 1)


def _sort_key(value: Hashable) -> tuple[int, object]:
    # Numbers in numeric order, then everything else by its text: a mixed domain still sorts.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def rating_table(ratings: Sequence[Rating]) -> RatingTable:
    """Index ratings; one annotator's repeated rating of an item keeps the last one."""
    last: dict[tuple[Hashable, Hashable], Hashable] = {}
    for r in ratings:
        last[(r.item, r.annotator)] = r.value
    items = list(dict.fromkeys(item for item, _ in last))
    annotators = sorted(dict.fromkeys(a for _, a in last), key=_sort_key)
    values = sorted(set(last.values()), key=_sort_key)
    ii = {v: i for i, v in enumerate(items)}
    ai = {v: i for i, v in enumerate(annotators)}
    vi = {v: i for i, v in enumerate(values)}
    keys = list(last)
    return RatingTable(
        items, annotators, values,
        np.fromiter((ii[k[0]] for k in keys), dtype=np.int64, count=len(keys)),
        np.fromiter((ai[k[1]] for k in keys), dtype=np.int64, count=len(keys)),
        np.fromiter((vi[last[k]] for k in keys), dtype=np.int64, count=len(keys)),
    )


# ---------------------------------------------------------------- Krippendorff's alpha


def distance_matrix(values: Sequence[Hashable], level: Level, marginals: np.ndarray) -> np.ndarray:
    """d[c, k] for every pair of values at a level of measurement."""
    k = len(values)
    if level == "nominal":
        return 1.0 - np.eye(k)
    if level == "ordinal":
        # (sum of n_g for ranks g between c and k, inclusive) - (n_c + n_k) / 2, squared.
        cumulative = np.concatenate([[0.0], np.cumsum(marginals, dtype=np.float64)])
        lo = np.minimum.outer(np.arange(k), np.arange(k))
        hi = np.maximum.outer(np.arange(k), np.arange(k))
        between = cumulative[hi + 1] - cumulative[lo]
        return (between - (marginals[:, None] + marginals[None, :]) / 2.0) ** 2
    numbers = np.asarray([float(v) for v in values], dtype=np.float64)  # type: ignore[arg-type]
    diff = numbers[:, None] - numbers[None, :]
    if level == "interval":
        return diff**2
    total = numbers[:, None] + numbers[None, :]
    ratio = np.divide(diff, total, out=np.zeros_like(diff), where=total != 0)
    return ratio**2


def unit_coincidences(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pairable unit (m >= 2) its coincidence contribution, flattened to V*V; and which units those are."""
    m = counts.sum(axis=1)
    pairable = np.flatnonzero(m >= 2)
    c = counts[pairable].astype(np.float64)
    v = counts.shape[1]
    outer = c[:, :, None] * c[:, None, :]
    outer[:, np.arange(v), np.arange(v)] -= c
    return (outer / (m[pairable] - 1.0)[:, None, None]).reshape(len(pairable), v * v), pairable


def alpha_from_coincidences(o: np.ndarray, values: Sequence[Hashable], level: Level) -> float | None:
    n = o.sum(axis=0)
    total = n.sum()
    if total <= 1:
        return None
    e = (np.outer(n, n) - np.diag(n)) / (total - 1.0)
    d = distance_matrix(values, level, n)
    expected = (e * d).sum()
    if expected == 0:
        return None  # a single value in the data: alpha is undefined
    return float(1.0 - (o * d).sum() / expected)


def krippendorff_alpha(counts: np.ndarray, values: Sequence[Hashable], level: Level) -> float | None:
    """Alpha from an items x values count matrix; None when undefined (one value, no pairable unit)."""
    per_unit, _ = unit_coincidences(counts)
    if len(per_unit) == 0:
        return None
    v = counts.shape[1]
    return alpha_from_coincidences(per_unit.sum(axis=0).reshape(v, v), values, level)


# ---------------------------------------------------------------- Cohen's and Fleiss' kappa


def cohen_kappa(y1: Sequence[Hashable], y2: Sequence[Hashable], weights: Literal["linear", "quadratic"] | None = None) -> float | None:
    """Cohen's kappa of two raters on the same items, as scikit-learn computes it."""
    labels = sorted(set(y1) | set(y2), key=_sort_key)
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    codes = np.fromiter((index[a] * k + index[b] for a, b in zip(y1, y2, strict=True)), dtype=np.int64)
    confusion = np.bincount(codes, minlength=k * k).reshape(k, k).astype(np.int64)
    return _kappa_from_confusion(confusion.astype(np.float64), weights)


def _kappa_from_confusion(confusion: np.ndarray, weights: Literal["linear", "quadratic"] | None = None) -> float | None:
    k = confusion.shape[0]
    sum0 = np.sum(confusion, axis=0)
    sum1 = np.sum(confusion, axis=1)
    total = np.sum(sum0)
    if total == 0:
        return None
    expected = np.outer(sum0, sum1) / total
    if weights is None:
        w = np.ones([k, k], dtype=np.float64)
        np.fill_diagonal(w, 0)
    else:
        w = np.zeros([k, k], dtype=np.float64) + np.arange(k)
        w = np.abs(w - w.T) if weights == "linear" else (w - w.T) ** 2
    denominator = np.sum(w * expected)
    if denominator == 0:
        return None
    return float(1 - np.sum(w * confusion) / denominator)


def fleiss_kappa(counts: np.ndarray) -> tuple[float | None, np.ndarray]:
    """Fleiss' kappa of an items x categories matrix whose rows all sum to the same n >= 2,
    and the per-category kappas (NaN for a category nobody or everybody used)."""
    n_items = counts.shape[0]
    n = counts.sum(axis=1)[0] if n_items else 0
    if n_items == 0 or n < 2:
        return None, np.full(counts.shape[1], np.nan)
    counts = counts.astype(np.float64)
    p = counts.sum(axis=0) / (n_items * n)
    p_items = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    p_bar = p_items.mean()
    p_e = (p**2).sum()
    overall = None if p_e == 1 else float((p_bar - p_e) / (1 - p_e))
    disagreement = (counts * (n - counts)).sum(axis=0)
    chance = n_items * n * (n - 1) * p * (1 - p)
    per_category = np.divide(disagreement, chance, out=np.full_like(p, np.nan), where=chance > 0)
    return overall, np.where(chance > 0, 1 - per_category, np.nan)


# ---------------------------------------------------------------- bootstrap


def bootstrap_weights(n: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of n items is drawn in each replicate (rows), resampling items with replacement."""
    draws = rng.integers(0, n, size=(replicates, n))
    offsets = (np.arange(replicates) * n)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=replicates * n).reshape(replicates, n).astype(np.float64)


def percentile_interval(samples: list[float], confidence: float) -> tuple[float | None, float | None]:
    finite = np.asarray([s for s in samples if s is not None and math.isfinite(s)], dtype=np.float64)
    if len(finite) < max(10, len(samples) // 2):
        return None, None  # mostly undefined replicates: no honest interval
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


@dataclass
class Bootstrapped:
    """A statistic, the items it reads, and how to recompute it from those items' draw counts."""

    estimate: float | None
    units: np.ndarray  # indices of the items (rows of the report's table) it reads
    replicate: Callable[[np.ndarray], list[float | None]]  # weights (replicates x len(units)) -> values
    samples: list[float | None] = field(default_factory=list)


def alpha_stat(counts: np.ndarray, values: Sequence[Hashable], level: Level, units: np.ndarray | None = None) -> Bootstrapped:
    per_unit, pairable = unit_coincidences(counts)
    rows = np.arange(len(counts)) if units is None else units
    v = counts.shape[1]
    estimate = alpha_from_coincidences(per_unit.sum(axis=0).reshape(v, v), values, level) if len(per_unit) else None

    def replicate(weights: np.ndarray) -> list[float | None]:
        return [alpha_from_coincidences(o, values, level) for o in (weights @ per_unit).reshape(-1, v, v)]

    return Bootstrapped(estimate, rows[pairable], replicate)


def cohen_stat(codes1: np.ndarray, codes2: np.ndarray, k: int, units: np.ndarray) -> Bootstrapped:
    """Cohen's kappa of paired integer codes (the items both annotators rated)."""
    cells = codes1 * k + codes2
    estimate = _kappa_from_confusion(np.bincount(cells, minlength=k * k).reshape(k, k).astype(np.float64))
    one_hot = np.zeros((len(cells), k * k))
    one_hot[np.arange(len(cells)), cells] = 1.0

    def replicate(weights: np.ndarray) -> list[float | None]:
        return [_kappa_from_confusion(confusion) for confusion in (weights @ one_hot).reshape(-1, k, k)]

    return Bootstrapped(estimate, units, replicate)


def fleiss_stat(counts: np.ndarray, units: np.ndarray) -> Bootstrapped:
    """Fleiss' kappa is a function of sums over items (category totals, per-item agreement),
    so a replicate is those sums weighted by how often each item was drawn."""
    estimate, _ = fleiss_kappa(counts)
    n = float(counts.sum(axis=1)[0]) if len(counts) else 0.0
    c = counts.astype(np.float64)
    p_items = ((c**2).sum(axis=1) - n) / (n * (n - 1)) if n >= 2 else np.zeros(len(counts))

    def replicate(weights: np.ndarray) -> list[float | None]:
        drawn = weights.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = (weights @ c) / (drawn * n)[:, None]
            p_bar = (weights @ p_items) / drawn
            p_e = (p**2).sum(axis=1)
            kappa = (p_bar - p_e) / (1 - p_e)
        return [float(k) if p_e_i != 1 and d > 0 else None for k, p_e_i, d in zip(kappa, p_e, drawn, strict=True)]

    return Bootstrapped(estimate, units, replicate)


def run_bootstrap(stats: Sequence[Bootstrapped], n_items: int, replicates: int, confidence: float,
                  rng: np.random.Generator, on_chunk: Callable[[int], None] | None = None) -> list[Interval]:
    """One resampling of the items feeds every statistic (a joint bootstrap): the draws are
    made once per replicate, not once per statistic, so a report with twenty statistics
    costs about what one does."""
    live = [s for s in stats if s.estimate is not None]
    for start in range(0, replicates if live else 0, BOOTSTRAP_CHUNK):
        weights = bootstrap_weights(n_items, min(BOOTSTRAP_CHUNK, replicates - start), rng)
        for stat in live:
            stat.samples.extend(stat.replicate(weights[:, stat.units]))
        if on_chunk:  # the caller's progress report, which is also where a cancelled call stops
            on_chunk(len(weights))
    return [Interval(s.estimate, *percentile_interval(s.samples, confidence)) if s.estimate is not None else Interval(None) for s in stats]


def bootstrap_alpha(counts: np.ndarray, values: Sequence[Hashable], level: Level, replicates: int, confidence: float,
                    rng: np.random.Generator) -> Interval:
    """Alpha of an items x values count matrix with a percentile interval over items."""
    return run_bootstrap([alpha_stat(counts, values, level)], len(counts), replicates, confidence, rng)[0]


# ---------------------------------------------------------------- the report


@dataclass
class PairAgreement:
    annotator_a: Hashable
    annotator_b: Hashable
    items: int
    kappa: Interval


@dataclass
class LabelAgreement:
    label: Hashable
    count: int
    alpha: Interval  # nominal alpha of "this label or not"
    fleiss_kappa: float | None


@dataclass
class ItemDisagreement:
    item: Hashable
    ratings: int
    distinct: int
    disagreement: float  # share of annotator pairs that disagree
    values: dict[str, int]


@dataclass
class AgreementReport:
    items: int
    pairable_items: int
    annotators: int
    ratings: int
    values: list[Hashable]
    alpha: dict[str, Interval]
    fleiss: Interval
    fleiss_items: int
    fleiss_raters: int
    pairs: list[PairAgreement]
    labels: list[LabelAgreement]
    disagreements: list[ItemDisagreement]


def numeric_levels_allowed(values: Sequence[Hashable]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def item_disagreements(table: RatingTable, top: int) -> list[ItemDisagreement]:
    counts = table.counts
    m = counts.sum(axis=1)
    pairable = m >= 2
    agree_pairs = (counts * (counts - 1)).sum(axis=1)
    share = np.where(pairable, 1 - agree_pairs / np.maximum(m * (m - 1), 1), 0.0)
    distinct = (counts > 0).sum(axis=1)
    order = np.lexsort((-m, -share))  # most disagreement first, then most ratings
    out = []
    for u in order[:top]:
        if share[u] <= 0:
            break
        values = {str(table.values[v]): int(counts[u, v]) for v in np.flatnonzero(counts[u])}
        out.append(ItemDisagreement(table.items[u], int(m[u]), int(distinct[u]), float(share[u]), values))
    return out


def agreement_report(ratings: Sequence[Rating], levels: Sequence[Level], replicates: int = 1000,
                     confidence: float = 0.95, seed: int = 0, top: int = 20,
                     progress: object = None) -> AgreementReport:
    """Every statistic of a set of ratings; `progress(done, total, message)` is called per stage."""
    table = rating_table(ratings)
    rng = np.random.default_rng(seed)
    counts, values = table.counts, table.values
    # One progress scale: four stages plus one unit per bootstrap replicate, always increasing.
    total = 4 + replicates
    done = [0]

    def step(message: str, units: int = 1) -> None:
        done[0] += units
        if callable(progress):
            progress(done[0], total, message)

    m = counts.sum(axis=1)
    every = np.arange(len(table.items))
    stats: dict[str, Bootstrapped] = {f"alpha:{level}": alpha_stat(counts, values, level) for level in levels}
    step("alpha")

    sizes = m[m >= 2]
    fleiss_raters = int(np.bincount(sizes).argmax()) if len(sizes) else 0
    fleiss_units = np.flatnonzero(m == fleiss_raters) if fleiss_raters else every[:0]
    stats["fleiss"] = fleiss_stat(counts[fleiss_units], fleiss_units)
    _, per_category = fleiss_kappa(counts[fleiss_units]) if fleiss_raters else (None, np.full(len(values), np.nan))

    # Per pair of annotators: Cohen's kappa on the items both rated.
    by_annotator = np.full((len(table.annotators), len(table.items)), -1, dtype=np.int64)
    by_annotator[table.annotator_index, table.item_index] = table.value_index
    pair_keys = []
    for a in range(len(table.annotators)):
        for b in range(a + 1, len(table.annotators)):
            both = np.flatnonzero((by_annotator[a] >= 0) & (by_annotator[b] >= 0))
            if len(both):
                stats[f"pair:{a}:{b}"] = cohen_stat(by_annotator[a][both], by_annotator[b][both], len(values), both)
                pair_keys.append((a, b, len(both)))
    if len(values) > 1:
        for v in range(len(values)):
            binary = np.stack([m - counts[:, v], counts[:, v]], axis=1)
            stats[f"label:{v}"] = alpha_stat(binary, [False, True], "nominal")
    step("statistics")

    intervals = dict(zip(stats, run_bootstrap(list(stats.values()), len(table.items), replicates, confidence, rng,
                                                  lambda n: step("bootstrap replicates", n)), strict=True))
    alpha = {level: intervals[f"alpha:{level}"] for level in levels}
    fleiss = intervals["fleiss"]
    fleiss_rows = counts[fleiss_units]
    pairs = [PairAgreement(table.annotators[a], table.annotators[b], n, intervals[f"pair:{a}:{b}"]) for a, b, n in pair_keys]
    labels = []
    if len(values) > 1:
        for v, value in enumerate(values):
            fk = per_category[v] if len(per_category) > v else np.nan
            labels.append(LabelAgreement(value, int(counts[:, v].sum()), intervals[f"label:{v}"], None if np.isnan(fk) else float(fk)))
    step("labels")
    return AgreementReport(
        items=len(table.items), pairable_items=int((m >= 2).sum()), annotators=len(table.annotators),
        ratings=len(table.item_index), values=list(values), alpha=alpha, fleiss=fleiss,
        fleiss_items=len(fleiss_rows), fleiss_raters=fleiss_raters, pairs=pairs, labels=labels,
        disagreements=item_disagreements(table, top),
    )
