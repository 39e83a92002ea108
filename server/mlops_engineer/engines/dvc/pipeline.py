"""DVC pipelines as data: typed stages in, a checked `dvc.yaml` (and `params.yaml`) out.

Pure Python (no DVC import), so any tool that builds a pipeline can reuse it:

    stages = [DvcStage(name="prepare", cmd="python prep.py", deps=["raw.csv"], outs=["data/clean.csv"]),
              DvcStage(name="train", cmd="python train.py", deps=["data/clean.csv"], params=["train.lr"],
                       metrics=["metrics.json"])]
    order = validate_stages(stages, exists=lambda p: (root / p).exists(), params={"train": {"lr": 0.1}})
    text = dump_dvc_yaml(stages)            # the dvc.yaml text; render_dvc_yaml(stages) gives the mapping
    params_text = dump_params_yaml({"train": {"lr": 0.1}})

`validate_stages` raises `ToolError("invalid_input")` naming the stage and field for a cycle,
an unknown upstream stage, a dependency nothing produces and that does not exist, two stages
writing the same output, a path that leaves the project, or a parameter missing from params.yaml.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import Field, field_validator

from mlops_engineer.contract import StrictModel
from mlops_engineer.errors import ToolError

PARAMS_FILE = "params.yaml"
STAGE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
SPEC_HINT = "Fix the stage spec: every dependency must exist or be the output of another stage, and stages may not depend on each other in a circle."

RelPathStr = Annotated[str, Field(min_length=1, description="Path relative to the project root (the folder holding dvc.yaml).")]


class StageOut(StrictModel):
    path: RelPathStr
    cache: bool = Field(default=True, description="Store the output in the DVC cache (false: git tracks it).")
    persist: bool = Field(default=False, description="Keep the output between runs instead of deleting it first.")


class StageMetric(StrictModel):
    path: RelPathStr = Field(description="JSON/YAML/TOML metrics file the command writes.")
    cache: bool = Field(default=False, description="Metrics are small: by default git tracks them.")


class StagePlot(StrictModel):
    path: RelPathStr = Field(description="CSV/JSON/TSV/YAML file of points the command writes.")
    x: str | None = Field(default=None, description="Column for the x axis.")
    y: str | None = Field(default=None, description="Column for the y axis.")
    template: str | None = Field(default=None, description="DVC plot template, e.g. linear, scatter, confusion.")
    title: str | None = None
    cache: bool = False


class DvcStage(StrictModel):
    """One stage of dvc.yaml."""

    name: str = Field(pattern=STAGE_NAME, description="Stage name: letters, digits, '_' and '-'.")
    cmd: str | list[str] = Field(description="Shell command(s) DVC runs in the project root (or wdir).")
    deps: list[RelPathStr] = Field(default_factory=list, description="Files or folders the command reads.")
    outs: list[RelPathStr | StageOut] = Field(default_factory=list, description="Files or folders the command writes.")
    params: list[str] = Field(
        default_factory=list,
        description="Dotted keys of params.yaml the command reads (e.g. train.lr); DVC reruns the stage when one changes.",
    )
    metrics: list[RelPathStr | StageMetric] = Field(default_factory=list)
    plots: list[RelPathStr | StagePlot] = Field(default_factory=list)
    upstream: list[str] = Field(
        default_factory=list,
        description="Stages that must run first; their outputs become dependencies of this stage.",
    )
    desc: str | None = None
    always_changed: bool = Field(default=False, description="Run on every repro, even with unchanged dependencies.")

    @field_validator("cmd")
    @classmethod
    def _non_empty(cls, cmd: str | list[str]) -> str | list[str]:
        commands = [cmd] if isinstance(cmd, str) else cmd
        if not commands or any(not c.strip() for c in commands):
            raise ValueError("cmd must be a non-empty command or a list of non-empty commands")
        return cmd

    def out_paths(self) -> list[str]:
        """Every path the stage writes: outs, metrics and plots."""
        return [_path_of(o) for o in [*self.outs, *self.metrics, *self.plots]]


def _path_of(item: str | StageOut | StageMetric | StagePlot) -> str:
    return item if isinstance(item, str) else item.path


def normalise_path(path: str, where: str) -> str:
    """The path in posix form; refuses absolute paths and paths that climb out of the project."""
    clean = posixpath.normpath(path.replace("\\", "/"))
    if path.startswith(("/", "~")) or clean == ".." or clean.startswith("../") or ":" in clean.split("/")[0]:
        raise ToolError(
            "outside_workspace",
            f"{where}: the path '{path}' leaves the project; pipeline paths are relative to the folder of dvc.yaml.",
            "Use a path inside the workspace, e.g. data/train.csv.",
        )
    return clean


def _covers(produced: str, path: str) -> bool:
    return path == produced or path.startswith(produced.rstrip("/") + "/")


def _has_key(params: Mapping[str, Any], dotted: str) -> bool:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _find_cycle(edges: dict[str, list[str]], names: list[str]) -> list[str] | None:
    """A cycle as a list of stage names (first == last), or None."""
    state: dict[str, int] = dict.fromkeys(names, 0)  # 0 new, 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges[node]:
            if state[nxt] == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state[nxt] == 0 and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for name in names:
        if state[name] == 0 and (found := visit(name)):
            return found
    return None


def _topological(edges: dict[str, list[str]], names: list[str]) -> list[str]:
    """Kahn's algorithm, ties broken by the order the stages were given."""
    indegree = dict.fromkeys(names, 0)
    for targets in edges.values():
        for t in targets:
            indegree[t] += 1
    ready = [n for n in names if indegree[n] == 0]
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for t in edges[node]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
        ready.sort(key=names.index)
    return order


def validate_stages(
    stages: list[DvcStage],
    *,
    exists: Callable[[str], bool] | None = None,
    params: Mapping[str, Any] | None = None,
) -> list[str]:
    """Check the stage graph; return the stage names in an order DVC can run them.

    `exists(path)` says whether a dependency no stage produces is already in the
    project (source code, raw data); without it such dependencies are accepted.
    `params`, when given, is the content of params.yaml that stage `params` keys must exist in.
    """
    if not stages:
        raise ToolError("invalid_input", "The pipeline has no stages.", "Give at least one stage with a name and a cmd.")
    names = [s.name for s in stages]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ToolError("invalid_input", f"Stage names must be unique: {', '.join(duplicates)}.", SPEC_HINT)

    producer: dict[str, str] = {}
    for stage in stages:
        for raw in stage.out_paths():
            path = normalise_path(raw, f"stage '{stage.name}' outs")
            if path in producer:
                raise ToolError(
                    "invalid_input",
                    f"'{path}' is an output of both stage '{producer[path]}' and stage '{stage.name}'.",
                    "Each file or folder may be written by one stage only.",
                )
            producer[path] = stage.name

    edges: dict[str, list[str]] = {n: [] for n in names}
    for stage in stages:
        for up in stage.upstream:
            if up not in edges:
                raise ToolError(
                    "invalid_input",
                    f"Stage '{stage.name}' lists unknown upstream stage '{up}'; the stages are: {', '.join(names)}.",
                    SPEC_HINT,
                )
            edges[up].append(stage.name)
        for raw in stage.deps:
            dep = normalise_path(raw, f"stage '{stage.name}' deps")
            makers = [name for out, name in producer.items() if _covers(out, dep)]
            if makers:
                edges[makers[0]].append(stage.name)
            elif exists is not None and not exists(dep):
                raise ToolError(
                    "invalid_input",
                    f"Stage '{stage.name}' depends on '{dep}', which does not exist and is not an output of any stage.",
                    SPEC_HINT,
                )
        if params is not None:
            missing = [k for k in stage.params if not _has_key(params, k)]
            if missing:
                raise ToolError(
                    "invalid_input",
                    f"Stage '{stage.name}' reads params {', '.join(missing)}, which are not in {PARAMS_FILE}.",
                    "Add them to the params mapping, or remove them from the stage's params list.",
                )

    cycle = _find_cycle(edges, names)
    if cycle:
        raise ToolError("invalid_input", f"The stages depend on each other in a cycle: {' -> '.join(cycle)}.", SPEC_HINT)
    return _topological(edges, names)


def _entry(item: str | StageOut | StageMetric | StagePlot, defaults: dict[str, Any]) -> str | dict[str, Any]:
    """A plain path when every option is at DVC's default, else {path: {option: value}}."""
    if isinstance(item, str):
        return item if not defaults else {item: dict(defaults)}
    options = {k: v for k, v in item.model_dump(exclude={"path"}, exclude_none=True).items()}
    changed = {k: v for k, v in options.items() if k not in _DVC_DEFAULTS or _DVC_DEFAULTS[k] != v}
    return {item.path: changed} if changed else item.path


# What DVC assumes when an option is absent: cache=true, persist=false.
_DVC_DEFAULTS: dict[str, Any] = {"cache": True, "persist": False}


def render_dvc_yaml(stages: list[DvcStage], *, wdir: str | None = None) -> dict[str, Any]:
    """The dvc.yaml mapping for the stages (call `validate_stages` first).

    `wdir`, when given, is written on every stage: the folder, relative to dvc.yaml,
    that the commands run in and the stage paths are relative to.
    """
    by_name = {s.name: s for s in stages}
    rendered: dict[str, Any] = {}
    for stage in stages:
        body: dict[str, Any] = {"wdir": wdir} if wdir else {}
        if stage.desc:
            body["desc"] = stage.desc
        body["cmd"] = stage.cmd
        deps = [normalise_path(d, stage.name) for d in stage.deps]
        for up in stage.upstream:
            deps += [p for p in (normalise_path(_path_of(o), up) for o in by_name[up].outs) if p not in deps]
        if deps:
            body["deps"] = deps
        if stage.params:
            body["params"] = list(stage.params)
        if stage.outs:
            body["outs"] = [_entry(o, {}) for o in stage.outs]
        if stage.metrics:
            body["metrics"] = [_entry(m, {"cache": False}) for m in stage.metrics]
        if stage.plots:
            body["plots"] = [_entry(p, {"cache": False}) for p in stage.plots]
        if stage.always_changed:
            body["always_changed"] = True
        rendered[stage.name] = body
    return {"stages": rendered}


def _dump(mapping: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(mapping), sort_keys=False, default_flow_style=False, allow_unicode=True)


def dump_dvc_yaml(stages: list[DvcStage], *, wdir: str | None = None) -> str:
    """dvc.yaml text for the stages."""
    return _dump(render_dvc_yaml(stages, wdir=wdir))


def dump_params_yaml(params: Mapping[str, Any]) -> str:
    """params.yaml text (keys keep their order)."""
    return _dump(params)
