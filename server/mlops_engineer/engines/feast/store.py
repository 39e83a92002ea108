"""Feast SDK calls behind `build_feature_store`: apply, materialize, training sets, listing (online reads: `online`).

Feast is imported inside functions only: importing it costs seconds, and the
server must start (and list its tools) without it.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.feast import online
from mlops_engineer.engines.feast.models import (
    Apply,
    FeatureStoreInput,
    FeatureStoreOutput,
    Materialize,
    MaterializeInfo,
    RegistryChange,
    RegistryContents,
    TrainingSet,
    utc,
)
from mlops_engineer.engines.feast.repo import (
    CONFIG_FILE,
    DEFINITIONS_FILE,
    REGISTRY_FILE,
    check_spec,
    invalid,
    render_repo,
)
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional
from mlops_engineer.output import PREVIEW_ROWS, TablePreview
from mlops_engineer.workspace import Workspace

if TYPE_CHECKING:
    from feast import FeatureStore

    from mlops_engineer.runtime import ToolContext

EXTRA = "features"
ROW_ID = "__mlops_row"  # entity-row number carried through the point-in-time join
TABLE_COMMENT = "mlops-engineer source "  # + sha256 of the Parquet file loaded into the table

# One FeatureStore per repository folder for the life of the process. Building one parses
# feature_store.yaml, loads the registry and opens the online store's connection pool
# (Redis, SQLite); doing that per call would cost several milliseconds, more than the
# lookup itself, so the online path would be many times slower than calling Feast directly.
# The key includes the config file's mtime and size, so a re-rendered config gets a new store.
_STORES: dict[tuple[str, int, int], FeatureStore] = {}


def _feast() -> Any:
    return import_optional("feast", EXTRA)


def require_feast() -> None:
    """Fail with `missing_dependency` before any other check when the extra is absent (no import)."""
    import importlib.util

    if "feast" not in sys.modules and importlib.util.find_spec("feast") is None:
        _feast()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Feast prints progress to stdout, which belongs to the MCP stdio transport: send it to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Connection failures of Redis and PostgreSQL become `backend_unreachable` with a hint."""
    try:
        yield
    except ToolError:
        raise
    except Exception as exc:
        name = type(exc).__name__
        module = type(exc).__module__
        if (module.startswith("redis") and "Connection" in name) or (module.startswith("psycopg") and name == "OperationalError") or isinstance(exc, ConnectionError):
            raise ToolError(
                "backend_unreachable",
                f"{what}: cannot reach the store ({name}: {str(exc).splitlines()[0] if str(exc) else ''}).",
                "Check that Redis / PostgreSQL run at the host and port in feature_store.yaml and that the "
                "password variable named there is set.",
            ) from exc
        raise


def get_store(repo: Path, workspace: Workspace) -> FeatureStore:
    """The cached FeatureStore for a repository (see `_STORES` for why it is cached); a newly
    loaded one must keep its registry and online store inside the workspace."""
    try:
        stat = os.stat(repo / CONFIG_FILE)
    except OSError:
        raise ToolError("not_found", f"No Feast repository at '{repo}' ({CONFIG_FILE} missing).",
                        "Create it with action apply (same repo_path) first.") from None
    key = (str(repo), stat.st_mtime_ns, stat.st_size)
    store = _STORES.get(key)
    if store is None:
        for old in [k for k in _STORES if k[0] == key[0]]:
            _STORES.pop(old)
        store = _feast().FeatureStore(repo_path=str(repo))
        confine_store(store.config, repo, workspace)
        _STORES[key] = store
    return store


def confine_store(config: Any, repo: Path, workspace: Workspace) -> None:
    """The file registry and the SQLite online store of a feature_store.yaml (which a person may
    have edited) must be inside the workspace. Feast reads their relative paths against the
    repository, and a SQL registry's sqlite: URL against the working folder."""
    registry = config.registry
    where: list[tuple[str, str]] = []
    if getattr(registry, "registry_type", "file") == "file" and "://" not in str(registry.path):
        where.append(("registry", str(repo / registry.path)))
    elif str(registry.path).lower().startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(str(registry.path)).database
        if database and database != ":memory:":
            where.append(("registry", os.path.join(os.getcwd(), database)))  # an absolute path stays absolute
    online = config.online_store
    if getattr(online, "type", "") == "sqlite" and getattr(online, "path", None):
        where.append(("online store", str(repo / online.path)))  # an absolute path stays absolute
    for what, path in where:
        try:
            workspace.resolve(path)
        except ToolError as exc:
            raise ToolError(
                "outside_workspace", f"The Feast {what} of {repo / CONFIG_FILE} is {path}, outside the workspace {workspace.root}.",
                "Keep it in the repository (render feature_store.yaml again with action apply), or start the server with "
                "--workspace on a folder that holds it.",
            ) from exc


def require_repo(repo: Path, workspace: Workspace) -> None:
    if not (repo / CONFIG_FILE).is_file():
        raise ToolError(
            "not_found", f"No Feast repository at '{workspace.relative(repo) if repo != workspace.root else '.'}' ({CONFIG_FILE} missing).",
            "Create it with action apply (same repo_path) first.",
        )


def _backend_names(repo: Path) -> tuple[str, str]:
    import yaml

    data = yaml.safe_load((repo / CONFIG_FILE).read_text("utf-8")) or {}
    return (data.get("online_store") or {}).get("type", "sqlite"), (data.get("offline_store") or {}).get("type", "file")


# ---------------------------------------------------------------- apply


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:
        raise invalid(f"'{path.name}' is not a readable Parquet file ({exc}).") from exc


def _check_source_files(op: Apply, ws: Workspace, repo: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Resolve every source file in the workspace and check it has the columns the views need."""
    paths: dict[str, Path] = {}
    relative: dict[str, str] = {}
    for s in op.sources:
        if not s.path:
            continue
        path = ws.resolve(s.path, must_exist=True)
        if path.suffix.lower() not in {".parquet", ".pq"}:
            raise invalid(f"Source '{s.name}': {s.path} must be a Parquet file (.parquet).",
                          "Convert it, e.g. pandas.read_csv(...).to_parquet('data/x.parquet').")
        paths[s.name] = path
        relative[s.name] = os.path.relpath(path, repo)
        columns = set(_parquet_columns(path))
        needed = {s.timestamp_field} | ({s.created_timestamp_column} if s.created_timestamp_column else set())
        keys = {e.name: e.join_key or e.name for e in op.entities}
        for v in op.feature_views:
            if v.source == s.name:
                needed |= {f.name for f in v.schema_} | {keys.get(e, e) for e in v.entities}
        missing = sorted(needed - columns)
        if missing:
            raise invalid(f"Source '{s.name}' ({s.path}) lacks column(s) {', '.join(missing)}; it has {', '.join(sorted(columns))}.")
    return paths, relative


def _repo_config(repo: Path, config_text: str) -> Any:
    import yaml
    from feast.repo_config import RepoConfig

    data = yaml.safe_load(os.path.expandvars(config_text))
    return RepoConfig(repo_path=repo, **data)


def _load_definitions(path: Path, text: str, project: str) -> Any:
    """Execute the rendered definitions (not yet on disk) and collect the Feast objects they define."""
    feast = _feast()
    from feast.data_source import DataSource
    from feast.feature_view import DUMMY_ENTITY
    from feast.repo_contents import RepoContents

    # inspect.getsource (used for on-demand views) reads through linecache; seed it with the text.
    linecache.cache[str(path)] = (len(text), None, text.splitlines(True), str(path))
    namespace: dict[str, Any] = {"__name__": "mlops_feast_definitions", "__file__": str(path)}
    exec(compile(text, str(path), "exec"), namespace)  # our own rendered template, from a checked spec
    contents = RepoContents(projects=[], data_sources=[], feature_views=[], on_demand_feature_views=[], stream_feature_views=[],
                            label_views=[], entities=[], feature_services=[], permissions=[])
    for obj in namespace.values():
        if isinstance(obj, feast.OnDemandFeatureView):
            contents.on_demand_feature_views.append(obj)
        elif isinstance(obj, feast.FeatureView):
            contents.feature_views.append(obj)
        elif isinstance(obj, DataSource):
            contents.data_sources.append(obj)
        elif isinstance(obj, feast.Entity):
            contents.entities.append(obj)
        elif isinstance(obj, feast.FeatureService):
            contents.feature_services.append(obj)
    contents.entities.append(DUMMY_ENTITY)
    contents.projects.append(feast.Project(name=project))
    return contents


def _file_digest(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pg_plan_loads(config: Any, op: Apply, paths: dict[str, Path], confirm: bool) -> list[tuple[str, Path, str]]:
    """Which tables need (re)loading from Parquet; refuses to replace a table we did not create."""
    from feast.infra.utils.postgres.connection_utils import _get_conn

    loads = []
    with _get_conn(config.offline_store) as conn, conn.cursor() as cur:
        for s in op.sources:
            if s.name not in paths:
                continue
            digest = _file_digest(paths[s.name])
            cur.execute("SELECT obj_description(to_regclass(%s), 'pg_class'), to_regclass(%s) IS NOT NULL",
                        (f'"{op.offline_store.db_schema}"."{s.table}"',) * 2)
            comment, exists = cur.fetchone()
            if comment == TABLE_COMMENT + digest:
                continue
            if exists and not (comment or "").startswith(TABLE_COMMENT) and not confirm:
                raise ToolError("needs_confirm", f"Table {s.table} exists and was not loaded by us; loading {paths[s.name].name} would replace it.",
                                "Call with confirm=true to replace it, or drop `path` to use the table as it is.")
            loads.append((s.table or "", paths[s.name], digest))
    return loads


def _pg_load(config: Any, schema: str, table: str, path: Path, digest: str) -> None:
    """Replace `table` with the Parquet file's rows (COPY), in one transaction."""
    import pyarrow.parquet as pq
    from feast.infra.utils.postgres.connection_utils import _df_to_create_table_sql, _get_conn

    frame = pq.read_table(path).to_pandas()
    with _get_conn(config.offline_store) as conn, conn.cursor() as cur:
        qualified = f'"{schema}"."{table}"'
        cur.execute(f"DROP TABLE IF EXISTS {qualified}")
        cur.execute(_df_to_create_table_sql(frame, table).replace(f'CREATE TABLE "{table}"', f"CREATE TABLE {qualified}"))
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        with cur.copy(f"COPY {qualified} ({columns}) FROM STDIN") as copy:
            for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None):
                copy.write_row(row)
        cur.execute(f"COMMENT ON TABLE {qualified} IS %s".replace("%s", "'" + TABLE_COMMENT + digest + "'"))
        conn.commit()


def apply(op: Apply, inp: FeatureStoreInput, ctx: ToolContext, repo: Path, out: FeatureStoreOutput) -> FeatureStoreOutput:
    from mlops_engineer.render import write_files
    ws = ctx.workspace
    out.online_store, out.offline_store = op.online_store.type, op.offline_store.type
    check_spec(op)  # names and references first: the clearest message for a wrong spec
    paths, relative = _check_source_files(op, ws, repo)
    rendered = render_repo(op, ws.relative(repo) if repo != ws.root else ".", relative)  # raises invalid_input
    # Everything is checked; plan the file writes (raises needs_confirm for edited files).
    out.files = write_files(ws, rendered.files, dry_run=True, confirm=inp.confirm)
    _feast()
    from feast.diff.registry_diff import TransitionType, diff_between
    from feast.repo_operations import extract_objects_for_apply_delete

    config_text = rendered.files[next(k for k in rendered.files if k.endswith(CONFIG_FILE))]
    definitions_text = rendered.files[next(k for k in rendered.files if k.endswith(DEFINITIONS_FILE))]
    config = _repo_config(repo, config_text)
    contents = _load_definitions(repo / DEFINITIONS_FILE, definitions_text, op.project)
    ctx.progress(1, 4, "definitions checked")

    with translate_errors("apply"), quiet():
        store = None
        if op.registry == "sql" or (repo / REGISTRY_FILE).exists():  # opening a missing file registry would write one
            store = _feast().FeatureStore(repo_path=str(repo), config=config)
            if op.project not in {p.name for p in store.registry.list_projects(allow_cache=False)}:
                store = None
        if store is not None:
            # Only the registry half of store.plan(): its infra half opens (and creates) the online store.
            # Inference (entity columns, types) first, as store.plan() does, or every view diffs as "update".
            store._make_inferences(contents.data_sources, contents.entities, contents.feature_views, contents.on_demand_feature_views,
                                   contents.stream_feature_views, contents.feature_services, contents.label_views)
            registry_diff = diff_between(store.registry, op.project, contents)
            to_apply, to_delete, _, _ = extract_objects_for_apply_delete(op.project, store.registry, contents)
            names = {TransitionType.CREATE: "create", TransitionType.UPDATE: "update", TransitionType.DELETE: "delete", TransitionType.UNCHANGED: "unchanged"}
            out.changes = [
                RegistryChange(kind=d.feast_object_type.value, name=d.name, change=names[d.transition_type])  # type: ignore[arg-type]
                for d in registry_diff.feast_object_diffs if not d.name.startswith("__dummy") and d.feast_object_type.value != "project"
            ]
        else:  # a new repository: everything is created (opening a registry would already write one)
            to_apply = [*contents.projects, *contents.data_sources, *contents.entities, *contents.feature_views,
                        *contents.on_demand_feature_views, *contents.feature_services]
            to_delete = []
            kinds = {"data_sources": "data source", "entities": "entity", "feature_views": "feature view",
                     "on_demand_feature_views": "on demand feature view", "feature_services": "feature service"}
            out.changes = [RegistryChange(kind=kinds[k], name=n, change="create") for k, names_ in rendered.summary.items() for n in names_]
        deleted = [f"{c.kind} {c.name}" for c in out.changes if c.change == "delete"]
        if deleted and not inp.confirm and not inp.dry_run:
            raise ToolError("needs_confirm", f"The spec no longer declares {', '.join(deleted)}; applying would delete them from the registry.",
                            "Call with dry_run=true to see the plan, then confirm=true to delete them (or add them back to the spec).")
        loads = _pg_plan_loads(config, op, paths, inp.confirm) if op.offline_store.type == "postgres" else []
        out.planned_calls = [f"load {p.name} into table {t}" for t, p, _ in loads] + [
            f"{c.change} {c.kind} {c.name}" for c in out.changes if c.change != "unchanged"] or ["registry unchanged"]
        if inp.dry_run:
            return out
        out.files = write_files(ws, rendered.files, dry_run=False, confirm=inp.confirm)
        ctx.progress(2, 4, "repository written")
        for table, path, digest in loads:
            _pg_load(config, op.offline_store.db_schema, table, path, digest)
            out.loaded_tables.append(table)
        ctx.progress(3, 4, "sources loaded")
        if any(c.change != "unchanged" for c in out.changes):
            store = get_store(repo, ws)
            store.apply(to_apply, objects_to_delete=to_delete, partial=False)
        else:
            get_store(repo, ws)
    online.forget()  # the hot path's cached config check, column layouts and TTLs describe the old repository
    ctx.progress(4, 4, "applied")
    out.next_steps = [
        'Load the online store: {"action": "materialize"} (incremental) or {"action": "materialize", "mode": "range", "start": ..., "end": ...}.',
        'Build a training set: {"action": "training_set", "entity_df": "<parquet with keys + event_timestamp>", "features": ["<view>"]}.',
    ]
    return out


# ---------------------------------------------------------------- materialize


def _views(store: FeatureStore, wanted: list[str], online_only: bool = True) -> list[Any]:
    views = {v.name: v for v in store.list_feature_views()}
    unknown = [n for n in wanted if n not in views]
    if unknown:
        raise ToolError("not_found", f"No feature view(s) {', '.join(unknown)}; the registry has {', '.join(sorted(views)) or '(none)'}.",
                        "Check the names, or apply the spec that declares them.")
    chosen = [views[n] for n in wanted] if wanted else sorted(views.values(), key=lambda v: v.name)
    return [v for v in chosen if v.online or not online_only]


def materialize(op: Materialize, inp: FeatureStoreInput, ctx: ToolContext, repo: Path, out: FeatureStoreOutput) -> FeatureStoreOutput:
    out.online_store, out.offline_store = _backend_names(repo)
    end = utc(op.end) if op.end else datetime.now(UTC)
    start = utc(op.start) if op.start else None
    with translate_errors("materialize"), quiet():
        store = get_store(repo, ctx.workspace)
        store.refresh_registry()
        views = _views(store, op.feature_views)
        plan = []
        for v in views:
            since = start
            if op.mode == "incremental":
                since = v.most_recent_end_time or (end - v.ttl if v.ttl and v.ttl > timedelta(0) else None)
            plan.append(f"materialize {v.name} from {since.isoformat() if since else 'the beginning'} to {end.isoformat()}")
        out.planned_calls = plan
        began = time.perf_counter()
        if not inp.dry_run:
            for i, v in enumerate(views):
                ctx.progress(i, len(views), f"materializing {v.name}")
                if op.mode == "incremental":
                    store.materialize_incremental(end_date=end, feature_views=[v.name])
                else:
                    store.materialize(start_date=start, end_date=end, feature_views=[v.name])
            ctx.progress(len(views), len(views), "materialized")
    out.materialized = MaterializeInfo(
        feature_views=[v.name for v in views], start=start.isoformat() if start else None, end=end.isoformat(),
        seconds=round(time.perf_counter() - began, 3),
    )
    return out


# ---------------------------------------------------------------- retrieval


def expand_refs(store: FeatureStore, refs: list[str]) -> list[str]:
    """'view' and 'view:*' -> every feature of the view; 'view:f' stays."""
    expanded: list[str] = []
    for ref in refs:
        name, _, feature = ref.partition(":")
        if feature and feature != "*":
            expanded.append(ref)
            continue
        try:
            view = store.get_feature_view(name)
        except Exception:
            try:
                view = store.get_on_demand_feature_view(name)
            except Exception:
                raise ToolError("not_found", f"No feature view '{name}' in the registry.", "Use action list to see what the registry holds.") from None
        expanded += [f"{name}:{f.name}" for f in view.features]
    return expanded


def _read_entity_df(path: Path, timestamp_column: str) -> Any:
    import pandas as pd

    frame = pd.read_parquet(path) if path.suffix.lower() in {".parquet", ".pq"} else pd.read_csv(path)
    if timestamp_column not in frame.columns:
        raise invalid(
            f"The entity dataframe {path.name} has no timestamp column '{timestamp_column}' (columns: {', '.join(map(str, frame.columns))}).",
            "Point-in-time joins need each row's event time: add the column, or name yours with timestamp_column.",
        )
    try:
        frame[timestamp_column] = pd.to_datetime(frame[timestamp_column], utc=True)
    except (ValueError, TypeError) as exc:
        raise invalid(f"Column '{timestamp_column}' of {path.name} does not hold timestamps ({exc}).") from exc
    if frame[timestamp_column].isna().any():
        raise invalid(f"Column '{timestamp_column}' of {path.name} has empty timestamps.")
    return frame


def _json_rows(frame: Any, limit: int) -> list[dict[str, Any]]:
    import json

    return json.loads(frame.head(limit).to_json(orient="records", date_format="iso"))


def training_set(op: TrainingSet, inp: FeatureStoreInput, ctx: ToolContext, repo: Path, out: FeatureStoreOutput) -> FeatureStoreOutput:
    ws = ctx.workspace
    out.online_store, out.offline_store = _backend_names(repo)
    entity_path = ws.resolve(op.entity_df, must_exist=True)
    target = ws.resolve(op.output_path)
    if target.suffix.lower() != ".parquet":
        raise invalid(f"output_path {op.output_path} must end in .parquet.")
    frame = _read_entity_df(entity_path, op.timestamp_column)
    with translate_errors("training_set"), quiet():
        store = get_store(repo, ws)
        store.refresh_registry()
        features: Any = store.get_feature_service(op.feature_service) if op.feature_service else expand_refs(store, op.features)
        out.planned_calls = [f"point-in-time join of {len(frame)} entity rows with {op.feature_service or ', '.join(features)}", f"write {ws.relative(target)}"]
        if inp.dry_run:
            return out
        ctx.progress(0, 2, "joining")
        entity_df = frame.rename(columns={op.timestamp_column: "event_timestamp"}).assign(**{ROW_ID: range(len(frame))})
        joined = store.get_historical_features(entity_df=entity_df, features=features, full_feature_names=op.full_feature_names).to_df()
    # Feast 0.67's file (dask) offline store drops an entity row when every candidate feature row
    # is newer than it or older than the TTL, instead of keeping it with empty features. A training
    # set must keep one row per entity row, in order: join the features back onto the entity rows.
    feature_columns = [c for c in joined.columns if c not in entity_df.columns]
    result = frame.assign(**{ROW_ID: range(len(frame))}).merge(joined[[ROW_ID, *feature_columns]], on=ROW_ID, how="left")
    result = result.sort_values(ROW_ID).drop(columns=ROW_ID).reset_index(drop=True)
    buffer = io.BytesIO()
    result.to_parquet(buffer, index=False)
    ws.write_bytes(target, buffer.getvalue())
    ctx.progress(2, 2, "written")
    out.output_path = ws.relative(target)
    out.training_set = TablePreview(columns=[str(c) for c in result.columns], rows=_json_rows(result, PREVIEW_ROWS),
                                    total_rows=len(result), full_result_path=out.output_path)
    return out


def list_objects(ctx: ToolContext, repo: Path, out: FeatureStoreOutput) -> FeatureStoreOutput:
    out.online_store, out.offline_store = _backend_names(repo)
    with translate_errors("list"):
        store = get_store(repo, ctx.workspace)
        store.refresh_registry()
        out.registry = RegistryContents(
            project=store.project,
            entities=[{"name": e.name, "join_key": e.join_key, "value_type": e.value_type.name.lower()} for e in sorted(store.list_entities(), key=lambda e: e.name)],
            data_sources=[{"name": s.name, "type": type(s).__name__, "timestamp_field": getattr(s, "timestamp_field", "")} for s in sorted(store.list_data_sources(), key=lambda s: s.name)],
            feature_views=[{"name": v.name, "entities": list(v.entities), "ttl_seconds": int(v.ttl.total_seconds()) if v.ttl else 0,
                            "features": [f.name for f in v.features], "online": v.online,
                            "materialized_until": v.most_recent_end_time.isoformat() if v.most_recent_end_time else None}
                           for v in sorted(store.list_feature_views(), key=lambda v: v.name)],
            on_demand_feature_views=[{"name": v.name, "features": [f.name for f in v.features]} for v in sorted(store.list_on_demand_feature_views(), key=lambda v: v.name)],
            feature_services=[{"name": s.name, "features": [f"{p.name}:{f.name}" for p in s.feature_view_projections for f in p.features]}
                              for s in sorted(store.list_feature_services(), key=lambda s: s.name)],
        )
    return out
