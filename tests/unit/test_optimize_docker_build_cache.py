"""optimize_docker_build_cache without an engine: the parser, the audit against real hadolint on a
corpus of ML Dockerfiles (and every Dockerfile our own tools render), the rewrite, the tool."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_engineer.engines.containers.audit import HADOLINT_RULES, audit_dockerfile
from mlops_engineer.engines.containers.context import DockerIgnore
from mlops_engineer.engines.containers.dockerfile import DockerfileSyntaxError, parse, substitute
from mlops_engineer.engines.containers.rewrite import rewrite
from mlops_engineer.errors import ToolError
from mlops_engineer.render import render_template
from mlops_engineer.tools._deploy_ml_model_serving.containerize import containerize_dockerfile
from mlops_engineer.tools._deploy_ml_model_serving.models import Containerize, ServingInput
from mlops_engineer.tools.create_r_dockerfile import TOOL as R_TOOL
from mlops_engineer.tools.optimize_docker_build_cache import TOOL
from mlops_engineer.tools.setup_docker_compose import TOOL as COMPOSE_TOOL
from tests.helpers import ToolRunner
from tests.unit.test_create_r_dockerfile import CASES as CREATE_R_CASES
from tests.unit.test_create_r_dockerfile import PROJECTS, make_project

CORPUS = Path(__file__).parent / "dockerfile_corpus"
# hadolint's known false positives: the cache is in a cache mount, not in the layer (hadolint#497, #723).
KNOWN_FALSE_POSITIVES = {
    ("05_pip_mount_parent_dir.Dockerfile", 5, "DL3042"),
    ("06_apt_mount_var_lib_apt.Dockerfile", 4, "DL3009"),
}
# Every case create_r_dockerfile's own test renders, and conda without a port, uv and pyproject on a bare Debian base.
R_CASES = [*CREATE_R_CASES, ("conda", {}), ("uv", {"base_image": "local/debian:bookworm"}),
           ("pyproject", {"base_image": "local/debian:bookworm", "port": 8000})]
SERVING_CASES: dict[str, dict] = {
    "install": {}, "prebuilt": {"install_requirements": False}, "full_mlflow": {"slim_mlflow": False},
    "install_python": {"base_image": "debian:bookworm-slim", "install_python": True},
    "install_python_host_ca": {"base_image": "debian:bookworm-slim", "install_python": True, "host_ca_bundle": True},
}
# The serving image is built through the Docker SDK, whose build API is the legacy builder: no RUN --mount.
# Its installs clean up in the same layer instead (--no-cache-dir, uv --no-cache, rm -rf the apt lists).
LEGACY_BUILDER = {"pip-cache-mount", "uv-cache-mount", "apt-cache-mount"}


def _rendered(tmp_path: Path) -> dict[str, str]:
    """Every Dockerfile our own tools render, through the tools: create_r_dockerfile (every case its own test
    renders: R apt/renv, DESCRIPTION, uv, pyproject, requirements, conda, mixed; debian/python/rocker/conda
    bases; with and without a port), setup_docker_compose (mlflow, feast, bentoml, model_api on a python and
    a bare Debian base), deploy_ml_model_serving containerize (each option) and the MLflow team stack."""
    runner = ToolRunner(tmp_path / "ws")
    out: dict[str, str] = {}
    for kind, files in PROJECTS.items():
        make_project(runner.root / kind, files)
    for kind, options in R_CASES:
        label = "-".join(f"{k}={v}" if isinstance(v, (str, int)) else k for k, v in options.items()) or "default"
        rendered = runner(R_TOOL, {"action": "render", "project": kind, **options}, dry_run=True)
        out[f"rendered_r_{kind}_{re.sub(r'[^A-Za-z0-9=.-]+', '_', label)}.Dockerfile"] = rendered.dockerfile
    stacks = {"ml": [{"kind": "mlflow"}, {"kind": "feast"}, {"kind": "bentoml", "model_uri": "models:/churn@champion"},
                     {"kind": "model_api"}],
              "bare": [{"kind": "model_api", "base_image": "debian:bookworm-slim"}]}
    for name, components in stacks.items():
        runner(COMPOSE_TOOL, {"action": "render", "stack": name, "components": components})
        for path in sorted((runner.root / "compose" / name).rglob("Dockerfile")):
            rel = path.relative_to(runner.root / "compose" / name).parent.as_posix().replace("/", "_")
            out[f"rendered_compose_{name}_{rel}.Dockerfile"] = path.read_text()
    for label, options in SERVING_CASES.items():
        op = ServingInput.model_validate({"operation": {"action": "containerize", "model_uri": "models:/churn@champion", **options}}).operation
        assert isinstance(op, Containerize)
        out[f"rendered_serving_{label}.Dockerfile"] = containerize_dockerfile(op, "churn:abc123", "churn")
    out["rendered_mlflow.Dockerfile"] = render_template("tracking/Dockerfile.mlflow.j2", mlflow_version="3.5.0")
    return out


def _corpus(tmp_path: Path) -> dict[str, Path]:
    files = {p.name: p for p in sorted(CORPUS.glob("*.Dockerfile"))}
    for name, text in _rendered(tmp_path).items():
        (tmp_path / name).write_text(text)
        files[name] = tmp_path / name
    return files


def _hadolint(path: Path) -> set[tuple[int, str]]:
    binary = Path(sys.executable).parent / "hadolint"
    done = subprocess.run([str(binary), "--no-fail", "--format", "json", str(path)], capture_output=True, text=True, timeout=60)
    return {(d["line"], d["code"]) for d in json.loads(done.stdout or "[]") if d["code"] in HADOLINT_RULES}


def test_audit_reports_every_hadolint_layer_finding_without_its_false_positives(tmp_path: Path) -> None:
    files = _corpus(tmp_path)
    rendered = [n for n in files if n.startswith("rendered_")]
    assert len(files) - len(rendered) == 18 and len(rendered) == len(R_CASES) + 7 + len(SERVING_CASES) + 1, sorted(files)
    seen_codes: set[str] = set()
    compared = 0
    for name, path in files.items():
        theirs = _hadolint(path)
        findings = audit_dockerfile(parse(path.read_text()), name).findings
        ours = {(f.line, f.hadolint) for f in findings if f.hadolint}
        compared += len(theirs)
        if name.startswith("rendered_"):
            # Our own Dockerfiles: no warning of the audit either (layer order, cache mounts, caches in layers).
            allowed = LEGACY_BUILDER if name.startswith("rendered_serving_") else set()
            assert not [f for f in findings if f.severity != "info" and f.rule not in allowed], (name, findings)
        false_positives = {(line, code) for n, line, code in KNOWN_FALSE_POSITIVES if n == name}
        assert false_positives <= theirs, f"{name}: hadolint no longer reports {false_positives - theirs}"
        assert theirs - false_positives <= ours, f"{name}: missing {sorted(theirs - false_positives - ours)}"
        assert not ours & false_positives, f"{name}: reports hadolint's false positive {ours & false_positives}"
        seen_codes |= {code for _line, code in theirs}
    assert compared >= 20
    # The corpus exercises most of the rules the audit claims.
    assert {"DL3006", "DL3007", "DL3009", "DL3015", "DL3019", "DL3020", "DL3032", "DL3040", "DL3042", "DL3059"} <= seen_codes


@pytest.mark.parametrize(("name", "rule", "line"), [
    ("01_copy_before_requirements.Dockerfile", "layer-order", 4),
    ("01_copy_before_requirements.Dockerfile", "pip-cache-mount", 5),
    ("02_apt_no_cleanup.Dockerfile", "apt-cache-mount", 2),
    ("04_latest_conda.Dockerfile", "conda-cache-mount", 4),
    ("11_uv_sync.Dockerfile", "uv-cache-mount", 5),
    ("13_r_renv.Dockerfile", "renv-cache-mount", 6),
    ("08_cleanup_later_layer.Dockerfile", "cleanup-in-later-layer", 6),
    ("09_secrets.Dockerfile", "secret-in-layer", 2),
    ("09_secrets.Dockerfile", "secret-in-layer", 5),
    ("16_heredoc_jupyter.Dockerfile", "apt-lists-in-layer", 3),
])
def test_cache_mount_and_layer_findings_hadolint_lacks(name: str, rule: str, line: int) -> None:
    findings = audit_dockerfile(parse((CORPUS / name).read_text())).findings
    assert (rule, line) in {(f.rule, f.line) for f in findings}


@pytest.mark.parametrize(("text", "rules"), [
    # The project itself installed after its dependencies: the pattern, not a layer-order fault.
    ("FROM python:3.11-slim\nCOPY pyproject.toml uv.lock ./\nRUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-install-project\n"
     "COPY . .\nRUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen\n", set()),
    ("FROM python:3.11-slim\nCOPY . .\nRUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps .\n", set()),
    ("FROM python:3.11-slim\nCOPY . .\nRUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen\n", {"layer-order"}),
    ("FROM python:3.11-slim\nCOPY . .\nRUN --mount=type=cache,target=/root/.cache/pip pip install .\n", {"layer-order"}),
    # apt's downloads are /var/cache/apt and /var/lib/apt/lists; the rest of /var/lib/apt belongs in the image.
    ("FROM debian:bookworm\nRUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt/lists,sharing=locked "
     "apt-get update && apt-get install -y --no-install-recommends curl\n", set()),
    ("FROM debian:bookworm\nRUN --mount=type=cache,target=/var/cache/apt,sharing=locked "
     "apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n", {"apt-cache-mount"}),
])
def test_project_installs_and_apt_list_mounts(text: str, rules: set[str]) -> None:
    found = {f.rule for f in audit_dockerfile(parse(text)).findings if f.rule in {"layer-order", "apt-cache-mount"}}
    assert found == rules


def test_good_dockerfile_has_no_cache_findings() -> None:
    findings = audit_dockerfile(parse((CORPUS / "12_multistage_ok.Dockerfile").read_text())).findings
    assert not [f for f in findings if f.severity != "info"], findings


def test_parser_lines_continuations_heredocs_flags_and_substitution() -> None:
    df = parse("# syntax=docker/dockerfile:1\n# escape=\\\nARG BASE=python:3.11\nFROM ${BASE}-slim AS build\n"
               "RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \\\n    # a comment inside\n    pip install x\n"
               "COPY <<EOF /app/a.txt\nhello\nEOF\nENV A=1 B=\"two words\"\nCOPY --from=build --chown=1:1 [\"/a\", \"/b\"]\n")
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "\\"}
    assert df.stages[0].base_resolved == "python:3.11-slim" and df.stages[0].name == "build"
    run = df.instructions[2]
    assert (run.keyword, run.line, run.end_line) == ("RUN", 5, 7)
    assert run.mounts[0].type == "cache" and run.mounts[0].target == "/root/.cache/pip" and run.mounts[0].option("sharing") == "locked"
    assert "pip install x" in run.command
    copy = df.instructions[3]
    assert copy.heredocs[0].body == "hello" and copy.end_line == 10
    env = df.instructions[4]
    assert df.env_at(df.instructions[5]) == {"A": "1", "B": "two words"} and env.line == 11
    assert df.instructions[5].flag("from") == "build" and df.instructions[5].json_args == ("/a", "/b")
    assert substitute("${X:-d}/${Y:+y}$Z", {"Y": "1", "Z": "z"}) == "d/yz"
    with pytest.raises(DockerfileSyntaxError):
        parse("FROM a\nRUN <<EOF\necho\n")


def test_dockerignore_patterns() -> None:
    ignore = DockerIgnore.parse("# comment\n.git\n**/__pycache__\ndata/\n*.ckpt\n!data/keep.csv\n")
    assert ignore.excluded(".git/config") and ignore.excluded("a/b/__pycache__/x.pyc")
    assert ignore.excluded("data/train.parquet") and not ignore.excluded("data/keep.csv")
    assert ignore.excluded("model.ckpt") and not ignore.excluded("sub/model.ckpt") and not ignore.excluded("app.py")


def test_rewrite_moves_installs_before_sources_and_adds_mounts(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    for name in ("01_copy_before_requirements.Dockerfile", "08_cleanup_later_layer.Dockerfile", "13_r_renv.Dockerfile"):
        (tmp_path / "renv.lock").write_text("{}")
        result = rewrite(parse((CORPUS / name).read_text()), tmp_path)
        after = {f.rule for f in audit_dockerfile(parse(result.text)).findings}
        assert not after & {"layer-order", "pip-cache-mount", "apt-cache-mount", "renv-cache-mount", "pip-cache-in-layer"}, (name, after)
        assert result.changes
    assert rewrite(parse((CORPUS / "11_uv_sync.Dockerfile").read_text()), tmp_path).manual  # no pyproject.toml: left to a person
    (tmp_path / "pyproject.toml").write_text("[project]\nname = \"s\"\n")
    text = rewrite(parse((CORPUS / "11_uv_sync.Dockerfile").read_text()), tmp_path).text
    assert "uv sync --frozen --no-install-project" in text and text.index("--no-install-project") < text.index("COPY . .")


def test_tool_audit_rewrite_and_measure_plan(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    (tmp_path / "svc" / "app").mkdir(parents=True)
    (tmp_path / "svc" / "app" / "main.py").write_text("print(1)\n")
    (tmp_path / "svc" / "requirements.txt").write_text("six==1.16.0\n")
    (tmp_path / "svc" / ".env").write_text("TOKEN=x\n")
    original = (CORPUS / "01_copy_before_requirements.Dockerfile").read_text()
    (tmp_path / "svc" / "Dockerfile").write_text(original)
    out = tools(TOOL, {"action": "audit", "dockerfile": "svc/Dockerfile"})
    rules = {f.rule for f in out.findings}
    assert {"layer-order", "pip-cache-mount", "pip-cache-in-layer", "dockerignore-missing", "secret-in-layer"} <= rules
    assert out.context.files == 4 and out.context.secrets == [".env"]
    plan = tools(TOOL, {"action": "rewrite", "dockerfile": "svc/Dockerfile"})
    assert plan.dry_run and "+COPY requirements.txt /app/" in plan.diff
    assert (tmp_path / "svc" / "Dockerfile").read_text() == original and not (tmp_path / "svc" / ".dockerignore").exists()
    done = tools(TOOL, {"action": "rewrite", "dockerfile": "svc/Dockerfile"}, confirm=True)
    assert not done.dry_run and {f.path for f in done.files} == {"svc/Dockerfile", "svc/.dockerignore"}
    assert ".env" in (tmp_path / "svc" / ".dockerignore").read_text().splitlines()
    again = tools(TOOL, {"action": "audit", "dockerfile": "svc/Dockerfile"})
    assert not {f.rule for f in again.findings} & {"layer-order", "pip-cache-mount", "dockerignore-missing", "secret-in-layer"}
    # Idempotent: a second rewrite has nothing left to change.
    assert tools(TOOL, {"action": "rewrite", "dockerfile": "svc/Dockerfile"}, confirm=True).files == []
    measure = tools(TOOL, {"action": "measure", "dockerfile": "svc/Dockerfile"}, dry_run=True)
    assert measure.changed_file == "app/main.py" and len(measure.planned_calls) == 2
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "audit", "dockerfile": "../outside/Dockerfile"})
    assert err.value.code == "outside_workspace"
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "audit", "dockerfile": "svc/missing"})
    assert err.value.code == "not_found"


def test_weak_dockerignore_and_a_mount_turned_off(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    (tmp_path / "mlruns" / "0").mkdir(parents=True)
    (tmp_path / "mlruns" / "0" / "meta.yaml").write_text("x" * 5000)
    (tmp_path / "model.ckpt").write_bytes(b"\0" * 1_200_000)
    (tmp_path / ".dockerignore").write_text(".git\n")
    (tmp_path / "requirements.txt").write_text("six\n")
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY requirements.txt .\n"
                                         "RUN --mount=type=cache,target=/root/.cache/pip pip install --no-cache-dir -r requirements.txt\n"
                                         "COPY . .\n")
    out = tools(TOOL, {"action": "audit"})
    by_rule = {f.rule: f for f in out.findings}
    assert "mlruns" in by_rule["dockerignore-weak"].message and "*.ckpt" in by_rule["dockerignore-weak"].message
    assert by_rule["cache-mount-unused"].line == 3 and "pip-cache-in-layer" not in by_rule
    assert out.context.dockerignore == ".dockerignore" and out.context.heavy["mlruns"] == 5000
    warnings_only = tools(TOOL, {"action": "audit", "min_severity": "warning"})
    assert {f.severity for f in warnings_only.findings} <= {"error", "warning"}


def test_rewrite_keeps_continuation_lines_whole() -> None:
    text = ("FROM debian:bookworm\nRUN apt-get update \\\n    && apt-get install -y --no-install-recommends \\\n       python3-pip \\\n"
            "    && rm -rf /var/lib/apt/lists/*\nRUN pip install --no-cache-dir \\\n    six\nCMD [\"python3\"]\n")
    out = rewrite(parse(text)).text
    df = parse(out)
    assert [(i.keyword, i.line) for i in df.instructions] == [("FROM", 1), ("RUN", 2), ("RUN", 5), ("CMD", 7)]
    assert "lists" not in out and "--no-cache-dir" not in out
    assert {m.target for m in df.instructions[1].mounts} == {"/var/cache/apt", "/var/lib/apt"}
    assert [m.target for m in df.instructions[2].mounts] == ["/root/.cache/pip"]
    assert df.instructions[2].command.split() == ["pip", "install", "six"]
