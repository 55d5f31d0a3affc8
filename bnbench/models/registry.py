"""The model registry (timm style), parameter counting and weight-init schemes."""
from __future__ import annotations

import fnmatch
import inspect
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError

INIT_SCHEMES = ("default", "xavier_uniform", "xavier_normal")
OUTPUT_KINDS = ("log_probs", "logits")


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model besides how to build it (timm's pretrained_cfg idea).

    ``outputs``: "log_probs" (the forward ends in log_softmax; pair with nll_loss) or "logits" (pair
    with CrossEntropyLoss). ``study_batch_size``: the batch size the study trained it with.
    ``section``: the report section that defines it. ``entrypoint``: the class or factory.
    """

    name: str
    outputs: str | None = None
    study_batch_size: int | None = None
    section: str | None = None
    entrypoint: Callable[..., nn.Module] | None = field(default=None, repr=False, compare=False)

    @property
    def doc(self) -> str:
        """First line of the entrypoint's docstring."""
        return (inspect.getdoc(self.entrypoint) or "").split("\n", 1)[0]


_MODELS: dict[str, ModelInfo] = {}


def register_model(fn=None, *, outputs: str | None = None, study_batch_size: int | None = None,
                   section: str | None = None):
    """Decorator: register a model class or factory function under its ``__name__``.

    Bare (``@register_model``) or with metadata (``@register_model(outputs="log_probs",
    study_batch_size=32, section="1.2")``). Without ``outputs``, a class's ``outputs`` attribute
    is used; when both are given they must agree.
    """
    if fn is None:
        return lambda f: register_model(f, outputs=outputs, study_batch_size=study_batch_size, section=section)
    attr = getattr(fn, "outputs", None) if isinstance(fn, type) else None
    outputs = outputs if outputs is not None else attr
    if outputs is not None and outputs not in OUTPUT_KINDS:
        raise ConfigError(f"outputs={outputs!r} is not allowed; choose one of {', '.join(OUTPUT_KINDS)}")
    if attr is not None and attr != outputs:
        raise ConfigError(f"{fn.__name__}: registered outputs={outputs!r} but the class says {attr!r}")
    if study_batch_size is not None:
        check_positive_int("study_batch_size", study_batch_size)
    name = fn.__name__
    old = _MODELS.get(name)
    # A re-imported module re-registers the same definition; a different one is a clash.
    if old is not None and (old.entrypoint.__module__, old.entrypoint.__qualname__) != (fn.__module__, fn.__qualname__):
        raise ConfigError(f"model name {name!r} is already registered by "
                          f"{old.entrypoint.__module__}.{old.entrypoint.__qualname__}")
    _MODELS[name] = ModelInfo(name, outputs, study_batch_size, section, fn)
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching the fnmatch wildcard ``pattern`` (case-sensitive), sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def model_info(name: str) -> ModelInfo:
    """The registry's metadata for model ``name``."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; available models: {', '.join(list_models())}")
    return _MODELS[name]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with constructor arguments ``kwargs``."""
    fn = model_info(name).entrypoint
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


def check_positive_int(arg: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{arg}={value!r} is not allowed; use a positive int")


def check_probability(arg: str, value) -> None:
    """Raise ConfigError unless ``value`` is a real number in [0, 1) (a dropout probability)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{arg}={value!r} is not allowed; use a probability in [0, 1)")
