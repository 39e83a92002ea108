"""Label Studio workflows: projects from a typed spec, task import (MLflow pre-annotations),
next batch, training-set export with conflict resolution, inter-annotator agreement.

Export and agreement also read a JSON export file, with no server.
"""

from __future__ import annotations

from mlops_engineer.optional import import_optional
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint
from mlops_engineer.tools._label_training_data.agreement import run_agreement
from mlops_engineer.tools._label_training_data.batch import run_next_batch
from mlops_engineer.tools._label_training_data.export import run_export
from mlops_engineer.tools._label_training_data.importing import run_import
from mlops_engineer.tools._label_training_data.models import (
    CreateProject,
    Export,
    ImportTasks,
    LabelInput,
    LabelOutput,
    NextBatch,
)
from mlops_engineer.tools._label_training_data.project import run_create_project


def run(inp: LabelInput, ctx: ToolContext) -> LabelOutput:
    op = inp.operation
    out = LabelOutput(action=op.action, dry_run=inp.dry_run)
    # The agreement, resolution and import code computes with numpy: without the extra, say which
    # one to install instead of failing inside an engine's import.
    import_optional("numpy", "labeling")
    if isinstance(op, CreateProject):
        return run_create_project(op, inp, ctx, out)
    if isinstance(op, ImportTasks):
        return run_import(op, inp, ctx, out)
    if isinstance(op, NextBatch):
        return run_next_batch(op, inp, ctx, out)
    if isinstance(op, Export):
        return run_export(op, inp, ctx, out)
    return run_agreement(op, inp, ctx, out)


def summarize(out: LabelOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.project:
        state = "created" if out.project.created else "exists"
        return f"{prefix}Project {out.project.id} '{out.project.title}' {state}."
    if out.imported:
        i = out.imported
        return f"{prefix}Imported {i.imported} task(s) ({i.skipped_existing} already there, {i.predictions} with predictions)."
    if out.batch is not None:
        return f"{prefix}Next batch: {out.batch.total_rows} task(s)."
    if out.export:
        e = out.export
        return f"{prefix}Exported {e.rows} labelled task(s) to {e.path} ({', '.join(f'{k}={v}' for k, v in e.sources.items())})."
    if out.agreement:
        a = out.agreement
        alpha = ", ".join(f"alpha[{k}]={v.estimate:.3f}" for k, v in a.alpha.items() if v.estimate is not None)
        fleiss = f", Fleiss' kappa={a.fleiss_kappa.estimate:.3f}" if a.fleiss_kappa.estimate is not None else ""
        return f"Agreement over {a.pairable_items} item(s) by {a.annotators} annotator(s): {alpha}{fleiss}."
    return f"{prefix}{out.action}: " + "; ".join(out.planned_calls)


TOOL = ToolSpec(
    name="label_training_data",
    title="Label training data (Label Studio)",
    description=__doc__ or "",
    input_model=LabelInput,
    output_model=LabelOutput,
    run=run,
    summarize=summarize,
    # destructive: create_project with confirm=true replaces a project's config; export with
    # confirm=true overwrites a file it did not write.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(LabelInput, '{"operation": {"action": "agreement", "export_file": "labels/export.json"}}'),
)
