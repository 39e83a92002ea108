"""The anomaly detectors, windows and alerts on synthetic series with known anomalies."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_engineer.engines.aiops import anomaly_detectors as ad
from mlops_engineer.engines.aiops import baseline as bl
from mlops_engineer.engines.aiops.anomaly_windows import windows
from mlops_engineer.engines.aiops.robust_scale import resolution, robust_scale, robust_z
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
    found = windows(values.index[baseline:], detection, 1, 3.5, 1, 3)
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
    found = windows(index, ad.Detection(scores, flags), 1, 3.5, 1, 3)
    assert [(w.windows, w.anomalous_points, w.alert) for w in found] == [(5, 4, True), (1, 1, False)]
    assert [w.severity for w in found] == ["low", "high"]
    assert found[0].start == index[2] and found[0].end == index[6]
    strict = windows(index, ad.Detection(scores, flags), 1, 3.5, 0, 3)
    assert [w.windows for w in strict] == [2, 2, 1] and not any(w.alert for w in strict)
    coarse = windows(index, ad.Detection(scores, flags), 4, 3.5, 0, 1)  # windows of 4 points
    assert [w.windows for w in coarse] == [2, 1] and [w.alert for w in coarse] == [True, False]


def test_baseline_checks() -> None:
    with pytest.raises(ToolError, match="nothing is left to score"):
        bl.check(100, 100, 24, "m")
    with pytest.raises(ToolError, match="at least 48"):
        bl.check(100, 30, 24, "m")
    bl.check(100, 48, 24, "m")


def test_default_baseline_falls_back_to_the_first_half_and_says_so() -> None:
    """14 days of 5-minute points: the 30-day default used to refuse them ("the baseline covers all
    4032 points"). An explicit baseline_days is still used as given, or refused."""
    short = bl.choose(4032, 300, None, 288, "m")
    assert short.points == 2016 and short.days == pytest.approx(7.0) and "first half" in short.note
    long = bl.choose(60 * 24, 3600, None, 24, "m")
    assert (long.points, long.note) == (30 * 24, "")
    assert bl.choose(4032, 300, 2.0, 288, "m").points == 576
    with pytest.raises(ToolError, match="nothing is left to score"):
        bl.choose(4032, 300, 30.0, 288, "m")
    with pytest.raises(ToolError, match="too short to score"):
        bl.choose(40, 3600, None, 24, "m")


def test_resolution_is_the_step_of_a_quantised_metric() -> None:
    rng = np.random.default_rng(0)
    assert resolution(np.round(rng.normal(50, 3, 2000), 1)) == pytest.approx(0.1)
    assert resolution(rng.poisson(4, 2000).astype(float)) == 1.0
    assert resolution(rng.normal(size=2000)) < 1e-3  # continuous: negligible
    assert resolution(np.full(10, 7.0)) == 0.0
    assert resolution(np.array([0.1, 0.2, 0.30000000000000004, 0.3])) == pytest.approx(0.1)  # float noise is no step


def test_quantised_metric_does_not_flood_the_detector() -> None:
    """CPU percent rounded to 0.1, nearly flat with a daily cycle: the STL residual's MAD is a few
    thousandths, so without a floor at the resolution most points scored above 3.5."""
    rng = np.random.default_rng(7)
    n = 14 * 24 * 12  # 14 days of 5-minute points
    t = np.arange(n)
    cpu = np.round(20 + 0.08 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 0.03, n), 1)
    cpu[3000:3012] += 2.0  # an hour at +2 points of CPU: twenty resolution steps
    values = pd.Series(cpu, index=pd.date_range("2026-03-01", periods=n, freq="5min", tz="UTC"))
    detection = ad.detect(values, 2016, 288, "stl", 3.5)
    assert detection.flags.mean() < 0.01, detection.flags.mean()
    assert detection.flags[3000 - 2016:3012 - 2016].all()
    center, spread = robust_scale(cpu[:2016] - np.median(cpu[:2016]), 3.5, floor=0.1)
    assert spread >= 0.1


def test_a_heavy_tailed_baseline_sets_the_scale() -> None:
    """Bursty counts: the MAD says 1, the bursts say more; at most 1 in 2,000 baseline points may
    score above the threshold."""
    rng = np.random.default_rng(3)
    reference = rng.standard_t(2, 8000)
    center, spread = robust_scale(reference, 3.5)
    assert np.mean(np.abs(reference - center) / spread > 3.5) <= 0.0005 + 1e-9
    gaussian = rng.normal(size=8000)
    assert robust_scale(gaussian, 3.5)[1] == pytest.approx(1.0, abs=0.1)  # the MAD decides on Gaussian noise


def test_a_lone_spike_is_a_window_but_a_sustained_moderate_shift_alerts() -> None:
    """The sustained score (trailing mean of clipped residuals) lifts a shift too small for the
    pointwise score, and cannot turn one spike, however large, into an alert."""
    baseline = 30 * 24
    values = series_with(n_days=44, spike_at=baseline + 50)
    values.iloc[baseline + 150:baseline + 160] += 8.0  # 4 sd, partly taken up by the STL trend
    values.iloc[baseline + 300] += 500.0
    detection = ad.detect(values, baseline, 24, "stl", 3.5)
    resid = ad.residual(values.to_numpy(), 24)
    pointwise = np.abs(robust_z(resid, resid[:baseline]))[baseline + 150:baseline + 160] > 3.5
    assert pointwise.sum() <= 5 and detection.flags[150:160].sum() >= 9
    found = windows(values.index[baseline:], detection, 1, 3.5, 1, 3)
    alerts = [w for w in found if w.alert]
    assert len(alerts) == 1 and values.index[baseline + 150] <= alerts[0].start <= values.index[baseline + 160]
    assert any(w.start == values.index[baseline + 300] and not w.alert for w in found)


def test_bridged_points_are_never_scored_nor_in_the_baseline() -> None:
    baseline = 30 * 24
    values = series_with()
    bridged = np.zeros(len(values), dtype=bool)
    bridged[100:300] = True  # an outage in the baseline, filled by a line
    bridged[baseline + 100:baseline + 200] = True
    values.iloc[100:300] = np.linspace(values.iloc[99], values.iloc[300], 200)
    values.iloc[baseline + 100:baseline + 200] = 1e6  # whatever fills it, it is not data
    for method in ("stl", "iforest", "esd"):
        detection = ad.detect(values, baseline, 24, method, 3.5, bridged=bridged)  # type: ignore[arg-type]
        assert not detection.flags[100:200].any() and (detection.scores[100:200] == 0).all()


def test_a_constant_series_has_no_anomaly() -> None:
    values = pd.Series(45.0, index=pd.date_range("2026-01-01", periods=4032, freq="5min", tz="UTC"))
    for method in ("stl", "iforest", "esd"):
        detection = ad.detect(values, 2016, 1, method, 3.5)  # type: ignore[arg-type]
        assert not detection.flags.any() and detection.scores.max() == 0.0


def test_quality_floor_on_injected_anomalies() -> None:
    """A correctness guard, not a benchmark: on a fixed seed every method clearly beats chance."""
    quality = load_benchmark("anomaly_quality")
    results = quality.evaluate(kinds=("spike", "level_shift"), methods=("stl",), seeds=1)
    for kind, figures in results["stl"].items():
        assert figures["f1"] >= 0.6, (kind, figures)
    case = quality.make_case("variance_change", 0)
    tp, detected, recalled = quality.match(quality.detect_windows(case, "esd"), case.truth, 2)
    assert recalled >= 2 and tp >= 2
