"""Overhead of one `log_run` through MCP against the same logging done with MlflowClient directly.

Both sides log to an embedded SQLite MLflow store (separate db files, same store
type), each run with 10 params, 10 metrics of 5 steps each and one small artifact
file, no model. Each run is distinct: param `p00` carries the round's label, because
the tool returns the earlier run instead of logging a duplicate for an identical input.

Measured, per call:

- mcp:      `tools/call track_ml_experiments` (log_run) over stdio, client side, request to answer;
- direct:   create_run, log_batch, log_artifact, set_terminated on an MlflowClient in this process;
- direct+:  the same MLflow calls the tool makes (experiment lookup, search for an identical
            earlier run, create_run with a digest tag, log_batch, log_artifact, set_terminated,
            get_run), so `mcp - direct+` is what MCP, validation and the tool layer add;
- dry run:  the same `log_run` with dry_run=true through MCP: a round trip that never touches
            MLflow (transport, validation, thread hand-off, file checks).

Warm calls: one warm-up each (it pays the MLflow import and the DB migration), then
N interleaved rounds; median and p90 (nearest rank). Cold calls are measured
separately, each in a fresh process: a freshly started server's first log_run (after
initialize), and a fresh Python's `import mlflow` + client + experiment + the same logging;
first on a new store, then again on the store that call left.

    uv run python benchmarks/log_run_overhead.py [--rounds 20] [--cold-rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import versions

EXPERIMENT = "bench-log-run"
ARTIFACT_NAME = "artifact.txt"
ARTIFACT_TEXT = "".join(f"line {i}: a small artifact for the log_run benchmark\n" for i in range(40))  # ~2 KB
N_PARAMS, N_METRICS, N_STEPS = 10, 10, 5
BIN = Path(sys.executable).parent


# --- the logged content, identical on both sides --------------------------------------------------

def params_for(label: str) -> dict[str, str | int | float | bool]:
    """10 params; `p00` is the round label, so every logged run's input differs."""
    params: dict[str, str | int | float | bool] = {"p00": label}
    for i in range(1, N_PARAMS):
        kinds: tuple[str | int | float | bool, ...] = (0.01 * i, i, f"value-{i}", i % 2 == 0)
        params[f"p{i:02d}"] = kinds[i % 4]
    return params


def metrics_for(label: str) -> dict[str, list[dict[str, Any]]]:
    """10 metrics, 5 steps each: [{"value": float, "step": int}, ...]."""
    seed = int(hashlib.sha256(label.encode()).hexdigest()[:8], 16) / 2**32
    return {
        f"m{k}": [{"value": round(seed + k + 0.1 * step, 6), "step": step} for step in range(N_STEPS)]
        for k in range(N_METRICS)
    }


def tool_arguments(label: str, *, dry_run: bool = False) -> dict[str, Any]:
    return {
        "operation": {
            "action": "log_run",
            "experiment": EXPERIMENT,
            "params": params_for(label),
            "metrics": metrics_for(label),
            "artifacts": [ARTIFACT_NAME],
        },
        "tracking_uri": None,
        "dry_run": dry_run,
    }


def make_workspace(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / ARTIFACT_NAME).write_text(ARTIFACT_TEXT, "utf-8")
    return path


# --- direct MlflowClient -----------------------------------------------------------------------

def direct_client(folder: Path) -> tuple[Any, str]:
    """A client on `<folder>/mlflow.db` and the experiment id (artifacts under `<folder>/mlartifacts`)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return client, experiment.experiment_id
    location = (folder / "mlartifacts" / EXPERIMENT).as_uri()
    return client, client.create_experiment(EXPERIMENT, artifact_location=location)


def _entities(label: str) -> tuple[list[Any], list[Any]]:
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    metrics = [Metric(key, p["value"], now, p["step"]) for key, points in metrics_for(label).items() for p in points]
    params = [Param(k, str(v)) for k, v in params_for(label).items()]
    return metrics, params


def direct_log(client: Any, experiment_id: str, folder: Path, label: str) -> str:
    """The plain MLflow way: create_run, log_batch, log_artifact, set_terminated."""
    metrics, params = _entities(label)
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    client.log_batch(run_id, metrics=metrics, params=params)
    client.log_artifact(run_id, str(folder / ARTIFACT_NAME))
    client.set_terminated(run_id, "FINISHED")
    return run_id


def direct_log_like_tool(client: Any, folder: Path, label: str) -> str:
    """The MLflow calls the tool makes for one new run, without MCP or the tool layer."""
    digest = hashlib.sha256(json.dumps(tool_arguments(label), sort_keys=True).encode()).hexdigest()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    existing = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`bench.digest` = '{digest}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    assert not existing, "runs must be distinct"
    metrics, params = _entities(label)
    run = client.create_run(experiment.experiment_id, tags={"bench.digest": digest})
    run_id = run.info.run_id
    client.log_batch(run_id, metrics=metrics, params=params)
    client.log_artifact(run_id, str(folder / ARTIFACT_NAME))
    client.set_terminated(run_id, "FINISHED")
    return run_id


def direct_cold_worker(folder: Path) -> None:
    """Run in a fresh interpreter: import MLflow, open (migrate) the store, log one run; print seconds."""
    start = time.perf_counter()
    client, experiment_id = direct_client(folder)
    direct_log(client, experiment_id, folder, f"cold-{os.getpid()}")
    print(json.dumps({"seconds": time.perf_counter() - start}))


# --- through MCP -------------------------------------------------------------------------------

def server_params(workspace: Path) -> Any:
    from mcp.client.stdio import StdioServerParameters

    script = BIN / "mlops-engineer"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "mlops_engineer"]
    return StdioServerParameters(
        command=argv[0], args=[*argv[1:], "--workspace", str(workspace), "serve"], cwd=str(workspace)
    )


async def mcp_call(session: Any, label: str, *, dry_run: bool = False) -> float:
    start = time.perf_counter()
    result = await session.call_tool("track_ml_experiments", tool_arguments(label, dry_run=dry_run))
    elapsed = time.perf_counter() - start
    if result.is_error:
        raise RuntimeError(f"log_run {label} failed: {result.structured_content or result.content}")
    if not dry_run:
        run = (result.structured_content or {}).get("run") or {}
        if not run.get("created"):
            raise RuntimeError(f"log_run {label} did not create a new run: {run}")
    return elapsed


# --- statistics and report -----------------------------------------------------------------------

def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _ms(x: float) -> str:
    return f"{x * 1000:9.1f}"



async def run_benchmark(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import get_default_environment, stdio_client

    errlog = (tmp / "server.stderr").open("w")
    cold: dict[str, list[float]] = {
        "mcp, new store": [], "direct, new store": [], "mcp, store exists": [], "direct, store exists": [],
    }

    async def first_mcp_call(workspace: Path, label: str) -> float:
        with anyio.fail_after(300):
            async with stdio_client(server_params(workspace), errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    await session.list_tools()
                    return await mcp_call(session, label)

    def first_direct_call(folder: Path) -> float:
        # The same environment the stdio client gives the server, so neither side differs by it.
        out = subprocess.run(
            [sys.executable, __file__, "--direct-cold-worker", str(folder)],
            check=True, capture_output=True, text=True, timeout=300, env=get_default_environment(),
        )
        return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]

    # Cold: each sample in a fresh process; first on a new store (it is created and
    # migrated), then a second fresh process on the same, now existing, store.
    for k in range(args.cold_rounds):
        workspace = make_workspace(tmp / f"cold-mcp-{k}")
        folder = make_workspace(tmp / f"cold-direct-{k}")
        cold["mcp, new store"].append(await first_mcp_call(workspace, f"cold-{k}"))
        cold["direct, new store"].append(first_direct_call(folder))
        cold["direct, store exists"].append(first_direct_call(folder))
        cold["mcp, store exists"].append(await first_mcp_call(workspace, f"cold-{k}-again"))
        if args.verbose:
            print(f"  cold {k}: " + " ".join(f"{name} {v[-1]:.3f}s" for name, v in cold.items()))

    # Warm: one server, one in-process client; warm up each, then interleave.
    warm: dict[str, list[float]] = {"mcp": [], "direct": [], "direct+": [], "dry run": []}
    mcp_ws = make_workspace(tmp / "mcp-workspace")
    direct_dir = make_workspace(tmp / "direct")
    direct_plus_dir = make_workspace(tmp / "direct-plus")
    with anyio.fail_after(60 + 30 * args.rounds):
        async with stdio_client(server_params(mcp_ws), errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await session.list_tools()
                warmup = {"mcp": await mcp_call(session, "warmup")}
                t = time.perf_counter()
                client, experiment_id = direct_client(direct_dir)
                direct_log(client, experiment_id, direct_dir, "warmup")
                warmup["direct"] = time.perf_counter() - t
                plus_client, _ = direct_client(direct_plus_dir)
                direct_log_like_tool(plus_client, direct_plus_dir, "warmup")
                await mcp_call(session, "warmup", dry_run=True)

                def one_direct(i: int) -> None:
                    t0 = time.perf_counter()
                    direct_log(client, experiment_id, direct_dir, f"round-{i}")
                    warm["direct"].append(time.perf_counter() - t0)

                def one_direct_plus(i: int) -> None:
                    t0 = time.perf_counter()
                    direct_log_like_tool(plus_client, direct_plus_dir, f"round-{i}")
                    warm["direct+"].append(time.perf_counter() - t0)

                for i in range(args.rounds):
                    # Alternate which side goes first, so both share the machine's noise.
                    if i % 2 == 0:
                        warm["mcp"].append(await mcp_call(session, f"round-{i}"))
                        one_direct(i)
                        one_direct_plus(i)
                    else:
                        one_direct_plus(i)
                        one_direct(i)
                        warm["mcp"].append(await mcp_call(session, f"round-{i}"))
                    warm["dry run"].append(await mcp_call(session, f"round-{i}", dry_run=True))
                    if args.verbose:
                        print(f"  round {i:2d}: " + " ".join(f"{k} {v[-1] * 1000:.1f}ms" for k, v in warm.items()))
    errlog.close()
    return {"cold": cold, "warmup": warmup, "warm": warm}


def report(result: dict[str, Any]) -> None:
    warm, cold, warmup = result["warm"], result["cold"], result["warmup"]
    print(f"{'warm call (ms)':<16} {'n':>3} {'median':>9} {'p90':>9} {'min':>9} {'max':>9}")
    for name, values in warm.items():
        print(f"{name:<16} {len(values):>3} {_ms(statistics.median(values))} {_ms(p90(values))} "
              f"{_ms(min(values))} {_ms(max(values))}")
    med = {k: statistics.median(v) for k, v in warm.items()}
    print(f"\nratio mcp/direct (median): {med['mcp'] / med['direct']:.2f}x "
          f"(+{(med['mcp'] - med['direct']) * 1000:.1f} ms per call)")
    print(f"ratio mcp/direct (p90):    {p90(warm['mcp']) / p90(warm['direct']):.2f}x")
    print(f"ratio mcp/direct+ (median): {med['mcp'] / med['direct+']:.2f}x "
          f"(+{(med['mcp'] - med['direct+']) * 1000:.1f} ms: MCP + validation + tool layer)")
    print(f"extra MLflow calls of the tool (direct+ - direct): +{(med['direct+'] - med['direct']) * 1000:.1f} ms")

    print(f"\n{'cold first call (s)':<22} {'n':>3} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in cold.items():
        if values:
            print(f"{name:<22} {len(values):>3} {statistics.median(values):>8.3f} "
                  f"{min(values):>8.3f} {max(values):>8.3f}")
    for store in ("new store", "store exists"):
        m, d = cold[f"mcp, {store}"], cold[f"direct, {store}"]
        if m and d:
            print(f"ratio mcp/direct (cold, {store}, median): {statistics.median(m) / statistics.median(d):.2f}x "
                  f"(+{statistics.median(m) - statistics.median(d):.3f} s)")
    print(f"warm-up (first) call of the warm phase, not counted: mcp {warmup['mcp']:.3f}s, "
          f"direct {warmup['direct']:.3f}s (includes this process's `import mlflow` and store migration)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="Warm rounds per side (default 20).")
    parser.add_argument(
        "--cold-rounds", type=int, default=3, help="Cold first calls per side, each in a fresh process (default 3)."
    )
    parser.add_argument("--json", help="Also write every sample to this JSON file.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Print every sample.")
    parser.add_argument("--direct-cold-worker", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct_cold_worker:
        direct_cold_worker(Path(args.direct_cold_worker))
        return 0

    import anyio

    # MLflow logs its store migrations at INFO; keep the report readable (also for the workers).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    print(f"machine: nproc {len(os.sched_getaffinity(0))}, {platform.machine()}, "
          f"load average at start {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"each run: {N_PARAMS} params, {N_METRICS} metrics x {N_STEPS} steps, 1 artifact "
          f"({len(ARTIFACT_TEXT)} bytes), no model; embedded SQLite store on both sides\n")
    tmp = Path(tempfile.mkdtemp(prefix="mlops-logrun-"))
    try:
        result = anyio.run(run_benchmark, args, tmp)
    except Exception:
        log = tmp / "server.stderr"
        if log.exists():
            print(log.read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(result)
    print(f"load average at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps({"versions": versions(), **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
