"""Online lookup latency and materialization throughput: build_feature_store against the Feast SDK.

One workspace per online store (SQLite, then a Redis started here on a free loopback
port), each with one feature view of 5 features over CUSTOMERS x ROWS_PER_CUSTOMER
Parquet rows, applied through the tool. Then, in the same process:

- materialize: the whole range through the tool, and the same `FeatureStore.materialize`
  call on a second, identical repository, directly; rows per second = source rows / time;
- online lookup for 1 and for 100 entity keys, p50 and p99 over interleaved rounds:
  ours   = `execute(build_feature_store, {"action": "online", ...})` in process (input
           validation, the cached FeatureStore, the Feast call, rows + output model);
  feast  = `FeatureStore.get_online_features(...).to_dict()` on its own FeatureStore object.
  The keys of each call are drawn at random, the same for both sides. The sides alternate
  in blocks of BLOCK calls (ABAB...): alternating every single call between two
  FeatureStore objects in one process costs both sides several milliseconds per call
  (measured on Feast 0.67), which would swamp the difference being measured.

    uv run --all-extras python benchmarks/feature_store.py [--rounds 300] [--customers 5000]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import versions

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

BLOCK = 25
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_monthly", "has_fiber"]


def make_data(root: Path, customers: int, rows_per_customer: int) -> int:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = customers * rows_per_customer
    start = pd.Timestamp("2026-01-01", tz="UTC")
    frame = pd.DataFrame({
        "customer_id": np.repeat(np.arange(1, customers + 1), rows_per_customer),
        "event_timestamp": start + pd.to_timedelta(rng.integers(0, 30 * 24 * 3600, n), unit="s"),
        "tenure_months": rng.integers(1, 72, n),
        "monthly_charges": rng.normal(70, 25, n).round(2),
        "support_calls": rng.poisson(1.5, n),
        "contract_monthly": rng.integers(0, 2, n),
        "has_fiber": rng.integers(0, 2, n),
    })
    (root / "data").mkdir(parents=True, exist_ok=True)
    frame.to_parquet(root / "data/stats.parquet", index=False)
    return n


def spec(online: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": "apply", "project": "bench", "online_store": online,
        "entities": [{"name": "customer", "join_key": "customer_id", "value_type": "int64"}],
        "sources": [{"name": "stats", "path": "data/stats.parquet"}],
        "feature_views": [{"name": "stats", "entities": ["customer"], "source": "stats", "ttl_seconds": 0,
                           "schema": [{"name": f, "dtype": "float64" if f == "monthly_charges" else "int64"} for f in FEATURES]}],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def start_redis(base: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found; install it with: apt-get install -y redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(base)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    import redis

    for _ in range(100):
        try:
            if redis.Redis(port=port).ping():
                return proc, port
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("redis-server did not answer")


def bench_backend(name: str, online: dict[str, Any], base: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    from feast import FeatureStore

    from mlops_engineer.registry import load_registry
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.workspace import Workspace

    tool = load_registry().tool("build_feature_store")
    ours_root, peer_root = base / f"{name}-ours", base / f"{name}-feast"
    rows = make_data(ours_root, args.customers, args.rows_per_customer)
    make_data(peer_root, args.customers, args.rows_per_customer)
    runs = {}
    for root in (ours_root, peer_root):
        ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root))
        runs[root] = ctx
        execute(tool, {"operation": spec(online | ({"db": 1} if root == peer_root and online["type"] == "redis" else {}))}, ctx)
    window = {"start": "2025-12-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}

    began = time.perf_counter()
    execute(tool, {"operation": {"action": "materialize", "mode": "range", **window}}, runs[ours_root])
    ours_mat = time.perf_counter() - began
    from datetime import UTC, datetime

    peer = FeatureStore(repo_path=str(peer_root / "feature_repo"))
    began = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        stdout, sys.stdout = sys.stdout, devnull
        try:
            peer.materialize(start_date=datetime(2025, 12, 1, tzinfo=UTC), end_date=datetime(2026, 2, 1, tzinfo=UTC))
        finally:
            sys.stdout = stdout
    peer_mat = time.perf_counter() - began
    results = [{"backend": name, "what": "materialize rows/s", "ours": rows / ours_mat, "feast": rows / peer_mat, "unit": "rows/s"}]

    refs = [f"stats:{f}" for f in FEATURES]
    rng = random.Random(1)
    for keys in (1, 100):
        ours_t: list[float] = []
        feast_t: list[float] = []
        key_sets = [[{"customer_id": rng.randint(1, args.customers)} for _ in range(keys)] for _ in range(args.rounds)]
        ours_args = [{"operation": {"action": "online", "entity_rows": rows, "features": refs}} for rows in key_sets]
        for _ in range(10):  # warm-up
            execute(tool, ours_args[0], runs[ours_root])
            peer.get_online_features(features=refs, entity_rows=key_sets[0]).to_dict()
        for block in range(0, args.rounds, BLOCK):
            for i in range(block, min(block + BLOCK, args.rounds)):
                t = time.perf_counter()
                out = execute(tool, ours_args[i], runs[ours_root])
                ours_t.append(time.perf_counter() - t)
                assert out.rows.total_rows == keys
            for i in range(block, min(block + BLOCK, args.rounds)):
                t = time.perf_counter()
                answer = peer.get_online_features(features=refs, entity_rows=key_sets[i]).to_dict()
                feast_t.append(time.perf_counter() - t)
                assert len(answer["customer_id"]) == keys
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            results.append({"backend": name, "what": f"online {keys} key{'s' if keys > 1 else ''} {label}",
                            "ours": percentile(ours_t, q) * 1000, "feast": percentile(feast_t, q) * 1000, "unit": "ms"})
        results.append({"backend": name, "what": f"online {keys} key{'s' if keys > 1 else ''} mean", "unit": "ms",
                        "ours": statistics.fmean(ours_t) * 1000, "feast": statistics.fmean(feast_t) * 1000})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300, help="lookups per side and key count, after 10 warm-ups")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--rows-per-customer", type=int, default=4)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-feast-"))
    redis_proc = None
    try:
        results = bench_backend("sqlite", {"type": "sqlite"}, base, args)
        redis_proc, port = start_redis(base)
        results += bench_backend("redis", {"type": "redis", "host": "127.0.0.1", "port": port}, base, args)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)
    from importlib import metadata

    info = versions() | {"feast": metadata.version("feast")}
    print(" ".join(f"{k}={v}" for k, v in info.items()), f"load={os.getloadavg()[0]:.2f}", f"rounds={args.rounds}",
          f"rows={args.customers * args.rows_per_customer}")
    print(f"{'backend':8} {'measure':22} {'ours':>12} {'feast':>12} {'unit':>6} {'ours/feast':>10}")
    for r in results:
        print(f"{r['backend']:8} {r['what']:22} {r['ours']:>12.3f} {r['feast']:>12.3f} {r['unit']:>6} {r['ours'] / r['feast']:>9.3f}x")

if __name__ == "__main__":
    main()
