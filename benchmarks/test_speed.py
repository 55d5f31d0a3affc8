"""Speed: bnbench's trainer against the study-style loop (torchvision-style Dataset + ToTensor/Normalize +
DataLoader, fp32, NCHW, the PyTorch MNIST example's loop) on the same model, batch size and device, measured in
the same run. The ratio is bnbench's steady-state epoch time (epochs after the first, which pays for warm-up and
compilation) over the study-style loop's epoch time; the first epoch is reported too.

Each variant's study-style epoch is timed right after the variant's own run, not once for all of them: on a shared
machine speed drifts by tens of percent over minutes (measured, BENCHMARKS.md), and the two sides of a ratio should
share as much of the machine's state as they can.
"""
import warnings

import pytest
import torch

from bnbench.engine.baseline import time_study_style_epoch
from bnbench.engine.config import TrainConfig
from bnbench.engine.models import create_model, list_models
from bnbench.engine.speed_rows import SpeedRow
from bnbench.engine.train import train
from bnbench.errors import BnbenchBelowTarget
from bnbench.store.formats import model_speed_to_json, speed_row_to_json

pytestmark = pytest.mark.speed

# The foundation check: MyNet(hidden=500), SGD lr 0.01 momentum 0.9, batch 64, all 50,000 images, 2 epochs. Without
# the study's dropout: this check has measured the same network since it was set up (BENCHMARKS.md), and on CUDA a
# network with dropout trains without the CUDA graph whose worth it measures.
MYNET = TrainConfig(model="MyNet", model_args={"hidden": 500, "dropout": 0.0}, optimizer="sgd", lr=0.01, momentum=0.9,
                    batch_size=64, epochs=2)
VARIANTS = {  # name: (settings, trainer arguments, largest allowed ratio against the study-style loop)
    "fp32": ({"precision": "fp32"}, {}, 1.0),  # the study's precision; the data path, memory format (and on CUDA
                                               # the graphs) differ
    "default": ({}, {}, 0.8),                  # precision auto: bf16 autocast where the hardware has it; on CUDA
                                               # the step replayed as one CUDA graph
    "default+compile": ({"compile": True}, {}, 0.8),
    "default, no CUDA graph": ({}, {"cuda_graphs": False}, 0.8),   # what the graph is worth (CUDA only)
}
MIN_ACCURACY = 0.60   # after 2 epochs on the full set; the speed settings must not cost accuracy


def study_style_mynet(data, device) -> dict:
    torch.manual_seed(0)
    model = create_model("MyNet", **MYNET.model_args).to(device)
    return time_study_style_epoch(model, data.train_x, data.train_y, batch_size=64, lr=0.01, momentum=0.9,
                                  device=device)


@pytest.mark.parametrize("variant", VARIANTS)
def test_mynet_two_epochs_vs_study_loop(variant, bnbench_session, bnbench_data, bnbench_device, benchmark):
    settings, kwargs, max_ratio = VARIANTS[variant]
    if kwargs.get("cuda_graphs") is False and bnbench_device.type != "cuda":
        pytest.skip("CUDA graphs exist only on CUDA: off the GPU this variant is the default one")
    config = MYNET.replace(**settings)
    kwargs = {"device": bnbench_device, "cuda_graphs": bnbench_session.options.cuda_graphs, **kwargs}
    rec = benchmark.pedantic(train, args=(config, bnbench_data), kwargs=kwargs,
                             rounds=1, iterations=1)
    study = study_style_mynet(bnbench_data, bnbench_device)
    ratio = rec.s_per_epoch / study["seconds"]
    row = SpeedRow(model="MyNet(hidden=500)", variant=variant, device=str(bnbench_device),
                   bnbench_s_per_epoch=rec.s_per_epoch, bnbench_first_epoch_s=rec.epoch_times[0],
                   study_style_s_per_epoch=study["seconds"], ratio=ratio,
                   bnbench_images_per_s=50_000 / rec.s_per_epoch,
                   study_style_images_per_s=study["images_per_s"],
                   test_acc=rec.final_test_acc, compile=rec.env.get("compile"), precision=rec.env["precision"],
                   cuda_graphs=rec.env.get("cuda_graphs"))
    benchmark.extra_info.update(speed_row_to_json(row))
    bnbench_session.speed_rows.append(row)
    assert not rec.diverged
    assert rec.final_test_acc >= MIN_ACCURACY, row
    assert ratio <= max_ratio, row


# Every model of the study: bnbench's images/s against the study-style loop's, and FLOP/s as a fraction of this
# machine's matmul peak (measured in the same run, in the precision bnbench trained in).
MODELS = list_models()   # every registered model, at the batch size the study trained it with
_PEAKS: dict = {}
# bnbench's own target (issue #12): at least this speedup for every model at the study's batch size. Below it the
# test warns (BnbenchBelowTarget) and --bnbench-strict fails it: a shared machine's speed drifts by tens of percent
# over minutes and hits the two sides unevenly (BENCHMARKS.md), so one low reading is reported, not hidden and not
# a broken build.
MIN_SPEEDUP = 1.5


@pytest.mark.parametrize("model", MODELS)
def test_model_speed(model, bnbench_session, bnbench_data, bnbench_device, benchmark):
    from bnbench.engine.speed import measure_model

    row = benchmark.pedantic(measure_model, args=(model, bnbench_data, bnbench_device),
                             kwargs={"peaks": _PEAKS, "cuda_graphs": bnbench_session.options.cuda_graphs},
                             rounds=1, iterations=1)
    benchmark.extra_info.update(model_speed_to_json(row))
    bnbench_session.model_speed_rows.append(row)
    assert row.bnbench_images_per_s > 0 and row.study_style_images_per_s > 0
    assert 0 < row.fraction_of_peak < 1.5, row   # above the measured peak would mean a counting error
    message = row.below(MIN_SPEEDUP)
    if message:
        if bnbench_session.options.strict:
            pytest.fail(message + " (--bnbench-strict)", pytrace=False)
        warnings.warn(BnbenchBelowTarget(message))
