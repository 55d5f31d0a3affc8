"""Speed measurements: bnbench's trainer against the study-style loop on the same model, batch size and device,
in the same process; FLOPs per training image, counted; and the machine's own matrix-multiply peak, measured
here, so achieved FLOP/s can be read as a fraction of what this machine can do.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from bnbench.engine.baseline import time_study_style_epoch
from bnbench.engine.config import TrainConfig
from bnbench.engine.data import CIFAR10
from bnbench.engine.device import native_bf16
from bnbench.errors import ConfigError
from bnbench.engine.models import create_model, model_info
from bnbench.engine.speed_rows import ModelSpeed, SpeedRow  # noqa: F401  (the rows the speed benchmarks make)
from bnbench.engine.train import train
from bnbench.numbers import median



def device_name(device: torch.device) -> str:
    """What a speed figure was measured on, in words: the GPU's name, or the CPU's with its core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import os

    from bnbench.engine.env import cpu_name

    return f"{cpu_name()}, {os.cpu_count()} cores"


def flops_per_image(model_name: str, batch_size: int = 8, **model_args) -> float:
    """Forward + backward FLOPs of one training image (convolutions and matmuls, as torch's counter sees them)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = create_model(model_name, **model_args)
    x = torch.randn(batch_size, 3, 32, 32)
    y = torch.randint(0, 10, (batch_size,))
    counter = FlopCounterMode(display=False)
    with counter:
        F.cross_entropy(model(x).float(), y).backward()
    return counter.get_total_flops() / batch_size


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, seconds: float = 1.0,
                trials: int = 3) -> float:
    """FLOP/s of a large square matmul on this device: the practical peak that model FLOP/s is held against.
    The best of ``trials`` timings of ``seconds / trials`` each (a peak is what the machine can do, so a trial
    slowed by a neighbour on a shared machine should not lower it)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        a @ b
    sync()
    best = 0.0
    for _ in range(trials):
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / trials:
            a @ b
            runs += 1
        sync()
        best = max(best, 2 * n**3 * runs / (time.perf_counter() - start))
    return best


# How much each side trains per measurement: (bnbench steps per epoch, study-style timed batches). On a GPU a
# step takes well under a millisecond, so the samples are longer there, for a clock that is not all overhead.
SAMPLE = {"cpu": (10, 6), "cuda": (100, 50)}
STUDY_WARMUP_BATCHES = 2
# Pairs per model: single pairs on the 2-core CPU machine ranged 1.41-1.86x for one model within a minute, so five
# there; on a GPU the samples are ten times longer and the GPU check's time limit was sized for three.
REPEATS = {"cpu": 5, "cuda": 3}


def measure_model(name: str, data: CIFAR10, device: torch.device, steps: int | None = None,
                  study_batches: int | None = None, peaks: dict | None = None, cuda_graphs: bool = True,
                  repeats: int | None = None, **settings) -> ModelSpeed:
    """Images/s of bnbench's trainer and of the study-style loop on one model, their ratio, and FLOP/s
    (a ``ModelSpeed``).

    bnbench trains two epochs of ``steps`` steps on a stratified subset and is timed on the second (the first pays
    for warm-up, cuDNN autotuning and the CUDA-graph capture); right after it, the study-style loop trains
    ``STUDY_WARMUP_BATCHES`` untimed batches, then ``study_batches`` timed ones from the same loader iterator.
    That pair is measured ``repeats`` times: "speedup" is the median of the paired ratios, the images/s are the
    medians of each side (on a shared machine speed drifts over seconds; a pair shares the machine's state, and the
    median drops a pair that a burst hit). Sample sizes and repeats default to ``SAMPLE`` and ``REPEATS`` of the
    device type.
    """
    if repeats is None:
        repeats = REPEATS.get(device.type, REPEATS["cuda"])
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats={repeats!r} is out of range; use an integer >= 1")
    default_steps, default_batches = SAMPLE.get(device.type, SAMPLE["cuda"])
    steps = steps or default_steps
    study_batches = study_batches or default_batches
    info = model_info(name)   # the study's batch size (32 in section 1, 128 in section 2) and the output kind
    bs = info.study_batch_size
    loss = "cross_entropy" if info.outputs == "logits" else "nll"
    per_class = max(1, steps * bs // 10)
    config = TrainConfig(model=name, optimizer="sgd", lr=0.01, momentum=0.9, loss=loss, batch_size=bs, epochs=2,
                         train_per_class=per_class, test_per_class=1, **settings)
    torch.manual_seed(0)
    model = create_model(name).to(device)
    kw = dict(batch_size=bs, lr=0.01, momentum=0.9, device=device, loss=loss)
    ours_runs, study_runs = [], []
    for _ in range(repeats):
        rec = train(config, data, device=device, cuda_graphs=cuda_graphs)
        ours_runs.append(rec.epochs[-1]["images"] / rec.epochs[-1]["train_time_s"])
        study = time_study_style_epoch(model, data.train_x, data.train_y, warmup_batches=STUDY_WARMUP_BATCHES,
                                       max_batches=STUDY_WARMUP_BATCHES + study_batches, **kw)
        study_runs.append(study["images_per_s"])
    paired = [a / b for a, b in zip(ours_runs, study_runs)]
    ours = median(ours_runs)

    flops = flops_per_image(name)
    bf16 = rec.env["precision"] == "bf16-autocast"
    peaks = peaks if peaks is not None else {}
    key = "bf16" if bf16 else "fp32"
    if key not in peaks:
        peaks[key] = matmul_peak(device, torch.bfloat16 if bf16 else torch.float32)
    return ModelSpeed(
        model=name, batch_size=bs, device=str(device), device_name=device_name(device),
        precision=rec.env["precision"], compile=rec.env.get("compile"), cuda_graphs=rec.env.get("cuda_graphs"),
        bnbench_images_per_s=ours, study_style_images_per_s=median(study_runs),
        speedup=median(paired), paired_speedups=tuple(paired),
        flops_per_image=flops, achieved_flops=flops * ours, peak_flops=peaks[key], peak_dtype=key,
        fraction_of_peak=flops * ours / peaks[key], native_bf16=native_bf16(device),
    )
