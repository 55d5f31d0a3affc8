"""Several claims decided together: each verdict's p-value and Holm's correction over the family.

Every verdict of :func:`bnbench.verdicts.stats.decide` is a one-sided t-test at 5% (a bound that clears zero or
the margin). Deciding ``k`` claims at 5% each, the chance that at least one of them is a false verdict grows to
about ``1 - 0.95^k`` (26% for six independent claims), and ``0.05 k`` false verdicts are expected in the worst
case. Holm's step-down procedure keeps the family-wise error rate at 5% without assuming independence (the claims
of one section share their experiments): sort the family's p-values ``p_(1) <= ... <= p_(k)`` and keep the
``i``-th verdict while every ``p_(j) <= 0.05 / (k - j + 1)`` for ``j <= i``. ``tests/test_family.py`` checks both
numbers by simulation.

The p-value of a verdict is that of the test behind it, on the scale the decision is made on (differences, or log
ratios for relative claims), with the sample's own standard error and ``n - 1`` degrees of freedom, as in
``decide``: *supported* ``greater`` tests "the mean difference is > 0" (and the mean must reach the margin, as in
the rule), *contradicted* ``greater`` tests "< margin", and so on (:func:`verdict_p_value`). An inconclusive claim
still counts in the family: its p-value is the smaller of its two candidate tests', which did not reach 5%.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bnbench.verdicts.stats import ALPHA, CONTRADICTED, INCONCLUSIVE, SUPPORTED, Verdict, _margins, _summarize


def _one_sided(m: float, se: float, df: float, against: float, above: bool) -> float:
    """P-value of "the true mean is above ``against``" (``above``) or below it, from a t statistic."""
    if se == 0:   # identical differences: the point decides, as in the rule
        return 0.0 if (m > against if above else m < against) else 1.0
    from scipy.stats import t

    z = (m - against) / se
    return float(t.sf(z, df) if above else t.cdf(z, df))


def verdict_p_value(v: Verdict, kind: str) -> float:
    """The one-sided p-value of the test that decided ``v`` (for an inconclusive one, the smaller p-value of the
    two tests that could have decided it). NaN when there is no test (fewer than 2 finite differences)."""
    d = np.asarray(v.differences, dtype=float)
    if v.relative:
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.log1p(d)
    if d.size < 2 or not np.all(np.isfinite(d)):
        return math.nan
    m, se, df = (float(x) for x in _summarize(d))
    neg, pos = _margins(v.margin if math.isfinite(v.margin) else 0.0, v.relative, kind)
    p = lambda against, above: _one_sided(m, se, df, against, above)  # noqa: E731
    tests = {   # kind -> (the test behind "supported", the test behind "contradicted")
        "greater": (p(0.0, True), p(pos, False)),
        "less": (p(0.0, False), p(neg, True)),
        "not_greater": (p(pos, False), p(0.0, True)),
        "equivalent": (max(p(neg, True), p(pos, False)), p(0.0, True) if m > 0 else p(0.0, False)),
    }[kind]
    if v.verdict == SUPPORTED:
        return tests[0]
    if v.verdict == CONTRADICTED:
        return tests[1]
    return min(tests)


def holm(p_values: list[float], alpha: float = ALPHA) -> list[float]:
    """Holm's adjusted p-values (same order as given; NaN stays NaN and does not count in the family)."""
    finite = [(p, i) for i, p in enumerate(p_values) if math.isfinite(p)]
    k = len(finite)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(finite)):
        running = max(running, min(1.0, (k - rank) * p))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class FamilyRow:
    claim_id: str
    verdict: str            # as decided on its own, at 5%
    p_value: float
    holm_p: float
    survives: bool          # a decided verdict whose Holm-adjusted p-value is still <= 5%


def family(results, kinds: dict[str, str], alpha: float = ALPHA) -> list[FamilyRow]:
    """Holm over a family of claim results (``ClaimResult``); ``kinds``: claim id -> its kind."""
    ps = [verdict_p_value(r.stats, kinds[r.claim_id]) if r.stats is not None else math.nan for r in results]
    adjusted = holm(ps, alpha)
    return [FamilyRow(r.claim_id, r.verdict, p, a, r.verdict != INCONCLUSIVE and math.isfinite(a) and a <= alpha)
            for r, p, a in zip(results, ps, adjusted)]


def expected_false(k: int, alpha: float = ALPHA) -> tuple[float, float]:
    """For ``k`` claims each decided at ``alpha``: the most false verdicts expected (``alpha k``), and the chance
    of at least one were the claims independent (``1 - (1 - alpha)^k``)."""
    return alpha * k, 1.0 - (1.0 - alpha) ** k
