"""Device names: the one vocabulary ("auto", "cpu", "cuda", "cuda:N") for the plugin option, the trainer and the
study-style baseline.

:func:`parse_device` is torch-free, so the plugin can refuse a bad ``--bnbench-device`` before torch is imported;
torch is imported inside the functions that need it.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bnbench.errors import ConfigError

if TYPE_CHECKING:
    import torch

_CUDA_INDEX = re.compile(r"cuda:([0-9]+)")


def parse_device(name, what: str = "device") -> str:
    """``name`` normalised (stripped, lower case, "cuda:007" -> "cuda:7"): "auto", "cpu", "cuda" or "cuda:N".
    Anything else is a ConfigError that names ``what`` (e.g. "--bnbench-device")."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key in ("auto", "cpu", "cuda"):
        return key
    match = _CUDA_INDEX.fullmatch(key or "")
    if match:
        return f"cuda:{int(match.group(1))}"
    raise ConfigError(f"{what} {name!r} is not known; use auto, cpu, cuda or cuda:N")


def resolve_device(name: str | None = "auto") -> "torch.device":
    """auto -> cuda when available, else cpu. Asking for cuda without one is an error, not a silent CPU run."""
    import torch

    key = parse_device(name or "auto")
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if key == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {key!r} was asked for but no CUDA device is available "
                          "(torch.cuda.is_available() is False); use --bnbench-device cpu or auto")
    dev = torch.device(key)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {key!r} does not exist: this machine has {torch.cuda.device_count()} "
                          "CUDA device(s); use cuda:0 or auto")
    return dev


def as_device(device) -> "torch.device":
    """A torch.device as given, or one named in the vocabulary, without checking that CUDA is there: for code that
    only decides settings by the device type (the study-style loader builds its CUDA settings on any machine)."""
    import torch

    if isinstance(device, torch.device):
        return device
    key = parse_device(device)
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(key)


def native_bf16(device: "torch.device") -> bool:
    """Whether the device computes bf16 natively: CUDA GPUs from Ampere on, CPUs with AVX512-BF16 or AMX.
    There, bf16 autocast is the default (1.7x for the VGGs on such a CPU); elsewhere it would be emulated, and slow."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
