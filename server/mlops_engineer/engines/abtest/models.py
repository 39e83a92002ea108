"""Result models of the A/B engines, free of numpy so tool schemas load in a core-only install."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MetricType = Literal["proportion", "continuous"]
Decision = Literal["roll_out", "keep", "extend", "roll_back"]


class AAResult(BaseModel):
    experiments: int
    n_per_arm: int
    looks: int
    alpha: float
    standard_error: float = Field(description="Binomial standard error of a rate alpha over `experiments` trials.")
    tolerance: float = Field(description="3 standard errors: the band the observed rate must fall in.")
    fpr_fixed: float = Field(description="False-positive rate of the fixed-horizon test at the planned size.")
    fpr_sequential: float = Field(description="False-positive rate of the mSPRT checked at every look.")
    fpr_naive_peeking: float = Field(description="Fixed-horizon test repeated at every look, stopping at the first p < alpha.")
    fixed_ok: bool = Field(description="|fpr_fixed - alpha| <= tolerance.")
    sequential_ok: bool = Field(description="fpr_sequential <= alpha + tolerance (an always-valid test may be conservative).")


class ArmSummary(BaseModel):
    variant: str
    n: int = Field(description="Observations of the metric (the assigned variant's calls; calls per variant in shadow mode).")
    mean: float | None = Field(description="Mean of the metric; None without observations.")
    std: float
    latency_p95_ms: float | None = None
    error_rate: float | None = None


class TestResult(BaseModel):
    test: str
    difference: float = Field(description="Challenger minus champion, in the metric's units.")
    ci_low: float
    ci_high: float
    lift: float | None = Field(description="Relative change of the challenger against the champion.")
    lift_ci_low: float | None
    lift_ci_high: float | None
    statistic: float
    p_value: float
    significant: bool


class SequentialResult(BaseModel):
    method: str = "mSPRT (normal mixture), always-valid p-value"
    tau: float = Field(description="Standard deviation of the mixing distribution over effects.")
    looks: int = Field(description="Observations at which the p-value was updated.")
    p_value: float
    ci_low: float | None = Field(description="Always-valid confidence sequence at the last look.")
    ci_high: float | None
    significant: bool
    first_significant_at: int | None = Field(default=None, description="Index of the look where p first fell below alpha.")


class Guardrail(BaseModel):
    name: str
    champion: float | None
    challenger: float | None
    limit: float | None
    passed: bool
    enough_data: bool = Field(default=True, description="False below the minimum number of calls per variant; then it cannot pass or fail.")
    detail: str
