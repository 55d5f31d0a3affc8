"""pytest -n N on a CPU: the workers share the cores instead of each taking all of them."""
import os

import pytest
import torch

from bnbench.runner import share_cpu_threads


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("workers", [2, 3, 64])
def test_each_worker_takes_its_share(workers, threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)
    expected = max(1, 4 // workers)
    assert share_cpu_threads(workers) == expected
    assert torch.get_num_threads() == expected


@pytest.mark.parametrize("workers", [None, 0, 1])
def test_one_process_keeps_torch_default(workers, threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    assert share_cpu_threads(workers) is None and torch.get_num_threads() == before


def test_an_explicit_omp_num_threads_is_kept(threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    before = torch.get_num_threads()
    assert share_cpu_threads(4) is None and torch.get_num_threads() == before


def test_the_runner_shares_them_when_it_picks_the_cpu(threads, monkeypatch, tmp_path):
    from bnbench.runner import Options, Runner

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(2)), raising=False)
    torch.set_num_threads(2)
    runner = Runner(Options(out=str(tmp_path), device="cpu"), worker="gw1", workers=2)
    assert runner.device.type == "cpu" and torch.get_num_threads() == 1
