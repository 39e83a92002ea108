"""What the build-cache audit needs to know about a RUN: package managers, their cache
folders, cache mounts that cover them, and dependency files.

Shared by the audit (findings) and the rewrite (adding mounts, reordering copies)."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from mlops_engineer.engines.containers import shell
from mlops_engineer.engines.containers.dockerfile import Instruction, Mount

TRUTHY = {"1", "true", "True", "TRUE", "on", "On", "ON", "yes", "Yes", "YES"}

# Files a dependency install reads; copying only these before installing keeps the install cached.
DEP_FILE_PATTERNS = (
    "requirements*.txt", "requirements/*.txt", "constraints*.txt", "pyproject.toml", "setup.py", "setup.cfg",
    "poetry.lock", "uv.lock", "Pipfile", "Pipfile.lock", "environment.yml", "environment.yaml", "conda-lock.yml",
    "renv.lock", "DESCRIPTION", "package.json", "package-lock.json", "yarn.lock", ".python-version",
)


def is_dep_file(path: str) -> bool:
    name = path.rstrip("/")
    base = posixpath.basename(name)
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(base, p) for p in DEP_FILE_PATTERNS)


@dataclass(frozen=True)
class Manager:
    """A package manager whose downloads a cache mount can keep between builds."""

    name: str
    matches: Callable[[shell.Command], bool]
    default_targets: tuple[str, ...]  # where its cache lives for root
    env_var: str | None  # setting that moves the cache
    mount_options: str = ""  # extra options for the recommended mount (apt needs sharing=locked)
    # The folders that must be under a cache mount, when narrower than default_targets: apt downloads
    # lists into /var/lib/apt/lists, and the rest of /var/lib/apt (extended_states) belongs in the image.
    needed: tuple[str, ...] | None = None


MANAGERS: tuple[Manager, ...] = (
    Manager("pip", shell.pip_install, ("/root/.cache/pip",), "PIP_CACHE_DIR"),
    Manager("uv", shell.uv_install, ("/root/.cache/uv",), "UV_CACHE_DIR"),
    Manager("apt", lambda c: shell.apt_install(c) or shell.apt_update(c), ("/var/cache/apt", "/var/lib/apt"), None, ",sharing=locked",
            ("/var/cache/apt", "/var/lib/apt/lists")),
    Manager("conda", shell.conda_install, ("/opt/conda/pkgs",), "CONDA_PKGS_DIRS"),
    Manager("renv", shell.renv_restore, ("/root/.cache/R/renv",), "RENV_PATHS_CACHE"),
)


def covers(mount: Mount, path: str) -> bool:
    """A cache (or tmpfs) mount whose target is `path` or one of its parents."""
    if mount.type not in {"cache", "tmpfs"} or not mount.target:
        return False
    target = posixpath.normpath(mount.target)
    path = posixpath.normpath(path)
    return path == target or path.startswith(target.rstrip("/") + "/")


def cache_targets(manager: Manager, env: dict[str, str]) -> tuple[str, ...]:
    if manager.env_var and env.get(manager.env_var):
        return (env[manager.env_var].split(":")[0],)
    return manager.default_targets


def mounted(manager: Manager, ins: Instruction, env: dict[str, str]) -> bool:
    """Every cache folder of `manager` is under one of the RUN's cache mounts."""
    mounts = ins.mounts
    needed = manager.needed if manager.needed and not (manager.env_var and env.get(manager.env_var)) else cache_targets(manager, env)
    return all(any(covers(m, t) for m in mounts) for t in needed)


def run_env(ins: Instruction, stage_env: dict[str, str], cmd: shell.Command | None = None) -> dict[str, str]:
    env = dict(stage_env)
    if cmd is not None:
        env.update(dict(a.split("=", 1) for a in cmd.assignments))
    return env


def rm_targets(cmd: shell.Command) -> list[str]:
    if cmd.name != "rm":
        return []
    return [w for w in cmd.words[1:] if not w.startswith("-")]


def removes(cmd: shell.Command, folder: str) -> bool:
    """`rm -rf <folder>` or `<folder>/*` (the usual cleanup spellings)."""
    folder = folder.rstrip("/")
    return any(t.rstrip("/") in {folder, folder + "/*"} for t in rm_targets(cmd))


def is_cleanup(cmd: shell.Command) -> bool:
    """A command that only deletes files or caches."""
    if cmd.name in {"rm", "true", ":"}:
        return True
    words = cmd.words
    return (cmd.name in {"apt-get", "apt", "yum", "dnf", "apk"} and "clean" in words) or \
        (cmd.name in {"conda", "mamba", "micromamba"} and "clean" in words) or \
        (cmd.name in {"pip", "pip3"} and words[1:3] == ("cache", "purge")) or \
        (cmd.name == "uv" and words[1:3] == ("cache", "clean")) or \
        (cmd.name == "yarn" and words[1:3] == ("cache", "clean")) or \
        (cmd.name == "npm" and words[1:3] == ("cache", "clean"))


def installs_dependencies(cmd: shell.Command) -> bool:
    """A command that installs third-party packages (what a layer-order fix keeps cached)."""
    if shell.pip_install(cmd) or shell.uv_install(cmd) or shell.conda_install(cmd) or shell.renv_restore(cmd) or shell.r_install(cmd):
        return True
    words = cmd.words
    return (cmd.name in {"poetry", "pipenv"} and "install" in words) or \
        (cmd.name == "npm" and len(words) > 1 and words[1] in {"ci", "install", "i"}) or \
        (cmd.name == "yarn" and (len(words) == 1 or words[1] == "install"))


def needs_project_sources(cmd: shell.Command) -> bool:
    """`pip install .` / `-e .` / `uv sync` without --no-install-project: the project itself."""
    words = list(cmd.words)
    if shell.pip_install(cmd):
        return any(w in {".", "./", "-e", "--editable"} or w.startswith("./") or w.startswith(".[") for w in words)
    if cmd.name == "uv" and "sync" in words:
        return "--no-install-project" not in words
    if cmd.name == "poetry" and "install" in words:
        return "--no-root" not in words
    return False


def referenced_files(cmd: shell.Command) -> list[str]:
    """Files a dependency command reads (`-r requirements.txt`, `-f environment.yml`, ...)."""
    out: list[str] = []
    words = list(cmd.words)
    for i, w in enumerate(words):
        if w in {"-r", "--requirement", "-c", "--constraint", "-f", "--file"} and i + 1 < len(words):
            out.append(words[i + 1])
        elif w.startswith(("--requirement=", "--constraint=", "--file=")):
            out.append(w.split("=", 1)[1])
        elif w.startswith("-r") and len(w) > 2 and not w.startswith("--"):
            out.append(w[2:])
    if shell.renv_restore(cmd):
        out.append("renv.lock")
    if cmd.name == "uv" and "sync" in words:
        out += ["pyproject.toml", "uv.lock"]
    if cmd.name == "poetry":
        out += ["pyproject.toml", "poetry.lock"]
    if cmd.name in {"npm", "yarn"}:
        out += ["package.json"]
    return out
