"""The shared Prometheus engine against a real Prometheus and a real Pushgateway."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mlops_engineer.engines import prometheus
from mlops_engineer.errors import ToolError
from tests.fixtures.ports import free_port
from tests.fixtures.prometheus import HISTORY_METRIC

pytestmark = pytest.mark.server


def test_range_query_returns_the_backfilled_history(prometheus_server) -> None:
    end = prometheus_server.history_end
    start = end - 7 * 24 * 3600
    series = prometheus.query_range(prometheus_server.url, f'{HISTORY_METRIC}{{service="checkout"}}', start, end, 3600)
    assert len(series) == 1
    assert series[0].labels == {"__name__": HISTORY_METRIC, "service": "checkout"}
    expected = dict(next(iter(prometheus_server.history.values())))
    assert len(series[0].timestamps) == 7 * 24 + 1
    for ts, value in zip(series[0].timestamps, series[0].values, strict=True):
        assert value == pytest.approx(expected[int(ts)])


def test_range_query_sees_live_scrapes(prometheus_server) -> None:
    import time

    prometheus_server.exporter.set("test_queue_depth", 42.0)
    prometheus_server.wait_for_scrape("test_queue_depth")
    now = time.time()
    series = prometheus.query_range(prometheus_server.url, "test_queue_depth", now - 60, now, 1)
    assert series and series[0].values[-1] == 42.0


def test_range_query_errors_are_clear(prometheus_server) -> None:
    with pytest.raises(ToolError) as bad:
        prometheus.query_range(prometheus_server.url, "rate(", 0, 3600, 60)
    assert bad.value.code == "invalid_input" and "rate(" in bad.value.message
    assert prometheus.query_range(prometheus_server.url, "no_such_metric", 0, 3600, 60) == []
    with pytest.raises(ToolError) as down:
        prometheus.query_range(f"http://127.0.0.1:{free_port()}", "up", 0, 3600, 60)
    assert down.value.code == "backend_unreachable" and "-/ready" in down.value.hint
    with pytest.raises(ToolError, match="11,000"):
        prometheus.query_range(prometheus_server.url, "up", 0, 86400 * 30, 60)


def test_push_replaces_the_group_and_reads_back(pushgateway_server) -> None:
    samples = [
        prometheus.Sample("drift_psi", 0.31, {"feature": "age"}, "PSI per feature"),
        prometheus.Sample("drift_psi", 0.02, {"feature": "income"}, "PSI per feature"),
        prometheus.Sample("drift_dataset_drifted", 1.0),
    ]
    prometheus.push(pushgateway_server.url, "engine-test", samples, {"model": "churn"})
    text = pushgateway_server.metrics_text()
    assert 'drift_psi{feature="age",instance="",job="engine-test",model="churn"} 0.31' in text
    # A second push replaces the group: a feature that is gone does not linger.
    prometheus.push(pushgateway_server.url, "engine-test", samples[:1], {"model": "churn"})
    text = pushgateway_server.metrics_text()
    assert 'feature="income"' not in text and "drift_dataset_drifted{" not in text
    pushgateway_server.delete_group("engine-test/model/churn")


def test_push_to_nothing_is_backend_unreachable() -> None:
    with pytest.raises(ToolError) as down:
        prometheus.push(f"http://127.0.0.1:{free_port()}", "x", [prometheus.Sample("a", 1.0)])
    assert down.value.code == "backend_unreachable"


def test_textfile_is_valid_exposition(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    path = prometheus.write_textfile(tmp_path / "drift.prom", [prometheus.Sample("m", math.pi, {"a": 'quote"d'})])
    families = list(text_string_to_metric_families(path.read_text()))
    assert families[0].samples[0].labels == {"a": 'quote"d'} and families[0].samples[0].value == pytest.approx(math.pi)
    with pytest.raises(ToolError, match="same label names"):
        prometheus.exposition([prometheus.Sample("m", 1, {"a": "x"}), prometheus.Sample("m", 2, {"b": "y"})])
