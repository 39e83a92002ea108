"""Action containerize: a Docker image of the bento, from the base image you choose, through the Docker SDK."""

from __future__ import annotations

from typing import Any

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._deploy_ml_model_serving.build import build_service
from mlops_engineer.tools._deploy_ml_model_serving.models import (
    Containerize,
    ImageInfo,
    ServingInput,
    ServingOutput,
)


def run_containerize(op: Containerize, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines.serving.bentoml_service import bento_dir
    from mlops_engineer.engines.serving.docker_images import build_image, docker_client
    from mlops_engineer.render import render_template, write_files

    build_service(op, inp, ctx, out)
    if inp.dry_run:
        out.planned_calls.append(f"docker build FROM {op.base_image} through the Docker SDK")
        return
    assert out.bento_tag and out.service_name
    tag = op.image_tag or out.bento_tag
    root = bento_dir(ctx.workspace, out.bento_tag)
    dockerfile = render_template(
        "serving/Dockerfile.j2", bento_tag=out.bento_tag, base_image=op.base_image, install_requirements=op.install_requirements,
        service_name=out.service_name, model_uri=op.model_uri, python_version="3.11",
    )
    out.files += write_files(ctx.workspace, {f"{out.build_dir}/Dockerfile": dockerfile}, dry_run=False, confirm=inp.confirm)
    fallback = (f"docker build -t {tag} -f {out.build_dir}/Dockerfile {ctx.workspace.relative(root)}"
                f"   (or: BENTOML_HOME=.mlops/bentoml bentoml containerize {out.bento_tag})")
    client = docker_client(op.docker_host, fallback)
    existing = _existing_image(client, tag)
    labels_match = existing is not None and existing.labels.get("ai.mlops-engineer.bento") == out.bento_tag
    same_base = labels_match and existing.labels.get("ai.mlops-engineer.base-image", op.base_image) == op.base_image
    if existing is not None and labels_match and same_base:
        image, built = existing, False
    else:
        ctx.progress(3, 4, f"docker build {tag} FROM {op.base_image}")
        image, built = build_image(client, root, dockerfile, tag, on_line=lambda line: ctx.check_cancelled()), True
    out.image = ImageInfo(tag=tag, id=image.id, size_mb=round((image.attrs.get("Size") or 0) / 1e6, 1), base_image=op.base_image, built=built)
    out.planned_calls.append(("built" if built else "found") + f" image {tag} ({image.short_id})")
    out.next_steps = [f"docker run --rm -p 3000:3000 {tag}", f"Push it to your registry, then render manifests: action k8s_manifests with image <registry>/{tag}."]


def _existing_image(client: Any, tag: str) -> Any:
    import docker.errors

    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
