"""Alert quality of detect_anomalies_aiops on public labelled operational series: the
Numenta Anomaly Benchmark files in ../shared/data/nab-dev (realTraffic, realTweets,
realAdExchange, artificialWithAnomaly, artificialNoAnomaly), read in place.

Every method runs with the tool's defaults and nothing else changed (`Detect` with only
`method` set; the series is read and regularised exactly as the tool reads a file):
`stl` is the default, `iforest` and `esd` the alternatives.

Scoring (the data's README): a labelled window is found when an alert overlaps it; an
alert outside every labelled window is a false alarm. An alert is an anomaly window the
tool marks `alert: true` (sustained), from its start to its end. Columns:

- ran: series the defaults ran on (a refusal is counted and named);
- found: labelled windows found, of all labelled windows (windows that end inside a
  series' baseline cannot be found by any method: `findable` counts the others);
- precision: alerts that overlap a labelled window / all alerts, pooled over series;
- median false: median number of false alarms per series;
- s / 10k points: wall time of scoring (period inference, baseline, detector, windows)
  per 10,000 points, pooled; reading the CSV is not included. `slowest s`: the
  slowest single series.

    uv run --all-extras python benchmarks/anomaly_real.py [--methods stl,iforest,esd] [--per-series] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "server"))
DATA = Path(os.environ.get("NAB_DEV", HERE.parent.parent / "shared" / "data" / "nab-dev"))
METHODS = ("stl", "iforest", "esd")


def load_series(data: Path, name: str, cleaning: object) -> object:
    """A labelled file, read and regularised as the tool reads a CSV in the workspace."""
    import pandas as pd

    from mlops_engineer.engines.aiops.metric_series import from_frame
    from mlops_engineer.engines.aiops.regular_grid import regularise

    frame = pd.read_csv(data / "data" / name, dtype=str, keep_default_na=False)
    raw, local_clock = from_frame(frame, "timestamp", "value", name)
    return regularise(name, raw, cleaning, local_clock=local_clock)  # type: ignore[arg-type]


def evaluate(methods: tuple[str, ...] = METHODS, data: Path = DATA) -> dict[str, dict]:
    import pandas as pd

    from mlops_engineer.engines.aiops.metric_series import FileSource
    from mlops_engineer.errors import ToolError
    from mlops_engineer.tools.detect_anomalies_aiops import Detect, score_series

    labels: dict[str, list[list[str]]] = json.loads((data / "labels.json").read_text())
    results: dict[str, dict] = {}
    for method in methods:
        op = Detect(action="detect", series=[FileSource(kind="file", path="m.csv")], method=method)  # type: ignore[arg-type]
        total = found = findable = true_alerts = alerts = 0
        seconds = points = slowest = 0.0
        false_per_series: list[int] = []
        refused: list[str] = []
        per_series: list[dict] = []
        for name in sorted(labels):
            windows = [(pd.Timestamp(a, tz="UTC"), pd.Timestamp(b, tz="UTC")) for a, b in labels[name]]
            total += len(windows)
            try:
                series = load_series(data, name, op.cleaning)
                started = time.perf_counter()
                scored = score_series(series, op)  # type: ignore[arg-type]
                took = time.perf_counter() - started
                seconds, slowest = seconds + took, max(slowest, took)
            except ToolError as exc:
                refused.append(f"{name}: {exc.message}")
                continue
            points += series.report.points  # type: ignore[attr-defined]
            scored_from = series.values.index[scored.baseline.points]  # type: ignore[attr-defined]
            raised = [(w.start, w.end) for w in scored.windows if w.alert]
            hits = [any(a <= end and b >= start for start, end in windows) for a, b in raised]
            hit_windows = sum(any(a <= end and b >= start for a, b in raised) for start, end in windows)
            found += hit_windows
            findable += sum(end >= scored_from for _, end in windows)
            true_alerts += sum(hits)
            alerts += len(raised)
            false_per_series.append(len(raised) - sum(hits))
            per_series.append({"series": name, "windows": len(windows), "found": hit_windows, "alerts": len(raised),
                               "false": len(raised) - sum(hits), "baseline_points": scored.baseline.points,
                               "period": series.report.seasonal_period})  # type: ignore[attr-defined]
        results[method] = {
            "ran": len(false_per_series), "series": len(labels), "found": found, "windows": total, "findable": findable,
            "alerts": alerts, "precision": round(true_alerts / alerts, 3) if alerts else None,
            "median_false_per_series": statistics.median(false_per_series) if false_per_series else None,
            "seconds_per_10k_points": round(1e4 * seconds / points, 3) if points else None,
            "slowest_series_seconds": round(slowest, 2),
            "refused": refused, "per_series": per_series,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--data", default=str(DATA), help="the nab-dev folder (labels.json and data/)")
    parser.add_argument("--per-series", action="store_true", help="also print every series' counts")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    from _common import finish, print_header

    print_header()
    results = evaluate(tuple(args.methods.split(",")), Path(args.data))
    labelled_share = _labelled_share(Path(args.data))
    print(f"\nlabelled time: {labelled_share:.1%} of all time (random alerts would reach about that precision)")
    print(f"\n{'method':8} {'ran':>7} {'found':>8} {'findable':>8} {'alerts':>6} {'precision':>9} {'median false':>12} "
          f"{'s / 10k points':>14} {'slowest s':>9}")
    for method, r in results.items():
        print(f"{method:8} {r['ran']:>3}/{r['series']:<3} {r['found']:>3}/{r['windows']:<4} {r['findable']:>8} {r['alerts']:>6} "
              f"{r['precision'] if r['precision'] is not None else '-':>9} {r['median_false_per_series']:>12} "
              f"{r['seconds_per_10k_points']:>14} {r['slowest_series_seconds']:>9}")
        for reason in r["refused"]:
            print(f"{'':8} refused {reason}")
    if args.per_series:
        for method, r in results.items():
            print(f"\n{method}: series, labelled windows, found, alerts, false alarms, baseline points, period")
            for row in r["per_series"]:
                print(f"  {row['series']:55} {row['windows']:2} {row['found']:2} {row['alerts']:3} {row['false']:3} "
                      f"{row['baseline_points']:6} {row['period']:5}")
    finish(results, args.json)


def _labelled_share(data: Path) -> float:
    """Share of all series time inside a labelled window."""
    import pandas as pd

    labels = json.loads((data / "labels.json").read_text())
    inside = span = 0.0
    for name, windows in labels.items():
        stamps = pd.to_datetime(pd.read_csv(data / "data" / name, usecols=["timestamp"])["timestamp"])
        span += (stamps.max() - stamps.min()).total_seconds()
        inside += sum((pd.Timestamp(b) - pd.Timestamp(a)).total_seconds() for a, b in windows)
    return inside / span if span else 0.0


if __name__ == "__main__":
    main()
