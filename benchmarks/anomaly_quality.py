"""Detection quality of detect_anomalies_aiops's three methods on series with injected
anomalies of known kinds, against a static-threshold peer measured in the same run.

Series: hourly, `--days` days (default 44), a 30-day baseline, a daily cycle (amplitude
20), a weekly cycle (amplitude 5), a slow trend and Gaussian noise (sd 2). In the
scored part (after the baseline) `--per-series` anomalies (default 3) of ONE kind are
injected at random, non-overlapping places:

- spike:           1 to 2 points, +/- 8 to 12 sd;
- level_shift:     12 to 36 points shifted by +/- 6 to 10 sd;
- variance_change: 12 to 36 points whose noise is multiplied by 5;
- seasonal_break:  12 to 36 points whose daily cycle is shifted by 12 hours (inverted).

Matching rule (window overlap, tolerance `--tolerance` points, default 2): a detected
anomaly window is a true positive when [start - tol, end + tol] overlaps a true interval;
a true interval is recalled when at least one detected window overlaps it that way.
precision = true-positive windows / detected windows; recall = recalled intervals / true
intervals; F1 = their harmonic mean. Counts are pooled over all seeds of a kind.

Detector settings are the tool's defaults: threshold 3.5, window 1 point, merge_gap 1,
ESD alpha 0.05 with at most 10 % anomalies, seasonal period 24.

The peer ("static"): a fixed threshold at the baseline's mean +/- 3 sd, the usual
alert rule without seasonality.

    uv run --all-extras python benchmarks/anomaly_quality.py [--seeds 10] [--methods stl,iforest,esd] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "server"))

KINDS = ("spike", "level_shift", "variance_change", "seasonal_break")
METHODS = ("stl", "iforest", "esd", "static")
HOURS = 24
BASELINE_DAYS = 30


@dataclass
class Case:
    values: object  # pandas Series, hourly UTC index
    truth: list[tuple[int, int]]  # inclusive point ranges, positions in the full series
    baseline_points: int


def make_case(kind: str, seed: int, days: int = 44, per_series: int = 3) -> Case:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = days * HOURS
    t = np.arange(n)
    sd = 2.0
    daily = 20 * np.sin(2 * np.pi * t / HOURS + rng.uniform(0, 2 * np.pi))
    weekly = 5 * np.sin(2 * np.pi * t / (7 * HOURS))
    noise = rng.normal(0, sd, n)
    y = 100 + 0.01 * t + daily + weekly + noise
    baseline = BASELINE_DAYS * HOURS
    truth: list[tuple[int, int]] = []
    attempts = 0
    while len(truth) < per_series and attempts < 1000:
        attempts += 1
        length = int(rng.integers(1, 3)) if kind == "spike" else int(rng.integers(12, 37))
        start = int(rng.integers(baseline + 12, n - length - 1))
        end = start + length - 1
        if any(start <= e + 24 and end >= s - 24 for s, e in truth):
            continue
        truth.append((start, end))
        seg = slice(start, end + 1)
        sign = rng.choice([-1.0, 1.0])
        if kind == "spike":
            y[seg] += sign * rng.uniform(8, 12) * sd
        elif kind == "level_shift":
            y[seg] += sign * rng.uniform(6, 10) * sd
        elif kind == "variance_change":
            y[seg] += noise[seg] * 4  # noise x5 in total
        elif kind == "seasonal_break":
            y[seg] -= 2 * daily[seg]  # the daily cycle turns upside down
    index = pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC")
    return Case(pd.Series(y, index=index), sorted(truth), baseline)


def detect_windows(case: Case, method: str) -> list[tuple[int, int]]:
    """Detected anomaly windows as inclusive positions in the full series."""
    import numpy as np

    from mlops_engineer.engines.aiops import anomaly_detectors as ad
    from mlops_engineer.engines.aiops.anomaly_windows import windows

    values, b = case.values, case.baseline_points
    if method == "static":
        x = values.to_numpy()
        mean, sd = x[:b].mean(), x[:b].std()
        scores = np.abs(x[b:] - mean) / sd
        detection = ad.Detection(scores, scores > 3.0)
    else:
        detection = ad.detect(values, b, HOURS, method, 3.5)  # type: ignore[arg-type]
    found = windows(values.index[b:], detection, 1, 3.5, 1, 3)
    position = {ts: i for i, ts in enumerate(values.index)}
    return [(position[w.start], position[w.end]) for w in found]


def match(detected: list[tuple[int, int]], truth: list[tuple[int, int]], tolerance: int) -> tuple[int, int, int]:
    """(true-positive windows, detected windows, recalled intervals)."""
    def overlaps(d: tuple[int, int], t: tuple[int, int]) -> bool:
        return d[0] - tolerance <= t[1] and d[1] + tolerance >= t[0]

    tp = sum(any(overlaps(d, t) for t in truth) for d in detected)
    recalled = sum(any(overlaps(d, t) for d in detected) for t in truth)
    return tp, len(detected), recalled


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def evaluate(kinds: tuple[str, ...] = KINDS, methods: tuple[str, ...] = METHODS, seeds: int = 10,
             tolerance: int = 2, days: int = 44, per_series: int = 3) -> dict[str, dict[str, dict[str, float]]]:
    """method -> kind -> {precision, recall, f1, median_ms}."""
    out: dict[str, dict[str, dict[str, float]]] = {m: {} for m in methods}
    for kind in kinds:
        cases = [make_case(kind, seed, days, per_series) for seed in range(seeds)]
        for method in methods:  # same cases for every method: they share the noise
            tp = detected = recalled = truths = 0
            times = []
            for case in cases:
                started = time.perf_counter()
                windows = detect_windows(case, method)
                times.append(time.perf_counter() - started)
                a, b, c = match(windows, case.truth, tolerance)
                tp, detected, recalled, truths = tp + a, detected + b, recalled + c, truths + len(case.truth)
            precision = tp / detected if detected else 0.0
            recall = recalled / truths if truths else 0.0
            out[method][kind] = {"precision": round(precision, 3), "recall": round(recall, 3),
                                 "f1": round(f1(precision, recall), 3),
                                 "median_ms": round(1000 * statistics.median(times), 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--tolerance", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    from _common import finish, print_header

    print_header()
    methods = tuple(dict.fromkeys([*args.methods.split(","), "static"]))  # the peer is always measured
    results = evaluate(methods=methods, seeds=args.seeds, tolerance=args.tolerance)
    print(f"\n{'method':8} {'kind':16} {'precision':>9} {'recall':>7} {'F1':>6} {'F1 vs static':>12} {'median ms':>10}")
    for method, kinds in results.items():
        for kind, r in kinds.items():
            peer = results["static"][kind]["f1"]
            ratio = f"{r['f1'] / peer:.2f}x" if peer else "inf"
            print(f"{method:8} {kind:16} {r['precision']:9.3f} {r['recall']:7.3f} {r['f1']:6.3f} {ratio:>12} {r['median_ms']:10.1f}")
    finish(results, args.json)


if __name__ == "__main__":
    main()
