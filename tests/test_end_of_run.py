"""The end of a run on one screen: the count of each verdict, one line per claim, why a claim is not supported
(wrapped, never cut), where the report is; pytest-benchmark's tables only when asked for; after Ctrl-C, what was
kept, without a warning about a benchmark the interruption left unused."""
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

from bnbench.study.catalog import CLAIMS
from bnbench.verdicts.evaluate import ClaimResult
from bnbench.verdicts.stats import decide
from factories import sigint_default
from test_plugin import synthetic_conftest

WHY = "the 90% interval [-0.30, +1.60] pp includes both 0 and the 1 pp margin; more seeds would decide it"


def _results():
    results = []
    for i, claim_id in enumerate(CLAIMS):
        stats = decide([0.70 + 0.01 * i, 0.71, 0.72], [0.60, 0.61, 0.63], "greater", 0.01)
        verdict = "inconclusive" if i % 2 else stats.verdict
        results.append(ClaimResult(claim_id, "quick", verdict, f"{verdict}: {WHY}" if i % 2 else f"{verdict}: ok",
                                   [0.7, 0.71, 0.72], [0.6, 0.61, 0.63], stats=stats))
    return results


def test_every_claim_on_one_line_and_why_wrapped_never_cut():
    from bnbench.outputs.table import overview, render

    results = _results()
    text = render([overview(results, 80)], width=80)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in text
    assert lines[0] == "16 claims at quick scale: 8 supported, 0 contradicted, 8 inconclusive"
    assert lines[1].split() == ["claim", "verdict", "effect", "[90%", "t-interval]", "n"]
    for r, line in zip(results, lines[2:18]):       # one line each: id, verdict, effect [interval], n
        assert line.split()[:2] == [r.claim_id, r.verdict] and line.endswith(" 3") and "[" in line, line
    assert lines[18] == "margins: bnbench report, or a terminal of 85 columns"   # what did not fit, and where it is
    inconclusive = [r.claim_id for r in results if r.verdict == "inconclusive"]
    assert " ".join(" ".join(lines[19:]).split()) == f"why ({', '.join(inconclusive)}): {WHY}"
    assert len(lines) <= 24                          # one screen for the whole study


def test_a_wide_terminal_adds_the_margins_and_one_why_serves_claims_that_share_it():
    from bnbench.outputs.table import overview, render

    results = [r for r in _results() if r.verdict == "inconclusive"][:3]
    lines = render([overview(results, 120)], width=120).splitlines()
    assert lines[1].split()[-2:] == ["margin", "n"]
    assert [line.split("]")[-1].split() for line in lines[2:5]] == [["0.0001", "3"], ["pp", "1", "pp", "3"]] + [
        ["pp", "1", "pp", "3"]]
    assert lines[5:] == [f"why (all 3): {WHY}"]


BENCH = textwrap.dedent('''
    import pytest
    from bnbench.study.catalog import CLAIMS, EXPERIMENTS

    @pytest.mark.parametrize("experiment", [EXPERIMENTS["1.1/hidden-500"], EXPERIMENTS["1.1/tanh"]], ids=str)
    def test_train(experiment, train_experiment):
        train_experiment(experiment)

    def test_claim(check_claim):
        check_claim(CLAIMS["1.1/relu-beats-tanh"])
''')


def _pytest(tmp_path, *args):
    (tmp_path / "conftest.py").write_text(synthetic_conftest(100, 100))
    (tmp_path / "test_bench.py").write_text(BENCH)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--bnbench-out",
                           str(tmp_path / "out"), "--bnbench-epochs", "1", "--bnbench-subset", "3", *args,
                           str(tmp_path / "test_bench.py")], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)


def test_the_end_of_a_run_is_the_overview_and_where_the_report_is(tmp_path):
    proc = _pytest(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    end = proc.stdout.split(" bnbench summary ")[1].splitlines()[1:-1]
    out = tmp_path / "out"
    cores = len(os.sched_getaffinity(0))     # the device named before training: CPU model, threads of cores
    assert re.search(rf"^bnbench: training on cpu \(.+, \d+ threads? of {cores} cores\)$", proc.stdout, re.M), \
        proc.stdout
    assert end[0] == "1 claim at smoke scale: 0 supported, 0 contradicted, 1 inconclusive", end
    assert end[1].split() == ["claim", "verdict", "effect", "margin", "n"], end
    assert end[2].split()[:2] == ["1.1/relu-beats-tanh", "inconclusive"] and end[2].split()[3:] == ["pp", "1", "pp",
                                                                                                     "1"], end
    assert " ".join(" ".join(end[3:5]).split()) == ("why (1.1/relu-beats-tanh): machinery check only; one seed cannot "
                                                    "separate an effect from seed-to-seed noise; run at least 2 seeds")
    assert end[5:] == [f"results page: {out / 'report.html'}",
                       f"records, plots and summary.json: {out}",
                       "pytest-benchmark's epoch-time tables: --bnbench-benchmark-tables"], end
    page = (out / "report.html").read_text()    # written by the run: the overview first, each claim to its figure
    overview = page.split("<h2>Verdicts</h2>")[1].split("<h2>Claims</h2>")[0]
    assert "1 inconclusive" in overview and "href='#figure-1.1_relu-beats-tanh'" in overview, overview
    assert "id='figure-1.1_relu-beats-tanh'" in page and "1.1-smoke-test-accuracy.png" in page
    assert (out / "plots" / "1.1-smoke-test-accuracy.png").stat().st_size > 10_000
    assert "Name (time in" not in proc.stdout and max(map(len, end[:5])) <= 80
    shown = _pytest(tmp_path, "--bnbench-benchmark-tables").stdout
    assert "Name (time in" in shown and "--bnbench-benchmark-tables" not in shown, shown


INTERRUPTED = textwrap.dedent('''
    import pathlib
    import time

    from bnbench.run_cache import RunCache

    _run = RunCache.run

    def _long(self, experiment, profile, seed):     # the second run trains for minutes: Ctrl-C lands in it
        if experiment.id == "1.1/tanh":
            pathlib.Path("training").touch()
            time.sleep(120)
        return _run(self, experiment, profile, seed)

    RunCache.run = _long
''')


def test_ctrl_c_says_what_was_kept_and_nothing_about_an_unused_benchmark(tmp_path):
    (tmp_path / "conftest.py").write_text(synthetic_conftest(100, 100) + INTERRUPTED)
    (tmp_path / "test_bench.py").write_text(BENCH)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--bnbench-out", str(out),
                             "--bnbench-epochs", "1", "--bnbench-subset", "3", "test_bench.py"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "COLUMNS": "200"},
                            preexec_fn=sigint_default)
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "training").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, output
    assert "Benchmark fixture was not used" not in output and "warnings summary" not in output, output
    assert (f"bnbench: interrupted: 1 finished run of this session kept in {out}, summary.json marked partial; the "
            "same command with --bnbench-resume trains only the rest") in output, output
