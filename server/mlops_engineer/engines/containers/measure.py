"""Measure a Dockerfile's build cache on a real engine: cold build, warm rebuild, rebuild after
one source file changes; steps reused (BuildKit's `CACHED`), image size, wasted bytes.

Builds go through the docker CLI with BuildKit (`RUN --mount` needs it; the Python SDK only
drives the legacy builder). Wasted bytes: the size of every file a layer adds that a later
layer deletes or overwrites, read from `docker save` (what `dive` calls wasted space).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_engineer.errors import ToolError

_STEP = re.compile(r"^#(\d+) \[(?:[^\]]*\s)?(\d+)/(\d+)\] (.*)$")
_CACHED = re.compile(r"^#(\d+) CACHED\s*$")
CLI_CANDIDATES = ("docker", "/usr/bin/docker", "/usr/local/bin/docker")


@dataclass
class BuildRun:
    seconds: float
    steps: int  # Dockerfile steps BuildKit ran or reused (FROM not counted)
    cached: int  # of those, reused from the cache
    log_tail: str


@dataclass
class Measurement:
    variant: str
    cold_seconds: float
    warm_seconds: float
    rebuild_seconds: float
    steps: int
    reused_on_warm: int
    reused_on_rebuild: int
    image_bytes: int
    wasted_bytes: int


def find_cli(explicit: str | None, env: dict[str, str]) -> str:
    """A docker CLI that builds with BuildKit: one with buildx, or a pre-23 CLI (built-in BuildKit)."""
    candidates = [explicit] if explicit else list(CLI_CANDIDATES)
    tried = []
    for cand in candidates:
        path = shutil.which(cand) if cand else None
        if not path or path in tried:
            continue
        tried.append(path)
        if _ok([path, "buildx", "version"], env):
            return path
        # `docker --version` answers without an engine: "Docker version 20.10.24+dfsg1, build ...".
        version = re.search(r"version (\d+)\.", _out([path, "--version"], env))
        if version and int(version.group(1)) < 23:
            return path
    raise ToolError("backend_unreachable", f"No docker CLI that builds with BuildKit (tried: {', '.join(tried) or 'none found'}).",
                    "Install the buildx plugin (apt-get install docker-buildx) or a docker.io CLI, or pass docker_cli.")


def _ok(argv: list[str], env: dict[str, str]) -> bool:
    try:
        return subprocess.run(argv, env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _out(argv: list[str], env: dict[str, str]) -> str:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def engine_env(docker_host: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    env["DOCKER_BUILDKIT"] = "1"
    return env


def check_engine(cli: str, env: dict[str, str]) -> None:
    done = subprocess.run([cli, "version", "--format", "{{.Server.Version}}"], env=env, capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    if done.returncode != 0 or not done.stdout.strip():
        where = env.get("DOCKER_HOST", "the default socket")
        raise ToolError("backend_unreachable", f"No Docker engine answers at {where}: {done.stderr.strip()[:300]}",
                        "Start Docker, or pass docker_host (unix:///path/docker.sock).")


def parse_progress(log: str) -> tuple[int, int]:
    """(steps, cached) from BuildKit's `--progress plain` log."""
    steps: set[str] = set()
    cached: set[str] = set()
    for line in log.splitlines():
        if (m := _STEP.match(line)) and not m.group(4).startswith(("internal", "FROM ")):
            steps.add(m.group(1))
        elif m := _CACHED.match(line):
            cached.add(m.group(1))
    return len(steps), len(steps & cached)


def build(cli: str, env: dict[str, str], context: Path, dockerfile: Path, tag: str, *, network: str | None,
          no_cache: bool, build_args: dict[str, str], check: Callable[[], None], timeout: float = 1800) -> BuildRun:
    argv = [cli, "build", "--progress", "plain", "-f", str(dockerfile), "-t", tag]
    if network:
        argv += ["--network", network]
    if no_cache:
        argv.append("--no-cache")
    for key, value in sorted(build_args.items()):
        argv += ["--build-arg", f"{key}={value}"]
    argv.append(str(context))
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    chunks: list[bytes] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            chunks.append(line)
            check()
        proc.wait(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    seconds = time.monotonic() - started
    log = b"".join(chunks).decode(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(log.splitlines()[-25:])
        raise ToolError("failed", f"docker build of {dockerfile.name} failed (exit {proc.returncode}):\n{tail}",
                        "Fix the build first (it must build before it can be measured); pass network='host' if it needs the host's network.")
    steps, cached = parse_progress(log)
    return BuildRun(seconds=seconds, steps=steps, cached=cached, log_tail="\n".join(log.splitlines()[-10:]))


def image_size(cli: str, env: dict[str, str], tag: str) -> int:
    out = _out([cli, "image", "inspect", "--format", "{{.Size}}", tag], env)
    return int(out) if out.isdigit() else 0


def wasted_bytes(cli: str, env: dict[str, str], tag: str) -> int:
    """Bytes of files a layer adds and a later layer deletes or overwrites (from `docker save`)."""
    proc = subprocess.Popen([cli, "save", tag], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    layers: dict[str, tuple[dict[str, int], set[str], set[str]]] = {}
    order: list[str] = []
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as outer:
            for member in outer:
                name = member.name
                if name == "manifest.json":
                    data = outer.extractfile(member)
                    order = json.loads(data.read())[0]["Layers"] if data else []
                elif member.isfile() and (name.endswith("layer.tar") or name.startswith("blobs/")):
                    stream = outer.extractfile(member)
                    if stream is None:
                        continue
                    try:
                        layers[name] = _read_layer(stream)
                    except tarfile.ReadError:
                        continue  # a config blob, not a layer
    finally:
        proc.wait()
    if not order:
        return 0
    later_files: set[str] = set()
    later_deleted: set[str] = set()
    wasted = 0
    for name in reversed(order):
        files, deleted, opaque = layers.get(name, ({}, set(), set()))
        for path, size in files.items():
            if path in later_files or _under(path, later_deleted):
                wasted += size
        later_files.update(files)
        later_deleted.update(deleted)
        later_deleted.update(opaque)
    return wasted


def _read_layer(stream: object) -> tuple[dict[str, int], set[str], set[str]]:
    files: dict[str, int] = {}
    deleted: set[str] = set()
    opaque: set[str] = set()
    with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
        for entry in tar:
            path = entry.name[2:] if entry.name.startswith("./") else entry.name.lstrip("/")
            folder, _, base = path.rpartition("/")
            if base == ".wh..wh..opq":
                opaque.add(folder)
            elif base.startswith(".wh."):
                deleted.add(f"{folder}/{base[4:]}" if folder else base[4:])
            elif entry.isfile():
                files[path] = entry.size
    return files, deleted, opaque


def _under(path: str, prefixes: set[str]) -> bool:
    while path:
        if path in prefixes:
            return True
        path = path.rpartition("/")[0]
    return False


def remove_image(cli: str, env: dict[str, str], tag: str) -> None:
    subprocess.run([cli, "image", "rm", "-f", tag], env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
