"""Container images through the Docker SDK: reach the engine, build from an in-memory context."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional


def docker_client(docker_host: str | None, fallback_command: str) -> Any:
    """A connected DockerClient, or `backend_unreachable` naming the command to run elsewhere."""
    docker = import_optional("docker", "containers")
    where = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=where, timeout=30) if docker_host else docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # DockerException, connection errors: the engine is not there
        raise ToolError(
            "backend_unreachable",
            f"No Docker engine answers at {where} ({type(exc).__name__}).",
            f"Start Docker (or pass docker_host), or run this where an engine is reachable: {fallback_command}",
        ) from exc
    return client


def context_tar(root: Path, dockerfile_text: str) -> io.BytesIO:
    """The folder plus our Dockerfile, as the tar stream the engine's build API takes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(str(path), arcname=path.relative_to(root).as_posix(), recursive=False)
        data = dockerfile_text.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def build_image(client: Any, root: Path, dockerfile_text: str, tag: str, on_line: Callable[[str], None] | None = None) -> Any:
    """Build `tag` from `root` with `dockerfile_text`; a failed step becomes a ToolError with its output."""
    log: list[str] = []
    stream = client.api.build(fileobj=context_tar(root, dockerfile_text), custom_context=True, tag=tag, rm=True,
                              forcerm=True, decode=True, pull=False, network_mode="host")
    for chunk in stream:
        if "error" in chunk:
            tail = "\n".join(log[-10:])
            raise ToolError("failed", f"docker build of {tag} failed: {chunk['error'].strip()}\n{tail}",
                            "The base image must provide Python and pip (or pass install_requirements=false for a prebuilt runtime).")
        line = str(chunk.get("stream", "")).strip()
        if line:
            log.append(line)
            if on_line is not None:
                on_line(line)
    return client.images.get(tag)
