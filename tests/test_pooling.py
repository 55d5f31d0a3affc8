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


def _study_scale_folder(out, seeds, steps: int = 156_300):
    """A folder as a full run leaves it for two claims of 1.1: relu-beats-tanh (accuracy; runs of the longest
    full-scale length, 1.2's 100 x 1,563 steps, stored as the JSON lists records had before packing: 3.5 MB each)
    and cross-entropy-is-nll (per-step losses, ten steps), with its summary.json."""
    from bnbench.engine.config import TrainConfig
    from bnbench.engine.record import RunRecord
    from bnbench.store import Store, Summary, record_to_json, write_json_atomic
    from bnbench.verdicts.evaluate import evaluate

    claims = [CLAIM, CLAIMS["1.1/cross-entropy-is-nll"]]
    store, records = Store(out), {}
    for e in (e for c in claims for e in c.experiments):
        records[e.id] = []
        for k in seeds:
            config: TrainConfig = e.config.replace(seed=e.config.seed + k)
            n = config.max_steps or steps
            rec = RunRecord(config=config.to_dict(), config_hash=config.hash, device="cuda:0", env={},
                            started_at="t0", finished_at="t1", step_loss=[2.3 - 1e-6 * i for i in range(n)],
                            epochs=[{"epoch": 1, "train_loss": 1.0, "train_time_s": 30.0, "images": 50_000,
                                     "steps": n, "test_loss": 1.0, "test_acc": 0.65 + 0.01 * k}])
            path = store.save_record(rec, e.id, "full", k)
            write_json_atomic(path, {**record_to_json(rec, experiment=e.id, profile="full"), "schema_version": 1,
                                     "step_loss": rec.step_loss})
            records[e.id].append(rec)
    store.write_summary(Summary(path="", claims=[evaluate(c, records, profile_name="full") for c in claims]))
    return str(out)


def test_pooling_keeps_per_step_losses_only_for_the_claims_that_read_them(tmp_path, monkeypatch, capsys):
    """Each claim's verdict gets its records without per-step series unless its metric reads them (the identity
    claim's step_loss_gap): a study-scale run's 156,300 step losses are 5 MB as Python floats, 160 records 0.8 GB."""
    import bnbench.verdicts.evaluate as evaluation

    dirs = [_study_scale_folder(tmp_path / "one", (0,)), _study_scale_folder(tmp_path / "two", (1,))]
    seen, evaluate = {}, evaluation.evaluate

    def spy(claim, records, **kwargs):
        seen[claim.id] = records
        return evaluate(claim, records, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", spy)
    assert main(["summary", *dirs]) == 0
    assert f"pooled {CLAIM.id} [full]: 2 seeds" in capsys.readouterr().out
    assert [len(r.step_loss) for runs in seen["1.1/cross-entropy-is-nll"].values() for r in runs] == [10] * 4
    assert [len(r.step_loss) for runs in seen[CLAIM.id].values() for r in runs] == [0] * 4
    assert [r.final_test_acc for r in seen[CLAIM.id]["1.1/tanh"]] == [0.65, 0.66]
