"""Action containerize: a Docker image of the bento, from the base image you choose, through the Docker SDK;
then the image runs on a loopback port, is smoke-tested like serve, and the container is removed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._deploy_ml_model_serving.build import build_service
from mlops_engineer.tools._deploy_ml_model_serving.models import (
    ContainerRun,
    Containerize,
    ImageInfo,
    ServingInput,
    ServingOutput,
)

SMOKE_LABEL = "ai.mlops-engineer.smoke"  # value: the workspace's id, so one workspace never touches another's containers
OWNER_LABEL = "ai.mlops-engineer.owner"  # locks.owner() of the call that started it
RECIPE_LABEL = "ai.mlops-engineer.recipe"  # digest of the Dockerfile and the files added to the context
UV_VERSION = "0.13.9"  # installs the requirements in the image (pip took 3.5 times as long), then is removed


def run_containerize(op: Containerize, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines.serving.bentoml_service import bento_dir
    from mlops_engineer.engines.serving.docker_images import build_image, docker_client, host_ca_bundle
    from mlops_engineer.render import write_files

    source = build_service(op, inp, ctx, out)
    if inp.dry_run:
        out.planned_calls.append(f"docker build FROM {op.base_image} through the Docker SDK")
        if op.smoke:
            out.planned_calls.append("docker run on 127.0.0.1, smoke-test /predict (sample 200, malformed 4xx), then stop and remove the container")
        return
    assert source is not None and out.bento_tag and out.service_name
    tag = op.image_tag or out.bento_tag
    root = bento_dir(ctx.workspace, out.bento_tag)
    extra: dict[str, bytes] = {}
    if op.host_ca_bundle:
        extra["host-ca.crt"] = host_ca_bundle().read_bytes()
    dockerfile = containerize_dockerfile(op, out.bento_tag, out.service_name)
    out.files += write_files(ctx.workspace, {f"{out.build_dir}/Dockerfile": dockerfile}, dry_run=False, confirm=inp.confirm)
    recipe = _digest(dockerfile.encode(), *(name.encode() + b"\0" + data for name, data in sorted(extra.items())))
    fallback = (f"docker build -t {tag} --network host -f {out.build_dir}/Dockerfile {ctx.workspace.relative(root)}"
                + (" (with your CA bundle copied to host-ca.crt in that folder)" if op.host_ca_bundle else "") +
                f"   (or: BENTOML_HOME=.mlops/bentoml bentoml containerize {out.bento_tag})")
    client = docker_client(op.docker_host, fallback)
    existing = _existing_image(client, tag)
    if existing is not None and existing.labels.get(RECIPE_LABEL) == recipe:
        image, built = existing, False
    else:
        ctx.progress(3, 4, f"docker build {tag} FROM {op.base_image}")
        image = build_image(client, root, dockerfile, tag, on_line=lambda line: ctx.check_cancelled(), extra=extra, labels={RECIPE_LABEL: recipe})
        built = True
    out.image = ImageInfo(tag=tag, id=image.id, size_mb=round((image.attrs.get("Size") or 0) / 1e6, 1), base_image=op.base_image, built=built)
    out.planned_calls.append(("built" if built else "found") + f" image {tag} ({image.short_id})")
    if op.smoke:
        ctx.progress(3.5, 4, f"running {tag} for the smoke test")
        out.container = smoke_container(client, tag, op, ctx, out, source.example_rows[:3])
        out.planned_calls.append(f"ran {tag} as {out.container.name} on {out.container.url}: smoke test passed; container removed")
    out.next_steps = [f"docker run --rm -p 127.0.0.1:3000:3000 {tag}",
                      f"Push it to your registry, then render manifests: action k8s_manifests with image <registry>/{tag}."]


def containerize_dockerfile(op: Containerize, bento_tag: str, service_name: str) -> str:
    """The Dockerfile containerize builds the bento with (also audited by optimize_docker_build_cache's corpus test)."""
    from mlops_engineer.render import render_template

    return render_template(
        "serving/Dockerfile.j2", bento_tag=bento_tag, base_image=op.base_image, install_requirements=op.install_requirements,
        install_python=op.install_python, host_ca=op.host_ca_bundle, slim_mlflow=op.slim_mlflow, service_name=service_name, model_uri=op.model_uri,
        python_version="3.11", uv_version=UV_VERSION,
    )


def smoke_container(client: Any, tag: str, op: Containerize, ctx: ToolContext, out: ServingOutput,
                    rows: list[dict[str, Any]]) -> ContainerRun:
    """Run the image on 127.0.0.1, smoke-test it, and remove the container whatever happens (failure, cancel)."""
    import secrets

    from mlops_engineer import locks
    from mlops_engineer.engines import local_services as ls
    from mlops_engineer.engines.serving import docker_images as di
    from mlops_engineer.errors import ToolError
    from mlops_engineer.tools._deploy_ml_model_serving.smoke import smoke_url

    workspace_id = workspace_label(ctx.workspace.root)
    with locks.workspace_lock(ctx.workspace, f"containerize-{out.service_name}", check_cancelled=ctx.check_cancelled):
        for left in di.containers_labelled(client, f"{SMOKE_LABEL}={workspace_id}"):
            if locks.owner_alive(left.labels.get(OWNER_LABEL, "")) is False:  # its call was killed before it could remove it
                di.remove_container(left)
                out.recovered.append(f"removed smoke container {left.name} left by a killed call")
        bridge = di.has_bridge(client)
        if op.network == "bridge" and not bridge:  # docker would start it unreachable: ports are not published without one
            raise ToolError("invalid_input", "This Docker engine has no default bridge network (dockerd --bridge=none), so no port can be published.",
                            "Use network=host (or auto): the container then serves on a free 127.0.0.1 port of the host.")
        network = op.network if op.network != "auto" else ("bridge" if bridge else "host")
        port = ls.free_port()
        name = f"mlops-smoke-{out.service_name}-{secrets.token_hex(3)}"
        url = f"http://127.0.0.1:{port}"
        container = di.run_detached(
            client, tag, name=name, labels={SMOKE_LABEL: workspace_id, OWNER_LABEL: locks.owner()}, port=port, network=network,
            container_port=3000, host_command=["bentoml", "serve", "/home/bentoml/bento", "--host", "127.0.0.1", "--port", str(port)],
        )
        try:
            startup = di.wait_ready(container, f"{url}/readyz", op.startup_timeout, ctx.check_cancelled)
            smoke = smoke_url(url, rows or [{}])
            log = di.log_tail(container) if not smoke.passed else ""
        finally:
            removed = di.remove_container(container)
    if not smoke.passed:
        raise ToolError("failed", f"Smoke test of image {tag} failed: sample -> {smoke.sample_status}, malformed -> {smoke.malformed_status} "
                        f"({smoke.malformed_message}); health {smoke.health}.\n{log}", "The container's log is above; the container was removed.")
    return ContainerRun(name=name, network=network, url=url, startup_seconds=round(startup, 2), smoke=smoke, removed=removed)


def workspace_label(root: Path) -> str:
    """The value of SMOKE_LABEL for a workspace's containers (a digest: the path stays off the engine)."""
    return _digest(str(root).encode())


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def _existing_image(client: Any, tag: str) -> Any:
    import docker.errors

    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
