"""Demo step: serve the champion's churn features from a Feast store (embedded: SQLite + Parquet).

Reads what `champion` left (train_csv, features, target), gives every customer an id and
an event time, applies a one-view store, materializes it, builds a point-in-time training
set and does one online lookup. Re-running rewrites nothing and registers nothing new.
"""

from __future__ import annotations

import io
from typing import Any

from mlops_engineer.demos import DemoSession

REPO = "feature_repo"
SOURCE = "data/churn_features.parquet"
ENTITY_DF = "data/churn_entities.parquet"
TRAINING_SET = "data/churn_training_set.parquet"
START = "2026-01-01T00:00:00+00:00"


def _value_type(dtype: Any) -> str:
    kind = getattr(dtype, "kind", "O")
    return {"i": "int64", "u": "int64", "f": "float64", "b": "bool"}.get(kind, "string")


def _write_parquet_if_changed(session: DemoSession, rel: str, frame: Any) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    path = session.workspace.resolve(rel)
    if not path.exists() or path.read_bytes() != buffer.getvalue():
        session.workspace.write_bytes(rel, buffer.getvalue())


def _prepare(session: DemoSession) -> tuple[Any, list[str]]:
    """Feature rows keyed by customer_id with derived event times, and labelled entity rows a day later."""
    import pandas as pd

    facts = session.facts
    features: list[str] = list(facts["features"])
    frame = pd.read_csv(session.workspace.resolve(facts["train_csv"]))
    start = pd.Timestamp(START)
    frame.insert(0, "customer_id", range(1, len(frame) + 1))
    # Deterministic event times spread over four weeks: the day the values were observed.
    frame["event_timestamp"] = [start + pd.Timedelta(days=i % 28, hours=i % 24) for i in range(len(frame))]
    _write_parquet_if_changed(session, SOURCE, frame[["customer_id", "event_timestamp", *features]])
    entities = frame[["customer_id", "event_timestamp", facts["target"]]].copy()
    entities["event_timestamp"] = entities["event_timestamp"] + pd.Timedelta(days=1)
    _write_parquet_if_changed(session, ENTITY_DF, entities)
    return frame, features


def run(session: DemoSession) -> None:
    call, say = session.call, session.say
    frame, features = _prepare(session)
    spec = {
        "action": "apply",
        "project": "churn_demo",
        "entities": [{"name": "customer", "join_key": "customer_id", "value_type": "int64", "description": "A subscriber."}],
        "sources": [{"name": "churn_features_source", "path": SOURCE, "timestamp_field": "event_timestamp"}],
        "feature_views": [{
            "name": "customer_features", "entities": ["customer"], "source": "churn_features_source", "ttl_seconds": 30 * 86400,
            "schema": [{"name": f, "dtype": _value_type(frame[f].dtype)} for f in features],
        }],
        "feature_services": [{"name": "churn_classifier_features", "features": ["customer_features"]}],
    }
    applied = call("build_feature_store", {**spec})
    created = [f"{c.kind} {c.name}" for c in applied.changes if c.change == "create"]
    say(f"feature store: {applied.repo_path} ({applied.online_store} online, {applied.offline_store} offline); "
        + (f"created {', '.join(created)}" if created else "registry unchanged"))

    done = call("build_feature_store", {"action": "materialize", "mode": "range", "start": "2025-12-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"})
    say(f"materialized {', '.join(done.materialized.feature_views)} up to {done.materialized.end} in {done.materialized.seconds:.2f} s")

    built = call("build_feature_store", {"action": "training_set", "entity_df": ENTITY_DF,
                                         "feature_service": "churn_classifier_features", "output_path": TRAINING_SET})
    say(f"point-in-time training set: {built.training_set.total_rows} rows x {len(built.training_set.columns)} columns -> {built.output_path}")

    row = call("build_feature_store", {"action": "online", "entity_rows": [{"customer_id": 1}],
                                       "feature_service": "churn_classifier_features"}).rows.rows[0]
    say("online lookup customer 1: " + ", ".join(f"{k}={v}" for k, v in row.items() if k != "customer_id"))

    session.facts.update(feature_repo=REPO, feature_service="churn_classifier_features", feature_view="customer_features",
                         feature_source=SOURCE, training_set=TRAINING_SET, entity_key="customer_id")
    session.where("feature repo", session.root / REPO / "feature_store.yaml")
    session.where("training set", session.root / TRAINING_SET)
