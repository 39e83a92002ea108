"""review_data_analysis on a 1M-row train/test pair with 30 columns, against ydata-profiling.

The pair (800k training rows, 200k test rows, Parquet) carries known problems: a copy of the
target with noise (leak), 1 % of test rows copied from training, 2 % of test customers also
in training, exact duplicates, a constant column and an ID column. The review runs in-process
through the tool (`execute`, as `mlops-engineer call` does); ydata-profiling, the tool a user
would reach for, runs in a throwaway uv environment on the same files (its minimal mode, then
its comparison report of the two files) and its alerts are listed beside our findings.

    uv run --all-extras python benchmarks/review_data.py [--rows 1000000] [--repeat 3] [--no-ydata] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import finish, print_header

HERE = Path(__file__).resolve().parent


def make_pair(root: Path, rows: int) -> dict[str, str]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"num_{i}": rng.normal(i, 1 + i / 10, rows).round(4) for i in range(20)})
    for i in range(4):
        frame[f"count_{i}"] = rng.poisson(2 + i, rows)
    frame["plan"] = rng.choice(["basic", "plus", "pro", "team"], rows)
    frame["region"] = rng.choice([f"r{i}" for i in range(40)], rows)
    frame["customer_id"] = rng.integers(0, rows, rows)
    frame["country"] = "NL"  # constant
    logit = 0.4 * frame["num_0"] - 0.1 * frame["num_3"] + 0.2 * (frame["plan"] == "pro")
    frame["churned"] = (rng.random(rows) < 1 / (1 + np.exp(-logit + 1))).astype(int)
    frame["refund_flag"] = frame["churned"] * 2 + rng.normal(0, 0.05, rows).round(3)  # the leak: 30 columns
    cut = int(rows * 0.8)
    train, test = frame.iloc[:cut].copy(), frame.iloc[cut:].copy()
    train = pd.concat([train, train.iloc[:2000]], ignore_index=True)  # exact duplicates
    copied = train.sample(len(test) // 100, random_state=1)
    test = pd.concat([test.iloc[len(copied):], copied], ignore_index=True)  # 1 % of test rows from training
    shared = rng.choice(len(test), len(test) // 50, replace=False)
    test.loc[shared, "customer_id"] = train["customer_id"].sample(len(shared), random_state=2).to_numpy()
    train.to_parquet(root / "train.parquet")
    test.to_parquet(root / "test.parquet")
    return {"train": "train.parquet", "test": "test.parquet", "shape": f"{len(train)}+{len(test)} x {frame.shape[1]}"}


def review_once(root: Path) -> tuple[float, object]:
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.tools.review_data_analysis import TOOL
    from mlops_engineer.workspace import Workspace

    ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root), on_progress=lambda *a: None)
    operation = {"action": "data", "name": "bench", "train": "train.parquet", "test": "test.parquet",
                 "target": "churned", "group_key": "customer_id"}
    started = time.perf_counter()
    out = execute(TOOL, {"operation": operation}, ctx)
    return time.perf_counter() - started, out


def ydata(root: Path, timeout: float, full: bool = False) -> dict:
    # ydata-profiling 4.18 still imports pkg_resources, which setuptools 81 removed.
    command = ["uv", "run", "--no-project", "--with", "ydata-profiling", "--with", "pyarrow", "--with", "setuptools<81", "python",
               str(HERE / "_ydata_profile.py"), str(root), str(root / "train.parquet")]
    command += ["--full"] if full else [str(root / "test.parquet")]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s"}
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr or done.stdout)[-800:]}
    result = json.loads(lines[-1])
    result["wall_seconds_with_env"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-ydata", action="store_true")
    parser.add_argument("--ydata-timeout", type=float, default=1800)
    parser.add_argument("--ydata-full", action="store_true", help="also ydata's default (full) mode on the training file")
    parser.add_argument("--json")
    args = parser.parse_args()
    print_header()
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pair = make_pair(root, args.rows)
        print(f"data: {pair['shape']} (train+test rows x columns), Parquet")
        times = []
        for _ in range(args.repeat):
            seconds, out = review_once(root)
            times.append(seconds)
        median = statistics.median(times)
        findings = json.loads((root / ".mlops/reviews/bench/findings.json").read_text())
        raised = sorted({(f["severity"], f["check"]) for f in findings if f["severity"] != "info"}, key=str)
        print(f"review_data_analysis data review: median {median:.2f} s over {args.repeat} runs "
              f"(min {min(times):.2f}, max {max(times):.2f}); bar: < 30 s")
        print("  findings above info:", ", ".join(f"{c} ({s})" for s, c in raised))
        results.update(rows=pair["shape"], review_seconds=times, review_median=median,
                       review_findings=[f"{c} ({s})" for s, c in raised])
        if not args.no_ydata:
            peer = ydata(root, args.ydata_timeout)
            results["ydata"] = peer
            if "error" in peer:
                print("ydata-profiling: could not run:", peer["error"])
            else:
                print(f"ydata-profiling {peer['version']} ({peer['mode']} mode, both files + comparison report): "
                      f"{peer['seconds']:.1f} s ({peer['wall_seconds_with_env']:.1f} s with the uv environment); "
                      f"ratio ydata / review = {peer['seconds'] / median:.1f}x")
                print("  ydata alerts on train:", "; ".join(peer["alerts"]) or "none")
        if args.ydata_full:
            full = ydata(root, args.ydata_timeout, full=True)
            results["ydata_full"] = full
            if "error" in full:
                print("ydata-profiling full mode: could not finish:", full["error"])
            else:
                print(f"ydata-profiling full mode, training file only: {full['seconds']:.1f} s; "
                      f"ratio ydata / review = {full['seconds'] / median:.1f}x")
                print("  ydata alerts:", "; ".join(full["alerts"]) or "none")
    finish(results, args.json)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
