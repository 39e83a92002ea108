"""A typed hyperparameter search space, checked before any trial runs, and its one sampler.

The space is plain pydantic (no SDK import), so the tool can publish it as a
schema and refuse an empty range before a study exists. `suggest()` turns it
into Optuna `suggest_*` calls; Ray Tune uses the same function through
`OptunaSearch`'s define-by-run mode, so one spec means one space everywhere.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from mlops_engineer.contract import StrictModel

Scalar = str | int | float | bool
ParamName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$", description="Parameter name (the estimator's keyword argument for built-in objectives).")]
Condition = Annotated[
    dict[str, list[Scalar]],
    Field(
        default_factory=dict,
        description="Conditional parameter: sampled only when each named parameter (defined earlier in the list) took one of the listed values, e.g. {\"penalty\": [\"elasticnet\"]}.",
    ),
]


class FloatParam(StrictModel):
    type: Literal["float"]
    name: ParamName
    low: float
    high: float
    log: bool = Field(default=False, description="Sample on a log scale (needs low > 0).")
    step: float | None = Field(default=None, gt=0, description="Discretisation step; not with log.")
    when: Condition

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"parameter '{self.name}': low and high must be finite numbers")
        if self.low >= self.high:
            raise ValueError(f"parameter '{self.name}': empty range, low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"parameter '{self.name}': a log scale needs low > 0 (got {self.low:g})")
        if self.log and self.step is not None:
            raise ValueError(f"parameter '{self.name}': step and log cannot be combined")
        if self.step is not None and self.step > self.high - self.low:
            raise ValueError(f"parameter '{self.name}': step {self.step:g} is wider than the range {self.low:g}..{self.high:g}")
        return self


class IntParam(StrictModel):
    type: Literal["int"]
    name: ParamName
    low: int
    high: int
    step: int = Field(default=1, ge=1, description="Spacing of the values (low, low+step, ...).")
    log: bool = Field(default=False, description="Sample on a log scale (needs low >= 1 and step 1).")
    when: Condition

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        if self.low >= self.high:
            raise ValueError(f"parameter '{self.name}': empty range, low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"parameter '{self.name}': a log scale needs low > 0 (got {self.low})")
        if self.log and self.step != 1:
            raise ValueError(f"parameter '{self.name}': a log-scale int needs step 1")
        if self.step > self.high - self.low:
            raise ValueError(f"parameter '{self.name}': step {self.step} is wider than the range {self.low}..{self.high}")
        return self


class CategoricalParam(StrictModel):
    type: Literal["categorical"]
    name: ParamName
    choices: list[Scalar] = Field(min_length=1, max_length=100, description="Values to choose from (strings, numbers, booleans).")
    when: Condition

    @model_validator(mode="after")
    def _distinct(self) -> CategoricalParam:
        if len({(type(c).__name__, c) for c in self.choices}) != len(self.choices):
            raise ValueError(f"parameter '{self.name}': choices must be distinct")
        return self


Param = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]
SearchSpace = Annotated[list[Param], Field(min_length=1, max_length=50, description="The parameters to tune, in order; a conditional one refers only to parameters before it.")]


def check_space(space: list[Any]) -> None:
    """Names are unique and every condition refers to an earlier parameter with values it can take."""
    seen: dict[str, Any] = {}
    for param in space:
        if param.name in seen:
            raise ValueError(f"parameter '{param.name}' is defined twice")
        for parent, values in param.when.items():
            if parent not in seen:
                raise ValueError(f"parameter '{param.name}': condition on '{parent}', which is not defined before it")
            if not values:
                raise ValueError(f"parameter '{param.name}': condition on '{parent}' lists no values")
            other = seen[parent]
            if isinstance(other, CategoricalParam):
                unknown = [v for v in values if v not in other.choices]
                if unknown:
                    raise ValueError(f"parameter '{param.name}': '{parent}' never takes {unknown} (choices: {other.choices})")
        seen[param.name] = param


def active(param: Any, values: dict[str, Any]) -> bool:
    return all(parent in values and values[parent] in allowed for parent, allowed in param.when.items())


def suggest(trial: Any, space: list[Any]) -> dict[str, Any]:
    """Sample every active parameter on an Optuna trial (or Ray's wrapped one); return name -> value."""
    values: dict[str, Any] = {}
    for param in space:
        if not active(param, values):
            continue
        if isinstance(param, FloatParam):
            values[param.name] = trial.suggest_float(param.name, param.low, param.high, log=param.log, step=param.step)
        elif isinstance(param, IntParam):
            values[param.name] = trial.suggest_int(param.name, param.low, param.high, step=param.step, log=param.log)
        else:
            values[param.name] = trial.suggest_categorical(param.name, param.choices)
    return values
