"""Dockerfiles for R, Python and mixed ML projects from renv.lock, DESCRIPTION, uv.lock, pyproject,
requirements or environment.yml: pinned base, multi-stage, cache mounts, non-root, hadolint-clean;
build with BuildKit and smoke-test the image.
"""

from __future__ import annotations

from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint
from mlops_engineer.tools._create_r_dockerfile.models import Build, DockerfileInput, DockerfileOutput


def run(inp: DockerfileInput, ctx: ToolContext) -> DockerfileOutput:
    from mlops_engineer.tools._create_r_dockerfile.build import run_build
    from mlops_engineer.tools._create_r_dockerfile.plan import run_render

    op = inp.operation
    if isinstance(op, Build):
        return run_build(op, inp.dry_run, inp.confirm, ctx)
    return run_render(op, inp.dry_run, inp.confirm, ctx)[1]


def summarize(out: DockerfileOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    files = ", ".join(f"{f.path} ({f.action})" for f in out.files) or "none"
    lint = ("hadolint clean" if not out.lint.findings else f"hadolint: {len(out.lint.findings)} finding(s)") if out.lint.ran else "hadolint not installed"
    text = (f"{prefix}{out.detected.kind} project ({', '.join(out.detected.sources)}) on {out.base_image} "
            f"[{out.base_flavour}]; files: {files}; {lint}.")
    if out.build:
        b = out.build
        smoke = "; ".join(f"{' '.join(s.command[:2])} -> exit {s.exit_code}" for s in b.smoke)
        text += f" Built {b.tag} ({b.size_mb} MB) in {b.seconds} s, {b.cached_steps} cached step(s); smoke: {smoke or 'none'}."
    return text


TOOL = ToolSpec(
    name="create_r_dockerfile",
    title="Create Dockerfiles for R and Python projects",
    description=__doc__ or "",
    input_model=DockerfileInput,
    output_model=DockerfileOutput,
    run=run,
    summarize=summarize,
    # destructive: confirm overwrites a Dockerfile someone edited; open world: build reaches apt/PyPI/CRAN.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(DockerfileInput, '{"operation": {"action": "render", "project": "."}}'),
)
