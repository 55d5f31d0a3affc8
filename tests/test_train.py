"""The trainer: it learns, records what it measured, stops on divergence, and is reproducible."""
import hashlib
import json
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bnbench.engine.config import TrainConfig
from bnbench.errors import BnbenchError, ConfigError
from bnbench.engine.data import fingerprint
from bnbench.engine.train import resolve_device, train


@pytest.fixture(scope="module")
def synthetic(synthetic_data):
    return synthetic_data(n_train=1000, n_test=300, seed=0)   # batches of 50: 20 steps an epoch


def test_learns_the_synthetic_set(synthetic):
    rec = train(TrainConfig(model="MyNet", lr=0.05, momentum=0.9, epochs=2, batch_size=50), synthetic)
    assert rec.final_test_acc > 0.8            # chance is 0.1
    assert rec.learned and not rec.diverged
    assert rec.steps == 2 * 20
    assert rec.step_loss[-1] < rec.step_loss[0]
    assert [e["epoch"] for e in rec.epochs] == [1, 2]
    assert all(e["images"] == 1000 and e["train_time_s"] > 0 for e in rec.epochs)
    assert rec.env["torch"] == torch.__version__ and rec.config_hash == TrainConfig.from_dict(rec.config).hash
    assert rec.env["data"] == fingerprint(synthetic) and rec.env["data"].endswith("(1000 train, 300 test)")


def test_the_data_fingerprint_tells_two_copies_apart_by_one_pixel(synthetic_data):
    import dataclasses

    a, same = synthetic_data(n_train=200, n_test=50, seed=3), synthetic_data(n_train=200, n_test=50, seed=3)
    assert fingerprint(a) == fingerprint(same) and fingerprint(a).startswith("sha256:")
    pixel = a.train_x.clone()
    pixel[7, 1, 2, 3] ^= 1                               # one bit of one pixel (a JPEG round trip changes many)
    assert fingerprint(dataclasses.replace(a, train_x=pixel)) != fingerprint(a)
    labels = a.test_y.clone()
    labels[0] = (labels[0] + 1) % 10
    assert fingerprint(dataclasses.replace(a, test_y=labels)) != fingerprint(a)


def test_divergence_is_recorded_not_raised(synthetic):
    rec = train(TrainConfig(model="MyNet", lr=1e5, momentum=0.9, epochs=2, batch_size=50), synthetic)
    assert rec.diverged and rec.diverged_step is not None
    assert rec.steps == rec.diverged_step + 1          # losses up to and including the bad step
    assert not rec.learned and math.isnan(rec.final_test_acc)


def test_same_seed_same_run_and_seed_matters(synthetic):
    cfg = TrainConfig(model="MyNet", lr=0.05, momentum=0.9, epochs=1, batch_size=100, deterministic=True, seed=4)
    a, b = train(cfg, synthetic), train(cfg, synthetic)
    assert a.step_loss == b.step_loss and a.final_test_acc == b.final_test_acc
    assert train(cfg.replace(seed=5), synthetic).step_loss != a.step_loss


def test_max_steps_eval_every_and_subsets(synthetic):
    cfg = TrainConfig(model="MyNet", lr=0.05, epochs=3, batch_size=10, max_steps=25, train_per_class=10,
                      test_per_class=5, eval_every=2)
    rec = train(cfg, synthetic)
    assert rec.steps == 25 and len(rec.epochs) == 3            # 10 steps per epoch: 10 + 10 + 5
    assert rec.epochs[0]["test_acc"] is None and rec.epochs[1]["test_acc"] is not None
    assert rec.epochs[2]["test_acc"] is not None                # the last epoch is always evaluated
    assert rec.epochs[2]["images"] == 50


def test_progress_protocol_is_called(synthetic):
    calls = []

    class Recorder:
        def start(self, total, epochs, batch_size): calls.append(("start", total, epochs, batch_size))
        def update(self, step, loss, epoch): calls.append(("update", step))
        def epoch_end(self, row): calls.append(("epoch_end", row["epoch"]))
        def stop(self): calls.append(("stop",))

    train(TrainConfig(model="MyNet", epochs=2, batch_size=10, train_per_class=5, test_per_class=2), synthetic,
          progress=Recorder())
    assert calls[0] == ("start", 10, 2, 10) and calls[-1] == ("stop",) and ("update", 10) in calls
    assert [c for c in calls if c[0] == "epoch_end"] == [("epoch_end", 1), ("epoch_end", 2)]


@given(st.integers(1, 16), st.integers(2, 12), st.floats(0.1, 20), st.integers(0, 2**31))
@settings(max_examples=40)
def test_cross_entropy_on_log_softmax_equals_nll(n, classes, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=gen, dtype=torch.float64) * scale
    y = torch.randint(0, classes, (n,), generator=gen)
    log_probs = F.log_softmax(logits, dim=1)
    assert torch.allclose(F.cross_entropy(log_probs, y), F.nll_loss(log_probs, y), rtol=0, atol=1e-12)


def test_nll_on_a_logit_model_is_refused():
    with pytest.raises(ConfigError, match="cross_entropy"):
        TrainConfig(model="VGG_A", loss="nll")


@pytest.mark.parametrize("bad", [dict(model="LeNet"), dict(optimizer="rmsprop"), dict(loss="mse"), dict(lr=0),
                                 dict(lr=float("nan")), dict(epochs=0), dict(batch_size=0), dict(seed=-1),
                                 dict(init="he"), dict(train_per_class=6000), dict(momentum=1.5),
                                 dict(optimizer="adam", momentum=0.9), dict(augment="yes")])
def test_bad_configs_are_refused_with_the_name(bad):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**bad)
    assert any(name in str(err.value) for name in bad)


def test_config_hash_is_stable_and_sensitive():
    a = TrainConfig(model="MyNet", model_args={"hidden": 500})
    assert a.hash == TrainConfig.from_dict(a.to_dict()).hash
    assert a.hash != a.replace(seed=1).hash != a.replace(model_args={"hidden": 100}).hash
    with pytest.raises(ConfigError, match="unknown"):
        TrainConfig.from_dict({**a.to_dict(), "colour": "blue"})


def test_record_round_trip_and_newer_schema_refused(synthetic):
    rec = train(TrainConfig(model="MyNet", epochs=1, batch_size=20, train_per_class=10, test_per_class=5), synthetic)
    from bnbench.store.formats import record_from_json, record_to_json

    back = record_from_json(json.loads(json.dumps(record_to_json(rec))))
    assert back.step_loss == rec.step_loss and back.epochs == rec.epochs and back.config == rec.config
    with pytest.raises(BnbenchError, match="newer"):
        record_from_json({**record_to_json(rec), "schema_version": 99}, source="x.json")


def test_devices():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="not known"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(ConfigError, match="not known"):
        resolve_device("cuda:x")     # refused by the parser, not by torch


def test_one_device_vocabulary():
    """The plugin option, the trainer and the baseline read device names through one parser."""
    from bnbench.engine.device import as_device, parse_device
    from bnbench.runner import Options

    assert [parse_device(n) for n in ("auto", " CPU", "cuda", "cuda:0", "cuda:12")] == [
        "auto", "cpu", "cuda", "cuda:0", "cuda:12"]
    for bad in ("tpu", "", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:0:1", None, 0):
        with pytest.raises(ConfigError, match="is not known; use auto, cpu, cuda or cuda:N"):
            parse_device(bad)
        with pytest.raises(ConfigError, match="^--bnbench-device .* is not known"):
            Options(device=bad)
    # The baseline only reads the type, so a CUDA name is fine without a GPU; a torch.device passes through.
    assert as_device("cuda:1") == torch.device("cuda", 1) and as_device(torch.device("cpu")).type == "cpu"
    with pytest.raises(ConfigError, match="not known"):
        as_device("tpu")


def test_one_loss_table():
    """The loss names config validates are exactly the table the trainer and the baseline train with."""
    from bnbench.engine.config import LOSSES
    from bnbench.engine.losses import LOSS_FUNCTIONS, loss_function

    assert tuple(LOSS_FUNCTIONS) == LOSSES
    assert loss_function("nll") is F.nll_loss and loss_function("cross_entropy") is F.cross_entropy
    with pytest.raises(ConfigError, match="loss 'mse' is not known; use nll or cross_entropy"):
        loss_function("mse")


def test_probing_through_the_config_uses_the_trainers_precision(synthetic):
    cfg = TrainConfig(model="MyNet", model_args={"dropout": 0.0}, lr=0.05, momentum=0.9, epochs=1, batch_size=50,
                      probe_every=5)
    rec = train(cfg, synthetic)
    assert [p["step"] for p in rec.probes] == [0, 5, 10, 15]
    for p in rec.probes:   # the probe's loss at w_t is the loss the trainer recorded for that step
        assert p["train_loss"] == pytest.approx(rec.step_loss[p["step"]], rel=1e-4)
    assert rec.probe_seconds > 0 and rec.probe_overhead > 1.0


def test_compile_failure_falls_back_to_eager(synthetic, monkeypatch):
    def broken_compile(model, **kw):
        def fn(x):
            raise RuntimeError("inductor: no C++ compiler")
        return fn

    monkeypatch.setattr(torch, "compile", broken_compile)
    cfg = TrainConfig(model="MyNet", lr=0.05, momentum=0.9, epochs=1, batch_size=50, compile=True)
    rec = train(cfg, synthetic)
    assert rec.env["compile"].startswith("failed, eager") and "C++" in rec.env["compile"]
    assert rec.final_test_acc > 0.5                                 # it trained anyway

    def unavailable(model, **kw):
        raise RuntimeError("torch.compile is not supported on this Python")

    monkeypatch.setattr(torch, "compile", unavailable)
    assert train(cfg, synthetic).env["compile"].startswith("unavailable, eager")


@pytest.mark.parametrize("precision, expect", [("fp32", "fp32"), ("bf16", "bf16-autocast")])
def test_precision_setting_is_recorded(synthetic, precision, expect):
    cfg = TrainConfig(model="MyNet", epochs=1, batch_size=50, train_per_class=10, test_per_class=5,
                      precision=precision)
    assert train(cfg, synthetic).env["precision"] == expect


def test_channels_last_and_bf16_learn_as_well_as_fp32(synthetic):
    """The speed settings must not cost accuracy: on a short run all three reach the same level."""
    base = TrainConfig(model="MyNet", lr=0.05, momentum=0.9, epochs=2, batch_size=50, seed=1)
    accs = {name: train(base.replace(**kw), synthetic).final_test_acc
            for name, kw in {"fp32-nchw": dict(precision="fp32", channels_last=False),
                             "fp32-cl": dict(precision="fp32"), "bf16-cl": dict(precision="bf16")}.items()}
    assert min(accs.values()) > 0.8, accs
    assert max(accs.values()) - min(accs.values()) < 0.1, accs


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")


@cuda
def test_cuda_run_uses_bf16_fused_optimizer_and_event_timing(synthetic):
    rec = train(TrainConfig(model="MyNet", lr=0.05, momentum=0.9, epochs=2, batch_size=50), synthetic, device="cuda")
    assert rec.env["precision"] == "bf16-autocast" and rec.device.startswith("cuda")
    assert rec.final_test_acc > 0.8 and all(t > 0 for t in rec.epoch_times)


@cuda
def test_cuda_deterministic_mode_is_bit_reproducible(synthetic):
    cfg = TrainConfig(model="MyNet", lr=0.05, momentum=0.9, epochs=1, batch_size=50, deterministic=True)
    assert train(cfg, synthetic, device="cuda").step_loss == train(cfg, synthetic, device="cuda").step_loss


@cuda
@pytest.mark.parametrize("model, optimizer", [("MyNet", "sgd"), ("VGG_A_BatchNorm", "sgd"), ("MyNet", "adam")])
def test_cuda_graph_run_matches_the_eager_run(synthetic, model, optimizer):
    """On a real GPU: the step is captured and replayed, and the run follows the eager one (the same kernels;
    cuDNN's autotuner may pick other algorithms run to run, so close, not bit-equal)."""
    loss = "cross_entropy" if model.startswith("VGG_A") else "nll"
    cfg = TrainConfig(model=model, loss=loss, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 0.002,
                      momentum=0.9 if optimizer == "sgd" else 0.0, epochs=2, batch_size=50)
    graphed = train(cfg, synthetic, device="cuda")
    eager = train(cfg, synthetic, device="cuda", cuda_graphs=False)
    assert graphed.env["cuda_graphs"].startswith("on: captured at step 3"), graphed.env["cuda_graphs"]
    assert eager.env["cuda_graphs"] == "off (turned off)"
    assert torch.allclose(torch.tensor(graphed.step_loss[:10]), torch.tensor(eager.step_loss[:10]), rtol=2e-2)
    assert graphed.final_test_acc > 0.8 and abs(graphed.final_test_acc - eager.final_test_acc) < 0.05


def test_the_study_2_3_measurement_last_layer_gradient_change_per_step(synthetic):
    """||g(t) - g(t-1)|| of the last Linear layer's weight gradient at every step but each epoch's first (the study's
    390 differences an epoch), measured without touching the trajectory."""
    cfg = TrainConfig(model="MyNet", lr=0.05, momentum=0.9, epochs=2, batch_size=100, deterministic=True, seed=3)
    plain, tracked = train(cfg, synthetic), train(cfg.replace(track_grad_change=True), synthetic)
    assert tracked.step_loss == plain.step_loss and plain.step_grad_change == []
    g = tracked.step_grad_change
    assert len(g) == tracked.steps == 20
    assert [i for i, v in enumerate(g) if v is None] == [0, 10]
    assert all(v > 0 and math.isfinite(v) for v in g if v is not None)
    # the hash of a config without the new setting is the hash it had before the setting existed: sha256 of the
    # canonical JSON of the settings as they were (catches dropping the setting from config._ADDED_LATER, which
    # would change the hash of every record written before it and make --bnbench-resume retrain them all)
    before = {k: v for k, v in cfg.to_dict().items() if k not in ("track_grad_change", "one_pixel_convs")}
    blob = json.dumps(before, sort_keys=True, separators=(",", ":")).encode()
    assert cfg.hash == hashlib.sha256(blob).hexdigest()[:16]
    assert cfg.hash != cfg.replace(track_grad_change=True).hash


def test_the_gradient_change_is_the_norm_of_consecutive_gradients(synthetic):
    """Recompute one step's value by hand: replay the first two steps and difference their gradients."""
    from bnbench.engine.train import build_model, loss_function, make_splits

    cfg = TrainConfig(model="MyNet", model_args={"dropout": 0.0}, lr=0.05, epochs=1, batch_size=100,
                      deterministic=True, seed=3, precision="fp32", channels_last=False, track_grad_change=True)
    rec = train(cfg, synthetic)
    model = build_model(cfg, torch.device("cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    split, _ = make_splits(cfg, synthetic, torch.device("cpu"))
    batches = split.batches(cfg.batch_size, shuffle=True, generator=torch.Generator().manual_seed(cfg.seed))
    grads = []
    for _, (x, y) in zip(range(2), batches):
        opt.zero_grad()
        loss_function(cfg.loss)(model(x), y).backward()
        grads.append(model.classifier.fc2.weight.grad.clone())
        opt.step()
    assert rec.step_grad_change[1] == pytest.approx(float((grads[1] - grads[0]).norm()), rel=1e-5)
