"""Render one pipeline spec as a Prefect 3 flow (+ deployment), an Airflow DAG and DVC stages.

Pure text: nothing here imports Prefect, Airflow or DVC. The three outputs share
the stage order, the names and the dependency graph of `spec`.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from mlops_engineer.engines.dvc.pipeline import DvcStage, StageOut, dump_dvc_yaml, validate_stages
from mlops_engineer.engines.pipeline.spec import (
    PipelineSpec,
    Stage,
    edges,
    effective_upstream,
    topological_order,
)
from mlops_engineer.output import stable_digest
from mlops_engineer.workspace import Workspace

Target = Literal["prefect", "airflow", "dvc"]
TARGETS: tuple[Target, ...] = ("prefect", "airflow", "dvc")


@dataclass(frozen=True)
class Paths:
    folder: str
    flow: str
    prefect_yaml: str
    airflow: str
    dvc: str
    spec: str

    @property
    def depth(self) -> int:
        """How many folders the rendered files sit below the project root."""
        return len(Path(self.folder).parts)


@lru_cache(maxsize=1)
def _environment():  # type: ignore[no-untyped-def]
    """Jinja for code and YAML: block tags leave no blank lines; `py()` and `json()` quote values for each language."""
    import jinja2

    from mlops_engineer.bundle import bundle_path
    from mlops_engineer.render import configure

    env = configure(jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(bundle_path("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    ))  # a raw value with a line break is refused; doc/sh/cell filters
    # Functions rather than filters, so the shared environment can still parse every template.
    env.globals["py"] = repr
    env.globals["json"] = lambda value: json.dumps(value, ensure_ascii=False)
    return env


def render_code(template: str, /, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def paths_for(spec: PipelineSpec) -> Paths:
    folder = Path(spec.folder).as_posix().strip("/").removeprefix("./") or "."
    return Paths(
        folder=folder,
        flow=f"{folder}/flow.py",
        prefect_yaml=f"{folder}/prefect.yaml",
        airflow=f"{folder}/airflow_dag.py",
        dvc=f"{folder}/dvc.yaml",
        spec=f"{folder}/pipeline.yaml",
    )


def flow_function(spec: PipelineSpec) -> str:
    return spec.name.replace("-", "_") + "_pipeline"


def spec_digest(spec: PipelineSpec) -> str:
    return stable_digest(spec.model_dump(mode="json"))[:16]


def _named_files(stage: Stage, workspace: Workspace) -> list[str]:
    """Project files a command names (its scripts): dependencies in DVC, cache inputs in Prefect."""
    if stage.command is None:
        return []
    named = []
    for token in stage.argv[1:]:
        try:
            candidate = workspace.resolve(token)
        except Exception:  # a token outside the workspace is an argument, not a dependency
            continue
        if candidate.is_file():
            named.append(workspace.relative(candidate))
    return named


def _stage_context(spec: PipelineSpec, stage: Stage, graph: dict[str, list[str]], workspace: Workspace, modules: dict[str, Path],
                   dvc_owned: bool) -> dict[str, Any]:
    upstream = graph[stage.name]
    produced = [o for u in upstream for o in spec.stage(u).outputs]
    # What the stage produces depends on these; retries and timeouts do not touch the cache.
    definition = json.dumps(stage.model_dump(mode="json", include={"command", "callable", "kwargs", "inputs", "outputs", "env", "dvc_track"}), sort_keys=True)
    code_deps = _named_files(stage, workspace)
    if stage.callable and stage.callable in modules:
        code_deps.append(workspace.relative(modules[stage.callable]))
    dvc_deps = list(dict.fromkeys([*stage.inputs, *produced, *code_deps]))
    if stage.command is not None:
        dvc_cmd = shlex.join(stage.argv)
        # Outputs of a dvc.yaml stage are recorded with `dvc commit` after every run, as the Prefect
        # flow does (unrecorded, DVC reports them as uncommitted and the stage as changed);
        # dvc_track outputs without a dvc.yaml get a .dvc file.
        if dvc_owned:
            commit = f"dvc commit -f -q {shlex.quote(paths_for(spec).dvc + ':' + stage.name)}"
            bash = f"{dvc_cmd} && {commit}" if stage.dvc_track else f"{dvc_cmd} && if [ -d .dvc ]; then {commit}; fi"
        else:
            bash = dvc_cmd + (" && dvc add -q " + shlex.join(stage.outputs) if stage.dvc_track else "")
        # Airflow reads a bash_command ending in .sh/.bash as a template file name.
        if bash.endswith((".sh", ".bash")):
            bash += " "
    else:
        code = (
            f"import sys; sys.path[:0] = {[str(p) for p in spec.python_path]!r}; "
            f"from {stage.module} import {stage.function}; {stage.function}(**{stage.kwargs!r})"
        )
        dvc_cmd = shlex.join(["python", "-c", code])
        bash = ""
    return {
        **stage.model_dump(mode="json"),
        "argv": stage.argv if stage.command is not None else [],
        "upstream": upstream,
        "function_name": f"stage_{stage.name}",
        "definition": definition,
        "summary": _summary(stage, upstream),
        "bash_command": bash,
        "dvc": DvcStage(
            name=stage.name,
            cmd=dvc_cmd,
            deps=dvc_deps,
            outs=[StageOut(path=o, cache=False) if stage.cache == "none" else o for o in stage.outputs],
            upstream=upstream,
            always_changed=stage.cache == "none",
        ),
    }


def _summary(stage: Stage, upstream: list[str]) -> str:
    what = f"Run `{stage.command}`" if stage.command is not None else f"Call {stage.callable}"
    after = f" after {', '.join(upstream)}" if upstream else ""
    return f"{what}{after}.".replace('"""', "'''")


def _dvc_yaml(spec: PipelineSpec, stages: list[DvcStage], paths: Paths) -> str:
    """dvc.yaml in the pipeline folder; `wdir` points back at the project root, so every path stays project-relative."""
    validate_stages(stages, exists=lambda p: True)  # inputs may not exist yet when the pipeline is rendered
    header = (
        f"# DVC stages for the pipeline '{spec.name}', rendered by mlops-engineer (orchestrate_ml_pipeline).\n"
        f"# Run from the project root: dvc repro {paths.dvc}   (dvc dag shows the graph)\n"
        "# Paths are project-relative (wdir). DVC caches and versions the outputs itself, so the\n"
        "# same paths must not also be tracked with `dvc add` (.dvc files) in this repository.\n"
    )
    return header + dump_dvc_yaml(stages, wdir="/".join([".."] * paths.depth) or ".")


def render_pipeline(spec: PipelineSpec, workspace: Workspace, modules: dict[str, Path], targets: tuple[Target, ...] = TARGETS) -> dict[str, str]:
    """Workspace path -> file content for the requested targets (and the spec itself)."""
    import yaml

    from mlops_engineer.optional import installed_version

    paths = paths_for(spec)
    graph = effective_upstream(spec)
    order = topological_order(graph)
    dvc_owned = "dvc" in targets or workspace.resolve(paths.dvc).is_file()
    stages = [_stage_context(spec, spec.stage(name), graph, workspace, modules, dvc_owned) for name in order]
    context = {
        "spec": spec,
        "stages": stages,
        "depth": paths.depth,
        "flow_path": paths.flow,
        "flow_function": flow_function(spec),
        "python_path": spec.python_path,
        "spec_digest": spec_digest(spec),
        "edges": [(f"stage_{u}", f"stage_{d}") for d in order for u in graph[d]],
        "prefect_yaml_path": paths.prefect_yaml,
        "prefect_version": installed_version("prefect") or "3.9.1",
        "project_root": str(workspace.root),
        "dvc_path": paths.dvc,
    }
    files = {paths.spec: "# Pipeline spec (mlops-engineer orchestrate_ml_pipeline); the rendered files are generated from it.\n"
             + yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=False)}
    if "prefect" in targets:
        files[paths.flow] = render_code("pipeline/prefect_flow.py.j2", **context)
        if spec.schedule is not None:
            files[paths.prefect_yaml] = render_code("pipeline/prefect.yaml.j2", **context)
    if "airflow" in targets:
        files[paths.airflow] = render_code("pipeline/airflow_dag.py.j2", **context)
    if "dvc" in targets:
        files[paths.dvc] = _dvc_yaml(spec, [s["dvc"] for s in stages], paths)
    return files


def expected_edges(spec: PipelineSpec) -> set[tuple[str, str]]:
    return edges(effective_upstream(spec))
