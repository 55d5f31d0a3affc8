"""The store owns every on-disk format: what goes out comes back (NaN included, through every path that reads),
and what it reads back is bounded and validated."""
import json
import math
import os

import pytest

from bnbench.engine.config import TrainConfig
from bnbench.engine.record import RunRecord
from bnbench.errors import BnbenchError, BnbenchSkippedFile
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
    with pytest.warns(BnbenchSkippedFile, match="hash"):
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
    (tmp_path / ".bnbench-a.json.abc123_z.tmp").write_text("{half")
    assert remove_orphans(tmp_path) == 1 and (tmp_path / "a.json").exists()


def _speed_rows():
    from bnbench.engine.speed_rows import ModelSpeed, SpeedRow

    mynet = SpeedRow(model="MyNet(hidden=500)", variant="default", device="cpu", bnbench_s_per_epoch=12.5,
                     bnbench_first_epoch_s=14.0, study_style_s_per_epoch=20.0, ratio=0.625,
                     bnbench_images_per_s=4000.0, study_style_images_per_s=2500.0, test_acc=math.nan,
                     compile=None, precision="fp32", cuda_graphs="off (not available on cpu)")
    model = ModelSpeed(model="VGG_A", batch_size=128, device="cuda:0", device_name="Test GPU",
                       precision="bf16-autocast", compile="compiled", cuda_graphs="on: 1 graph", bnbench_images_per_s=9000.0,
                       study_style_images_per_s=3000.0, speedup=3.0, paired_speedups=(2.9, 3.0, 3.2),
                       flops_per_image=1.5e9, achieved_flops=1.35e13, peak_flops=4e14, peak_dtype="bf16",
                       fraction_of_peak=0.03375, native_bf16=True)
    return mynet, model


# The keys the speed benchmark has always written, in its order: summary.json files keep their shape.
SPEED_KEYS = ["model", "variant", "device", "bnbench_s_per_epoch", "bnbench_first_epoch_s", "study_style_s_per_epoch",
              "ratio", "bnbench_images_per_s", "study_style_images_per_s", "test_acc", "compile", "precision",
              "cuda_graphs"]
MODEL_SPEED_KEYS = ["model", "batch_size", "device", "device_name", "precision", "compile", "cuda_graphs",
                    "bnbench_images_per_s", "study_style_images_per_s", "speedup", "paired_speedups",
                    "flops_per_image", "achieved_flops", "peak_flops", "peak_dtype", "fraction_of_peak", "native_bf16"]


def test_speed_rows_round_trip_typed_through_summary_and_shard(tmp_path):
    from dataclasses import replace

    from bnbench.engine.speed_rows import ModelSpeed, SpeedRow

    mynet, model = _speed_rows()
    store = Store(tmp_path)
    store.write_summary(Summary(path="", speed=[mynet], model_speed=[model], run_id="r"))
    data = json.loads((tmp_path / "summary.json").read_text())
    assert list(data["speed"][0]) == SPEED_KEYS and list(data["model_speed"][0]) == MODEL_SPEED_KEYS
    assert data["speed"][0]["test_acc"] is None and data["model_speed"][0]["paired_speedups"] == [2.9, 3.0, 3.2]
    back = load_summary(tmp_path)
    (s,), (m,) = back.speed, back.model_speed
    assert isinstance(s, SpeedRow) and isinstance(m, ModelSpeed)
    assert math.isnan(s.test_acc) and replace(s, test_acc=0.0) == replace(mynet, test_acc=0.0)   # NaN != NaN
    assert m == model
    store.write_shard(Shard("run1", [], [mynet], [model, model]), "gw0")
    (shard,) = store.take_shards("run1")
    assert shard.model_speed == [model, model] and shard.speed[0].ratio == 0.625 and math.isnan(shard.speed[0].test_acc)


def test_old_speed_rows_read_with_defaults(tmp_path):
    """Rows written before cuda_graphs / device_name / paired_speedups existed (and unknown keys) still read."""
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 1, "speed": [
        {"model": "MyNet(hidden=500)", "variant": "fp32", "device": "cpu", "bnbench_s_per_epoch": 10,
         "bnbench_first_epoch_s": 11.0, "study_style_s_per_epoch": 20.0, "ratio": 0.5, "bnbench_images_per_s": 5000.0,
         "study_style_images_per_s": 2500.0, "test_acc": 0.62, "compile": None, "precision": "fp32"}],
        "model_speed": [{"model": "MyNet", "batch_size": 32, "device": "cpu", "precision": "fp32",
                         "bnbench_images_per_s": 4000.0, "study_style_images_per_s": 2000.0, "speedup": 2.0,
                         "flops_per_image": 1e7, "achieved_flops": 4e10, "peak_flops": 1e11, "peak_dtype": "fp32",
                         "fraction_of_peak": 0.4, "someday": "ignored"}]}))
    back = load_summary(tmp_path)
    assert back.speed[0].cuda_graphs is None and back.speed[0].bnbench_s_per_epoch == 10.0
    m = back.model_speed[0]
    assert m.device_name is None and m.paired_speedups == () and m.native_bf16 is None and m.compile is None


@pytest.mark.parametrize("key, damage, needle", [
    ("speed", lambda d: d.update(ratio=None), r"speed\[0\]\.ratio"),
    ("speed", lambda d: d.update(bnbench_s_per_epoch=float("inf")), "bnbench_s_per_epoch"),
    ("speed", lambda d: d.update(bnbench_s_per_epoch=-1.0), "bnbench_s_per_epoch"),
    ("speed", lambda d: d.update(test_acc="high"), "test_acc"),
    ("speed", lambda d: d.update(variant=3), "variant"),
    ("speed", lambda d: d.pop("model"), "model"),
    ("model_speed", lambda d: d.update(batch_size=1.5), r"model_speed\[0\]\.batch_size"),
    ("model_speed", lambda d: d.update(speedup=True), "speedup"),
    ("model_speed", lambda d: d.update(paired_speedups=[1.0, None]), "paired_speedups"),
    ("model_speed", lambda d: d.update(peak_dtype=None), "peak_dtype"),
    ("model_speed", lambda d: d.update(device_name=["x"]), "device_name"),
    ("model_speed", lambda d: d.update(native_bf16="yes"), "native_bf16"),
    ("model_speed", lambda d: d.update(fraction_of_peak=-0.1), "fraction_of_peak"),
    ("speed", lambda d: d.update(ratio=10 ** 400), "ratio"),                  # too large for a float: no OverflowError
    ("model_speed", lambda d: d.update(paired_speedups=[10 ** 400]), "paired_speedups"),
])
def test_a_bad_speed_row_is_one_line_naming_the_file(tmp_path, key, damage, needle):
    from bnbench.store.formats import model_speed_to_json, speed_row_to_json

    mynet, model = _speed_rows()
    row = no_nan(speed_row_to_json(mynet) if key == "speed" else model_speed_to_json(model))
    damage(row)
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 1, key: [row]}))
    with pytest.raises(FormatError, match=needle) as err:
        load_summary(tmp_path)
    assert str(tmp_path / "summary.json") in str(err.value) and "\n" not in str(err.value)
    (tmp_path / ".workers").mkdir()
    (tmp_path / ".workers" / "r-gw0.json").write_text(json.dumps({"schema_version": 1, "run_id": "r", key: [row]}))
    with pytest.raises(FormatError, match=needle):
        Store(tmp_path).take_shards("r")


def test_the_resume_hash_ignores_how_a_run_is_computed_not_what_it_measures():
    from bnbench.engine.config import HASH_IGNORES

    a = TrainConfig(model="MyNet")
    assert set(HASH_IGNORES) == {"eval_batch_size", "channels_last", "compile", "one_pixel_convs"}
    for key, value in (("eval_batch_size", 10), ("channels_last", False), ("compile", True),
                       ("one_pixel_convs", False)):
        assert a.replace(**{key: value}).hash == a.hash, key
    assert len({a.hash, a.replace(lr=0.02).hash, a.replace(batch_size=32).hash, a.replace(seed=1).hash}) == 4
    assert a.hash == "c7e25673dc71f532"   # the value before the rule existed: old records keep their hash
