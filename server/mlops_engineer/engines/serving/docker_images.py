"""Container images through the Docker SDK: reach the engine, build from an in-memory context,
run an image on a loopback port until it is ready, and remove what a run left."""

from __future__ import annotations

import io
import os
import tarfile
import time
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


def context_tar(root: Path, dockerfile_text: str, extra: dict[str, bytes] | None = None) -> io.BytesIO:
    """The folder plus our Dockerfile (and `extra` files at the top), as the tar stream the engine's build API takes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(str(path), arcname=path.relative_to(root).as_posix(), recursive=False)
        for name, data in {**(extra or {}), "Dockerfile": dockerfile_text.encode()}.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def host_ca_bundle() -> Path:
    """The CA bundle pip trusts here: what a build behind a TLS-inspecting proxy must trust too."""
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and os.path.isfile(candidate):
            return Path(candidate)
    raise ToolError("not_found", "No CA bundle found on this machine (PIP_CERT, SSL_CERT_FILE, /etc/ssl/certs/ca-certificates.crt).",
                    "Set PIP_CERT to your CA bundle, or pass host_ca_bundle=false.")


def build_image(client: Any, root: Path, dockerfile_text: str, tag: str, on_line: Callable[[str], None] | None = None,
                extra: dict[str, bytes] | None = None, labels: dict[str, str] | None = None) -> Any:
    """Build `tag` from `root` with `dockerfile_text`; a failed step becomes a ToolError with its output."""
    log: list[str] = []
    stream = client.api.build(fileobj=context_tar(root, dockerfile_text, extra), custom_context=True, tag=tag, rm=True, labels=labels,
                              forcerm=True, decode=True, pull=False, network_mode="host")
    for chunk in stream:
        if "error" in chunk:
            tail = "\n".join(log[-10:])
            raise ToolError("failed", f"docker build of {tag} failed: {chunk['error'].strip()}\n{tail}",
                            "The base image must provide Python and pip (install_python=true on a Debian base without them; "
                            "install_requirements=false for a prebuilt runtime; host_ca_bundle=true when pip fails on certificates).")
        line = str(chunk.get("stream", "")).strip()
        if line:
            log.append(line)
            if on_line is not None:
                on_line(line)
    return client.images.get(tag)


def has_bridge(client: Any) -> bool:
    """Whether the engine has its default bridge network (a daemon started with --bridge=none has not)."""
    return bool(client.networks.list(names=["bridge"]))


def run_detached(client: Any, tag: str, *, name: str, labels: dict[str, str], port: int, network: str,
                 container_port: int, host_command: list[str]) -> Any:
    """Start `tag` so that it answers on 127.0.0.1:`port` only.

    bridge: the image's own command, its `container_port` published on 127.0.0.1; host: the container
    shares the host's network, so `host_command` must make the server listen on 127.0.0.1:`port` itself.
    """
    import docker.errors

    try:
        if network == "host":
            return client.containers.run(tag, command=host_command, name=name, labels=labels, detach=True, network_mode="host")
        return client.containers.run(tag, name=name, labels=labels, detach=True, ports={f"{container_port}/tcp": ("127.0.0.1", port)})
    except docker.errors.APIError as exc:  # created but not started (a port, a network): remove what was created
        try:
            client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
        raise ToolError("failed", f"docker run of {tag} ({network} network) failed: {exc.explanation or exc}",
                        "network=host serves on the host's loopback; bridge needs the engine's default bridge network.") from exc


def wait_ready(container: Any, url: str, timeout: float, on_wait: Callable[[], None]) -> float:
    """Seconds until GET `url` answers 200; a container that exits or a timeout is a ToolError with its log."""
    import urllib.error
    import urllib.request

    started = time.monotonic()
    while True:
        on_wait()
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - a loopback URL we built
                if resp.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        container.reload()
        if container.status in ("exited", "dead"):
            raise ToolError("failed", f"Container {container.name} exited ({container.status}) before {url} answered:\n{log_tail(container)}",
                            "Its log is above; run the image by hand to see more.")
        if time.monotonic() - started > timeout:
            raise ToolError("failed", f"Container {container.name} did not answer {url} within {timeout:g} s:\n{log_tail(container)}",
                            "Raise startup_timeout, or run the image by hand to see why.")
        time.sleep(0.3)


def log_tail(container: Any, lines: int = 15) -> str:
    try:
        return container.logs(tail=lines).decode("utf-8", errors="replace").strip()
    except Exception:  # the container may be gone already
        return ""


def remove_container(container: Any) -> bool:
    """Stop and remove it; True when the engine no longer knows it (also when it was gone already)."""
    import docker.errors

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        return True
    try:
        container.reload()
    except docker.errors.NotFound:
        return True
    return False


def containers_labelled(client: Any, label: str) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": label}))
