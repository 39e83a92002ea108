"""detect_anomalies_aiops against a real Prometheus (backfilled history with injected anomalies),
a real Pushgateway, and MLflow model versions as events."""

from __future__ import annotations

import importlib.util
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.detect_anomalies_aiops import TOOL
from tests.fixtures.aiops import AIOPS_DAYS, AIOPS_METRIC
from tests.fixtures.ports import free_port
from tests.helpers import ToolRunner

pytestmark = pytest.mark.server


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def promql(url: str, query: str, end: int, days: float = AIOPS_DAYS) -> dict:
    return {"kind": "promql", "url": url, "query": query, "end": end, "days": days - 1 / 24, "step_seconds": 3600}


def write_series(root: Path, name: str, values: np.ndarray, start: pd.Timestamp) -> str:
    index = pd.date_range(start, periods=len(values), freq="h", tz="UTC")
    pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": values}).to_csv(root / name, index=False)
    return name


def daily(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 + 20 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 2, n)


def test_prometheus_series_scored_correlated_and_pushed(tmp_path: Path, aiops_prometheus, pushgateway_server) -> None:
    tools = ToolRunner(tmp_path)
    shift_first, shift_last = aiops_prometheus.shift
    events = [
        {"timestamp": iso(shift_first - 3 * 3600), "name": "deploy checkout v2.3"},
        {"timestamp": iso(shift_first - 3 * 86400), "name": "deploy checkout v2.2"},  # outside the 24 h look-back
    ]
    operation = {"action": "detect", "series": [promql(aiops_prometheus.url, AIOPS_METRIC, aiops_prometheus.end)],
                 "events": events, "pushgateway_url": pushgateway_server.url, "push_job": "aiops_test"}
    out = tools(TOOL, operation)
    by_service = {r.series.name: r for r in out.results}
    checkout = by_service[f'{AIOPS_METRIC}{{service=checkout}}']
    search = by_service[f'{AIOPS_METRIC}{{service=search}}']
    assert checkout.series.points == AIOPS_DAYS * 24 and checkout.series.seasonal_period == 24
    # 40 days: the default 30-day baseline would be more than half, so the first half is, and the result says so.
    assert checkout.baseline_points == 20 * 24 and checkout.scored_points == 20 * 24 and checkout.baseline_days == 20
    assert checkout.notes and "first half" in checkout.notes[0]

    alerts = [w for w in checkout.windows if w.alert]
    assert len(alerts) == 1 and search.alerts == 0
    alert = alerts[0]
    assert iso(shift_first) <= alert.start <= iso(shift_last) and alert.severity == "high"
    assert alert.hints == [f"{iso(shift_first - 3 * 3600)} deploy checkout v2.3"]
    spike = [w for w in checkout.windows if w.start <= iso(aiops_prometheus.spike) <= w.end]
    assert spike and not spike[0].alert, "a one-hour spike is a window, not an alert"

    scores = pd.read_csv(tmp_path / checkout.scores_path)
    assert len(scores) == checkout.scored_points and scores["anomalous"].sum() == checkout.anomalous_points
    windows = pd.read_csv(tmp_path / checkout.windows_path)
    assert len(windows) == checkout.anomaly_windows and windows["alert"].sum() == 1
    assert (tmp_path / checkout.plot_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    text = pushgateway_server.metrics_text()
    label = f'instance="",job="aiops_test",method="stl",series="{AIOPS_METRIC}{{service=checkout}}"'
    assert f"aiops_anomaly_alerts{{{label}}} 1" in text
    assert f"aiops_anomaly_windows{{{label}}} {checkout.anomaly_windows}" in text
    assert 'aiops_anomaly_alerts{instance="",job="aiops_test",method="stl",series="aiops_latency_ms{service=search}"} 0' in text

    # Same input, same outputs: files are rewritten byte for byte, the push replaces its group.
    before = {p: (tmp_path / p).read_bytes() for p in (checkout.scores_path, checkout.windows_path, checkout.plot_path)}
    again = tools(TOOL, operation)
    assert again.model_dump() == out.model_dump()
    assert {p: (tmp_path / p).read_bytes() for p in before} == before
    pushgateway_server.delete_group("aiops_test/method/stl")


@pytest.mark.parametrize("method", ["iforest", "esd"])
def test_other_methods_find_the_same_incident(tmp_path: Path, aiops_prometheus, method: str) -> None:
    query = f'{AIOPS_METRIC}{{service="checkout"}}'
    out = ToolRunner(tmp_path)(TOOL, {"action": "detect", "method": method, "plot": False,
                                      "series": [promql(aiops_prometheus.url, query, aiops_prometheus.end)]})
    [result] = out.results
    shift_first, shift_last = aiops_prometheus.shift
    assert any(w.alert and iso(shift_first) <= w.start <= iso(shift_last) for w in result.windows)
    assert result.plot_path is None and result.method == method


def test_mlflow_model_versions_are_events(tools: ToolRunner, tmp_path: Path, tracking_uri: str | None, mlflow_client) -> None:
    """Embedded store and a real MLflow server: each version's creation time is an event."""
    name = f"latency-model-{tmp_path.name}"
    mlflow_client.create_registered_model(name)
    experiment = mlflow_client.get_experiment_by_name("Default")
    run = mlflow_client.create_run(experiment.experiment_id)
    version = mlflow_client.create_model_version(name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    created = version.creation_timestamp / 1000
    # A series that runs 36 days up to two days after the model version; a shift starts 3 h after it.
    start = pd.Timestamp(int(created // 3600 * 3600) - 34 * 86400, unit="s", tz="UTC")
    values = daily(36 * 24)
    at = 34 * 24 + 3
    values[at:at + 8] += 40
    path = write_series(tmp_path, "latency.csv", values, start)
    out = tools(TOOL, {"action": "detect", "series": [{"kind": "file", "path": path}],
                       "model_events": {"models": [name], "tracking_uri": tracking_uri}, "lookback_hours": 6})
    [alert] = [w for w in out.results[0].windows if w.alert]
    assert alert.hints == [f"{iso(created)} model {name} v{version.version} created"]


def test_rendered_hourly_job_scores_and_pushes(tmp_path: Path, aiops_prometheus, pushgateway_server,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tools = ToolRunner(tmp_path)
    operation = {"action": "render_job", "prometheus_url": aiops_prometheus.url, "job_name": "aiops_job_test",
                 "query": f'{AIOPS_METRIC}{{service="search"}}', "pushgateway_url": pushgateway_server.url,
                 "baseline_days": 20}
    planned = tools(TOOL, operation, dry_run=True)
    assert [f.action for f in planned.files] == ["create", "create"] and not (tmp_path / "mlops").exists()
    out = tools(TOOL, operation)
    script = tmp_path / "mlops/aiops/job/score_job.py"
    compile(script.read_text(), str(script), "exec")
    crontab = (tmp_path / "mlops/aiops/job/crontab").read_text()
    assert "5 * * * *" in crontab and "score_job.py" in crontab and str(tmp_path) in crontab
    assert [f.action for f in tools(TOOL, operation).files] == ["unchanged", "unchanged"]

    spec = importlib.util.spec_from_file_location("score_job", script)
    job = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(job)  # type: ignore[union-attr]
    values = daily(30 * 24)
    values[-5:] += 60
    scores = job.score(values, 29 * 24)
    assert len(scores) == 24 and scores[-5:].min() > 3.5 and job.sustained(scores)
    assert not job.sustained(job.score(daily(30 * 24), 29 * 24))

    # The real thing: query Prometheus, score, push; then read it back from the gateway.
    monkeypatch.setattr(sys, "argv", ["score_job.py"])
    job.main()
    text = pushgateway_server.metrics_text()
    assert 'aiops_anomaly_alert_active{instance="",job="aiops_job_test"} 0' in text
    assert 'aiops_anomaly_score{instance="",job="aiops_job_test"}' in text
    pushgateway_server.delete_group("aiops_job_test")

    (tmp_path / "mlops/aiops/job/crontab").write_text("# mine\n")
    with pytest.raises(ToolError) as refused:
        tools(TOOL, {**operation, "threshold": 4.0})
    assert refused.value.code == "needs_confirm"
    assert out.files[0].path == "mlops/aiops/job/score_job.py"


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    path = write_series(tmp_path, "m.csv", daily(35 * 24), pd.Timestamp("2026-01-01", tz="UTC"))
    out = ToolRunner(tmp_path)(TOOL, {"action": "detect", "series": [{"kind": "file", "path": path}],
                                      "pushgateway_url": "http://127.0.0.1:1"}, dry_run=True)
    assert out.dry_run and not out.results and any("push" in c for c in out.planned_calls)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


def test_unreachable_prometheus_and_pushgateway(tmp_path: Path, aiops_prometheus) -> None:
    tools = ToolRunner(tmp_path)
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "detect", "series": [promql(down, "up", int(time.time()))]})
    assert err.value.code == "backend_unreachable" and "-/ready" in err.value.hint
    query = f'{AIOPS_METRIC}{{service="search"}}'
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "detect", "pushgateway_url": down,
                     "series": [promql(aiops_prometheus.url, query, aiops_prometheus.end)]})
    assert err.value.code == "backend_unreachable"
    path = write_series(tmp_path, "m.csv", daily(35 * 24), pd.Timestamp("2026-01-01", tz="UTC"))
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "detect", "series": [{"kind": "file", "path": path}],
                     "model_events": {"models": ["m"], "tracking_uri": down}})
    assert err.value.code == "backend_unreachable" and "MLflow" in err.value.message
    assert not (tmp_path / "mlops").exists()


@pytest.mark.parametrize(("change", "words"), [
    (lambda v: v.assign(value=v["value"].astype(object).where(v.index != 50, "n/a")), "not numbers"),
    (lambda v: pd.concat([v, v.iloc[[5]]]), None),  # duplicates: merged by default, no error
    (lambda v: v.assign(value=float("nan")), "all NaN"),
    (lambda v: v.iloc[:0], "empty"),
])
def test_bad_series(tmp_path: Path, change, words: str | None) -> None:
    path = write_series(tmp_path, "m.csv", daily(35 * 24), pd.Timestamp("2026-01-01", tz="UTC"))
    frame = change(pd.read_csv(tmp_path / path))
    frame.to_csv(tmp_path / path, index=False)
    tools = ToolRunner(tmp_path)
    operation = {"action": "detect", "series": [{"kind": "file", "path": path}], "plot": False}
    if words is None:
        out = tools(TOOL, operation)
        assert out.results[0].series.duplicates_merged == 1 and out.results[0].series.points == 35 * 24
        return
    with pytest.raises(ToolError, match=words) as err:
        tools(TOOL, operation)
    assert err.value.code == "invalid_input"
    assert not (tmp_path / "mlops").exists(), "a refused call writes nothing"


def test_defaults_run_on_short_gappy_and_constant_series(tmp_path: Path) -> None:
    """What used to be refused with every parameter at its default: a series shorter than the
    30-day baseline, an outage longer than max_gap, a constant gauge."""
    tools = ToolRunner(tmp_path)
    values = daily(14 * 24)
    values[200:206] += 60  # six hours of degradation
    short = write_series(tmp_path, "short.csv", values, pd.Timestamp("2026-01-01", tz="UTC"))
    frame = pd.read_csv(tmp_path / write_series(tmp_path, "gappy.csv", daily(35 * 24), pd.Timestamp("2026-01-01", tz="UTC")))
    frame.drop(index=range(600, 640)).to_csv(tmp_path / "gappy.csv", index=False)  # a 40-hour outage
    write_series(tmp_path, "flat.csv", np.full(20 * 24, 7.0), pd.Timestamp("2026-01-01", tz="UTC"))
    out = tools(TOOL, {"action": "detect", "plot": False,
                       "series": [{"kind": "file", "path": p} for p in (short, "gappy.csv", "flat.csv")]})
    by_name = {r.series.name: r for r in out.results}
    assert by_name["short"].baseline_points == 7 * 24 and "first half" in by_name["short"].notes[0]
    assert [w.alert for w in by_name["short"].windows if w.start <= iso(1767225600 + 205 * 3600) <= w.end] == [True]
    gappy = by_name["gappy"]
    assert gappy.series.gaps_bridged == 40 and any("bridged" in n for n in gappy.notes)
    scores = pd.read_csv(tmp_path / gappy.scores_path)
    outage = scores[scores["bridged"]]
    assert len(outage) == 40 and not outage["anomalous"].any() and (outage["score"] == 0).all()
    flat = by_name["flat"]
    assert flat.anomaly_windows == 0 and flat.max_score == 0 and any("constant" in n for n in flat.notes)
    # Asked to refuse long gaps, it does.
    with pytest.raises(ToolError, match="longest gap is 40 points"):
        tools(TOOL, {"action": "detect", "series": [{"kind": "file", "path": "gappy.csv"}],
                     "cleaning": {"long_gaps": "error"}})


def test_baseline_and_seasonality_limits(tmp_path: Path) -> None:
    path = write_series(tmp_path, "m.csv", daily(10 * 24), pd.Timestamp("2026-01-01", tz="UTC"))
    tools = ToolRunner(tmp_path)
    with pytest.raises(ToolError, match="nothing is left to score"):
        tools(TOOL, {"action": "detect", "series": [{"kind": "file", "path": path}], "baseline_days": 30})
    with pytest.raises(ToolError, match="too few for seasonal_period=168"):
        tools(TOOL, {"action": "detect", "series": [{"kind": "file", "path": path}], "baseline_days": 7, "seasonal_period": 168})
    with pytest.raises(ToolError, match="baseline has 24 points"):
        tools(TOOL, {"action": "detect", "series": [{"kind": "file", "path": path}], "baseline_days": 1})
    tiny = write_series(tmp_path, "tiny.csv", daily(20), pd.Timestamp("2026-01-01", tz="UTC"))
    with pytest.raises(ToolError, match="too short to score"):
        tools(TOOL, {"action": "detect", "series": [{"kind": "file", "path": tiny}], "seasonal_period": 1})
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "detect", "series": [{"kind": "file", "path": "../m.csv"}]})
    assert err.value.code == "outside_workspace"
