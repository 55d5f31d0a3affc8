"""What the speed benchmarks measure, as plain data: ``SpeedRow``, MyNet's two full epochs with bnbench against
the study-style loop, and ``ModelSpeed``, one model's training throughput, FLOPs and fraction of this machine's
matmul peak (``bnbench.engine.speed.measure_model``). Their file format belongs to the store
(``bnbench.store.formats``): the JSON keys are these field names, in this order.

Torch-free so that the summary, the CLI and the estimate can read speed results without importing torch.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class SpeedRow:
    """MyNet trained by bnbench (one variant: precision, compile, CUDA graph) against the study-style loop's
    epoch on the same model, batch size and device, in the same run."""
    model: str
    variant: str
    device: str
    bnbench_s_per_epoch: float          # steady state: the median of the epochs after the first
    bnbench_first_epoch_s: float        # pays for warm-up, autotuning, compilation and graph capture
    study_style_s_per_epoch: float
    ratio: float                        # bnbench_s_per_epoch / study_style_s_per_epoch (below 1: bnbench faster)
    bnbench_images_per_s: float
    study_style_images_per_s: float
    test_acc: float                     # NaN for a diverged run
    compile: str | None = None          # the record's env["compile"]: "compiled", a fallback's reason, or None
    precision: str
    cuda_graphs: str | None = None      # the record's env["cuda_graphs"] ("on: ..." when the step was graphed)


@dataclass(frozen=True, kw_only=True)
class ModelSpeed:
    """One model at the study's batch size: bnbench's images/s against the study-style loop's (median of paired
    repeats), FLOPs per training image, achieved FLOP/s and the fraction of the matmul peak measured here."""
    model: str
    batch_size: int
    device: str
    device_name: str | None = None      # the GPU's name, or the CPU's with its core count
    precision: str
    compile: str | None = None
    cuda_graphs: str | None = None
    bnbench_images_per_s: float
    study_style_images_per_s: float
    speedup: float                      # median of the paired ratios bnbench / study-style
    paired_speedups: tuple[float, ...] = ()
    flops_per_image: float
    achieved_flops: float
    peak_flops: float
    peak_dtype: str
    fraction_of_peak: float
    native_bf16: bool | None = None

    def below(self, target: float) -> str | None:
        """One line saying the speedup misses ``target`` (with its pairs), or None when it does not."""
        if self.speedup >= target:
            return None
        pairs = ", ".join(f"{v:.2f}" for v in self.paired_speedups)
        return (f"{self.model}, batch {self.batch_size}: {self.speedup:.2f}x the study-style loop's images/s "
                f"(pairs {pairs}), below bnbench's {target}x target")
