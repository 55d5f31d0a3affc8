"""bnbench.numbers: the one median and mean, and the NaN/None conversions. Torch-free."""
import math
import statistics
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from bnbench.numbers import finite, finite_or_none, mean, median, nan_if_none

FLOATS = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@given(st.lists(FLOATS, min_size=1, max_size=30))
@settings(max_examples=200)
def test_median_is_statistics_median_on_finite_input(xs):
    """Where the engine used statistics.median (speed, timing) the numbers do not move."""
    assert median(xs) == statistics.median(xs)


@given(st.lists(FLOATS, min_size=1, max_size=30), st.integers(0, 5))
@settings(max_examples=100)
def test_nan_is_skipped(xs, n_nan):
    assert median(xs + [math.nan] * n_nan) == median(xs)
    assert mean([math.nan] * n_nan + xs) == mean(xs) == sum(xs) / len(xs)


def test_edges():
    assert math.isnan(median([])) and math.isnan(median([math.nan])) and math.isnan(mean([]))
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([1.0, math.inf, 2.0]) == 2.0
    assert finite([1, None, math.nan, math.inf, -2.5]) == [1.0, -2.5] and finite(None) == []
    assert finite_or_none(1.5) == 1.5 and finite_or_none(math.nan) is None and finite_or_none(-math.inf) is None
    assert finite_or_none(None) is None and finite_or_none("1") is None
    assert math.isnan(nan_if_none(None)) and nan_if_none(2) == 2.0


def test_torch_free():
    code = "import sys, bnbench.numbers; assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
