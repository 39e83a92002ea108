"""Anomaly scores for a regular metric series, and the windows, severities and alerts built
from them. Three detectors, each fitted on a baseline (the first part of the series) and
applied to the rest:

- `stl`: STL decomposition (statsmodels, robust) and a robust z-score of the residual,
  with the median and MAD of the baseline's residual. Flag: |z| > threshold.
- `iforest`: Isolation Forest (scikit-learn) on windowed features (deviation from the
  baseline's seasonal profile, its trailing mean and standard deviation, the first
  difference), drift removed by a trailing median. The forest's anomaly score is scaled
  so the baseline's median is 0 and its 99.9th percentile is `threshold`; flag: above it.
- `esd`: seasonal hybrid ESD: the generalised ESD test (Rosner 1983) with median/MAD in
  place of mean/sd, on the STL residual of the scored part, at significance `alpha`
  and at most `max_anomalies` of the points. Its score is the residual's robust z.

Every score is "robust z-like": 0 is normal, larger is more anomalous, so one threshold
and one severity scale serve all three.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Method = Literal["stl", "iforest", "esd"]
EXTRA = "forecasting"
MAD_SCALE = 1.4826
IFOREST_QUANTILE = 0.999  # MAD * this estimates the standard deviation of a normal sample


@dataclass
class Detection:
    scores: np.ndarray  # one per scored point
    flags: np.ndarray  # bool, one per scored point


@dataclass
class AnomalyWindow:
    start: pd.Timestamp
    end: pd.Timestamp  # last point of the last anomalous window (inclusive)
    windows: int  # consecutive windows it spans (bridged gaps included)
    anomalous_points: int
    peak_score: float
    peak_at: pd.Timestamp
    severity: Literal["low", "medium", "high"]
    alert: bool


def robust_z(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD) of `reference`; a zero MAD falls back to the mean absolute deviation."""
    np = import_optional("numpy", EXTRA)
    center = float(np.median(reference))
    spread = MAD_SCALE * float(np.median(np.abs(reference - center)))
    if spread <= 1e-12:
        spread = float(np.mean(np.abs(reference - center))) * 1.2533 or 1e-12
    return (values - center) / spread


def seasonal_smoother(n: int, period: int) -> int:
    """STL's seasonal smoother length: about one per cycle, up to 35, odd, at least 7.

    statsmodels' default (7) lets the seasonal shape follow the last week closely, which
    shrinks the residual's MAD and inflates every z-score (about 1.6x on hourly data with
    a daily cycle); a smoother over a month of cycles keeps the residual at noise level."""
    cycles = min(35, max(7, n // max(period, 1)))
    return cycles if cycles % 2 else cycles - 1


def residual(values: np.ndarray, period: int) -> np.ndarray:
    """Robust STL residual; without seasonality, the deviation from a centred rolling median."""
    np = import_optional("numpy", EXTRA)
    if period >= 2:
        stl = import_optional("statsmodels.tsa.seasonal", EXTRA).STL
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(stl(values, period=period, seasonal=seasonal_smoother(len(values), period), robust=True).fit().resid)
    pd = import_optional("pandas", EXTRA)
    window = max(5, min(49, len(values) // 10 * 2 + 1))
    return values - pd.Series(values).rolling(window, center=True, min_periods=1).median().to_numpy()


def detect(values: pd.Series, baseline_points: int, period: int, method: Method, threshold: float,
           alpha: float = 0.05, max_anomalies: float = 0.1) -> Detection:
    """Scores and flags for `values[baseline_points:]`."""
    from mlops_engineer.engines.aiops.metric_series import single_threaded

    with single_threaded():
        return _detect(values, baseline_points, period, method, threshold, alpha, max_anomalies)


def _detect(values: pd.Series, baseline_points: int, period: int, method: Method, threshold: float,
            alpha: float, max_anomalies: float) -> Detection:
    np = import_optional("numpy", EXTRA)
    x = values.to_numpy(dtype=float)
    if method == "iforest":
        return _iforest(x, baseline_points, period, threshold)
    resid = residual(x, period)
    z = robust_z(resid, resid[:baseline_points])[baseline_points:]
    scores = np.abs(z)
    if method == "stl":
        return Detection(scores, scores > threshold)
    return Detection(scores, _esd_flags(resid[baseline_points:], alpha, max_anomalies))


def _esd_flags(resid: np.ndarray, alpha: float, max_anomalies: float) -> np.ndarray:
    np = import_optional("numpy", EXTRA)
    t_dist = import_optional("scipy.stats", EXTRA).t
    n = len(resid)
    k_max = max(1, int(n * max_anomalies))
    remaining = np.ones(n, dtype=bool)
    removed: list[int] = []
    found = 0
    for i in range(1, min(k_max, n - 3) + 1):
        data = resid[remaining]
        center = np.median(data)
        spread = MAD_SCALE * np.median(np.abs(data - center))
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
    flags = np.zeros(n, dtype=bool)
    flags[removed[:found]] = True
    return flags


def _iforest(x: np.ndarray, baseline_points: int, period: int, threshold: float) -> Detection:
    np = import_optional("numpy", EXTRA)
    pd = import_optional("pandas", EXTRA)
    ensemble = import_optional("sklearn.ensemble", "tracking")
    phase = np.arange(len(x)) % max(period, 1)
    base = pd.Series(x[:baseline_points])
    profile = base.groupby(phase[:baseline_points]).median()
    deviation = x - profile.reindex(phase).to_numpy() if period >= 2 else x - float(base.median())
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
    ref = features[:baseline_points]
    scale = MAD_SCALE * np.median(np.abs(ref - np.median(ref, axis=0)), axis=0)
    scale[scale <= 1e-12] = 1.0
    features = (features - np.median(ref, axis=0)) / scale
    forest = ensemble.IsolationForest(n_estimators=200, random_state=0, n_jobs=1)
    forest.fit(features[:baseline_points])
    raw = -forest.score_samples(features)  # higher = more anomalous
    # The forest's scores are skewed, so a z-score misleads: map the baseline's median to 0
    # and its 99.9th percentile to `threshold`, i.e. ~0.1 % of baseline points would be flagged.
    center = float(np.median(raw[:baseline_points]))
    top = float(np.quantile(raw[:baseline_points], IFOREST_QUANTILE))
    scores = np.maximum(threshold * (raw[baseline_points:] - center) / max(top - center, 1e-12), 0.0)
    return Detection(scores, scores > threshold)


def windows(index: pd.DatetimeIndex, detection: Detection, window: int, threshold: float, merge_gap: int,
            alert_after: int) -> list[AnomalyWindow]:
    """Group points into windows of `window` points; a window is anomalous when any of its points
    is flagged; runs of anomalous windows (bridging at most `merge_gap` normal windows) become
    anomaly windows; one lasting more than `alert_after` windows is an alert."""
    np = import_optional("numpy", EXTRA)
    n = len(detection.scores)
    count = math.ceil(n / window)
    flagged = [bool(detection.flags[i * window:(i + 1) * window].any()) for i in range(count)]
    runs: list[tuple[int, int]] = []
    for i, hit in enumerate(flagged):
        if not hit:
            continue
        if runs and i - runs[-1][1] - 1 <= merge_gap:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    out = []
    for first, last in runs:
        lo, hi = first * window, min(n, (last + 1) * window)
        segment = detection.scores[lo:hi]
        peak = int(np.argmax(segment))
        peak_score = float(segment[peak])
        points = detection.flags[lo:hi]
        last_flag = lo + int(np.flatnonzero(points)[-1])
        first_flag = lo + int(np.flatnonzero(points)[0])
        ratio = peak_score / threshold if threshold > 0 else math.inf
        severity: Literal["low", "medium", "high"] = "high" if ratio >= 3 else "medium" if ratio >= 1.5 else "low"
        spans = last - first + 1
        out.append(AnomalyWindow(start=index[first_flag], end=index[last_flag], windows=spans,
                                 anomalous_points=int(points.sum()), peak_score=round(peak_score, 4),
                                 peak_at=index[lo + peak], severity=severity, alert=spans > alert_after))
    return out


def check_baseline(n: int, baseline_points: int, period: int, name: str) -> None:
    if baseline_points >= n:
        raise ToolError("invalid_input", f"{name}: the baseline covers all {n} points, so nothing is left to score",
                        "Shorten baseline_days or load a longer range (the points after the baseline are scored).")
    needed = max(2 * period, 24)
    if baseline_points < needed:
        raise ToolError("invalid_input", f"{name}: the baseline has {baseline_points} points; at least {needed} are "
                        f"needed (two seasons of {period} points, and no fewer than 24)",
                        "Lengthen baseline_days, or load a longer range.")
