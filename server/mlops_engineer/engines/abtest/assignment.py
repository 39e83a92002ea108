"""Deterministic assignment of units to variants, and the sample-ratio-mismatch check.

A unit (user, session, account) is hashed with the experiment's salt into one of
10,000 buckets; the split's weights (percent) become contiguous bucket ranges.
The same unit, salt and split always give the same variant, in this process, in
the rendered router (`templates/abtest/service.py.j2` carries a byte-identical
copy of `bucket_of`), and on any other machine.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, Field

from mlops_engineer.errors import ToolError

BUCKETS = 10_000
SRM_ALPHA = 0.001  # the usual threshold: a mismatch this unlikely means the assignment is broken


def bucket_of(unit_id: str, salt: str, buckets: int = 10000) -> int:
    """Bucket of `unit_id` in [0, buckets): the first 8 bytes of sha256("<salt>:<unit_id>")."""
    digest = hashlib.sha256(f"{salt}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def validate_split(split: Mapping[str, float]) -> dict[str, int]:
    """Percent weights -> bucket counts per variant; refuses a split that is not 100 percent."""
    if len(split) < 2:
        raise ToolError("invalid_input", f"A split needs at least two variants, got {list(split)}.",
                        'Give e.g. {"champion": 50, "challenger": 50}.')
    negative = [k for k, w in split.items() if not math.isfinite(w) or w < 0]
    if negative:
        raise ToolError("invalid_input", f"Split weights must be finite and non-negative: {negative}.",
                        'Give percentages such as {"champion": 95, "challenger": 5}.')
    total = sum(split.values())
    if abs(total - 100.0) > 1e-6:
        raise ToolError("invalid_input", f"The split {dict(split)} sums to {total:g} percent, not 100.",
                        "Make the weights add up to exactly 100 (percent of traffic per variant).")
    counts = {k: round(w * BUCKETS / 100) for k, w in split.items()}
    if sum(counts.values()) != BUCKETS or any(abs(counts[k] - split[k] * BUCKETS / 100) > 1e-6 for k in split):
        raise ToolError("invalid_input", f"Split weights have a resolution of 0.01 percent: {dict(split)}.",
                        "Round every weight to two decimals.")
    return counts


def canary_split(steps: Sequence[float], step: int) -> dict[str, float]:
    """Champion/challenger percent at canary step `step` of `steps` (increasing, ending at 100)."""
    if not steps or any(not (0 < s <= 100) for s in steps) or any(b <= a for a, b in zip(steps, steps[1:], strict=False)) or steps[-1] != 100:
        raise ToolError("invalid_input", f"canary_steps {list(steps)} must increase within (0, 100] and end at 100.",
                        "For example [5, 25, 50, 100].")
    if step >= len(steps):
        raise ToolError("invalid_input", f"canary_step {step} is past the last step (there are {len(steps)}).", f"Use 0..{len(steps) - 1}.")
    return {"champion": 100.0 - steps[step], "challenger": float(steps[step])}


def boundaries(split: Mapping[str, float]) -> list[tuple[str, int]]:
    """(variant, exclusive upper bucket) in the split's order; the router uses the same list."""
    upper, out = 0, []
    for variant, count in validate_split(split).items():
        upper += count
        out.append((variant, upper))
    return out


def variant_of(bucket: int, bounds: Sequence[tuple[str, int]]) -> str:
    for variant, upper in bounds:
        if bucket < upper:
            return variant
    raise ValueError(f"bucket {bucket} is outside the split")  # unreachable for a validated split


def assign(unit_ids: Iterable[str], salt: str, split: Mapping[str, float]) -> list[tuple[str, int, str]]:
    """(unit_id, bucket, variant) for each unit, in input order."""
    bounds = boundaries(split)
    out = []
    for unit in unit_ids:
        b = bucket_of(str(unit), salt)
        out.append((str(unit), b, variant_of(b, bounds)))
    return out


class SrmCheck(BaseModel):
    """Pearson chi-square test of observed traffic against the configured split."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float | None = Field(description="None when a variant weighted 0 percent got traffic.")
    dof: int
    p_value: float
    threshold: float = Field(description="p below this means a sample-ratio mismatch.")
    mismatch: bool


def srm_check(observed: Mapping[str, int], split: Mapping[str, float], threshold: float = SRM_ALPHA) -> SrmCheck:
    """Do the observed counts fit the split? A mismatch means the assignment or logging is broken."""
    from scipy import stats

    validate_split(split)
    unknown = sorted(set(observed) - set(split))
    if unknown:
        raise ToolError("invalid_input", f"Variants {unknown} are in the traffic but not in the split {list(split)}.",
                        "Name the variants in the split exactly as the log does.")
    total = sum(observed.values())
    if total == 0:
        raise ToolError("invalid_input", "No traffic to check: every variant has 0 units.", "Collect some traffic first.")
    active = {k: w for k, w in split.items() if w > 0}
    obs = {k: int(observed.get(k, 0)) for k in active}
    stray = sum(int(observed.get(k, 0)) for k in split if k not in active)
    expected = {k: total * w / 100 for k, w in active.items()}
    if stray:  # traffic for a variant weighted 0 percent is a mismatch on its own
        return SrmCheck(observed=dict(observed), expected=expected, chi2=None, dof=len(active), p_value=0.0,
                        threshold=threshold, mismatch=True)
    chi2 = float(sum((obs[k] - expected[k]) ** 2 / expected[k] for k in active))
    dof = len(active) - 1
    p = float(stats.chi2.sf(chi2, dof)) if dof > 0 else 1.0
    return SrmCheck(observed=dict(observed), expected=expected, chi2=chi2, dof=dof, p_value=p,
                    threshold=threshold, mismatch=p < threshold)
