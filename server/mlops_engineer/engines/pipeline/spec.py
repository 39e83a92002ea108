"""The typed pipeline spec every renderer reads, and the checks it must pass before anything is written.

A spec is a list of stages (a command or a Python callable, inputs, outputs,
upstream stages, retries, timeout, cache policy) plus an optional schedule.
Graph errors (duplicates, unknown upstreams, cycles), malformed callables and
cron strings are refused by the model itself, so a bad spec never reaches a
renderer; checks that need the workspace (paths, whether a callable exists)
are in `check_against_workspace`.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlops_engineer.contract import StrictModel
from mlops_engineer.errors import ToolError
from mlops_engineer.grammar import EnvName, OneLine
from mlops_engineer.workspace import Workspace

STAGE_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"
PIPELINE_NAME = r"^[a-z][a-z0-9_-]{0,62}$"
CALLABLE = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<function>[A-Za-z_]\w*)$")
# Commands run without a shell (Prefect), as a bash command (Airflow) and as a DVC cmd:
# only a plain argument list means the same thing in all three.
SHELL_OPERATORS = {"|", "||", "&", "&&", ";", ">", ">>", "<", "<<", "2>", "2>&1", "&>"}
Scalar = str | int | float | bool | None


class CronSchedule(StrictModel):
    cron: str = Field(description="Five-field cron string (minute hour day-of-month month day-of-week), e.g. '0 3 * * 1-5', or @hourly/@daily/@weekly/@monthly/@yearly.")
    timezone: str = Field(default="UTC", description="IANA time zone the cron string is read in, e.g. 'Europe/Berlin'.")
    deployment: str = Field(default="scheduled", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", description="Name of the Prefect deployment.")
    work_pool: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", description="Prefect work pool that runs the scheduled flow.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        problem = cron_problem(value)
        if problem:
            raise ValueError(f"invalid cron string {value!r}: {problem}")
        return " ".join(value.split())

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'UTC' or 'Europe/Berlin')") from exc
        return value


class Stage(StrictModel):
    name: str = Field(pattern=STAGE_NAME, description="Stage name: letters, digits, underscores; a Prefect task, an Airflow task_id and a DVC stage.")
    command: str | None = Field(
        default=None,
        description="Command line, run from the project root without a shell (no pipes, redirects or &&; put those in a script). "
        "Exactly one of command and callable.",
    )
    callable: str | None = Field(default=None, description="Python function as 'module:function' (e.g. 'pipelines.churn.steps:train'), found on python_path.")
    kwargs: dict[str, Scalar] = Field(default_factory=dict, description="Keyword arguments for the callable (JSON scalars).")
    inputs: list[str] = Field(default_factory=list, description="Files or folders the stage reads (project-relative). Their content keys the cache.")
    outputs: list[str] = Field(default_factory=list, description="Files or folders the stage writes (project-relative).")
    upstream: list[str] = Field(default_factory=list, description="Stages that must finish first. A stage reading another stage's output depends on it anyway.")
    retries: int = Field(default=0, ge=0, le=10, description="Extra attempts after a failure.")
    retry_delay_seconds: float = Field(default=0, ge=0, le=3600, description="Pause between attempts.")
    timeout_seconds: float | None = Field(default=None, gt=0, le=86400, description="Fail an attempt that runs longer than this.")
    cache: Literal["inputs", "none"] = Field(
        default="inputs",
        description="inputs: skip the stage when its definition, its inputs and the files its command names are unchanged and its outputs exist; none: always run.",
    )
    cache_expiration_seconds: int | None = Field(default=None, gt=0, description="Forget a cached result after this long.")
    dvc_track: bool = Field(default=False, description="Version the stage's outputs with DVC (`dvc add` after the stage). With a rendered dvc.yaml every stage is recorded in dvc.lock (`dvc commit`).")
    env: dict[EnvName, str] = Field(default_factory=dict, description="Extra environment variables for the stage.")

    @model_validator(mode="after")
    def _one_action(self) -> Stage:
        if (self.command is None) == (self.callable is None):
            raise ValueError(f"stage '{self.name}' needs exactly one of command and callable")
        if self.command is not None:
            command_argv(self.command, self.name)
        if self.callable is not None and not CALLABLE.fullmatch(self.callable):
            raise ValueError(
                f"stage '{self.name}': callable {self.callable!r} is not 'module:function' (e.g. 'pipelines.churn.steps:train')"
            )
        if self.kwargs and self.callable is None:
            raise ValueError(f"stage '{self.name}': kwargs only apply to a callable")
        if self.dvc_track and not self.outputs:
            raise ValueError(f"stage '{self.name}': dvc_track needs outputs to version")
        return self

    @property
    def argv(self) -> list[str]:
        return command_argv(self.command or "", self.name)

    @property
    def module(self) -> str:
        return (self.callable or ":").split(":")[0]

    @property
    def function(self) -> str:
        return (self.callable or ":").split(":")[1]


class PipelineSpec(StrictModel):
    name: str = Field(pattern=PIPELINE_NAME, description="Pipeline name (lowercase, digits, - and _): the flow, DAG id and folder name.")
    description: str = Field(default="", max_length=500)
    stages: list[Stage] = Field(min_length=1, max_length=100, description="The stages; order does not matter, upstream does.")
    schedule: CronSchedule | None = Field(default=None, description="Run on a cron schedule (a Prefect deployment and the Airflow DAG's schedule).")
    directory: OneLine | None = Field(default=None, description="Project folder for the rendered files; default pipelines/<name>.")
    python_path: list[str] = Field(default_factory=lambda: ["."], description="Project folders put on sys.path for callables.")
    max_parallel: int = Field(default=2, ge=1, le=32, description="Stages Prefect runs at once when the graph allows.")
    tags: list[str] = Field(default_factory=list, description="Tags on the flow and the DAG.")

    @model_validator(mode="after")
    def _graph(self) -> PipelineSpec:
        names = [s.name for s in self.stages]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate stage names: {', '.join(duplicates)} (each stage needs its own name)")
        known = set(names)
        for stage in self.stages:
            unknown = [u for u in stage.upstream if u not in known]
            if unknown:
                raise ValueError(
                    f"stage '{stage.name}' lists unknown upstream stage(s) {', '.join(map(repr, unknown))}; known stages: {', '.join(names)}"
                )
            if stage.name in stage.upstream:
                raise ValueError(f"stage '{stage.name}' lists itself as upstream")
        producers: dict[str, str] = {}
        for stage in self.stages:
            for out in stage.outputs:
                key = _norm(out)
                if key in producers:
                    raise ValueError(f"output '{out}' is written by both '{producers[key]}' and '{stage.name}'")
                producers[key] = stage.name
        cycle = find_cycle(effective_upstream(self))
        if cycle:
            raise ValueError(f"the stage graph has a cycle: {' -> '.join(cycle)} (upstream links and input/output links must form a DAG)")
        return self

    @property
    def folder(self) -> str:
        return self.directory or f"pipelines/{self.name}"

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def _norm(path: str) -> str:
    return Path(path).as_posix().strip("/").removeprefix("./")


def command_argv(command: str, stage: str) -> list[str]:
    """Split a command line like a shell would, refusing what only a shell understands."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"stage '{stage}': cannot parse command {command!r}: {exc}") from exc
    if not argv:
        raise ValueError(f"stage '{stage}': the command is empty")
    bad = [t for t in argv if t in SHELL_OPERATORS or "$(" in t or "`" in t]
    if bad:
        raise ValueError(
            f"stage '{stage}': the command uses shell syntax {bad}; commands run without a shell, "
            "so put pipes, redirects and chains in a script and call the script"
        )
    return argv


def effective_upstream(spec: PipelineSpec) -> dict[str, list[str]]:
    """Declared upstream plus the stages whose outputs a stage reads, in spec order."""
    producers = {_norm(o): s.name for s in spec.stages for o in s.outputs}
    graph: dict[str, list[str]] = {}
    for stage in spec.stages:
        ups = list(stage.upstream)
        for path in stage.inputs:
            key = _norm(path)
            # An input inside an output folder (or the folder itself) depends on its producer.
            producer = next((p for out, p in producers.items() if key == out or key.startswith(out + "/")), None)
            if producer and producer != stage.name and producer not in ups:
                ups.append(producer)
        graph[stage.name] = ups
    return graph


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                # Reported in run order: upstream first.
                return list(reversed(found))
    return None


def topological_order(graph: dict[str, list[str]]) -> list[str]:
    """Stages with their upstreams first; ties keep spec order."""
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(graph):
        for node, ups in graph.items():
            if node not in done and all(u in done for u in ups):
                order.append(node)
                done.add(node)
                break
        else:  # pragma: no cover - the spec validator refuses cycles
            raise ValueError("cycle")
    return order


def edges(graph: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {(u, node) for node, ups in graph.items() for u in ups}


# --------------------------------------------------------------------------- cron

_CRON_ALIASES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_FIELDS: list[tuple[str, int, int, dict[str, int]]] = [
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
]


def cron_problem(text: str) -> str | None:
    """What is wrong with a cron string, or None. Standard five fields, names, ranges, steps and lists."""
    value = " ".join(text.split()).lower()
    if value in _CRON_ALIASES:
        return None
    parts = value.split(" ")
    if len(parts) != 5:
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
    for part, (label, low, high, names) in zip(parts, _FIELDS, strict=True):
        for item in part.split(","):
            problem = _cron_item(item, low, high, names)
            if problem:
                return f"{label} field {part!r}: {problem}"
    return None


def _cron_item(item: str, low: int, high: int, names: dict[str, int]) -> str | None:
    if not item:
        return "empty list item"
    base, _, step = item.partition("/")
    if "/" in item:
        if not step.isdigit() or int(step) == 0:
            return f"step {step!r} must be a positive number"
    if base == "*":
        return None

    def number(token: str) -> int | None:
        if token in names:
            return names[token]
        return int(token) if token.isdigit() else None

    ends = base.split("-")
    if len(ends) > 2:
        return f"bad range {base!r}"
    values = [number(t) for t in ends]
    if any(v is None for v in values):
        return f"{base!r} is not a number{' or name' if names else ''}"
    if any(not low <= v <= high for v in values):  # type: ignore[operator]
        return f"{base!r} is outside {low}-{high}"
    if len(values) == 2 and values[0] > values[1]:  # type: ignore[operator]
        return f"range {base!r} runs backwards"
    return None


# --------------------------------------------------------------------------- workspace checks


def check_against_workspace(spec: PipelineSpec, workspace: Workspace) -> dict[str, Path]:
    """Every path inside the workspace and every callable findable; returns callable -> its module file.

    Raises ToolError (outside_workspace or invalid_input) before anything is written.
    """
    for path in [spec.folder, *spec.python_path]:
        workspace.resolve(path)
    for stage in spec.stages:
        for path in [*stage.inputs, *stage.outputs]:
            workspace.resolve(path)
    modules: dict[str, Path] = {}
    for stage in spec.stages:
        if stage.callable:
            modules[stage.callable] = _find_callable(stage, spec.python_path, workspace)
    return modules


def _find_callable(stage: Stage, python_path: Iterable[str], workspace: Workspace) -> Path:
    """Find the module's file on python_path and the function in it, by reading (never importing) the code."""
    module, function = stage.module, stage.function
    relative = Path(*module.split("."))
    searched = []
    for folder in python_path:
        base = workspace.resolve(folder)
        for candidate in (base / f"{relative}.py", base / relative / "__init__.py"):
            searched.append(workspace.relative(candidate) if candidate.is_relative_to(workspace.root) else str(candidate))
            if candidate.is_file():
                workspace.resolve(candidate)  # a symlink out of the workspace is refused
                if function not in _top_level_names(candidate):
                    raise ToolError(
                        "invalid_input",
                        f"stage '{stage.name}': {workspace.relative(candidate)} defines no top-level '{function}' (callable {stage.callable!r}).",
                        "Check the function name, or point callable at the module that defines it.",
                    )
                return candidate
    raise ToolError(
        "invalid_input",
        f"stage '{stage.name}': module '{module}' of callable {stage.callable!r} is not in the project (looked for {', '.join(searched)}).",
        "Use 'module:function' with a module under one of python_path's folders, e.g. 'pipelines.churn.steps:train' "
        "for pipelines/churn/steps.py.",
    )


def _top_level_names(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise ToolError("invalid_input", f"{path.name} does not parse: {exc}", "Fix the syntax error first.") from exc
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def load_spec_file(workspace: Workspace, path: str) -> PipelineSpec:
    """Read a spec from a YAML or JSON file in the workspace; a bad one is `invalid_input` naming the field."""
    import yaml
    from pydantic import ValidationError

    from mlops_engineer.runtime import describe_validation_error

    target = workspace.resolve(path, must_exist=True)
    try:
        data: Any = yaml.safe_load(target.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise ToolError("invalid_input", f"{path} is not valid YAML/JSON: {exc}", "Fix the file's syntax.") from exc
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise ToolError("invalid_input", f"{path}: {describe_validation_error(exc)}", "Fix the spec file; the tool's input schema documents every field.") from exc
