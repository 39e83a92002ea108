"""Lax coercion refused where it would be wrong: flags take only true/false, numbers never a
boolean, and a number is never NaN or infinite (issue 16: `confirm: "yes"` authorised deletes)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlops_engineer.registry import load_registry
from mlops_engineer.runtime import validate_input

REGISTRY = load_registry()
TOOLS = [spec.name for spec in REGISTRY.tools()]
VALID = {  # one valid call per tool, from its skill's examples
    spec.name: next(e for e in skill.examples if "confirm" not in e and "dry_run" not in e)
    for skill, spec in REGISTRY.entries()
}


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("flag", ["confirm", "dry_run", "help"])
@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "false", "1"])
def test_flags_take_only_booleans(tool: str, flag: str, value: Any) -> None:
    spec = REGISTRY.tool(tool)
    spec.input_model.model_validate({**VALID[tool], flag: False})  # the call itself is valid
    with pytest.raises(ValidationError, match=f"`{flag}` must be true or false"):
        spec.input_model.model_validate({**VALID[tool], flag: value})


def test_a_refused_flag_is_invalid_input_naming_the_field() -> None:
    from mlops_engineer.errors import ToolError

    with pytest.raises(ToolError) as raised:
        validate_input(REGISTRY.tool("version_ml_data"), {"operation": {"action": "gc"}, "confirm": "yes"})
    assert raised.value.code == "invalid_input" and "`confirm` must be true or false, not 'yes'" in raised.value.message


def test_a_nested_flag_is_strict_too() -> None:
    spec = REGISTRY.tool("track_ml_experiments")
    with pytest.raises(ValidationError, match="`team_stack` must be true or false"):
        spec.input_model.model_validate({"operation": {"action": "setup", "team_stack": "no"}})


def test_numbers_refuse_booleans() -> None:
    spec = REGISTRY.tool("track_ml_experiments")
    with pytest.raises(ValidationError, match="`max_results` must be a number"):
        spec.input_model.model_validate({"operation": {"action": "compare_runs", "experiment": "e", "max_results": True}})


@pytest.mark.parametrize(
    ("tool", "operation"),
    [
        ("forecast_operational_metrics",
         {"action": "forecast", "series": {"kind": "file", "path": "m.csv"}, "horizon": 12, "capacity_threshold": "NaN"}),
        ("run_ab_test_models", {"action": "design", "baseline": 0.1, "mde": 0.02, "daily_units": "Infinity"}),
        ("track_ml_experiments", {"action": "log_run", "experiment": "e", "metrics": {"auc": float("nan")}}),
    ],
)
def test_non_finite_numbers_are_refused(tool: str, operation: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="finite number"):
        REGISTRY.tool(tool).input_model.model_validate({"operation": operation})


def test_a_model_version_may_be_written_as_a_number_but_not_as_a_flag() -> None:
    from mlops_engineer.tools.register_ml_model import TOOL

    promote = {"action": "promote", "name": "churn-classifier", "alias": "champion", "metric": "val_roc_auc", "goal": "maximize"}
    assert TOOL.input_model.model_validate({"operation": {**promote, "version": 3}}).operation.version == "3"
    for wrong in (True, 2.5, 0, "v3"):
        with pytest.raises(ValidationError):
            TOOL.input_model.model_validate({"operation": {**promote, "version": wrong}})
