"""Build an image with BuildKit through the docker CLI, and run a command in it through the SDK.

The Docker SDK's `images.build` talks to the engine's legacy builder, which refuses
`RUN --mount` (cache and secret mounts): BuildKit is reachable only through a client that
speaks its session protocol, i.e. the CLI (`DOCKER_BUILDKIT=1 docker build`, or buildx).
So the build is a child process in its own process group (killed on cancel), and the SDK does
what it does well: inspect the image, run the smoke command, collect its output.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError

# The docker.io CLI (20.10) has BuildKit built in; newer CLIs need the buildx plugin for it.
CLI_CANDIDATES = ("/usr/bin/docker", "docker")
_LEGACY_BUILDKIT_MAJOR = 23


@dataclass
class BuildResult:
    tag: str
    image_id: str
    size_bytes: int
    seconds: float
    cached_steps: int
    log_path: Path


def _cli_works(cli: str, env: dict[str, str]) -> bool:
    try:
        version = subprocess.run([cli, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True,
                                 timeout=20, env=env, check=False).stdout.strip()
        major = int(re.match(r"(\d+)", version).group(1)) if re.match(r"(\d+)", version) else 0  # type: ignore[union-attr]
        if 0 < major < _LEGACY_BUILDKIT_MAJOR:
            return True
        return subprocess.run([cli, "buildx", "version"], capture_output=True, timeout=20, env=env, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@lru_cache(maxsize=4)
def find_buildkit_cli(docker_host: str | None) -> str:
    """The first docker CLI able to build with BuildKit (20.10's built-in builder, or buildx)."""
    env = {**os.environ, **({"DOCKER_HOST": docker_host} if docker_host else {})}
    for candidate in CLI_CANDIDATES:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.path.isfile(path) and _cli_works(path, env):
            return path
    raise ToolError(
        "missing_dependency",
        "No docker CLI that can build with BuildKit was found (the Dockerfile uses RUN --mount cache and secret mounts).",
        "Install the docker CLI with the buildx plugin (docker-buildx-plugin), or Debian's docker.io (20.10, BuildKit built in).",
    )


def build(cli: str, docker_host: str | None, context: Path, dockerfile: Path, tag: str, *, secrets: dict[str, Path],
          log_path: Path, network: str | None, timeout: float, check_cancelled: Callable[[], None],
          on_tick: Callable[[float], None]) -> tuple[float, int]:
    """`docker build` with BuildKit; returns (seconds, steps served from cache). The whole log
    goes to `log_path`; a failure raises `failed` quoting its last lines."""
    argv = [cli, "build", "--progress", "plain", "-f", str(dockerfile), "-t", tag]
    argv += ["--network", network] if network else []
    for name, path in secrets.items():
        argv += ["--secret", f"id={name},src={path}"]
    argv.append(str(context))
    env = {**os.environ, "DOCKER_BUILDKIT": "1", **({"DOCKER_HOST": docker_host} if docker_host else {})}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        try:
            while True:
                try:
                    proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    elapsed = time.monotonic() - started
                    if elapsed > timeout:
                        raise ToolError("timeout", f"docker build of {tag} took more than {timeout:.0f} s and was stopped.",
                                        f"Raise timeout_s, or look at the log: {log_path}") from None
                    check_cancelled()
                    on_tick(elapsed)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    seconds = time.monotonic() - started
    text = log_path.read_text("utf-8", errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-25:])
        raise ToolError("failed", f"docker build of {tag} failed (exit {proc.returncode}):\n{tail}",
                        f"Fix the step shown (the full log: {log_path}); a missing r-cran-* package means Debian does not "
                        "ship it: use r_install=renv with CRAN access.")
    return seconds, len(re.findall(r"^#\d+ CACHED$", text, flags=re.MULTILINE))


def inspect(client: Any, tag: str) -> tuple[str, int, dict[str, str]]:
    image = client.images.get(tag)
    return image.id, int(image.attrs.get("Size", 0)), dict(image.labels or {})


def run_command(client: Any, tag: str, command: list[str], timeout: float = 300.0) -> tuple[int, str]:
    """Run `command` in a fresh container without network; (exit code, last output)."""
    container = client.containers.run(tag, command, detach=True, network_mode="none")
    try:
        try:
            status = container.wait(timeout=timeout)
        except Exception as exc:  # requests' ReadTimeout: the command hung
            raise ToolError("timeout", f"The smoke command did not finish in {timeout:.0f} s in {tag}.",
                            "Check the command by hand: docker run --rm <tag> <command>.") from exc
        output = container.logs(stdout=True, stderr=True).decode("utf-8", errors="replace")
        return int(status.get("StatusCode", 1)), output[-4000:]
    finally:
        container.remove(force=True)
