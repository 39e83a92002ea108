"""Turn a typed feature-store spec into a Feast repository (`feature_store.yaml` + definitions).

Pure Python: no Feast import, so a spec is checked (names, references, value
types, expressions) before anything is written or any backend is touched.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlops_engineer.errors import ToolError

# Our value-type names -> (feast.types class, feast.ValueType member, pandas dtype).
VALUE_TYPES: dict[str, tuple[str, str, str]] = {
    "int32": ("Int32", "INT32", "int32"),
    "int64": ("Int64", "INT64", "int64"),
    "float32": ("Float32", "FLOAT", "float32"),
    "float64": ("Float64", "DOUBLE", "float64"),
    "string": ("String", "STRING", "object"),
    "bool": ("Bool", "BOOL", "bool"),
    "bytes": ("Bytes", "BYTES", "object"),
    "unix_timestamp": ("UnixTimestamp", "UNIX_TIMESTAMP", "datetime64[ns]"),
}
DEFINITIONS_FILE = "features.py"
CONFIG_FILE = "feature_store.yaml"
REGISTRY_FILE = "data/registry.db"  # relative to the repository folder

# What an on-demand expression may contain: arithmetic and comparisons over feature names.
_ALLOWED_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Name, ast.Load, ast.Constant,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd,
    ast.Gt, ast.GtE, ast.Lt, ast.LtE, ast.Eq, ast.NotEq, ast.And, ast.Or, ast.Not, ast.BitAnd, ast.BitOr, ast.Invert,
)


def invalid(message: str, hint: str = "Fix the spec and call again; nothing was written.") -> ToolError:
    return ToolError("invalid_input", message, hint)


def expression_names(expression: str) -> set[str]:
    """Names an on-demand expression reads; refuses anything but arithmetic and comparisons."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise invalid(f"Expression {expression!r} is not valid: {exc.msg}.") from exc
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise invalid(
                f"Expression {expression!r} uses {type(node).__name__}; only arithmetic, comparisons and "
                "feature names are allowed (e.g. \"monthly_charges / (tenure_months + 1)\")."
            )
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | bool):
            raise invalid(f"Expression {expression!r}: only numeric constants are allowed.")
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _duplicates(kind: str, names: Iterable[str]) -> None:
    repeated = sorted(n for n, c in Counter(names).items() if c > 1)
    if repeated:
        raise invalid(f"Duplicate {kind} name(s): {', '.join(repeated)}. Each name must be unique.")


@dataclass
class RenderedRepo:
    files: dict[str, str]
    """Workspace-relative path -> content."""
    summary: dict[str, list[str]]
    """Object kind -> names, as the spec declares them."""


def check_spec(spec: Any) -> None:
    """Cross-reference checks a schema cannot express. Raises `invalid_input` on the first problem."""
    entities = {e.name: e for e in spec.entities}
    sources = {s.name: s for s in spec.sources}
    views = {v.name: v for v in spec.feature_views}
    odfvs = {o.name: o for o in spec.on_demand_feature_views}
    _duplicates("entity", [e.name for e in spec.entities])
    _duplicates("source", [s.name for s in spec.sources])
    _duplicates("feature view", [v.name for v in spec.feature_views] + [o.name for o in spec.on_demand_feature_views])
    _duplicates("feature service", [s.name for s in spec.feature_services])
    _duplicates("entity join key", [e.join_key or e.name for e in spec.entities])

    offline = spec.offline_store.type
    if spec.registry == "sql" and offline != "postgres":
        raise invalid("registry 'sql' keeps the registry in the offline store's PostgreSQL database: it needs offline_store type 'postgres'.")
    for s in spec.sources:
        if offline == "file" and not s.path:
            raise invalid(f"Source '{s.name}' needs `path` (a Parquet file) with the file offline store.")
        if offline == "postgres" and not (s.table or s.query):
            raise invalid(f"Source '{s.name}' needs `table` or `query` with the postgres offline store.",
                          "Give `table` (and `path` to load a Parquet file into it) or a `query`.")
        if s.query and s.path:
            raise invalid(f"Source '{s.name}': `path` can be loaded into a `table`, not into a `query`.")

    for v in spec.feature_views:
        unknown = [e for e in v.entities if e not in entities]
        if unknown:
            raise invalid(
                f"Feature view '{v.name}' references unknown entit{'ies' if len(unknown) > 1 else 'y'} "
                f"{', '.join(unknown)}; declared: {', '.join(sorted(entities)) or '(none)'}.",
                "Declare the entity under `entities`, or fix the name in the feature view.",
            )
        if v.source not in sources:
            raise invalid(f"Feature view '{v.name}' references unknown source '{v.source}'; declared: {', '.join(sorted(sources)) or '(none)'}.")
        _duplicates(f"feature (in view '{v.name}')", [f.name for f in v.schema_])
        keys = {entities[e].join_key or e for e in v.entities}
        clash = sorted(keys & {f.name for f in v.schema_})
        if clash:
            raise invalid(f"Feature view '{v.name}' lists join key(s) {', '.join(clash)} as features; keys are added by the entities.")

    for o in spec.on_demand_feature_views:
        available: dict[str, str] = {}
        for src in o.sources:
            if src not in views:
                raise invalid(f"On-demand feature view '{o.name}' reads unknown feature view '{src}'.")
            available.update({f.name: f.dtype for f in views[src].schema_})
        available.update(o.request_fields)
        _duplicates(f"feature (in on-demand view '{o.name}')", [f.name for f in o.schema_])
        for f in o.schema_:
            missing = sorted(expression_names(f.expression) - set(available))
            if missing:
                raise invalid(
                    f"On-demand feature '{o.name}:{f.name}' reads {', '.join(missing)}, which none of its sources provide; "
                    f"available: {', '.join(sorted(available))}."
                )

    for service in spec.feature_services:
        for ref in service.features:
            view_name, _, feature = ref.partition(":")
            fields = ([f.name for f in views[view_name].schema_] if view_name in views
                      else [f.name for f in odfvs[view_name].schema_] if view_name in odfvs else None)
            if fields is None:
                raise invalid(f"Feature service '{service.name}' references unknown feature view '{view_name}'.")
            if feature and feature != "*" and feature not in fields:
                raise invalid(f"Feature service '{service.name}': view '{view_name}' has no feature '{feature}'; it has {', '.join(fields)}.")


def render_repo(spec: Any, repo_rel: str, source_paths: dict[str, str], registry_cache_ttl: int = 60) -> RenderedRepo:
    """Render the two repository files. `source_paths` maps a file source to its path relative to the repo."""
    from mlops_engineer.render import render_template

    check_spec(spec)

    def cls(dtype: str) -> str:
        return VALUE_TYPES[dtype][0]

    entities = [
        {"var": f"entity_{e.name}", "name": e.name, "join_key": e.join_key or e.name,
         "value_enum": VALUE_TYPES[e.value_type][1], "description": e.description, "tags": e.tags}
        for e in spec.entities
    ]
    sources = [
        {"var": f"source_{s.name}", "name": s.name, "path": source_paths.get(s.name, ""), "table": s.table,
         "query": s.query, "timestamp_field": s.timestamp_field, "created_timestamp_column": s.created_timestamp_column}
        for s in spec.sources
    ]
    views = [
        {"var": f"fv_{v.name}", "name": v.name, "entity_vars": [f"entity_{e}" for e in v.entities],
         "ttl_seconds": v.ttl_seconds, "schema": [{"name": f.name, "dtype_class": cls(f.dtype)} for f in v.schema_],
         "source_var": f"source_{v.source}", "online": v.online, "description": v.description, "tags": v.tags}
        for v in spec.feature_views
    ]
    request_sources = []
    odfvs = []
    for o in spec.on_demand_feature_views:
        source_vars = [f"fv_{s}" for s in o.sources]
        if o.request_fields:
            request_sources.append({"var": f"request_{o.name}", "name": f"{o.name}_request",
                                    "schema": [{"name": n, "dtype_class": cls(t)} for n, t in o.request_fields.items()]})
            source_vars.append(f"request_{o.name}")
        odfvs.append({
            "var": f"odfv_{o.name}", "name": o.name, "source_vars": source_vars, "description": o.description,
            "schema": [{"name": f.name, "dtype_class": cls(f.dtype), "expression": f.expression,
                        "pandas_dtype": VALUE_TYPES[f.dtype][2]} for f in o.schema_],
        })
    kinds = {v.name: "fv" for v in spec.feature_views} | {o.name: "odfv" for o in spec.on_demand_feature_views}
    services = []
    for service in spec.feature_services:
        grouped: dict[str, list[str]] = {}
        for ref in service.features:
            view_name, _, feature = ref.partition(":")
            grouped.setdefault(view_name, [])
            if feature and feature != "*":
                grouped[view_name].append(feature)
        refs = [f"{kinds[n]}_{n}" + (f"[{feats!r}]" if feats else "") for n, feats in grouped.items()]
        services.append({"var": f"service_{service.name}", "name": service.name, "refs": refs,
                         "description": service.description, "tags": service.tags})

    online = spec.online_store
    config = render_template(
        "features/feature_store.yaml.j2",
        project=spec.project, registry_path=REGISTRY_FILE, registry_cache_ttl=registry_cache_ttl, registry_type=spec.registry,
        online=online, online_path="data/online_store.db",
        offline=spec.offline_store,
    )
    definitions = render_template(
        "features/features.py.j2", project=spec.project, offline_type=spec.offline_store.type,
        entities=entities, sources=sources, feature_views=views, request_sources=request_sources,
        on_demand_feature_views=odfvs, feature_services=services,
    )
    summary = {
        "entities": [e.name for e in spec.entities],
        "data_sources": [s.name for s in spec.sources],
        "feature_views": [v.name for v in spec.feature_views],
        "on_demand_feature_views": [o.name for o in spec.on_demand_feature_views],
        "feature_services": [s.name for s in spec.feature_services],
    }
    return RenderedRepo(files={f"{repo_rel}/{CONFIG_FILE}": config, f"{repo_rel}/{DEFINITIONS_FILE}": definitions}, summary=summary)
