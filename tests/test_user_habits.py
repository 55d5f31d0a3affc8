"""What a pytest user does out of habit, and what it must give: the benchmarks on a benchmark-only install (no
hypothesis), --lf / --ff / --sw, a mistyped -m, a run that cannot start, and the bnbench command's patterns."""
import os
import subprocess
import sys
from pathlib import Path

from bnbench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _pytest(cwd, *args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "BNBENCH_DATA"}
    env.update({"XDG_CACHE_HOME": str(Path(cwd) / "cache"), **(env_extra or {})})   # never the user's cache
    return subprocess.run([sys.executable, "-m", "pytest", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def test_the_benchmarks_are_collected_without_hypothesis(tmp_path):
    """`pip install -e .` (no test extra) has no hypothesis: an import of it raises, and its pytest plugin is not
    there. The repository's conftest.py must not need it."""
    (tmp_path / "hypothesis.py").write_text("raise ImportError('No module named hypothesis (blocked)')\n")
    proc = _pytest(ROOT, "benchmarks", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                   env_extra={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test_claim[smoke-1.1/hidden-500-beats-100]" in proc.stdout


def test_last_failed_works_under_the_projects_settings(tmp_path):
    """The project's pytest settings keep pytest's cache: --lf / --ff / --sw rerun what failed (what a quick or full
    run needs most). The cache goes to the root folder's .pytest_cache/, which .gitignore lists."""
    (tmp_path / "test_two.py").write_text("def test_ok():\n    pass\n\n\ndef test_bad():\n    assert False\n")
    args = ("-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), "-q", str(tmp_path / "test_two.py"))
    assert _pytest(tmp_path, *args).returncode == 1
    again = _pytest(tmp_path, *args, "--lf")
    assert again.returncode == 1 and "1 failed, 1 deselected" in again.stdout, again.stdout + again.stderr
    assert (tmp_path / ".pytest_cache").is_dir() and ".pytest_cache/" in (ROOT / ".gitignore").read_text()


def test_a_mistyped_marker_gets_a_hint_naming_bnbenchs_markers(tmp_path):
    (tmp_path / "test_bench.py").write_text("def test_x(bnbench_profile):\n    pass\n")
    (tmp_path / "test_other.py").write_text("def test_y():\n    pass\n")
    out = ("--bnbench-out", str(tmp_path / "out"))
    typo = _pytest(tmp_path, "test_bench.py", "-m", "quik", *out)
    assert typo.returncode == 5
    hint = [line for line in typo.stdout.splitlines() if "no marker is named 'quik'" in line]
    assert hint and "did you mean 'quick'" in hint[0] and "smoke, quick, full, speed" in hint[0], typo.stdout
    for args in (("test_bench.py", "-m", "quick"),       # a known marker: bnbench's items selected, no hint
                 ("test_other.py", "-m", "quik")):       # another project's items: not bnbench's to explain
        proc = _pytest(tmp_path, *args, *out)
        assert "bnbench's markers" not in proc.stdout, proc.stdout


def test_a_run_that_cannot_start_says_why_before_its_last_line(tmp_path):
    """pytest prints a usage error after its closing "no tests ran" line, where it reads like a footnote to a
    success: bnbench's errors come before it. A smoke run with more seeds is told what decides the claims."""
    (tmp_path / "test_bench.py").write_text("def test_x(bnbench_data):\n    pass\n")
    proc = _pytest(tmp_path, "test_bench.py", "--bnbench-data", str(tmp_path / "nowhere"), "--bnbench-seeds", "2",
                   "--bnbench-out", str(tmp_path / "out"), env_extra={"BNBENCH_OFFLINE": "1"})
    lines = (proc.stdout + proc.stderr).splitlines()
    assert proc.returncode == 4
    error = [i for i, line in enumerate(lines) if line.startswith("ERROR:")]
    last = [i for i, line in enumerate(lines) if "no tests ran" in line]
    assert len(error) == 1 and "nowhere" in lines[error[0]] and error[0] < last[-1], lines
    assert any("-m quick (or -m full) decides" in line for line in lines), lines


def test_names_are_matched_by_prefix_wildcard_and_any_case(capsys):
    assert main(["claims", "1.1"]) == 0
    out = capsys.readouterr().out
    assert "1.1/relu-beats-tanh" in out and "1.1/hidden-500-beats-100" in out and "1.2/" not in out
    assert main(["claims", "2.2/BN*"]) == 0
    assert "2.2/bn-band-lower" in capsys.readouterr().out
    assert main(["models", "vgg*"]) == 0
    out = capsys.readouterr().out
    assert "VGG_A_BatchNorm" in out and "VGGNet" in out and "MyNet" not in out
    assert main(["models", "vgg_a"]) == 0                   # a whole name is that model alone
    assert capsys.readouterr().out.count("parameters") == 1
    assert main(["experiments", "2.1"]) == 0
    assert "2.1/vgg-a-bn" in capsys.readouterr().out


def test_a_name_that_matches_nothing_offers_the_closest(capsys):
    for args, close in ((["claims", "1.1/relu-beat-tanh"], "1.1/relu-beats-tanh"), (["models", "resnt"], "ResNet")):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"did you mean {close}" in err, err
    assert main(["claims", "nosuch"]) == 2
    assert "known: 1.1/nll-beats-cross-entropy" in capsys.readouterr().err
