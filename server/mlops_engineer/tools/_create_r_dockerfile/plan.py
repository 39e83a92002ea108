"""From what the project declares to the files we write: base image, apt packages, stages, smoke commands."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlops_engineer.engines.containers.project_deps import ProjectDeps, read_project
from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._create_r_dockerfile.models import Build, Detected, DockerfileOutput, LintInfo, Render

# Digest-pinned defaults (the tag's multi-arch index when written down); refresh with
# `docker buildx imagetools inspect <image:tag>` and pass base_image to use another.
DEFAULT_PYTHON = "python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91"
DEFAULT_DEBIAN = "debian:bookworm-slim@sha256:d5d3f9c23164ea16f31852f95bd5959aad1c5e854332fe00f7b3a20fcc9f635c"
DEFAULT_ROCKER = "rocker/r-ver:4.4.1@sha256:f3ef082e63ca36547fcf0c05a0d74255ddda6ca7bd88f1dae5a44ce117fc3804"
DEFAULT_CONDA = "mambaorg/micromamba:1.5.8@sha256:475730daef12ff9c0733e70092aeeefdf4c373a584c952dac3f7bdb739601990"
UV_VERSION = "0.13.9"
RENV_FALLBACK_VERSION = "1.1.5"
IGNORED_RULES = {"DL3008": "apt versions are the pinned base image's Debian release; exact revisions leave the mirror at each point release."}
CERT = "if [ -f /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert SSL_CERT_FILE=/run/secrets/pip_cert; fi"
_APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+~-]{0,40}$")


@dataclass
class Plan:
    root: Path
    deps: ProjectDeps
    base_image: str
    flavour: str
    files: dict[str, str]
    dockerfile_rel: str
    detected: Detected
    lint: LintInfo
    tag: str


def flavour_of(image: str) -> str:
    name = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    if "micromamba" in last or "conda" in last or "mamba" in last:
        return "conda"
    if "rocker/" in name and "r2u" not in name:
        return "rocker"
    if last.startswith("python"):
        return "python"
    return "debian"


def _choose_base(op: Render | Build, deps: ProjectDeps) -> tuple[str, str]:
    py = deps.python
    if op.base_image:
        image = op.base_image
    elif py and py.manager == "conda" and not deps.r:
        image = DEFAULT_CONDA
    elif deps.r and op.r_install == "renv":
        image = DEFAULT_ROCKER
    elif py:
        image = DEFAULT_PYTHON
    else:
        image = DEFAULT_DEBIAN
    flavour = op.base_flavour if op.base_flavour != "auto" else flavour_of(image)
    return image, flavour


def _refuse(message: str, hint: str) -> ToolError:
    return ToolError("invalid_input", message, hint)


def _check_combination(op: Render | Build, deps: ProjectDeps, flavour: str) -> None:
    if flavour == "conda" and deps.r:
        raise _refuse("A conda (micromamba) base is for environment.yml projects; this project has R.",
                      "Use a Debian or python base (base_flavour debian/python) with r_install=apt.")
    if flavour != "conda" and deps.python and deps.python.manager == "conda":
        raise _refuse("environment.yml is solved by micromamba, which a Debian/python/rocker base does not have.",
                      "Leave base_image unset (micromamba default) or pass a micromamba image with base_flavour=conda.")
    if deps.r and op.r_install == "apt" and flavour == "rocker":
        raise _refuse("r_install=apt installs Debian's r-cran-* binaries, which would bring a second R beside rocker/r-ver's.",
                      "Use r_install=renv with rocker/r-ver, or a Debian/python base (or rocker/r2u, base_flavour=debian) with apt.")
    if deps.r and op.r_install == "renv" and not (deps.r.sources and deps.r.sources[0] == "renv.lock"):
        raise _refuse("r_install=renv restores renv.lock, and this project has none.",
                      "Run renv::init() and renv::snapshot() in the project, or use r_install=apt (DESCRIPTION's packages from Debian).")


def _r_smoke(packages: list[str]) -> list[str]:
    listed = ", ".join(f'"{p}"' for p in packages)
    return ["Rscript", "-e", f"for (p in c({listed})) suppressPackageStartupMessages(library(p, character.only = TRUE)); "
            f'cat("R", format(getRversion()), "loaded {len(packages)} package(s)\\n")']


def _exec_form(argv: list[str]) -> object:
    """An exec-form JSON array (Docker decodes it as JSON; no shell, no variable substitution)."""
    import json

    from markupsafe import Markup

    return Markup(json.dumps(argv))


def _labels(deps: ProjectDeps, image: str, folder: str) -> dict[str, str]:
    from markupsafe import Markup

    r, py = deps.r, deps.python
    title = (py.name if py and py.name else None) or (r.name if r and r.name else None) or folder
    values = {
        "org.opencontainers.image.title": title,
        "org.opencontainers.image.version": (py.version if py and py.version else None) or (r.version if r and r.version else None),
        "org.opencontainers.image.description": py.description if py else None,
        "org.opencontainers.image.licenses": (py.license if py and py.license else None) or (r.license if r else None),
        "org.opencontainers.image.base.name": image,
        "ai.mlops-engineer.sources": ", ".join([*(r.sources if r else []), *(py.sources if py else [])]),
    }
    # A LABEL value is a Dockerfile double-quoted string: \ " and $ (variable substitution) escaped, one line.
    def quote(text: str) -> Markup:
        flat = re.sub(r"[\x00-\x1f\x7f]+", " ", text)[:200]
        return Markup('"' + flat.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"')

    return {k: quote(v) for k, v in values.items() if v}


def build_plan(op: Render | Build, ctx: ToolContext, tag: str | None = None) -> Plan:
    from mlops_engineer.engines.containers import r_packages
    from mlops_engineer.engines.containers.dockerignore import dockerignore_sections
    from mlops_engineer.engines.containers.hadolint import lint
    from mlops_engineer.render import render_template

    root = ctx.workspace.resolve(op.project, must_exist=True)
    if not root.is_dir():
        raise _refuse(f"{op.project} is not a folder.", "Pass the project's folder as `project`.")
    for name in op.keep:
        ctx.workspace.resolve(str(Path(op.project) / name))
    deps = read_project(root)
    image, flavour = _choose_base(op, deps)
    _check_combination(op, deps, flavour)
    r, py = deps.r, deps.python
    rel = ctx.workspace.relative(root) or "."
    tag = tag or f"{re.sub(r'[^a-z0-9._-]+', '-', (root.name or 'project').lower()).strip('.-_') or 'project'}:dev"

    system_apt: list[str] = []
    build_apt: list[str] = []
    sysreqs: dict[str, list[str]] = {}
    smoke: list[list[str]] = []
    notes = list(deps.notes)
    if py and flavour in ("debian", "rocker"):
        system_apt += ["python3", "python3-venv"]
    if py and flavour in ("debian", "rocker"):
        system_apt.append("ca-certificates")  # minbase has none; pip and uv need them
    install_project = False
    if r:
        sysreqs = r_packages.system_requirements(r.packages, r.system_requirements)
        install_project = bool(r.name) and (root / "R").is_dir()
        if op.r_install == "apt":
            if flavour != "rocker":
                system_apt.append("r-base-core")
            system_apt += [r_packages.debian_package(p) for p in r.packages]
            if r.compiles:
                # The compiler only where the project is built; the -dev packages everywhere, since they
                # bring the shared libraries the compiled code loads at run time.
                build_apt.append("r-base-dev")
                system_apt += r_packages.flatten(sysreqs)
            if "renv.lock" in r.sources:
                notes.append("apt mode installs Debian's versions of the renv.lock packages, not the locked ones; r_install=renv restores exact versions (needs CRAN).")
        else:
            # Packages compiled from source load these libraries at run time too: the system stage has them.
            system_apt += r_packages.flatten(sysreqs) or ["libcurl4-openssl-dev", "libssl-dev"]
        smoke.append(_r_smoke([*r.load[:40], *([r.name] if install_project and r.name else [])] or ["stats"]))
    bad = [p for p in system_apt + build_apt if not _APT_NAME.match(p)]
    if bad:
        raise _refuse(f"Not an apt package name: {', '.join(bad[:5])}.", "Fix the R package names in DESCRIPTION / renv.lock.")
    system_apt = list(dict.fromkeys(system_apt))
    build_apt = sorted(set(build_apt))
    if py:
        modules = py.modules
        smoke.append(["python", "-c", f"import {', '.join(modules)}; print('imported: {', '.join(modules)}')"] if modules
                     else ["python", "-c", "import sys; print(sys.version)"])
    has_python = py is not None
    healthcheck = None
    if op.port:
        url = f"http://127.0.0.1:{op.port}{op.health_path}"
        healthcheck = (["python", "-c", f"import urllib.request; urllib.request.urlopen('{url}', timeout=4)"] if has_python
                       else ["Rscript", "-e", f"invisible(readLines(url('{url}'), warn = FALSE))"])
    command = list(op.command) or (["python"] if has_python else ["R", "--no-save"])
    renv_version = (r.renv_version if r and r.renv_version else None) or RENV_FALLBACK_VERSION
    if not _VERSION.match(renv_version):
        raise _refuse(f"renv.lock's renv version {renv_version!r} is not a version.", "Fix renv.lock (renv::snapshot()).")
    values = {
        "healthcheck": _exec_form(healthcheck) if healthcheck else None, "command": _exec_form(command),
        "sources": [*(r.sources if r else []), *(py.sources if py else [])], "tag": tag, "base_image": image,
        "labels": _labels(deps, image, root.name or "project"), "port": op.port,
    }
    if py and py.manager == "conda":
        values["environment_file"] = py.sources[0]
        dockerfile = render_template("containers/conda.Dockerfile.j2", **values)
    else:
        dockerfile = render_template(
            "containers/project.Dockerfile.j2", **values, has_python=has_python, has_r=r is not None, python=py,
            system_apt=system_apt, build_apt=build_apt, cert=CERT, uv_version=UV_VERSION, r_install=op.r_install,
            renv_version=renv_version, r_deps_stage=bool(r) and (op.r_install == "renv" or install_project),
            r_install_project=install_project,
        )
    ignore = render_template("containers/dockerignore.j2", sections=dockerignore_sections(root, op.keep))
    findings = lint(dockerfile)
    lint_info = LintInfo(
        ran=findings is not None,
        findings=[f"{f.line} {f.code} {f.level} {f.message}" for f in findings or []],
        ignored={k: v for k, v in IGNORED_RULES.items() if f"ignore={k}" in dockerfile},
    )
    prefix = "" if rel == "." else f"{rel}/"
    detected = Detected(
        kind=deps.kind, sources=values["sources"], python_manager=py.manager if py else None,
        python_dependencies=len(py.dependencies) if py else 0, r_packages=(r.packages[:50] if r else []),
        apt_packages=[*system_apt, *build_apt], system_requirements=sysreqs, smoke=smoke, notes=notes,
    )
    return Plan(root=root, deps=deps, base_image=image, flavour=flavour,
                files={f"{prefix}{op.dockerfile}": dockerfile, f"{prefix}.dockerignore": ignore},
                dockerfile_rel=f"{prefix}{op.dockerfile}", detected=detected, lint=lint_info, tag=tag)


def run_render(op: Render | Build, dry_run: bool, confirm: bool, ctx: ToolContext, tag: str | None = None) -> tuple[Plan, DockerfileOutput]:
    from mlops_engineer.render import write_files

    plan = build_plan(op, ctx, tag)
    out = DockerfileOutput(
        action=op.action, project=ctx.workspace.relative(plan.root) or ".", base_image=plan.base_image,
        base_flavour=plan.flavour, detected=plan.detected, lint=plan.lint, dry_run=dry_run,
    )
    out.files = write_files(ctx.workspace, plan.files, dry_run=dry_run, confirm=confirm)
    if dry_run:
        out.dockerfile = plan.files[plan.dockerfile_rel]
    out.next_steps = [
        f"DOCKER_BUILDKIT=1 docker build -t <tag> {out.project} (or action build: builds, then runs {len(plan.detected.smoke)} smoke command(s))",
    ]
    if plan.lint.findings:
        out.next_steps.insert(0, "hadolint reported findings (see lint): adjust the inputs or the Dockerfile.")
    return plan, out
