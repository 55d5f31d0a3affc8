"""``bnbench export``: a run folder's records as one tidy row per epoch (csv, parquet) or as TensorBoard runs, read
through the store; a broken record is skipped with a line naming it, and a missing optional package names its extra."""
import math
import sys
from pathlib import Path

import pytest

from factories import epoch_row, run_record

from bnbench.cli import main
from bnbench.engine.config import TrainConfig
from bnbench.errors import BnbenchError
from bnbench.outputs import export
from bnbench.store import Store

EXPERIMENTS = ("1.1/base-nll", "1.1/hidden-500")
SEEDS = (2, 10)      # "seed10" sorts before "seed2" as a file name: the rows must sort by number


def _acc(exp_i: int, seed: int, epoch: int) -> float:
    return 0.25 + 0.1 * exp_i + 0.01 * seed + 0.05 * epoch


def _record(exp_i: int, seed: int):
    """A finished record of three epochs, epoch 2 not evaluated (test_loss and test_acc None), 12 steps."""
    config = TrainConfig(model="MyNet", lr=0.01 * (exp_i + 1), batch_size=32, epochs=3, seed=seed, precision="fp32",
                         model_args={"hidden": 100 if exp_i == 0 else 500})
    epochs = [epoch_row(e, test_acc=None if e == 2 else _acc(exp_i, seed, e),
                        test_loss=None if e == 2 else 2.0 - 0.25 * e, train_loss=2.1 - 0.3 * e - 0.01 * seed,
                        train_acc=0.2 + 0.1 * e, steps=4, images=128, train_time_s=1.5 + e)
              for e in (1, 2, 3)]
    return run_record(config=config.to_dict(), config_hash=config.hash, finished_at="t1", epochs=epochs,
                      step_loss=[2.3 - 0.05 * i - 0.001 * seed for i in range(12)], device="cpu")


@pytest.fixture()
def run_dir(tmp_path):
    """2 experiments x 2 seeds x 3 epochs, saved as the runner saves them."""
    out = tmp_path / "run"
    store = Store(out)
    for exp_i, exp in enumerate(EXPERIMENTS):
        for seed in reversed(SEEDS):
            store.save_record(_record(exp_i, seed), exp, "quick", seed)
    return out


def _expected_rows():
    for exp_i, exp in enumerate(EXPERIMENTS):
        for seed in SEEDS:
            for e in (1, 2, 3):
                yield exp_i, exp, seed, e


def test_epoch_rows_one_per_epoch_sorted_and_typed(run_dir):
    rows = export.epoch_rows(run_dir)
    assert [(r["experiment"], r["seed"], r["epoch"]) for r in rows] == [(x, s, e) for _, x, s, e in _expected_rows()]
    assert all(list(r) == list(export.COLUMNS) for r in rows)
    first = rows[0]
    assert first["profile"] == "quick" and first["model"] == "MyNet" and first["device"] == "cpu"
    assert first["precision"] == "fp32" and first["batch_size"] == 32 and first["diverged"] is False
    assert first["config_hash"] == _record(0, 2).config_hash
    assert type(first["epoch"]) is int and type(first["images"]) is int and type(first["lr"]) is float
    assert [r["test_acc"] is None for r in rows[:3]] == [False, True, False]


def test_csv_round_trips_through_pandas_with_numeric_columns_and_nan_where_not_evaluated(run_dir):
    pd = pytest.importorskip("pandas")
    path = export.write_csv(export.epoch_rows(run_dir), run_dir / "export" / "epochs.csv")
    frame = pd.read_csv(path)
    assert list(frame.columns) == list(export.COLUMNS)
    assert len(frame) == len(EXPERIMENTS) * len(SEEDS) * 3
    for column in ("seed", "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "train_time_s", "images",
                   "steps", "lr", "batch_size"):
        assert pd.api.types.is_numeric_dtype(frame[column]), column
    assert frame["test_acc"].dtype == "float64" and frame["diverged"].dtype == bool
    for (exp_i, exp, seed, e), row in zip(_expected_rows(), frame.itertuples(index=False)):
        assert (row.experiment, row.profile, row.seed, row.epoch) == (exp, "quick", seed, e)
        if e == 2:
            assert math.isnan(row.test_acc) and math.isnan(row.test_loss)
        else:
            assert row.test_acc == _acc(exp_i, seed, e)       # exactly: floats are written as repr
            assert row.test_loss == 2.0 - 0.25 * e
        assert row.train_loss == 2.1 - 0.3 * e - 0.01 * seed
        assert row.train_time_s == 1.5 + e and row.images == 128 and row.lr == 0.01 * (exp_i + 1)
    # written atomically: no temporary file left beside it
    assert sorted(p.name for p in path.parent.iterdir()) == ["epochs.csv"]


def test_parquet_round_trip(run_dir):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    rows = export.epoch_rows(run_dir)
    path = export.write_parquet(rows, run_dir / "out.parquet")
    frame = pd.read_parquet(path)
    assert list(frame.columns) == list(export.COLUMNS)
    assert frame["epoch"].dtype == "int64" and frame["test_acc"].dtype == "float64"
    assert frame["test_acc"].isna().tolist() == [r["test_acc"] is None for r in rows] == [e == 2 for *_, e in
                                                                                         _expected_rows()]
    back = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert back == rows


def test_tensorboard_event_files_hold_every_scalar_at_its_step(run_dir, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = export.write_tensorboard(run_dir, tmp_path / "tb")
    for exp_i, exp in enumerate(EXPERIMENTS):
        for seed in SEEDS:
            acc = EventAccumulator(str(logdir / exp.replace("/", "_") / f"quick-seed{seed}"),
                                   size_guidance={"scalars": 0})
            acc.Reload()
            tags = acc.Tags()["scalars"]
            assert {"epoch/test_acc", "epoch/test_loss", "epoch/train_loss", "epoch/train_time_s",
                    "step/train_loss"} <= set(tags)
            test_acc = acc.Scalars("epoch/test_acc")
            assert [e.step for e in test_acc] == [1, 3]                     # epoch 2 was not evaluated
            assert [e.value for e in test_acc] == pytest.approx([_acc(exp_i, seed, 1), _acc(exp_i, seed, 3)])
            assert [e.step for e in acc.Scalars("epoch/train_loss")] == [1, 2, 3]
            assert [e.value for e in acc.Scalars("epoch/train_time_s")] == pytest.approx([2.5, 3.5, 4.5])
            steps = acc.Scalars("step/train_loss")
            assert [e.step for e in steps] == list(range(12))
            assert [e.value for e in steps] == pytest.approx([2.3 - 0.05 * i - 0.001 * seed for i in range(12)])
    # exporting again replaces the export rather than adding a second event file TensorBoard would also draw
    first = sorted(p.name for p in (logdir / "1.1_base-nll" / "quick-seed2").iterdir())
    export.write_tensorboard(run_dir, tmp_path / "tb")
    assert len(first) == 1 and len(list((logdir / "1.1_base-nll" / "quick-seed2").iterdir())) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no temporary folder left


def test_tensorboard_thins_a_long_run_to_at_most_the_bound(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setattr(export, "MAX_STEP_POINTS", 5)
    out = tmp_path / "run"
    Store(out).save_record(_record(0, 0), EXPERIMENTS[0], "quick", 0)     # 12 steps: every 3rd, 4 points
    logdir = export.write_tensorboard(out, tmp_path / "tb")
    acc = EventAccumulator(str(logdir / "1.1_base-nll" / "quick-seed0"), size_guidance={"scalars": 0})
    acc.Reload()
    assert [e.step for e in acc.Scalars("step/train_loss")] == [0, 3, 6, 9]


def test_tensorboard_refuses_a_folder_that_is_not_an_earlier_export(run_dir, tmp_path):
    pytest.importorskip("tensorboard")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(BnbenchError, match="not an earlier bnbench export"):
        export.write_tensorboard(run_dir, mine)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_a_corrupt_record_is_skipped_with_a_line_naming_it_and_the_rest_exported(run_dir, capsys):
    bad = sorted((run_dir / "records" / "1.1_hidden-500").glob("quick-seed10-*.json"))[0]
    bad.write_text('{"version": 1, "config": ')          # truncated JSON
    rows = export.epoch_rows(run_dir)
    err = capsys.readouterr().err
    assert "skipped" in err and str(bad) in err
    assert len(rows) == 9
    assert (EXPERIMENTS[1], 10) not in {(r["experiment"], r["seed"]) for r in rows}
    assert (EXPERIMENTS[1], 2) in {(r["experiment"], r["seed"]) for r in rows}


def test_an_unfinished_record_is_skipped(tmp_path, capsys):
    out = tmp_path / "run"
    rec = _record(0, 0)
    rec.finished_at = ""
    path = Store(out).save_record(rec, EXPERIMENTS[0], "quick", 0)
    with pytest.raises(BnbenchError, match="no finished records"):
        export.epoch_rows(out)
    assert str(path) in capsys.readouterr().err


def test_a_folder_without_records_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(BnbenchError, match=r"no finished records in .*empty \(no records/ folder"):
        export.epoch_rows(tmp_path / "empty")
    assert main(["export", str(tmp_path / "empty"), "--format", "csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bnbench: no finished records in") and err.count("\n") == 1
    assert not (tmp_path / "empty" / "export").exists()     # nothing made for a folder with nothing to export


def test_missing_pyarrow_gives_the_install_hint(run_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyarrow", None)       # `import pyarrow` raises ImportError
    with pytest.raises(BnbenchError, match=r"pip install 'bnbench\[export\]'"):
        export.write_parquet(export.epoch_rows(run_dir), run_dir / "x.parquet")
    assert main(["export", str(run_dir), "--format", "parquet"]) == 2
    assert "pip install 'bnbench[export]'" in capsys.readouterr().err
    assert not (run_dir / "x.parquet").exists() and not (run_dir / "export").exists()


def test_missing_tensorboard_gives_the_install_hint(run_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(BnbenchError, match=r"pip install 'bnbench\[tensorboard\]'"):
        export.write_tensorboard(run_dir, run_dir / "tb")


def test_a_folder_is_refused_as_a_csv_target(run_dir):
    (run_dir / "here").mkdir()
    with pytest.raises(BnbenchError, match="is a folder"):
        export.write_csv(export.epoch_rows(run_dir), run_dir / "here")


def test_cli_writes_the_csv_and_prints_its_path(run_dir, capsys):
    pd = pytest.importorskip("pandas")
    assert main(["export", str(run_dir), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    path = run_dir.resolve() / "export" / "epochs.csv"
    assert f"wrote {path} (12 epochs of 4 runs)" in out and f"pandas.read_csv({str(path)!r})" in out
    assert len(pd.read_csv(path)) == 12


def test_cli_output_option_and_tensorboard_hint(run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), "--format", "csv", "-o", str(tmp_path / "sub" / "e.csv")]) == 0
    assert (tmp_path / "sub" / "e.csv").read_text().startswith(",".join(export.COLUMNS) + "\n")
    pytest.importorskip("tensorboard")
    assert main(["export", str(run_dir), "--format", "tensorboard"]) == 0
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {run_dir.resolve() / 'export' / 'tensorboard'}" in out
    assert (run_dir / "export" / "tensorboard" / "1.1_hidden-500" / "quick-seed10").is_dir()


def test_a_format_is_one_entry_in_the_list_and_the_cli_offers_it(run_dir, monkeypatch, capsys):
    """``EXPORT_FORMATS`` is the one list: an entry added there is a ``--format`` choice, with its default file name
    under DIR/export/, and nothing else changes."""
    def write_json_lines(source, output):
        import json

        rows = export.epoch_rows(source)
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text("".join(json.dumps(r) + "\n" for r in rows))
        return Path(output), [f"wrote {output} ({len(rows)} lines)"]

    monkeypatch.setitem(export.EXPORT_FORMATS, "jsonl", export.ExportFormat("jsonl", write_json_lines, "epochs.jsonl"))
    assert main(["export", str(run_dir), "--format", "jsonl"]) == 0
    path = run_dir.resolve() / "export" / "epochs.jsonl"
    assert f"wrote {path} (12 lines)" in capsys.readouterr().out and len(path.read_text().splitlines()) == 12
    with pytest.raises(BnbenchError, match="use csv, parquet, tensorboard, jsonl"):
        export.export(run_dir, "xlsx")
