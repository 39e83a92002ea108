"""The anomaly detectors, windows and alerts on synthetic series with known anomalies."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_engineer.engines.aiops import anomaly_detectors as ad
from mlops_engineer.errors import ToolError

REPO = Path(__file__).resolve().parents[2]


def load_benchmark(name: str):  # noqa: ANN201 - a module
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def series_with(n_days: int = 40, spike_at: int | None = None, shift: tuple[int, int] | None = None) -> pd.Series:
    rng = np.random.default_rng(3)
    n = n_days * 24
    y = 100 + 20 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 2, n)
    if spike_at is not None:
        y[spike_at] += 30
    if shift is not None:
        y[shift[0]:shift[1]] += 20
    return pd.Series(y, index=pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"))


@pytest.mark.parametrize("method", ["stl", "iforest", "esd"])
def test_each_method_finds_a_spike_and_a_sustained_shift(method: str) -> None:
    baseline = 30 * 24
    values = series_with(spike_at=baseline + 50, shift=(baseline + 150, baseline + 160))
    detection = ad.detect(values, baseline, 24, method, 3.5)  # type: ignore[arg-type]
    assert len(detection.scores) == len(values) - baseline
    assert detection.flags[50], "the spike is flagged"
    assert detection.flags[150:160].sum() >= 3, "the shift is flagged"
    found = ad.windows(values.index[baseline:], detection, 1, 3.5, 1, 3)
    alerts = [w for w in found if w.alert]
    assert any(w.start <= values.index[baseline + 50] <= w.end and not w.alert for w in found)
    assert alerts and all(w.windows > 3 for w in alerts)
    assert any(values.index[baseline + 150] <= w.start <= values.index[baseline + 160] for w in alerts)
    assert len(found) <= 6, [(str(w.start), w.peak_score) for w in found]


def test_windows_merge_gaps_grade_severity_and_alert_only_when_sustained() -> None:
    index = pd.date_range("2026-01-01", periods=20, freq="h", tz="UTC")
    flags = np.zeros(20, dtype=bool)
    flags[[2, 3, 5, 6]] = True  # one gap of one normal point: a single window of 5
    flags[12] = True
    scores = np.where(flags, 4.0, 0.5)
    scores[12] = 12.0
    found = ad.windows(index, ad.Detection(scores, flags), 1, 3.5, 1, 3)
    assert [(w.windows, w.anomalous_points, w.alert) for w in found] == [(5, 4, True), (1, 1, False)]
    assert [w.severity for w in found] == ["low", "high"]
    assert found[0].start == index[2] and found[0].end == index[6]
    strict = ad.windows(index, ad.Detection(scores, flags), 1, 3.5, 0, 3)
    assert [w.windows for w in strict] == [2, 2, 1] and not any(w.alert for w in strict)
    coarse = ad.windows(index, ad.Detection(scores, flags), 4, 3.5, 0, 1)  # windows of 4 points
    assert [w.windows for w in coarse] == [2, 1] and [w.alert for w in coarse] == [True, False]


def test_baseline_checks() -> None:
    with pytest.raises(ToolError, match="nothing is left to score"):
        ad.check_baseline(100, 100, 24, "m")
    with pytest.raises(ToolError, match="at least 48"):
        ad.check_baseline(100, 30, 24, "m")
    ad.check_baseline(100, 48, 24, "m")


def test_quality_floor_on_injected_anomalies() -> None:
    """A correctness guard, not a benchmark: on a fixed seed every method clearly beats chance."""
    quality = load_benchmark("anomaly_quality")
    results = quality.evaluate(kinds=("spike", "level_shift"), methods=("stl",), seeds=1)
    for kind, figures in results["stl"].items():
        assert figures["f1"] >= 0.6, (kind, figures)
    case = quality.make_case("variance_change", 0)
    tp, detected, recalled = quality.match(quality.detect_windows(case, "esd"), case.truth, 2)
    assert recalled >= 2 and tp >= 2
