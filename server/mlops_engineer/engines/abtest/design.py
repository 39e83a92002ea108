"""Sample size and duration of an A/B test, from statsmodels' power classes.

Proportions (conversion, churn) use Cohen's h and `NormalIndPower`; continuous
metrics (revenue, latency) use Cohen's d = MDE / standard deviation and
`TTestIndPower`. The challenger's share of the traffic sets the allocation
ratio, so an unequal split (canary) asks for more units in total.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

MetricType = Literal["proportion", "continuous"]


class Design(BaseModel):
    metric_type: MetricType
    baseline: float = Field(description="Baseline rate (proportion) or mean (continuous).")
    std: float | None = Field(default=None, description="Standard deviation of the metric (continuous).")
    mde_absolute: float = Field(description="Smallest effect worth detecting, in the metric's units.")
    mde_relative: float | None = Field(description="The same effect relative to the baseline (None for a zero baseline).")
    effect_size: float = Field(description="Cohen's h (proportion) or d (continuous).")
    alpha: float
    power: float
    challenger_share: float = Field(description="Percent of the experiment's traffic the challenger gets.")
    n_champion: int
    n_challenger: int
    n_total: int
    daily_units: float | None = None
    expected_days: int | None = Field(default=None, description="Days to reach n_total at daily_units.")


def check_probability(name: str, value: float) -> None:
    if not (0.0 < value < 1.0) or not math.isfinite(value):
        raise ToolError("invalid_input", f"{name} must lie strictly between 0 and 1, got {value}.",
                        f"Typical values: alpha 0.05 or 0.01, power 0.8 or 0.9; {name}=0 or 1 makes the test meaningless.")


def design(
    metric_type: MetricType, baseline: float, mde: float, *, relative: bool = False, std: float | None = None,
    alpha: float = 0.05, power: float = 0.8, challenger_share: float = 50.0,
    daily_units: float | None = None,
) -> Design:
    """Units per variant to detect `mde` with probability `power` at significance `alpha`."""
    import_optional("statsmodels", "experiments")
    from statsmodels.stats.power import NormalIndPower, TTestIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    check_probability("alpha", alpha)
    check_probability("power", power)
    if not math.isfinite(mde) or mde == 0:
        raise ToolError("invalid_input", f"The minimum detectable effect must be non-zero, got {mde}.",
                        "An MDE of 0 needs infinitely many units; give the smallest change worth acting on, e.g. mde=0.02.")
    if not (0 < challenger_share < 100):
        raise ToolError("invalid_input", f"challenger_share must be between 0 and 100 percent, got {challenger_share}.",
                        "Use 50 for an even A/B split, or the canary step's share.")
    if daily_units is not None and daily_units <= 0:
        raise ToolError("invalid_input", f"daily_units must be positive, got {daily_units}.", "Omit it to skip the duration.")
    absolute = mde * baseline if relative else mde
    if relative and baseline == 0:
        raise ToolError("invalid_input", "A relative MDE needs a non-zero baseline.", "Give the MDE in absolute units instead.")
    if metric_type == "proportion":
        if not (0 < baseline < 1):
            raise ToolError("invalid_input", f"A baseline rate must lie strictly between 0 and 1, got {baseline}.",
                            "A rate of 0 or 1 has zero variance: nothing can be detected. Check the metric.")
        target = baseline + absolute
        if not (0 < target < 1):
            raise ToolError("invalid_input", f"baseline + MDE = {target:g} is not a rate in (0, 1).", "Use a smaller MDE.")
        effect = abs(float(proportion_effectsize(target, baseline)))
    else:
        if std is None or not math.isfinite(std) or std <= 0:
            raise ToolError("invalid_input", f"A continuous metric needs a positive standard deviation, got {std}.",
                            "A zero-variance metric cannot be tested; estimate std from past data (e.g. last 4 weeks).")
        effect = abs(absolute) / std
    ratio = challenger_share / (100 - challenger_share)  # n_challenger / n_champion
    solver = NormalIndPower() if metric_type == "proportion" else TTestIndPower()
    n1 = float(solver.solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio, alternative="two-sided"))
    n_champion = math.ceil(n1)
    n_challenger = math.ceil(n1 * ratio)
    total = n_champion + n_challenger
    return Design(
        metric_type=metric_type, baseline=baseline, std=std, mde_absolute=absolute,
        mde_relative=absolute / baseline if baseline else None, effect_size=effect, alpha=alpha, power=power,
        challenger_share=challenger_share, n_champion=n_champion, n_challenger=n_challenger,
        n_total=total, daily_units=daily_units, expected_days=math.ceil(total / daily_units) if daily_units else None,
    )
