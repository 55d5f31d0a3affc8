"""Building registered models (timm style), parameter counting and weight-init schemes.

Which models exist, and what they output, is the torch-free catalogue (``catalog.py``); this module builds them.
"""
from __future__ import annotations

import inspect

import torch
from torch import nn

from bnbench.engine.models.catalog import (INIT_SCHEMES, OUTPUT_KINDS, ModelInfo, list_models,  # noqa: F401
                                           model_info, register_model)
from bnbench.errors import ConfigError


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with constructor arguments ``kwargs``."""
    fn = model_info(name).load()
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

    - "default": PyTorch's own init, unchanged.
    - "xavier_uniform": what the study's section 1.2 did (its posted ``model.apply(init)``):
      xavier_uniform_ on **Linear weights only**, Linear biases filled with 0.01; convolutions and
      BatchNorm keep PyTorch's default init.
    - "xavier_normal": the course template's init (section 2.1, VGG_A builds itself with it):
      xavier_normal_ on Conv2d and Linear weights, zero biases, BatchNorm weight 1 / bias 0.
    """
    if scheme not in INIT_SCHEMES:
        raise ConfigError(f"unknown init scheme {scheme!r}; valid schemes: {', '.join(INIT_SCHEMES)}")
    with torch.no_grad():
        if scheme == "xavier_uniform":
            for m in model.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0.01)
        elif scheme == "xavier_normal":
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_normal_(m.weight)
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


def check_positive_int(arg: str, value, most: int | None = None) -> None:
    """Raise ConfigError unless ``value`` is an int in 1..most (a size: bounded before any layer is allocated)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{arg}={value!r} is not allowed; use a positive int")
    if most is not None and value > most:
        raise ConfigError(f"{arg}={value!r} is not allowed; use at most {most:,}")


def check_probability(arg: str, value) -> None:
    """Raise ConfigError unless ``value`` is a real number in [0, 1) (a dropout probability)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{arg}={value!r} is not allowed; use a probability in [0, 1)")
