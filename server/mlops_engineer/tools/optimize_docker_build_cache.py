"""Audit a Dockerfile and its context for the build cache (layer order, cache mounts, caches in
layers, .dockerignore, bases, secrets), rewrite it, and measure rebuilds on the engine.
"""

from __future__ import annotations

import difflib
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.errors import ToolError
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.render import FileChange
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint

MAX_FINDINGS = 60
MAX_DOCKERFILE_BYTES = 1_000_000
SEVERITIES = ("error", "warning", "info")


class _Target(StrictModel):
    dockerfile: str = Field(default="Dockerfile", description="Workspace path of the Dockerfile.")
    context: str | None = Field(default=None, description="Build context folder; the Dockerfile's folder when omitted.")


class AuditAction(_Target):
    """Findings with severity, line and fix."""

    action: Literal["audit"]
    min_severity: Literal["error", "warning", "info"] = "info"


class RewriteAction(_Target):
    """Cache-friendly Dockerfile; writes only with confirm.

    Reorders dependency installs before the source COPY, adds cache mounts, and writes a
    .dockerignore for what the context should not send. Without confirm it returns the diff.
    """

    action: Literal["rewrite"]
    output: str | None = Field(default=None, description="Where to write; overwrites the Dockerfile when omitted.")
    dockerignore: bool = Field(default=True, description="Also write or extend .dockerignore in the context.")


class MeasureAction(_Target):
    """Build before/after rewrite: cold, warm, one-file rebuild.

    Copies the context to a scratch folder, changes one source file there, and reports times,
    steps reused, image size and wasted bytes for the original and the rewritten Dockerfile.
    """

    action: Literal["measure"]
    changed_file: str | None = Field(default=None, description="Context-relative source file to change; a .py/.R file is picked when omitted.")
    compare_rewrite: bool = Field(default=True, description="Also measure the rewritten Dockerfile.")
    network: Literal["default", "host", "none"] = Field(default="default", description="`docker build --network`.")
    build_args: dict[str, str] = Field(default_factory=dict, max_length=50)
    docker_host: str | None = Field(default=None, description="Engine address (DOCKER_HOST) when not the default.")
    docker_cli: str | None = Field(default=None, description="docker CLI to use; one with BuildKit is found when omitted.")


Operation = Annotated[AuditAction | RewriteAction | MeasureAction, Field(discriminator="action")]


class OptimizeInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")


class FindingOut(BaseModel):
    rule: str
    severity: Literal["error", "warning", "info"]
    line: int
    message: str
    fix: str
    hadolint: str | None = Field(default=None, description="The same check's hadolint code, when it has one.")


class ContextOut(BaseModel):
    files: int
    bytes: int
    excluded_bytes: int
    dockerignore: str | None
    heavy: dict[str, int] = Field(description="Heavy entries still sent (bytes).")
    secrets: list[str] = Field(default_factory=list)


class MeasurementOut(BaseModel):
    variant: Literal["original", "rewritten"]
    cold_seconds: float
    warm_seconds: float
    rebuild_seconds: float = Field(description="After changing one source file.")
    steps: int
    reused_on_warm: int
    reused_on_rebuild: int = Field(description="Steps BuildKit reused (CACHED) after the change.")
    image_bytes: int
    wasted_bytes: int = Field(description="Bytes a layer adds that a later layer deletes or overwrites.")


class OptimizeOutput(ToolOutput):
    action: str
    dockerfile: str
    findings: list[FindingOut] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict, description="Findings by severity.")
    findings_file: str | None = Field(default=None, description="All findings as JSON when the list was cut.")
    context: ContextOut | None = None
    output: str | None = Field(default=None, description="Where the rewrite was (or would be) written.")
    diff: str | None = None
    changes: list[str] = Field(default_factory=list)
    manual: list[str] = Field(default_factory=list, description="What the rewrite leaves to a person.")
    files: list[FileChange] = Field(default_factory=list)
    measurements: list[MeasurementOut] = Field(default_factory=list)
    changed_file: str | None = None
    rebuild_speedup: float | None = Field(default=None, description="Original rebuild time / rewritten rebuild time.")


def _load(op: _Target, ctx: ToolContext) -> tuple[Path, Path, str]:
    dockerfile = ctx.workspace.resolve(op.dockerfile)
    if not dockerfile.is_file():
        raise ToolError("not_found", f"No Dockerfile at {op.dockerfile}.", "Pass dockerfile= the workspace path of the Dockerfile.")
    context = ctx.workspace.resolve(op.context) if op.context else dockerfile.parent
    if not context.is_dir():
        raise ToolError("not_found", f"Build context {op.context} is not a folder.", "Pass context= the folder `docker build` is given.")
    if dockerfile.stat().st_size > MAX_DOCKERFILE_BYTES:
        raise ToolError("invalid_input", f"{op.dockerfile} is over 1 MB: not a Dockerfile.", "Pass the Dockerfile itself.")
    return dockerfile, context, dockerfile.read_text(errors="replace")


def _parse(text: str, name: str):  # type: ignore[no-untyped-def]
    from mlops_engineer.engines.containers.dockerfile import DockerfileSyntaxError, parse

    try:
        df = parse(text)
    except DockerfileSyntaxError as exc:
        raise ToolError("invalid_input", f"{name}: {exc}", "Fix the Dockerfile syntax (unclosed heredoc, FROM without image).") from exc
    if not df.stages:
        raise ToolError("invalid_input", f"{name} has no FROM instruction.", "A Dockerfile starts (after ARGs) with FROM <image>.")
    return df


def _audit(op: _Target, ctx: ToolContext):  # type: ignore[no-untyped-def]
    from mlops_engineer.engines.containers.audit import audit_context, audit_dockerfile

    dockerfile, context, text = _load(op, ctx)
    df = _parse(text, op.dockerfile)
    report = audit_dockerfile(df, ctx.workspace.relative(dockerfile))
    audit_context(report, df, context, dockerfile, ctx.check_cancelled)
    return dockerfile, context, text, df, report


def _context_out(report, ctx: ToolContext, context: Path) -> ContextOut | None:  # type: ignore[no-untyped-def]
    scan = report.context
    if scan is None:
        return None
    return ContextOut(files=scan.files, bytes=scan.bytes, excluded_bytes=scan.excluded_bytes, dockerignore=report.dockerignore,
                      heavy=dict(sorted(scan.heavy.items())), secrets=scan.secrets[:20])


def run_audit(inp: OptimizeInput, op: AuditAction, ctx: ToolContext) -> OptimizeOutput:
    dockerfile, context, _text, _df, report = _audit(op, ctx)
    keep = SEVERITIES[: SEVERITIES.index(op.min_severity) + 1]
    findings = [FindingOut(**vars(f)) for f in report.findings if f.severity in keep]
    out = OptimizeOutput(action="audit", dockerfile=ctx.workspace.relative(dockerfile), dry_run=inp.dry_run,
                         context=_context_out(report, ctx, context))
    out.counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    if len(findings) > MAX_FINDINGS:
        from mlops_engineer.output import stable_digest

        data = json.dumps([f.model_dump() for f in findings], indent=1)
        rel = f".mlops/outputs/docker-audit-{stable_digest(data)[:12]}.json"
        ctx.workspace.write_text(rel, data)
        out.findings_file = rel
    out.findings = findings[:MAX_FINDINGS]
    return out


def _rewritten(op: _Target, ctx: ToolContext):  # type: ignore[no-untyped-def]
    from mlops_engineer.engines.containers.rewrite import rewrite

    dockerfile, context, text, df, report = _audit(op, ctx)
    result = rewrite(df, context)
    return dockerfile, context, text, report, result


def _ignore_text(context: Path, dockerfile: Path, suggested: list[str]) -> tuple[str, str] | None:
    """(path, new text) for the .dockerignore, or None when nothing is missing."""
    from mlops_engineer.engines.containers.context import read_dockerignore

    ignore, path = read_dockerignore(context, dockerfile)
    target = path or context / ".dockerignore"
    existing = target.read_text(errors="replace") if target.is_file() else ""
    have = set(ignore.texts()) if ignore else set()
    missing = [line for line in suggested if line not in have]
    # The Dockerfile and the ignore file are not sources: sending them only breaks the cache.
    if not missing:
        return None
    head = existing if existing.endswith("\n") or not existing else existing + "\n"
    note = "# Added by mlops-engineer optimize_docker_build_cache: not needed in the image.\n"
    return str(target), head + note + "\n".join(missing) + "\n"


def run_rewrite(inp: OptimizeInput, op: RewriteAction, ctx: ToolContext) -> OptimizeOutput:
    from mlops_engineer.render import write_files

    dockerfile, context, text, report, result = _rewritten(op, ctx)
    target = ctx.workspace.resolve(op.output) if op.output else dockerfile
    rel_target = ctx.workspace.relative(target)
    files: dict[str, str] = {}
    if result.text != (target.read_text(errors="replace") if target.is_file() else None):
        files[rel_target] = result.text
    if op.dockerignore:
        ignore = _ignore_text(context, dockerfile, report.suggested_ignore)
        if ignore is not None:
            files[ctx.workspace.relative(Path(ignore[0]))] = ignore[1]
    diff = "".join(difflib.unified_diff(text.splitlines(True), result.text.splitlines(True), op.dockerfile, rel_target))
    out = OptimizeOutput(action="rewrite", dockerfile=ctx.workspace.relative(dockerfile), output=rel_target, diff=diff[:20000] or None,
                         changes=result.changes, manual=result.manual, dry_run=True)
    out.findings = [FindingOut(**vars(f)) for f in report.findings][:MAX_FINDINGS]
    out.counts = {s: sum(1 for f in report.findings if f.severity == s) for s in SEVERITIES}
    if inp.dry_run or not inp.confirm:
        out.files = write_files(ctx.workspace, files, dry_run=True, confirm=False)
        out.planned_calls = [f"write {path}" for path in files] + ([] if inp.dry_run or not files else ["(call again with confirm=true to write)"])
        return out
    out.dry_run = False
    out.files = write_files(ctx.workspace, files, dry_run=False, confirm=True)
    return out


def _pick_changed_file(context: Path, explicit: str | None, ignore) -> str:  # type: ignore[no-untyped-def]
    if explicit:
        path = (context / explicit).resolve()
        if context.resolve() not in path.parents or not path.is_file():
            raise ToolError("invalid_input", f"changed_file {explicit} is not a file inside the build context.",
                            "Pass a context-relative path of a source file, e.g. app/main.py.")
        return explicit
    from mlops_engineer.engines.containers.build_cache import is_dep_file

    for suffix in (".py", ".R", ".r", ".js", ".sh"):
        for path in sorted(context.rglob(f"*{suffix}")):
            rel = path.relative_to(context).as_posix()
            if not is_dep_file(rel) and not (ignore and ignore.excluded(rel)) and not any(p.startswith(".") for p in rel.split("/")):
                return rel
    raise ToolError("invalid_input", "No source file to change found in the build context.", "Pass changed_file= a context-relative source file.")


def _remove_stale_scratch(scratch_root: Path) -> list[str]:
    """Scratch copies left by a measure that was killed (its owner process is gone)."""
    from mlops_engineer.locks import owner_alive

    removed = []
    for folder in sorted(scratch_root.glob("docker-cache-*")):
        record = folder / "owner"
        text = record.read_text().strip() if record.is_file() else ""
        if text and owner_alive(text) is False:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(f"removed the scratch build context {folder.name} of a measure that did not finish")
    return removed


def run_measure(inp: OptimizeInput, op: MeasureAction, ctx: ToolContext) -> OptimizeOutput:
    from mlops_engineer.engines.containers import measure as m
    from mlops_engineer.engines.containers.context import read_dockerignore

    dockerfile, context, text, report, result = _rewritten(op, ctx)
    ignore, _ = read_dockerignore(context, dockerfile)
    changed = _pick_changed_file(context, op.changed_file, ignore)
    variants = [("original", text, None)]
    if op.compare_rewrite:
        ignore_new = _ignore_text(context, dockerfile, report.suggested_ignore)
        variants.append(("rewritten", result.text, ignore_new[1] if ignore_new else None))
    out = OptimizeOutput(action="measure", dockerfile=ctx.workspace.relative(dockerfile), changed_file=changed,
                         changes=result.changes, manual=result.manual, dry_run=inp.dry_run)
    plan = [f"docker build --no-cache / rebuild / change {changed} and rebuild: {name}" for name, _, _ in variants]
    if inp.dry_run:
        out.planned_calls = plan
        return out
    env = m.engine_env(op.docker_host)
    cli = m.find_cli(op.docker_cli, env)
    m.check_engine(cli, env)
    network = None if op.network == "default" else op.network
    from mlops_engineer.output import stable_digest

    tag_base = f"mlops-cache-probe-{stable_digest([text, str(context)])[:10]}"
    scratch_root = ctx.workspace.root / ".mlops" / "tmp"
    scratch_root.mkdir(parents=True, exist_ok=True)
    out.recovered = _remove_stale_scratch(scratch_root)
    work = Path(tempfile.mkdtemp(prefix="docker-cache-", dir=scratch_root))
    from mlops_engineer.locks import owner

    (work / "owner").write_text(owner())
    total = len(variants) * 3
    done = 0
    try:
        copy = work / "context"
        ctx.progress(0, total, f"copying the build context ({changed} will change)")
        shutil.copytree(context, copy, symlinks=True, ignore=shutil.ignore_patterns(".mlops"))
        original_source = (copy / changed).read_bytes()
        for name, dockerfile_text, ignore_text in variants:
            file = work / f"{name}.Dockerfile"
            file.write_text(dockerfile_text)
            if ignore_text is not None:
                # BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile first.
                (work / f"{name}.Dockerfile.dockerignore").write_text(ignore_text)
            (copy / changed).write_bytes(original_source)
            tag = f"{tag_base}-{name}:measure"
            runs = []
            for step, no_cache in (("cold", True), ("warm", False), ("rebuild", False)):
                if step == "rebuild":
                    # A new line each call: the same edit twice would hit the cache of the previous call.
                    (copy / changed).write_bytes(original_source + f"\n# changed by measure ({name} {uuid.uuid4().hex})\n".encode())
                ctx.progress(done, total, f"{name}: {step} build")
                runs.append(m.build(cli, env, copy, file, tag, network=network, no_cache=no_cache, build_args=op.build_args,
                                    check=ctx.check_cancelled))
                done += 1
            ctx.progress(done, total, f"{name}: image size and wasted bytes")
            out.measurements.append(MeasurementOut(
                variant=name, cold_seconds=round(runs[0].seconds, 2), warm_seconds=round(runs[1].seconds, 2),
                rebuild_seconds=round(runs[2].seconds, 2), steps=runs[2].steps, reused_on_warm=runs[1].cached,
                reused_on_rebuild=runs[2].cached, image_bytes=m.image_size(cli, env, tag), wasted_bytes=m.wasted_bytes(cli, env, tag)))
            m.remove_image(cli, env, tag)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len(out.measurements) == 2 and out.measurements[1].rebuild_seconds > 0:
        out.rebuild_speedup = round(out.measurements[0].rebuild_seconds / out.measurements[1].rebuild_seconds, 1)
    out.planned_calls = plan
    return out


def run(inp: OptimizeInput, ctx: ToolContext) -> OptimizeOutput:
    op = inp.operation
    if isinstance(op, AuditAction):
        return run_audit(inp, op, ctx)
    if isinstance(op, RewriteAction):
        return run_rewrite(inp, op, ctx)
    return run_measure(inp, op, ctx)


def summarize(out: OptimizeOutput) -> str:
    if out.action == "measure" and out.measurements:
        parts = [f"{x.variant}: cold {x.cold_seconds:.1f}s, warm {x.warm_seconds:.1f}s, rebuild {x.rebuild_seconds:.1f}s "
                 f"({x.reused_on_rebuild}/{x.steps} steps reused), {x.image_bytes / 1e6:.0f} MB" for x in out.measurements]
        speed = f"; rebuild {out.rebuild_speedup}x faster" if out.rebuild_speedup else ""
        return "; ".join(parts) + speed + "."
    if out.action == "rewrite":
        verb = "would write" if out.dry_run else "wrote"
        return f"Rewrite of {out.dockerfile}: {len(out.changes)} change(s); {verb} {len(out.files)} file(s); {len(out.manual)} left to do by hand."
    if out.action == "measure":
        return "[dry run] " + "; ".join(out.planned_calls)
    c = out.counts
    return f"{out.dockerfile}: {c.get('error', 0)} error(s), {c.get('warning', 0)} warning(s), {c.get('info', 0)} info."


TOOL = ToolSpec(
    name="optimize_docker_build_cache",
    title="Optimize a Docker build cache",
    description=__doc__ or "",
    input_model=OptimizeInput,
    output_model=OptimizeOutput,
    run=run,
    summarize=summarize,
    # destructive: rewrite with confirm=true overwrites the Dockerfile; measure builds images (open world).
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(OptimizeInput, '{"operation": {"action": "audit", "dockerfile": "Dockerfile"}}'),
)
