"""Action build: render, build with BuildKit (the docker CLI), inspect and smoke-test with the Docker SDK."""

from __future__ import annotations

from mlops_engineer.errors import ToolError
from mlops_engineer.output import stable_digest
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._create_r_dockerfile.models import Build, BuildInfo, DockerfileOutput, SmokeResult
from mlops_engineer.tools._create_r_dockerfile.plan import run_render


def run_build(op: Build, dry_run: bool, confirm: bool, ctx: ToolContext) -> DockerfileOutput:
    from mlops_engineer.engines.containers import buildkit
    from mlops_engineer.engines.serving.docker_images import docker_client

    ca = ctx.workspace.resolve(op.ca_bundle, must_exist=True) if op.ca_bundle else None
    if ca is not None and not ca.is_file():
        raise ToolError("invalid_input", f"ca_bundle {op.ca_bundle} is not a file.", "Pass a PEM file in the workspace.")
    tag = op.tag or None
    if dry_run:
        plan, out = run_render(op, True, confirm, ctx, tag)
        out.planned_calls = [f"DOCKER_BUILDKIT=1 docker build -t {tag or '<project>:dev'} {out.project}",
                             *(f"docker run --rm --network none <image> {' '.join(cmd[:2])} ..." for cmd in (op.smoke and [op.smoke]) or plan.detected.smoke)]
        return out
    # Reach the engine and the CLI before writing anything: a call that cannot build changes nothing.
    client = docker_client(op.docker_host, "DOCKER_BUILDKIT=1 docker build -t <tag> <project>")
    cli = buildkit.find_buildkit_cli(op.docker_host)
    plan, out = run_render(op, False, confirm, ctx, tag)
    tag = plan.tag
    log_rel = f".mlops/containers/build-{stable_digest({'tag': tag, 'project': out.project})[:12]}.log"
    log_path = ctx.workspace.resolve(log_rel)
    ctx.progress(0, None, f"building {tag}")
    seconds, cached = buildkit.build(
        cli, op.docker_host, plan.root, plan.root / op.dockerfile, tag,
        secrets={"pip_cert": ca} if ca else {}, log_path=log_path,
        network=None if op.network == "default" else op.network, timeout=float(op.timeout_s),
        check_cancelled=ctx.check_cancelled, on_tick=lambda s: ctx.progress(s, None, f"building {tag}: {s:.0f} s"),
    )
    image_id, size, _labels = buildkit.inspect(client, tag)
    info = BuildInfo(tag=tag, image_id=image_id, size_mb=round(size / 1e6, 1), seconds=round(seconds, 1), cached_steps=cached,
                     builder=f"BuildKit via {cli} (the SDK's build API is the legacy builder: no RUN --mount)",
                     log=log_rel)
    commands = [list(op.smoke)] if op.smoke else plan.detected.smoke
    for n, command in enumerate(commands):
        ctx.progress(n, len(commands), f"smoke: {' '.join(command[:2])}")
        code, output = buildkit.run_command(client, tag, command)
        info.smoke.append(SmokeResult(command=command, exit_code=code, output=output))
    out.build = info
    out.planned_calls = [f"DOCKER_BUILDKIT=1 {cli} build -t {tag} {out.project}", *(f"docker run --network none {tag} {c[0]} ..." for c in commands)]
    failed = [s for s in info.smoke if s.exit_code != 0]
    if failed:
        raise ToolError("failed", f"The image {tag} built, but its smoke command failed (exit {failed[0].exit_code}): "
                        f"{' '.join(failed[0].command)}\n{failed[0].output[-1500:]}",
                        "A module that does not import or an R package that does not load: add it to the project's dependency file and build again.")
    out.next_steps = [f"docker run --rm {tag} {' '.join(commands[0]) if commands else ''}".strip()]
    return out
