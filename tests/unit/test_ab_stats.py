"""The A/B statistics agree with statsmodels and scipy, and hold their false-positive rate."""

from __future__ import annotations

import ast
import hashlib

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

from mlops_engineer.engines.abtest import analysis as A
from mlops_engineer.engines.abtest.assignment import (
    BUCKETS,
    assign,
    boundaries,
    bucket_of,
    srm_check,
    variant_of,
)
from mlops_engineer.engines.abtest.design import design
from mlops_engineer.engines.abtest.router import router_files
from mlops_engineer.errors import ToolError


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(120, 1000, 150, 1010), (40, 5000, 31, 4800), (900, 2000, 960, 2100)])
def test_ztest_matches_statsmodels(x1: int, n1: int, x2: int, n2: int) -> None:
    ours = A.ztest_proportions(x1, n1, x2, n2, alpha=0.05)
    z, p = proportions_ztest([x2, x1], [n2, n1])
    assert ours["z"] == pytest.approx(z) and ours["p_value"] == pytest.approx(p)
    low, high = confint_proportions_2indep(x2, n2, x1, n1, method="wald", compare="diff")
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((low, high))
    low, high = confint_proportions_2indep(x2, n2, x1, n1, method="log", compare="ratio")
    assert (ours["lift_low"] + 1, ours["lift_high"] + 1) == pytest.approx((low, high))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(10, 3, 400 + seed * 50), rng.normal(10.4, 4.5, 350)
    ours = A.welch_ttest(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b), alpha=0.1)
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert ours["t"] == pytest.approx(ref.statistic) and ours["p_value"] == pytest.approx(ref.pvalue)
    assert ours["df"] == pytest.approx(ref.df)
    ci = ref.confidence_interval(confidence_level=0.9)
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((ci.low, ci.high))
    result = A.fixed_test("continuous", a, b, 0.1)
    assert result.p_value == pytest.approx(ref.pvalue) and result.lift == pytest.approx(b.mean() / a.mean() - 1)


@pytest.mark.parametrize("share", [50.0, 20.0, 5.0])
def test_design_matches_statsmodels_power(share: float) -> None:
    ratio = share / (100 - share)
    prop = design("proportion", 0.1, 0.02, challenger_share=share, alpha=0.05, power=0.8, daily_units=500)
    n1 = NormalIndPower().solve_power(abs(proportion_effectsize(0.12, 0.1)), alpha=0.05, power=0.8, ratio=ratio)
    assert prop.n_champion == int(np.ceil(n1)) and prop.n_challenger == int(np.ceil(n1 * ratio))
    assert prop.expected_days == int(np.ceil(prop.n_total / 500))
    rel = design("continuous", 40.0, 0.05, relative=True, std=12.0, challenger_share=share, alpha=0.01, power=0.9)
    n1 = TTestIndPower().solve_power(2.0 / 12.0, alpha=0.01, power=0.9, ratio=ratio)
    assert rel.n_champion == int(np.ceil(n1)) and rel.mde_absolute == pytest.approx(2.0)
    # A smaller effect needs more units: the design responds to the MDE as it should.
    assert design("proportion", 0.1, 0.01, challenger_share=share).n_total > prop.n_total


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"metric_type": "proportion", "baseline": 0.1, "mde": 0.0}, "non-zero"),
    ({"metric_type": "continuous", "baseline": 5.0, "mde": 1.0, "std": 0.0}, "standard deviation"),
    ({"metric_type": "proportion", "baseline": 0.0, "mde": 0.01}, "strictly between 0 and 1"),
    ({"metric_type": "proportion", "baseline": 0.1, "mde": 0.01, "alpha": 1.0}, "alpha"),
    ({"metric_type": "proportion", "baseline": 0.1, "mde": 0.01, "power": 0.0}, "power"),
    ({"metric_type": "proportion", "baseline": 0.95, "mde": 0.1}, "not a rate"),
])
def test_design_refuses_bad_input(kwargs: dict, words: str) -> None:
    with pytest.raises(ToolError) as error:
        design(kwargs.pop("metric_type"), kwargs.pop("baseline"), kwargs.pop("mde"), **kwargs)
    assert error.value.code == "invalid_input" and words in error.value.message


@pytest.mark.parametrize(("metric_type", "baseline", "std"), [("proportion", 0.1, None), ("continuous", 20.0, 6.0)])
def test_aa_simulation_false_positive_rates_stay_at_alpha(metric_type: str, baseline: float, std: float | None) -> None:
    alpha = 0.05
    result = A.simulate_aa(metric_type, baseline, std, 3000, alpha=alpha, experiments=2000, looks=20, seed=11)
    se = np.sqrt(alpha * (1 - alpha) / 2000)
    assert result.tolerance == pytest.approx(3 * se)
    assert abs(result.fpr_fixed - alpha) <= 3 * se, result
    assert result.fpr_sequential <= alpha + 3 * se, result
    # The check has teeth: stopping at the first fixed-horizon p < alpha over 20 looks is caught.
    assert result.fpr_naive_peeking > alpha + 3 * se, result
    assert result.fixed_ok and result.sequential_ok


def test_sequential_test_finds_a_real_effect_early() -> None:
    rng = np.random.default_rng(5)
    a, b = (rng.random(6000) < 0.10).astype(float), (rng.random(6000) < 0.14).astype(float)
    order = np.arange(12000)
    result = A.sequential_test("proportion", a, b, order[::2], order[1::2], 0.05, tau=0.04)
    assert result.significant and result.first_significant_at is not None and result.first_significant_at < result.looks
    assert result.ci_low > 0
    null = A.sequential_test("proportion", a, a[::-1].copy(), order[::2], order[1::2], 0.05, tau=0.04)
    assert not null.significant


def test_assignment_is_deterministic_and_follows_the_split() -> None:
    units = [f"user-{i}" for i in range(20000)]
    first = assign(units, "exp-1", {"champion": 80, "challenger": 20})
    assert first == assign(units, "exp-1", {"champion": 80, "challenger": 20})
    digest = hashlib.sha256(b"exp-1:user-7").digest()
    assert first[7][1] == int.from_bytes(digest[:8], "big") % BUCKETS
    share = sum(v == "challenger" for _, _, v in first) / len(units)
    assert abs(share - 0.2) < 4 * np.sqrt(0.2 * 0.8 / len(units))
    other = assign(units, "exp-2", {"champion": 80, "challenger": 20})
    assert sum(a[2] != b[2] for a, b in zip(first, other, strict=True)) > 1000, "a new salt reshuffles units"


def test_rendered_router_assigns_exactly_like_the_engine() -> None:
    split = {"champion": 75, "challenger": 25}
    files = router_files(experiment="exp-r", mode="ab", salt="salt-r", split=split, champion_uri="models:/m@champion",
                         challenger_uri="models:/m@challenger")
    tree = ast.parse(files["service.py"])
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("bucket_of", "variant_of")]
    namespace: dict = {}
    exec(compile(ast.Module(body=[ast.parse("import hashlib").body[0], *wanted], type_ignores=[]), "service.py", "exec"),
         namespace)  # noqa: S102 - our own rendered code
    import json

    bounds = json.loads(files["abtest.json"])["split"]
    assert bounds == [list(b) for b in boundaries(split)]
    for i in range(20000):
        unit = f"u{i}"
        bucket = bucket_of(unit, "salt-r")
        assert namespace["bucket_of"](unit, "salt-r") == bucket
        assert namespace["variant_of"](bucket, bounds) == variant_of(bucket, boundaries(split))


def test_srm_check_matches_scipy_chisquare() -> None:
    observed = {"champion": 5210, "challenger": 4790}
    ours = srm_check(observed, {"champion": 50, "challenger": 50})
    ref = stats.chisquare([5210, 4790], [5000, 5000])
    assert ours.chi2 == pytest.approx(ref.statistic) and ours.p_value == pytest.approx(ref.pvalue)
    assert ours.mismatch
    assert not srm_check({"champion": 9480, "challenger": 520}, {"champion": 95, "challenger": 5}).mismatch
    assert srm_check({"champion": 10, "challenger": 3}, {"champion": 100, "challenger": 0}).mismatch


@pytest.mark.parametrize("split", [{"champion": 50, "challenger": 40}, {"champion": 60, "challenger": 60}, {"champion": 100}])
def test_split_must_sum_to_100(split: dict) -> None:
    with pytest.raises(ToolError) as error:
        boundaries(split)
    assert error.value.code == "invalid_input"
