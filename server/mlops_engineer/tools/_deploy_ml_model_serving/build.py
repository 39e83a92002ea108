"""Action build, and the build step serve and containerize start with: render the service, build the bento."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._deploy_ml_model_serving.models import (
    Build,
    BuildOptions,
    SchemaField,
    ServingInput,
    ServingOutput,
)

if TYPE_CHECKING:
    from mlops_engineer.engines.serving.bentoml_service import ModelSource


def service_name(model_uri: str, given: str | None) -> str:
    from mlops_engineer.engines.serving.bentoml_service import check_model_uri, slug

    check_model_uri(model_uri)
    if given:
        return given
    ref = model_uri.removeprefix("models:/")
    return slug(ref.split("@")[0].split("/")[0] if model_uri.startswith("models:/") else "run-" + model_uri.split("/")[1][:8])


def build_service(op: BuildOptions, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> ModelSource | None:
    """Render and build; in a dry run, only say what would happen."""
    from mlops_engineer.engines.mlflow.backend import check_reachable, resolve_target
    from mlops_engineer.engines.serving import bentoml_service as bs
    from mlops_engineer.optional import import_optional
    from mlops_engineer.render import render_template, write_files

    import_optional("bentoml", "serving")
    service = service_name(op.model_uri, op.service_name)
    build_dir = ctx.workspace.resolve(op.output_dir or f"mlops/serving/{service}")
    out.model_uri, out.service_name, out.build_dir = op.model_uri, service, ctx.workspace.relative(build_dir)
    out.batching = {"max_batch_size": op.max_batch_size, "max_latency_ms": op.max_latency_ms, "workers": op.workers, "concurrency": op.concurrency}
    target = resolve_target(ctx.workspace, ctx.settings, inp.tracking_uri)
    check_reachable(target)
    if inp.dry_run:
        out.planned_calls = [f"download {op.model_uri} to {out.build_dir}/model", f"render {out.build_dir}/service.py and bentofile.yaml",
                             f"bentoml build (BENTOML_HOME=.mlops/{bs.BENTOML_HOME})"]
        return None
    ctx.progress(0, 4, f"fetching {op.model_uri}")
    build_dir.mkdir(parents=True, exist_ok=True)
    source = bs.fetch_model(target, op.model_uri, build_dir / "model")
    rel = out.build_dir
    context = dict(
        model_uri=op.model_uri, service_name=service, class_name=bs.class_name(service), fields=source.fields,
        columns=[f.name for f in source.fields], labels=source.labels, workers=op.workers, concurrency=op.concurrency,
        timeout_seconds=op.timeout_seconds, max_batch_size=op.max_batch_size, max_latency_ms=op.max_latency_ms,
        requirements=source.requirements, bentoml_home=f".mlops/{bs.BENTOML_HOME}",
    )
    files = {f"{rel}/service.py": render_template("serving/service.py.j2", **context),
             f"{rel}/bentofile.yaml": render_template("serving/bentofile.yaml.j2", **context)}
    ctx.progress(1, 4, "rendering the service")
    out.files = write_files(ctx.workspace, files, dry_run=False, confirm=inp.confirm)
    # The bento is built from what is on disk, so a confirmed user edit is part of its version.
    on_disk = {name: ctx.workspace.resolve(name).read_text("utf-8") for name in files}
    tag = f"{service}:{bs.bento_version(on_disk, source.local_dir)}"
    ctx.progress(2, 4, f"bentoml build {tag}")
    out.bento_built = bs.build_bento(ctx.workspace, build_dir, tag)
    out.bento_tag = tag
    out.request_schema = [SchemaField(name=f.name, type=f.type, required=f.required) for f in source.fields]
    out.planned_calls = [f"fetched {op.model_uri}", ("built" if out.bento_built else "found") + f" bento {tag}"]
    return source


def run_build(op: Build, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    build_service(op, inp, ctx, out)
    if out.bento_tag:
        out.next_steps = [f"Serve it: action serve with model_uri {op.model_uri}; or by hand: BENTOML_HOME=.mlops/bentoml bentoml serve {out.bento_tag} --port 3000"]
