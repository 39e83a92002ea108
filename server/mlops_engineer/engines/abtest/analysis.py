"""Statistics of a finished (or running) A/B test, vectorised with numpy.

Group 1 is the champion (control), group 2 the challenger; every difference is
challenger minus champion. The functions take summary statistics that may be
numpy arrays, so the A/A simulation runs 2,000 experiments in one call.

- `ztest_proportions`: two-proportion z-test (pooled standard error, as
  statsmodels' `proportions_ztest`), Wald CI of the difference and a log-ratio
  CI of the relative lift (as `confint_proportions_2indep`).
- `welch_ttest`: Welch's t-test and CI (as `scipy.stats.ttest_ind(equal_var=False)`),
  delta-method CI of the relative lift.
- `msprt`: the mixture sequential probability ratio test (normal mixture,
  Johari, Pekelis and Walsh, "Always valid inference", 2017/2022): an
  always-valid p-value and confidence sequence, so the data may be looked at
  after every observation without inflating the false-positive rate.
- `simulate_aa`: the false-positive rate of the fixed-horizon test, the mSPRT
  and naive peeking over many A/A experiments.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlops_engineer.engines.abtest.models import (
    AAResult,
    Decision,
    Guardrail,
    MetricType,
    SequentialResult,
    TestResult,
)
from mlops_engineer.errors import ToolError

MIN_SEQUENTIAL_N = 100  # per arm: before this the plug-in variance is too noisy to trust
MIN_GUARDRAIL_CALLS = 30  # per variant: a p95 of fewer calls is one or two outliers


def _norm() -> Any:
    from scipy import stats

    return stats.norm


def ztest_proportions(x1: Any, n1: Any, x2: Any, n2: Any, alpha: float = 0.05) -> dict[str, Any]:
    x1, n1, x2, n2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    p1, p2 = x1 / n1, x2 / n2
    diff = p2 - p1
    pooled = (x1 + x2) / (n1 + n2)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se0 > 0, diff / se0, 0.0)
        zc = _norm().isf(alpha / 2)
        half = zc * np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        log_ratio = np.log(p2 / p1)
        log_half = zc * np.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    return {
        "p1": p1, "p2": p2, "diff": diff, "z": z, "p_value": 2 * _norm().sf(np.abs(z)),
        "ci_low": diff - half, "ci_high": diff + half,
        "lift": p2 / p1 - 1 if np.all(p1 > 0) else np.nan,
        "lift_low": np.exp(log_ratio - log_half) - 1, "lift_high": np.exp(log_ratio + log_half) - 1,
    }


def welch_ttest(m1: Any, v1: Any, n1: Any, m2: Any, v2: Any, n2: Any, alpha: float = 0.05) -> dict[str, Any]:
    """Means, sample variances (ddof=1) and sizes of both groups."""
    from scipy import stats

    m1, v1, n1, m2, v2, n2 = (np.asarray(v, dtype=float) for v in (m1, v1, n1, m2, v2, n2))
    a, b = v1 / n1, v2 / n2
    se = np.sqrt(a + b)
    diff = m2 - m1
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, diff / se, 0.0)
        df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
        half = stats.t.isf(alpha / 2, df) * se
        ratio = m2 / m1
        lift_se = np.sqrt(b / m1**2 + m2**2 * a / m1**4)
    zc = _norm().isf(alpha / 2)
    return {
        "m1": m1, "m2": m2, "diff": diff, "t": t, "df": df, "p_value": 2 * stats.t.sf(np.abs(t), df),
        "ci_low": diff - half, "ci_high": diff + half,
        "lift": ratio - 1, "lift_low": ratio - 1 - zc * lift_se, "lift_high": ratio - 1 + zc * lift_se,
    }


def msprt_lambda(diff: Any, var: Any, tau2: float) -> Any:
    """Mixture likelihood ratio of H1 (effect ~ N(0, tau2)) against H0 (no effect)."""
    diff, var = np.asarray(diff, dtype=float), np.asarray(var, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lam = np.sqrt(var / (var + tau2)) * np.exp(tau2 * diff**2 / (2 * var * (var + tau2)))
    return np.where(var > 0, lam, 1.0)


def msprt(diffs: Any, variances: Any, tau2: float, alpha: float = 0.05) -> dict[str, Any]:
    """Always-valid p-values along the last axis (the looks), and the confidence sequence at the last look."""
    lam = msprt_lambda(diffs, variances, tau2)
    p = np.minimum.accumulate(np.minimum(1.0, 1.0 / lam), axis=-1)
    var = np.asarray(variances, dtype=float)[..., -1]
    d = np.asarray(diffs, dtype=float)[..., -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.sqrt(var * (var + tau2) / tau2 * (2 * math.log(1 / alpha) + np.log((var + tau2) / var)))
    return {"p_values": p, "p_value": p[..., -1], "ci_low": d - half, "ci_high": d + half}


def cumulative_looks(values1: np.ndarray, values2: np.ndarray, order1: np.ndarray, order2: np.ndarray,
                     metric_type: MetricType, min_n: int = MIN_SEQUENTIAL_N) -> tuple[np.ndarray, np.ndarray]:
    """Difference and its variance after every observation (in arrival order), once both arms have min_n."""
    arm = np.concatenate([np.zeros(len(values1), int), np.ones(len(values2), int)])
    vals = np.concatenate([values1, values2]).astype(float)
    idx = np.argsort(np.concatenate([order1, order2]), kind="stable")
    arm, vals = arm[idx], vals[idx]
    stats = []
    for k in (0, 1):
        mask = arm == k
        n = np.cumsum(mask)
        s = np.cumsum(np.where(mask, vals, 0.0))
        ss = np.cumsum(np.where(mask, vals**2, 0.0))
        stats.append((n, s, ss))
    (n1, s1, ss1), (n2, s2, ss2) = stats
    ok = (n1 >= min_n) & (n2 >= min_n)
    n1, s1, ss1, n2, s2, ss2 = (a[ok].astype(float) for a in (n1, s1, ss1, n2, s2, ss2))
    m1, m2 = s1 / np.maximum(n1, 1), s2 / np.maximum(n2, 1)
    if metric_type == "proportion":
        v1, v2 = m1 * (1 - m1), m2 * (1 - m2)
    else:
        v1 = (ss1 - n1 * m1**2) / np.maximum(n1 - 1, 1)
        v2 = (ss2 - n2 * m2**2) / np.maximum(n2 - 1, 1)
    return m2 - m1, v1 / np.maximum(n1, 1) + v2 / np.maximum(n2, 1)


def default_tau(metric_type: MetricType, pooled_mean: float, pooled_std: float, mde: float | None) -> float:
    """The mixture's spread: the MDE when known (the effect we hope to see), else 0.1 standard deviation."""
    if mde:
        return abs(mde)
    if metric_type == "proportion":
        pooled_std = math.sqrt(max(pooled_mean * (1 - pooled_mean), 1e-12))
    return 0.1 * pooled_std


def simulate_aa(metric_type: MetricType, baseline: float, std: float | None, n_per_arm: int, *, alpha: float = 0.05,
                experiments: int = 2000, looks: int = 20, tau: float | None = None, seed: int = 0,
                progress: Any = None) -> AAResult:
    """Run `experiments` A/A tests (both arms from the same distribution) and count false positives."""
    rng = np.random.default_rng(seed)
    look_at = np.unique(np.linspace(min(MIN_SEQUENTIAL_N, n_per_arm), n_per_arm, looks).astype(int))
    # Only the sums at each look matter, so each block between looks is drawn from its exact
    # distribution instead of unit by unit: Binomial counts for a proportion; for a normal metric
    # the block mean ~ N(mu, sd^2/m) and, independently, (m-1) s^2 ~ sd^2 chi2(m-1).
    block = np.diff(np.concatenate([[0], look_at]))
    sums = []
    for arm in range(2):
        if metric_type == "proportion":
            c, c2 = np.cumsum(rng.binomial(block, baseline, (experiments, len(block))), axis=1).astype(float), None
        else:
            sd = float(std or 0)
            means = rng.normal(baseline, sd / np.sqrt(block), (experiments, len(block)))
            within = sd**2 * rng.chisquare(np.maximum(block - 1, 1), (experiments, len(block))) * (block > 1)
            c = np.cumsum(block * means, axis=1)
            c2 = np.cumsum(within + block * means**2, axis=1)
        sums.append((c, c2))
        if progress:
            progress(arm + 1, 3, f"simulated arm {arm + 1} of 2")
    n = look_at.astype(float)[None, :]
    (s1, q1), (s2, q2) = sums
    m1, m2 = s1 / n, s2 / n
    if metric_type == "proportion":
        test = ztest_proportions(s1, n, s2, n, alpha)
        var = m1 * (1 - m1) / n + m2 * (1 - m2) / n
        pooled_std = math.sqrt(baseline * (1 - baseline))
    else:
        v1, v2 = (q1 - n * m1**2) / (n - 1), (q2 - n * m2**2) / (n - 1)
        test = welch_ttest(m1, v1, n, m2, v2, n, alpha)
        var = v1 / n + v2 / n
        pooled_std = float(std or 0)
    p_fixed = np.asarray(test["p_value"])
    tau = tau or default_tau(metric_type, baseline, pooled_std, None)
    seq = msprt(m2 - m1, var, tau**2, alpha)
    se = math.sqrt(alpha * (1 - alpha) / experiments)
    fpr_fixed = float(np.mean(p_fixed[:, -1] < alpha))
    fpr_seq = float(np.mean(seq["p_value"] <= alpha))
    fpr_peek = float(np.mean(np.any(p_fixed < alpha, axis=1)))
    if progress:
        progress(3, 3, "tests done")
    return AAResult(
        experiments=experiments, n_per_arm=n_per_arm, looks=len(look_at), alpha=alpha, standard_error=se,
        tolerance=3 * se, fpr_fixed=fpr_fixed, fpr_sequential=fpr_seq, fpr_naive_peeking=fpr_peek,
        fixed_ok=abs(fpr_fixed - alpha) <= 3 * se, sequential_ok=fpr_seq <= alpha + 3 * se,
    )


# ---------------------------------------------------------------- analysis of a log


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def fixed_test(metric_type: MetricType, a: np.ndarray, b: np.ndarray, alpha: float) -> TestResult:
    if metric_type == "proportion":
        bad = sorted({float(v) for v in np.unique(np.concatenate([a, b])) if v not in (0.0, 1.0)})
        if bad:
            raise ToolError("invalid_input", f"A proportion metric takes 0/1 values; the log has {bad[:5]}.",
                            "Use metric_type=continuous for other values.")
        r = ztest_proportions(a.sum(), len(a), b.sum(), len(b), alpha)
        name, stat = "two-proportion z-test (pooled SE; Wald CI of the difference, log-ratio CI of the lift)", r["z"]
    else:
        r = welch_ttest(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b), alpha)
        name, stat = "Welch's t-test (unequal variances; delta-method CI of the lift)", r["t"]
    return TestResult(
        test=name, difference=float(r["diff"]), ci_low=float(r["ci_low"]), ci_high=float(r["ci_high"]),
        lift=_finite(r["lift"]), lift_ci_low=_finite(r["lift_low"]), lift_ci_high=_finite(r["lift_high"]),
        statistic=float(stat), p_value=float(r["p_value"]), significant=bool(r["p_value"] < alpha),
    )


def check_variance(metric_type: MetricType, a: np.ndarray, b: np.ndarray) -> None:
    if len(a) < 2 or len(b) < 2:
        raise ToolError("invalid_input", f"Each variant needs at least 2 observations (champion {len(a)}, challenger {len(b)}).",
                        "Collect more traffic before analysing.")
    if np.all(np.concatenate([a, b]) == a[0]):
        raise ToolError("invalid_input", f"The metric has zero variance: every value is {a[0]:g} in both variants.",
                        "A constant metric cannot show a difference; check the metric column or join the outcomes first.")
    if metric_type == "continuous" and (np.var(a) == 0 or np.var(b) == 0):
        raise ToolError("invalid_input", "The metric has zero variance within one variant, so Welch's test is undefined.",
                        "Check that the variant logs the real metric, not a constant default.")


def sequential_test(metric_type: MetricType, a: np.ndarray, b: np.ndarray, order_a: np.ndarray, order_b: np.ndarray,
                    alpha: float, tau: float) -> SequentialResult:
    diffs, variances = cumulative_looks(a, b, order_a, order_b, metric_type)
    if len(diffs) == 0:
        return SequentialResult(tau=tau, looks=0, p_value=1.0, ci_low=None, ci_high=None, significant=False)
    r = msprt(diffs, variances, tau**2, alpha)
    hits = np.nonzero(r["p_values"] <= alpha)[0]
    return SequentialResult(
        tau=tau, looks=len(diffs), p_value=float(r["p_value"]), ci_low=float(r["ci_low"]), ci_high=float(r["ci_high"]),
        significant=bool(r["p_value"] <= alpha), first_significant_at=int(hits[0]) if len(hits) else None,
    )


def guardrails(lat_a: np.ndarray | None, lat_b: np.ndarray | None, err_a: np.ndarray | None, err_b: np.ndarray | None,
               max_latency_increase: float, max_p95_ms: float | None, max_error_increase: float,
               min_calls: int = MIN_GUARDRAIL_CALLS) -> list[Guardrail]:
    out = []
    if lat_a is not None and lat_b is not None and len(lat_a) and len(lat_b):
        pa, pb = float(np.percentile(lat_a, 95)), float(np.percentile(lat_b, 95))
        limit = pa * (1 + max_latency_increase)
        if max_p95_ms is not None:
            limit = min(limit, max_p95_ms)
        enough = min(len(lat_a), len(lat_b)) >= min_calls
        out.append(Guardrail(name="p95 latency (ms)", champion=pa, challenger=pb, limit=limit, passed=pb <= limit or not enough,
                             enough_data=enough, detail=f"challenger p95 {pb:.1f} ms vs limit {limit:.1f} ms (champion {pa:.1f} ms)"
                             + ("" if enough else f"; only {min(len(lat_a), len(lat_b))} calls, {min_calls} needed")))
    if err_a is not None and err_b is not None and len(err_a) and len(err_b):
        ea, eb = float(np.mean(err_a)), float(np.mean(err_b))
        limit = ea + max_error_increase
        # Five challenger failures are evidence enough, however few the calls.
        enough = min(len(err_a), len(err_b)) >= min_calls or float(np.sum(err_b)) >= 5
        out.append(Guardrail(name="error rate", champion=ea, challenger=eb, limit=limit, passed=eb <= limit or not enough,
                             enough_data=enough, detail=f"challenger {eb:.2%} vs limit {limit:.2%} (champion {ea:.2%})"
                             + ("" if enough else f"; only {min(len(err_a), len(err_b))} calls, {min_calls} needed")))
    return out


def decide(*, mode: str, srm_mismatch: bool, guards: list[Guardrail], fixed: TestResult | None,
           sequential: SequentialResult | None, higher_is_better: bool, n_observed: int, n_planned: int | None,
           next_step: float | None, control: str = "champion") -> tuple[Decision, list[str]]:
    """Roll out, keep, extend or roll back, with the reasons in the order they were weighed."""
    reasons: list[str] = []
    failed = [g for g in guards if not g.passed]
    if failed:
        return "roll_back", [f"guardrail failed: {g.name}: {g.detail}" for g in failed]
    unjudged = [g for g in guards if not g.enough_data]
    if guards and not unjudged:
        reasons.append("guardrails hold: " + "; ".join(g.detail for g in guards))
    if unjudged:
        reasons.append("too few calls to judge the guardrails: " + "; ".join(g.detail for g in unjudged))
    if mode == "shadow":
        if unjudged:
            return "extend", [*reasons, "keep mirroring traffic until the guardrails can be judged"]
        reasons.append("shadow traffic measures safety, not impact: the challenger's answers were never served")
        return "roll_out", [*reasons, "start a canary with the challenger on a small share of traffic"]
    if srm_mismatch:
        return "keep", [*reasons, f"sample-ratio mismatch: the traffic does not fit the split, so no effect estimate can be trusted ({control} stays); "
                        "fix the assignment or logging and restart the test"]

    def better(diff: float) -> bool:
        return (diff > 0) == higher_is_better

    complete = n_planned is None or n_observed >= n_planned
    diff = fixed.difference if fixed else 0.0
    if sequential and sequential.significant:
        reasons.append(f"sequential test (always valid) is significant: p={sequential.p_value:.4g}, "
                       f"CI [{sequential.ci_low:.4g}, {sequential.ci_high:.4g}]")
        if better(diff):
            if unjudged:
                return "extend", [*reasons, "the challenger looks better, but the guardrails need more calls first"]
            step = f"; move the canary to {next_step:g}%" if next_step else ""
            return "roll_out", [*reasons, f"the challenger is better (difference {diff:+.4g}){step}"]
        return "roll_back", [*reasons, f"the challenger is worse (difference {diff:+.4g})"]
    if fixed and complete:
        reasons.append(f"fixed-horizon test at {n_observed} units: p={fixed.p_value:.4g}, difference {diff:+.4g}, "
                       f"CI [{fixed.ci_low:.4g}, {fixed.ci_high:.4g}]")
        if fixed.significant and better(diff) and unjudged:
            return "extend", [*reasons, "the challenger looks better, but the guardrails need more calls first"]
        if fixed.significant and better(diff):
            step = f"; move the canary to {next_step:g}%" if next_step else ""
            return "roll_out", [*reasons, f"the challenger is better{step}"]
        if fixed.significant:
            return "roll_back", [*reasons, "the challenger is worse"]
        return "keep", [*reasons, f"no significant difference at the planned size: {control} stays"]
    remaining = (n_planned or 0) - n_observed
    return "extend", [*reasons, f"not significant yet and {remaining} of the planned {n_planned} units are still to come; "
                      "keep collecting (the sequential test may be checked again at any time)"]
