"""The same registered scikit-learn model served two ways, under the same load, in the same run:

- ours: `deploy_ml_model_serving serve` (BentoML, batching, request schema from the signature);
  with `--before DIR` also the build in DIR (its own service, started through that build's tool in a
  worker process: see _sides.py);
- peer: `mlflow models serve --env-manager local -w 1` (MLflow's own scoring server; `--mlflow-workers`
  adds more peers, e.g. 1,2).

Every server listens on loopback; one client (engines/serving/http_load.py, keep-alive connections,
N threads) sends the same single-row request to each, for each concurrency of the sweep, rounds
interleaved (the order of the servers rotates) so all share the machine's noise. Reported per
concurrency: p50/p99 latency and requests per second (medians over rounds), errors, and for BentoML
the batch sizes that formed (rows per model call, from /metrics before and after each load:
`mlops_engineer_batch_size`, or BentoML's adaptive batch histogram for the build before).

Programs are started from this interpreter's environment (its bin folder first on PATH), so the
benchmark runs from a virtual environment nobody activated.

    uv run --all-extras python benchmarks/serving.py                    # 3 rounds x 400 requests at 1, 4, 8, 16 clients
    uv run --all-extras python benchmarks/serving.py --concurrency 8 --rounds 5 --before /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from _common import versions

from mlops_engineer.demos.champion import FEATURES, make_churn_data
from mlops_engineer.engines import local_services as ls
from mlops_engineer.engines.serving.http_load import run_load
from mlops_engineer.registry import load_registry
from mlops_engineer.runtime import ToolContext, execute
from mlops_engineer.settings import Settings
from mlops_engineer.workspace import Workspace

MODEL = "bench-churn"


def _setup(root: Path) -> tuple[ToolContext, str]:
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier

    data = make_churn_data(2000)
    (root / "data").mkdir(parents=True)
    (root / "models").mkdir()
    data[FEATURES].head(20).to_csv(root / "data/sample.csv", index=False)
    joblib.dump(GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(data[FEATURES], data.churned),
                root / "models/gbm.joblib")
    ctx = _ctx(root)
    registry = load_registry()

    def call(tool: str, op: dict) -> Any:
        return execute(registry.tool(tool), {"operation": op}, ctx)

    run = call("track_ml_experiments", {"action": "log_run", "experiment": "bench", "run_name": "gbm",
                                        "model": {"path": "models/gbm.joblib", "input_example": "data/sample.csv"}}).run
    version = call("register_ml_model", {"action": "register", "name": MODEL, "run_id": run.run_id}).version.version
    call("register_ml_model", {"action": "set_alias", "name": MODEL, "alias": "champion", "version": version})
    return ctx, f"models:/{MODEL}@champion"


def _ctx(root: Path) -> ToolContext:
    return ToolContext(workspace=Workspace(root), settings=Settings(workspace=root, tracking_uri=None))


def side_serve(root: str, uri: str, name: str) -> dict[str, str]:
    """In a worker (see _sides.py): serve the model with this build's tool; its URL and bento tag."""
    spec = load_registry().tool("deploy_ml_model_serving")
    out = execute(spec, {"operation": {"action": "serve", "model_uri": uri, "service_name": name, "load_requests": 0}}, _ctx(Path(root)))
    return {"url": out.deployment.url, "tag": out.bento_tag}


def side_stop(root: str, name: str) -> None:
    spec = load_registry().tool("deploy_ml_model_serving")
    execute(spec, {"operation": {"action": "stop", "name": name}}, _ctx(Path(root)))


BATCH_METRICS = ("mlops_engineer_batch_size", "bentoml_service_adaptive_batch_size")  # ours; BentoML's adaptive batcher (before)


def batch_sizes(url: str) -> dict[str, float]:
    """The rows-per-model-call histogram (summed over workers): sum, count, and count of calls with one row."""
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    out = {"sum": 0.0, "count": 0.0, "ones": 0.0}
    for line in text.splitlines():
        family = next((m for m in BATCH_METRICS if line.startswith(m)), None)
        if family is None:
            continue
        name, value = line.rsplit(" ", 1)
        if name.startswith(family + "_sum"):
            out["sum"] += float(value)
        elif name.startswith(family + "_count"):
            out["count"] += float(value)
        elif 'le="1.0"' in name:
            out["ones"] += float(value)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", default="1,4,8,16", help="client counts of the sweep")
    parser.add_argument("--mlflow-workers", default="1", help="peers: `mlflow models serve -w N` for each N")
    parser.add_argument("--before", type=Path, help="source tree of the build to compare with (see _sides.py)")
    parser.add_argument("--json", type=Path, help="write every round's figures here")
    args = parser.parse_args()
    print("versions:", versions(), "| load average at start:", os.getloadavg())
    from _sides import Side

    # Imported here: a worker running the build before this change imports this module too.
    from mlops_engineer.engines.serving.bentoml_service import with_interpreter_scripts

    root = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    ctx, uri = _setup(root)
    row = json.loads(make_churn_data(5)[FEATURES].head(1).to_json(orient="records"))
    spec = load_registry().tool("deploy_ml_model_serving")
    ours = execute(spec, {"operation": {"action": "serve", "model_uri": uri, "service_name": "bench-after", "load_requests": 0}}, ctx)
    targets: dict[str, tuple[str, str, dict[str, Any], bool]] = {"bentoml (ours)": (ours.deployment.url, "/predict", {"rows": row}, True)}
    before = Side("before", args.before) if args.before else None
    peers = []
    try:
        if before:
            served = before.call("serving:side_serve", root=str(root), uri=uri, name="bench-before")
            targets["bentoml (before)"] = (served["url"], "/predict", {"rows": row}, True)
        env = with_interpreter_scripts({**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / '.mlops/mlflow.db'}",
                                        "MLFLOW_DISABLE_TELEMETRY": "true"})
        for workers in args.mlflow_workers.split(","):
            port = ls.free_port()
            name = f"mlflow-serve-{workers}"
            peer = ls.start_service(
                ctx.workspace.state_dir, name,
                [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
                 "-w", workers], port=port, kind="benchmark", health_path="/health", base_env=env, cwd=root, timeout=300,
            )
            peers.append(name)
            targets[f"mlflow serve -w {workers}"] = (peer.url, "/invocations", {"dataframe_records": row}, False)
        results: dict[str, dict[str, list[dict[str, Any]]]] = {}
        names = list(targets)
        for r in range(args.rounds):
            for clients in [int(c) for c in args.concurrency.split(",")]:
                order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
                for name in order:
                    url, path, payload, bento = targets[name]
                    start = batch_sizes(url) if bento else None
                    res = vars(run_load(url, path, payload, args.requests, clients, warmup=10))
                    if start is not None:
                        end = batch_sizes(url)
                        batches = end["count"] - start["count"]
                        res["mean_batch"] = (end["sum"] - start["sum"]) / batches if batches else None
                        res["batches_of_one"] = (end["ones"] - start["ones"]) / batches if batches else None
                    results.setdefault(str(clients), {}).setdefault(name, []).append(res)
                    batch = f"  mean batch {res['mean_batch']:.2f} ({res['batches_of_one']:.0%} of one)" if res.get("mean_batch") else ""
                    print(f"round {r + 1} {clients:2d} clients {name:22} p50 {res['p50_ms']:7.2f} ms  p99 {res['p99_ms']:8.2f} ms  "
                          f"{res['requests_per_second']:7.1f} req/s  errors {res['errors']}{batch}", flush=True)
    finally:
        for name in peers:
            ls.stop_service(ctx.workspace.state_dir, name)
        ls.stop_service(ctx.workspace.state_dir, ours.service_name)
        if before:
            before.call("serving:side_stop", root=str(root), name="bench-before")
            before.close()

    print(f"\nmedians over {args.rounds} rounds of {args.requests} one-row requests:")
    print(f"{'clients':>7} {'server':22} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9} {'errors':>7} {'mean batch':>11} {'batches of 1':>13}")
    medians: dict[str, dict[str, dict[str, float | None]]] = {}
    for clients, by_server in results.items():
        for name, rounds in by_server.items():
            m: dict[str, float | None] = {k: statistics.median(x[k] for x in rounds) for k in ("p50_ms", "p99_ms", "requests_per_second")}
            batches = [x["mean_batch"] for x in rounds if x.get("mean_batch")]
            ones = [x["batches_of_one"] for x in rounds if x.get("batches_of_one") is not None]
            m["mean_batch"] = statistics.median(batches) if batches else None
            m["batches_of_one"] = statistics.median(ones) if ones else None
            medians.setdefault(clients, {})[name] = m
            errors = sum(x["errors"] for x in rounds)
            batch = f"{m['mean_batch']:11.2f} {m['batches_of_one']:12.0%}" if m["mean_batch"] else f"{'':11} {'':13}"
            print(f"{clients:>7} {name:22} {m['p50_ms']:9.2f} {m['p99_ms']:9.2f} {m['requests_per_second']:9.1f} {errors:7d} {batch}")
        a, b = medians[clients]["bentoml (ours)"], medians[clients][f"mlflow serve -w {args.mlflow_workers.split(',')[0]}"]
        print(f"{clients:>7} ours/mlflow: throughput {a['requests_per_second'] / b['requests_per_second']:.2f}x, "  # type: ignore[operator]
              f"p50 {a['p50_ms'] / b['p50_ms']:.2f}x, p99 {a['p99_ms'] / b['p99_ms']:.2f}x")  # type: ignore[operator]
    print("load average at end:", os.getloadavg())
    if args.json:
        args.json.write_text(json.dumps({"results": results, "medians": medians, "versions": versions()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
