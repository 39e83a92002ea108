"""Check rendered pipelines against their spec without running the orchestrators.

- Airflow: compile the DAG file and read its task graph from the AST (Airflow
  itself is not installed, and is not needed for this check).
- DVC: `dvc dag --dot` in a scratch repository holding only the rendered
  dvc.yaml, so the project's own .dvc files and caches are never touched.
- Prefect: compile the flow file; a deployment's entrypoint must name the flow.
"""

from __future__ import annotations

import ast
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from mlops_engineer.engines.pipeline.spec import PipelineSpec


class CheckResult(BaseModel):
    target: str = Field(description="prefect, airflow or dvc.")
    method: str = Field(description="How the file was checked.")
    ok: bool
    tasks: list[str] = Field(default_factory=list, description="Task/stage names found in the rendered file.")
    edges: list[str] = Field(default_factory=list, description="'upstream -> downstream' pairs found.")
    problems: list[str] = Field(default_factory=list, description="Differences from the spec; empty when ok.")


def _fmt(edges: set[tuple[str, str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, b in edges)


def _compare(target: str, method: str, spec_tasks: set[str], found_tasks: set[str], spec_edges: set[tuple[str, str]],
             found_edges: set[tuple[str, str]], extra: list[str] | None = None) -> CheckResult:
    problems = list(extra or [])
    problems += [f"task missing: {t}" for t in sorted(spec_tasks - found_tasks)]
    problems += [f"unexpected task: {t}" for t in sorted(found_tasks - spec_tasks)]
    problems += [f"edge missing: {e}" for e in _fmt(spec_edges - found_edges)]
    problems += [f"unexpected edge: {e}" for e in _fmt(found_edges - spec_edges)]
    return CheckResult(target=target, method=method, ok=not problems, tasks=sorted(found_tasks), edges=_fmt(found_edges), problems=problems)


# --------------------------------------------------------------------------- Airflow


def airflow_graph(source: str, filename: str = "dag.py") -> tuple[dict[str, dict[str, object]], set[tuple[str, str]]]:
    """Operators (task_id -> literal keyword arguments) and `>>`/`<<`/set_* edges, read from the AST."""
    tree = ast.parse(source, filename=filename)
    variables: dict[str, str] = {}
    tasks: dict[str, dict[str, object]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            if not name.endswith("Operator"):
                continue
            kwargs = {k.arg: _literal(k.value) for k in call.keywords if k.arg}
            task_id = kwargs.get("task_id")
            if isinstance(task_id, str):
                tasks[task_id] = {"operator": name, **kwargs}
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        variables[target.id] = task_id

    def ids(expr: ast.expr) -> list[str]:
        if isinstance(expr, ast.Name) and expr.id in variables:
            return [variables[expr.id]]
        if isinstance(expr, ast.List | ast.Tuple):
            return [i for e in expr.elts for i in ids(e)]
        return []

    def flatten(expr: ast.expr) -> tuple[list[ast.expr], list[ast.operator]]:
        """`a >> b << c` as operands [a, b, c] and operators [>>, <<]."""
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.RShift | ast.LShift):
            left, left_ops = flatten(expr.left)
            right, right_ops = flatten(expr.right)
            return left + right, [*left_ops, expr.op, *right_ops]
        return [expr], []

    found: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Expr):
            continue
        value = node.value
        if isinstance(value, ast.BinOp):
            operands, ops = flatten(value)
            for (x, y), op in zip(itertools.pairwise(operands), ops, strict=True):
                pairs = {(a, b) for a in ids(x) for b in ids(y)}
                found.update(pairs if isinstance(op, ast.RShift) else {(b, a) for a, b in pairs})
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in ("set_downstream", "set_upstream"):
            this = ids(value.func.value)
            other = [i for a in value.args for i in ids(a)]
            pairs = {(a, b) for a in this for b in other}
            found.update(pairs if value.func.attr == "set_downstream" else {(b, a) for a, b in pairs})
    return tasks, found


def _literal(expr: ast.expr) -> object:
    try:
        return ast.literal_eval(expr)
    except ValueError:
        if isinstance(expr, ast.Call) and getattr(expr.func, "id", "") == "timedelta":
            seconds = {k.arg: _literal(k.value) for k in expr.keywords}
            return ("timedelta", seconds.get("seconds"))
        return ast.unparse(expr)


def check_airflow(source: str, spec: PipelineSpec, expected: set[tuple[str, str]], filename: str = "airflow_dag.py") -> CheckResult:
    method = "compiled with compile() and read the task graph from the AST; Airflow itself was not imported or run"
    try:
        compile(source, filename, "exec")
    except SyntaxError as exc:
        return CheckResult(target="airflow", method=method, ok=False, problems=[f"does not compile: {exc}"])
    tasks, found = airflow_graph(source, filename)
    extra = []
    for stage in spec.stages:
        task = tasks.get(stage.name)
        if task is None:
            continue
        if task.get("retries") != stage.retries:
            extra.append(f"{stage.name}: retries {task.get('retries')} != {stage.retries}")
        delay = task.get("retry_delay")
        if delay != ("timedelta", stage.retry_delay_seconds):
            extra.append(f"{stage.name}: retry_delay {delay} != {stage.retry_delay_seconds} s")
        timeout = task.get("execution_timeout")
        want = ("timedelta", stage.timeout_seconds) if stage.timeout_seconds is not None else None
        if timeout != want:
            extra.append(f"{stage.name}: execution_timeout {timeout} != {stage.timeout_seconds}")
    return _compare("airflow", method, {s.name for s in spec.stages}, set(tasks), expected, found, extra)


# --------------------------------------------------------------------------- DVC

_DOT_EDGE = re.compile(r'^"(?P<a>[^"]+)"\s*->\s*"(?P<b>[^"]+)"')
_DOT_NODE = re.compile(r'^"(?P<a>[^"]+)";')


def dvc_binary() -> str | None:
    return shutil.which("dvc", path=f"{Path(sys.executable).parent}:{Path(sys.prefix) / 'bin'}") or shutil.which("dvc")


def check_dvc(dvc_yaml: str, rel_path: str, spec: PipelineSpec, expected: set[tuple[str, str]], timeout: float = 120) -> CheckResult:
    """`dvc dag --dot` on the rendered file in a scratch repository; its edges must be the spec's."""
    dvc = dvc_binary()
    method = f"`dvc dag --dot` in a scratch DVC repository holding only {rel_path}"
    if dvc is None:
        return CheckResult(target="dvc", method=method, ok=False,
                           problems=["dvc is not installed: pip install 'mlops-engineer[data]' (or uv sync --extra data)"])
    # Only data edges exist in DVC: an upstream without outputs cannot be expressed.
    no_outputs = {s.name for s in spec.stages if not s.outputs}
    representable = {(a, b) for a, b in expected if a not in no_outputs}
    notes = [f"edge {a} -> {b} cannot be expressed in DVC ({a} declares no outputs)" for a, b in sorted(expected - representable)]
    with tempfile.TemporaryDirectory(prefix="mlops-dvc-dag-") as tmp:
        root = Path(tmp)
        target = root / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dvc_yaml, "utf-8")
        env = {"DVC_NO_ANALYTICS": "1", "PATH": f"{Path(dvc).parent}:/usr/bin:/bin", "HOME": tmp}
        init = subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=root, capture_output=True, text=True, timeout=timeout, env=env)
        if init.returncode != 0:
            return CheckResult(target="dvc", method=method, ok=False, problems=[f"dvc init failed: {init.stderr.strip()[-500:]}"])
        done = subprocess.run([dvc, "dag", "--dot"], cwd=root, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        return CheckResult(target="dvc", method=method, ok=False, problems=[f"dvc dag failed: {(done.stderr or done.stdout).strip()[-1000:]}"])
    nodes: set[str] = set()
    found: set[tuple[str, str]] = set()
    for line in done.stdout.splitlines():
        line = line.strip()
        if m := _DOT_EDGE.match(line):
            found.add((m["a"].rsplit(":", 1)[-1], m["b"].rsplit(":", 1)[-1]))
        elif m := _DOT_NODE.match(line):
            nodes.add(m["a"].rsplit(":", 1)[-1])
    result = _compare("dvc", method, {s.name for s in spec.stages}, nodes, representable, found)
    result.problems = notes + result.problems if not result.ok else result.problems
    if notes and result.ok:
        result.method += "; " + "; ".join(notes)
    return result


# --------------------------------------------------------------------------- Prefect


def check_prefect(flow_source: str, flow_path: str, flow_function: str, spec: PipelineSpec, deployment_yaml: str | None) -> CheckResult:
    method = "compiled the flow with compile() and read its tasks from the AST (Prefect runs it in action run)"
    try:
        tree = ast.parse(flow_source, filename=flow_path)
        compile(tree, flow_path, "exec")
    except SyntaxError as exc:
        return CheckResult(target="prefect", method=method, ok=False, problems=[f"does not compile: {exc}"])
    tasks: set[str] = set()
    flows: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "task":
                    name = next((ast.literal_eval(k.value) for k in deco.keywords if k.arg == "name"), node.name)
                    tasks.add(str(name))
                elif isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "flow":
                    flows.add(node.name)
    problems = [] if flow_function in flows else [f"no @flow function {flow_function}"]
    if deployment_yaml is not None:
        import yaml

        data = yaml.safe_load(deployment_yaml)
        entry = data["deployments"][0]["entrypoint"]
        if entry != f"{flow_path}:{flow_function}":
            problems.append(f"deployment entrypoint {entry} does not name {flow_path}:{flow_function}")
        method += "; prefect.yaml parsed and its entrypoint matched"
    spec_tasks = {s.name for s in spec.stages}
    problems += [f"task missing: {t}" for t in sorted(spec_tasks - tasks)]
    return CheckResult(target="prefect", method=method, ok=not problems, tasks=sorted(tasks), problems=problems)
