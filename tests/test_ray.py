"""The Ray executor (``--bnbench-executor ray``): runs trained as tasks on a local Ray cluster (loopback only, 2
CPUs) give the records, verdicts and values of the same runs trained in-process; a worker killed mid-run is retried
and nothing finished is lost; without Ray the option is one usage line naming the extra. Through a fake Ray
(``FakeRay``, no cluster): what a task returns is checked against what was submitted, its error text is escaped,
ray.init leaves bnbench's SIGTERM handler in place, and a bad or dead address is one line before ray.init.

The tests on a real cluster are skipped where Ray is not installed; the fake's need no Ray.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from factories import run_record
from test_plugin import synthetic_conftest

ROOT = Path(__file__).resolve().parent.parent

SECTION = textwrap.dedent('''
    import pytest
    from bnbench.study.catalog import CLAIMS, EXPERIMENTS

    EXPS = [EXPERIMENTS[k] for k in ("1.1/base-nll", "1.1/tanh")]

    @pytest.mark.parametrize("experiment", EXPS, ids=str)
    def test_train(experiment, train_experiment):
        train_experiment(experiment)

    @pytest.mark.parametrize("claim", [CLAIMS["1.1/relu-beats-tanh"]], ids=str)
    def test_claim(claim, check_claim):
        check_claim(claim)
''')
TINY = ("--bnbench-epochs", "1", "--bnbench-subset", "10", "--bnbench-seeds", "2", "--benchmark-disable")


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("BNBENCH_DATA", "RAY_ADDRESS")}
    # The checkout under test first (a worktree beside an editable install); Ray's workers inherit it. One thread
    # per training run in both paths: a Ray task that asks for 1 CPU trains on 1 thread (OMP_NUM_THREADS=1), and
    # CPU float sums depend on the thread count, so the local run uses the same for equal numbers.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.update({"XDG_CACHE_HOME": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", "RAY_ADDRESS": "local",
                "RAY_USAGE_STATS_ENABLED": "0"}, **extra)
    return env


def _pytest(tmp_path, out, *args, env=None, timeout=150):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--bnbench-out", str(out),
                           *TINY, *args, str(tmp_path / "test_section.py")],
                          capture_output=True, text=True, cwd=tmp_path, env=env or _env(tmp_path), timeout=timeout)


def test_without_ray_the_option_is_one_usage_line_naming_the_extra(tmp_path):
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    (tmp_path / "test_section.py").write_text("def test_x():\n    pass\n")
    env = _env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "noray"), env["PYTHONPATH"]])
    proc = _pytest(tmp_path, tmp_path / "out", "--bnbench-executor", "ray", env=env, timeout=60)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 4, text
    assert "Traceback" not in text
    line = next(l for l in text.splitlines() if l.startswith("ERROR:"))
    assert "[ray]" in line and "pip install" in line, line


@pytest.fixture(scope="module")
def ray():
    return pytest.importorskip("ray")


# -- a fake Ray: what comes back from a task, chosen by the test, without a cluster --------------------------------

class FakeRay:
    """Ray's API as RayExecutor uses it, in this process: a task's training is ``work(config_dict)``, so a test
    chooses what a worker returns (a record, something else, an error) without training anything. ``init`` does to
    the driver's SIGTERM handler what ray.init does (sys.exit), and records the addresses it was called with."""

    def __init__(self, work):
        self.work, self.initialized, self.inits = work, False, []

    def is_initialized(self):
        return self.initialized

    def init(self, address=None, **kwargs):
        self.inits.append(address)
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
        self.initialized = True

    def shutdown(self):
        self.initialized = False

    def cluster_resources(self):
        return {"CPU": 2.0}

    def put(self, value):
        return value

    def remote(self, **options):
        return lambda fn: _FakeTask(self.work)

    def get(self, ref):
        return ref()

    def wait(self, refs, num_returns, timeout):
        return list(refs), []

    def cancel(self, ref, force):
        pass


class _FakeTask:
    def __init__(self, work):
        self.work = work

    def options(self, **resources):
        return self

    def remote(self, config_dict, data_ref, device, cuda_graphs, command=()):
        return lambda: self.work(config_dict)


@contextlib.contextmanager
def fake_ray(work):
    """RayExecutors made inside get a FakeRay running ``work``; the SIGTERM handler is put back afterwards."""
    import bnbench.executors as executors

    fake, saved, handler = FakeRay(work), executors.require_ray, signal.getsignal(signal.SIGTERM)
    executors.require_ray = lambda: fake
    try:
        yield fake
    finally:
        executors.require_ray = saved
        signal.signal(signal.SIGTERM, handler)


def returned_record(config_dict: dict) -> dict:
    """What an honest task returns for ``config_dict``: a finished record of it, as the store's JSON dict."""
    from bnbench.engine.config import TrainConfig
    from bnbench.store.formats import record_to_json

    return record_to_json(run_record(0.5, config=config_dict, config_hash=TrainConfig.from_dict(config_dict).hash,
                                     finished_at="t1"))


def test_ctrl_c_writes_only_the_returns_that_are_the_runs_submitted(tmp_path):
    """Runner.keep_finished (Ctrl-C under Ray): a finished task whose record is another configuration's is named
    in one line and not written; the honest one is written."""
    from bnbench.runner import Options, Runner
    from bnbench.study.catalog import EXPERIMENTS

    def work(config_dict):
        return returned_record({**config_dict, "lr": 0.5} if config_dict["seed"] == 1 else config_dict)

    said = []
    with fake_ray(work):
        runner = Runner(Options(out=str(tmp_path / "out"), executor="ray", seeds=2, epochs=1, subset=10))
        runner._data, runner.say = "data", said.append
        profile = runner.profile("smoke")
        for seed in (0, 1):
            assert runner.cache.prefetch(EXPERIMENTS["1.1/base-nll"], profile, seed)
        assert runner.cache.keep_finished() == 1
    (written,) = (tmp_path / "out" / "records").rglob("*.json")
    assert "seed0" in written.name and runner.trained == 1
    (line,) = [l for l in said if "refused" in l]
    assert "1.1/base-nll seed 2/2" in line and "hashes to" in line and "\n" not in line, line


def test_a_tasks_error_text_reaches_the_terminal_escaped():
    from bnbench.executors import ExecutorError, RayExecutor

    def work(config_dict):
        raise RuntimeError("boom \x1b]52;c;ZXZpbA==\x07 \u202e\x1b[2J")

    with fake_ray(work):
        executor = RayExecutor(say=lambda line: None)
        with pytest.raises(ExecutorError) as info:
            executor.train(_config(), "data", device="cpu", label="1.1/base-nll seed 1/1")
    message = str(info.value)
    assert "boom" in message and "\\x1b" in message and "\\u202e" in message, message
    assert not any(ch in message for ch in "\x1b\x07\u202e\n"), message


def test_sigterm_on_the_driver_keeps_bnbenchs_handler_after_ray_init():
    """ray.init installs its own SIGTERM handler (sys.exit: a traceback and exit 134 instead of the Ctrl-C path):
    the handler in place before (the plugin's) is put back."""
    from bnbench.executors import RayExecutor

    def ours(signum, frame):
        raise KeyboardInterrupt

    with fake_ray(returned_record) as fake:
        signal.signal(signal.SIGTERM, ours)
        RayExecutor(say=lambda line: None).start()
        assert fake.inits and signal.getsignal(signal.SIGTERM) is ours


@pytest.mark.parametrize("address, env", [("127.0.0.1:1", None), ("ray://127.0.0.1:1", None),
                                          ("auto", "127.0.0.1:1")], ids=["HOST:PORT", "ray://", "stale RAY_ADDRESS"])
def test_an_address_where_nothing_answers_is_one_line_within_seconds(address, env, monkeypatch):
    """ray.init retries a dead address for minutes (831 s measured): a bounded probe answers first, before ray.init
    is ever called."""
    from bnbench.errors import ConfigError
    from bnbench.executors import RayExecutor

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if env:
        monkeypatch.setenv("RAY_ADDRESS", env)
    with fake_ray(returned_record) as fake:
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            RayExecutor(address=address, say=lambda line: None).start()
        assert time.monotonic() - started < 10 and not fake.inits
    message = str(info.value)
    assert "\n" not in message and "nothing answers at 127.0.0.1:1" in message, message
    assert ("RAY_ADDRESS" in message) == bool(env), message


def test_an_empty_or_foreign_address_is_a_usage_line_not_internalerror(tmp_path):
    (tmp_path / "test_section.py").write_text("def test_x():\n    pass\n")
    for address in ("", "http://head:6379"):
        proc = _pytest(tmp_path, tmp_path / "out", "--bnbench-executor", "ray", "--bnbench-ray-address", address,
                       timeout=60)
        text = proc.stdout + proc.stderr
        assert proc.returncode == 4 and "INTERNALERROR" not in text and "Traceback" not in text, text
        line = next(l for l in text.splitlines() if l.startswith("ERROR:"))
        assert "--bnbench-ray-address" in line and "HOST:PORT" in line, line


def test_a_section_through_ray_equals_the_local_run(ray, tmp_path):
    """Records written, claims decided on the driver, summary equal (verdicts and values) to the local run's."""
    (tmp_path / "conftest.py").write_text(synthetic_conftest(400, 400))
    (tmp_path / "test_section.py").write_text(SECTION)
    local = _pytest(tmp_path, tmp_path / "local")
    assert local.returncode == 0, local.stdout + local.stderr
    remote = _pytest(tmp_path, tmp_path / "ray", "--bnbench-executor", "ray")
    assert remote.returncode == 0, remote.stdout + remote.stderr
    assert "bnbench: training runs go to a local Ray instance" in remote.stdout, remote.stdout
    assert "training runs submitted to Ray" in remote.stdout

    def records(out):
        return {p.relative_to(out): json.loads(p.read_text()) for p in sorted((out / "records").rglob("*.json"))}

    mine, theirs = records(tmp_path / "local"), records(tmp_path / "ray")
    assert sorted(mine) == sorted(theirs) and len(mine) == 6        # 3 experiments (the claim's included) x 2 seeds
    for name, rec in theirs.items():
        assert rec["step_loss"] == mine[name]["step_loss"], name
        assert [e["test_acc"] for e in rec["epochs"]] == [e["test_acc"] for e in mine[name]["epochs"]], name
        assert rec["finished_at"]
        assert "--bnbench-executor ray" in rec["env"]["command"], rec["env"]["command"]   # the user's, not Ray's
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("local", "ray"))
    assert b["trained_runs"] == 6 and not b["partial"]

    def decided(summary):
        return [(c["claim_id"], c["verdict"], c.get("values_a"), c.get("values_b"), c.get("mean_diff"))
                for c in summary["claims"]]

    assert decided(b) == decided(a) and len(decided(b)) == 1
    assert b["options"]["executor"] == "ray"


# -- in-process: the executor itself on a local cluster -----------------------------------------------------------

@pytest.fixture(scope="module")
def cluster(ray):
    """A local Ray instance for this module: 2 CPUs, no dashboard, on the loopback address. Its workers inherit
    this process's environment, with the checkout under test first on PYTHONPATH."""
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "RAY_USAGE_STATS_ENABLED")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [saved["PYTHONPATH"]] if p])
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False)
        yield ray
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _config(seed=0, **changes):
    from bnbench.engine.config import TrainConfig

    return TrainConfig(model="MyNet", batch_size=20, epochs=1, train_per_class=10, test_per_class=10, seed=seed,
                       deterministic=True, **changes)


def _local(config, data):
    import torch

    from bnbench.engine.train import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # as a 1-CPU Ray task does (OMP_NUM_THREADS=1)
    try:
        return train(config, data, device="cpu")
    finally:
        torch.set_num_threads(threads)


def test_deterministic_cpu_run_through_ray_is_the_local_run(cluster, synthetic_data):
    ray = cluster
    from bnbench.executors import RayExecutor

    data = synthetic_data(n_train=200, n_test=100, seed=0)
    executor = RayExecutor(say=lambda line: None)
    executor.start()
    config = _config(seed=3)
    remote = executor.train(config, data, device="cpu", label="MyNet seed 3")
    local = _local(config, data)
    assert remote.config_hash == local.config_hash == config.hash
    assert remote.step_loss == local.step_loss
    assert [e["test_acc"] for e in remote.epochs] == [e["test_acc"] for e in local.epochs]
    assert remote.final_test_loss == local.final_test_loss
    executor.shutdown()
    assert ray.is_initialized()      # a cluster it did not start is left running


def _kill_first_training_worker(stop: threading.Event, killed: list[int]) -> None:
    """Find a Ray worker while it trains a bnbench run (its process title is ray::bnbench_train) and SIGKILL it,
    once."""
    from bnbench.executors import TASK_NAME

    while not stop.is_set() and not killed:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(f"ray::{TASK_NAME}".encode()):
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.02)


def _with_a_kill(fn):
    stop, killed = threading.Event(), []
    thread = threading.Thread(target=_kill_first_training_worker, args=(stop, killed), daemon=True)
    thread.start()
    try:
        return fn(), killed
    finally:
        stop.set()
        thread.join(5)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker through /proc")
def test_a_worker_killed_mid_run_is_retried_and_nothing_finished_is_lost(cluster, synthetic_data, tmp_path):
    """Two runs on the cluster; the worker of one is killed while it trains: Ray retries it, both records come
    back through the driver's store, equal to the runs trained locally."""
    from bnbench.executors import RayExecutor
    from bnbench.runner import Options, Runner
    from bnbench.study.catalog import EXPERIMENTS
    from bnbench.study.profiles import get_profile, with_overrides

    data = synthetic_data(n_train=400, n_test=200, seed=0)
    runner = Runner(Options(out=str(tmp_path / "out"), executor="ray", seeds=2, epochs=2, subset=20))
    runner._data = data
    runner.cache.executor = RayExecutor(max_retries=2, say=lambda line: None)
    runner.cache.executor.start()
    experiment, profile = EXPERIMENTS["1.1/base-nll"], with_overrides(get_profile("smoke"), seeds=2, epochs=2,
                                                                      subset=20)
    for seed in range(2):
        assert runner.cache.prefetch(experiment, profile, seed)
    records, killed = _with_a_kill(lambda: runner.run_all(experiment, profile))
    assert killed, "no training worker was seen to kill (the runs finished first)"
    assert [r.finished_at for r in records] and all(r.finished_at for r in records)
    assert len(list((tmp_path / "out" / "records").rglob("*.json"))) == 2
    for seed, record in enumerate(records):
        assert runner.store.load_finished(experiment.id, profile.name, seed, record.config_hash) is not None
    runner.cache.close()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker through /proc")
def test_a_run_whose_worker_keeps_dying_fails_with_one_line_naming_it(cluster, synthetic_data):
    from bnbench.executors import ExecutorError, RayExecutor

    data = synthetic_data(n_train=400, n_test=100, seed=0)
    executor = RayExecutor(max_retries=0, say=lambda line: None)
    executor.start()
    config = _config(seed=5).replace(epochs=3, train_per_class=30, deterministic=False)
    executor.submit(config, data, device="cpu", cuda_graphs=True, label="1.1/base-nll seed 2/2")
    with pytest.raises(ExecutorError) as info:
        _with_a_kill(lambda: executor.result(config.hash))
    message = str(info.value)
    assert "1.1/base-nll seed 2/2" in message and "\n" not in message, message
    assert "Worker" in message or "worker" in message, message     # the reason: the worker died
    executor.shutdown()


def test_ctrl_c_keeps_the_runs_the_cluster_finished_and_cancels_the_rest(cluster, synthetic_data, tmp_path):
    """What the plugin does on Ctrl-C (``Runner.keep_finished``): every run the cluster finished is written
    through the driver's store, the others are cancelled."""
    from bnbench.executors import RayExecutor
    from bnbench.runner import Options, Runner
    from bnbench.study.catalog import EXPERIMENTS

    data = synthetic_data(n_train=400, n_test=200, seed=0)
    runner = Runner(Options(out=str(tmp_path / "out"), executor="ray", seeds=3, epochs=1, subset=10))
    runner._data = data
    runner.cache.executor = RayExecutor(say=lambda line: None)
    runner.cache.executor.start()
    profile = runner.profile("smoke")
    fast, slow = EXPERIMENTS["1.1/base-nll"], EXPERIMENTS["1.1/hidden-500"]
    assert runner.cache.prefetch(fast, profile, 0)
    for seed in (1, 2):
        assert runner.cache.prefetch(slow, profile, seed)
    first = runner.cache.executor._pending[next(iter(runner.cache.executor._pending))].ref
    cluster.wait([first], timeout=60)                              # the first run is done; others may be
    kept = runner.cache.keep_finished()
    assert kept >= 1
    assert not runner.cache.executor._pending                            # the rest cancelled
    assert len(list((tmp_path / "out" / "records").rglob("*.json"))) == kept
    fast_hash = next(h for h, (e, _p, s) in runner.cache._prefetched.items() if e is fast and s == 0)
    assert runner.store.load_finished(fast.id, profile.name, 0, fast_hash) is not None
    runner.cache.close()
