"""The hooks a study's conftest.py (or any pytest plugin) implements to change what bnbench does, in the style of
pytest-benchmark's ``hookspec.py`` (and named like its ``pytest_benchmark_*``: pytest looks for hook
implementations among ``pytest_``-prefixed names only). Each is a plain pytest hook: define a function of the same
name in a conftest.py or a plugin; pytest passes the arguments it names.
"""
import pytest


@pytest.hookspec(firstresult=True)
def pytest_bnbench_load_data(config):
    """Return the data to train and test on, instead of CIFAR-10 read from ``--bnbench-data``: a
    ``bnbench.CIFAR10(train_x, train_y, test_x, test_y, source)`` with images as uint8 tensors (N, 3, 32, 32) on the
    CPU, labels as int64 tensors of class indices 0..9, every class present in both splits, and ``source`` a line
    saying where the data comes from (it goes into every record). Return None to leave CIFAR-10 in place. The first
    non-None answer wins. Called once per process (each xdist worker asks again); with ``--bnbench-executor ray``
    the data reaches the cluster's workers through Ray's object store, as CIFAR-10 does."""


@pytest.hookspec
def pytest_bnbench_modify_result(config, result, claim):
    """Called with each decided claim's ``ClaimResult`` (and its ``Claim``) before it joins the summary: change
    ``result`` in place (add to ``result.notes`` or ``result.extra``); the verdict is bnbench's to keep. Changes
    are written to summary.json and shown by ``bnbench summary`` and ``report``."""


@pytest.hookspec
def pytest_bnbench_modify_summary(config, summary):
    """Called with the run's ``Summary`` just before summary.json is written (by the process that writes it: the
    xdist controller under ``-n``): change it in place, e.g. add notes to its results."""
