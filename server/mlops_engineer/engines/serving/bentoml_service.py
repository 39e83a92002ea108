"""An MLflow model as a BentoML service: fetch the model, derive the request schema from its
signature, render the service, `bentoml build` it, and the command that serves it.

BentoML keeps its store in `BENTOML_HOME`; ours is `.mlops/bentoml` in the workspace.
Every BentoML command runs as a subprocess with that variable set, so two workspaces
never share a store and the MCP server never holds BentoML's global configuration.
"""

from __future__ import annotations

import hashlib
import keyword
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.errors import ToolError

if TYPE_CHECKING:
    from mlops_engineer.engines.mlflow.backend import MlflowTarget
    from mlops_engineer.workspace import Workspace

BENTOML_HOME = "bentoml"  # under the workspace's .mlops/
SERVE_HOMES = "bentoml-serve"  # under .mlops/: one BentoML home per served service (see serve_env)
MODEL_URI = re.compile(r"^(models:/[^/@\s]+(@[A-Za-z0-9_-]+|/[0-9]+)|runs:/[0-9a-f]{32}/\S+)$")

# MLflow column types -> (pydantic annotation, pandas dtype the model was trained on).
_COLUMN_TYPES: dict[str, tuple[str, str | None]] = {
    "boolean": ("bool", "bool"),
    "integer": ("int", "int32"),
    "long": ("int", "int64"),
    "float": ("float", "float32"),
    "double": ("float", "float64"),
    "string": ("str", None),
    "binary": ("bytes", None),
    "datetime": ("str", "datetime64[ns]"),
}


@dataclass
class FieldSpec:
    name: str  # column name, as clients send it
    ident: str  # Python identifier in the generated model
    type: str  # MLflow type
    annotation: str
    dtype: str | None
    required: bool

    @property
    def description(self) -> str:
        return f"MLflow column type {self.type}" + ("" if self.required else " (optional)")


@dataclass
class ModelSource:
    model_uri: str
    local_dir: Path
    fields: list[FieldSpec]
    example_rows: list[dict[str, Any]]
    requirements: list[str]
    registered_name: str | None = None
    registered_version: str | None = None
    run_id: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def with_interpreter_scripts(environ: Mapping[str, str], python: str = sys.executable) -> dict[str, str]:
    """`environ` with the console-script folder of `python`'s environment first on PATH.

    Tools that start a program by name look it up on PATH (`mlflow models serve` runs
    `uvicorn`, `bentoml build` runs `uv`): from a virtual environment that was never
    activated, PATH does not hold its bin folder, where those programs are installed.
    """
    scripts = str(Path(python).parent)  # the venv's bin (not resolved: python is often a symlink out of it)
    path = [p for p in environ.get("PATH", os.defpath).split(os.pathsep) if p and p != scripts]
    return {**environ, "PATH": os.pathsep.join([scripts, *path])}


def bentoml_env(workspace: Workspace) -> dict[str, str]:
    """Environment for every BentoML subprocess of this workspace.

    This interpreter's scripts folder comes first on PATH (see `with_interpreter_scripts`).
    BentoML looks for `uv` on PATH only (`bentoml build` locks the bento's packages with
    it); when uv is found elsewhere (see `find_uv`), its folder goes at the end of PATH.
    """
    home = workspace.state_dir / BENTOML_HOME
    home.mkdir(parents=True, exist_ok=True)
    env = with_interpreter_scripts({
        **os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
    })
    uv = find_uv(env, sys.executable)
    if uv and shutil.which("uv", path=env.get("PATH", os.defpath)) is None:
        env["PATH"] = os.pathsep.join(p for p in (env.get("PATH"), str(Path(uv).parent)) if p)
    return env


def serve_env(workspace: Workspace, service: str) -> dict[str, str]:
    """`bentoml_env` for `bentoml serve` of one service: a BentoML home of its own whose bento and
    model stores are the workspace's (symlinks).

    `bentoml serve` empties `$BENTOML_HOME/prometheus_multiproc_dir` when it starts: with one home
    for the workspace, starting a second service (another model, an A/B router) wiped the
    metrics of the first while it ran.
    """
    env = bentoml_env(workspace)
    shared = Path(env["BENTOML_HOME"])
    home = workspace.state_dir / SERVE_HOMES / service
    home.mkdir(parents=True, exist_ok=True)
    for store in ("bentos", "models"):
        (shared / store).mkdir(parents=True, exist_ok=True)
        link = home / store
        if not link.is_symlink():
            if link.is_dir():
                shutil.rmtree(link)
            link.symlink_to(shared / store, target_is_directory=True)
    env["BENTOML_HOME"] = str(home)
    return env


def find_uv(environ: Mapping[str, str], python: str) -> str | None:
    """The uv executable, found the way this server was started: on PATH; `$UV`, which
    `uv run` sets to itself for its child; or beside `python`, where installing the uv
    package into the environment puts it."""
    on_path = shutil.which("uv", path=environ.get("PATH", os.defpath))
    if on_path:
        return on_path
    for candidate in (environ.get("UV"), str(Path(python).parent / "uv")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_uv(environ: Mapping[str, str], python: str) -> None:
    """Refuse a `bentoml build` that would fail with BentoML's "Failed to install uv".

    Without a uv executable BentoML runs `python -m uv`, and without the uv package it
    installs one with `python -m pip`: either package in `python`'s environment will do.
    """
    if find_uv(environ, python):
        return
    probe = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('uv') or u.find_spec('pip') else 1)"
    if subprocess.run([python, "-c", probe], capture_output=True, check=False).returncode == 0:  # noqa: S603
        return
    raise ToolError(
        "missing_dependency",
        f"`bentoml build` needs uv to lock the bento's packages, and none was found: not on PATH, $UV is not set, "
        f"no uv beside {python}, and that environment has neither the uv nor the pip package (to install it).",
        f"Put uv on PATH (https://docs.astral.sh/uv/getting-started/installation/), or install it into that environment "
        f"({python} -m ensurepip, then {python} -m pip install uv), then build again. Started with `uv run`, "
        "the server finds uv through $UV.",
    )


def check_model_uri(uri: str) -> None:
    if not MODEL_URI.fullmatch(uri):
        raise ToolError(
            "invalid_input",
            f"'{uri}' is not a model URI this tool serves.",
            "Use models:/<name>@<alias>, models:/<name>/<version> or runs:/<run_id>/<artifact_path>.",
        )


def slug(text: str) -> str:
    """A BentoML/Kubernetes-safe name: lowercase letters, digits and dashes."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (value or "model")[:50].rstrip("-")


def class_name(service: str) -> str:
    name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", service) if part)
    return name if name and name[0].isalpha() else f"Model{name}"


def fetch_model(target: MlflowTarget, model_uri: str, dest: Path) -> ModelSource:
    """Download the model into `dest` (replaced only when its content changed) and read its signature."""
    from mlops_engineer.engines.mlflow.backend import fluent, make_client, translate_errors

    check_model_uri(model_uri)
    client = make_client(target)
    labels: dict[str, str] = {"mlflow_model_uri": model_uri}
    name = version = run_id = None
    with translate_errors(target):
        if model_uri.startswith("models:/"):
            ref = model_uri.removeprefix("models:/")
            if "@" in ref:
                from mlops_engineer.engines.mlflow.registry import alias_version, client_has_model

                name, alias = ref.split("@", 1)
                mv = alias_version(client, name, alias) if client_has_model(client, name) else None
                if mv is None:
                    raise ToolError(
                        "not_found", f"{model_uri} does not exist: no registered model '{name}' with the alias '{alias}'.",
                        "register_ml_model describe lists versions and aliases; promote or set_alias creates the alias.",
                    )
            else:
                name, number = ref.split("/", 1)
                mv = client.get_model_version(name, number)
            version, run_id = str(mv.version), mv.run_id
            labels.update(mlflow_model_name=name, mlflow_model_version=version)
        else:
            run_id = model_uri.split("/")[1]
            client.get_run(run_id)
        if run_id:
            labels["mlflow_run_id"] = run_id
        staging = Path(tempfile.mkdtemp(prefix=".model-", dir=dest.parent))
        try:
            with fluent(target) as mlflow:
                # A pinned version, so the files cannot change between resolving and downloading.
                source = f"models:/{name}/{version}" if name and version else model_uri
                mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(staging))
            _replace_if_changed(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    fields, examples = read_signature(dest, model_uri)
    return ModelSource(
        model_uri=model_uri, local_dir=dest, fields=fields, example_rows=examples,
        requirements=model_requirements(dest), registered_name=name, registered_version=version,
        run_id=run_id, labels=labels,
    )


def _replace_if_changed(new: Path, dest: Path) -> None:
    if dest.exists() and tree_digest(dest) == tree_digest(new):
        return
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(new, dest)


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def read_signature(model_dir: Path, model_uri: str) -> tuple[list[FieldSpec], list[dict[str, Any]]]:
    """Request fields from the MLflow signature, and up to 5 example rows (the logged input example)."""
    from mlflow.models import Model
    from mlflow.types.schema import ColSpec

    model = Model.load(str(model_dir))
    signature = model.signature
    if signature is None or signature.inputs is None:
        raise ToolError(
            "invalid_input",
            f"The model {model_uri} has no signature, so there is no request schema to serve.",
            "Log it with an input example or a signature (track_ml_experiments log_run with model.input_example).",
        )
    columns = signature.inputs.inputs
    if not all(isinstance(c, ColSpec) and c.name for c in columns):
        raise ToolError(
            "invalid_input",
            f"The model {model_uri} has a tensor or unnamed-column signature; this tool serves column (DataFrame) signatures.",
            "Log the model with a pandas DataFrame input example so its signature names every column.",
        )
    fields, seen = [], set()
    for index, col in enumerate(columns):
        type_name = getattr(col.type, "name", str(col.type))
        if type_name not in _COLUMN_TYPES:
            raise ToolError("invalid_input", f"Column '{col.name}' has type {type_name}, which this tool cannot serve yet.")
        annotation, dtype = _COLUMN_TYPES[type_name]
        ident = re.sub(r"\W", "_", col.name)
        if not ident.isidentifier() or keyword.iskeyword(ident) or ident in seen or ident.startswith("_") or ident == "model_config":
            ident = f"f{index}_{re.sub(r'[^A-Za-z0-9]', '_', col.name)}".rstrip("_")
        seen.add(ident)
        required = bool(getattr(col, "required", True))
        fields.append(FieldSpec(col.name, ident, type_name, annotation if required else f"{annotation} | None", dtype if required else None, required))
    examples: list[dict[str, Any]] = []
    try:
        example = model.load_input_example(str(model_dir))
    except Exception:  # an unreadable example only costs us the sample request
        example = None
    if example is not None and hasattr(example, "to_dict"):
        import json

        examples = json.loads(example.head(5).to_json(orient="records"))
    if not examples:
        examples = [{f.name: _zero(f) for f in fields}]
    return fields, examples


def _zero(f: FieldSpec) -> Any:
    return {"bool": False, "int": 0, "float": 0.0, "str": "", "bytes": ""}.get(f.annotation.split(" ")[0], None)


def model_requirements(model_dir: Path) -> list[str]:
    """The model's pinned requirements plus the BentoML running here."""
    from mlops_engineer.optional import installed_version

    reqs = []
    path = model_dir / "requirements.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "-")):
                reqs.append(line)
    names = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in reqs}
    # MLflow 3 saves scikit-learn models with skops but leaves skops out of the pinned requirements
    # we give it: without it, an image built from these requirements cannot load the model.
    wanted = ["bentoml", "mlflow", "pandas"] + (["skops"] if _uses_skops(model_dir) else [])
    for dist in wanted:
        if dist not in names and installed_version(dist):
            reqs.append(f"{dist}=={installed_version(dist)}")
    return reqs


def _uses_skops(model_dir: Path) -> bool:
    import yaml

    try:
        flavors = (yaml.safe_load((model_dir / "MLmodel").read_text("utf-8")) or {}).get("flavors") or {}
    except (OSError, yaml.YAMLError):
        return False
    return (flavors.get("sklearn") or {}).get("serialization_format") == "skops"


def bento_version(files: dict[str, str], model_dir: Path) -> str:
    """The bento's version: a digest of what goes into it, so the same inputs build once."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    digest.update(tree_digest(model_dir).encode())
    return digest.hexdigest()[:16]


def bento_dir(workspace: Workspace, tag: str) -> Path:
    name, version = tag.split(":", 1)
    return workspace.state_dir / BENTOML_HOME / "bentos" / name / version


def build_bento(workspace: Workspace, build_ctx: Path, tag: str, timeout: float = 300) -> bool:
    """`bentoml build` the folder as `tag`; False when that bento already exists (nothing to do)."""
    if (bento_dir(workspace, tag) / "bento.yaml").exists():
        return False
    version = tag.split(":", 1)[1]
    env = bentoml_env(workspace)
    require_uv(env, sys.executable)
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bentoml", "build", ".", "--version", version],
        cwd=build_ctx, env=env, capture_output=True, text=True, timeout=timeout,
    )
    if done.returncode != 0 or not (bento_dir(workspace, tag) / "bento.yaml").exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ToolError("failed", f"`bentoml build` failed for {tag}:\n{tail}", "Fix the service in the build folder, then build again.")
    return True


def serve_argv(tag: str, port: int, host: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", tag, "--host", host, "--port", str(port)]
