"""Verdict rules of :mod:`bnbench.stats`: supported only beyond seed noise, contradicted only when
the data exclude the claimed effect, inconclusive otherwise."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnbench.errors import ConfigError
from bnbench.stats import (CONFIDENCE, KINDS, Verdict, bootstrap_ci, decide,
                           paired_differences)

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
    assert "1.00 pp" in v.reason and f"{CONFIDENCE:.0%} CI [+" in v.reason


def test_two_seeds_note_directional():
    v = decide([0.9, 0.91], [0.8, 0.8], "greater", 0.01)
    assert v.n == 2
    assert "range of the two differences" in v.reason
    assert v.ci_low == pytest.approx(0.1) and v.ci_high == pytest.approx(0.11)


def test_verdict_is_frozen():
    v = decide([0.9, 0.91, 0.92], [0.8, 0.8, 0.8], "greater", 0.01)
    assert isinstance(v, Verdict)
    with pytest.raises(Exception):
        v.verdict = "supported"  # type: ignore[misc]


# -- bootstrap_ci ------------------------------------------------------------------------------------

@FAST
@given(diffs=st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=2, max_size=10),
       seed=st.integers(0, 1000))
def test_bootstrap_ci_seeded_and_brackets_mean(diffs, seed):
    d = np.array(diffs)
    lo, hi = bootstrap_ci(d, seed=seed)
    assert (lo, hi) == bootstrap_ci(d.copy(), seed=seed)
    m = float(np.mean(d))
    tol = 1e-12
    assert lo - tol <= m <= hi + tol
    assert d.min() - tol <= lo <= hi <= d.max() + tol


def test_bootstrap_ci_small_and_degenerate():
    assert all(math.isnan(x) for x in bootstrap_ci([0.3]))
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    assert bootstrap_ci([0.1, 0.1, 0.1]) == (0.1, 0.1)
    assert bootstrap_ci([0.0] * 5) == (0.0, 0.0)


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
    code = ("import sys, bnbench.stats as s; s.decide([1,2,3],[0,1,1],'greater',0.1); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
