"""How fast the A/B statistics are, against the obvious way to get the same numbers.

1. A/A simulation (2,000 experiments, fixed-horizon test at the end): our vectorised
   engine (which also runs the mSPRT and naive peeking at every look) against a loop that
   draws each experiment and calls statsmodels' `proportions_ztest` on it.
2. `analyze` of a JSONL log through the tool (z-test, mSPRT after every row, SRM,
   guardrails, decision) against pandas `read_json(lines=True)` + groupby +
   `proportions_ztest` (the fixed test only).

Prints medians of interleaved rounds; asserts nothing.
    uv run --all-extras python benchmarks/ab_stats.py [--rounds 5] [--rows 100000] [--n-per-arm 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import versions


def _aa_ours(n: int) -> float:
    from mlops_engineer.engines.abtest.analysis import simulate_aa

    return simulate_aa("proportion", 0.1, None, n, experiments=2000, looks=20, seed=1).fpr_fixed


def _aa_loop(n: int) -> float:
    import numpy as np
    from statsmodels.stats.proportion import proportions_ztest

    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(2000):
        a, b = int((rng.random(n) < 0.1).sum()), int((rng.random(n) < 0.1).sum())
        hits += proportions_ztest([b, a], [n, n])[1] < 0.05
    return hits / 2000


def _write_log(root: Path, rows: int) -> str:
    import numpy as np

    rng = np.random.default_rng(2)
    variant = np.where(rng.random(rows) < 0.5, "champion", "challenger")
    outcome = (rng.random(rows) < np.where(variant == "champion", 0.10, 0.11)).astype(int)
    latency = rng.gamma(4, 5, rows)
    with (root / "log.jsonl").open("w") as handle:
        for i in range(rows):
            handle.write(json.dumps({"ts": i, "unit_id": f"u{i}", "variant": str(variant[i]), "outcome": int(outcome[i]),
                                     "latency_ms": round(float(latency[i]), 3), "error": 0}) + "\n")
    return "log.jsonl"


def _analyze_ours(root: Path, log: str) -> str:
    from mlops_engineer.registry import load_registry
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.workspace import Workspace

    ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root))
    spec = load_registry().tool("run_ab_test_models")
    return execute(spec, {"operation": {"action": "analyze", "experiment": "bench", "log_path": log}}, ctx).decision


def _analyze_pandas(root: Path, log: str) -> float:
    import pandas as pd
    from statsmodels.stats.proportion import proportions_ztest

    frame = pd.read_json(root / log, lines=True)
    g = frame.groupby("variant")["outcome"].agg(["sum", "count"])
    return float(proportions_ztest([g.loc["challenger", "sum"], g.loc["champion", "sum"]],
                                   [g.loc["challenger", "count"], g.loc["champion", "count"]])[1])


def _time(fn, *args) -> float:  # noqa: ANN001, ANN002
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--n-per-arm", type=int, default=4000)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    print(json.dumps(versions() | {"statsmodels": __import__("statsmodels").__version__}))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log = _write_log(root, args.rows)
        _aa_ours(500), _analyze_ours(root, log), _analyze_pandas(root, log)  # warm imports
        samples: dict[str, list[float]] = {"aa_ours": [], "aa_loop": [], "analyze_ours": [], "analyze_pandas": []}
        for _ in range(args.rounds):
            samples["aa_ours"].append(_time(_aa_ours, args.n_per_arm))
            samples["aa_loop"].append(_time(_aa_loop, args.n_per_arm))
            samples["analyze_ours"].append(_time(_analyze_ours, root, log))
            samples["analyze_pandas"].append(_time(_analyze_pandas, root, log))
    med = {k: statistics.median(v) for k, v in samples.items()}
    print("| benchmark | ours | peer | ratio |\n| --- | ---: | ---: | ---: |")
    print(f"| A/A x2000, {args.n_per_arm}/arm (ours: fixed + mSPRT + peeking at 20 looks; peer: statsmodels loop, fixed only) "
          f"| {med['aa_ours']:.2f} s | {med['aa_loop']:.2f} s | {med['aa_ours'] / med['aa_loop']:.2f}x |")
    print(f"| analyze {args.rows:,}-row JSONL (ours: full tool call; peer: pandas + proportions_ztest) "
          f"| {med['analyze_ours']:.2f} s | {med['analyze_pandas']:.2f} s | {med['analyze_ours'] / med['analyze_pandas']:.2f}x |")
    print(f"load average at end: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
