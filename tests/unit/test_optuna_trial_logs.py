"""Optuna's warnings for trials that ended as the tool meant them to are dropped; real failures stay."""

from __future__ import annotations

import io
import logging

import optuna
import pytest

from mlops_engineer.engines.tuning import optuna_study
from mlops_engineer.engines.tuning.objective import Cancelled


@pytest.fixture
def optuna_log() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("optuna")
    logger.addHandler(handler)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna_study._quiet_expected_trial_ends()
    yield stream
    logger.removeHandler(handler)


def test_over_budget_and_cancelled_trials_log_nothing_but_failures_do(optuna_log: io.StringIO) -> None:
    endings = iter([optuna_study._OverBudget(), Cancelled(), ValueError("bad batch size")])

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        raise next(endings)

    study = optuna.create_study()
    study.optimize(objective, n_trials=3, catch=(Exception,))
    lines = optuna_log.getvalue().splitlines()
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL", "FAIL"]
    assert not [line for line in lines if "Trial 0 " in line or "Trial 1 " in line or "_OverBudget" in line or "Cancelled" in line], lines
    assert any("Trial 2 failed with parameters" in line and "bad batch size" in line for line in lines), lines
    assert any("Trial 2 failed with value None" in line for line in lines), lines


def test_the_filter_is_installed_once() -> None:
    optuna_study._quiet_expected_trial_ends()
    optuna_study._quiet_expected_trial_ends()
    filters = logging.getLogger("optuna.study._optimize").filters
    assert sum(isinstance(f, optuna_study._QuietExpectedEnds) for f in filters) == 1
