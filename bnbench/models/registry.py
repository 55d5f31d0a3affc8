"""The model registry (timm style), parameter counting and weight-init schemes."""
from __future__ import annotations

import fnmatch
import inspect
from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError

_MODELS: dict[str, Callable[..., nn.Module]] = {}

INIT_SCHEMES = ("default", "xavier_uniform", "xavier_normal")


def register_model(fn):
    """Decorator: register a model class or factory function under its ``__name__``."""
    name = fn.__name__
    old = _MODELS.get(name)
    # A re-imported module re-registers the same definition; a different one is a clash.
    if old is not None and (old.__module__, old.__qualname__) != (fn.__module__, fn.__qualname__):
        raise ConfigError(f"model name {name!r} is already registered by {old.__module__}.{old.__qualname__}")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching the fnmatch wildcard ``pattern`` (case-sensitive), sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with constructor arguments ``kwargs``."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; available models: {', '.join(list_models())}")
    fn = _MODELS[name]
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        for key in kwargs:
            if key not in params:
                allowed = ", ".join(params) or "none"
                raise ConfigError(f"model {name!r} has no argument {key!r}; allowed arguments: {allowed}")
    return fn(**kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def init_weights(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise ``model`` in place by ``scheme`` (one of INIT_SCHEMES) and return it.

    "default" keeps PyTorch's own init. The xavier schemes set Conv2d/Linear weights and zero
    their biases; BatchNorm is set to weight 1, bias 0 so the scheme alone defines the start.
    """
    if scheme not in INIT_SCHEMES:
        raise ConfigError(f"unknown init scheme {scheme!r}; valid schemes: {', '.join(INIT_SCHEMES)}")
    if scheme == "default":
        return model
    init = nn.init.xavier_uniform_ if scheme == "xavier_uniform" else nn.init.xavier_normal_
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    return model


def check_choice(arg: str, value, allowed: tuple) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed`` (bools never stand in for ints)."""
    if isinstance(value, bool) != isinstance(allowed[0], bool) or value not in allowed:
        raise ConfigError(f"{arg}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")


def check_positive_int(arg: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{arg}={value!r} is not allowed; use a positive int")
