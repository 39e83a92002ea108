"""ML boundaries import-linter cannot express by itself, because they depend on what a module
*is*, told by its name, and on what it reads at run time:

- serving code (serve, server, serving, inference, predict, endpoint, api) must not import
  training code (train, trainer, training, fit) or notebooks, directly or through a chain;
- model code (model, models, network, nn, estimator) must not import the web layer (web,
  http, routes, views, and the web frameworks: fastapi, flask, starlette, django, ...);
- configuration and secrets are read in one place: `os.environ`, `os.getenv`, `dotenv` reads
  outside a config/settings module are findings, and a secret-looking name raises severity.

Roles are read from every segment of a module's dotted name, so `app.serving.routes` is
serving, and `pkg.training.loop` is training.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from mlops_engineer.engines.review.architecture_graph import ImportGraph

ROLE_PATTERNS: dict[str, re.Pattern[str]] = {
    "serving": re.compile(r"^(serve|server|servers|serving|inference|predict|predictor|prediction|endpoints?|api)$|_(server|serving|inference|api)$|^(serving|inference)_"),
    "training": re.compile(r"^(train|trainer|trainers|training|fit|fitting)$|^train_|_(train|trainer|training)$"),
    "notebook": re.compile(r"^(notebooks?|nb)$|^notebook_|_notebook$"),
    "model": re.compile(r"^(model|models|network|networks|nn|estimators?|architectures?)$"),
    "web": re.compile(r"^(web|http|routes|routers?|views|handlers|rest)$|^(web|http|rest)_|_(web|http|routes|views)$"),
    "config": re.compile(r"^(config|configs|configuration|settings|conf|env|environment|secrets?)$|_(config|settings|conf)$|^(config|settings)_"),
}
WEB_FRAMEWORKS = ("fastapi", "flask", "starlette", "django", "aiohttp", "tornado", "sanic", "uvicorn", "bottle", "falcon", "quart", "streamlit", "gradio")
SECRET_WORDS = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL", re.I)


def roles_of(module: str) -> set[str]:
    return {role for part in module.split(".")[1:] for role, pattern in ROLE_PATTERNS.items() if pattern.search(part)}


def role_roots(graph: ImportGraph, role: str) -> list[str]:
    """The topmost modules with `role`: `a.serving` stands for `a.serving.*`."""
    tagged = [m for m in graph.modules if role in roles_of(m)]
    return sorted(m for m in tagged if not any(m != t and graph.in_package(m, t) for t in tagged))


@dataclass(frozen=True)
class BoundaryBreach:
    rule: str  # serving->training, serving->notebook, model->web
    importer: str  # the role root that imports
    imported: str  # the role root (or external framework) imported
    chain: tuple[str, ...]
    direct: bool


def boundary_breaches(graph: ImportGraph) -> list[BoundaryBreach]:
    breaches: list[BoundaryBreach] = []
    rules = [("serving", "training"), ("serving", "notebook"), ("model", "web")]
    for source_role, target_role in rules:
        for source in role_roots(graph, source_role):
            sources = {m for m in graph.modules if graph.in_package(m, source)}
            for target in role_roots(graph, target_role):
                if graph.in_package(target, source) or graph.in_package(source, target):
                    continue
                targets = {m for m in graph.modules if graph.in_package(m, target)}
                chain = graph.shortest_path(sources, targets)
                if chain:
                    breaches.append(BoundaryBreach(f"{source_role}->{target_role}", source, target, tuple(chain), len(chain) == 2))
    for source in role_roots(graph, "model"):
        sources = {m for m in graph.modules if graph.in_package(m, source)}
        reached = graph.reach(sources, graph.imports)
        for framework in WEB_FRAMEWORKS:
            users = sorted(m for m in reached if any(e.split(".")[0] == framework for e in graph.externals[m]))
            if users:
                chain = graph.shortest_path(sources, {users[0]}) if users[0] not in sources else [users[0]]
                external = next(e for e in graph.externals[users[0]] if e.split(".")[0] == framework)
                breaches.append(BoundaryBreach("model->web", source, framework, (*(chain or [users[0]]), external), users[0] in sources))
    return breaches


@dataclass(frozen=True)
class ConfigRead:
    module: str
    line: int
    what: str  # the expression, e.g. os.environ["TOKEN"]
    name: str | None  # the variable read, when a literal
    secret: bool


def _env_name(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def config_reads(graph: ImportGraph) -> list[ConfigRead]:
    """Every environment and dotenv read in the package, by module and line."""
    reads: list[ConfigRead] = []
    for module in graph.modules:
        path = graph.file_of(module)
        if not path.is_file():
            continue
        source = path.read_bytes()
        if not any(word in source for word in (b"environ", b"getenv", b"dotenv")):
            continue  # most modules read nothing: skip parsing them
        try:
            tree = ast.parse(source, filename=str(path))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            hit: tuple[str, str | None] | None = None
            if isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
                name = _env_name(node.slice)
                hit = (f"os.environ[{name!r}]" if name else "os.environ[...]", name)
            elif isinstance(node, ast.Call):
                func = node.func
                name = _env_name(node.args[0]) if node.args else None
                if isinstance(func, ast.Attribute) and func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os":
                    hit = (f"os.getenv({name!r})" if name else "os.getenv(...)", name)
                elif isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value):
                    hit = (f"os.environ.get({name!r})" if name else "os.environ.get(...)", name)
                elif isinstance(func, ast.Name) and func.id in ("load_dotenv", "dotenv_values", "getenv"):
                    hit = (f"{func.id}(...)", name)
            if hit:
                reads.append(ConfigRead(module, node.lineno, hit[0], hit[1], bool(hit[1] and SECRET_WORDS.search(hit[1]))))
    return sorted(set(reads), key=lambda r: (r.module, r.line, r.what))


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (isinstance(node, ast.Name) and node.id == "environ")


def is_config_module(module: str) -> bool:
    return "config" in roles_of(module)
