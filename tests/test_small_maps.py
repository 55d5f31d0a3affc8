"""The one-pixel convolution path (bnbench.engine.small_maps) against the convolution it replaces: the same values
and gradients (held against a float64 reference, not against PyTorch's bf16 convolution, whose backward on 1x1 maps
is itself wrong for some shapes: see BENCHMARKS.md), taken exactly where the output is one pixel; and the optimizer
choice that goes with channels_last weights on the CPU."""
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bnbench.engine.config import TrainConfig
from bnbench.engine.models import create_model
from bnbench.engine.small_maps import OnePixelConv2d, one_window, use_one_pixel_convs
from bnbench.engine.train import make_optimizer, optimizer_impl, train

# (in channels, kernel, stride, padding, map size): every one-pixel case of kernels 1-5 on maps 1-4, and shapes
# around them that are not one pixel (they must take Conv2d's own path and so agree trivially)
SHAPES = [(c, k, s, p, hw) for c, k, s, p, hw in itertools.product((3, 16), (1, 3, 5), (1, 2, 3), (0, 1, 2),
                                                                     (1, 2, 3, 4)) if hw + 2 * p >= k]


def _reference(x, w, b, stride, padding, bf16):
    """The convolution in float64 on the operands as the run would see them (rounded to bf16 under autocast)."""
    cast = (lambda t: t.detach().to(torch.bfloat16).double()) if bf16 else (lambda t: t.detach().double())
    x64, w64 = cast(x).requires_grad_(), cast(w).requires_grad_()
    b64 = cast(b).requires_grad_() if b is not None else None
    return x64, w64, b64, F.conv2d(x64, w64, b64, stride, padding)


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_values_and_gradients_equal_the_convolution(bf16, channels_last):
    torch.manual_seed(0)
    taken = 0
    for (cin, k, s, p, hw), bias in itertools.product(SHAPES, (False, True)):
        conv = nn.Conv2d(cin, 6, k, s, p, bias=bias)
        assert use_one_pixel_convs(conv) == 1
        x = torch.randn(5, cin, hw, hw)
        if channels_last:
            conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        taken += one_window(conv, x.shape) is not None
        x = x.requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = conv(x)
        g = torch.randn(y.shape)
        y.float().backward(g)
        x64, w64, b64, y64 = _reference(x, conv.weight, conv.bias, s, p, bf16)
        y64.backward(g.double())
        tol = 2e-2 if bf16 else 1e-5
        pairs = [("out", y, y64), ("grad x", x.grad, x64.grad), ("grad w", conv.weight.grad, w64.grad)]
        pairs += [("grad b", conv.bias.grad, b64.grad)] if bias else []
        for what, got, want in pairs:
            assert got.shape == want.shape, (what, cin, k, s, p, hw)
            err = (got.detach().double() - want).abs().max().item()
            assert err <= tol * (want.abs().max().item() + 1), (what, cin, k, s, p, hw, bias, err)
        assert y.dtype == (torch.bfloat16 if bf16 else torch.float32)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        assert conv.weight.grad.dtype == torch.float32 and conv.weight.grad.is_contiguous(memory_format=layout)
    assert taken == 116   # the one-pixel cases of the grid took the path (the rest are Conv2d's own)


def test_the_taps_outside_the_window_get_an_exact_zero():
    conv = nn.Conv2d(16, 8, 3, 2, 1, bias=False)
    use_one_pixel_convs(conv)
    x = torch.randn(4, 16, 1, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        conv(x).float().sum().backward()
    g = conv.weight.grad
    assert torch.count_nonzero(g[:, :, 1, 1]) > 0
    g[:, :, 1, 1] = 0
    assert torch.count_nonzero(g) == 0      # not garbage, not NaN: PyTorch's own bf16 backward is not always so


@pytest.mark.parametrize("conv, shape, window", [
    (nn.Conv2d(8, 8, 3, 1, 1), (2, 8, 1, 1), (1, 1)),            # ResNet's layer4.conv2
    (nn.Conv2d(8, 8, 3, 2, 1), (2, 8, 2, 2), (2, 2)),            # ResNet's layer4.conv1
    (nn.Conv2d(8, 8, 1, 2, 0), (2, 8, 2, 2), (1, 1)),            # the projection shortcut: sees one corner
    (nn.Conv2d(8, 8, 3, 1, 1), (2, 8, 2, 2), None),              # a 2x2 output
    (nn.Conv2d(8, 8, 3, 1, 0), (2, 8, 3, 3), (3, 3)),            # unpadded, the whole map in one window
    (nn.Conv2d(8, 8, 3, 1, 1, groups=2), (2, 8, 1, 1), None),    # groups: Conv2d's path
    (nn.Conv2d(8, 8, 3, 1, 1, dilation=2), (2, 8, 1, 1), None),  # dilation: Conv2d's path
    (nn.Conv2d(8, 8, 3, 1, "same"), (2, 8, 1, 1), None),         # string padding: Conv2d's path
    (nn.Conv2d(8, 8, 3, 1, 1, padding_mode="reflect"), (2, 8, 1, 1), None),
    (nn.Conv2d(8, 8, 3, 1, 1), (8, 1, 1), None),                 # unbatched: Conv2d's path
    (nn.Conv2d(8, 8, 5, 1, 1), (2, 8, 2, 2), None),              # no output at all: Conv2d raises its own error
])
def test_which_calls_take_the_path(conv, shape, window):
    assert one_window(conv, torch.Size(shape)) == window


@pytest.mark.parametrize("hw", [1, 2, 4])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_both_layouts_take_the_path(hw, channels_last):
    """One tap or several, NCHW or channels_last: PyTorch's bf16 convolution is wrong for some of these shapes."""
    conv = nn.Conv2d(8, 8, 3, 2, 1, bias=False)
    use_one_pixel_convs(conv)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
    grad_fn = type(conv(torch.randn(2, 8, hw, hw, requires_grad=True)).grad_fn).__name__
    assert ("WindowLinear" in grad_fn) == (hw < 4), grad_fn    # a 4x4 map gives a 2x2 output: Conv2d's path


def test_in_the_study_resnets_exactly_the_last_block_takes_the_path():
    taken = []
    for name, expected in (("ResNet", ["layer4.conv1", "layer4.conv2"]),
                           ("ResNet_Projection", ["layer4.conv1", "layer4.conv2", "layer4.shortcut.0"])):
        model = create_model(name)
        before = model.state_dict()
        assert use_one_pixel_convs(model) == sum(isinstance(m, nn.Conv2d) for m in model.modules())
        assert model.state_dict().keys() == before.keys()
        names = {m: n for n, m in model.named_modules()}
        taken = []
        hooks = [m.register_forward_pre_hook(lambda m, args: taken.append(names[m]) if one_window(m, args[0].shape)
                                             else None) for m in model.modules() if isinstance(m, OnePixelConv2d)]
        model(torch.randn(2, 3, 32, 32))
        for h in hooks:
            h.remove()
        assert sorted(taken) == expected, name


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_the_weight_gradient_is_made_in_the_weight_layout(channels_last):
    """Made in the weight's own layout, autograd need not copy it into that layout (the copy this path avoids)."""
    conv = nn.Conv2d(16, 8, 3, 1, 1, bias=False)
    use_one_pixel_convs(conv)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    conv = conv.to(memory_format=layout)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (gw,) = torch.autograd.grad(conv(torch.randn(4, 16, 1, 1)).float().sum(), conv.weight)
    assert gw.is_contiguous(memory_format=layout) and gw.dtype == torch.float32


def test_double_backward_is_refused():
    conv = nn.Conv2d(4, 4, 3, 1, 1)
    use_one_pixel_convs(conv)
    x = torch.randn(2, 4, 1, 1, requires_grad=True)
    (gx,) = torch.autograd.grad((conv(x) ** 2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|double backward|differentiable"):
        gx.sum().backward()


def test_training_with_and_without_the_path_agrees(synthetic_data):
    """A few fp32 ResNet steps: the same losses to rounding, whichever path layer4 takes."""
    data = synthetic_data(n_train=64, n_test=20)
    cfg = TrainConfig(model="ResNet", lr=0.01, momentum=0.9, loss="nll", batch_size=16, epochs=1,
                      precision="fp32", deterministic=True)
    on, off = train(cfg, data), train(cfg.replace(one_pixel_convs=False), data)
    assert len(on.step_loss) == len(off.step_loss) == 4
    assert on.step_loss == pytest.approx(off.step_loss, rel=1e-4)
    assert cfg.hash == cfg.replace(one_pixel_convs=False).hash   # how it computes, not what it measures


def test_sgd_on_the_cpu_is_fused_unless_a_weight_is_channels_last():
    cpu = torch.device("cpu")
    cfg = TrainConfig(model="MyNet")
    model = create_model("MyNet")
    assert optimizer_impl(make_optimizer(cfg, model.parameters(), cpu)) == "fused"
    model = model.to(memory_format=torch.channels_last)
    assert optimizer_impl(make_optimizer(cfg, model.parameters(), cpu)) == "foreach"
    assert optimizer_impl(make_optimizer(cfg.replace(optimizer="adam", momentum=0.0), model.parameters(),
                                         cpu)) == "fused"
    assert optimizer_impl(make_optimizer(cfg.replace(deterministic=True), model.parameters(), cpu)) == "reference"


def test_the_foreach_step_is_the_reference_step():
    torch.manual_seed(0)
    a = nn.Parameter(torch.randn(8, 4, 3, 3).contiguous(memory_format=torch.channels_last))
    b = nn.Parameter(a.detach().clone())
    cfg = TrainConfig(model="MyNet", lr=0.1, momentum=0.9, weight_decay=1e-3)
    fast = make_optimizer(cfg, [a], torch.device("cpu"))
    slow = make_optimizer(cfg.replace(deterministic=True), [b], torch.device("cpu"))
    for _ in range(3):
        g = torch.randn(a.shape)
        a.grad, b.grad = g.clone(), g.clone()
        fast.step()
        slow.step()
    torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-6, atol=1e-7)
