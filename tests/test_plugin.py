"""The pytest plugin as a user meets it: options, no torch at load time, profile selection, clear errors."""
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

BENCH = textwrap.dedent('''
    def test_uses_data(bnbench_data):
        assert len(bnbench_data.train_y) > 0

    def test_profile(bnbench_profile):
        assert bnbench_profile.seeds >= 1
''')


def run_pytest(tmp_path, *args, env_extra=None):
    (tmp_path / "test_bench.py").write_text(BENCH)
    env = {k: v for k, v in os.environ.items() if k != "BNBENCH_DATA"}
    env.update(env_extra or {})
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")     # never the user's real cache, never a download
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path / "test_bench.py"),
                           "--bnbench-out", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def test_importing_the_plugin_imports_no_torch():
    code = "import sys, bnbench.plugin; sys.exit(1 if {'torch', 'matplotlib'} & set(sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_help_lists_the_options():
    out = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True).stdout
    for opt in ("--bnbench-data", "--bnbench-device", "--bnbench-out", "--bnbench-seeds", "--bnbench-epochs",
                "--bnbench-subset", "--bnbench-strict", "--bnbench-resume", "--bnbench-no-cuda-graphs",
                "--bnbench-executor", "--bnbench-ray-address"):
        assert opt in out


def test_plain_run_selects_smoke_and_markers_select_larger_profiles(tmp_path):
    plain = run_pytest(tmp_path, "--collect-only", "-q")
    assert "test_profile[smoke]" in plain.stdout and "test_profile[full]" not in plain.stdout
    full = run_pytest(tmp_path, "--collect-only", "-q", "-m", "full")
    assert "test_profile[full]" in full.stdout and "test_profile[smoke]" not in full.stdout


def _one_line_error(proc, *needles):
    text = proc.stdout + proc.stderr
    assert proc.returncode == 4, text                    # pytest's usage error: nothing ran
    assert "Traceback" not in text, text
    line = next(l for l in text.splitlines() if l.startswith("ERROR:"))
    for needle in needles:
        assert needle in line, line


def test_missing_data_is_one_clear_line(tmp_path):
    proc = run_pytest(tmp_path, "--bnbench-data", str(tmp_path / "nowhere"), env_extra={"BNBENCH_OFFLINE": "1"})
    _one_line_error(proc, str(tmp_path / "nowhere"), "--bnbench-data", "BNBENCH_DATA")


def _batches_dir(tmp_path):
    d = tmp_path / "data" / "cifar-10-batches-py"
    d.mkdir(parents=True)
    return d


def test_corrupt_batch_is_one_clear_line(tmp_path):
    d = _batches_dir(tmp_path)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(b"\x80\x02}q\x00(X\x04\x00\x00\x00da")   # a pickle cut short
    proc = run_pytest(tmp_path, "--bnbench-data", str(tmp_path / "data"))
    _one_line_error(proc, "data_batch_1")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_with_a_foreign_global_is_refused(tmp_path):
    d = _batches_dir(tmp_path)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(pickle.dumps({"data": _Evil(), "labels": [0]}, protocol=4))
    proc = run_pytest(tmp_path, "--bnbench-data", str(tmp_path / "data"))
    _one_line_error(proc, "system")
    assert "pwned" not in proc.stdout


@pytest.mark.parametrize("args, needle", [(["--bnbench-seeds", "0"], "--bnbench-seeds"),
                                          (["--bnbench-epochs", "two"], "--bnbench-epochs"),
                                          (["--bnbench-device", "tpu"], "--bnbench-device")])
def test_bad_option_values_are_usage_errors(tmp_path, args, needle):
    proc = run_pytest(tmp_path, "--collect-only", *args)
    _one_line_error(proc, needle)


def test_unwritable_output_folder_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    (tmp_path / "test_bench.py").write_text("def test_x(bnbench_out):\n    pass\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path / "test_bench.py"),
                           "--bnbench-out", str(blocker / "sub")], capture_output=True, text=True, timeout=120)
    _one_line_error(proc, "--bnbench-out")


def synthetic_conftest(n_train: int, n_test: int) -> str:
    """A conftest that hands the bnbench session a learnable synthetic set, for subprocess pytest runs: through the
    public hook a study uses for its own data (``bnbench.hookspec.pytest_bnbench_load_data``)."""
    return textwrap.dedent(f'''
        import bnbench

        def pytest_bnbench_load_data(config):
            return bnbench.synthetic_cifar(n_train={n_train}, n_test={n_test}, seed=0)
    ''')
XDIST_BENCH = textwrap.dedent('''
    import pytest
    from bnbench.study.catalog import CLAIMS, EXPERIMENTS

    EXPS = [EXPERIMENTS[k] for k in ("1.1/base-nll", "1.1/hidden-500", "1.1/tanh", "1.1/adagrad")]

    @pytest.mark.parametrize("experiment", EXPS, ids=str)
    def test_train(experiment, train_experiment):
        train_experiment(experiment)

    @pytest.mark.parametrize("claim", [CLAIMS["1.1/relu-beats-tanh"], CLAIMS["1.1/nll-beats-adagrad"]], ids=str)
    def test_claim(claim, check_claim):
        check_claim(claim)
''')


def test_two_xdist_workers_share_one_run_without_losing_or_repeating_a_record(tmp_path):
    import json

    (tmp_path / "conftest.py").write_text(synthetic_conftest(400, 400))
    (tmp_path / "test_xdist.py").write_text(XDIST_BENCH)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "-q",
                           "--bnbench-out", str(out), "--bnbench-subset", "30", "--bnbench-epochs", "2",
                           "--benchmark-disable", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = sorted((out / "records").rglob("*.json"))
    assert len(records) == 4                                  # one per experiment (smoke: one seed)
    for path in records:                                      # the user's command, not the worker's "-c"
        command = json.loads(path.read_text())["env"]["command"]
        assert command.startswith("python -m pytest") and "--bnbench-subset 30" in command, command
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trained_runs"] == 4                       # nothing trained twice across the workers
    assert sorted(c["claim_id"] for c in summary["claims"]) == ["1.1/nll-beats-adagrad", "1.1/relu-beats-tanh"]
    assert not list((out / ".workers").glob("*.json"))        # every worker's share was merged
    assert "bnbench summary" in proc.stdout
