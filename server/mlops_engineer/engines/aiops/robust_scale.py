"""The scale an anomaly score divides by, estimated on the baseline so that real metrics do
not flood the detector.

Three estimates, the largest wins:

- 1.4826 x MAD of the baseline residual: the standard deviation of Gaussian noise,
  unmoved by the baseline's own outliers (the mean absolute deviation when the MAD is 0);
- the measurement resolution (`resolution`): a metric reported in steps (CPU rounded to
  0.1 %, queue lengths, counts) has a residual MAD far below one step (0.003 on a CPU
  series quantised at 0.1, where STL flagged 1,599 of 3,427 points); a score below one
  step of the instrument means nothing;
- a tail bound: the baseline's `TAIL_QUANTILE` quantile of |residual| divided by the
  threshold, so at most 1 in 2,000 baseline points scores above the threshold. Bursty
  metrics (tweets, request counts) have tails far heavier than Gaussian noise, where the
  MAD alone alerts many times a day; on Gaussian noise the quantile is 3.3 sd, under the
  default threshold of 3.5, and the MAD decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import numpy as np

EXTRA = "forecasting"
MAD_SCALE = 1.4826  # MAD * this estimates the standard deviation of a normal sample
TAIL_QUANTILE = 0.9995
TINY = 1e-12


def resolution(values: np.ndarray) -> float:
    """The smallest step between distinct observed values (0 when fewer than two): the
    instrument's resolution for quantised metrics, negligible for continuous ones.
    Differences under 1e-9 of the largest value are floating-point noise, not steps."""
    np = import_optional("numpy", EXTRA)
    finite = values[np.isfinite(values)]
    distinct = np.unique(finite)
    if len(distinct) < 2:
        return 0.0
    steps = np.diff(distinct)
    steps = steps[steps > 1e-9 * max(1.0, float(np.max(np.abs(distinct))))]
    return float(steps.min()) if len(steps) else 0.0


def robust_scale(reference: np.ndarray, threshold: float, floor: float = 0.0, tail: bool = True) -> tuple[float, float]:
    """(center, spread) of a baseline residual: the median, and the largest of the three
    estimates in the module docstring (`floor` is the resolution; `tail` adds the tail bound)."""
    np = import_optional("numpy", EXTRA)
    center = float(np.median(reference))
    deviation = np.abs(reference - center)
    spread = MAD_SCALE * float(np.median(deviation))
    if spread <= TINY:  # more than half the residuals equal: the MAD says nothing
        spread = 1.2533 * float(np.mean(deviation))  # mean absolute deviation, scaled to an sd
    spread = max(spread, floor)
    if tail and len(deviation):
        spread = max(spread, float(np.quantile(deviation, TAIL_QUANTILE)) / threshold)
    return center, max(spread, TINY)


def robust_z(values: np.ndarray, reference: np.ndarray, threshold: float = 3.5, floor: float = 0.0,
             tail: bool = True) -> np.ndarray:
    """(x - center) / spread with `robust_scale` of `reference`."""
    center, spread = robust_scale(reference, threshold, floor, tail)
    return (values - center) / spread
