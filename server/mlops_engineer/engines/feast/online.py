"""The online read behind `build_feature_store` action `online`: the hot path, and stale values flagged.

Feast answers a one-key lookup on SQLite in about 0.25 ms, so every microsecond of ours
shows. What keeps this path within a few percent of `get_online_features(...).to_dict()`:

- the FeatureStore is built once per repository and process (`store.get_store`), and
  `feature_store.yaml` is stat'ed at most once a second here (a stat costs 7-20 us; a
  re-rendered config is still noticed, and `apply` in this process drops the cache at once);
- Feast's answer is read straight from its protobuf into rows: scalar values are the
  protobuf field itself, only other types go through Feast's converter (`to_dict` runs a long
  chain of type checks per value, ~25 us for a one-key, five-feature answer);
- the column order is computed once per feature list;
- the output is a shallow copy of a prebuilt model, with no re-validation.

Stale values: Feast returns a value older than its feature view's TTL as PRESENT on online
reads (feast#6821). Each value's event time is in the answer, and each view's TTL in the
registry Feast already holds in memory; a value older than its view's TTL is listed in
`stale` with its age. Ages are measured against `now()`, which tests replace with a clock
they control.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.feast.models import (
    FeatureStoreInput,
    FeatureStoreOutput,
    Online,
    StaleValue,
)
from mlops_engineer.errors import ToolError
from mlops_engineer.output import TablePreview

if TYPE_CHECKING:
    from feast import FeatureStore

    from mlops_engineer.runtime import ToolContext

ONLINE_ROWS_INLINE = 100  # online answers up to this many entities inline, more go to a CSV
STALE_INLINE = 100  # stale entries listed inline; `stale_count` has them all
RECHECK_SECONDS = 1.0  # how often the hot path looks at feature_store.yaml again
PRESENT = 1  # feast.serving.FieldStatus.PRESENT
# Protobuf fields whose value is already the Python value to_dict would return.
_SCALARS = frozenset({"int64_val", "int32_val", "double_val", "float_val", "bool_val", "string_val", "bytes_val"})
_UUID_TYPES = frozenset({"UUID", "TIME_UUID"})  # string_val with these types becomes uuid.UUID in Feast

_LAYOUTS: dict[tuple[Any, ...], _Layout] = {}
_TTLS: dict[int, tuple[tuple[Any, ...], dict[str, float]]] = {}
# The last call's store, features and layout: consecutive lookups usually ask the same thing of
# the same repository, and comparing with the last request costs less than any cache key.
_LAST: dict[str, Any] = {"store": None, "features": None, "layout": None}
_OUTPUT: FeatureStoreOutput | None = None


def now() -> float:
    """Seconds since the epoch: what value ages are measured against (tests replace it)."""
    return time.time()


def forget() -> None:
    """Drop what the hot path holds; `apply` calls it after changing the repository or registry."""
    _LAYOUTS.clear()
    _TTLS.clear()
    _LAST.update(store=None, features=None, layout=None)


@dataclass
class _Layout:
    """How one feature list comes back: the output column order, and the view behind each feature column."""

    order: list[int]  # response column index per output column
    names: list[str]  # output column names
    response_names: list[str]  # per response column
    views: list[str | None]  # per response column: the feature view whose TTL applies (None: a key, or on-demand)
    refs: list[str]  # the request it was made for (with `full` and the response names)
    full: bool
    registry: Any = None  # the in-memory registry `checked` was computed from
    ttls: dict[str, float] | None = None
    checked: list[tuple[str, float, list[int]]] = field(default_factory=list)  # (view, TTL, its response columns)


def _store(ctx: ToolContext, repo_path: str) -> FeatureStore:
    last = _LAST["store"]
    clock = time.monotonic()
    if last is not None and last[0] is ctx.workspace and last[1] == repo_path and clock - last[2] < RECHECK_SECONDS:
        return last[3]
    from mlops_engineer.engines.feast.store import get_store

    # Resolving walks every path component (realpath, ~0.1-0.2 ms): once per check, not per call.
    store = get_store(ctx.workspace.resolve(repo_path), ctx.workspace)
    _LAST["store"] = (ctx.workspace, repo_path, clock, store)
    return store


def _features(store: FeatureStore, op: Online) -> tuple[Any, list[str], dict[str, str]]:
    """What to pass to Feast, the `view:feature` refs, and the real view of each alias (feature services)."""
    last = _LAST["features"]
    if last is not None and last[0] is store and last[1] == op.feature_service and last[2] == op.features:
        return last[3]
    from mlops_engineer.engines.feast.store import expand_refs

    if op.feature_service:
        service = store.get_feature_service(op.feature_service)
        refs = [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]
        answer: tuple[Any, list[str], dict[str, str]] = (service, refs, {p.name_to_use(): p.name for p in service.feature_view_projections})
    else:
        refs = list(op.features) if all(":" in f and not f.endswith(":*") for f in op.features) else expand_refs(store, op.features)
        answer = (refs, refs, {})
    _LAST["features"] = (store, op.feature_service, list(op.features), answer)
    return answer


def _layout(op: Online, refs: list[str], aliases: dict[str, str], response_names: Any) -> _Layout:
    last = _LAST["layout"]
    # The response's names include the entity keys: equal names, refs and flag mean an equal layout.
    if last is not None and last.refs is refs and last.full == op.full_feature_names and last.response_names == response_names:
        return last
    names_now = list(response_names)
    key = (tuple(refs), op.full_feature_names, tuple(op.entity_rows[0]), tuple(names_now))
    layout = _LAYOUTS.get(key)
    if layout is None:
        column_view: dict[str, str] = {}
        for ref in refs:
            view, _, feature = ref.partition(":")
            column_view[f"{view}__{feature}" if op.full_feature_names else feature] = aliases.get(view, view)
        # Feast's column order varies between calls: keys first, then features in the order asked for.
        wanted = [*op.entity_rows[0], *column_view]
        names = [c for c in wanted if c in names_now] + sorted(c for c in names_now if c not in wanted)
        index = {name: i for i, name in enumerate(names_now)}
        layout = _Layout([index[n] for n in names], names, names_now, [column_view.get(n) for n in names_now],
                         refs, op.full_feature_names)
        if len(_LAYOUTS) > 256:
            _LAYOUTS.clear()
        _LAYOUTS[key] = layout
    layout.refs = refs  # the object the single-entry check compares with
    _LAST["layout"] = layout
    return layout


def _ttls(store: FeatureStore) -> dict[str, float]:
    """TTL in seconds per feature view, read from the registry Feast holds in memory, cached per registry version."""
    registry = store.registry
    proto = getattr(registry, "cached_registry_proto", None)
    version = (id(proto), getattr(registry, "cached_registry_proto_created", None))
    cached = _TTLS.get(id(store))
    if cached is not None and cached[0] == version and proto is not None:
        return cached[1]
    ttls: dict[str, float] = {}
    if proto is not None:
        for view in [*proto.feature_views, *proto.stream_feature_views]:
            if view.spec.project == store.project:
                ttls[view.spec.name] = view.spec.ttl.seconds + view.spec.ttl.nanos / 1e9
    else:  # a registry without an in-memory proto: ask it (slower, still correct)
        ttls = {v.name: v.ttl.total_seconds() if v.ttl else 0.0 for v in store.list_feature_views(allow_cache=True)}
    _TTLS[id(store)] = (version, ttls)
    return ttls


def _rows(results: Any, layout: _Layout, types: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The response as rows, values as `OnlineResponse.to_dict` would give them, in one pass.

    A scalar is the protobuf field itself; a string of a UUID feature, and every other kind, goes
    through Feast's converter. The checks are inline: a function call per value costs ~1 us here.
    """
    if count == 1:  # the common lookup: no per-column iteration over rows
        row: dict[str, Any] = {}
        for j, name in zip(layout.order, layout.names, strict=True):
            value = results[j].values[0]
            kind = value.WhichOneof("val")
            if kind in _SCALARS and (kind != "string_val" or not _uuid(types.get(name))):
                row[name] = getattr(value, kind)
            else:
                row[name] = _convert(value, kind, types.get(name))
        return [row]
    rows: list[dict[str, Any]] = [{} for _ in range(count)]
    for j, name in zip(layout.order, layout.names, strict=True):
        for row, value in zip(rows, results[j].values, strict=True):
            kind = value.WhichOneof("val")
            if kind in _SCALARS and (kind != "string_val" or not _uuid(types.get(name))):
                row[name] = getattr(value, kind)
            else:
                row[name] = _convert(value, kind, types.get(name))
    return rows


def _uuid(feature_type: Any) -> bool:
    """A string feature Feast turns into uuid.UUID."""
    return feature_type is not None and feature_type.name in _UUID_TYPES


def _convert(value: Any, kind: str | None, feature_type: Any) -> Any:
    if kind is None:
        return None  # not found, or null
    from feast.type_map import feast_value_type_to_python_type

    return feast_value_type_to_python_type(value, feature_type)


def _stale(results: Any, layout: _Layout, store: FeatureStore, rows: int) -> list[StaleValue]:
    """Values older than their view's TTL: one entry per (row, view), with its features in this answer.

    A view's features in one row were written together, at one event time: the age is read from
    the view's first column and applies to each of its values that is present.
    """
    registry = getattr(store.registry, "cached_registry_proto", None)
    if registry is not None and layout.registry is registry and not layout.checked:
        return []  # the usual case, decided in one comparison: nothing here has a TTL
    ttls = _ttls(store)
    layout.registry = registry
    if layout.ttls is not ttls:  # which columns have a TTL: once per layout and registry version
        layout.ttls = ttls
        by_view: dict[str, list[int]] = {}
        for j in layout.order:  # in the answer's column order, which Feast's own order is not
            view = layout.views[j]
            if view and ttls.get(view):
                by_view.setdefault(view, []).append(j)
        layout.checked = [(view, ttls[view], columns) for view, columns in by_view.items()]
    stale: list[StaleValue] = []
    if not layout.checked:
        return stale  # only keys, on-demand features, or views without a TTL (values never expire)
    clock = now()
    for view, ttl, columns in layout.checked:
        vectors = [results[j] for j in columns]
        stamps = vectors[0].event_timestamps
        for i in range(rows):
            stamp = stamps[i].seconds + stamps[i].nanos / 1e9
            if not stamp:
                continue  # no event time: nothing was stored for this key (Redis answers a missing key as present, empty)
            present = [layout.response_names[j] for j, v in zip(columns, vectors, strict=True) if v.statuses[i] == PRESENT]
            if not present:
                continue
            age = clock - stamp
            if age > ttl:
                stale.append(StaleValue(row=i, feature_view=view, features=present, age_seconds=round(age, 3), ttl_seconds=ttl))
    stale.sort(key=lambda entry: entry.row)
    return stale


def online(op: Online, inp: FeatureStoreInput, ctx: ToolContext) -> FeatureStoreOutput:
    """One Feast call, its protobuf read into rows, stale values flagged."""
    try:  # plain try, not `with translate_errors(...)`: a generator context manager costs microseconds here
        store = _store(ctx, inp.repo_path)
        features, refs, aliases = _features(store, op)
        response = store.get_online_features(features=features, entity_rows=op.entity_rows, full_feature_names=op.full_feature_names)
        proto = response.proto
        layout = _layout(op, refs, aliases, proto.metadata.feature_names.val)
        results = proto.results
        rows = _rows(results, layout, response._feature_types, len(op.entity_rows))
        stale = _stale(results, layout, store, len(op.entity_rows))
    except ToolError:
        raise
    except Exception as exc:
        from mlops_engineer.engines.feast.store import translate_errors

        with translate_errors("online"):
            raise exc from None
    if len(rows) <= ONLINE_ROWS_INLINE:  # Feast's values are plain JSON types already: no re-validation
        table = _filled(TablePreview, {"columns": layout.names, "rows": rows, "total_rows": len(rows), "full_result_path": None})
    else:
        from mlops_engineer.output import preview_table

        table = preview_table(ctx.workspace, "online-features", rows, limit=ONLINE_ROWS_INLINE)
    global _OUTPUT
    if _OUTPUT is None:
        _OUTPUT = FeatureStoreOutput(action="online", repo_path="")
    values = {**_OUTPUT.__dict__, "repo_path": inp.repo_path, "rows": table}
    if stale:
        values.update(stale=stale[:STALE_INLINE], stale_count=len(stale))
    return _filled(FeatureStoreOutput, values)


def _filled(cls: type[Any], values: dict[str, Any]) -> Any:
    """A pydantic model holding `values` as they are, as `model_construct` makes it without filling defaults.

    Every field must be in `values` (the callers build them from a complete model or list all four);
    `model_construct` walks every field for defaults (pydantic 2.14 inspects each `default_factory`'s
    signature, ~80 us for the output model) and `model_copy` copies twice: ~10 us of a 0.3 ms lookup.
    """
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model
