"""The store owns every on-disk format: what goes out comes back (NaN included, through every path that reads),
and what it reads back is bounded and validated."""
import json
import math
import os

import pytest

from bnbench.engine.config import TrainConfig
from bnbench.engine.record import RunRecord
from bnbench.errors import BnbenchError
from bnbench.store import Shard, Store, Summary, load_record, load_summary
from bnbench.store.files import no_nan, read_json, remove_orphans, write_json_atomic
from bnbench.store.formats import FormatError, record_from_json, record_to_json, result_from_json, result_to_json
from bnbench.verdicts.evaluate import ClaimResult
from bnbench.verdicts.stats import decide


def _record(config=None, **changes) -> RunRecord:
    config = config or TrainConfig(model="MyNet", epochs=1)
    rec = RunRecord(config=config.to_dict(), config_hash=config.hash, device="cpu", env={}, started_at="t0",
                    finished_at="t1", step_loss=[2.3, math.nan, 1.9],
                    epochs=[{"epoch": 1, "train_loss": 2.0, "train_time_s": 1.0, "images": 96, "steps": 3,
                             "test_loss": 1.8, "test_acc": 0.3}], run_id="r1")
    for k, v in changes.items():
        setattr(rec, k, v)
    return rec


def _result() -> ClaimResult:
    stats = decide([0.7, 0.72, math.nan], [0.6, 0.61, 0.6], "greater", 0.01)
    return ClaimResult("1.1/hidden-500-beats-100", "quick", stats.verdict, stats.reason, [0.7, 0.72, math.nan],
                       [0.6, 0.61, 0.6], stats=stats, notes=["n"], a_s_per_epoch=1.5)


def test_a_record_round_trips_with_its_nan_through_the_store(tmp_path):
    store = Store(tmp_path)
    rec = _record()
    store.save_record(rec, "1.1/hidden-500", "quick", 0)
    back = store.load_finished("1.1/hidden-500", "quick", 0, rec.config_hash)
    assert back is not None and math.isnan(back.step_loss[1]) and back.step_loss[::2] == [2.3, 1.9]
    assert back.epochs == rec.epochs and back.config == rec.config


def test_a_worker_shard_round_trips_typed_results_and_nan(tmp_path):
    store = Store(tmp_path)
    rec = _record()
    path = store.save_record(rec, "1.1/hidden-500", "quick", 0)
    store.write_shard(Shard("run1", [_result()], [], [], 2, 1, {"quick:1.1/hidden-500": [str(path)]}), "gw0")
    (shard,) = store.take_shards("run1")
    assert not list((tmp_path / ".workers").glob("*.json"))            # merged shards are removed
    (res,) = shard.claims
    assert isinstance(res, ClaimResult) and math.isnan(res.a_values[2]) and res.stats.n == _result().stats.n
    assert math.isnan(load_record(shard.records["quick:1.1/hidden-500"][0]).step_loss[1])


def test_summary_round_trips(tmp_path):
    store = Store(tmp_path)
    store.write_summary(Summary(path="", claims=[_result()], partial=True, run_id="r"))
    back = load_summary(tmp_path)
    assert back.partial and back.claims[0].claim_id == "1.1/hidden-500-beats-100"
    assert no_nan(result_to_json(back.claims[0])) == no_nan(result_to_json(_result()))
    assert math.isnan(back.claims[0].a_values[2]) and math.isnan(back.claims[0].b_s_per_epoch)


def test_a_stored_hash_is_never_trusted(tmp_path):
    """A record whose stored configuration does not hash to its file name is retrained, not reused."""
    store = Store(tmp_path)
    rec = _record()
    path = store.save_record(rec, "1.1/hidden-500", "quick", 0)
    data = json.loads(path.read_text())
    data["config"]["model"] = "VGG_A"                       # the stored config says another model ...
    path.write_text(json.dumps(data))                       # ... while the hash and file name still say MyNet
    assert store.load_finished("1.1/hidden-500", "quick", 0, rec.config_hash) is None


@pytest.mark.parametrize("damage, needle", [
    (lambda d: d.update(step_loss="abc"), "step_loss"),
    (lambda d: d.update(epochs=[{"train_loss": "x"}]), "train_loss"),
    (lambda d: d.update(config=[1]), "config"),
    (lambda d: d.update(schema_version="1"), "schema_version"),
    (lambda d: d.update(diverged="yes"), "diverged"),
])
def test_a_record_with_wrong_types_is_one_line_naming_the_file(damage, needle):
    data = no_nan(record_to_json(_record()))
    damage(data)
    with pytest.raises(FormatError, match=needle) as err:
        record_from_json(data, source="r.json")
    assert "r.json" in str(err.value)


def test_a_result_with_a_made_up_verdict_is_refused():
    with pytest.raises(FormatError, match="verdict"):
        result_from_json({**result_to_json(_result()), "verdict": "proven"}, "s.json")


def test_reads_are_bounded_and_regular_files_only(tmp_path):
    big = tmp_path / "big.json"
    big.write_text("[" + "0," * 1000 + "0]")
    with pytest.raises(BnbenchError, match="more than"):
        read_json(big, max_bytes=100)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100 + "]" * 100)
    with pytest.raises(BnbenchError, match="deeper"):
        read_json(deep)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(BnbenchError, match="not a regular file"):
        read_json(fifo)                                     # returns at once: no hang on a FIFO
    link = tmp_path / "link.json"
    link.symlink_to(big)
    with pytest.raises(BnbenchError, match="link"):
        read_json(link)
    with pytest.raises(BnbenchError, match="not a regular file"):
        read_json(tmp_path)


def test_a_write_replaces_a_planted_link_instead_of_following_it(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").symlink_to(outside)
    Store(out).write_summary(Summary(path=""))
    assert outside.read_text() == "precious"
    assert not (out / "summary.json").is_symlink() and json.loads((out / "summary.json").read_text())["claims"] == []


def test_orphaned_temporary_files_are_cleaned(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    (tmp_path / ".a.json.abc123.tmp").write_text("{half")
    assert remove_orphans(tmp_path) == 1 and (tmp_path / "a.json").exists()
