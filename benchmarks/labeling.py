"""Krippendorff's alpha: our engine against the `krippendorff` package (fast-krippendorff).

Reliability data of `--items` units by `--annotators` coders with `--missing` of the
ratings absent, values 1..5. For each level (nominal, ordinal, interval, ratio) both compute
alpha from the same coder x unit matrix (ours from its ratings: indexing included);
interleaved rounds, medians. Also the largest absolute difference of the two alphas, and
the time of the tool's whole report (four levels, Fleiss, every pair, per label, worst
items) with `--bootstrap` replicates. Asserts nothing.

    uv run --all-extras python benchmarks/labeling.py [--items 100000] [--annotators 5] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import finish, print_header


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=5)
    parser.add_argument("--missing", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--json")
    args = parser.parse_args()
    print_header()

    import krippendorff

    from mlops_engineer.engines.labeling import agreement as ag

    rng = np.random.default_rng(0)
    truth = rng.integers(1, 6, args.items)
    data = np.where(rng.random((args.annotators, args.items)) < 0.7, truth, rng.integers(1, 6, (args.annotators, args.items))).astype(float)
    data[rng.random(data.shape) < args.missing] = np.nan
    coder, unit = np.nonzero(~np.isnan(data))
    ratings = [ag.Rating(int(u), int(c), int(v)) for c, u, v in zip(coder, unit, data[coder, unit], strict=True)]

    def ours_from_matrix(level: str) -> float:
        # What a caller with a coder x unit matrix pays: counts per unit and value, then alpha.
        values = np.arange(1, 6)
        counts = (data.T[:, :, None] == values[None, None, :]).sum(axis=1)
        return ag.krippendorff_alpha(counts, list(values), level)  # type: ignore[arg-type]

    results: dict[str, dict[str, float]] = {}
    for level in ag.LEVELS:
        times: dict[str, list[float]] = {"ours": [], "krippendorff": []}
        for _ in range(args.rounds):
            for name, fn in (("ours", lambda: ours_from_matrix(level)),
                             ("krippendorff", lambda: krippendorff.alpha(data, level_of_measurement=level))):
                start = time.perf_counter()
                value = fn()
                times[name].append(time.perf_counter() - start)
                results.setdefault(level, {})[f"{name}_alpha"] = float(value)
        med = {k: statistics.median(v) for k, v in times.items()}
        diff = abs(results[level]["ours_alpha"] - results[level]["krippendorff_alpha"])
        results[level].update(ours_s=med["ours"], krippendorff_s=med["krippendorff"], ratio=med["krippendorff"] / med["ours"], abs_diff=diff)
        print(f"{level:<9} ours {med['ours'] * 1000:8.1f} ms  krippendorff {med['krippendorff'] * 1000:8.1f} ms  "
              f"ratio {med['krippendorff'] / med['ours']:.2f}x  |alpha diff| {diff:.1e}")

    start = time.perf_counter()
    table = ag.rating_table(ratings)
    index_s = time.perf_counter() - start
    start = time.perf_counter()
    report = ag.agreement_report(ratings, ag.LEVELS, replicates=args.bootstrap, seed=0)
    report_s = time.perf_counter() - start
    results["report"] = {"index_s": index_s, "report_s": report_s, "ratings": len(ratings), "pairs": len(report.pairs)}
    print(f"indexing {len(ratings)} ratings: {index_s:.2f} s; whole report with {args.bootstrap} bootstrap replicates "
          f"(4 levels, Fleiss, {len(report.pairs)} pairs, {len(table.values)} labels): {report_s:.1f} s")
    finish(results, args.json)


if __name__ == "__main__":
    main()
