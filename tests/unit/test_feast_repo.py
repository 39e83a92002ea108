"""The spec checks and repository rendering of build_feature_store: pure Python, no Feast import."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlops_engineer.engines.feast.repo import check_spec, expression_names, render_repo
from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import validate_input
from mlops_engineer.tools.build_feature_store import TOOL, Apply


def spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "action": "apply", "project": "churn",
        "entities": [{"name": "customer", "join_key": "customer_id", "value_type": "int64"}],
        "sources": [{"name": "stats", "path": "data/stats.parquet"}],
        "feature_views": [{"name": "customer_stats", "entities": ["customer"], "source": "stats", "ttl_seconds": 3600,
                           "schema": [{"name": "tenure", "dtype": "int64"}, {"name": "charges", "dtype": "float64"}]}],
        "on_demand_feature_views": [{"name": "pricing", "sources": ["customer_stats"], "request_fields": {"discount": "float64"},
                                     "schema": [{"name": "net", "dtype": "float64", "expression": "charges * (1 - discount)"}]}],
        "feature_services": [{"name": "v1", "features": ["customer_stats:tenure", "pricing"]}],
    }
    base.update(changes)
    return base


def parse(operation: dict[str, Any]) -> Apply:
    return validate_input(TOOL, {"operation": operation}).operation  # type: ignore[attr-defined,return-value]


def test_render_embedded_repo_is_valid_python_and_yaml() -> None:
    rendered = render_repo(parse(spec()), "feature_repo", {"stats": "data/stats.parquet"})
    config = yaml.safe_load(rendered.files["feature_repo/feature_store.yaml"])
    assert config["online_store"] == {"type": "sqlite", "path": "data/online_store.db"}
    assert config["offline_store"] == {"type": "file"} and config["project"] == "churn"
    code = rendered.files["feature_repo/features.py"]
    compile(code, "features.py", "exec")
    assert "inputs.eval(\"charges * (1 - discount)\")" in code
    assert "fv_customer_stats[['tenure']]" in code and "odfv_pricing," in code
    assert rendered.summary["feature_services"] == ["v1"]


def test_team_config_keeps_passwords_in_the_environment() -> None:
    op = parse(spec(
        online_store={"type": "redis", "host": "10.0.0.5", "port": 6380, "password_env": "REDIS_PW", "db": 2},
        offline_store={"type": "postgres", "database": "features", "user": "feast", "password_env": "PG_PW", "sslmode": "disable"},
        sources=[{"name": "stats", "table": "customer_stats"}],
    ))
    rendered = render_repo(op, "repo", {})
    config = yaml.safe_load(rendered.files["repo/feature_store.yaml"])
    assert config["online_store"]["connection_string"] == "10.0.0.5:6380,password=${REDIS_PW},db=2"
    assert config["offline_store"]["password"] == "${PG_PW}" and config["offline_store"]["sslmode"] == "disable"
    assert 'table="customer_stats"' in rendered.files["repo/features.py"]
    assert config["registry"]["registry_type"] == "file"
    sql = yaml.safe_load(render_repo(op.model_copy(update={"registry": "sql"}), "repo", {}).files["repo/feature_store.yaml"])
    assert sql["registry"]["path"] == "postgresql+psycopg://feast:${PG_PW}@127.0.0.1:5432/features?sslmode=disable"


@pytest.mark.parametrize(("changes", "words"), [
    ({"feature_views": [{"name": "v", "entities": ["account"], "source": "stats", "schema": [{"name": "a", "dtype": "int64"}]}]},
     ["unknown entity account"]),
    ({"feature_views": [{"name": "v", "entities": ["customer"], "source": "nope", "schema": [{"name": "a", "dtype": "int64"}]}]},
     ["unknown source 'nope'"]),
    ({"entities": [{"name": "customer", "value_type": "int64"}, {"name": "customer", "value_type": "string"}]},
     ["Duplicate entity name(s): customer"]),
    ({"sources": [{"name": "stats", "path": "a.parquet"}, {"name": "stats", "path": "b.parquet"}]}, ["Duplicate source"]),
    ({"feature_services": [{"name": "v1", "features": ["customer_stats"]}, {"name": "v1", "features": ["pricing"]}]},
     ["Duplicate feature service name(s): v1"]),
    ({"on_demand_feature_views": [{"name": "customer_stats", "sources": ["customer_stats"], "schema": [{"name": "x", "dtype": "float64", "expression": "charges"}]}]},
     ["Duplicate feature view name(s): customer_stats"]),
    ({"feature_services": [{"name": "v1", "features": ["ghost"]}]}, ["unknown feature view 'ghost'"]),
    ({"on_demand_feature_views": [{"name": "p", "sources": ["customer_stats"], "schema": [{"name": "x", "dtype": "float64", "expression": "charges * rate"}]}]},
     ["reads rate"]),
    ({"sources": [{"name": "stats", "table": "t"}]}, ["needs `path`"]),
    ({"registry": "sql"}, ["needs offline_store type 'postgres'"]),
])
def test_spec_mistakes_are_named(changes: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ToolError) as caught:
        check_spec(parse(spec(**changes)))
    assert caught.value.code == "invalid_input"
    for word in words:
        assert word in caught.value.message


def test_unknown_value_type_lists_the_accepted_ones() -> None:
    bad = spec()
    bad["entities"][0]["value_type"] = "uuid"
    with pytest.raises(ToolError) as caught:
        parse(bad)
    assert caught.value.code == "invalid_input" and "'int64'" in caught.value.message and "value_type" in caught.value.message


@pytest.mark.parametrize("expression", ["__import__('os').system('x')", "open('f')", "a.b", "[a for a in b]", "'text'", "lambda: 1"])
def test_expressions_allow_arithmetic_only(expression: str) -> None:
    with pytest.raises(ToolError):
        expression_names(expression)


def test_expression_names() -> None:
    assert expression_names("a / (b + 1) - c ** 2 > 0") == {"a", "b", "c"}


def test_materialize_range_needs_a_start() -> None:
    with pytest.raises(ToolError) as caught:
        validate_input(TOOL, {"operation": {"action": "materialize", "mode": "range"}})
    assert "start" in caught.value.message
