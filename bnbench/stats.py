"""Verdicts: how per-seed measurements become *supported*, *contradicted* or *inconclusive*.

A claim compares two sides, *a* (the side the claim is about, e.g. the network with Batch
Normalization) and *b* (the other side), each trained with the same seeds. For every seed we take
the paired difference ``d_i = a_i - b_i`` (or ``a_i / b_i - 1`` for ratios such as times), then the
mean ``m`` of the differences and a 95% percentile-bootstrap confidence interval ``[lo, hi]`` for
that mean. Every claim carries a minimum effect ``δ >= 0``: the smallest difference that would
count as the claimed effect. The rules, in plain words:

* **greater** ("a beats b by at least δ"): *supported* when the whole interval lies above zero and
  the mean reaches δ; *contradicted* when the whole interval lies below δ; otherwise
  *inconclusive*.
* **less** ("a is below b by at least δ"): the mirror image. *Supported* when the whole interval
  lies below zero and the mean reaches -δ; *contradicted* when the whole interval lies above -δ;
  otherwise *inconclusive*.
* **not_greater** ("a does not beat b by δ or more"): *supported* when the whole interval lies
  below δ; *contradicted* when the whole interval lies above zero and the mean reaches δ;
  otherwise *inconclusive*.
* **equivalent** ("a and b differ by less than δ"): *supported* when the whole interval lies
  strictly between -δ and +δ; *contradicted* when the interval lies entirely on one side of zero
  and the mean is at least δ away from zero on that side; otherwise *inconclusive*.
* One seed, or a run that produced no number (NaN: usually a diverged run), is always
  *inconclusive*.

Why these rules. Two trainings that differ only in their seed already differ in accuracy, loss and
time. A difference whose interval still contains zero is inside that seed-to-seed noise: the data
cannot tell it from chance, so it is *inconclusive*, never *supported*. A claim is only
*contradicted* when the data exclude what it asserts: for "greater", the whole interval lies below
the claim's minimum effect, so an advantage as large as the claim's minimum effect is ruled out
(even when a small advantage remains). When neither holds, the honest answer is that more seeds
are needed, and that is what *inconclusive* says.

With only two seeds the 95% percentile bootstrap interval of the mean is just the range of the two
differences, so a verdict from two seeds says little more than "both seeds point the same way".

This module imports numpy only; scipy is imported inside :func:`bootstrap_ci`. It never imports
torch.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import ConfigError

KINDS = ("greater", "less", "not_greater", "equivalent")
CONFIDENCE = 0.95

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"

_ONE_SEED = "one seed cannot separate an effect from seed-to-seed noise; run at least 2 seeds"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim: the verdict, the sentence that explains it, and the numbers."""

    verdict: str            # "supported" | "contradicted" | "inconclusive"
    reason: str             # one plain sentence a user reads, with the numbers
    n: int                  # number of paired seeds
    mean_diff: float        # mean of a_i - b_i (or of a_i / b_i - 1 when relative)
    ci_low: float           # NaN when n < 2
    ci_high: float          # NaN when n < 2
    differences: tuple[float, ...]


# -- numbers ---------------------------------------------------------------------------------------

def _as_vector(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be a flat list of per-seed numbers, got an array of shape "
                          f"{arr.shape}; pass one number per seed")
    return arr


def paired_differences(a, b, relative: bool = False) -> np.ndarray:
    """Per-seed differences ``a_i - b_i``, or ``a_i / b_i - 1`` when ``relative`` (for ratios).

    ``a`` and ``b`` are paired by position (seed). A length mismatch raises ``ValueError``. NaN in
    either side, or a ratio against zero, gives a non-finite difference (no warning is emitted);
    :func:`decide` turns those into an *inconclusive* verdict.
    """
    av, bv = _as_vector(a, "a"), _as_vector(b, "b")
    if av.shape != bv.shape:
        raise ConfigError(f"a and b must be paired by seed, but a has {av.size} values and b has "
                          f"{bv.size}; pass one value per seed on each side")
    with np.errstate(divide="ignore", invalid="ignore"):
        return av / bv - 1.0 if relative else av - bv


def bootstrap_ci(diffs, confidence: float = CONFIDENCE, seed: int = 0,
                 n_resamples: int = 9999) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval for the mean of ``diffs``.

    Seeded: the same input gives the same interval. Fewer than two values give ``(nan, nan)``;
    identical values (zero spread) give exactly ``(d, d)``. Non-finite values raise ``ValueError``.
    """
    d = _as_vector(diffs, "diffs")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if int(n_resamples) < 1:
        raise ConfigError(f"n_resamples must be at least 1, got {n_resamples!r}")
    if d.size < 2:
        return (math.nan, math.nan)
    if not np.all(np.isfinite(d)):
        raise ConfigError("bootstrap_ci needs finite differences; drop or report the runs that "
                          "produced NaN or inf first")
    if np.all(d == d[0]):
        v = float(d[0])
        return (v, v)

    from scipy import stats  # lazy: keeps ``import bnbench.stats`` light

    kwargs = dict(confidence_level=confidence, method="percentile", vectorized=True,
                  n_resamples=int(n_resamples))
    rng = np.random.default_rng(seed)
    if "rng" in inspect.signature(stats.bootstrap).parameters:   # scipy >= 1.15
        kwargs["rng"] = rng
    else:                                                         # older scipy
        kwargs["random_state"] = rng
    res = stats.bootstrap((d,), np.mean, **kwargs)
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


# -- wording ---------------------------------------------------------------------------------------

class _Fmt:
    """Formats values as ``value*scale + unit`` with enough decimals for the numbers at hand."""

    def __init__(self, scale: float, unit: str, *values: float):
        self.scale, self.unit = scale, unit
        ref = max((abs(v) * scale for v in values if math.isfinite(v) and v != 0), default=0.0)
        if ref == 0.0 or ref >= 1.0:
            self.decimals = 2
        else:
            self.decimals = min(8, 2 - math.floor(math.log10(ref)))

    def num(self, v: float, signed: bool = True) -> str:
        x = v * self.scale + 0.0           # + 0.0 turns -0.0 into 0.0
        if round(x, self.decimals) == 0:
            x = 0.0
            if not signed:
                return "0"
        return f"{x:+.{self.decimals}f}" if signed else f"{x:.{self.decimals}f}"

    def val(self, v: float, signed: bool = True) -> str:
        return self.num(v, signed) + self.unit

    def ci(self, lo: float, hi: float) -> str:
        return f"[{self.num(lo)}, {self.num(hi)}]{self.unit}"


def _rule(kind: str, m: float, lo: float, hi: float, margin: float, f: _Fmt) -> tuple[str, str]:
    """Apply the rule of ``kind``; return (verdict, the clause that says which rule fired)."""
    dm = f.val(margin, signed=False)
    ndm = f.val(-margin) if margin > 0 else dm
    mean = f.val(m)
    if kind == "greater":
        if lo > 0 and m >= margin:
            return SUPPORTED, (f"the whole CI lies above 0 and the mean {mean} reaches the "
                               f"minimum effect {dm}")
        if hi < margin:
            return CONTRADICTED, (f"the whole CI lies below the minimum effect {dm}, so the data "
                                  f"exclude an advantage as large as the claim's")
        if lo <= 0:
            return INCONCLUSIVE, (f"the CI includes 0 and reaches the minimum effect {dm}, so the "
                                  f"difference is within seed-to-seed noise; run more seeds")
        return INCONCLUSIVE, (f"the whole CI lies above 0 but the mean {mean} falls short of the "
                              f"minimum effect {dm} while the CI still reaches it; run more seeds")
    if kind == "less":
        if hi < 0 and m <= -margin:
            return SUPPORTED, (f"the whole CI lies below 0 and the mean {mean} reaches the "
                               f"minimum effect {ndm}")
        if lo > -margin:
            return CONTRADICTED, (f"the whole CI lies above {ndm}, so the data exclude a deficit "
                                  f"as large as the claim's minimum effect {dm}")
        if hi >= 0:
            return INCONCLUSIVE, (f"the CI includes 0 and reaches the minimum effect {ndm}, so the "
                                  f"difference is within seed-to-seed noise; run more seeds")
        return INCONCLUSIVE, (f"the whole CI lies below 0 but the mean {mean} falls short of the "
                              f"minimum effect {ndm} while the CI still reaches it; run more seeds")
    if kind == "not_greater":
        if hi < margin:
            return SUPPORTED, (f"the whole CI lies below the minimum effect {dm}, so the data "
                               f"exclude an advantage of {dm} or more")
        if lo > 0 and m >= margin:
            return CONTRADICTED, (f"the whole CI lies above 0 and the mean {mean} reaches the "
                                  f"minimum effect {dm}: an advantage the claim denies")
        return INCONCLUSIVE, (f"the CI reaches the minimum effect {dm}, so an advantage that "
                              f"large is not excluded, yet it is not established either; "
                              f"run more seeds")
    # equivalent
    if -margin < lo and hi < margin:
        return SUPPORTED, f"the whole CI lies strictly within ±{dm}"
    if lo > 0 and m >= margin:
        return CONTRADICTED, (f"the whole CI lies above 0 and the mean {mean} reaches the "
                              f"minimum effect {dm}: a real difference, not equivalence")
    if hi < 0 and m <= -margin:
        return CONTRADICTED, (f"the whole CI lies below 0 and the mean {mean} reaches the "
                             f"minimum effect {ndm}: a real difference, not equivalence")
    if margin == 0:
        return INCONCLUSIVE, ("a minimum effect of 0 leaves no room to show equivalence; give the "
                              "claim a positive minimum effect")
    return INCONCLUSIVE, (f"the CI is not contained in ±{dm}, so equivalence is not shown, yet no "
                          f"difference of {dm} or more is established either; run more seeds")


# -- the decision ----------------------------------------------------------------------------------

def decide(a: Sequence[float], b: Sequence[float], kind: str, margin: float,
           relative: bool = False, unit: str = "", scale: float = 1.0) -> Verdict:
    """Decide a claim from per-seed metrics ``a`` (the side the claim is about) and ``b``.

    ``a`` and ``b`` are paired by seed. ``margin`` is the claim's minimum effect δ >= 0, in the
    same units as the differences (a fraction of ``b`` when ``relative``). Numbers in the reason
    are shown as ``value*scale + unit``; with ``relative=True`` and the default ``unit``/``scale``
    they are shown in percent. See the module docstring for the rules.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown claim kind {kind!r}; use one of {', '.join(KINDS)}")
    margin = float(margin)
    if not (math.isfinite(margin) and margin >= 0):
        raise ConfigError(f"margin (the claim's minimum effect) must be a finite number >= 0, "
                          f"got {margin!r}")
    scale = float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"scale must be a finite number > 0, got {scale!r}")
    if relative and unit == "" and scale == 1.0:
        unit, scale = "%", 100.0

    av, bv = _as_vector(a, "a"), _as_vector(b, "b")
    d = paired_differences(av, bv, relative=relative)
    n = int(d.size)
    diffs = tuple(float(x) for x in d)
    nan = math.nan

    bad = [i for i in range(n) if math.isnan(av[i]) or math.isnan(bv[i])]
    if bad:
        which = ", ".join(str(i + 1) for i in bad)
        return Verdict(INCONCLUSIVE,
                       f"a run produced no number (NaN at seed pair {which} of {n}; diverged?), "
                       f"so the comparison cannot be made",
                       n, nan, nan, nan, diffs)
    if not np.all(np.isfinite(d)):
        bad = [str(i + 1) for i in range(n) if not math.isfinite(d[i])]
        cause = "a ratio against zero" if relative else "an infinite value; diverged?"
        return Verdict(INCONCLUSIVE,
                       f"seed pair {', '.join(bad)} of {n} gives no finite difference ({cause}), "
                       f"so the comparison cannot be made",
                       n, nan, nan, nan, diffs)
    if n < 2:
        m = float(d[0]) if n == 1 else nan
        reason = _ONE_SEED if n == 1 else "no seeds were run; run at least 2 seeds"
        return Verdict(INCONCLUSIVE, reason, n, m, nan, nan, diffs)

    m = float(d[0]) if np.all(d == d[0]) else float(np.mean(d))
    lo, hi = bootstrap_ci(d)
    f = _Fmt(scale, unit, m, lo, hi, margin)
    verdict, clause = _rule(kind, m, lo, hi, margin, f)
    level = f"{CONFIDENCE * 100:g}%"
    reason = (f"mean difference {f.val(m)}, {level} CI {f.ci(lo, hi)} over {n} seeds: {clause}")
    if n == 2:
        reason += (f" (with 2 seeds the {level} percentile bootstrap CI is just the range of the "
                   f"two differences, so this is only a directional verdict)")
    return Verdict(verdict, reason, n, m, lo, hi, diffs)
