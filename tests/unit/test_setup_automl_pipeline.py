"""Fast checks of the search space, the input model and the storage/objective helpers (no servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from mlops_engineer.engines.tuning.space import Param, check_space, suggest
from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import validate_input
from mlops_engineer.tools.setup_automl_pipeline import TOOL
from mlops_engineer.workspace import Workspace

PARAMS = TypeAdapter(list[Param])
OBJECTIVE = {"kind": "estimator", "estimator": "random_forest", "dataset": "d.csv", "target": "y"}


def _space(items: list[dict[str, Any]]) -> list[Any]:
    space = PARAMS.validate_python(items)
    check_space(space)
    return space


@pytest.mark.parametrize(
    ("param", "words"),
    [
        ({"type": "float", "name": "a", "low": 1, "high": 1}, "empty range"),
        ({"type": "float", "name": "a", "low": 2, "high": 1}, "empty range"),
        ({"type": "int", "name": "a", "low": 3, "high": 3}, "empty range"),
        ({"type": "float", "name": "a", "low": 0, "high": 1, "log": True}, "log scale needs low > 0"),
        ({"type": "float", "name": "a", "low": -1, "high": 1, "log": True}, "log scale needs low > 0"),
        ({"type": "int", "name": "a", "low": 0, "high": 8, "log": True}, "log scale needs low > 0"),
        ({"type": "int", "name": "a", "low": 1, "high": 8, "log": True, "step": 2}, "step 1"),
        ({"type": "float", "name": "a", "low": 0.1, "high": 1, "log": True, "step": 0.1}, "cannot be combined"),
        ({"type": "int", "name": "a", "low": 0, "high": 3, "step": 5}, "wider than the range"),
        ({"type": "categorical", "name": "a", "choices": ["x", "x"]}, "distinct"),
        ({"type": "float", "name": "a", "low": 0, "high": float("inf")}, "finite"),
    ],
)
def test_bad_ranges_are_refused(param: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PARAMS.validate_python([param])
    assert words in str(caught.value)


def test_conditions_must_point_backwards_at_possible_values() -> None:
    with pytest.raises(ValueError, match="not defined before it"):
        _space([{"type": "float", "name": "a", "low": 0, "high": 1, "when": {"b": ["x"]}},
                {"type": "categorical", "name": "b", "choices": ["x"]}])
    with pytest.raises(ValueError, match="never takes"):
        _space([{"type": "categorical", "name": "b", "choices": ["x", "y"]},
                {"type": "float", "name": "a", "low": 0, "high": 1, "when": {"b": ["z"]}}])
    with pytest.raises(ValueError, match="defined twice"):
        _space([{"type": "categorical", "name": "b", "choices": ["x"]}, {"type": "categorical", "name": "b", "choices": ["y"]}])


def test_suggest_samples_conditional_parameters_only_in_their_branch() -> None:
    import optuna

    space = _space([
        {"type": "categorical", "name": "kind", "choices": ["linear", "tree"]},
        {"type": "float", "name": "C", "low": 0.01, "high": 10, "log": True, "when": {"kind": ["linear"]}},
        {"type": "int", "name": "depth", "low": 2, "high": 10, "step": 2, "when": {"kind": ["tree"]}},
    ])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = []
    study.optimize(lambda t: seen.append(suggest(t, space)) or 0.0, n_trials=20)
    assert {tuple(sorted(p)) for p in seen} == {("C", "kind"), ("depth", "kind")}
    for params in seen:
        if "C" in params:
            assert 0.01 <= params["C"] <= 10
        else:
            assert params["depth"] in (2, 4, 6, 8, 10)


def _op(**fields: Any) -> dict[str, Any]:
    return {"operation": {"action": "optimize", "study_name": "s", "space": [{"type": "float", "name": "C", "low": 0.1, "high": 1}],
                          "objective": OBJECTIVE, **fields}}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"objective": {**OBJECTIVE, "estimator": "svm"}}, "'hist_gradient_boosting'"),
        ({"objective": {"kind": "callable", "function": "no colon"}}, "function"),
        ({"objective": {"kind": "callable", "function": "m:f"}, "register_model": "x"}, "register_model needs a built-in"),
        ({"register_model": "x", "log_to_mlflow": False}, "log_to_mlflow"),
        ({"sampler": "grid"}, "sampler"),
        ({"pruner": "patient"}, "pruner"),
        ({"n_trials": 0}, "n_trials"),
        ({"study_name": "../x"}, "study_name"),
    ],
)
def test_input_model_names_the_bad_field(change: dict[str, Any], words: str) -> None:
    with pytest.raises(ToolError) as caught:
        validate_input(TOOL, _op(**change))
    assert caught.value.code == "invalid_input" and words in caught.value.message, caught.value.message


def test_ray_tune_refuses_several_metrics() -> None:
    arguments = {"operation": {"action": "ray_tune", "study_name": "s", "space": [{"type": "float", "name": "C", "low": 0.1, "high": 1}],
                               "objective": {**OBJECTIVE, "metrics": ["roc_auc", "f1"]}}}
    with pytest.raises(ToolError, match="one metric"):
        validate_input(TOOL, arguments)


def test_storage_is_confined_and_postgres_gets_a_driver(tmp_path: Path) -> None:
    from mlops_engineer.engines.tuning.optuna_study import resolve_storage

    ws = Workspace(tmp_path)
    default = resolve_storage(ws, None)
    assert default.kind == "sqlite" and default.display == "sqlite:///.mlops/optuna.db"
    with pytest.raises(ToolError) as caught:
        resolve_storage(ws, "sqlite:////etc/optuna.db")
    assert caught.value.code == "outside_workspace"
    with pytest.raises(ToolError) as caught:
        resolve_storage(ws, "redis://localhost")
    assert caught.value.code == "invalid_input"
    pg = resolve_storage(ws, "postgres://u:secret@db:5432/optuna")
    assert pg.kind == "postgresql" and pg.url.startswith("postgresql") and "secret" not in pg.display


def test_user_callable_reload_and_errors(tmp_path: Path) -> None:
    from mlops_engineer.engines.tuning.objective import load_callable

    module = tmp_path / "unit_obj_mod.py"
    module.write_text("def f(params):\n    return 1.0\n")
    assert load_callable("unit_obj_mod:f", tmp_path)({}) == 1.0
    module.write_text("def f(params):\n    return 2.0\n")
    assert load_callable("unit_obj_mod:f", tmp_path)({}) == 2.0  # edits are seen by a long-lived server
    module.write_text("def f(params:\n")
    with pytest.raises(ToolError, match="does not import: SyntaxError"):
        load_callable("unit_obj_mod:f", tmp_path)
    assert str(tmp_path) not in __import__("sys").path
