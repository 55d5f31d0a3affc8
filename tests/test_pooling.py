"""``bnbench summary DIR1 DIR2``: the seeds of one claim and configuration from several folders give one verdict;
runs of different configurations are refused with one line."""
from __future__ import annotations

import pytest

from bnbench.cli import main
from bnbench.runner import Options, Runner
from bnbench.study.catalog import CLAIMS

CLAIM = CLAIMS["1.1/relu-beats-tanh"]


def _run(out, data, **overrides):
    runner = Runner(Options(out=str(out), **{"subset": 10, "epochs": 1, **overrides}))
    runner._data = data
    runner.check(CLAIM, runner.profile("smoke"))
    runner.finish()
    return runner


@pytest.fixture(scope="module")
def data(synthetic_data):
    return synthetic_data(n_train=200, n_test=100, seed=0)


def test_two_folders_pool_their_seeds_into_one_verdict(tmp_path, data, capsys):
    one, two = _run(tmp_path / "one", data, seeds=1), _run(tmp_path / "two", data, seeds=2)
    assert main(["summary", str(tmp_path / "one"), str(tmp_path / "two")]) == 0
    text = capsys.readouterr().out
    # seed 0 is the same run in both folders (same configuration hash): counted once; seed 1 comes from two
    assert f"pooled {CLAIM.id} [smoke]: 2 seeds: 1 from {tmp_path / 'one'}, 1 from {tmp_path / 'two'}" in text
    from bnbench.pooling import pool

    pooled = pool([str(tmp_path / "one"), str(tmp_path / "two")], [one.results, two.results])
    (result,) = pooled.claims
    assert result.a_values == two.results[0].a_values and result.b_values == two.results[0].b_values
    assert result.verdict == two.results[0].verdict
    # the Markdown summary says it too; the CSV one keeps standard output to its rows and says it on stderr
    dirs = [str(tmp_path / "one"), str(tmp_path / "two")]
    line = f"pooled {CLAIM.id} [smoke]: 2 seeds"
    assert main(["summary", *dirs, "--format", "md"]) == 0
    assert line in capsys.readouterr().out
    assert main(["summary", *dirs, "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert line in captured.err and line not in captured.out
    import csv
    import io

    rows = [r for r in csv.reader(io.StringIO(captured.out)) if r]
    assert len(rows) == 2 and len(rows[0]) == len(rows[1])   # the header and the one claim, nothing else


def test_folders_of_different_configurations_are_refused_in_one_line(tmp_path, data, capsys):
    _run(tmp_path / "one", data, seeds=1)
    _run(tmp_path / "two", data, seeds=1, epochs=2)
    assert main(["summary", str(tmp_path / "one"), str(tmp_path / "two")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cannot pool" in err and "configuration hash" in err, err
    assert str(tmp_path / "one") in err and str(tmp_path / "two") in err
