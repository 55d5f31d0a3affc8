"""Fixtures shared by the test modules.

Where the shared builders live, and why:

- The builders themselves are plain functions in ``tests/factories.py`` (``synthetic``, ``run_record``,
  ``epoch_row``), imported by the tests (``from factories import run_record``). A plain function can be called from
  module-level code (a module constant, a parametrize list, a helper such as test_claims' ``decide``), which a
  fixture cannot; this conftest puts ``tests/`` on ``sys.path`` so that the import works under any
  ``--import-mode``.
- ``synthetic_data`` (session scope) hands tests that builder for the synthetic CIFAR set. Each module states the
  size and seed it needs (``synthetic_data(n_train=230, n_test=60, seed=3)``): the assertions depend on them (batch
  counts, step counts, accuracy reached). A set is built once per process for each size and seed and shared by
  every module that asks for it, ``tests/test_catalog.py``'s module-level set included once it calls
  ``factories.synthetic``.
- Shared sets must stay as built: after each test module the sets handed out so far are compared with their
  fingerprints at creation, and a set changed in place fails that module (the code under test must never write
  into its input data; a test that did would silently change the data of every later test).
- RunRecords have no fixture: ``factories.run_record`` is called directly, usually from small helpers.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import factories  # noqa: E402


@pytest.fixture(scope="session")
def synthetic_data():
    """``synthetic_data(n_train, n_test, seed=0, classes=10)``: the learnable synthetic CIFAR set of that size,
    built once per session (``factories.synthetic``). Read-only."""
    return factories.synthetic


@pytest.fixture(scope="module", autouse=True)
def _shared_synthetic_sets_are_unchanged():
    yield
    changed = factories.changed_synthetic_sets()
    assert not changed, f"a test or the code under test wrote into shared data: {', '.join(changed)}"


@pytest.fixture(autouse=True)
def _subprocesses_are_not_xdist_workers(monkeypatch):
    """Under ``pytest -n``, a worker's environment says it is one (PYTEST_XDIST_WORKER, ...), and a pytest this test
    starts in a subprocess inherits it: pytest-benchmark then disables its benchmarks there as if that pytest ran
    under xdist (tests/test_end_of_run.py saw no epoch-time tables). The variables go for the test's duration."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
