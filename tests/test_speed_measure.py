"""bnbench.engine.speed: FLOPs counted as by hand, the matmul peak, and measure_model's paired, repeated measurement."""
import pytest
import torch

from bnbench.engine.speed import ModelSpeed, flops_per_image, matmul_peak, measure_model


def test_flops_per_image_by_hand():
    # MyNet(hidden=100): multiply-accumulates of conv1 (20x28x28 outputs x 3x5x5), conv2 (50x10x10 x 20x5x5),
    # fc1 (1250x100), fc2 (100x10); the backward pass computes weight gradients for all four and input
    # gradients for all but conv1 (the images need none); 2 FLOPs per multiply-accumulate.
    macs = [20 * 28 * 28 * 75, 50 * 10 * 10 * 500, 1250 * 100, 100 * 10]
    assert flops_per_image("MyNet") == 2 * (2 * sum(macs) + sum(macs[1:]))
    assert flops_per_image("MyNet", hidden=500) > flops_per_image("MyNet")


def test_matmul_peak_is_a_rate():
    peak = matmul_peak(torch.device("cpu"), torch.float32, n=256, seconds=0.3)
    assert 1e8 < peak < 1e14


def test_measure_model_pairs_and_repeats(synthetic_data):
    data = synthetic_data(n_train=700, n_test=50, seed=4)
    row = measure_model("MyNet", data, torch.device("cpu"), steps=2, study_batches=2, repeats=3)
    assert isinstance(row, ModelSpeed) and row.model == "MyNet" and row.device == "cpu"
    assert len(row.paired_speedups) == 3
    assert row.speedup == sorted(row.paired_speedups)[1]          # the median pair
    assert row.bnbench_images_per_s > 0 and row.study_style_images_per_s > 0
    assert row.fraction_of_peak == pytest.approx(row.achieved_flops / row.peak_flops)
    assert row.achieved_flops == pytest.approx(row.flops_per_image * row.bnbench_images_per_s)
    assert row.cuda_graphs == "off (not available on cpu)" and row.device_name


def test_measure_model_refuses_zero_repeats(synthetic_data):
    from bnbench.errors import ConfigError

    with pytest.raises(ConfigError, match="repeats=0"):
        measure_model("MyNet", synthetic_data(n_train=100, n_test=50, seed=0), torch.device("cpu"), repeats=0)


def test_measure_model_takes_five_pairs_on_the_cpu_by_default(synthetic_data):
    from bnbench.engine.speed import REPEATS

    assert REPEATS["cpu"] == 5
    data = synthetic_data(n_train=700, n_test=50, seed=4)
    row = measure_model("MyNet", data, torch.device("cpu"), steps=2, study_batches=2)
    assert len(row.paired_speedups) == 5 and row.speedup == sorted(row.paired_speedups)[2]


def test_a_speedup_below_the_target_is_named_with_its_pairs():
    row = ModelSpeed(model="ResNet", batch_size=32, device="cpu", precision="bf16-autocast",
                     bnbench_images_per_s=1100.0, study_style_images_per_s=800.0, speedup=1.44,
                     paired_speedups=(1.44, 1.38, 1.46), flops_per_image=1e8, achieved_flops=1e11, peak_flops=4e11,
                     peak_dtype="bf16", fraction_of_peak=0.25)
    assert row.below(1.5) == ("ResNet, batch 32: 1.44x the study-style loop's images/s (pairs 1.44, 1.38, 1.46), "
                              "below bnbench's 1.5x target")
    assert row.below(1.44) is None and row.below(1.0) is None
