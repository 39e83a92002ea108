"""Anomaly windows, severities and alerts built from a detector's flagged points."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pandas as pd

    from mlops_engineer.engines.aiops.anomaly_detectors import Detection

EXTRA = "forecasting"


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
