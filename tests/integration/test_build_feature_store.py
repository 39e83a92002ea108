"""build_feature_store against the real Feast SDK: embedded (SQLite online + Parquet files) and
team mode (a real Redis online store and a real PostgreSQL offline store), same scenario on each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.build_feature_store import TOOL
from tests.helpers import ToolRunner

T0 = "2026-01-01T00:00:00+00:00"
TTL_HOURS = 48
CUSTOMERS = 30


def make_stats(root: Path, seed: int = 3) -> Any:
    """Feature rows at random hours; `stamp` holds each row's own event time in epoch seconds,
    so a training set shows exactly which row every value came from."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(T0)
    rows = []
    for customer in range(1, CUSTOMERS + 1):
        hours = np.sort(rng.choice(24 * 20, size=6, replace=False))
        for h in hours:
            ts = t0 + pd.Timedelta(hours=int(h))
            rows.append({"customer_id": customer, "event_timestamp": ts, "tenure_months": int(h) // 24,
                         "monthly_charges": round(float(rng.normal(70, 20)), 2), "stamp": float(ts.timestamp())})
    frame = pd.DataFrame(rows)
    (root / "data").mkdir(exist_ok=True)
    frame.to_parquet(root / "data/customer_stats.parquet", index=False)
    return frame


def make_entity_df(root: Path, seed: int = 5, rows: int = 120) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(T0)
    frame = pd.DataFrame({
        "customer_id": rng.integers(1, CUSTOMERS + 1, rows),
        "event_timestamp": [t0 + pd.Timedelta(minutes=int(m)) for m in rng.integers(-24 * 60, 24 * 60 * 23, rows)],
        "label": rng.integers(0, 2, rows),
    })
    frame.to_parquet(root / "data/entities.parquet", index=False)
    return frame


def spec(backend: dict[str, Any]) -> dict[str, Any]:
    source: dict[str, Any] = {"name": "customer_stats_source", "path": "data/customer_stats.parquet"}
    if backend["offline_store"]["type"] == "postgres":
        source["table"] = "customer_stats"
    return {
        "action": "apply",
        "project": "churn",
        **backend,
        "entities": [{"name": "customer", "join_key": "customer_id", "value_type": "int64", "description": "A subscriber."}],
        "sources": [source],
        "feature_views": [{
            "name": "customer_stats", "entities": ["customer"], "source": "customer_stats_source", "ttl_seconds": TTL_HOURS * 3600,
            "schema": [{"name": "tenure_months", "dtype": "int64"}, {"name": "monthly_charges", "dtype": "float64"},
                       {"name": "stamp", "dtype": "float64"}],
        }],
        "on_demand_feature_views": [{
            "name": "pricing", "sources": ["customer_stats"], "request_fields": {"discount": "float64"},
            "schema": [{"name": "net_charges", "dtype": "float64", "expression": "monthly_charges * (1 - discount)"}],
        }],
        "feature_services": [{"name": "churn_model_v1", "features": ["customer_stats:tenure_months", "customer_stats:monthly_charges"]}],
    }


@pytest.fixture(params=["embedded", "team"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "embedded":
        return {"online_store": {"type": "sqlite"}, "offline_store": {"type": "file"}}
    redis = request.getfixturevalue("redis_server")
    postgres = request.getfixturevalue("postgres_server")
    database = f"feast_{tmp_path.name.replace('-', '_').lower()}"[:60]
    postgres.create_database(database)
    return {
        "online_store": {"type": "redis", "host": redis.host, "port": redis.port},
        "offline_store": {"type": "postgres", "host": postgres.host, "port": postgres.port, "database": database,
                          "user": postgres.user, "sslmode": "disable"},
        "registry": "sql",  # shared by every machine: the registry lives in PostgreSQL too
    }


def expected_pit(stats: Any, entity_df: Any) -> Any:
    """The reference answer, computed independently: latest row at or before the entity time, within the TTL."""
    import pandas as pd

    out = []
    for row in entity_df.itertuples(index=False):
        ts = pd.Timestamp(row.event_timestamp)
        candidates = stats[(stats.customer_id == row.customer_id) & (stats.event_timestamp <= ts)
                           & (stats.event_timestamp >= ts - pd.Timedelta(hours=TTL_HOURS))]
        out.append(candidates.sort_values("event_timestamp").stamp.iloc[-1] if len(candidates) else None)
    return out


@pytest.mark.server
def test_same_scenario_on_each_backend(tmp_path: Path, backend: dict[str, Any]) -> None:
    import pandas as pd

    tools = ToolRunner(tmp_path)
    stats = make_stats(tmp_path)
    full = spec(backend)

    plan = tools(TOOL, full, dry_run=True)
    assert plan.dry_run and not (tmp_path / "feature_repo").exists()
    assert {c.change for c in plan.changes} == {"create"}

    first = tools(TOOL, full)
    assert {(c.kind, c.name) for c in first.changes if c.change == "create"} >= {
        ("entity", "customer"), ("feature view", "customer_stats"), ("on demand feature view", "pricing"), ("feature service", "churn_model_v1")}
    assert (tmp_path / "feature_repo/feature_store.yaml").is_file() and (tmp_path / "feature_repo/features.py").is_file()
    if backend["offline_store"]["type"] == "postgres":
        assert first.loaded_tables == ["customer_stats"]
        config = (tmp_path / "feature_repo/feature_store.yaml").read_text()
        assert "type: redis" in config and "registry_type: sql" in config
        assert not (tmp_path / "feature_repo/data/registry.db").exists()

    again = tools(TOOL, full)  # idempotent: nothing to create, no file rewritten, no table reloaded
    assert {c.change for c in again.changes} == {"unchanged"}
    assert {f.action for f in again.files} == {"unchanged"} and again.loaded_tables == []

    listed = tools(TOOL, {"action": "list"}).registry
    assert [e["name"] for e in listed.entities] == ["customer"]  # one entity, however often applied
    assert listed.feature_views[0]["ttl_seconds"] == TTL_HOURS * 3600 and listed.feature_views[0]["materialized_until"] is None
    assert listed.feature_services[0]["features"] == ["customer_stats:tenure_months", "customer_stats:monthly_charges"]

    # Range materialization up to day 10, then what the online store serves is the latest row before it.
    cut = pd.Timestamp(T0) + pd.Timedelta(days=10)
    planned = tools(TOOL, {"action": "materialize", "mode": "range", "start": "2025-12-01T00:00:00Z", "end": cut.isoformat()}, dry_run=True)
    assert planned.planned_calls == [f"materialize customer_stats from 2025-12-01T00:00:00+00:00 to {cut.isoformat()}"]
    assert tools(TOOL, {"action": "list"}).registry.feature_views[0]["materialized_until"] is None  # the dry run did nothing
    done = tools(TOOL, {"action": "materialize", "mode": "range", "start": "2025-12-01T00:00:00Z", "end": cut.isoformat()})
    assert done.materialized.feature_views == ["customer_stats"]
    keys = [1, 2, 3]
    rows = tools(TOOL, {"action": "online", "entity_rows": [{"customer_id": k} for k in keys], "features": ["customer_stats"]}).rows
    for key, row in zip(keys, rows.rows, strict=True):
        before = stats[(stats.customer_id == key) & (stats.event_timestamp < cut)]
        assert row["stamp"] == (before.stamp.iloc[-1] if len(before) else None)

    # Incremental: from where the range stopped to the end of the data.
    end = pd.Timestamp(T0) + pd.Timedelta(days=25)
    inc = tools(TOOL, {"action": "materialize", "end": end.isoformat()})
    assert inc.planned_calls == [f"materialize customer_stats from {cut.isoformat()} to {end.isoformat()}"]
    rows = tools(TOOL, {"action": "online", "entity_rows": [{"customer_id": k} for k in keys], "feature_service": "churn_model_v1"}).rows
    for key, row in zip(keys, rows.rows, strict=True):
        last = stats[stats.customer_id == key].iloc[-1]
        assert row["monthly_charges"] == pytest.approx(last.monthly_charges)
        assert set(row) == {"customer_id", "tenure_months", "monthly_charges"}
    ordered = tools(TOOL, {"action": "online", "entity_rows": [{"customer_id": 2}],
                           "features": ["customer_stats:stamp", "customer_stats:tenure_months"]}).rows.rows[0]
    last = stats[stats.customer_id == 2].iloc[-1]
    assert list(ordered) == ["customer_id", "stamp", "tenure_months"]  # the order asked for, values paired right
    assert ordered["stamp"] == last.stamp and ordered["tenure_months"] == last.tenure_months
    unknown = tools(TOOL, {"action": "online", "entity_rows": [{"customer_id": 999}], "features": ["customer_stats:stamp"]}).rows
    assert unknown.rows == [{"customer_id": 999, "stamp": None}]

    # On-demand view with a request field.
    odfv = tools(TOOL, {"action": "online", "entity_rows": [{"customer_id": 1, "discount": 0.25}],
                        "features": ["customer_stats:monthly_charges", "pricing:net_charges"]}).rows.rows[0]
    assert odfv["net_charges"] == pytest.approx(odfv["monthly_charges"] * 0.75)

    # Training set through a feature service, written as Parquet.
    entity_df = make_entity_df(tmp_path)
    out = tools(TOOL, {"action": "training_set", "entity_df": "data/entities.parquet", "feature_service": "churn_model_v1",
                       "output_path": "data/train_v1.parquet"})
    written = pd.read_parquet(tmp_path / "data/train_v1.parquet")
    assert out.training_set.total_rows == len(entity_df) == len(written)
    assert list(written.columns) == ["customer_id", "event_timestamp", "label", "tenure_months", "monthly_charges"]
    assert written.label.tolist() == entity_df.label.tolist()  # entity rows kept, in order


@pytest.mark.server
def test_point_in_time_correctness(tmp_path: Path, backend: dict[str, Any]) -> None:
    """No value newer than the entity row's timestamp, none older than the TTL, and exactly the latest one otherwise."""
    import pandas as pd

    tools = ToolRunner(tmp_path)
    stats = make_stats(tmp_path, seed=11)
    entity_df = make_entity_df(tmp_path, seed=13, rows=200)
    tools(TOOL, spec(backend))
    out = tools(TOOL, {"action": "training_set", "entity_df": "data/entities.parquet", "features": ["customer_stats:stamp", "customer_stats:tenure_months"]})
    result = pd.read_parquet(tmp_path / out.output_path)
    assert len(result) == len(entity_df)
    entity_ts = pd.to_datetime(result.event_timestamp, utc=True)
    present = result.stamp.notna()
    # Only the present stamps are converted: pandas' float-seconds conversion rounds scratch memory in the NaN
    # slots under np.errstate(over="raise"), and fails at random when that memory holds a huge number.
    stamps = pd.to_datetime(result.stamp[present].astype("int64"), unit="s", utc=True)
    entity_ts = entity_ts[present]
    assert (stamps <= entity_ts).all(), "a feature value from the future leaked into the training set"
    assert (stamps >= entity_ts - pd.Timedelta(hours=TTL_HOURS)).all(), "a value older than the TTL was used"
    expected = expected_pit(stats, entity_df)
    assert [None if pd.isna(v) else v for v in result.stamp] == expected
    # The data makes both cases happen: rows with a value, and rows whose values are all too new or too old.
    assert present.sum() > 20 and (~present).sum() > 5


@pytest.mark.server
def test_values_older_than_the_ttl_are_flagged_stale_with_their_age(tmp_path: Path, backend: dict[str, Any],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Feast serves a value past its view's TTL as present (feast#6821); the online answer lists it as stale, with its age.

    The clock the ages are measured against is set by the test: no sleeping, and both cases at once.
    """
    import pandas as pd
    from feast import FeatureStore

    from mlops_engineer.engines.feast import online

    tools = ToolRunner(tmp_path)
    stats = make_stats(tmp_path)
    tools(TOOL, spec(backend))
    tools(TOOL, {"action": "materialize", "mode": "range", "start": "2025-12-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"})
    latest = {k: stats[stats.customer_id == k].event_timestamp.max().timestamp() for k in range(1, CUSTOMERS + 1)}
    keys = sorted(latest, key=latest.get)[:3] + sorted(latest, key=latest.get)[-3:]  # the oldest and the newest last writes
    ttl = TTL_HOURS * 3600
    clock = latest[keys[-1]] + ttl / 2  # the newest are within their TTL, the oldest (written days earlier) are not
    monkeypatch.setattr(online, "now", lambda: clock)
    expected = {i: clock - latest[k] for i, k in enumerate(keys) if clock - latest[k] > ttl}
    assert 0 < len(expected) < len(keys), "the data must give both stale and fresh values"

    rows = [{"customer_id": k} for k in keys]
    out = tools(TOOL, {"action": "online", "entity_rows": rows, "features": ["customer_stats:tenure_months", "customer_stats:stamp"]})
    assert {s.row: s.age_seconds for s in out.stale} == pytest.approx(expected)
    assert out.stale_count == len(expected)
    for entry in out.stale:
        assert (entry.feature_view, entry.features, entry.ttl_seconds) == ("customer_stats", ["tenure_months", "stamp"], ttl)
        assert out.rows.rows[entry.row]["stamp"] == latest[keys[entry.row]], "the stale value itself is still returned"
    assert "older than their view's TTL" in TOOL.summarize(out)

    # Feast itself: the same values, every one of them reported present.
    peer = FeatureStore(repo_path=str(tmp_path / "feature_repo")).get_online_features(
        features=["customer_stats:tenure_months", "customer_stats:stamp"], entity_rows=rows)
    assert peer.to_dict() == {name: [row[name] for row in out.rows.rows] for name in out.rows.columns}
    assert {status for vector in peer.proto.results for status in vector.statuses} == {1}  # FieldStatus.PRESENT

    # Through a feature service, with full names, and beside an on-demand feature (which has no TTL).
    service = tools(TOOL, {"action": "online", "entity_rows": rows, "feature_service": "churn_model_v1", "full_feature_names": True})
    assert {s.row: s.features for s in service.stale} == {i: ["customer_stats__tenure_months", "customer_stats__monthly_charges"] for i in expected}
    odfv = tools(TOOL, {"action": "online", "entity_rows": [{**r, "discount": 0.1} for r in rows], "features": ["pricing:net_charges"]})
    assert odfv.stale == [] and odfv.stale_count == 0

    # With the clock before every TTL runs out, nothing is stale; an unknown key is missing, not stale.
    monkeypatch.setattr(online, "now", lambda: latest[keys[-1]] + 1)
    fresh = tools(TOOL, {"action": "online", "entity_rows": [{"customer_id": keys[-1]}, {"customer_id": 999}], "features": ["customer_stats"]})
    assert fresh.stale == [] and fresh.rows.rows[1]["stamp"] is None
    assert pd.Timestamp(fresh.rows.rows[0]["stamp"], unit="s") == pd.Timestamp(latest[keys[-1]], unit="s")


def test_unreachable_redis_is_backend_unreachable(tmp_path: Path) -> None:
    from tests.fixtures.ports import free_port

    tools = ToolRunner(tmp_path)
    make_stats(tmp_path)
    tools(TOOL, spec({"online_store": {"type": "redis", "port": free_port()}, "offline_store": {"type": "file"}}))
    with pytest.raises(ToolError) as caught:
        tools(TOOL, {"action": "online", "entity_rows": [{"customer_id": 1}], "features": ["customer_stats:stamp"]})
    assert caught.value.code == "backend_unreachable"


# ---------------------------------------------------------------- bad input: a clear error, nothing written


@pytest.fixture
def embedded(tmp_path: Path) -> ToolRunner:
    make_stats(tmp_path)
    return ToolRunner(tmp_path)


def _refused(tools: ToolRunner, operation: dict[str, Any], code: str, *words: str, **fields: Any) -> ToolError:
    before = sorted(p.relative_to(tools.root).as_posix() for p in tools.root.rglob("*"))
    with pytest.raises(ToolError) as caught:
        tools(TOOL, operation, **fields)
    assert caught.value.code == code, caught.value
    for word in words:
        assert word in caught.value.message
    after = sorted(p.relative_to(tools.root).as_posix() for p in tools.root.rglob("*"))
    assert after == before, "a refused call wrote files"
    return caught.value


EMBEDDED = {"online_store": {"type": "sqlite"}, "offline_store": {"type": "file"}}


def test_feature_view_with_unknown_entity(embedded: ToolRunner) -> None:
    bad = spec(EMBEDDED)
    bad["feature_views"][0]["entities"] = ["customer", "account"]
    _refused(embedded, bad, "invalid_input", "unknown entity account", "customer")


def test_duplicate_names(embedded: ToolRunner) -> None:
    bad = spec(EMBEDDED)
    bad["entities"].append(dict(bad["entities"][0]))
    _refused(embedded, bad, "invalid_input", "Duplicate entity name(s): customer")
    bad = spec(EMBEDDED)
    bad["feature_views"][0]["schema"].append({"name": "stamp", "dtype": "int64"})
    _refused(embedded, bad, "invalid_input", "Duplicate feature", "stamp")
    bad = spec(EMBEDDED)
    bad["on_demand_feature_views"][0]["name"] = "customer_stats"
    _refused(embedded, bad, "invalid_input", "Duplicate feature view name(s): customer_stats")


def test_unknown_value_type(embedded: ToolRunner) -> None:
    bad = spec(EMBEDDED)
    bad["feature_views"][0]["schema"][0]["dtype"] = "decimal128"
    error = _refused(embedded, bad, "invalid_input", "dtype")
    assert "'int64'" in error.message and "'unix_timestamp'" in error.message  # names the accepted values


def test_paths_outside_the_workspace(embedded: ToolRunner, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    _refused(embedded, spec(EMBEDDED), "outside_workspace", repo_path="../repo")
    bad = spec(EMBEDDED)
    bad["sources"][0]["path"] = str(outside / "stats.parquet")
    _refused(embedded, bad, "outside_workspace")
    embedded(TOOL, spec(EMBEDDED))
    make_entity_df(embedded.root)
    _refused(embedded, {"action": "training_set", "entity_df": "../../etc/passwd", "features": ["customer_stats"]}, "outside_workspace")
    _refused(embedded, {"action": "training_set", "entity_df": "data/entities.parquet", "features": ["customer_stats"],
                        "output_path": str(outside / "train.parquet")}, "outside_workspace")
    assert not any(outside.iterdir())


def test_entity_dataframe_without_timestamps(embedded: ToolRunner) -> None:
    import pandas as pd

    embedded(TOOL, spec(EMBEDDED))
    pd.DataFrame({"customer_id": [1, 2]}).to_parquet(embedded.root / "data/no_time.parquet")
    _refused(embedded, {"action": "training_set", "entity_df": "data/no_time.parquet", "features": ["customer_stats"]},
             "invalid_input", "no timestamp column 'event_timestamp'", "customer_id")


def test_other_spec_mistakes(embedded: ToolRunner) -> None:
    bad = spec(EMBEDDED)
    bad["sources"][0]["path"] = "data/missing.parquet"
    _refused(embedded, bad, "not_found")
    bad = spec(EMBEDDED)
    bad["feature_views"][0]["schema"].append({"name": "churned", "dtype": "int64"})
    _refused(embedded, bad, "invalid_input", "lacks column(s) churned")
    bad = spec(EMBEDDED)
    bad["on_demand_feature_views"][0]["schema"][0]["expression"] = "__import__('os').system('true')"
    _refused(embedded, bad, "invalid_input", "only arithmetic")
    bad = spec(EMBEDDED)
    bad["feature_services"][0]["features"] = ["customer_stats:nope"]
    _refused(embedded, bad, "invalid_input", "no feature 'nope'")


def test_dropping_a_view_needs_confirm(embedded: ToolRunner) -> None:
    embedded(TOOL, spec(EMBEDDED))
    smaller = spec(EMBEDDED)
    smaller["on_demand_feature_views"] = []
    with pytest.raises(ToolError) as caught:
        embedded(TOOL, smaller)
    assert caught.value.code == "needs_confirm" and "pricing" in caught.value.message
    assert "pricing" in (embedded.root / "feature_repo/features.py").read_text()  # nothing rewritten
    done = embedded(TOOL, smaller, confirm=True)
    assert ("on demand feature view", "pricing", "delete") in {(c.kind, c.name, c.change) for c in done.changes}
    assert embedded(TOOL, {"action": "list"}).registry.on_demand_feature_views == []


def test_actions_need_an_applied_repo(embedded: ToolRunner) -> None:
    _refused(embedded, {"action": "list"}, "not_found", "feature_store.yaml")


@pytest.mark.server
def test_replacing_a_table_we_did_not_load_needs_confirm(tmp_path: Path, postgres_server: Any) -> None:
    database = f"feast_foreign_{tmp_path.name.replace('-', '_').lower()}"[:60]
    postgres_server.create_database(database)
    conn = postgres_server.connect(database)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE customer_stats (customer_id bigint, note text)")
        cur.execute("INSERT INTO customer_stats VALUES (1, 'someone else''s data')")
    conn.close()
    tools = ToolRunner(tmp_path)
    make_stats(tmp_path)
    team = spec({"online_store": {"type": "sqlite"},
                 "offline_store": {"type": "postgres", "host": postgres_server.host, "port": postgres_server.port,
                                   "database": database, "user": postgres_server.user, "sslmode": "disable"}})
    _refused(tools, team, "needs_confirm", "customer_stats", "not loaded by us")
    done = tools(TOOL, team, confirm=True)
    assert done.loaded_tables == ["customer_stats"]
    conn = postgres_server.connect(database)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT customer_id) FROM customer_stats")
        assert cur.fetchone() == (CUSTOMERS * 6, CUSTOMERS)
    conn.close()
    assert tools(TOOL, team).loaded_tables == []  # same file: not loaded again


@pytest.mark.parametrize(("key", "value"), [("path: data/online_store.db", "path: {outside}/online.db"),
                                            ("path: data/registry.db", "path: {outside}/registry.db"),
                                            ("path: data/online_store.db", "path: ../../{name}/online.db")])
def test_store_paths_edited_outside_the_workspace_are_refused(embedded: ToolRunner, tmp_path_factory: pytest.TempPathFactory,
                                                              key: str, value: str) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    embedded(TOOL, spec(EMBEDDED))
    config = embedded.root / "feature_repo" / "feature_store.yaml"
    assert key in config.read_text()
    config.write_text(config.read_text().replace(key, value.format(outside=outside, name=outside.name)))  # edited by hand
    for operation in ({"action": "materialize"}, {"action": "list"},
                      {"action": "online", "entity_rows": [{"customer_id": 1}], "features": ["customer_stats:stamp"]}):
        with pytest.raises(ToolError) as caught:
            embedded(TOOL, operation)
        assert caught.value.code == "outside_workspace", (operation, caught.value)
    assert not any(outside.iterdir())
