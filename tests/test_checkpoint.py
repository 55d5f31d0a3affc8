"""Mid-run checkpoints: a run stopped after an epoch continues where it stopped and computes exactly what an
uninterrupted run computes; a checkpoint that does not belong to the run is refused and the run starts over."""
import warnings

import pytest
import torch

from bnbench.engine import checkpoint as ckpt
from bnbench.engine.config import TrainConfig
from bnbench.engine.train import train
from bnbench.errors import BnbenchError, BnbenchSkippedFile
from bnbench.store import Store
from bnbench.store.checkpoints import StoreCheckpoint, checkpoint_path


@pytest.fixture(scope="module")
def synthetic(synthetic_data):
    return synthetic_data(n_train=200, n_test=50, seed=3)   # batches of 50: 4 steps an epoch


class Memory:
    """A checkpoint kept in memory (the Checkpoint protocol), saving at every epoch."""

    every_s = 0.0

    def __init__(self):
        self.state, self.saves, self.discarded = None, 0, 0

    def load(self):
        return self.state

    def save(self, state):
        self.state, self.saves = ckpt.from_bytes(ckpt.to_bytes(state), "memory"), self.saves + 1

    def discard(self):
        self.state, self.discarded = None, self.discarded + 1


class StopAfter:
    """Progress that ends the run (as Ctrl-C would) once ``epoch`` epochs are done."""

    def __init__(self, epoch):
        self.epoch = epoch

    def start(self, *a, **k):
        pass

    def update(self, *a):
        pass

    def epoch_end(self, row):
        if row["epoch"] == self.epoch:
            raise KeyboardInterrupt

    def stop(self):
        pass


# dropout on (its draws come from the global RNG) and a shuffled order per epoch: both must be restored exactly
CFG = TrainConfig(model="MyNet", lr=0.05, momentum=0.9, epochs=4, batch_size=50, seed=7)


def _stopped_then_continued(cfg, data, stops):
    saver = Memory()
    for epoch in stops:
        with pytest.raises(KeyboardInterrupt):
            train(cfg, data, checkpoint=saver, progress=StopAfter(epoch))
    return train(cfg, data, checkpoint=saver), saver


@pytest.mark.parametrize("cfg", [CFG, CFG.replace(optimizer="adam", lr=1e-3, momentum=0.0), CFG.replace(track_grad_change=True)],
                         ids=["sgd-momentum", "adam", "grad-change"])
def test_a_continued_run_computes_what_an_uninterrupted_one_does(cfg, synthetic):
    whole = train(cfg, synthetic)
    continued, saver = _stopped_then_continued(cfg, synthetic, stops=[1, 3])
    assert continued.step_loss == whole.step_loss
    assert continued.step_grad_change == whole.step_grad_change
    assert [e["test_acc"] for e in continued.epochs] == [e["test_acc"] for e in whole.epochs]
    assert [e["epoch"] for e in continued.epochs] == [1, 2, 3, 4]
    assert continued.env["resumed_at_epoch"] == [1, 3]
    assert "resumed_at_epoch" not in whole.env
    assert saver.saves == 3   # after epochs 1, 2 and 3; never after the last (the record is what it becomes)


def test_without_the_restored_rng_the_run_would_differ(synthetic):
    """The exactness above is not luck: continuing with a fresh global RNG (dropout) changes the steps."""
    whole = train(CFG, synthetic)
    saver = Memory()
    with pytest.raises(KeyboardInterrupt):
        train(CFG, synthetic, checkpoint=saver, progress=StopAfter(2))
    saver.state["cpu_rng"] = torch.Generator().manual_seed(123).get_state()
    assert train(CFG, synthetic, checkpoint=saver).step_loss != whole.step_loss


def test_saves_are_spaced_in_time(synthetic):
    saver = Memory()
    saver.every_s = 1e9
    train(CFG, synthetic, checkpoint=saver)
    assert saver.saves == 0


@pytest.fixture(scope="module")
def stopped_after_one(synthetic):
    """A 2-epoch run, uninterrupted, and the checkpoint the same run leaves when stopped after epoch 1."""
    cfg = CFG.replace(epochs=2)
    saver = Memory()
    with pytest.raises(KeyboardInterrupt):
        train(cfg, synthetic, checkpoint=saver, progress=StopAfter(1))
    return cfg, train(cfg, synthetic), saver.state


@pytest.mark.parametrize("spoil, why", [
    (lambda s: s.update(config_hash="0" * 16), "another configuration"),
    (lambda s: s.update(epoch=2), "epoch 2 of 2"),
    (lambda s: s.update(step_loss=s["step_loss"][:-1]), "step losses"),
    (lambda s: s["step_loss"].__setitem__(0, float("nan")), "step losses"),
    (lambda s: s["epochs"].pop(), "its epochs"),
    (lambda s: s["model"].pop(next(iter(s["model"]))), "the model's tensors"),
    (lambda s: s["model"].update({k: torch.zeros(1) for k in list(s["model"])[:1]}), "the model's shapes"),
    (lambda s: s["optimizer"]["state"].update({0: {"momentum_buffer": torch.zeros(3)}}), "buffer shapes"),
    (lambda s: s.update(cpu_rng=torch.zeros(3)), "cpu_rng"),
], ids=["hash", "epoch", "losses-short", "losses-nan", "rows", "model-key", "model-shape", "optimizer", "rng"])
def test_a_checkpoint_that_does_not_fit_is_refused_and_the_run_starts_over(spoil, why, stopped_after_one, synthetic):
    cfg, whole, state = stopped_after_one
    saver = Memory()
    saver.state = ckpt.from_bytes(ckpt.to_bytes(state), "copy")
    spoil(saver.state)
    with pytest.warns(BnbenchSkippedFile, match=why):
        rec = train(cfg, synthetic, checkpoint=saver)
    assert rec.step_loss == whole.step_loss and "resumed_at_epoch" not in rec.env
    assert saver.discarded == 1


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_store_checkpoint_round_trip_and_hostile_files(tmp_path, synthetic):
    store = Store(tmp_path)
    record = store.record_path("1.1/base-nll", "smoke", 0, "abc")
    saver = StoreCheckpoint(store, record, every_s=0.0)
    assert saver.path == checkpoint_path(record) and saver.path.name == "smoke-seed0-abc.partial.pt"
    assert saver.load() is None
    with pytest.raises(KeyboardInterrupt):
        train(CFG, synthetic, checkpoint=saver, progress=StopAfter(2))
    assert saver.path.is_file() and saver.load()["epoch"] == 2
    assert store.record_files() == []                     # a checkpoint is not a record
    saver.path.write_bytes(b"garbage")                       # damaged: named, removed, started over
    with pytest.warns(BnbenchSkippedFile, match="not a bnbench checkpoint"):
        assert saver.load() is None
    assert not saver.path.exists()
    # a pickle that would run code is refused by weights_only, and nothing runs
    import pickle

    class Evil:
        def __reduce__(self):
            return (exec, ("import sys; sys.modules['bnbench'].PWNED = True",))

    saver.path.write_bytes(pickle.dumps({"format": 1, "x": Evil()}))
    with pytest.warns(BnbenchSkippedFile):
        assert saver.load() is None
    import bnbench

    assert not hasattr(bnbench, "PWNED")
    target = tmp_path / "elsewhere.pt"
    target.write_bytes(ckpt.to_bytes({"format": 1}))
    saver.path.symlink_to(target)                            # a link is not followed, and not removed through
    with pytest.warns(BnbenchSkippedFile, match="link"):
        assert saver.load() is None
    assert target.exists()


def test_size_bound(monkeypatch):
    monkeypatch.setattr(ckpt, "MAX_CHECKPOINT_BYTES", 10)
    with pytest.raises(BnbenchError, match="above the 10"):
        ckpt.from_bytes(b"x" * 11, "big")


def test_the_runner_continues_under_resume_only_and_removes_the_checkpoint(tmp_path, synthetic, monkeypatch):
    """Through the runner: a stopped run leaves its checkpoint; --bnbench-resume continues from it; without
    --bnbench-resume it is discarded (an old run's state is reused only when asked, like its records)."""
    from bnbench.engine import checkpoint as engine_ckpt
    from bnbench.runner import Options, Runner
    from bnbench.study.catalog import EXPERIMENTS
    from bnbench.study.profiles import Profile, Scale

    monkeypatch.setattr(engine_ckpt, "CHECKPOINT_EVERY_S", 0.0)
    profile = Profile("smoke", seeds=1, verdicts=False,
                      scales={"1.1": Scale(epochs=3, train_per_class=20, test_per_class=5)})
    experiment = EXPERIMENTS["1.1/base-nll"]

    def runner(resume, progress=None):
        r = Runner(Options(out=str(tmp_path), resume=resume), progress_factory=progress)
        r._data = synthetic
        return r

    with pytest.raises(KeyboardInterrupt):
        runner(False, lambda label: StopAfter(2)).run(experiment, profile, 0)
    [ckpt_file] = list((tmp_path / "records").rglob("*.partial.pt"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = runner(True).run(experiment, profile, 0)
    assert rec.env["resumed_at_epoch"] == [2] and len(rec.epochs) == 3
    assert not ckpt_file.exists()
    with pytest.raises(KeyboardInterrupt):
        runner(False, lambda label: StopAfter(1)).run(experiment, profile, 0)
    assert ckpt_file.exists()
    rec = runner(False).run(experiment, profile, 0)
    assert "resumed_at_epoch" not in rec.env and not ckpt_file.exists()
