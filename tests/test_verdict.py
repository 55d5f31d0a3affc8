"""Verdict rules of :mod:`bnbench.verdicts.stats`: supported only beyond seed noise, contradicted only when
the data exclude the claimed effect, inconclusive otherwise."""
from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnbench.errors import ConfigError
from bnbench.verdicts.stats import (ALPHA, CONFIDENCE, KINDS, RULE, Verdict, decide,
                           paired_differences, power_table, t_quantile, welch_interval)

FAST = settings(deadline=None, max_examples=50)

seeds_n = st.integers(min_value=3, max_value=8)
margins = st.floats(min_value=0.0, max_value=0.05)
noises = st.floats(min_value=1e-4, max_value=1e-2)


def _clear_effect_case(draw_n, margin, noise, extra, base_seed, sign):
    """b random in [0.1, 0.9]; a = b + sign*effect + noise*u with effect >= margin + 10*noise."""
    rng = np.random.default_rng(base_seed)
    b = rng.uniform(0.1, 0.9, size=draw_n)
    effect = margin + 10 * noise + extra
    a = b + sign * effect + noise * rng.uniform(-1, 1, size=draw_n)
    return a, b


# -- clear effects -------------------------------------------------------------------------------

@FAST
@given(n=seeds_n, margin=margins, noise=noises, extra=st.floats(0.0, 0.1),
       base_seed=st.integers(0, 2**32 - 1))
def test_clear_advantage_is_supported_for_greater(n, margin, noise, extra, base_seed):
    a, b = _clear_effect_case(n, margin, noise, extra, base_seed, +1)
    v = decide(a, b, "greater", margin)
    assert v.verdict == "supported", v.reason
    assert v.n == n and len(v.differences) == n
    assert v.ci_low > 0 and v.mean_diff >= margin
    # the same data deny "a does not beat b" and "a equals b" once the margin is positive
    assert decide(a, b, "not_greater", margin).verdict == "contradicted"
    assert decide(a, b, "less", margin).verdict == "contradicted"


@FAST
@given(n=seeds_n, margin=margins, noise=noises, extra=st.floats(0.0, 0.1),
       base_seed=st.integers(0, 2**32 - 1))
def test_clear_deficit_contradicts_greater_and_supports_less(n, margin, noise, extra, base_seed):
    a, b = _clear_effect_case(n, margin, noise, extra, base_seed, -1)
    g = decide(a, b, "greater", margin)
    assert g.verdict == "contradicted", g.reason
    assert g.ci_high < margin
    le = decide(a, b, "less", margin)
    assert le.verdict == "supported", le.reason
    assert le.ci_high < 0 and le.mean_diff <= -margin
    assert decide(a, b, "not_greater", margin).verdict == "supported"
    if margin > 0:
        assert decide(a, b, "equivalent", margin).verdict == "contradicted"


# -- noise-level differences -----------------------------------------------------------------------

@FAST
@given(n=seeds_n, margin=st.floats(1e-4, 0.05), factor=st.floats(10.0, 100.0),
       base_seed=st.integers(0, 2**32 - 1))
def test_noise_level_difference_is_inconclusive(n, margin, factor, base_seed):
    # differences +s, -s, +s, -s, ... (a 0 added when n is odd): mean near 0, spread >> margin
    s = factor * margin
    pattern = [s if i % 2 == 0 else -s for i in range(n - n % 2)] + [0.0] * (n % 2)
    b = np.random.default_rng(base_seed).uniform(0.1, 0.9, size=n)
    a = b + np.array(pattern)
    for kind in KINDS:
        v = decide(a, b, kind, margin)
        assert v.verdict == "inconclusive", (kind, v.reason)
        assert v.ci_low <= -margin and v.ci_high >= margin
        assert "noise" in v.reason or "run more seeds" in v.reason


# -- too little data ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("a,b", [([0.9], [0.1]), ([0.1], [0.9]), ([0.5], [0.5])])
def test_one_seed_is_always_inconclusive(kind, a, b):
    v = decide(a, b, kind, 0.01)
    assert v.verdict == "inconclusive"
    assert v.n == 1
    assert "one seed" in v.reason and "at least 2 seeds" in v.reason
    assert math.isnan(v.ci_low) and math.isnan(v.ci_high)


@pytest.mark.parametrize("kind", KINDS)
def test_nan_run_is_inconclusive(kind):
    a = [0.91, float("nan"), 0.92, 0.90]
    b = [0.50, 0.51, 0.49, 0.50]
    for x, y in ((a, b), (b, a)):
        v = decide(x, y, kind, 0.01)
        assert v.verdict == "inconclusive"
        assert "no number" in v.reason and "diverged" in v.reason
        assert v.n == 4


def test_zero_seeds_is_inconclusive():
    v = decide([], [], "greater", 0.01)
    assert v.verdict == "inconclusive" and v.n == 0


def test_relative_ratio_against_zero_is_inconclusive():
    v = decide([1.0, 2.0, 3.0], [0.0, 2.0, 3.0], "greater", 0.05, relative=True)
    assert v.verdict == "inconclusive"


# -- not_greater ------------------------------------------------------------------------------------

def test_not_greater_supported_when_a_below_or_equal():
    b = np.array([0.80, 0.82, 0.79, 0.81, 0.80])
    assert decide(b - 0.03, b, "not_greater", 0.01).verdict == "supported"
    assert decide(b, b, "not_greater", 0.01).verdict == "supported"
    tiny = b + np.array([0.001, -0.001, 0.002, 0.0, -0.002])
    assert decide(tiny, b, "not_greater", 0.01).verdict == "supported"


def test_not_greater_contradicted_when_a_clearly_above():
    b = np.array([0.80, 0.82, 0.79, 0.81, 0.80])
    a = b + 0.05 + np.array([0.001, -0.001, 0.002, 0.0, -0.002])
    v = decide(a, b, "not_greater", 0.01)
    assert v.verdict == "contradicted", v.reason


# -- equivalent ---------------------------------------------------------------------------------------

def test_equivalent_identical_runs_supported_with_zero_ci():
    # e.g. CrossEntropyLoss vs log_softmax + nll_loss: bit-identical runs
    a = [0.8123, 0.8011, 0.8256, 0.7999]
    v = decide(a, list(a), "equivalent", 0.001)
    assert v.verdict == "supported", v.reason
    assert (v.ci_low, v.ci_high) == (0.0, 0.0)
    assert v.mean_diff == 0.0 and v.differences == (0.0,) * 4


def test_equivalent_contradicted_by_large_consistent_difference():
    b = np.array([0.80, 0.82, 0.79, 0.81, 0.80])
    for sign in (+1, -1):
        a = b + sign * (0.05 + np.array([0.001, -0.001, 0.002, 0.0, -0.002]))
        assert decide(a, b, "equivalent", 0.01).verdict == "contradicted"


def test_equivalent_noisy_is_inconclusive():
    b = np.array([0.80, 0.82, 0.79, 0.81, 0.80, 0.78])
    a = b + np.array([0.03, -0.03, 0.025, -0.02, 0.03, -0.035])
    assert decide(a, b, "equivalent", 0.01).verdict == "inconclusive"


def test_equivalent_with_zero_margin_cannot_be_supported():
    a = [0.5, 0.6, 0.7]
    v = decide(a, a, "equivalent", 0.0)
    assert v.verdict == "inconclusive"


# -- identical runs for directional claims -----------------------------------------------------------

def test_greater_with_identical_runs_is_contradicted():
    a = [0.71, 0.73, 0.70]
    v = decide(a, a, "greater", 0.005)
    assert v.verdict == "contradicted", v.reason
    assert (v.ci_low, v.ci_high) == (0.0, 0.0)
    # with no minimum effect, a zero difference neither shows nor excludes "greater"
    assert decide(a, a, "greater", 0.0).verdict == "inconclusive"


# -- relative differences and formatting -----------------------------------------------------------

def test_relative_differences():
    b = np.array([10.0, 12.0, 11.0, 9.5])
    v = decide(1.1 * b, b, "greater", 0.05, relative=True)
    assert v.mean_diff == pytest.approx(0.10)
    assert v.verdict == "supported"
    assert "%" in v.reason and "+10.00%" in v.reason
    np.testing.assert_allclose(paired_differences(1.1 * b, b, relative=True), 0.1)
    np.testing.assert_allclose(paired_differences(b + 1, b), 1.0)


def test_reason_uses_scale_and_unit():
    b = np.array([0.80, 0.82, 0.79, 0.81, 0.80])
    a = b + 0.0231 + np.array([0.001, -0.001, 0.002, 0.0, -0.002])
    v = decide(a, b, "greater", 0.01, unit=" pp", scale=100)
    assert v.verdict == "supported"
    assert "mean difference +2.3" in v.reason
    assert "1.00 pp" in v.reason and f"{CONFIDENCE:.0%} t-interval [+" in v.reason
    assert "one-sided 95% bounds" in v.reason and "over 5 seeds" in v.reason and "df=4" in v.reason


def test_two_seeds_note_names_the_large_t_quantile():
    v = decide([0.9, 0.91], [0.8, 0.8], "greater", 0.01)
    assert v.n == 2 and v.df == 1
    q = t_quantile(1)
    assert q == pytest.approx(6.3138, abs=1e-4)
    assert "6.31" in v.reason and "1 df" in v.reason and "large, consistent" in v.reason
    assert "range" not in v.reason
    # mean 0.105, SD 0.00707, SE 0.005
    assert v.ci_low == pytest.approx(0.105 - q * 0.005) and v.ci_high == pytest.approx(0.105 + q * 0.005)
    assert v.verdict == "supported"
    assert "t quantile" not in decide([0.9, 0.91, 0.93], [0.8, 0.8, 0.8], "greater", 0.01).reason


def test_two_consistent_seeds_no_longer_enough_for_a_small_effect():
    # differences +0.02 and +0.03: both above a 0.01 margin, but at 1 df the lower bound is
    # 0.025 - 6.31 * 0.005 < 0, so this is not separated from noise
    v = decide([0.82, 0.83], [0.80, 0.80], "greater", 0.01)
    assert v.verdict == "inconclusive", v.reason
    assert v.ci_low < 0 < v.ci_high
    assert "noise" in v.reason


def test_verdict_is_frozen():
    v = decide([0.9, 0.91, 0.92], [0.8, 0.8, 0.8], "greater", 0.01)
    assert isinstance(v, Verdict) and v.verdict == "supported"
    with pytest.raises(dataclasses.FrozenInstanceError):   # was pytest.raises(Exception): any error at all passed
        v.verdict = "contradicted"  # type: ignore[misc]
    assert v.verdict == "supported"


# -- the t-interval ----------------------------------------------------------------------------------

@FAST
@given(diffs=st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=2, max_size=10))
def test_bounds_are_the_paired_t_interval(diffs):
    from scipy import stats as sst

    d = np.array(diffs)
    v = decide(d, np.zeros_like(d), "greater", 0.0)
    n = d.size
    if np.all(d == d[0]):
        assert v.ci_low == v.ci_high == v.mean_diff == d[0]
        return
    m, se = d.mean(), d.std(ddof=1) / math.sqrt(n)
    q = sst.t.ppf(1 - ALPHA, n - 1)
    tol = 1e-9
    assert v.mean_diff == pytest.approx(m, abs=tol)
    assert v.ci_low == pytest.approx(m - q * se, abs=tol) and v.ci_high == pytest.approx(m + q * se, abs=tol)
    assert v.ci_low - tol <= v.mean_diff <= v.ci_high + tol
    assert v.df == n - 1 and v.confidence == CONFIDENCE == pytest.approx(0.90)


def test_zero_spread_collapses_to_the_point():
    for diffs in ([0.1, 0.1, 0.1], [0.0] * 5, [-0.03, -0.03]):
        b = np.full(len(diffs), 0.5)
        v = decide(b + np.array(diffs), b, "greater", 0.0)
        assert v.ci_low == v.ci_high == v.mean_diff == pytest.approx(diffs[0], abs=1e-15)
    # deterministic runs: identical differences decide from the point itself
    b = np.array([0.5, 0.6, 0.7])
    assert decide(b + 0.25, b, "greater", 0.125).verdict == "supported"
    assert decide(b + 0.25, b, "less", 0.125).verdict == "contradicted"
    assert decide(b + 0.25, b, "equivalent", 0.5).verdict == "supported"


def test_verdict_carries_rule_margin_and_level():
    v = decide([0.9, 0.91, 0.93], [0.8, 0.8, 0.8], "greater", 0.01)
    assert (v.margin, v.confidence, v.rule, v.df, v.relative) == (0.01, CONFIDENCE, RULE, 2.0, False)
    assert "one-sided 5%" in v.rule
    r = decide([1.1, 1.2, 1.3], [1.0, 1.1, 1.2], "greater", 0.02, relative=True)
    assert r.relative is True and r.margin == 0.02


# -- relative claims: log ratios ---------------------------------------------------------------------

def test_relative_claims_use_log_ratios_and_report_percent():
    b = np.array([10.0, 11.0, 12.0, 9.0])
    ratios = np.array([1.5, 1.2, 1.9, 1.4])
    v = decide(ratios * b, b, "greater", 0.05, relative=True)
    logs = np.log(ratios)
    m, se = logs.mean(), logs.std(ddof=1) / 2
    q = t_quantile(3)
    assert v.mean_diff == pytest.approx(math.expm1(m))            # geometric mean change
    assert v.mean_diff != pytest.approx(ratios.mean() - 1)        # not the arithmetic mean of ratios
    assert v.ci_low == pytest.approx(math.expm1(m - q * se)) and v.ci_high == pytest.approx(math.expm1(m + q * se))
    assert v.differences == pytest.approx(tuple(ratios - 1))
    assert f"{math.expm1(m) * 100:+.2f}%" in v.reason and "log ratios" in v.reason


def test_relative_margins_translate_to_log_scale():
    b = np.array([2.0, 3.0, 4.0])
    # "greater by 100%" (a doubling): log ratio >= log 2
    assert decide(b * np.array([2.3, 2.4, 2.35]), b, "greater", 1.0, relative=True).verdict == "supported"
    assert decide(b * np.array([1.5, 1.6, 1.55]), b, "greater", 1.0, relative=True).verdict == "contradicted"
    # "less by 50%": log ratio <= log 0.5
    assert decide(b * np.array([0.45, 0.46, 0.44]), b, "less", 0.5, relative=True).verdict == "supported"
    v = decide(b * np.array([0.6, 0.61, 0.59]), b, "less", 0.5, relative=True)
    assert v.verdict == "contradicted" and "-50.00%" in v.reason
    # "equivalent within 10%": ratios 0.99..1.01 inside (log 0.9, log 1.1)
    assert decide(b * np.array([0.99, 1.01, 1.0]), b, "equivalent", 0.1, relative=True).verdict == "supported"


@pytest.mark.parametrize("kind", ["less", "equivalent"])
def test_relative_margin_of_one_or_more_is_refused_for_less_and_equivalent(kind):
    with pytest.raises(ConfigError):
        decide([1.0, 2.0], [2.0, 3.0], kind, 1.0, relative=True)
    decide([1.0, 2.0], [2.0, 3.0], "greater", 1.5, relative=True)   # fine: a/b >= 2.5
    decide([1.0, 2.0], [2.0, 3.0], kind, 1.0)                        # fine: absolute


@pytest.mark.parametrize("a,b", [([1.0, -2.0, 3.0], [1.0, 2.0, 3.0]), ([1.0, 2.0, 3.0], [1.0, 0.0, 3.0])])
def test_relative_non_positive_value_is_inconclusive(a, b):
    v = decide(a, b, "greater", 0.05, relative=True)
    assert v.verdict == "inconclusive"
    assert "log ratio" in v.reason and "seed pair 2 of 3" in v.reason
    assert math.isnan(v.ci_low) and math.isnan(v.ci_high)


# -- Welch interval (unpaired) -------------------------------------------------------------------------

def test_welch_interval_matches_scipy():
    from scipy import stats as sst

    old, new = [0.70, 0.72, 0.69, 0.71], [0.74, 0.73, 0.78]
    delta, lo, hi = welch_interval(old, new)
    ci = sst.ttest_ind(new, old, equal_var=False).confidence_interval(confidence_level=CONFIDENCE)
    assert delta == pytest.approx(np.mean(new) - np.mean(old))
    assert (lo, hi) == pytest.approx((ci.low, ci.high))


def test_welch_interval_small_and_degenerate():
    assert all(math.isnan(x) for x in welch_interval([], [1.0, 2.0]))
    d, lo, hi = welch_interval([1.0], [2.0, 3.0])
    assert d == 1.5 and math.isnan(lo) and math.isnan(hi)
    assert welch_interval([1.0, 1.0], [2.0, 2.0]) == (1.0, 1.0, 1.0)
    with pytest.raises(ConfigError):
        welch_interval([1.0, float("nan")], [1.0, 2.0])


# -- power table ----------------------------------------------------------------------------------------

def test_power_table_shape_and_monotone_power():
    rows = power_table(kinds=("greater", "less"), ns=(2, 5, 10), sims=4000)
    assert len(rows) == 2 * 3 * 3
    for kind in ("greater", "less"):
        for n in (2, 5, 10):
            p = [r["supported"] for r in rows if r["kind"] == kind and r["n"] == n]
            assert p[0] <= p[1] <= p[2]                       # effects 0, 1, 2 margins
    at = {(r["kind"], r["n"], r["effect"]): r for r in rows}
    assert at[("greater", 10, 2.0)]["supported"] > 0.99       # SD 0.7 margins, 10 seeds: 2x the margin is found
    assert at[("greater", 2, 2.0)]["supported"] < 0.6         # 2 seeds: often not
    assert at[("greater", 10, 1.0)]["supported"] <= 0.55      # mean >= margin caps power at ~50% at 1x
    assert at[("greater", 5, 0.0)]["contradicted"] > 0.5
    assert power_table(ns=(3,), sims=500) == power_table(ns=(3,), sims=500)   # seeded


def test_power_table_bad_input():
    for kwargs in ({"ns": (1,)}, {"sd_over_margin": 0.0}, {"kinds": ("bigger",)}, {"sims": 0}):
        with pytest.raises(ConfigError):
            power_table(**kwargs)


# -- bad input -----------------------------------------------------------------------------------------

def test_invalid_kind_lists_kinds():
    with pytest.raises(ValueError) as e:
        decide([1, 2], [1, 2], "bigger", 0.0)
    for k in KINDS:
        assert k in str(e.value)
    assert isinstance(e.value, ConfigError)


@pytest.mark.parametrize("margin", [-0.01, float("nan"), float("inf")])
def test_bad_margin(margin):
    with pytest.raises(ValueError):
        decide([1, 2], [1, 2], "greater", margin)


def test_length_mismatch():
    with pytest.raises(ValueError):
        paired_differences([1, 2, 3], [1, 2])
    with pytest.raises(ValueError):
        decide([1, 2, 3], [1, 2], "greater", 0.0)


def test_module_does_not_import_torch():
    code = ("import sys, bnbench.verdicts.stats as s; s.decide([1,2,3],[0,1,1],'greater',0.1); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_gap_of_1e_7_reads_in_significant_digits_not_as_zeros():
    gap = decide([1.2e-7, 2.4e-7, 0.9e-7, 1.1e-7, 1.5e-7], [0.0] * 5, "not_greater", 1e-4)
    assert gap.verdict == "supported"
    assert "mean difference +1.42e-07, 90% t-interval [+8.58e-08, +1.98e-07]" in gap.reason
    assert "0.000000" not in gap.reason and "minimum effect 1.00e-04" in gap.reason
    points = decide([0.71, 0.72, 0.70], [0.70, 0.70, 0.69], "greater", 0.01, unit=" pp", scale=100)
    assert "mean difference +1.33 pp, 90% t-interval [+0.36, +2.31] pp" in points.reason     # unchanged
