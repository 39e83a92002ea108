"""Per-trial overhead of `setup_automl_pipeline` optimize against plain Optuna, measured in one run.

The objective is a cheap user callable (a quadratic), so the figures are the cost of the
machinery around a trial, not of training. All sides use a SQLite Optuna storage and
(where they log) the embedded SQLite MLflow store, each in its own fresh folder:

- optuna:         `study.optimize(objective, n_trials=N)` on SQLite storage, nothing logged;
- optuna+mlflow:  the same, each trial a nested MLflow run through the fluent API
                  (parent run resumed per trial, as the rendered study script does);
- tool:           the tool's optimize with log_to_mlflow=false (exact shared budget checks,
                  per-trial progress, one optimize call per loop);
- tool+mlflow:    the tool's optimize with nested MLflow runs via MlflowClient.

Each side runs N trials per round, R rounds, in one process after a warm-up round that
pays the imports; the figure is the median seconds per trial, and the ratio is against
`optuna` (and `tool+mlflow` against `optuna+mlflow`).

    uv run --all-extras python benchmarks/automl.py [--trials 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import versions

SPACE = [{"type": "float", "name": "x", "low": -3.0, "high": 3.0}, {"type": "categorical", "name": "k", "choices": ["a", "b"]}]
OBJECTIVE_SOURCE = "def objective(params):\n    return -(params['x'] - 1.0) ** 2 + (0.1 if params['k'] == 'a' else 0.0)\n"


def _folder() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-automl-"))
    (root / ".mlops").mkdir()
    (root / "bench_objective.py").write_text(OBJECTIVE_SOURCE)
    return root


def optuna_plain(trials: int, mlflow_logging: bool) -> float:
    import optuna

    root = _folder()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{root}/.mlops/optuna.db", study_name="b", direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    if mlflow_logging:
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{root}/.mlops/mlflow.db")
        mlflow.set_experiment("bench")
        parent = mlflow.start_run(run_name="b").info.run_id
        mlflow.end_run()

    def objective(trial: optuna.Trial) -> float:
        params = {"x": trial.suggest_float("x", -3, 3), "k": trial.suggest_categorical("k", ["a", "b"])}
        value = -(params["x"] - 1.0) ** 2 + (0.1 if params["k"] == "a" else 0.0)
        if mlflow_logging:
            with mlflow.start_run(run_id=parent), mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
                mlflow.log_params(params)
                mlflow.log_metric("value", value)
        return value

    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return (time.perf_counter() - start) / trials


def tool(trials: int, mlflow_logging: bool) -> float:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.tools.setup_automl_pipeline import TOOL
    from mlops_engineer.workspace import Workspace

    root = _folder()
    ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root, tracking_uri=None))
    arguments = {"operation": {"action": "optimize", "study_name": "b", "space": SPACE, "n_trials": trials, "pruner": "none",
                               "objective": {"kind": "callable", "function": "bench_objective:objective"},
                               "plots": False, "log_to_mlflow": mlflow_logging}}
    start = time.perf_counter()
    execute(TOOL, arguments, ctx)
    return (time.perf_counter() - start) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    sides = {
        "optuna": lambda: optuna_plain(args.trials, False),
        "optuna+mlflow": lambda: optuna_plain(args.trials, True),
        "tool": lambda: tool(args.trials, False),
        "tool+mlflow": lambda: tool(args.trials, True),
    }
    for run in sides.values():  # warm-up: imports, schema creation
        run()
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, run in sides.items():  # interleaved, so load changes hit every side alike
            samples[name].append(run())
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"versions: {versions()}  trials/round={args.trials} rounds={args.rounds} cpus={os.cpu_count()}")
    for name, value in medians.items():
        peer = "optuna+mlflow" if name == "tool+mlflow" else "optuna"
        print(f"{name:14} {value * 1000:8.1f} ms/trial   x{value / medians['optuna']:.2f} vs optuna"
              + (f"   x{value / medians[peer]:.2f} vs {peer}" if peer != "optuna" else ""))


if __name__ == "__main__":
    main()
