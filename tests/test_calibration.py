"""The decision rule's error rates, by simulation (seeded numpy; seconds).

Paired differences are drawn from a normal distribution with a known true mean, the rule of
:func:`bnbench.verdicts.stats.decide` is applied, and the proportion of wrong verdicts is held against the
nominal 5% of each one-sided test. Monte-Carlo allowance: a simulated proportion may exceed 5% by
at most 3 standard errors of a proportion of 5% over the number of simulated studies
(3 * sqrt(0.05 * 0.95 / sims): 0.46 points at 20,000 studies, 1.46 points at 2,000).

Most cells use the vectorised path (:func:`simulate_rule`, :func:`power_table`); a subset runs
:func:`decide` itself study by study and checks that it gives the same verdicts as the vectorised
path on the same numbers.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from bnbench.verdicts.stats import ALPHA, KINDS, decide, power_table, simulate_rule

NS = (2, 3, 5, 8)
SIMS = 20_000
SDS = (0.3, 0.7, 2.0)          # seed-to-seed SD of the paired difference, in margins


def allowance(sims: int) -> float:
    return 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)


LIMIT = ALPHA + allowance(SIMS)


def _z(n: int, salt: int, sims: int = SIMS) -> np.ndarray:
    return np.random.default_rng([20240616, n, salt]).standard_normal((sims, n))


def _rate(codes: np.ndarray, code: int) -> float:
    return float(np.mean(codes == code))


# -- greater / less --------------------------------------------------------------------------------

@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("sd", SDS)
def test_greater_and_less_false_positive_at_zero_effect(n, sd):
    z = _z(n, 1)
    for margin in (0.0, 1.0):            # margin 0 is the worst case: then only "lower bound > 0" is asked
        g, _, _ = simulate_rule("greater", n, 0.0, sd, margin, z=z)
        le, _, _ = simulate_rule("less", n, 0.0, sd, margin, z=z)
        assert _rate(g, 1) <= LIMIT, (n, sd, margin, _rate(g, 1))
        assert _rate(le, 1) <= LIMIT, (n, sd, margin, _rate(le, 1))
    # at margin 0 the bound is exact, not merely conservative
    g, _, _ = simulate_rule("greater", n, 0.0, sd, 0.0, z=z)
    assert abs(_rate(g, 1) - ALPHA) <= allowance(SIMS)


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("sd", SDS)
def test_greater_and_less_false_contradiction_at_the_margin(n, sd):
    z = _z(n, 2)
    g, _, _ = simulate_rule("greater", n, 1.0, sd, 1.0, z=z)
    le, _, _ = simulate_rule("less", n, -1.0, sd, 1.0, z=z)
    assert _rate(g, -1) <= LIMIT, (n, sd, _rate(g, -1))
    assert _rate(le, -1) <= LIMIT, (n, sd, _rate(le, -1))


# -- not_greater / equivalent ----------------------------------------------------------------------

@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("sd", SDS)
def test_not_greater_false_support_at_the_margin(n, sd):
    codes, _, _ = simulate_rule("not_greater", n, 1.0, sd, 1.0, z=_z(n, 3))
    assert _rate(codes, 1) <= LIMIT, (n, sd, _rate(codes, 1))


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("sd", SDS)
@pytest.mark.parametrize("true_diff", (-1.0, 1.0))
def test_equivalent_false_support_at_plus_minus_margin(n, sd, true_diff):
    codes, _, _ = simulate_rule("equivalent", n, true_diff, sd, 1.0, z=_z(n, 4))
    assert _rate(codes, 1) <= LIMIT, (n, sd, true_diff, _rate(codes, 1))


# -- the interval itself -----------------------------------------------------------------------------

@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("sd", SDS)
def test_each_one_sided_bound_misses_five_percent(n, sd):
    true = 0.37
    _, lo, hi = simulate_rule("greater", n, true, sd, 1.0, z=_z(n, 5))
    for miss in (np.mean(lo > true), np.mean(hi < true)):
        assert miss <= LIMIT, (n, sd, miss)
        assert miss >= ALPHA - allowance(SIMS), (n, sd, miss)   # exact, not needlessly wide


# -- the power table uses the same rule ---------------------------------------------------------------

def test_power_table_error_rates():
    rows = power_table(ns=NS, effects_in_margins=(0, 1), sd_over_margin=0.7, sims=SIMS, seed=3)
    assert len(rows) == len(KINDS) * len(NS) * 2
    for r in rows:
        assert r["supported"] + r["contradicted"] + r["inconclusive"] == pytest.approx(1.0)
        if r["kind"] in ("greater", "less") and r["effect"] == 0:
            assert r["supported"] <= LIMIT, r
        if r["kind"] in ("greater", "less") and r["effect"] == 1:
            assert r["contradicted"] <= LIMIT, r
        if r["kind"] in ("not_greater", "equivalent") and r["effect"] == 1:
            assert r["supported"] <= LIMIT, r


# -- decide itself ----------------------------------------------------------------------------------

DECIDE_SIMS = 2_000
DECIDE_LIMIT = ALPHA + allowance(DECIDE_SIMS)


def _decide_all(kind, true_diff, sd, margin, n, salt, relative=False):
    z = _z(n, salt, DECIDE_SIMS)
    d = true_diff + sd * z
    b = np.random.default_rng(salt).uniform(0.4, 0.6, size=(DECIDE_SIMS, n))
    a = b * np.exp(d) if relative else b + d
    out = [decide(a[i], b[i], kind, margin, relative=relative) for i in range(DECIDE_SIMS)]
    verdicts = np.array([{"supported": 1, "contradicted": -1, "inconclusive": 0}[v.verdict] for v in out])
    return z, verdicts, out


@pytest.mark.parametrize("n", (2, 3))
def test_decide_error_rates_and_agreement_with_the_vectorised_rule(n):
    # greater at zero effect (margin 0: the worst case) and at the margin
    z, fp, out = _decide_all("greater", 0.0, 0.7, 0.0, n, 11)
    assert np.mean(fp == 1) <= DECIDE_LIMIT
    assert np.array_equal(fp, simulate_rule("greater", n, 0.0, 0.7, 0.0, z=z)[0])
    lo = np.array([v.ci_low for v in out])
    hi = np.array([v.ci_high for v in out])
    assert np.mean(lo > 0) <= DECIDE_LIMIT and np.mean(hi < 0) <= DECIDE_LIMIT   # coverage of the bounds

    z, fc, _ = _decide_all("greater", 0.01, 0.007, 0.01, n, 12)
    assert np.mean(fc == -1) <= DECIDE_LIMIT
    assert np.array_equal(fc, simulate_rule("greater", n, 0.01, 0.007, 0.01, z=z)[0])

    z, eq, _ = _decide_all("equivalent", 0.01, 0.007, 0.01, n, 13)
    assert np.mean(eq == 1) <= DECIDE_LIMIT
    assert np.array_equal(eq, simulate_rule("equivalent", n, 0.01, 0.007, 0.01, z=z)[0])

    z, ng, _ = _decide_all("not_greater", 0.01, 0.007, 0.01, n, 14)
    assert np.mean(ng == 1) <= DECIDE_LIMIT


def test_decide_relative_claims_on_log_ratios():
    # a / b = exp(N(log(1 + δ), sd²)): a true ratio of exactly 1 + δ must rarely contradict "greater by δ"
    delta, n = 0.05, 3
    _, fc, _ = _decide_all("greater", math.log1p(delta), 0.04, delta, n, 21, relative=True)
    assert np.mean(fc == -1) <= DECIDE_LIMIT
    # and a true ratio of 1 - δ must rarely support "equivalent within δ"
    _, eq, _ = _decide_all("equivalent", math.log1p(-delta), 0.04, delta, n, 22, relative=True)
    assert np.mean(eq == 1) <= DECIDE_LIMIT
    # no true effect: "less by δ" is rarely supported
    _, fp, _ = _decide_all("less", 0.0, 0.04, 0.0, n, 23, relative=True)
    assert np.mean(fp == 1) <= DECIDE_LIMIT
