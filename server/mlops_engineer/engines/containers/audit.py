"""Audit a Dockerfile and its build context for build-cache and layer problems.

Each finding names a rule, a severity, the line, and the fix. Where hadolint has the same
check, `hadolint` carries its code; we follow its logic except where it is known to be wrong
(DL3042/DL3009/DL3019 fire when a cache mount keeps the cache out of the layer: hadolint#497, #723).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlops_engineer.engines.containers import shell
from mlops_engineer.engines.containers.build_cache import (
    MANAGERS,
    TRUTHY,
    cache_targets,
    covers,
    installs_dependencies,
    is_cleanup,
    is_dep_file,
    mounted,
    needs_project_sources,
    removes,
    run_env,
)
from mlops_engineer.engines.containers.context import (
    ContextScan,
    is_secret_file,
    read_dockerignore,
    scan_context,
    suggested_ignore,
)
from mlops_engineer.engines.containers.dockerfile import Dockerfile, Instruction, image_reference, parse_arg, parse_env

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

# hadolint rules on layers and caching that this audit covers (same line, same meaning).
HADOLINT_RULES: dict[str, str] = {
    "DL3006": "base-untagged",
    "DL3007": "base-latest",
    "DL3009": "apt-lists-in-layer",
    "DL3015": "apt-recommends",
    "DL3019": "apk-cache-in-layer",
    "DL3020": "add-instead-of-copy",
    "DL3032": "yum-cache-in-layer",
    "DL3036": "zypper-cache-in-layer",
    "DL3040": "dnf-cache-in-layer",
    "DL3042": "pip-cache-in-layer",
    "DL3059": "consecutive-run",
    "DL3060": "yarn-cache-in-layer",
}
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tb2", ".tar.xz", ".txz", ".xz", ".gz",
                    ".bz2", ".lz", ".lzma", ".tlz", ".Z", ".tZ", ".zst", ".tar.zst")
SECRET_VARS = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)", re.I)
BUILD_TOOLS = {"build-essential", "gcc", "g++", "make", "cmake", "git", "clang", "gfortran", "cargo", "rustc",
               "python3-dev", "libpq-dev", "libffi-dev", "libssl-dev", "musl-dev", "linux-headers"}


@dataclass
class Finding:
    rule: str
    severity: Severity
    line: int
    message: str
    fix: str
    hadolint: str | None = None


@dataclass
class Audit:
    path: str
    findings: list[Finding] = field(default_factory=list)
    context: ContextScan | None = None
    dockerignore: str | None = None  # the ignore file used, relative to the context
    suggested_ignore: list[str] = field(default_factory=list)

    def add(self, rule: str, severity: Severity, line: int, message: str, fix: str, hadolint: str | None = None) -> None:
        self.findings.append(Finding(rule, severity, line, message, fix, hadolint))

    def sort(self) -> None:
        self.findings.sort(key=lambda f: (f.line, SEVERITY_ORDER[f.severity], f.rule))


def _cmds(ins: Instruction) -> list[shell.Command]:
    return shell.commands(ins.command) if ins.keyword == "RUN" else []


def audit_dockerfile(df: Dockerfile, path: str = "Dockerfile") -> Audit:
    """Findings from the Dockerfile alone (no build context)."""
    report = Audit(path=path)
    _check_bases(df, report)
    final_like = _stages_in_image(df)
    pip_off: dict[int, bool] = {}  # stage -> PIP_NO_CACHE_DIR set by ENV (inherited by FROM <stage>)
    prev_run: tuple[tuple[tuple[str, str | None], ...], int] | None = None
    for ins in df.instructions:
        if ins.keyword == "FROM":
            stage = df.stages[ins.stage]
            parent = df.stage_by_ref(stage.base) if stage.index > 0 else None
            pip_off[ins.stage] = bool(parent and parent.index < stage.index and pip_off.get(parent.index))
        elif ins.keyword == "ENV" and ins.stage >= 0 and parse_env(ins.args).get("PIP_NO_CACHE_DIR") in TRUTHY:
            pip_off[ins.stage] = True
        # DL3059: consecutive single-command RUNs with the same flags (comments do not break a run).
        if ins.keyword == "RUN":
            count = len(_cmds(ins))
            if prev_run is not None and prev_run[0] == ins.flags and count <= 1 and prev_run[1] <= 1:
                report.add("consecutive-run", "info", ins.line, "Consecutive RUN instructions each add a layer.",
                           "Join them with `&&` into one RUN when they change together.", "DL3059")
            else:
                prev_run = (ins.flags, count)
        else:
            prev_run = None
        if ins.keyword == "RUN":
            _check_run(df, ins, report, pip_off.get(ins.stage, False), ins.stage in final_like)
        elif ins.keyword in {"COPY", "ADD"}:
            _check_copy(ins, report)
        elif ins.keyword in {"ENV", "ARG"}:
            _check_secret_vars(ins, report)
    _check_layer_order(df, report)
    _check_multi_stage(df, report)
    report.sort()
    return report


def _stages_in_image(df: Dockerfile) -> set[int]:
    """The last stage, and stages a later FROM builds on (hadolint's DL3009 scope)."""
    if not df.stages:
        return {-1}
    used = {s.base.lower() for s in df.stages}
    last = df.stages[-1]
    out = {last.index}
    for stage in df.stages:
        same_as_last = (stage.base, stage.name, stage.platform) == (last.base, last.name, last.platform)
        if same_as_last or (stage.name and stage.name.lower() in used):
            out.add(stage.index)
    return out


def _check_bases(df: Dockerfile, report: Audit) -> None:
    aliases: set[str] = set()
    for stage in df.stages:
        names = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", stage.base)
        if any(df.global_args.get(n) is None for n in names):
            # A build argument without a default: the image is only known at build time.
            if stage.name:
                aliases.add(stage.name.lower())
            continue
        repo, tag, digest = image_reference(stage.base_resolved)
        if repo != "scratch" and digest is None and tag is None and repo.lower() not in aliases:
            report.add("base-untagged", "warning", stage.line, f"Base image `{stage.base}` has no tag: every build may get a different image, and the cache breaks when it moves.",
                       f"Pin it: `FROM {stage.base}:<version>` (a digest `@sha256:...` pins it exactly).", "DL3006")
        elif tag == "latest":
            report.add("base-latest", "warning", stage.line, f"Base image `{stage.base}` uses `latest`, which moves.",
                       f"Pin a version: `FROM {repo}:<version>` or a digest.", "DL3007")
        if stage.name:
            aliases.add(stage.name.lower())


def _check_run(df: Dockerfile, ins: Instruction, report: Audit, pip_off_in_stage: bool, in_image: bool) -> None:
    cmds = _cmds(ins)
    stage_env = df.env_at(ins)
    mounts = ins.mounts
    pip_off_inline = any(f"PIP_NO_CACHE_DIR={v}" in ins.command for v in TRUTHY)
    flagged: set[str] = set()
    for cmd in cmds:
        env = run_env(ins, stage_env, cmd)
        for manager in MANAGERS:
            if manager.name in flagged or not manager.matches(cmd):
                continue
            if not mounted(manager, ins, env):
                flagged.add(manager.name)
                targets = cache_targets(manager, env)
                mount = " ".join(f"--mount=type=cache,target={t}{manager.mount_options}" for t in targets)
                extra = " and `rm -f /etc/apt/apt.conf.d/docker-clean` first (Debian images delete downloads otherwise)" if manager.name == "apt" else ""
                report.add(f"{manager.name}-cache-mount", "warning", ins.line,
                           f"`{cmd.name}` downloads packages again on every rebuild of this layer: no cache mount on {', '.join(targets)}.",
                           f"`RUN {mount} ...`{extra}; then the cache stays out of the image too.")
            elif manager.name == "pip" and (cmd.flag("--no-cache-dir") or env.get("PIP_NO_CACHE_DIR") in TRUTHY):
                flagged.add(manager.name)
                report.add("cache-mount-unused", "info", ins.line, "A pip cache mount is set but `--no-cache-dir` / PIP_NO_CACHE_DIR turns the cache off.",
                           "Drop `--no-cache-dir` on RUNs that mount the pip cache: the mount is not part of the image.")
    # Caches left in the layer.
    pip_mount = any(covers(m, t) for m in mounts for t in cache_targets(MANAGERS[0], stage_env)) or \
        any(m.type == "cache" and posixpath.normpath(m.target) in {"/root/.cache", "/root/.cache/pip"} for m in mounts)
    for cmd in cmds:
        if shell.pip_install(cmd) and not cmd.flag("--no-cache-dir") and not pip_off_in_stage and not pip_off_inline and not pip_mount:
            report.add("pip-cache-in-layer", "warning", ins.line, "pip keeps its download cache in this layer (tens to hundreds of MB).",
                       "Mount the cache (`--mount=type=cache,target=/root/.cache/pip`) or pass `--no-cache-dir`.", "DL3042")
            break
    if in_image and any(shell.apt_update(c) and c.name == "apt-get" for c in cmds):
        lists = "/var/lib/apt/lists"
        cleaned = any(removes(c, lists) for c in cmds)
        if not cleaned and not any(covers(m, lists) for m in mounts):
            report.add("apt-lists-in-layer", "info", ins.line, "`apt-get update` leaves the package lists (~20-40 MB) in this layer.",
                       "End the same RUN with `rm -rf /var/lib/apt/lists/*`, or mount /var/lib/apt as a cache.", "DL3009")
    for cmd in cmds:
        if cmd.name == "apt-get" and "install" in cmd.words and not cmd.flag("--no-install-recommends") and "APT::Install-Recommends=false" not in cmd.words:
            report.add("apt-recommends", "info", ins.line, "`apt-get install` also installs recommended packages.",
                       "Add `--no-install-recommends`.", "DL3015")
        if cmd.name == "apk" and "add" in cmd.words and not cmd.flag("--no-cache") and not any(covers(m, "/var/cache/apk") for m in mounts):
            report.add("apk-cache-in-layer", "info", ins.line, "`apk add` without `--no-cache` leaves the index in the layer.",
                       "Use `apk add --no-cache`, or mount /var/cache/apk as a cache.", "DL3019")
    for tool, rule, code, clean in (("yum", "yum-cache-in-layer", "DL3032", "yum clean all"),
                                    ("dnf", "dnf-cache-in-layer", "DL3040", "dnf clean all"),
                                    ("microdnf", "dnf-cache-in-layer", "DL3040", "microdnf clean all")):
        if any(c.name == tool and "install" in c.words for c in cmds) and clean not in " ".join(" ".join(c.words) for c in cmds) \
                and not any(covers(m, f"/var/cache/{tool.replace('micro', '')}") for m in mounts):
            report.add(rule, "warning", ins.line, f"`{tool} install` leaves its cache in the layer.", f"End the same RUN with `{clean}`.", code)
    if any(c.name == "zypper" and ({"install", "in"} & set(c.words)) for c in cmds) and not any(
            c.name == "zypper" and ({"clean", "cc"} & set(c.words)) for c in cmds):
        report.add("zypper-cache-in-layer", "warning", ins.line, "`zypper install` leaves its cache in the layer.", "End the same RUN with `zypper clean`.", "DL3036")
    if in_image and any(c.name == "yarn" and "install" in c.words for c in cmds) and not any(c.name == "yarn" and c.words[1:3] == ("cache", "clean") for c in cmds):
        report.add("yarn-cache-in-layer", "info", ins.line, "`yarn install` leaves its cache in the layer.",
                   "End the same RUN with `yarn cache clean`, or mount /usr/local/share/.cache/yarn as a cache.", "DL3060")
    if any(shell.conda_install(c) for c in cmds) and not any(c.name in {"conda", "mamba", "micromamba"} and "clean" in c.words for c in cmds) \
            and not any(covers(m, t) for m in mounts for t in cache_targets(MANAGERS[3], stage_env)):
        report.add("conda-cache-in-layer", "warning", ins.line, "conda keeps downloaded packages (often GBs) in this layer.",
                   "Mount /opt/conda/pkgs as a cache, or end the RUN with `conda clean -afy`.")
    if cmds and all(is_cleanup(c) for c in cmds) and any(_cleans_cache(c) for c in cmds):
        report.add("cleanup-in-later-layer", "warning", ins.line, "This RUN only deletes files: they stay in the earlier layer, the image does not shrink.",
                   "Delete in the same RUN that created the files (or use a cache mount so they never enter a layer).")


CACHE_PATHS = ("/var/lib/apt/lists", "/var/cache/", "/root/.cache", "/tmp/", "/opt/conda/pkgs", "~/.cache", "/wheels")


def _cleans_cache(cmd: shell.Command) -> bool:
    """Deletes package caches, downloads or build leftovers (not a config file)."""
    if cmd.name != "rm":
        return is_cleanup(cmd) and cmd.name not in {"true", ":"}
    targets = [w for w in cmd.words[1:] if not w.startswith("-")]
    return any(t.startswith(CACHE_PATHS) or t.endswith((".tar.gz", ".tgz", ".zip", ".whl", ".deb")) for t in targets)


def looks_like_tree(source: str) -> bool:
    """`.`, `src/`, `*.py`, `app`: a folder or glob of sources, not one named file."""
    s = source.strip("\"'")
    base = posixpath.basename(s.rstrip("/"))
    return s in {".", "./", "*"} or s.endswith("/") or "*" in s or ("." not in base.lstrip("."))and not base.startswith(".")


def _sources(ins: Instruction) -> list[str]:
    words = ins.words()
    return words[:-1] if len(words) > 1 else []


def _check_copy(ins: Instruction, report: Audit) -> None:
    if ins.flag("from") is not None:
        return
    sources = _sources(ins)
    if ins.keyword == "ADD" and not ins.heredocs and sources and not all(
            s.strip("\"'").endswith(ARCHIVE_SUFFIXES) or s.strip("\"'").startswith(("http://", "https://")) for s in sources):
        report.add("add-instead-of-copy", "warning", ins.line, "ADD of local files: it also unpacks archives and fetches URLs, which surprises the cache.",
                   "Use COPY for files and folders.", "DL3020")
    secrets = [s for s in sources if is_secret_file(s.strip("\"'").rstrip("/"))]
    if secrets:
        report.add("secret-in-layer", "error", ins.line, f"{', '.join(secrets)} is copied into a layer: anyone with the image can read it, even if a later layer deletes it.",
                   "Pass it at build time with `RUN --mount=type=secret,id=<name> ...` (docker build --secret), never COPY it.")


def _check_secret_vars(ins: Instruction, report: Audit) -> None:
    values = parse_env(ins.args) if ins.keyword == "ENV" else parse_arg(ins.args)
    for name, value in values.items():
        if SECRET_VARS.search(name) and value and not value.startswith("$") and not name.upper().endswith(("_FILE", "_PATH", "_DIR")):
            report.add("secret-in-layer", "error", ins.line, f"{ins.keyword} {name} puts a secret value into the image's history and config.",
                       "Use `RUN --mount=type=secret,id=" + name.lower() + "` (docker build --secret id=...,env=" + name + ").")


def _context_copies(df: Dockerfile) -> list[Instruction]:
    return [i for i in df.instructions if i.keyword in {"COPY", "ADD"} and i.flag("from") is None and not i.heredocs
            and any(not is_dep_file(s) and not s.startswith(("http://", "https://")) and looks_like_tree(s) for s in _sources(i))]


def _check_layer_order(df: Dockerfile, report: Audit) -> None:
    for stage in df.stages:
        instructions = df.in_stage(stage.index)
        for k, ins in enumerate(instructions):
            if ins not in _context_copies(df):
                continue
            # Dependencies installed from their files before this COPY: a later install of the project itself
            # (`pip install --no-deps .`, `uv sync` after `uv sync --no-install-project`) is the pattern, not the fault.
            deps_first = any(installs_dependencies(c) and not needs_project_sources(c) for r in instructions[:k] for c in _cmds(r))
            later = [r for r in instructions[k + 1:] if r.keyword == "RUN" and any(
                installs_dependencies(c) and not (needs_project_sources(c) and (deps_first or c.flag("--no-deps"))) for c in _cmds(r))]
            if later:
                lines = ", ".join(str(r.line) for r in later)
                report.add("layer-order", "warning", ins.line,
                           f"Sources are copied before dependencies are installed (line {lines}): any source change reinstalls every dependency.",
                           "COPY only the dependency files (requirements.txt, pyproject.toml, environment.yml, renv.lock) first, install, then COPY the sources.")
                break


def _check_multi_stage(df: Dockerfile, report: Audit) -> None:
    if not df.stages:
        return
    final = df.stages[-1]
    for ins in df.in_stage(final.index):
        for cmd in _cmds(ins):
            if (shell.apt_install(cmd) or (cmd.name == "apk" and "add" in cmd.words) or (cmd.name in {"yum", "dnf"} and "install" in cmd.words)):
                tools = sorted(BUILD_TOOLS & set(cmd.words))
                if tools and len(df.stages) == 1:
                    report.add("multi-stage", "info", ins.line, f"Build tools ({', '.join(tools)}) stay in the runtime image.",
                               "Build wheels in a `FROM ... AS build` stage, then `COPY --from=build` only the results into a slim runtime stage.")
                    return


def audit_context(report: Audit, df: Dockerfile, context: Path, dockerfile: Path,
                  check: Callable[[], None] | None = None) -> None:
    """Add the context findings: missing or weak .dockerignore, its size, secrets sent."""
    ignore, ignore_path = read_dockerignore(context, dockerfile)
    scan = scan_context(context, ignore, check)
    report.context = scan
    report.dockerignore = str(ignore_path.relative_to(context)) if ignore_path is not None and ignore_path.is_relative_to(context) else (str(ignore_path) if ignore_path else None)
    copies = _context_copies(df)
    line = copies[0].line if copies else 1
    heavy = {k: v for k, v in scan.heavy.items() if v > 0}
    heavy_bytes = scan.heavy_bytes
    sends_all = any(s in {".", "./", "*"} for c in copies for s in _sources(c))
    if ignore is None and (copies or heavy):
        report.add("dockerignore-missing", "warning" if heavy or sends_all else "info", line,
                   f"No .dockerignore: the build sends {scan.files} files ({_mb(scan.bytes)}) to the engine"
                   + (f", {_mb(heavy_bytes)} of them in {', '.join(sorted(heavy))}" if heavy else "")
                   + "; every sent file can break the cache of `COPY .`.",
                   "Add a .dockerignore (the rewrite writes one): " + ", ".join(suggested_ignore(scan)[:8]) + ".")
    elif ignore is not None and heavy:
        report.add("dockerignore-weak", "warning", line,
                   f".dockerignore still sends {', '.join(sorted(heavy))} ({_mb(heavy_bytes)} of {_mb(scan.bytes)}).",
                   "Add: " + ", ".join(e for e in suggested_ignore(scan) if e not in ignore.texts())[:300])
    if scan.secrets and sends_all:
        shown = ", ".join(scan.secrets[:5]) + (" ..." if len(scan.secrets) > 5 else "")
        report.add("secret-in-layer", "error", line, f"`COPY .` puts secret-looking files into a layer: {shown}.",
                   "List them in .dockerignore; pass secrets with `RUN --mount=type=secret`.")
    report.suggested_ignore = suggested_ignore(scan)
    report.sort()


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"

