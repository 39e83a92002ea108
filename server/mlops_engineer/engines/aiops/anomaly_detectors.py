"""Anomaly scores for a regular metric series. Three detectors, each fitted on a baseline
(the first part of the series) and applied to the rest:

- `stl` (default): robust STL decomposition (statsmodels) and a robust z-score of the
  residual, with the baseline's median and scale (`robust_scale`: MAD, measurement
  resolution and tail bound). A point's score is the larger of its own |z| and the |z|
  of the residual's trailing mean over `sustain` points (the span an alert needs; each
  point clipped first, so one adds at most half a threshold), so a sustained moderate
  deviation scores as well as a large one, while a lone spike, however large, cannot
  make a sustained run on its own.
- `iforest`: Isolation Forest (scikit-learn) on windowed features (deviation from the
  baseline's seasonal profile, its trailing mean and standard deviation, the first
  difference), drift removed by a trailing median. The forest's anomaly score is scaled
  so the baseline's median is 0 and its 99.9th percentile is `threshold`; flag: above it.
- `esd`: seasonal hybrid ESD: the generalised ESD test (Rosner 1983) with median/MAD
  (floored at the resolution) in place of mean/sd, on the STL residual of the scored
  part, at significance `alpha` and at most `max_anomalies` of the points. Its score is
  the residual's robust z.

Every score is "robust z-like": 0 is normal, larger is more anomalous, so one threshold
and one severity scale serve all three. Points in bridged gaps (filled only to keep the
grid) are never scored or flagged, and are left out of every baseline estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mlops_engineer.engines.aiops import stl
from mlops_engineer.engines.aiops.robust_scale import MAD_SCALE, resolution, robust_z
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Method = Literal["stl", "iforest", "esd"]
EXTRA = "forecasting"
IFOREST_QUANTILE = 0.999
CLIP = 0.5  # a lone point adds at most this many thresholds to the sustained score


@dataclass
class Detection:
    scores: np.ndarray  # one per scored point
    flags: np.ndarray  # bool, one per scored point


def residual(values: np.ndarray, period: int) -> np.ndarray:
    """Robust STL residual; without seasonality, the deviation from a centred rolling median."""
    np = import_optional("numpy", EXTRA)
    if period >= 2:
        return np.asarray(stl.fit(values, period).resid)
    pd = import_optional("pandas", EXTRA)
    window = max(5, min(49, len(values) // 10 * 2 + 1))
    return values - pd.Series(values).rolling(window, center=True, min_periods=1).median().to_numpy()


def detect(values: pd.Series, baseline_points: int, period: int, method: Method, threshold: float,
           alpha: float = 0.05, max_anomalies: float = 0.1, *, sustain: int = 4,
           filled: np.ndarray | None = None, bridged: np.ndarray | None = None) -> Detection:
    """Scores and flags for `values[baseline_points:]`. `filled` marks interpolated points (left
    out of the resolution estimate), `bridged` the points of long gaps (never scored)."""
    from mlops_engineer.engines.aiops.metric_series import single_threaded

    np = import_optional("numpy", EXTRA)
    x = values.to_numpy(dtype=float)
    n, b = len(x), baseline_points
    bridged = np.zeros(n, dtype=bool) if bridged is None else bridged
    observed = ~bridged if filled is None else ~filled
    normal = ~bridged[:b]  # baseline points that carry data
    step = resolution(x[:b][observed[:b]])
    with single_threaded():
        if method == "iforest":
            detection = _iforest(x, b, period, threshold, normal)
        else:
            resid = residual(x, period)
            z = robust_z(resid, resid[:b][normal], threshold, floor=step, tail=method == "stl")
            if method == "stl":
                scores = np.maximum(np.abs(z), np.abs(_sustained_z(resid, b, normal, threshold, step, sustain)))[b:]
                detection = Detection(scores, scores > threshold)
            else:
                scores = np.abs(z)[b:]
                detection = Detection(scores, _esd_flags(resid[b:], alpha, max_anomalies, step, ~bridged[b:]))
    # Bridged points carry no data: no score, no flag.
    detection.scores = np.where(bridged[b:], 0.0, detection.scores)
    detection.flags = detection.flags & ~bridged[b:]
    return detection


def _sustained_z(resid: np.ndarray, b: int, normal: np.ndarray, threshold: float, step: float, sustain: int) -> np.ndarray:
    """Robust z of the trailing mean of `sustain` residuals. Each residual is clipped first, so
    that a lone spike adds at most half a threshold to this score however large it is: a run
    of `sustain` flagged points needs a deviation that lasts."""
    from mlops_engineer.engines.aiops.robust_scale import robust_scale

    np = import_optional("numpy", EXTRA)
    pd = import_optional("pandas", EXTRA)
    if sustain <= 1:
        return np.zeros(len(resid))

    def trailing_mean(x: np.ndarray) -> np.ndarray:
        return pd.Series(x).rolling(sustain, min_periods=1).mean().to_numpy()

    # The mean of `sustain` points of quantised data moves in steps of step/sustain.
    center, spread = robust_scale(trailing_mean(resid)[:b][normal], threshold, floor=step / sustain)
    middle = float(np.median(resid[:b][normal]))
    limit = CLIP * threshold * spread * sustain
    return (trailing_mean(np.clip(resid, middle - limit, middle + limit)) - center) / spread


def _esd_flags(resid: np.ndarray, alpha: float, max_anomalies: float, floor: float, usable: np.ndarray) -> np.ndarray:
    np = import_optional("numpy", EXTRA)
    t_dist = import_optional("scipy.stats", EXTRA).t
    n = int(usable.sum())
    flags = np.zeros(len(resid), dtype=bool)
    k_max = max(1, int(n * max_anomalies))
    remaining = usable.copy()
    removed: list[int] = []
    found = 0
    for i in range(1, min(k_max, n - 3) + 1):
        data = resid[remaining]
        center = np.median(data)
        spread = max(MAD_SCALE * np.median(np.abs(data - center)), floor)
        if spread <= 1e-12:
            break
        deviation = np.where(remaining, np.abs(resid - center), -np.inf)
        worst = int(np.argmax(deviation))
        statistic = deviation[worst] / spread
        m = n - i + 1
        p = 1 - alpha / (2 * m)
        t = t_dist.ppf(p, m - 2)
        critical = (m - 1) * t / math.sqrt((m - 2 + t * t) * m)
        removed.append(worst)
        remaining[worst] = False
        if statistic > critical:
            found = i
    flags[removed[:found]] = True
    return flags


def _iforest(x: np.ndarray, baseline_points: int, period: int, threshold: float, normal: np.ndarray) -> Detection:
    np = import_optional("numpy", EXTRA)
    pd = import_optional("pandas", EXTRA)
    ensemble = import_optional("sklearn.ensemble", "tracking")
    phase = np.arange(len(x)) % max(period, 1)
    base = pd.Series(x[:baseline_points][normal])
    profile = base.groupby(phase[:baseline_points][normal]).median()
    deviation = x - profile.reindex(phase).to_numpy() if period >= 2 else x - float(base.median())
    deviation = np.nan_to_num(deviation)  # a phase the baseline never observed
    # Remove slow drift (trend since the baseline) with a trailing median over three seasons.
    drift_window = max(3 * period, 48)
    deviation = deviation - pd.Series(deviation).rolling(drift_window, min_periods=1).median().to_numpy()
    window = max(3, min(24, period // 4 if period >= 8 else 6))
    dev = pd.Series(deviation)
    features = np.column_stack([
        deviation,
        dev.rolling(window, min_periods=1).mean().to_numpy(),
        dev.rolling(window, min_periods=2).std().fillna(0.0).to_numpy(),
        np.concatenate([[0.0], np.diff(x)]),
    ])
    # Standardise every feature by the baseline's robust scale so no unit dominates.
    ref = features[:baseline_points][normal]
    scale = MAD_SCALE * np.median(np.abs(ref - np.median(ref, axis=0)), axis=0)
    scale[scale <= 1e-12] = 1.0
    features = (features - np.median(ref, axis=0)) / scale
    forest = ensemble.IsolationForest(n_estimators=200, random_state=0, n_jobs=1)
    forest.fit(features[:baseline_points][normal])
    raw = -forest.score_samples(features)  # higher = more anomalous
    # The forest's scores are skewed, so a z-score misleads: map the baseline's median to 0
    # and its 99.9th percentile to `threshold`, i.e. ~0.1 % of baseline points would be flagged.
    base_raw = raw[:baseline_points][normal]
    center = float(np.median(base_raw))
    top = float(np.quantile(base_raw, IFOREST_QUANTILE))
    scores = np.maximum(threshold * (raw[baseline_points:] - center) / max(top - center, 1e-12), 0.0)
    return Detection(scores, scores > threshold)
