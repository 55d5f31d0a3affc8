"""Verdicts: how per-seed measurements become *supported*, *contradicted* or *inconclusive*.

A claim compares two sides, *a* (the side the claim is about, e.g. the network with Batch
Normalization) and *b* (the other side), each trained with the same seeds. For every seed we take
the paired difference ``d_i = a_i - b_i``. For relative claims (times, band statistics, gradient
sizes) we take the log ratio ``d_i = log(a_i / b_i)`` instead and report results back as a
percentage change ``exp(x) - 1`` of a over b.

From the ``n`` differences we take their mean ``m``, their standard deviation ``s`` and the
standard error ``se = s / sqrt(n)``, and form the two one-sided 95% bounds of a paired
t-interval (Student's t with ``n - 1`` degrees of freedom, ``q = t_{0.95, n-1}``)::

    lo = m - q * se        hi = m + q * se

Together ``[lo, hi]`` is the 90% two-sided t-interval; each bound on its own errs with
probability 5% when the differences are roughly normal. Every claim carries a minimum effect
``δ >= 0``: the smallest difference that would count as the claimed effect. On the log scale a
relative minimum effect δ becomes ``log(1 + δ)`` (a/b - 1 >= δ) and ``log(1 - δ)``
(a/b - 1 <= -δ; so δ < 1 is required for *less* and *equivalent*). The rules, at level 5%:

* **greater** ("a beats b by at least δ"): *supported* when ``lo > 0`` and ``m >= δ``;
  *contradicted* when ``hi < δ`` (the data exclude an effect as large as δ); otherwise
  *inconclusive*. So P(supported | true effect 0) <= 5% and
  P(contradicted | true effect δ) <= 5%.
* **less** ("a is below b by at least δ"): the mirror image. *Supported* when ``hi < 0`` and
  ``m <= -δ``; *contradicted* when ``lo > -δ``.
* **not_greater** ("a does not beat b by δ or more"): *supported* when ``hi < δ``;
  *contradicted* when ``lo > 0`` and ``m >= δ``. So P(supported | true effect δ) <= 5%.
* **equivalent** ("a and b differ by less than δ"): two one-sided tests (TOST). *Supported* when
  ``-δ < lo`` and ``hi < δ`` (the 90% interval lies inside ``(-δ, δ)``); *contradicted* when
  ``lo > 0`` and ``m >= δ``, or ``hi < 0`` and ``m <= -δ``; otherwise *inconclusive*. So
  P(supported | true difference ±δ) <= 5%.
* One seed, no seeds, a run that produced no number (NaN: usually a diverged run), a non-finite
  difference, or (relative claims) a value <= 0, which has no finite log ratio: always
  *inconclusive*.
* Zero spread (all differences identical, e.g. bit-identical deterministic runs): ``s = 0``, the
  interval collapses to the point ``(m, m)`` and the rules above decide from the mean.


Why these rules. Two trainings that differ only in their seed already differ in accuracy, loss and
time. A difference whose lower bound does not clear zero is inside that seed-to-seed noise, so it
is *inconclusive*, never *supported*. A claim is only *contradicted* when the data exclude what it
asserts. With 2 seeds the one-sided 95% t quantile at 1 degree of freedom is 6.31 (1.64 with many
seeds), so only large, consistent effects are decided; :func:`power_table` says how often each
verdict comes out for a given seed count, effect and noise, and ``tests/test_calibration.py``
asserts the error rates above by simulation.

This module imports numpy only; scipy (the t quantile) is imported lazily. It never imports torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bnbench.errors import ConfigError

KINDS = ("greater", "less", "not_greater", "equivalent")
ALPHA = 0.05                 # error rate of each one-sided bound
CONFIDENCE = 1 - 2 * ALPHA   # the level of the two-sided interval [lo, hi] shown: 0.90
RULE = "paired t, one-sided 5%"

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)   # every verdict there is, in the order tables show them
_CODES = {1: SUPPORTED, -1: CONTRADICTED, 0: INCONCLUSIVE}

_ONE_SEED = "one seed cannot separate an effect from seed-to-seed noise; run at least 2 seeds"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim: the verdict, the sentence that explains it, and the numbers.

    ``mean_diff``, ``ci_low``, ``ci_high``, ``differences`` and ``margin`` are in display units:
    differences ``a - b``, or for relative claims the change ``a/b - 1`` (a fraction; the reason
    shows it in percent), where the mean and bounds come from the log ratios as ``exp(x) - 1``.
    """

    verdict: str            # "supported" | "contradicted" | "inconclusive"
    reason: str             # one plain sentence a user reads, with the numbers
    n: int                  # number of paired seeds
    mean_diff: float        # mean of a_i - b_i (relative: exp(mean log(a_i / b_i)) - 1)
    ci_low: float           # one-sided 95% lower bound; NaN when n < 2
    ci_high: float          # one-sided 95% upper bound; NaN when n < 2
    differences: tuple[float, ...]   # a_i - b_i (relative: a_i / b_i - 1)
    margin: float = math.nan         # the claim's minimum effect δ
    confidence: float = CONFIDENCE   # level of [ci_low, ci_high] as a two-sided interval
    rule: str = RULE
    df: float = math.nan             # degrees of freedom of the t quantile
    relative: bool = False


# -- numbers ---------------------------------------------------------------------------------------

def _as_vector(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be a flat list of per-seed numbers, got an array of shape "
                          f"{arr.shape}; pass one number per seed")
    return arr


def paired_differences(a, b, relative: bool = False, log: bool = False) -> np.ndarray:
    """Per-seed differences ``a_i - b_i``, or ``a_i / b_i - 1`` when ``relative`` (for ratios).

    With ``relative`` and ``log`` the log ratios ``log(a_i) - log(b_i)`` (the scale the decision is
    made on; NaN for values <= 0). ``a`` and ``b`` are paired by position (seed). A length mismatch
    raises ``ValueError``. NaN in either side, or a ratio against zero, gives a non-finite
    difference (no warning is emitted); :func:`decide` turns those into an *inconclusive* verdict.
    """
    av, bv = _as_vector(a, "a"), _as_vector(b, "b")
    if av.shape != bv.shape:
        raise ConfigError(f"a and b must be paired by seed, but a has {av.size} values and b has "
                          f"{bv.size}; pass one value per seed on each side")
    with np.errstate(divide="ignore", invalid="ignore"):
        if relative and log:
            return np.where((av > 0) & (bv > 0), np.log(np.abs(av)) - np.log(np.abs(bv)), np.nan)
        return av / bv - 1.0 if relative else av - bv


def t_quantile(df, alpha: float = ALPHA):
    """The one-sided ``1 - alpha`` quantile of Student's t with ``df`` degrees of freedom."""
    # lazy, and scipy.special rather than scipy.stats (whose t.ppf is this same function, NaN for df <= 0 alike):
    # importing scipy.stats costs ~3x as long and 50 MB more, a third of `bnbench summary` pooling four folders
    from scipy.special import stdtrit

    q = stdtrit(df, 1.0 - alpha)
    return float(q) if np.ndim(q) == 0 else q


def _summarize(d: np.ndarray):
    """Mean, standard error and df of the differences along the last axis (any leading shape).

    Rows whose values are all identical get exactly ``se = 0`` and ``mean = d[..., 0]``.
    """
    n = d.shape[-1]
    same = np.all(d == d[..., :1], axis=-1)
    m = np.where(same, d[..., 0], d.mean(axis=-1))
    var = np.where(same, 0.0, d.var(axis=-1, ddof=1))
    return m, np.sqrt(var / n), float(n - 1)


def _bounds(m, se, df, alpha: float = ALPHA):
    """The two one-sided ``1 - alpha`` t bounds of the mean (the ``1 - 2 alpha`` interval)."""
    q = t_quantile(df, alpha)
    return m - q * se, m + q * se


def _classify(kind: str, m, lo, hi, neg: float, pos: float) -> np.ndarray:
    """The rule: 1 supported, -1 contradicted, 0 inconclusive (vectorised over m, lo, hi).

    ``pos`` (>= 0) is the minimum effect above zero and ``neg`` (<= 0) below zero, on the scale
    the bounds are on (``±δ``, or ``log(1 ± δ)`` for relative claims).
    """
    m, lo, hi = np.asarray(m), np.asarray(lo), np.asarray(hi)
    if kind == "greater":
        sup, con = (lo > 0) & (m >= pos), hi < pos
    elif kind == "less":
        sup, con = (hi < 0) & (m <= neg), lo > neg
    elif kind == "not_greater":
        sup, con = hi < pos, (lo > 0) & (m >= pos)
    elif kind == "equivalent":
        sup = (lo > neg) & (hi < pos)
        con = ((lo > 0) & (m >= pos)) | ((hi < 0) & (m <= neg))
    else:
        raise ConfigError(f"unknown claim kind {kind!r}; use one of {', '.join(KINDS)}")
    return np.where(sup, 1, np.where(con, -1, 0))


def _margins(margin: float, relative: bool, kind: str) -> tuple[float, float]:
    """(neg, pos): the minimum effect below and above zero on the scale of the decision."""
    if not relative:
        return -margin, margin
    if margin >= 1 and kind in ("less", "equivalent"):
        raise ConfigError(f"a relative minimum effect of {margin!r} ({margin:.0%}) for a '{kind}' claim "
                          f"asks a/b - 1 <= -{margin:g}, i.e. a <= 0; give a relative margin below 1")
    return (math.log1p(-margin) if margin < 1 else -math.inf), math.log1p(margin)


def welch_interval(old, new, alpha: float = ALPHA) -> tuple[float, float, float]:
    """``mean(new) - mean(old)`` and its two one-sided ``1 - alpha`` Welch t bounds.

    For two independent sets of runs (not paired by seed). Returns ``(delta, lo, hi)``; the bounds
    are NaN when either side has fewer than 2 values, and equal ``delta`` when both sides have zero
    spread. Non-finite values raise ``ValueError``.
    """
    o, w = _as_vector(old, "old"), _as_vector(new, "new")
    if not (np.all(np.isfinite(o)) and np.all(np.isfinite(w))):
        raise ConfigError("welch_interval needs finite values; drop the runs that produced NaN or inf")
    if o.size == 0 or w.size == 0:
        return math.nan, math.nan, math.nan
    delta = float(np.mean(w) - np.mean(o))
    if o.size < 2 or w.size < 2:
        return delta, math.nan, math.nan
    vo, vw = float(np.var(o, ddof=1)) / o.size, float(np.var(w, ddof=1)) / w.size
    se2 = vo + vw
    if se2 == 0:
        return delta, delta, delta
    df = se2 ** 2 / (vo ** 2 / (o.size - 1) + vw ** 2 / (w.size - 1))
    lo, hi = _bounds(delta, math.sqrt(se2), df, alpha)
    return delta, float(lo), float(hi)


# -- simulation ------------------------------------------------------------------------------------

def simulate_rule(kind: str, n: int, true_diff: float, sd: float, margin: float = 1.0,
                  sims: int = 20000, rng: np.random.Generator | None = None, z: np.ndarray | None = None):
    """Apply the rule of :func:`decide` to ``sims`` simulated studies at once.

    Each study has ``n`` paired differences drawn from N(true_diff, sd²) (or ``true_diff + sd * z``
    for given standard normals ``z`` of shape (sims, n)). Returns ``(codes, lo, hi)``: verdict codes
    (1 supported, -1 contradicted, 0 inconclusive) and the one-sided bounds, through the same
    :func:`_summarize`, :func:`_bounds` and :func:`_classify` as :func:`decide` (absolute scale).
    """
    if z is None:
        rng = np.random.default_rng(0) if rng is None else rng
        z = rng.standard_normal((int(sims), int(n)))
    d = true_diff + sd * z
    m, se, df = _summarize(d)
    lo, hi = _bounds(m, se, df)
    neg, pos = _margins(float(margin), False, kind)
    return _classify(kind, m, lo, hi, neg, pos), lo, hi


def _true_diff(kind: str, effect: float) -> float:
    """The true mean difference for an effect of ``effect`` margins in the claim's direction."""
    return -effect if kind == "less" else effect


def power_table(kinds: Sequence[str] = KINDS, ns: Sequence[int] = (2, 3, 5, 8, 10),
                effects_in_margins: Sequence[float] = (0, 1, 2), sd_over_margin: float = 0.7,
                sims: int = 20000, seed: int = 0) -> list[dict]:
    """How often each verdict comes out, by simulation of the decision rule.

    For each kind, seed count ``n`` and true effect (in multiples of the margin δ, in the claim's
    direction: a above b for greater/not_greater/equivalent, a below b for less), ``sims`` studies
    of ``n`` normal paired differences with SD ``sd_over_margin * δ`` are decided. Returns rows
    ``{"kind", "n", "effect", "supported", "contradicted", "inconclusive"}`` (proportions). A
    relative claim is the same rule on log ratios, so the absolute case covers it. The same
    standard normals are reused across kinds and effects for a given ``n`` (seeded by ``seed``).
    """
    if not (math.isfinite(sd_over_margin) and sd_over_margin > 0):
        raise ConfigError(f"the SD (a multiple of the margin) must be a finite number > 0, got {sd_over_margin!r}")
    if int(sims) < 1:
        raise ConfigError(f"sims must be at least 1, got {sims!r}")
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(f"unknown claim kind {kind!r}; use one of {', '.join(KINDS)}")
    rows = []
    for n in ns:
        if int(n) < 2:
            raise ConfigError(f"seed counts must be at least 2, got {n!r}")
        z = np.random.default_rng([int(seed), int(n)]).standard_normal((int(sims), int(n)))
        for kind in kinds:
            for effect in effects_in_margins:
                codes, _, _ = simulate_rule(kind, int(n), _true_diff(kind, float(effect)), sd_over_margin,
                                            1.0, z=z)
                rows.append({"kind": kind, "n": int(n), "effect": float(effect),
                             "supported": float(np.mean(codes == 1)),
                             "contradicted": float(np.mean(codes == -1)),
                             "inconclusive": float(np.mean(codes == 0))})
    return rows


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
        # numbers this small (a step-loss gap of 1e-7 against a 1e-4 margin) read in significant digits, as the
        # tables show them (bnbench.outputs.table), not as +0.000000
        self.tiny = 0.0 < ref < 1e-3

    def num(self, v: float, signed: bool = True) -> str:
        x = v * self.scale + 0.0           # + 0.0 turns -0.0 into 0.0
        if self.tiny and x != 0.0:
            return f"{x:+.2e}" if signed else f"{x:.2e}"
        if round(x, self.decimals) == 0:
            x = 0.0
            if not signed:
                return "0"
        return f"{x:+.{self.decimals}f}" if signed else f"{x:.{self.decimals}f}"

    def val(self, v: float, signed: bool = True) -> str:
        return self.num(v, signed) + self.unit

    def ci(self, lo: float, hi: float) -> str:
        return f"[{self.num(lo)}, {self.num(hi)}]{self.unit}"


def _clause(kind: str, code: int, m: float, lo: float, hi: float, neg: float, pos: float,
            margin: float, mean_shown: float, f: _Fmt) -> str:
    """The clause that says which rule fired. ``code`` comes from :func:`_classify`; m, lo, hi,
    neg, pos are on the decision scale (for the inconclusive sub-cases), the text in display units."""
    dm = f.val(margin, signed=False)
    ndm = f.val(-margin) if margin > 0 else dm
    mean = f.val(mean_shown)
    if kind == "greater":
        if code == 1:
            return f"the lower bound lies above 0 and the mean {mean} reaches the minimum effect {dm}"
        if code == -1:
            return (f"the upper bound lies below the minimum effect {dm}, so the data exclude an advantage "
                    f"as large as the claim's")
        if lo <= 0:
            return (f"the lower bound does not clear 0 and the upper bound reaches the minimum effect {dm}, "
                    f"so the difference is within seed-to-seed noise; run more seeds")
        return (f"the lower bound lies above 0 but the mean {mean} falls short of the minimum effect {dm} "
                f"while the upper bound still reaches it; run more seeds")
    if kind == "less":
        if code == 1:
            return f"the upper bound lies below 0 and the mean {mean} reaches the minimum effect {ndm}"
        if code == -1:
            return (f"the lower bound lies above {ndm}, so the data exclude a deficit as large as the "
                    f"claim's minimum effect {dm}")
        if hi >= 0:
            return (f"the upper bound does not clear 0 and the lower bound reaches the minimum effect {ndm}, "
                    f"so the difference is within seed-to-seed noise; run more seeds")
        return (f"the upper bound lies below 0 but the mean {mean} falls short of the minimum effect {ndm} "
                f"while the lower bound still reaches it; run more seeds")
    if kind == "not_greater":
        if code == 1:
            return (f"the upper bound lies below the minimum effect {dm}, so the data exclude an advantage "
                    f"of {dm} or more")
        if code == -1:
            return (f"the lower bound lies above 0 and the mean {mean} reaches the minimum effect {dm}: "
                    f"an advantage the claim denies")
        return (f"the upper bound reaches the minimum effect {dm}, so an advantage that large is not "
                f"excluded, yet it is not established either; run more seeds")
    # equivalent
    if code == 1:
        return f"both bounds lie strictly within ±{dm} (two one-sided tests)"
    if code == -1:
        if lo > 0:
            return (f"the lower bound lies above 0 and the mean {mean} reaches the minimum effect {dm}: "
                    f"a real difference, not equivalence")
        return (f"the upper bound lies below 0 and the mean {mean} reaches the minimum effect {ndm}: "
                f"a real difference, not equivalence")
    if margin == 0:
        return ("a minimum effect of 0 leaves no room to show equivalence; give the claim a positive "
                "minimum effect")
    return (f"the interval is not contained in ±{dm}, so equivalence is not shown, yet no difference of "
            f"{dm} or more is established either; run more seeds")


# -- the decision ----------------------------------------------------------------------------------

def decide(a: Sequence[float], b: Sequence[float], kind: str, margin: float,
           relative: bool = False, unit: str = "", scale: float = 1.0) -> Verdict:
    """Decide a claim from per-seed metrics ``a`` (the side the claim is about) and ``b``.

    ``a`` and ``b`` are paired by seed. ``margin`` is the claim's minimum effect δ >= 0, in the
    same units as the differences (a fraction of ``b`` when ``relative``; below 1 for relative
    *less* and *equivalent* claims). Numbers in the reason are shown as ``value*scale + unit``; with
    ``relative=True`` and the default ``unit``/``scale`` they are shown in percent. See the module
    docstring for the rules.
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
    neg, pos = _margins(margin, relative, kind)
    if relative and unit == "" and scale == 1.0:
        unit, scale = "%", 100.0

    av, bv = _as_vector(a, "a"), _as_vector(b, "b")
    d = paired_differences(av, bv, relative=relative)
    n = int(d.size)
    diffs = tuple(float(x) for x in d)
    nan = math.nan
    extra = dict(margin=margin, relative=bool(relative))

    bad = [i for i in range(n) if math.isnan(av[i]) or math.isnan(bv[i])]
    if bad:
        which = ", ".join(str(i + 1) for i in bad)
        return Verdict(INCONCLUSIVE,
                       f"a run produced no number (NaN at seed pair {which} of {n}; diverged?), "
                       f"so the comparison cannot be made",
                       n, nan, nan, nan, diffs, **extra)
    if relative:
        bad = [str(i + 1) for i in range(n) if not (av[i] > 0 and bv[i] > 0)]
        if bad:
            return Verdict(INCONCLUSIVE,
                           f"seed pair {', '.join(bad)} of {n} has a value <= 0, so there is no finite log "
                           f"ratio a/b and the comparison cannot be made",
                           n, nan, nan, nan, diffs, **extra)
        work = paired_differences(av, bv, relative=True, log=True)
    else:
        work = d
    if not np.all(np.isfinite(work)):
        bad = [str(i + 1) for i in range(n) if not math.isfinite(work[i])]
        cause = "an infinite value or an overflowing ratio" if relative else "an infinite value; diverged?"
        return Verdict(INCONCLUSIVE,
                       f"seed pair {', '.join(bad)} of {n} gives no finite difference ({cause}), "
                       f"so the comparison cannot be made",
                       n, nan, nan, nan, diffs, **extra)
    if n < 2:
        m = float(d[0]) if n == 1 else nan
        reason = _ONE_SEED if n == 1 else "no seeds were run; run at least 2 seeds"
        return Verdict(INCONCLUSIVE, reason, n, m, nan, nan, diffs, **extra)

    m_a, se_a, df = _summarize(work)
    lo_a, hi_a = _bounds(m_a, se_a, df)
    m, se, lo, hi = float(m_a), float(se_a), float(lo_a), float(hi_a)
    code = int(_classify(kind, m, lo, hi, neg, pos))
    show = math.expm1 if relative else (lambda x: x)
    m_s, lo_s, hi_s = show(m), show(lo), show(hi)
    if se == 0:                      # zero spread: the interval is exactly the point
        lo_s = hi_s = m_s
    f = _Fmt(scale, unit, m_s, lo_s, hi_s, margin)
    clause = _clause(kind, code, m, lo, hi, neg, pos, margin, m_s, f)
    level = f"{CONFIDENCE * 100:g}%"
    what = "mean change of a over b" if relative else "mean difference"
    on = "log ratios" if relative else "the per-seed differences"
    how = f"paired t on {on}, df={df:g}"
    reason = (f"{what} {f.val(m_s)}, {level} t-interval {f.ci(lo_s, hi_s)} (one-sided 95% bounds) over "
              f"{n} seeds ({how}): {clause}")
    if df < 2:
        reason += (f" (at {df:g} df the one-sided 95% t quantile is {t_quantile(df):.2f}, against 1.64 with "
                   f"many seeds, so only large, consistent effects are decided)")
    return Verdict(_CODES[code], reason, n, m_s, lo_s, hi_s, diffs, margin=margin, confidence=CONFIDENCE,
                   rule=RULE, df=float(df), relative=bool(relative))
