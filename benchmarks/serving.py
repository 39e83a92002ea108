"""The same registered scikit-learn model served two ways, under the same load, in the same run:

- ours: `deploy_ml_model_serving serve` (BentoML, adaptive batching, request schema from the signature);
- peer: `mlflow models serve --env-manager local` (MLflow's own scoring server).

Both listen on loopback; one client (engines/serving/http_load.py, keep-alive connections, N threads)
sends the same single-row request to each, rounds interleaved so both share the machine's noise.
Prints p50/p99 latency and requests per second (medians over rounds) and the ratios ours/peer.

    uv run --all-extras python benchmarks/serving.py               # 3 rounds x 300 requests, 4 clients
    uv run --all-extras python benchmarks/serving.py --rounds 5 --requests 500 --concurrency 8
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

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
    ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root, tracking_uri=None))
    registry = load_registry()

    def call(tool: str, op: dict) -> object:
        return execute(registry.tool(tool), {"operation": op}, ctx)

    run = call("track_ml_experiments", {"action": "log_run", "experiment": "bench", "run_name": "gbm",
                                        "model": {"path": "models/gbm.joblib", "input_example": "data/sample.csv"}}).run
    version = call("register_ml_model", {"action": "register", "name": MODEL, "run_id": run.run_id}).version.version
    call("register_ml_model", {"action": "set_alias", "name": MODEL, "alias": "champion", "version": version})
    return ctx, f"models:/{MODEL}@champion"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", type=Path, help="write every round's figures here")
    args = parser.parse_args()
    print("versions:", versions(), "| load average at start:", os.getloadavg())

    root = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    ctx, uri = _setup(root)
    row = json.loads(make_churn_data(5)[FEATURES].head(1).to_json(orient="records"))
    spec = load_registry().tool("deploy_ml_model_serving")
    ours = execute(spec, {"operation": {"action": "serve", "model_uri": uri, "load_requests": 0}}, ctx)
    port = ls.free_port()
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root / '.mlops/mlflow.db'}", "MLFLOW_DISABLE_TELEMETRY": "true"}
    peer = ls.start_service(
        ctx.workspace.state_dir, "mlflow-serve",
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        port=port, kind="benchmark", health_path="/health", env=env, cwd=root, timeout=300,
    )
    targets = {
        "bentoml (ours)": (ours.deployment.url, "/predict", {"rows": row}),
        "mlflow models serve": (peer.url, "/invocations", {"dataframe_records": row}),
    }
    results: dict[str, list[dict]] = {name: [] for name in targets}
    try:
        for r in range(args.rounds):
            order = list(targets) if r % 2 == 0 else list(reversed(targets))
            for name in order:
                url, path, payload = targets[name]
                res = run_load(url, path, payload, args.requests, args.concurrency, warmup=10)
                results[name].append(vars(res))
                print(f"round {r + 1} {name:20} p50 {res.p50_ms:7.2f} ms  p99 {res.p99_ms:8.2f} ms  {res.requests_per_second:7.1f} req/s  errors {res.errors}")
    finally:
        ls.stop_service(ctx.workspace.state_dir, "mlflow-serve")
        ls.stop_service(ctx.workspace.state_dir, ours.service_name)

    med = {name: {k: statistics.median(r[k] for r in rounds) for k in ("p50_ms", "p99_ms", "requests_per_second")}
           for name, rounds in results.items()}
    print(f"\nmedians over {args.rounds} rounds of {args.requests} requests, {args.concurrency} clients, one-row requests:")
    print(f"{'server':22} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9} {'errors':>7}")
    for name, m in med.items():
        errors = sum(r["errors"] for r in results[name])
        print(f"{name:22} {m['p50_ms']:9.2f} {m['p99_ms']:9.2f} {m['requests_per_second']:9.1f} {errors:7d}")
    a, b = med["bentoml (ours)"], med["mlflow models serve"]
    print(f"ratio ours/peer: p50 {a['p50_ms'] / b['p50_ms']:.2f}x, p99 {a['p99_ms'] / b['p99_ms']:.2f}x, "
          f"throughput {a['requests_per_second'] / b['requests_per_second']:.2f}x")
    print("load average at end:", os.getloadavg())
    if args.json:
        args.json.write_text(json.dumps({"results": results, "medians": med, "versions": versions()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
