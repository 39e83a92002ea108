"""Where an action's tasks come from: a live Label Studio project, or an export file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_engineer.engines.labeling.config import Spec
from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._label_training_data.models import Agreement, Export, LabelInput


@dataclass
class Source:
    tasks: list[dict[str, Any]]
    spec: Spec
    server: str | None  # display URL, None for a file
    project_id: int | None
    names: dict[str, str]  # annotator id -> email (live only)
    description: str


def live(inp: LabelInput) -> tuple[Any, Any]:
    """(server, client) for the call's connection, checked to answer."""
    from mlops_engineer.engines.labeling.client import connect, server_from

    server = server_from(inp.url, inp.api_key.get_secret_value() if inp.api_key else None)
    return server, connect(server)


def check_one_source(op: Export | Agreement) -> None:
    if (op.project is None) == (op.export_file is None):
        raise ToolError("invalid_input", "Give exactly one of `project` (a live Label Studio project) or `export_file` (a JSON export).",
                        '{"action": "agreement", "export_file": "labels/export.json"}')


def load_source(op: Export | Agreement, inp: LabelInput, ctx: ToolContext) -> Source:
    from mlops_engineer.engines.labeling.client import annotator_emails, iter_tasks, project_by_ref, translate_errors
    from mlops_engineer.engines.labeling.config import spec_from_config
    from mlops_engineer.engines.labeling.tasks import infer_spec, read_export_file

    check_one_source(op)
    if op.export_file is not None:
        path = ctx.workspace.resolve(op.export_file, must_exist=True)
        tasks = read_export_file(path)
        return Source(tasks, infer_spec(tasks, op.control), None, None, {}, ctx.workspace.relative(path))
    server, client = live(inp)
    assert op.project is not None
    with translate_errors(server, f"read project {op.project!r}"):
        project = project_by_ref(client, op.project)
        tasks = list(iter_tasks(client, project.id, lambda n: ctx.progress(n, getattr(project, "task_number", None), "reading tasks")))
        names = {str(k): v for k, v in annotator_emails(client).items()}
    spec = spec_from_config(project.label_config or "")
    if spec is None or (op.control and spec.name != op.control):
        spec = infer_spec(tasks, op.control)
    return Source(tasks, spec, server.display_url, project.id, names, f"project {project.id} ({project.title})")
