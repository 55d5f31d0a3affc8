"""The study-style baseline loop: torchvision-exact items, and a short timed epoch that really trains."""
import pytest
import torch

from bnbench.engine.baseline import StudyStyleCIFAR10, study_style_loader, time_study_style_epoch
from bnbench.errors import ConfigError
from bnbench.engine.models import create_model


@pytest.fixture(scope="module")
def data(synthetic_data):
    return synthetic_data(n_train=512, n_test=64, seed=0)


def test_items_match_totensor_normalize(data):
    ds = StudyStyleCIFAR10(data.train_x, data.train_y)
    assert len(ds) == len(data.train_y)
    for i in (0, 1, 7, 511):
        img, label = ds[i]
        expected = (data.train_x[i].float() / 255 - 0.5) / 0.5
        assert img.dtype == torch.float32
        assert img.shape == (3, 32, 32)
        torch.testing.assert_close(img, expected, rtol=0, atol=1e-6)
        assert type(label) is int and label == int(data.train_y[i])


def test_items_cifar10_normalization(data):
    ds = StudyStyleCIFAR10(data.train_x, data.train_y, normalization="cifar10")
    mean = torch.tensor((0.4914, 0.4822, 0.4465)).view(3, 1, 1)
    std = torch.tensor((0.2470, 0.2435, 0.2616)).view(3, 1, 1)
    img, _ = ds[3]
    torch.testing.assert_close(img, (data.train_x[3].float() / 255 - mean) / std, rtol=1e-6, atol=1e-5)


def test_loader_is_shuffled_seeded_and_batched(data):
    ds = StudyStyleCIFAR10(data.train_x, data.train_y)
    a = study_style_loader(ds, 64, "cpu", seed=3)
    b = study_style_loader(ds, 64, "cpu", seed=3)
    assert a.num_workers == 0 and not a.pin_memory
    xa, ya = next(iter(a))
    xb, yb = next(iter(b))
    assert xa.shape == (64, 3, 32, 32) and ya.dtype == torch.int64
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(ya, data.train_y[:64])  # shuffled (a 64-label match by chance is ~impossible)


def test_loader_uses_the_mnist_example_cuda_settings(data):
    # only built, never iterated: no GPU needed
    ds = StudyStyleCIFAR10(data.train_x, data.train_y)
    loader = study_style_loader(ds, 64, "cuda", seed=0)
    assert loader.num_workers == 1 and loader.pin_memory and loader.batch_size == 64
    assert isinstance(loader.sampler, torch.utils.data.RandomSampler)


def test_timed_epoch_trains(data):
    torch.manual_seed(0)
    model = create_model("MyNet")
    before = [p.detach().clone() for p in model.parameters()]
    out = time_study_style_epoch(model, data.train_x, data.train_y, batch_size=16, max_batches=4)
    assert out["seconds"] > 0
    assert out["images"] == 4 * 16 and out["batches"] == 4
    assert out["images_per_s"] == pytest.approx(out["images"] / out["seconds"])
    assert out["mean_loss"] > 0 and torch.isfinite(torch.tensor(out["mean_loss"]))
    assert any(not torch.equal(p0, p) for p0, p in zip(before, model.parameters()))


def test_warmup_batches_are_trained_but_not_timed(data):
    torch.manual_seed(0)
    model = create_model("MyNet")
    out = time_study_style_epoch(model, data.train_x, data.train_y, batch_size=16, warmup_batches=2, max_batches=5)
    assert out["images"] == 3 * 16 and out["batches"] == 3     # 5 trained, the last 3 timed
    n = len(data.train_y)
    with pytest.raises(ConfigError, match="lower warmup_batches"):   # a loader shorter than the warm-up
        time_study_style_epoch(model, data.train_x, data.train_y, batch_size=n, warmup_batches=1)
    for bad in (-1, 5, True, 1.5):
        with pytest.raises(ConfigError, match="warmup_batches"):
            time_study_style_epoch(model, data.train_x, data.train_y, batch_size=16, warmup_batches=bad,
                                   max_batches=5)


def test_bad_inputs(data):
    model = create_model("MyNet")
    with pytest.raises(ConfigError):
        time_study_style_epoch(model, data.train_x, data.train_y, batch_size=32, loss="hinge")
    with pytest.raises(ConfigError):
        time_study_style_epoch(model, data.train_x, data.train_y, batch_size=32, max_batches=0)
    with pytest.raises(ConfigError):
        StudyStyleCIFAR10(data.train_x.float(), data.train_y)
    with pytest.raises(ConfigError, match="VGG_A outputs raw logits"):    # the catalogue's entry for its class
        time_study_style_epoch(create_model("VGG_A_BatchNorm"), data.train_x, data.train_y, batch_size=32, loss="nll")
    with pytest.raises(ConfigError, match="device 'tpu' is not known; use auto, cpu, cuda or cuda:N"):
        time_study_style_epoch(model, data.train_x, data.train_y, batch_size=32, device="tpu")
