"""Summary numbers shared by the engine, the verdicts and the outputs: one median, one mean, one rule for what
counts as a number. Torch-free and numpy-free.

Missing values are NaN inside bnbench (a diverged run's final accuracy) and None in JSON (which has no NaN);
``finite_or_none`` and ``nan_if_none`` convert between the two. ``median`` and ``mean`` skip NaN (a missing value)
but not None: convert with ``nan_if_none`` first, so a None that should not be there still fails loudly.
"""
from __future__ import annotations

import math
from typing import Iterable


def median(xs: Iterable[float]) -> float:
    """The median of ``xs`` with NaN skipped: the middle value, or the mean of the two middle values for an even
    count (as ``statistics.median``, which gives the same floats for NaN-free input); NaN when nothing is left.
    Infinities count: they sort to the ends."""
    values = sorted(x for x in xs if not math.isnan(x))
    if not values:
        return math.nan
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def mean(xs: Iterable[float]) -> float:
    """The arithmetic mean of ``xs`` with NaN skipped (plain left-to-right summation); NaN when nothing is left."""
    values = [x for x in xs if not math.isnan(x)]
    return sum(values) / len(values) if values else math.nan


def finite(xs: Iterable | None) -> list[float]:
    """The finite values of ``xs`` as floats, in order (None, NaN and infinities dropped; None for ``xs`` is [])."""
    return [float(x) for x in xs or [] if x is not None and math.isfinite(x)]


def finite_or_none(x):
    """``x`` if it is a finite number, else None: NaN and inf are not JSON."""
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def nan_if_none(x) -> float:
    """None (a number JSON could not hold) back to NaN; any other value as a float."""
    return math.nan if x is None else float(x)
