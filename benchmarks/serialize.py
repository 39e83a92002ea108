"""serialize_data_formats' streaming conversions against pandas' own read_*/to_*, on a mixed-type table.

    uv run --all-extras python benchmarks/serialize.py [--rows 5000000] [--repeat 3] [--dir /tmp/sf-bench]

The table (int64, float64, string, bool, timestamp with zone, decimal128(12, 2), a dictionary
category) is generated once into --dir as Parquet and CSV (and JSON Lines, Avro, Protobuf for the
reverse conversions). Every measurement runs in a fresh child process: the time is the conversion
itself (imports excluded), the peak memory the child's VmHWM (interpreter and imports
included, the same for both sides) plus the largest total resident memory of its own children (the
worker processes our Avro reader starts for a large file), sampled every 20 ms. Ours is the tool's
engine (`readers.open_reader` -> `writers.write`, 65,536-row batches); pandas reads the whole file into a DataFrame and writes it
with its own writer. pandas has no Avro or Protobuf writer: its side there is `read_parquet` then
fastavro over `to_dict("records")`, or a message per `itertuples()` row. Medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
PROTO = """syntax = "proto3";
import "google/protobuf/timestamp.proto";
message Row {
  optional int64 id = 1; optional double amount = 2; optional string name = 3; optional bool active = 4;
  google.protobuf.Timestamp at = 5; optional string price = 6; optional string plan = 7;
}
"""
# source -> target: (our source file, our target format)
CONVERSIONS = [
    ("csv", "parquet"), ("csv", "arrow"), ("csv", "jsonl"), ("parquet", "csv"), ("parquet", "arrow"),
    ("parquet", "jsonl"), ("jsonl", "parquet"), ("parquet", "avro"), ("avro", "parquet"), ("parquet", "protobuf"),
]
SUFFIX = {"csv": "csv", "parquet": "parquet", "arrow": "arrow", "jsonl": "jsonl", "avro": "avro", "protobuf": "pb"}


def generate(folder: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    stamp = folder / f"rows-{rows}.done"
    if stamp.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ids = pa.array(np.arange(rows, dtype=np.int64))
    table = pa.table({
        "id": ids,
        "amount": pa.array(rng.normal(100, 30, rows)),
        "name": pc.binary_join_element_wise("cust-", pc.cast(ids, pa.string()), ""),
        "active": pa.array(rng.random(rows) < 0.7),
        "at": pa.array(1_767_225_600_000_000 + rng.integers(0, 10**13, rows), pa.timestamp("us", tz="UTC")),
        "price": pa.array(rng.integers(0, 10**6, rows)).cast(pa.decimal128(19, 0)).cast(pa.decimal128(12, 2)),
        "plan": pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 4, rows).astype(np.int32)), ["basic", "plus", "pro", "team"]),
    })
    pq.write_table(table, folder / "source.parquet")
    pacsv.write_csv(table, folder / "source.csv")
    from mlops_engineer.engines.formats import readers, writers

    (folder / "rows.proto").write_text(PROTO)
    for fmt in ("jsonl", "avro"):
        writers.write(readers.open_reader(folder / "source.parquet"), folder / f"source.{SUFFIX[fmt]}", fmt)
    stamp.write_text("ok")


def _message_class(folder: Path) -> type:
    from mlops_engineer.engines.formats.protobuf import load_message

    return load_message(folder / "rows.proto", "Row", folder / "protoc")


def ours(folder: Path, source: str, target: str) -> Path:
    from mlops_engineer.engines.formats import readers, writers

    out = folder / f"ours.{SUFFIX[target]}"
    reader = readers.open_reader(folder / f"source.{SUFFIX[source]}")
    writers.write(reader, out, target, message_class=_message_class(folder) if target == "protobuf" else None)
    return out


def pandas_side(folder: Path, source: str, target: str) -> Path:
    import pandas as pd

    src, out = folder / f"source.{SUFFIX[source]}", folder / f"pandas.{SUFFIX[target]}"
    if source == "csv":
        frame = pd.read_csv(src)
    elif source == "parquet":
        frame = pd.read_parquet(src)
    elif source == "jsonl":
        frame = pd.read_json(src, lines=True)
    else:  # avro: pandas has no reader; fastavro's records into a frame
        import fastavro

        with src.open("rb") as handle:
            frame = pd.DataFrame.from_records(list(fastavro.reader(handle)))
    if target == "parquet":
        frame.to_parquet(out)
    elif target == "csv":
        frame.to_csv(out, index=False)
    elif target == "arrow":
        frame.to_feather(out)
    elif target == "jsonl":
        frame.to_json(out, orient="records", lines=True, date_format="iso")
    elif target == "avro":
        import fastavro
        from mlops_engineer.engines.formats.avro import avro_schema
        import pyarrow.parquet as pq

        schema = fastavro.parse_schema(avro_schema(pq.read_schema(src)))
        records = frame.to_dict("records")
        for r in records:  # pandas gives Timestamps and categories fastavro cannot all take as they are
            r["at"] = r["at"].to_pydatetime()
        with out.open("wb") as handle:
            fastavro.writer(handle, schema, records)
    elif target == "protobuf":
        from google.protobuf.timestamp_pb2 import Timestamp
        from mlops_engineer.engines.formats.protobuf import varint

        row_class = _message_class(folder)
        with out.open("wb") as handle:
            for r in frame.itertuples(index=False):
                at = Timestamp()
                at.FromDatetime(r.at.to_pydatetime().replace(tzinfo=None))
                data = row_class(id=r.id, amount=r.amount, name=r.name, active=r.active, at=at, price=str(r.price), plan=r.plan).SerializeToString()
                handle.write(varint(len(data)) + data)
    return out


def measure(side: str, folder: Path, source: str, target: str) -> dict[str, Any]:
    """In this (child) process: one conversion, its time, the process's peak memory, the output size."""
    import importlib

    for module in ("pandas", "pyarrow", "mlops_engineer.engines.formats.writers"):  # both sides: the same baseline memory
        importlib.import_module(module)

    workers = WorkerMemory()
    workers.start()
    started = time.perf_counter()
    out = (ours if side == "ours" else pandas_side)(folder, source, target)
    seconds = time.perf_counter() - started
    workers.stop()
    return {"seconds": seconds, "peak_mb": peak_rss_mb() + workers.peak_mb, "bytes": out.stat().st_size}


class WorkerMemory(threading.Thread):
    """The largest total resident memory of this process's children (the tool's Avro decoding
    workers), sampled every 20 ms: a child's own peak is out of reach once it has exited."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.02):
            total = 0
            for task in Path("/proc/self/task").iterdir():
                for pid in (task / "children").read_text().split():
                    try:
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:  # exited meanwhile
                        continue
                    total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            self.peak_mb = max(self.peak_mb, total / 1024)

    def stop(self) -> None:
        self._done.set()
        self.join()


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: Linux keeps that across fork and exec, so a
    child would report its parent's peak (the generator's 5M-row table) whenever that is higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(side: str, folder: Path, source: str, target: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(HERE), "--measure", side, source, target, "--dir", str(folder.parent), "--rows", folder.name],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/sf-bench")
    parser.add_argument("--only", nargs="*", help="conversions to run, e.g. csv:parquet")
    parser.add_argument("--measure", nargs=3, metavar=("SIDE", "SOURCE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = Path(args.dir) / str(args.rows)
    if args.measure:
        print(json.dumps(measure(args.measure[0], folder, args.measure[1], args.measure[2])))
        return
    started = time.perf_counter()
    generate(folder, args.rows)
    print(f"{args.rows:,} rows; source files in {folder} (generated in {time.perf_counter() - started:.0f} s); medians of {args.repeat}")
    print(f"{'conversion':<20}{'ours s':>9}{'pandas s':>10}{'speed-up':>10}{'ours MB':>9}{'pandas MB':>11}{'ours size':>12}{'pandas size':>13}")
    chosen = [c for c in CONVERSIONS if not args.only or f"{c[0]}:{c[1]}" in args.only]
    for source, target in chosen:
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "pandas": []}
        for _ in range(args.repeat):
            for side in ("ours", "pandas"):  # interleaved: both sides see the same machine load
                runs[side].append(run_child(side, folder, source, target))
        med: dict[str, dict[str, float]] = {}
        for side, results in runs.items():
            good = [r for r in results if "error" in r] or results
            if "error" in good[0]:
                med[side] = {"error": good[0]["error"]}  # type: ignore[dict-item]
                continue
            med[side] = {k: statistics.median(r[k] for r in results) for k in ("seconds", "peak_mb", "bytes")}
        o, p = med["ours"], med["pandas"]
        if "error" in o or "error" in p:
            print(f"{source + ' -> ' + target:<20} ours: {o.get('error', 'ok')} | pandas: {p.get('error', 'ok')}")
            continue
        print(f"{source + ' -> ' + target:<20}{o['seconds']:>9.2f}{p['seconds']:>10.2f}{p['seconds'] / o['seconds']:>9.1f}x"
              f"{o['peak_mb']:>9.0f}{p['peak_mb']:>11.0f}{o['bytes'] / 2**20:>10.0f}MB{p['bytes'] / 2**20:>11.0f}MB", flush=True)


if __name__ == "__main__":
    main()
