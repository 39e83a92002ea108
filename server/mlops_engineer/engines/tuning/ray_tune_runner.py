"""Ray Tune driver, run as its own process: `python -m mlops_engineer.engines.tuning.ray_tune_runner spec.json`.

Why a subprocess and not `ray.init()` inside the MCP server: the server's stdout is
the JSON-RPC transport, and Ray's driver prints to stdout/stderr, installs signal
handlers (main thread only; tools run in worker threads), keeps process-wide global
state that a second call with another address would hijack, and starts raylet/GCS
children for a local cluster. In a child process all of that is contained: its
output goes to a log file, a cancel is a SIGINT that Tune turns into a clean stop,
and when the process group ends no Ray process can outlive the call.

The driver writes one JSON line per finished trial to the events file (the tool
tails it for progress and MLflow logging) and a summary to the result file.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

_CACHE: dict[str, Any] = {}


def _objective(payload: dict[str, Any]) -> tuple[Any, list[Any]]:
    """Build (and cache per worker process) the objective and the space from their JSON spec."""
    key = json.dumps(payload, sort_keys=True)
    if key not in _CACHE:
        from pydantic import TypeAdapter

        from mlops_engineer.engines.tuning.objective import ObjectiveSpec, load_objective
        from mlops_engineer.engines.tuning.space import Param

        space = TypeAdapter(list[Param]).validate_python(payload["space"])
        spec = TypeAdapter(ObjectiveSpec).validate_python(payload["objective"])
        objective = load_objective(spec, Path(payload["root"]), [p.name for p in space], payload.get("seed"),
                                   allow_external=bool(payload.get("allow_external_callables")))
        _CACHE[key] = (objective, space)
    return _CACHE[key]  # type: ignore[no-any-return]


def trainable(config: dict[str, Any], payload: dict[str, Any]) -> None:
    """One Tune trial: every reported step is a fold (built-in) or a user `report` call."""
    from ray import tune

    objective, _ = _objective(payload)
    metric = objective.metric_names[0]
    steps = [0]

    def report(value: float, step: int) -> None:
        steps[0] = max(steps[0], int(step))
        tune.report({metric: float(value), "step": int(step)})

    params = {k: v for k, v in config.items() if not k.startswith("_")}
    values = objective(params, report)
    if payload["objective"]["kind"] == "callable" or steps[0] == 0:
        tune.report({metric: float(values[0]), "step": steps[0] + 1})


def define_space(trial: Any, space: list[Any]) -> None:
    """OptunaSearch's define-by-run space: the same `suggest` the Optuna backend uses."""
    from mlops_engineer.engines.tuning.space import suggest

    suggest(trial, space)


def _callback_class() -> Any:
    from ray import tune

    class Events(tune.Callback):
        """Append one JSON line per finished trial; the tool reads them as they come."""

        def __init__(self, path: str, metric: str, max_t: int, estimator: bool) -> None:
            self.path, self.metric, self.max_t, self.estimator = path, metric, max_t, estimator

        def _write(self, trial: Any, state: str, error: str | None = None) -> None:
            result = trial.last_result or {}
            iteration = int(result.get("training_iteration") or 0)
            if state == "COMPLETE" and self.estimator and 0 < iteration < self.max_t:
                state = "PRUNED"  # ASHA stopped it before the last fold
            line = {
                "trial_id": trial.trial_id,
                "state": state,
                "params": {k: v for k, v in trial.config.items() if not str(k).startswith("_")},
                "value": result.get(self.metric),
                "iterations": iteration,
                "seconds": result.get("time_total_s"),
                "error": error,
            }
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, default=str) + "\n")

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self._write(trial, "COMPLETE")

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self._write(trial, "FAIL", str(getattr(trial, "error_file", "") or "trial raised an exception"))

    return Events


def run(spec: dict[str, Any]) -> dict[str, Any]:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from mlops_engineer.engines.tuning.optuna_study import make_sampler

    payload = {k: spec[k] for k in ("space", "objective", "root", "seed")}
    objective, space = _objective(payload)  # fail here, in the driver, before Ray starts
    metric, mode = objective.metric_names[0], "max" if objective.directions[0] == "maximize" else "min"

    _init(ray, spec)
    try:
        searcher = OptunaSearch(
            space=functools.partial(define_space, space=space),  # picklable: Tune checkpoints the searcher
            metric=metric, mode=mode, sampler=make_sampler(spec["sampler"], spec.get("seed"), False), seed=spec.get("seed"),
        )
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=spec["max_t"], grace_period=spec["grace_period"],
                                  reduction_factor=spec["reduction_factor"])
        events = _callback_class()(spec["events"], metric, spec["max_t"], payload["objective"]["kind"] == "estimator")
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(trainable, payload=payload), {"cpu": spec["cpus_per_trial"]}),
            tune_config=tune.TuneConfig(
                metric=metric, mode=mode, search_alg=ConcurrencyLimiter(searcher, max_concurrent=spec["max_concurrent"]),
                scheduler=scheduler, num_samples=spec["num_samples"], reuse_actors=True,
            ),
            run_config=tune.RunConfig(name=spec["name"], storage_path=spec["storage_path"], callbacks=[events], verbose=0),
        )
        grid = tuner.fit()
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        best = None
        try:
            result = grid.get_best_result(metric=metric, mode=mode)
            best = {"params": {k: v for k, v in result.config.items() if not str(k).startswith("_")}, "value": result.metrics.get(metric)}
        except RuntimeError:
            pass
        return {"status": "ok", "trials": len(grid), "errors": len(grid.errors), "best": best, "nodes": nodes, "metric": metric, "mode": mode}
    finally:
        ray.shutdown()


def _init(ray: Any, spec: dict[str, Any], attempts: int = 3) -> None:
    """Connect to the cluster, or start a local Ray.

    A local node's raylet gives up when its agent process is slow to start (seen on a
    busy 2-core machine: "The current node timed out during startup"); that is worth
    another try rather than a failed call.
    """
    if spec.get("address"):
        ray.init(address=spec["address"], log_to_driver=False, logging_level="WARNING")
        return
    for attempt in range(1, attempts + 1):
        try:
            ray.init(
                address="local", num_cpus=spec["num_cpus"], include_dashboard=False, log_to_driver=False,
                object_store_memory=spec["object_store_bytes"], _temp_dir=spec.get("temp_dir"), logging_level="WARNING",
            )
            return
        except Exception as exc:
            if attempt == attempts or "timed out during startup" not in str(exc):
                raise
            print(f"local Ray did not start (attempt {attempt}): {exc}; retrying", file=sys.stderr, flush=True)
            ray.shutdown()
            _kill_children()  # the failed node's GCS and agents are not known to ray.shutdown()


def _kill_children() -> None:
    """SIGKILL every descendant of this process (Linux /proc); the driver has no other children."""
    import signal

    def children(pid: int) -> list[int]:
        found: list[int] = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return found

    pending, seen = children(os.getpid()), []
    while pending:
        pid = pending.pop()
        seen.append(pid)
        pending += children(pid)
    for pid in seen:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text("utf-8"))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        summary = run(spec)
    except KeyboardInterrupt:
        summary = {"status": "cancelled"}
    except Exception as exc:  # reported to the tool through the result file
        traceback.print_exc()
        summary = {"status": "error", "error": f"{type(exc).__name__}: {exc}", "code": getattr(exc, "code", "failed"),
                   "hint": getattr(exc, "hint", "")}
    Path(spec["result"]).write_text(json.dumps(summary, default=str), "utf-8")
    return 0 if summary["status"] in ("ok", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
