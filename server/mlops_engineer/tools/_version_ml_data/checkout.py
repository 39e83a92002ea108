"""Action checkout: the .dvc files and dvc.lock of a git revision, then its data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.models import (
    MAX_LIST,
    Checkout,
    VersionDataInput,
    VersionDataOutput,
)
from mlops_engineer.tools._version_ml_data.paths import (
    changed_paths,
    refuse_overwriting,
    resolve_tracked,
    unrecorded_edits,
)

if TYPE_CHECKING:
    from dvc.repo import Repo


def run_checkout(op: Checkout, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc.repo import (
        confine_remote,
        dvc_files_at_revision,
        file_at_revision,
        load,
        open_repo,
    )

    load()
    from dvc.exceptions import CheckoutError, DownloadError

    paths = resolve_tracked(ctx, op.targets, must_exist=False)
    with open_repo(ctx.workspace.root, ctx.check_cancelled) as repo:
        sha = repo.scm.resolve_rev(op.rev)
        base.rev = sha
        for remote in _remote_configured(repo):  # fetched from below: checked before any change
            confine_remote(repo, remote, ctx.workspace)
        if paths:
            meta_files = [Path(str(p) + ".dvc") for p in paths]
            missing = [ctx.workspace.relative(p) for p in meta_files if file_at_revision(repo, sha, p) is None]
            if missing:
                raise ToolError("not_found", f"Not tracked by DVC at {op.rev}: {', '.join(missing)}.", "Check the paths and the revision (git log -- <path>.dvc).")
        else:
            meta_files = dvc_files_at_revision(repo, sha, ctx.workspace.root)
        wanted = {p: file_at_revision(repo, sha, p) or "" for p in meta_files}
        changes = [p for p, text in wanted.items() if not p.exists() or p.read_text("utf-8") != text]
        data_targets = [str(p)[: -len(".dvc")] if p.suffix == ".dvc" else str(p) for p in meta_files]
        base.planned_calls = [
            *(f"restore {ctx.workspace.relative(p)} from {sha[:12]}" for p in changes),
            "dvc fetch (objects missing from the cache)",
            "dvc checkout" + (" --force" if inp.confirm else ""),
        ]
        # Uncommitted data edits would be lost: ask before overwriting them.
        dirty = unrecorded_edits(repo, [t for t in data_targets if Path(t).exists() and not t.endswith("dvc.lock")] or None)
        if not inp.confirm and not inp.dry_run:
            refuse_overwriting(dirty)
        if inp.dry_run:
            base.restored = [ctx.workspace.relative(p) for p in changes]
            return base
    before = {p: p.read_text("utf-8") if p.exists() else None for p in changes}
    for path in changes:
        ctx.workspace.write_text(path, wanted[path])
    with_lock = [t for t in data_targets if not t.endswith("dvc.lock")]
    scope = (with_lock or None) if paths else None
    # A fresh Repo reads the restored .dvc files; fetch in workspace mode, because a remote
    # path in the committed config is relative and only resolves against the real folder.

    def put_back(missing: str, cause: Exception | None = None) -> ToolError:
        for path, text in before.items():  # the .dvc files as they were: the workspace is unchanged
            if text is None:
                path.unlink(missing_ok=True)
            else:
                ctx.workspace.write_text(path, text)
        return ToolError(
            "not_found", f"The data of {op.rev} is neither in the cache nor on the remote: {missing}.",
            "Push it from a clone that has it (action push), or configure the remote that holds it.",
        )

    with open_repo(ctx.workspace.root, ctx.check_cancelled) as repo:
        try:
            if _remote_configured(repo):
                ctx.progress(0, 2, f"fetching the data of {sha[:12]}")
                repo.fetch(targets=scope)
            # Checked before checkout, which deletes a file whose new content it cannot find.
            absent = repo.data_status(targets=scope).get("not_in_cache") or []
        except DownloadError as exc:
            raise put_back(str(exc)) from exc
        except BaseException:
            put_back("")
            raise
        if absent:
            raise put_back(", ".join(sorted(absent)[:MAX_LIST]))
        ctx.progress(1, 2, "checking out")
        try:
            result = repo.checkout(targets=scope, force=True)
        except CheckoutError as exc:
            raise put_back(", ".join(map(str, exc.target_infos))) from exc
        base.restored = sorted(set(changed_paths(ctx, result)) | {ctx.workspace.relative(p) for p in changes})[:MAX_LIST]
        ctx.progress(2, 2, "checked out")
    base.next_steps = [f"The .dvc files now match {op.rev}; commit them to keep this version, or checkout HEAD to go back."]
    return base


def _remote_configured(repo: Repo) -> list[str]:
    from mlops_engineer.engines.dvc.repo import default_remote

    return [r for r in [default_remote(repo)] if r]
