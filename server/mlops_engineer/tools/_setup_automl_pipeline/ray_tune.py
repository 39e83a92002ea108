"""Action ray_tune: the same spec on Ray Tune (OptunaSearch + ASHA), driven from a child process."""

from __future__ import annotations

from typing import Any

from mlops_engineer.engines.tuning.objective import EstimatorObjective
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._setup_automl_pipeline.models import (
    AutomlInput,
    AutomlOutput,
    RayTune,
    StudyInfo,
    TrialSummary,
)
from mlops_engineer.tools._setup_automl_pipeline.studies import load_objective
from mlops_engineer.tools._setup_automl_pipeline.tracking import Tracker


def run_ray_tune(op: RayTune, inp: AutomlInput, ctx: ToolContext, out: AutomlOutput) -> AutomlOutput:
    import json
    import os

    from mlops_engineer.engines.tuning import ray_tune as engine
    from mlops_engineer.engines.tuning.mlflow_runs import TrialRecord
    from mlops_engineer.engines.tuning.optuna_study import safe_name, study_dir
    from mlops_engineer.errors import ToolError
    from mlops_engineer.optional import import_optional
    from mlops_engineer.output import preview_table, stable_digest

    import_optional("ray", "tuning")
    import_optional("optuna", "tuning")
    objective = load_objective(op, ctx)  # validated here, before Ray starts
    if op.ray_address:
        engine.check_address(op.ray_address)
    max_t = op.max_t or (op.objective.cv_folds if isinstance(op.objective, EstimatorObjective) else 10)
    if op.grace_period > max_t:
        raise ToolError("invalid_input", f"grace_period ({op.grace_period}) is larger than max_t ({max_t}).", "Lower grace_period or raise max_t.")
    where = op.ray_address or "a local Ray"
    digest = stable_digest(op.model_dump(mode="json", exclude={"ray_address", "max_concurrent", "num_cpus"}))[:16]
    storage = f"ray:{safe_name(op.study_name)}:{digest}"  # a changed spec is a new search with its own parent run
    out.planned_calls = [
        f"start a Ray Tune driver process on {where}: OptunaSearch ({op.sampler}) + ASHA (max_t={max_t}, grace={op.grace_period}, eta={op.reduction_factor})",
        f"{op.n_trials} trials, at most {op.max_concurrent} at once, {op.cpus_per_trial:g} CPU each",
        *(["log each finished trial as a nested MLflow run"] if op.log_to_mlflow else []),
    ]
    if inp.dry_run:
        return out

    folder = study_dir(ctx.workspace, op.study_name) / "ray"
    done_file = folder / f"done-{digest}.json"
    tracker = Tracker(inp, op, ctx, "ray", storage) if op.log_to_mlflow else None
    events: list[dict[str, Any]] = []

    if done_file.exists():  # the same spec finished before: answer from its record, run nothing
        saved = json.loads(done_file.read_text("utf-8"))
        events, summary, new = saved["events"], saved["summary"], 0
    else:
        def on_event(event: dict[str, Any]) -> None:
            event["number"] = len(events)
            events.append(event)
            if tracker is not None:
                values = [float(event["value"])] if event["state"] == "COMPLETE" and event.get("value") is not None else None
                event["mlflow_run_id"] = tracker.log(TrialRecord(event["number"], event["state"], event["params"], values,
                                                                 objective.metric_names, {}, event.get("seconds"), event.get("error")))
            shown = f"{objective.metric_names[0]}={event['value']:.4g}" if isinstance(event.get("value"), int | float) else ""
            ctx.on_progress(len(events), op.n_trials, f"ray trial {event['number']} {event['state'].lower()} {shown}".strip())

        spec = {
            "root": str(ctx.workspace.root), "allow_external_callables": ctx.settings.allow_external_callables, "name": f"{safe_name(op.study_name)}-{digest}", "storage_path": str(folder / "results"),
            "space": [p.model_dump(mode="json") for p in op.space], "objective": op.objective.model_dump(mode="json"),
            "seed": op.seed, "num_samples": op.n_trials, "max_concurrent": op.max_concurrent, "cpus_per_trial": op.cpus_per_trial,
            "address": op.ray_address, "num_cpus": op.num_cpus, "object_store_bytes": 100 * 1024 * 1024,
            # Ray's session folder for a local Ray; its socket paths must stay short (< 108 bytes).
            "temp_dir": os.environ.get("MLOPS_ENGINEER_RAY_TEMP_DIR") or None,
            "sampler": op.sampler, "max_t": max_t, "grace_period": op.grace_period, "reduction_factor": op.reduction_factor,
        }
        summary = engine.run(spec, folder, cancelled=ctx.cancelled.is_set, on_event=on_event)
        new = len(events)
        if summary.get("status") == "ok":
            done_file.write_text(json.dumps({"summary": summary, "events": events}, default=str), "utf-8")

    metric = objective.metric_names[0]
    maximize = objective.directions[0] == "maximize"
    complete = [e for e in events if e["state"] == "COMPLETE" and isinstance(e.get("value"), int | float)]
    best_event = (max if maximize else min)(complete, key=lambda e: e["value"]) if complete else None
    best = TrialSummary(number=best_event["number"], state="COMPLETE", values={metric: float(best_event["value"])}, params=best_event["params"],
                        mlflow_run_id=best_event.get("mlflow_run_id")) if best_event else None
    counts = {s: sum(1 for e in events if e["state"] == s) for s in ("COMPLETE", "PRUNED", "FAIL")}
    info = StudyInfo(
        name=op.study_name, backend="ray", storage=str(folder.relative_to(ctx.workspace.root) / "results"), metrics=[metric],
        directions=objective.directions, finished=counts["COMPLETE"] + counts["PRUNED"], complete=counts["COMPLETE"],
        pruned=counts["PRUNED"], failed=counts["FAIL"], new_trials=new, best=best,
        stopped_by="cancelled" if summary.get("status") == "cancelled" else ("budget" if new else "done"),
    )
    if tracker is not None:
        out.mlflow = tracker.finish(info.finished, best, "KILLED" if info.stopped_by == "cancelled" else "FINISHED")
        if best is not None:
            best.mlflow_run_id = best.mlflow_run_id or tracker.logged.get(best.number)
    out.study = info
    out.ray_nodes = summary.get("nodes")
    rows = [{"number": e["number"], "state": e["state"], metric: e.get("value"), **{f"params.{k}": v for k, v in e["params"].items()},
             "steps": e.get("iterations"), "seconds": e.get("seconds"), "mlflow_run_id": e.get("mlflow_run_id")} for e in events]
    out.trials = preview_table(ctx.workspace, f"ray-trials-{op.study_name}", rows)
    if info.stopped_by == "cancelled":
        raise ToolError("cancelled", f"Ray Tune run '{op.study_name}' stopped on cancel; {info.finished} finished trial(s) are logged.",
                        "Call again to run the search afresh.")
    out.next_steps = ["Optuna with PostgreSQL storage (action optimize) resumes a study across calls; Ray Tune reruns only when the spec changes."]
    return out
