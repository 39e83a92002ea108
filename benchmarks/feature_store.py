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

Each build (this one, and with `--before DIR` the build in DIR) runs in a worker process of
its own with its own pair of workspaces (see _sides.py); the builds alternate block by block,
and each is compared with Feast called directly in its own process.

    uv run --all-extras python benchmarks/feature_store.py [--rounds 300] [--customers 5000] [--before /tmp/before]
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


_SIDE: dict[str, Any] = {}


def side_setup(base: str, name: str, online: dict[str, Any], customers: int, rows_per_customer: int, db: int = 0) -> dict[str, float]:
    """In a worker (see _sides.py): our workspace and an identical one for Feast direct, applied and materialized."""
    from datetime import UTC, datetime

    from feast import FeatureStore

    from mlops_engineer.registry import load_registry
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.workspace import Workspace

    tool = load_registry().tool("build_feature_store")
    ours_root, peer_root = Path(base) / f"{name}-ours", Path(base) / f"{name}-feast"
    rows = make_data(ours_root, customers, rows_per_customer)
    make_data(peer_root, customers, rows_per_customer)
    ctxs = {}
    for root, store_db in ((ours_root, db), (peer_root, db + 1)):
        ctxs[root] = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root))
        execute(tool, {"operation": spec(online | ({"db": store_db} if online["type"] == "redis" else {}))}, ctxs[root])
    began = time.perf_counter()
    execute(tool, {"operation": {"action": "materialize", "mode": "range", "start": "2025-12-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}},
            ctxs[ours_root])
    ours_mat = time.perf_counter() - began
    peer = FeatureStore(repo_path=str(peer_root / "feature_repo"))
    began = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        stdout, sys.stdout = sys.stdout, devnull
        try:
            peer.materialize(start_date=datetime(2025, 12, 1, tzinfo=UTC), end_date=datetime(2026, 2, 1, tzinfo=UTC))
        finally:
            sys.stdout = stdout
    peer_mat = time.perf_counter() - began
    _SIDE.update(tool=tool, ctx=ctxs[ours_root], peer=peer, customers=customers, execute=execute)
    return {"ours": rows / ours_mat, "feast": rows / peer_mat}


def side_block(keys: int, seed: int, count: int, warmup: bool = False) -> dict[str, list[float]]:
    """In a worker: `count` lookups through the tool, then the same `count` on Feast directly (one block each)."""
    tool, ctx, peer, execute = _SIDE["tool"], _SIDE["ctx"], _SIDE["peer"], _SIDE["execute"]
    rng = random.Random(seed)
    refs = [f"stats:{f}" for f in FEATURES]
    key_sets = [[{"customer_id": rng.randint(1, _SIDE["customers"])} for _ in range(keys)] for _ in range(count)]
    calls = [{"operation": {"action": "online", "entity_rows": rows, "features": refs}} for rows in key_sets]
    ours: list[float] = []
    feast: list[float] = []
    for arguments in calls:
        t = time.perf_counter()
        out = execute(tool, arguments, ctx)
        ours.append(time.perf_counter() - t)
        assert out.rows.total_rows == keys
    for rows in key_sets:
        t = time.perf_counter()
        answer = peer.get_online_features(features=refs, entity_rows=rows).to_dict()
        feast.append(time.perf_counter() - t)
        assert len(answer["customer_id"]) == keys
    return {"ours": [], "feast": []} if warmup else {"ours": ours, "feast": feast}


def bench_backend(name: str, online: dict[str, Any], base: Path, args: argparse.Namespace, sides: list[Any]) -> list[dict[str, Any]]:
    results = []
    for i, side in enumerate(sides):
        mat = side.call("feature_store:side_setup", base=str(base / side.label), name=name, online=online,
                        customers=args.customers, rows_per_customer=args.rows_per_customer, db=2 * i)
        results.append({"backend": name, "side": side.label, "what": "materialize rows/s", "ours": mat["ours"], "feast": mat["feast"], "unit": "rows/s"})
    for keys in (1, 100):
        times: dict[str, dict[str, list[float]]] = {side.label: {"ours": [], "feast": []} for side in sides}
        for side in sides:
            side.call("feature_store:side_block", keys=keys, seed=0, count=10, warmup=True)
        for block in range(0, args.rounds, BLOCK):
            order = sides if (block // BLOCK) % 2 == 0 else list(reversed(sides))
            for side in order:  # the builds alternate block by block, so load changes hit both
                got = side.call("feature_store:side_block", keys=keys, seed=block + 1, count=min(BLOCK, args.rounds - block))
                for k in ("ours", "feast"):
                    times[side.label][k] += got[k]
        for side in sides:
            ours_t, feast_t = times[side.label]["ours"], times[side.label]["feast"]
            label = f"online {keys} key{'s' if keys > 1 else ''}"
            for q_label, q in (("p50", 0.5), ("p99", 0.99)):
                results.append({"backend": name, "side": side.label, "what": f"{label} {q_label}", "unit": "ms",
                                "ours": percentile(ours_t, q) * 1000, "feast": percentile(feast_t, q) * 1000})
            results.append({"backend": name, "side": side.label, "what": f"{label} mean", "unit": "ms",
                            "ours": statistics.fmean(ours_t) * 1000, "feast": statistics.fmean(feast_t) * 1000})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300, help="lookups per side and key count, after 10 warm-ups")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--rows-per-customer", type=int, default=4)
    parser.add_argument("--before", type=Path, help="source tree of the build to compare with (see _sides.py)")
    parser.add_argument("--backends", default="sqlite,redis")
    args = parser.parse_args()
    from _sides import Side

    load_start = os.getloadavg()
    base = Path(tempfile.mkdtemp(prefix="bench-feast-"))
    sides = [Side("after", None)] + ([Side("before", args.before)] if args.before else [])
    redis_proc = None
    results: list[dict[str, Any]] = []
    try:
        if "sqlite" in args.backends:
            results += bench_backend("sqlite", {"type": "sqlite"}, base, args, sides)
        if "redis" in args.backends:
            redis_proc, port = start_redis(base)
            results += bench_backend("redis", {"type": "redis", "host": "127.0.0.1", "port": port}, base, args, sides)
    finally:
        for side in sides:
            side.close()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)
    from importlib import metadata

    info = versions() | {"feast": metadata.version("feast")}
    print(" ".join(f"{k}={v}" for k, v in info.items()), f"load={load_start[0]:.2f}->{os.getloadavg()[0]:.2f}", f"rounds={args.rounds}",
          f"rows={args.customers * args.rows_per_customer}")
    print(f"{'backend':8} {'build':7} {'measure':22} {'ours':>12} {'feast':>12} {'unit':>6} {'ours/feast':>10}")
    for r in results:
        print(f"{r['backend']:8} {r['side']:7} {r['what']:22} {r['ours']:>12.3f} {r['feast']:>12.3f} {r['unit']:>6} {r['ours'] / r['feast']:>9.3f}x")


if __name__ == "__main__":
    main()
