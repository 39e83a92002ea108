"""Version data and pipelines with DVC in the workspace's git repository: track, push, pull,
status, restore any revision, and `dvc.yaml` pipelines from typed stages.
"""

from __future__ import annotations

from typing import Any

from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.add_remote import run_add_remote
from mlops_engineer.tools._version_ml_data.checkout import run_checkout
from mlops_engineer.tools._version_ml_data.diff import run_diff
from mlops_engineer.tools._version_ml_data.gc import run_gc
from mlops_engineer.tools._version_ml_data.init import run_init
from mlops_engineer.tools._version_ml_data.models import VersionDataInput, VersionDataOutput
from mlops_engineer.tools._version_ml_data.repro import run_repro
from mlops_engineer.tools._version_ml_data.status import run_status
from mlops_engineer.tools._version_ml_data.track import run_track
from mlops_engineer.tools._version_ml_data.transfer import run_pull, run_push
from mlops_engineer.tools._version_ml_data.write_pipeline import run_write_pipeline
from mlops_engineer.schemas import action_hint


def run(inp: VersionDataInput, ctx: ToolContext) -> VersionDataOutput:
    op = inp.operation
    base = VersionDataOutput(action=op.action, root=str(ctx.workspace.root), dry_run=inp.dry_run)
    return _HANDLERS[op.action](op, inp, ctx, base)


_HANDLERS: dict[str, Any] = {
    "init": run_init, "add_remote": run_add_remote, "track": run_track, "push": run_push, "pull": run_pull,
    "status": run_status, "checkout": run_checkout, "write_pipeline": run_write_pipeline, "repro": run_repro,
    "diff": run_diff, "gc": run_gc,
}


def summarize(out: VersionDataOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    action = out.action
    if action == "init":
        done = [w for w, flag in (("git init", out.git_initialised), ("dvc init", out.dvc_initialised)) if flag]
        remote = f"; default remote {out.remote.name} -> {out.remote.url}" if out.remote else ""
        return f"{prefix}DVC project at {out.root} ({', '.join(done) or 'already initialised'}){remote}."
    if action == "add_remote" and out.remote:
        creds = f", credentials in .dvc/config.local: {', '.join(out.remote.credentials_set)}" if out.remote.credentials_set else ""
        return f"{prefix}Remote {out.remote.name} ({out.remote.kind}) -> {out.remote.url}{' (default)' if out.remote.default else ''}{creds}."
    if action == "track":
        commit = f"; committed {out.git_commit[:12]}" if out.git_commit else ""
        return f"{prefix}Tracked {len(out.tracked)} path(s): {', '.join(t.path for t in out.tracked)}{commit}."
    if action in ("push", "pull") and out.transferred is not None:
        return f"{prefix}{action}: {out.transferred} file(s) transferred."
    if out.status is not None:
        s = out.status
        if s.clean:
            return f"{prefix}Data status: clean (remote {s.remote or 'not checked'})."
        parts = [f"changed {sum(len(v) for v in s.changed.values())}", f"not in cache {len(s.not_in_cache)}",
                 f"not pushed {len(s.not_in_remote)}", f"stages out of date {len(s.stages_changed)}"]
        return f"{prefix}Data status: " + ", ".join(parts) + "."
    if action == "checkout":
        return f"{prefix}Checked out data of {out.rev}: {len(out.restored)} path(s) restored."
    if action == "write_pipeline":
        return f"{prefix}dvc.yaml with stages {', '.join(out.order)}; " + ", ".join(f"{f.path} {f.action}" for f in out.files) + "."
    if action == "repro":
        ran = [s.stage for s in out.stages if s.status in ("ran", "would_run")]
        verb = "would run" if out.dry_run else "ran"
        return f"{prefix}repro {verb}: {', '.join(ran) or 'nothing'}; skipped {sum(s.status == 'skipped' for s in out.stages)}."
    if action == "diff":
        m = out.metrics_diff.total_rows if out.metrics_diff else 0
        p = out.params_diff.total_rows if out.params_diff else 0
        return f"{prefix}{m} metric(s) and {p} param(s) differ."
    if action == "gc" and out.gc:
        verb = "deleted" if out.gc.deleted else "would delete"
        return f"{prefix}dvc gc {verb} {out.gc.count} object(s)."
    return f"{prefix}{action}: done."


TOOL = ToolSpec(
    name="version_ml_data",
    title="Version ML data and pipelines (DVC)",
    description=__doc__ or "",
    input_model=VersionDataInput,
    output_model=VersionDataOutput,
    run=run,
    summarize=summarize,
    # destructive: gc deletes cache objects and checkout/pull with confirm overwrite data (all need confirm).
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(VersionDataInput, '{"operation": {"action": "track", "paths": ["data/train.csv"]}}'),
)
