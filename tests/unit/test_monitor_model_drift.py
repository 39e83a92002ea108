"""Input validation of monitor_model_drift: bad thresholds and names fail before any work."""

from __future__ import annotations

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import validate_input
from mlops_engineer.tools.monitor_model_drift import TOOL

BASE = {"action": "check", "reference": "a.csv", "current": "b.csv"}


@pytest.mark.parametrize(
    ("operation", "words"),
    [
        ({**BASE, "thresholds": {"psi_moderate": 0.3, "psi_severe": 0.2}}, "psi_severe must be at least psi_moderate"),
        ({**BASE, "thresholds": {"drift_share": 1.5}}, "operation.check.thresholds.drift_share"),
        ({**BASE, "name": "../escape"}, "operation.check.name"),
        ({**BASE, "concept": {"model_uri": "s3://bucket/model"}}, "operation.check.concept.model_uri"),
        ({**BASE, "prometheus": {"pushgateway_url": "pushgateway:9091"}}, "operation.check.prometheus.pushgateway_url"),
        ({**BASE, "unknown": 1}, "operation.check.unknown"),
        ({"action": "schedule", "reference": "a.csv", "current": "b/*.csv", "cron": "daily"}, "operation.schedule.cron"),
        ({"action": "watch"}, "operation"),
    ],
)
def test_bad_input_names_the_field(operation: dict, words: str) -> None:
    with pytest.raises(ToolError) as err:
        validate_input(TOOL, {"operation": operation})
    assert err.value.code == "invalid_input" and words in err.value.message, err.value.message


def test_defaults() -> None:
    parsed = validate_input(TOOL, {"operation": BASE})
    t = parsed.operation.thresholds
    assert (t.psi_moderate, t.psi_severe, t.drift_share, t.bins, t.epsilon) == (0.1, 0.2, 0.5, 10, 1e-4)
    assert parsed.operation.output_dir == "reports/drift" and parsed.operation.prometheus.textfile
