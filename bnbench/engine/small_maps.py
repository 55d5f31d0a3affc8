"""Convolutions whose output is one pixel, run as the matmul they are (an exact rewrite, the trainer's choice).

Why: on the CPU, oneDNN's backward for a 3x3 convolution on a 1x1 map is slow. ResNet's last block convolves
32x512x1x1 activations with a 512x512x3x3 weight; forward and backward of that layer took 4-9 ms in bf16 autocast
(up to 11 ms in fp32) on the project's 2-core machine, against 0.6 ms on this path (BENCHMARKS.md, "ResNet at batch
32"): that one layer was about a sixth of ResNet's training step.

What: when a ``Conv2d``'s output is 1x1, its single window covers the zero-padded input's top-left corner: the
real input rows ``0 .. hr-1`` (``hr = min(H, kh - ph)``) meet the weight rows ``ph .. ph+hr-1``, likewise for
columns, and every other weight tap meets padding zeros or nothing. So the output equals
``linear(x[:, :, :hr, :wr].flatten(1), weight[:, :, ph:ph+hr, pw:pw+wr].flatten(1), bias)``, and the other
taps' gradient is exactly zero (PyTorch's bf16 CPU convolution sometimes leaves garbage there instead, for a
strided convolution on a 1x1 map: ``scripts/cpu_kernel_check.py``). The products are the same; their summation
order may differ, so results agree to rounding, not necessarily bit for bit (tested against a float64 convolution,
values and gradients, fp32 and bf16, both memory layouts). Double backward is refused (nothing in bnbench needs
it).

Any other shape (a map larger than one window's output, groups, dilation, non-zero padding modes, string padding,
unbatched input) takes ``Conv2d``'s own path. The decision is made per call from the input's shape, so one module
serves any input size. A window of several taps on an NCHW weight is a strided gather (and, for the gradient,
scatter) in runs of two or three numbers, often slower than the convolution (ResNet's layer4.conv1: 5.4 against
3.2 ms in one measurement, 4.8 against 5.2 in another); it takes the path all the same, because PyTorch's bf16
convolution is wrong for some such shapes (a stride-3 convolution on a 2x2 map leaves garbage in the weight
gradient, as on 1x1 maps). With channels_last, bnbench's default, the taps are runs of whole channel rows and the
path is faster everywhere. The study-style loop
(``bnbench.engine.baseline``) keeps PyTorch's convolution: this is one of the things bnbench's trainer does
differently, like bf16 autocast or the resident data.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable


def one_window(conv: nn.Conv2d, shape: torch.Size) -> tuple[int, int] | None:
    """``(hr, wr)``, the input rows and columns the single output pixel sees, when ``conv`` maps an input of
    ``shape`` to one pixel per channel; ``None`` when it does not (or when the module is not a plain convolution)."""
    if len(shape) != 4 or conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros":
        return None
    if not isinstance(conv.padding, tuple):   # padding="same"/"valid": leave it to Conv2d
        return None
    (h, w), (ph, pw), (kh, kw), (sh, sw) = shape[-2:], conv.padding, conv.kernel_size, conv.stride
    if h + 2 * ph < kh or w + 2 * pw < kw:    # no output at all: Conv2d raises its own error
        return None
    if (h + 2 * ph - kh) // sh != 0 or (w + 2 * pw - kw) // sw != 0:   # more than one output pixel
        return None
    hr, wr = min(h, kh - ph), min(w, kw - pw)
    return (hr, wr) if hr > 0 and wr > 0 else None


def channels_last(weight: torch.Tensor) -> bool:
    """A 4-d tensor laid out channels_last (and not also plain contiguous, as a 1x1 kernel can be)."""
    return (weight.dim() == 4 and not weight.is_contiguous()
            and weight.is_contiguous(memory_format=torch.channels_last))


class _WindowLinear(torch.autograd.Function):
    """``linear`` of the input's window with the weight's window, with the gradient written straight into a
    weight-shaped tensor in the weight's own memory layout. (Slicing the weight and letting autograd do the rest
    also works, but costs a full-size copy into a zero-filled gradient and, for a channels_last weight, one more
    full-size copy to match the weight's layout: 4.7 ms forward and backward for ResNet's 512x512x3x3 layer in
    channels_last bf16, against 0.6 ms this way and 9.2 ms for the convolution.)

    Precision follows autocast as ``F.linear`` would: under autocast both operands are cast to its dtype,
    otherwise they are used as they are (``OnePixelConv2d`` only calls this when their dtypes already match)."""

    @staticmethod
    def forward(ctx, x, weight, bias, ph, pw, hr, wr):
        device = x.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
        with torch.autocast(device, enabled=False):
            xw = x[:, :, :hr, :wr].reshape(x.shape[0], -1).to(dtype)
            w = weight[:, :, ph:ph + hr, pw:pw + wr].reshape(weight.shape[0], -1).to(dtype)
            out = xw @ w.t()
            if bias is not None:
                out = out + bias.to(dtype)
        ctx.save_for_backward(xw, w)
        ctx.meta = (tuple(x.shape), x.dtype, tuple(weight.shape), weight.dtype, channels_last(weight),
                    bias is not None, ph, pw, hr, wr)
        return out[:, :, None, None]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        xw, w = ctx.saved_tensors
        x_shape, x_dtype, w_shape, w_dtype, weight_channels_last, has_bias, ph, pw, hr, wr = ctx.meta
        g = grad.reshape(grad.shape[0], -1).to(w.dtype)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            gxw = (g @ w).view(x_shape[0], x_shape[1], hr, wr)
            if (hr, wr) == x_shape[-2:]:
                grad_x = gxw.to(x_dtype)
            else:   # the rows and columns outside the window do not reach the output
                grad_x = torch.zeros(x_shape, dtype=x_dtype, device=grad.device)
                grad_x[:, :, :hr, :wr] = gxw
        if ctx.needs_input_grad[1]:
            layout = torch.channels_last if weight_channels_last else torch.contiguous_format
            grad_w = torch.empty(w_shape, dtype=w_dtype, device=grad.device, memory_format=layout).zero_()
            grad_w[:, :, ph:ph + hr, pw:pw + wr] = (g.t() @ xw).view(w_shape[0], w_shape[1], hr, wr)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = g.sum(0, dtype=torch.float32).to(w_dtype)
        return grad_x, grad_w, grad_b, None, None, None, None


class OnePixelConv2d(nn.Conv2d):
    """A ``Conv2d`` that computes a one-pixel output as a ``linear`` over its window (see the module docstring).
    Same parameters, buffers and state_dict as ``Conv2d``; installed by ``use_one_pixel_convs``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = one_window(self, x.shape)
        if window is None or not (x.dtype == self.weight.dtype or torch.is_autocast_enabled(x.device.type)):
            return super().forward(x)
        return _WindowLinear.apply(x, self.weight, self.bias, *self.padding, *window)


def use_one_pixel_convs(model: nn.Module) -> int:
    """Let every plain ``nn.Conv2d`` of ``model`` take the one-pixel path when its input calls for it (the module's
    class is switched in place; nothing else changes). Returns how many modules can take it."""
    count = 0
    for module in model.modules():
        if type(module) is nn.Conv2d:
            module.__class__ = OnePixelConv2d
            count += 1
    return count
