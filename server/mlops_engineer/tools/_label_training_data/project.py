"""create_project: render the spec, check it, then get or create the project by title."""

from __future__ import annotations

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._label_training_data.models import CreateProject, LabelInput, LabelOutput, LabelSpec, ProjectInfo
from mlops_engineer.tools._label_training_data.source import live


def spec_of(spec: LabelSpec):  # noqa: ANN201 - engines.labeling.config.Spec, imported lazily
    from mlops_engineer.engines.labeling.config import Spec

    default_field = "image" if spec.kind == "bbox" else "text"
    return Spec(spec.kind, tuple(spec.labels), spec.data_field or default_field, spec.name, spec.max_rating, spec.instructions)


def _same_config(a: str, b: str) -> bool:
    import xml.etree.ElementTree as ET

    def canon(xml: str) -> str:
        try:
            root = ET.fromstring(xml)
        except ET.ParseError:
            return xml
        ET.indent(root)
        return ET.tostring(root, encoding="unicode")

    return canon(a) == canon(b)


def run_create_project(op: CreateProject, inp: LabelInput, ctx: ToolContext, out: LabelOutput) -> LabelOutput:
    from mlops_engineer.engines.labeling.client import find_projects, translate_errors
    from mlops_engineer.engines.labeling.config import render_config
    from mlops_engineer.locks import workspace_lock
    from mlops_engineer.output import stable_digest

    xml = render_config(spec_of(op.spec))  # refuses a bad spec before any call
    out.planned_calls = [f"find project titled {op.title!r}", "create it with the rendered config if missing"]
    if inp.dry_run:
        out.project = ProjectInfo(id=0, title=op.title, created=False, label_config=xml)
        return out
    server, client = live(inp)
    out.server = server.display_url
    # Two identical calls at once must not both create: search-then-create under a lock.
    with workspace_lock(ctx.workspace, "label-project-" + stable_digest([server.display_url, op.title])[:16]), \
            translate_errors(server, f"create project {op.title!r}"):
        found = find_projects(client, op.title)
        if len(found) > 1:
            raise ToolError("conflict", f"{len(found)} projects are already titled {op.title!r}: {[p.id for p in found]}.",
                            "Rename or delete the duplicates in Label Studio, or choose another title.")
        if found:
            project = found[0]
            if _same_config(project.label_config or "", xml):
                out.project = ProjectInfo(id=project.id, title=project.title, created=False, label_config=xml)
                out.planned_calls = [f"found project {project.id} with the same config"]
                return out
            if not inp.confirm:
                raise ToolError("needs_confirm", f"Project {project.id} ({op.title!r}) exists with a different labelling config.",
                                "Repeat with confirm=true to replace its config (Label Studio refuses if existing annotations "
                                "use labels the new config drops), or choose another title.")
            client.projects.update(id=project.id, label_config=xml)
            out.project = ProjectInfo(id=project.id, title=project.title, created=False, label_config=xml)
            out.planned_calls = [f"updated the config of project {project.id}"]
            return out
        project = client.projects.create(title=op.title, description=op.description, label_config=xml)
    out.project = ProjectInfo(id=project.id, title=op.title, created=True, label_config=xml)
    out.planned_calls = [f"created project {project.id}"]
    out.next_steps = [f'Import tasks: {{"action": "import_tasks", "project": {project.id}, "path": "<file.csv>"}}']
    return out
