"""Drift statistics: our engine against Evidently's DataDriftPreset on the same data, same run.

    uv run --all-extras python benchmarks/drift.py                  # 1,000,000 x 20, both contenders
    uv run --all-extras python benchmarks/drift.py --rows 100000 --rounds 3 --big-rows 0

Each contender runs in its own subprocess, which builds the same seeded frames (reference
N(0, 1) per column; current shifted by 0.05 * column index and scaled by 1.1) and then
measures only the check. Peak memory is the process's VmHWM after the frames exist,
reset just before the check (`/proc/self/clear_refs`), minus the RSS right after the
imports: so it counts the two frames plus everything the check allocates.

- `ours`: `drift_check.all_features` (exact per-feature PSI, KS statistic + p-value,
  Jensen-Shannon, Wasserstein, means) on both frames; medians over `--rounds`.
- `evidently`: `Report([DataDriftPreset()]).run(current, reference)` (Evidently picks its
  default method per column: normed Wasserstein for numerical columns above 1000 rows);
  one round, since it takes minutes at full size.
- `tool` (`--tool-rows`, default 1M, 10M and 50M rows): `monitor_model_drift` action `check`
  through `execute()` on Parquet files (HTML report included), each in a fresh process; the
  peak is the whole process's VmHWM. With `streaming: auto` (the default) the tool streams
  when the in-memory check would need more than its 2 GB budget. With `--before DIR` the
  build in DIR runs the same files (up to `--before-max-rows`: it loads both files whole).
- `ours-parquet` (`--big-rows`, default 10,000,000): reference and current written to
  Parquet once (in `--data-dir`, row groups of `--chunk` rows), then read back one row
  group at a time; every chunk
  gives a mergeable grid summary per column (`GridSummary`), merged and turned into
  statistics (`grid_stats`, KS within its stated error bound). Min and max per column
  come from the Parquet row-group statistics, so the data is read once.

Prints JSON lines per contender and a table with the ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import versions  # noqa: E402

MB = 1024 * 1024


def _rss(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _frames(rows: int, cols: int, seed: int = 0):  # noqa: ANN202
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = [f"f{i:02d}" for i in range(cols)]
    ref = pd.DataFrame(rng.standard_normal((rows, cols)), columns=names)
    cur = pd.DataFrame(rng.standard_normal((rows, cols)) * 1.1 + 0.05 * np.arange(cols), columns=names)
    return ref, cur


def worker_ours(rows: int, cols: int, rounds: int) -> dict:
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import scipy.stats  # noqa: F401

    from mlops_engineer.engines.drift import check as drift_check

    base = _rss("VmRSS")
    ref, cur = _frames(rows, cols)
    frame_bytes = int(ref.memory_usage(index=False).sum() + cur.memory_usage(index=False).sum())
    roles = drift_check.Roles(list(ref.columns), [], None, None, False)
    times, cpus, peaks = [], [], []
    for _ in range(rounds):
        _reset_peak()
        start, cpu = time.perf_counter(), time.process_time()
        results = drift_check.all_features(ref, cur, roles, drift_check.Thresholds())
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        peaks.append(_rss("VmHWM") - base)
    return {"contender": "ours", "seconds": statistics.median(times), "cpu_seconds": statistics.median(cpus),
            "all_seconds": times, "peak_bytes": max(peaks),
            "frame_bytes": frame_bytes, "features": len(results),
            "drifted": sum(r.drifted for r in results)}


def worker_evidently(rows: int, cols: int, rounds: int) -> dict:
    import pandas  # noqa: F401
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    base = _rss("VmRSS")
    ref, cur = _frames(rows, cols)
    frame_bytes = int(ref.memory_usage(index=False).sum() + cur.memory_usage(index=False).sum())
    definition = DataDefinition(numerical_columns=list(ref.columns))
    times, cpus, peaks, drifted = [], [], [], None
    for _ in range(rounds):
        _reset_peak()
        start, cpu = time.perf_counter(), time.process_time()
        snapshot = Report([DataDriftPreset()]).run(Dataset.from_pandas(cur, data_definition=definition),
                                                   Dataset.from_pandas(ref, data_definition=definition))
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        peaks.append(_rss("VmHWM") - base)
        drifted = next((m["value"]["count"] for m in snapshot.dict()["metrics"] if "DriftedColumnsCount" in m["metric_name"]), None)
    return {"contender": "evidently", "seconds": statistics.median(times), "cpu_seconds": statistics.median(cpus),
            "all_seconds": times, "peak_bytes": max(peaks),
            "frame_bytes": frame_bytes, "features": cols, "drifted": drifted}


def write_parquet(data_dir: Path, rows: int, cols: int, chunk: int) -> tuple[Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = data_dir / f"ref-{rows}x{cols}.parquet", data_dir / f"cur-{rows}x{cols}.parquet"
    if all(p.exists() for p in paths):
        return paths
    data_dir.mkdir(parents=True, exist_ok=True)
    names = [f"f{i:02d}" for i in range(cols)]
    for path, (scale, shift) in zip(paths, [(1.0, 0.0), (1.1, 0.05)], strict=True):
        rng = np.random.default_rng(1 if scale == 1.0 else 2)
        tmp = path.with_suffix(".tmp")
        writer = None
        for start in range(0, rows, chunk):
            block = rng.standard_normal((min(chunk, rows - start), cols)) * scale + shift * np.arange(cols)
            table = pa.table({n: block[:, i] for i, n in enumerate(names)})
            writer = writer or pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=chunk)
        writer.close()
        os.replace(tmp, path)
    return paths


def worker_parquet(ref_path: str, cur_path: str, chunk: int) -> dict:
    import pyarrow.parquet  # noqa: F401 - imported before the baseline, as in the other workers
    import scipy.stats  # noqa: F401

    from mlops_engineer.engines.drift.partitions import parquet_drift

    base = _rss("VmRSS")
    _reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    results = parquet_drift(Path(ref_path), Path(cur_path))
    seconds = time.perf_counter() - start
    rows = pyarrow.parquet.ParquetFile(ref_path).metadata.num_rows
    return {"contender": "ours-parquet", "seconds": seconds, "cpu_seconds": time.process_time() - cpu,
            "peak_bytes": _rss("VmHWM") - base, "rows": rows, "features": len(results),
            "max_ks_error_bound": max(r.ks_error_bound for r in results),
            "drifted": sum(r.psi >= 0.1 for r in results)}


def worker_tool(ref_path: str, cur_path: str, streaming: str) -> dict:
    """`monitor_model_drift` check through `execute()`, as a client would call it (HTML report included).
    Peak memory is the whole process's VmHWM: interpreter, imports, data and check."""
    from mlops_engineer.registry import load_registry
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.workspace import Workspace

    root = Path(ref_path).parent
    tool = load_registry().tool("monitor_model_drift")
    ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root, tracking_uri=None))
    operation = {"action": "check", "reference": Path(ref_path).name, "current": Path(cur_path).name, "name": f"bench-{os.getpid()}",
                 "output_dir": "reports", **({"streaming": streaming} if streaming != "default" else {})}
    start, cpu = time.perf_counter(), time.process_time()
    out = execute(tool, {"operation": operation}, ctx)
    seconds = time.perf_counter() - start
    method = getattr(out, "method", None)
    bounds = [r.get("ks_error_bound") for r in out.features.rows if r.get("ks_error_bound") is not None]
    return {"contender": "tool", "seconds": seconds, "cpu_seconds": time.process_time() - cpu, "peak_bytes": _rss("VmHWM"),
            "rows": out.rows.get("reference"), "drifted": len(out.drifted_features),
            "path": method.path if method else "in_memory (before: always)", "reason": method.reason if method else "",
            "chunks": method.chunks if method else 0, "max_ks_error_bound": max(bounds) if bounds else None,
            "summary": tool.summarize(out)}


def _spawn(args: list[str], source: Path | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(source / "server") if source else "", os.environ.get("PYTHONPATH", "")]))}
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of ours (Evidently: --evidently-rounds)")
    parser.add_argument("--evidently-rounds", type=int, default=1)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--big-rows", type=int, default=10_000_000, help="rows of the chunked Parquet run; 0 skips it")
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/mlops-drift-bench"))
    parser.add_argument("--tool-rows", default="1000000,10000000,50000000",
                        help="row counts checked through the tool (Parquet files in --data-dir, written once); empty skips")
    parser.add_argument("--before", type=Path, help="source tree of the build to compare with (see _sides.py)")
    parser.add_argument("--before-max-rows", type=int, default=10_000_000,
                        help="largest file the build before (which loads both files whole) is run on")
    parser.add_argument("--worker", choices=["ours", "evidently", "parquet", "tool"], help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--streaming", default="default", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "tool":
        print(json.dumps(worker_tool(*args.paths, args.streaming)))
        return

    if args.worker == "ours":
        print(json.dumps(worker_ours(args.rows, args.cols, args.rounds)))
        return
    if args.worker == "evidently":
        print(json.dumps(worker_evidently(args.rows, args.cols, args.evidently_rounds)))
        return
    if args.worker == "parquet":
        print(json.dumps(worker_parquet(*args.paths, args.chunk)))
        return

    print(json.dumps({"versions": {**versions(), "evidently": _version("evidently"), "numpy": _version("numpy"),
                                   "scipy": _version("scipy")}, "cpus": os.cpu_count(), "load_start": os.getloadavg()}))
    size = ["--rows", str(args.rows), "--cols", str(args.cols)]
    ours = _spawn(["--worker", "ours", *size, "--rounds", str(args.rounds)])
    print(json.dumps(ours))
    peer = None
    if not args.skip_evidently:
        peer = _spawn(["--worker", "evidently", *size, "--evidently-rounds", str(args.evidently_rounds)])
        print(json.dumps(peer))
    big = None
    if args.big_rows:
        paths = write_parquet(args.data_dir, args.big_rows, args.cols, args.chunk)
        big = _spawn(["--worker", "parquet", "--paths", *map(str, paths), "--chunk", str(args.chunk)])
        big["parquet_bytes"] = sum(p.stat().st_size for p in paths)
        print(json.dumps(big))

    tool_runs = []
    for rows in [int(r) for r in args.tool_rows.split(",") if r]:
        paths = write_parquet(args.data_dir, rows, args.cols, args.chunk)
        sides = [("after", None)] + ([("before", args.before)] if args.before and rows <= args.before_max_rows else [])
        for label, source in sides:
            run = _spawn(["--worker", "tool", "--paths", *map(str, paths)], source) | {"build": label, "file_bytes": sum(p.stat().st_size for p in paths)}
            tool_runs.append(run)
            print(json.dumps(run))
        if args.before and rows > args.before_max_rows:
            print(json.dumps({"build": "before", "rows": rows, "skipped": f"loads both files whole: about {2 * rows * args.cols * 8 / MB:,.0f} MB "
                              "of frames, more than --before-max-rows allows"}))

    frames = ours["frame_bytes"]
    print(f"\n{args.rows:,} rows x {args.cols} numerical columns; two frames = {frames / MB:,.0f} MB; load {os.getloadavg()[0]:.1f}")
    print("| contender | median wall s | CPU s | peak MB (frames + check) | peak / frames | drifted |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in filter(None, [ours, peer]):
        print(f"| {r['contender']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['peak_bytes'] / MB:,.0f} | "
              f"{r['peak_bytes'] / frames:.2f}x | {r['drifted']} |")
    if peer:
        print(f"speed-up: {peer['seconds'] / ours['seconds']:.1f}x wall, {peer['cpu_seconds'] / ours['cpu_seconds']:.1f}x CPU (target >= 30x); "
              f"memory: {ours['peak_bytes'] / frames:.2f}x the frames (target <= 3x)")
    if big:
        print(f"{big['rows']:,} rows from Parquet in chunks of {args.chunk:,}: {big['seconds']:.1f} s ({big['cpu_seconds']:.1f} s CPU), "
              f"peak {big['peak_bytes'] / MB:,.0f} MB (files {big['parquet_bytes'] / MB:,.0f} MB), "
              f"KS error bound <= {big['max_ks_error_bound']:.2e}")
    if tool_runs:
        print("\n| through the tool | build | path | wall s | CPU s | process peak MB | files MB | drifted | max KS bound |")
        print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in tool_runs:
            bound = f"{r['max_ks_error_bound']:.1e}" if r.get("max_ks_error_bound") is not None else "exact"
            print(f"| {r['rows']:,} x {args.cols} | {r['build']} | {r['path']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                  f"{r['peak_bytes'] / MB:,.0f} | {r['file_bytes'] / MB:,.0f} | {r['drifted']} | {bound} |")


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    main()
