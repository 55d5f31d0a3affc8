"""The CPU measurements behind two of bnbench's trainer choices (README "Speed"), reproducible on any machine.

1. Correctness of PyTorch's own convolution on one-pixel outputs in bf16, against bnbench's one-pixel path: for
   each shape, ``TRIALS`` fresh convolutions take one bf16-autocast step and the weight gradient is compared with a
   float64 convolution of the same (bf16-rounded) operands; a trial is wrong when the largest error exceeds 5% of
   the gradient's scale (the taps that meet only padding should get exactly zero; NaN counts as wrong).
2. Time, forward + backward under bf16 autocast, of ResNet's two one-pixel layers at batch 32: PyTorch's
   convolution, the sliced-weight ``linear`` that autograd could do alone, and bnbench's path.
3. Time of one optimizer step on a 512x512x3x3 weight, per implementation and memory layout.

Times are the median of 9 timings of 20 calls each. This is a measurement, not a test (exit status 0);
``tests/test_small_maps.py`` tests bnbench's path.

    python scripts/cpu_kernel_check.py
"""
import time

import torch
import torch.nn.functional as F
from torch import nn

from bnbench.engine.small_maps import use_one_pixel_convs

TRIALS = 20
SHAPES = [  # (in channels, out channels, map, stride)
    (16, 32, 1, 2), (3, 32, 1, 2), (16, 32, 2, 3), (64, 32, 1, 1), (256, 512, 2, 2), (512, 512, 1, 1),
]
RESNET_LAYERS = [(512, 512, 1, 1), (256, 512, 2, 2)]   # layer4.conv2, layer4.conv1 at CIFAR's 32x32


def wrong_trials(cin, cout, hw, stride, channels_last, one_pixel):
    wrong = 0
    for trial in range(TRIALS):
        torch.manual_seed(trial)
        conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        if one_pixel:
            use_one_pixel_convs(conv)
        x = torch.randn(8, cin, hw, hw)
        if channels_last:
            conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(x)
        y.float().sum().backward()
        w64 = conv.weight.detach().to(torch.bfloat16).double().requires_grad_()
        F.conv2d(x.to(torch.bfloat16).double(), w64, stride=stride, padding=1).sum().backward()
        err = ((conv.weight.grad.double() - w64.grad).abs().max() / w64.grad.abs().max()).item()
        wrong += not err < 0.05
    return wrong


def median_ms(fn, calls=20, timings=9):
    for _ in range(3):
        fn()
    samples = []
    for _ in range(timings):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1000)
    return sorted(samples)[timings // 2]


def layer_times(cin, cout, hw, stride, channels_last):
    conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    fast = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    use_one_pixel_convs(fast)
    x = torch.randn(32, cin, hw, hw)
    if channels_last:
        conv, fast = conv.to(memory_format=torch.channels_last), fast.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    r = min(hw, 2)

    def step(kind):
        def run():
            conv.weight.grad = fast.weight.grad = x.grad = None
            with torch.autocast("cpu", dtype=torch.bfloat16):
                if kind == "conv":
                    y = conv(x)
                elif kind == "sliced":
                    w = conv.weight[:, :, 1:1 + r, 1:1 + r]
                    y = F.linear(x[:, :, :r, :r].flatten(1), w.flatten(1))
                else:
                    y = fast(x)
            y.float().sum().backward()
        return run

    return [median_ms(step(kind)) for kind in ("conv", "sliced", "one-pixel")]


def optimizer_ms(kind, impl, channels_last):
    p = torch.randn(512, 512, 3, 3)
    if channels_last:
        p = p.contiguous(memory_format=torch.channels_last)
    p = nn.Parameter(p)
    p.grad = torch.randn_like(p)
    args = {"fused": {"fused": True}, "foreach": {"foreach": True}, "reference": {"foreach": False}}[impl]
    opt = (torch.optim.SGD([p], lr=0.01, momentum=0.9, **args) if kind == "SGD"
           else torch.optim.Adam([p], lr=0.01, **args))
    return median_ms(opt.step, calls=10, timings=7)


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"1. weight gradient of a 3x3 conv, padding 1, bf16 autocast, {TRIALS} trials each")
    for cin, cout, hw, stride in SHAPES:
        for layout in (False, True):
            counts = [wrong_trials(cin, cout, hw, stride, layout, one_pixel) for one_pixel in (False, True)]
            print(f"  {cin:>4}->{cout:<4} {hw}x{hw} stride {stride} {'channels_last' if layout else 'NCHW         '}: "
                  f"PyTorch conv wrong in {counts[0]:>2}/{TRIALS}, one-pixel path wrong in {counts[1]:>2}/{TRIALS}")
    print("2. ResNet's one-pixel layers, batch 32, forward + backward under bf16 autocast (ms)")
    for cin, cout, hw, stride in RESNET_LAYERS:
        for layout in (True, False):
            conv_ms, sliced_ms, fast_ms = layer_times(cin, cout, hw, stride, layout)
            print(f"  {cin:>4}->{cout:<4} {hw}x{hw} stride {stride} {'channels_last' if layout else 'NCHW         '}: "
                  f"conv {conv_ms:6.2f}  sliced linear {sliced_ms:6.2f}  one-pixel path {fast_ms:6.2f}")
    print("3. one optimizer step on a 512x512x3x3 weight (ms)")
    for kind in ("SGD", "Adam"):
        for layout in (False, True):
            cells = "  ".join(f"{impl} {optimizer_ms(kind, impl, layout):5.2f}"
                              for impl in ("fused", "foreach", "reference"))
            print(f"  {kind:<4} {'channels_last' if layout else 'contiguous   '}: {cells}")
