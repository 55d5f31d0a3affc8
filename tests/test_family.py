"""Holm over a family of claims: each verdict's p-value agrees with the rule that decided it, and the correction
keeps the family-wise error rate at 5% where six uncorrected verdicts would err about a quarter of the time."""
import math

import numpy as np
import pytest

from bnbench.verdicts.family import expected_false, family, holm, verdict_p_value
from bnbench.verdicts.stats import ALPHA, CONTRADICTED, INCONCLUSIVE, KINDS, SUPPORTED, decide


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("relative", [False, True])
def test_a_decided_verdict_has_p_at_most_alpha_and_its_test_agrees_with_the_bounds(kind, relative):
    rng = np.random.default_rng(1)
    decided = 0
    for _ in range(300):
        n = int(rng.integers(2, 8))
        shift = rng.normal(0, 0.02)
        a = 1.0 + rng.normal(shift, 0.02, n)
        b = 1.0 + rng.normal(0, 0.005, n)
        v = decide(a, b, kind, 0.01, relative=relative)
        p = verdict_p_value(v, kind)
        assert 0 <= p <= 1
        if v.verdict != INCONCLUSIVE:
            decided += 1
            assert p <= ALPHA + 1e-9, (v, p)
        if kind == "greater" and not relative:   # "supported" needs lo > 0: exactly p(mean > 0) < 5%
            assert (v.ci_low > 0) == (p <= ALPHA) or v.verdict == CONTRADICTED
    assert decided > 30


def test_holm_adjusted_values():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    out = holm([0.2, math.nan, 0.01])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.2) and out[2] == pytest.approx(0.02)
    assert holm([0.04, 0.01]) == pytest.approx([0.04, 0.02]) and holm([0.9, 0.8]) == [1.0, 1.0]   # capped at 1


def _families(effect_sd: float, families=1500, k=6, n=5, seed=0):
    """``families`` sets of ``k`` independent 'greater' claims (margin a tenth of the SD) whose true effect is
    ``effect_sd`` standard deviations; returns the share of families with a 'supported' verdict, decided alone and
    surviving Holm. With no true effect every 'supported' is a false verdict ('contradicted' is then right: the
    true effect, 0, is below the margin)."""
    rng = np.random.default_rng(seed)

    class R:   # the two fields family() reads from a ClaimResult
        def __init__(self, cid, v):
            self.claim_id, self.verdict, self.stats = cid, v.verdict, v

    alone, held = [], []
    for _ in range(families):
        results = []
        for j in range(k):
            d = rng.normal(effect_sd * 0.01, 0.01, n)
            results.append(R(f"c{j}", decide(d, np.zeros(n), "greater", 0.001)))
        rows = family(results, {f"c{j}": "greater" for j in range(k)})
        alone.append(any(r.verdict == SUPPORTED for r in rows))
        held.append(any(r.survives and r.verdict == SUPPORTED for r in rows))
    return np.mean(alone), np.mean(held)


def test_holm_keeps_the_family_wise_error_at_five_percent():
    alone, held = _families(effect_sd=0.0)
    expected = expected_false(6)[1]                              # 26.5% for six independent claims
    assert expected == pytest.approx(0.265, abs=0.001) and expected_false(6)[0] == pytest.approx(0.3)
    assert abs(alone - expected) < 0.05, alone                   # the problem is real ...
    assert held <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / 1500), held   # ... and corrected


def test_holm_keeps_large_effects():
    _, held = _families(effect_sd=3.0, families=300)
    assert held > 0.8
