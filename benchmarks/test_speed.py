"""Speed: bnbench's trainer against the study-style loop (torchvision-style Dataset + ToTensor/Normalize +
DataLoader, fp32, NCHW, the PyTorch MNIST example's loop) on the same model, batch size and device, measured in
the same run. The ratio is bnbench's steady-state epoch time (epochs after the first, which pays for warm-up and
compilation) over the study-style loop's epoch time; the first epoch is reported too.
"""
import pytest
import torch

from bnbench.baseline import time_study_style_epoch
from bnbench.config import TrainConfig
from bnbench.models import create_model
from bnbench.train import train

pytestmark = pytest.mark.speed

# The foundation check: MyNet(hidden=500), SGD lr 0.01 momentum 0.9, batch 64, all 50,000 images, 2 epochs.
MYNET = TrainConfig(model="MyNet", model_args={"hidden": 500}, optimizer="sgd", lr=0.01, momentum=0.9,
                    batch_size=64, epochs=2)
VARIANTS = {  # name: (settings, largest allowed ratio against the study-style loop)
    "fp32": ({"precision": "fp32"}, 1.0),      # the study's precision; only the data path and memory format differ
    "default": ({}, 0.8),                      # precision auto: bf16 autocast where the hardware has it
    "default+compile": ({"compile": True}, 0.8),
}
MIN_ACCURACY = 0.60   # after 2 epochs on the full set; the speed settings must not cost accuracy


@pytest.fixture(scope="module")
def study_style_mynet(bnbench_data, bnbench_device):
    torch.manual_seed(0)
    model = create_model("MyNet", hidden=500).to(bnbench_device)
    return time_study_style_epoch(model, bnbench_data.train_x, bnbench_data.train_y, batch_size=64, lr=0.01,
                                  momentum=0.9, device=bnbench_device)


@pytest.mark.parametrize("variant", VARIANTS)
def test_mynet_two_epochs_vs_study_loop(variant, study_style_mynet, bnbench_session, bnbench_data, bnbench_device,
                                        benchmark):
    settings, max_ratio = VARIANTS[variant]
    config = MYNET.replace(**settings)
    rec = benchmark.pedantic(train, args=(config, bnbench_data), kwargs={"device": bnbench_device},
                             rounds=1, iterations=1)
    ratio = rec.s_per_epoch / study_style_mynet["seconds"]
    row = {"model": "MyNet(hidden=500)", "variant": variant, "device": str(bnbench_device),
           "bnbench_s_per_epoch": rec.s_per_epoch, "bnbench_first_epoch_s": rec.epoch_times[0],
           "study_style_s_per_epoch": study_style_mynet["seconds"], "ratio": ratio,
           "bnbench_images_per_s": 50_000 / rec.s_per_epoch,
           "study_style_images_per_s": study_style_mynet["images_per_s"],
           "test_acc": rec.final_test_acc, "compile": rec.env.get("compile"), "precision": rec.env["precision"]}
    benchmark.extra_info.update(row)
    bnbench_session.speed_rows.append(row)
    assert not rec.diverged
    assert rec.final_test_acc >= MIN_ACCURACY, row
    assert ratio <= max_ratio, row


# Every model of the study: bnbench's images/s against the study-style loop's, and FLOP/s as a fraction of this
# machine's matmul peak (measured in the same run, in the precision bnbench trained in).
MODELS = ("MyNet", "ResNet", "VGGNet", "VGG_A", "VGG_A_BatchNorm")
_PEAKS: dict = {}


@pytest.mark.parametrize("model", MODELS)
def test_model_speed(model, bnbench_session, bnbench_data, bnbench_device, benchmark):
    from bnbench.speed import measure_model

    row = benchmark.pedantic(measure_model, args=(model, bnbench_data, bnbench_device),
                             kwargs={"peaks": _PEAKS}, rounds=1, iterations=1)
    benchmark.extra_info.update(row)
    bnbench_session.model_speed_rows.append(row)
    assert row["bnbench_images_per_s"] > 0 and row["study_style_images_per_s"] > 0
    assert 0 < row["fraction_of_peak"] < 1.5, row   # above the measured peak would mean a counting error
