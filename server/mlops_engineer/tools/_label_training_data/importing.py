"""import_tasks: workspace rows to tasks in batches, skipping rows imported before, with
optional pre-annotations from an MLflow classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._label_training_data.models import ImportInfo, ImportTasks, LabelInput, LabelOutput, Predictions
from mlops_engineer.tools._label_training_data.source import live

KEY = "mlops_key"  # task meta field: the row's identity, so a second import skips it


def read_rows(path: Path) -> list[dict[str, Any]]:
    pd = import_optional("pandas", "labeling")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pd.read_json(path, lines=True)
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            raise ToolError("invalid_input", f"{path.name}: tasks are read from .csv, .jsonl or .parquet files.", "Convert the file, or rename it if the suffix is wrong.")
    except ToolError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a malformed file
        raise ToolError("invalid_input", f"{path.name} could not be read as {suffix[1:]}: {type(exc).__name__}: {str(exc)[:300]}",
                        "Check that the file is complete and in the format its suffix says.") from exc
    # Through JSON: NaN becomes null, numpy and timestamp values plain JSON, as Label Studio stores them.
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def row_keys(rows: list[dict[str, Any]], id_column: str | None) -> list[str]:
    from mlops_engineer.output import stable_digest

    if id_column is None:
        return [stable_digest(row)[:24] for row in rows]
    if rows and id_column not in rows[0]:
        raise ToolError("invalid_input", f"id_column {id_column!r} is not a column of the file: {sorted(rows[0])[:20]}.")
    keys = [str(row.get(id_column)) for row in rows]
    if len(set(keys)) != len(keys):
        raise ToolError("invalid_input", f"id_column {id_column!r} repeats values, so it cannot identify rows.", "Choose a unique column, or omit id_column.")
    return keys


def model_predictions(pred: Predictions, rows: list[dict[str, Any]], text_field: str, labels: tuple[str, ...],
                      ctx: ToolContext) -> list[tuple[str, float | None]]:
    """(label, score) per row from models:/name@alias: predict_proba's top class and probability
    when the model has one, else predict's label with no score."""
    from mlops_engineer.engines.mlflow.backend import check_reachable, fluent, resolve_target

    pd = import_optional("pandas", "labeling")
    np = import_optional("numpy", "labeling")
    columns = pred.feature_columns or [c for c in (rows[0] if rows else {}) if c != text_field]
    missing = [c for c in columns if rows and c not in rows[0]]
    if missing:
        raise ToolError("invalid_input", f"feature_columns not in the file: {missing}.")
    target = resolve_target(ctx.workspace, ctx.settings, pred.tracking_uri)
    check_reachable(target)
    try:
        with fluent(target) as mlflow:
            model = mlflow.pyfunc.load_model(pred.model_uri)
    except Exception as exc:  # MlflowException and friends: an unknown name or alias, a broken artifact
        raise ToolError("not_found", f"Could not load {pred.model_uri} from {target.display_uri}: {str(exc)[:300]}",
                        "Check the model name and alias (register_ml_model's describe action lists them).") from exc
    frame = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)
    raw = model.get_raw_model() if hasattr(model, "get_raw_model") else None
    if raw is not None and hasattr(raw, "predict_proba") and hasattr(raw, "classes_"):
        proba = np.asarray(raw.predict_proba(frame))
        best = proba.argmax(axis=1)
        answers = [(str(raw.classes_[b]), float(proba[i, b])) for i, b in enumerate(best)]
    else:
        answers = [(str(v), None) for v in np.asarray(model.predict(frame)).ravel()]
    unknown = sorted({label for label, _ in answers} - set(labels))
    if unknown:
        raise ToolError("invalid_input", f"The model predicts classes the project does not have: {unknown[:10]} (project labels: {list(labels)[:20]}).",
                        "Use a model trained on the project's labels, or add them to the spec.")
    return answers


def run_import(op: ImportTasks, inp: LabelInput, ctx: ToolContext, out: LabelOutput) -> LabelOutput:
    from mlops_engineer.engines.labeling.client import iter_tasks, project_by_ref, translate_errors
    from mlops_engineer.engines.labeling.config import prediction_result, spec_from_config
    from mlops_engineer.locks import workspace_lock
    from mlops_engineer.output import stable_digest

    path = ctx.workspace.resolve(op.path, must_exist=True)
    rows = read_rows(path)
    keys = row_keys(rows, op.id_column)
    unique = dict(zip(keys, rows, strict=True))  # identical rows (same digest) are one task
    batches = -(-len(unique) // op.batch_size)
    out.planned_calls = [f"read existing task keys of project {op.project!r}",
                         f"import up to {len(unique)} rows in {batches} batch(es) of {op.batch_size}"]
    if op.predictions:
        out.planned_calls.insert(1, f"predict with {op.predictions.model_uri}")
    if inp.dry_run:
        out.imported = ImportInfo(rows=len(rows), imported=0, skipped_existing=0, batches=batches, predictions=0)
        return out
    server, client = live(inp)
    out.server = server.display_url
    with translate_errors(server, f"import tasks into {op.project!r}"):
        project = project_by_ref(client, op.project)
        spec = spec_from_config(project.label_config or "")
        if spec is not None and rows and spec.data_field not in rows[0]:
            raise ToolError("invalid_input", f"The project shows the data field {spec.data_field!r}, which is not a column of {path.name}: {sorted(rows[0])[:20]}.",
                            "Rename the column, or create the project with spec.data_field set to the column to show.")
        answers: dict[str, tuple[str, float | None]] = {}
        if op.predictions:
            if spec is None or spec.kind not in ("classification", "multi_label"):
                raise ToolError("invalid_input", "Pre-annotations from a model need a classification project.",
                                "Import without `predictions`, or create the project with kind classification.")
            answers = dict(zip(unique, model_predictions(op.predictions, list(unique.values()), spec.data_field, spec.labels, ctx), strict=True))
        with workspace_lock(ctx.workspace, "label-import-" + stable_digest([server.display_url, project.id])[:16], check_cancelled=ctx.check_cancelled):
            existing = {str((t.get("meta") or {}).get(KEY)) for t in iter_tasks(client, project.id)}
            todo = [k for k in unique if k not in existing]
            imported = predictions = 0
            for start in range(0, len(todo), op.batch_size):
                ctx.progress(start, len(todo), f"importing tasks {start + 1}-{min(start + op.batch_size, len(todo))}")
                payload = []
                for key in todo[start:start + op.batch_size]:
                    task: dict[str, Any] = {"data": unique[key], "meta": {KEY: key}}
                    if key in answers and spec is not None:
                        label, score = answers[key]
                        task["predictions"] = [{"result": prediction_result(spec, label), "model_version": op.predictions.model_uri,  # type: ignore[union-attr]
                                                **({"score": score} if score is not None else {})}]
                        predictions += 1
                    payload.append(task)
                client.projects.import_tasks(id=project.id, request=payload)
                imported += len(payload)
            ctx.progress(len(todo), len(todo), "imported")
    out.imported = ImportInfo(rows=len(rows), imported=imported, skipped_existing=len(unique) - len(todo),
                              batches=-(-len(todo) // op.batch_size), predictions=predictions,
                              model_version=op.predictions.model_uri if op.predictions else None)
    out.planned_calls = [f"imported {imported} task(s) into project {project.id} ({len(unique) - len(todo)} already there)"]
    out.next_steps = [f'Choose what to label first: {{"action": "next_batch", "project": {project.id}}}']
    return out
