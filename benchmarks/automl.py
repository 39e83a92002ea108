"""Per-trial overhead of `setup_automl_pipeline` optimize against plain Optuna, measured in one run.

The objective is a cheap user callable (a quadratic), so the figures are the cost of the
machinery around a trial, not of training. All sides use a SQLite Optuna storage and
(where they log) the embedded SQLite MLflow store, each in its own fresh folder:

- optuna:         `study.optimize(objective, n_trials=N)` on SQLite storage, nothing logged;
- optuna+mlflow:  the same, each trial a nested MLflow run through the fluent API
                  (parent run resumed per trial, as the rendered study script does);
- tool:           the tool's optimize with log_to_mlflow=false (exact shared budget checks,
                  per-trial progress, one optimize call per loop);
- tool+mlflow:    the tool's optimize with nested MLflow runs via MlflowClient;
- before tool, before tool+mlflow: the same on the build in `--before DIR` (see _sides.py).

Every side starts with its stores created (Optuna's and MLflow's SQLite files, the
experiment, the parent run; for the tool, one untimed call on another study), so the timed
part is N trials. Each side runs in a worker process (one per build), N trials per round,
R rounds interleaved with a rotating order, after a warm-up that pays the imports; the
figure is the median seconds per trial, and the ratio is against `optuna` (and
`tool+mlflow` against `optuna+mlflow`).

    uv run --all-extras python benchmarks/automl.py [--trials 20,500] [--rounds 3] [--before /tmp/before]
    uv run --all-extras python benchmarks/automl.py --trials 0 --budget-sizes 20,500,2000   # the budget check alone
"""

from __future__ import annotations

import argparse
import os
import statistics
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
    """The tool's optimize: N new trials in a study of its own, in a workspace whose stores exist
    (a first, untimed call made them, as in any project after its first tuning call)."""
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.tools.setup_automl_pipeline import TOOL
    from mlops_engineer.workspace import Workspace

    root = _folder()
    ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root, tracking_uri=None))

    def arguments(study: str, n: int) -> dict[str, object]:
        return {"operation": {"action": "optimize", "study_name": study, "space": SPACE, "n_trials": n, "pruner": "none",
                              "objective": {"kind": "callable", "function": "bench_objective:objective"},
                              "plots": False, "log_to_mlflow": mlflow_logging}}

    execute(TOOL, arguments("setup", 2), ctx)
    start = time.perf_counter()
    execute(TOOL, arguments("b", trials), ctx)
    return (time.perf_counter() - start) / trials


def budget_checks(sizes: list[int], repeat: int = 30) -> list[dict[str, float]]:
    """What the shared budget costs per trial against the study's size, on SQLite: the three trial
    listings the build before made per trial (`study.get_trials` of finished + running trials before
    the trial, finished trials twice after it) against the two count queries made now."""
    return [{"trials": size, **_budget_check(size, repeat)} for size in sizes]


def _budget_check(size: int, repeat: int) -> dict[str, float]:
    import optuna
    from optuna.trial import TrialState, create_trial

    from mlops_engineer.engines.tuning import optuna_study as engine
    from mlops_engineer.workspace import Workspace

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    target = engine.resolve_storage(Workspace(_folder()), None)
    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    with engine.storage_session(target) as storage:
        study = optuna.create_study(storage=storage, study_name="budget", direction="maximize")
        dist = {"x": optuna.distributions.FloatDistribution(-3, 3)}
        for i in range(size):
            study.add_trial(create_trial(value=float(i), params={"x": 0.0}, distributions=dist))
        running = study.ask()
        study_id = storage.get_study_id_from_name("budget")

        def listings() -> None:
            others = study.get_trials(deepcopy=False, states=(*finished, TrialState.RUNNING))
            sum(1 for t in others if t.state != TrialState.RUNNING or t.number < running.number)
            len(study.get_trials(deepcopy=False, states=finished))
            len(study.get_trials(deepcopy=False, states=finished))

        def counts() -> None:
            engine.trial_counts(storage, study_id, running.number)
            engine.trial_counts(storage, study_id)

        timings = {}
        for label, check in (("listings (before)", listings), ("counts (now)", counts)):
            check()
            start = time.perf_counter()
            for _ in range(repeat):
                check()
            timings[label] = (time.perf_counter() - start) / repeat
    return timings


def side(kind: str, trials: int) -> float:
    """In a worker (see _sides.py): seconds per trial of one side."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    if kind.startswith("optuna"):
        return optuna_plain(trials, kind.endswith("+mlflow"))
    return tool(trials, kind.endswith("+mlflow"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", default="20", help="comma-separated trial counts, e.g. 20,500")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="source tree of the build to compare with (see _sides.py)")
    parser.add_argument("--budget-sizes", default="", help="also time the budget check alone on studies of these sizes, e.g. 20,500,2000")
    args = parser.parse_args()
    from _sides import Side

    if args.budget_sizes:
        print(f"budget check per trial (ms) against the study's finished trials; load average {os.getloadavg()}")
        for row in budget_checks([int(n) for n in args.budget_sizes.split(",")]):
            print(f"  {row['trials']:6d} trials: listings (before) {row['listings (before)'] * 1000:7.2f}   counts (now) {row['counts (now)'] * 1000:6.2f}")
        if args.trials == "0":
            return

    print(f"versions: {versions()} rounds={args.rounds} cpus={os.cpu_count()} load average at start: {os.getloadavg()}")
    after = Side("after", None)
    before = Side("before", args.before) if args.before else None
    sides = [("optuna", after, "optuna"), ("optuna+mlflow", after, "optuna+mlflow"), ("tool", after, "tool"), ("tool+mlflow", after, "tool+mlflow")]
    if before:
        sides += [("before tool", before, "tool"), ("before tool+mlflow", before, "tool+mlflow")]
    for _label, worker, kind in sides:  # warm-up: imports, schema creation
        worker.call("automl:side", kind=kind, trials=3)
    for trials in [int(t) for t in args.trials.split(",")]:
        samples: dict[str, list[float]] = {label: [] for label, _, _ in sides}
        for round_no in range(args.rounds):
            order = sides[round_no % len(sides):] + sides[:round_no % len(sides)]  # rotate who goes first
            for label, worker, kind in order:  # interleaved, so load changes hit every side alike
                samples[label].append(worker.call("automl:side", kind=kind, trials=trials))
            print(f"  {trials} trials, round {round_no + 1}: " + ", ".join(f"{k} {v[-1] * 1000:.1f}" for k, v in samples.items()), flush=True)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        print(f"{trials} trials a call, median of {args.rounds} rounds (ms per trial):")
        for name, value in medians.items():
            peer = "optuna+mlflow" if name.endswith("tool+mlflow") else "optuna"
            print(f"  {name:20} {value * 1000:8.1f}   x{value / medians['optuna']:.2f} vs optuna"
                  + (f"   x{value / medians[peer]:.2f} vs {peer}" if peer != "optuna" else ""))
    for worker in (after, before):
        if worker:
            worker.close()
    print("load average at end:", os.getloadavg())


if __name__ == "__main__":
    main()
