"""Build and use a Feast feature store from a typed spec: entities, sources, feature views
with TTLs, on-demand views and feature services.

The spec is rendered into a Feast repository (`feature_store.yaml` + `features.py`) and
applied to the registry.

Backends: embedded (SQLite online store, Parquet files offline) or team (Redis online
store, PostgreSQL offline store).
"""

from __future__ import annotations

from typing import Any

from mlops_engineer.engines.feast.models import (
    Apply,
    FeatureStoreInput,
    FeatureStoreOutput,
    Materialize,
    Online,
    TrainingSet,
)
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint


def run(inp: FeatureStoreInput, ctx: ToolContext) -> FeatureStoreOutput:
    op = inp.operation
    if isinstance(op, Online):  # the hot path (engines/feast/online.py); no Feast: its first store build says so
        return _online()(op, inp, ctx)
    from mlops_engineer.engines.feast import store as feast_store

    feast_store.require_feast()
    repo = ctx.workspace.resolve(inp.repo_path)
    out = FeatureStoreOutput(action=op.action, repo_path=repo.relative_to(ctx.workspace.root).as_posix(), dry_run=inp.dry_run)
    if isinstance(op, Apply):
        return feast_store.apply(op, inp, ctx, repo, out)
    if isinstance(op, TrainingSet):  # every path is checked before anything else
        ctx.workspace.resolve(op.entity_df)
        ctx.workspace.resolve(op.output_path)
    feast_store.require_repo(repo, ctx.workspace)
    if isinstance(op, Materialize):
        return feast_store.materialize(op, inp, ctx, repo, out)
    if isinstance(op, TrainingSet):
        return feast_store.training_set(op, inp, ctx, repo, out)
    return feast_store.list_objects(ctx, repo, out)


def _online() -> Any:
    """The online engine function, imported once (an import statement costs ~1 us per call even when loaded)."""
    global _ONLINE
    if _ONLINE is None:
        from mlops_engineer.engines.feast.online import online

        _ONLINE = online
    return _ONLINE


_ONLINE: Any = None


def summarize(out: FeatureStoreOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.action == "apply":
        changed = [c for c in out.changes if c.change != "unchanged"]
        what = ", ".join(f"{c.change} {c.kind} {c.name}" for c in changed[:6]) or "registry unchanged"
        return f"{prefix}Feature repo {out.repo_path} ({out.online_store} online, {out.offline_store} offline): {what}."
    if out.materialized:
        m = out.materialized
        return f"{prefix}Materialized {', '.join(m.feature_views) or 'nothing'} up to {m.end} ({m.seconds:.2f} s)."
    if out.training_set:
        return f"{prefix}Training set of {out.training_set.total_rows} rows written to {out.output_path}."
    if out.rows:
        stale = (f"; {out.stale_count} value group(s) older than their view's TTL (see stale)" if out.stale_count else "")
        return f"{prefix}Online features for {out.rows.total_rows} entit{'y' if out.rows.total_rows == 1 else 'ies'}{stale}."
    if out.registry:
        r = out.registry
        return (f"Project {r.project}: {len(r.entities)} entities, {len(r.feature_views)} feature views, "
                f"{len(r.on_demand_feature_views)} on-demand views, {len(r.feature_services)} services.")
    return f"{prefix}{out.action}: done."


TOOL = ToolSpec(
    name="build_feature_store",
    title="Build a feature store (Feast)",
    description=__doc__ or "",
    input_model=FeatureStoreInput,
    output_model=FeatureStoreOutput,
    run=run,
    summarize=summarize,
    # destructive: apply with confirm=true deletes registry objects dropped from the spec
    # and overwrites edited repository files.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
    input_hint=action_hint(FeatureStoreInput, '{"repo_path": "feature_repo", "operation": {"action": "list"}}'),
)
