"""The model catalogue: every model's name and metadata, registered once, torch-free.

Decision: a model is described in one place, the ``_CATALOG`` dict of :class:`ModelInfo` entries here. The built-in
models are listed below with their entrypoint as a lazy ``"module:attr"`` string, so reading the catalogue imports no
torch: ``config.validate`` checks a model name and its output kind (nll needs log-probabilities) before any heavy
import, as the plugin and the CLI need. ``create_model`` (``registry.py``, which imports torch) loads the entrypoint
when a model is built. User extensions and tests add entries with :func:`register_model`, which stores the callable
itself in the same dict, so the trainer, the config check, the speed measurement and the tests all ask one table.

The model classes carry no metadata of their own (no ``outputs`` class attribute): the study-style baseline, which
gets a model object, finds its entry by class (:func:`outputs_of`). A user's unregistered class may still say
``outputs = "logits"``; :func:`register_model` checks that it agrees with what it is registered with.
"""
from __future__ import annotations

import fnmatch
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Callable, Union

from bnbench.errors import ConfigError

OUTPUT_KINDS = ("log_probs", "logits")
INIT_SCHEMES = ("default", "xavier_uniform", "xavier_normal")   # registry.init_weights; config's INITS

Entrypoint = Union[str, Callable]   # "module:attr" (loaded on first use) or the class / factory itself


@dataclass(frozen=True)
class ModelInfo:
    """What the catalogue knows about a model besides how to build it (timm's pretrained_cfg idea).

    ``outputs``: "log_probs" (the forward ends in log_softmax; pair with nll_loss) or "logits" (pair
    with CrossEntropyLoss). ``study_batch_size``: the batch size the study trained it with.
    ``section``: the report section that defines it. ``entrypoint``: the class or factory, or where to
    import it from as ``"module:attr"``.
    """

    name: str
    outputs: str | None = None
    study_batch_size: int | None = None
    section: str | None = None
    entrypoint: Entrypoint | None = field(default=None, repr=False, compare=False)

    def load(self) -> Callable:
        """The class or factory (imports its module, and so torch, for a built-in)."""
        if isinstance(self.entrypoint, str):
            module, _, attr = self.entrypoint.partition(":")
            return getattr(importlib.import_module(module), attr)
        return self.entrypoint

    @property
    def doc(self) -> str:
        """First line of the entrypoint's docstring."""
        return (inspect.getdoc(self.load()) or "").split("\n", 1)[0]


def _builtin(name: str, module: str, outputs: str, study_batch_size: int, section: str) -> ModelInfo:
    return ModelInfo(name, outputs, study_batch_size, section, f"bnbench.engine.models.{module}:{name}")


# The study's networks. outputs: the course template (VGG_A) ends in raw logits, the others in log_softmax.
_CATALOG: dict[str, ModelInfo] = {info.name: info for info in (
    _builtin("MyNet", "mynet", "log_probs", 32, "1.1"),
    _builtin("ResNet", "resnet", "log_probs", 32, "1.2"),
    _builtin("ResNet_Projection", "resnet", "log_probs", 32, "1.2"),
    _builtin("VGGNet", "vgg", "log_probs", 32, "1.2"),
    _builtin("VGG_A", "vgg", "logits", 128, "2.1"),
    _builtin("VGG_A_BatchNorm", "vgg", "logits", 128, "2.1"),
)}


def _where(entrypoint: Entrypoint | None) -> str:
    if entrypoint is None or isinstance(entrypoint, str):
        return entrypoint or ""
    return f"{entrypoint.__module__}:{entrypoint.__qualname__}"


def register_model(fn=None, *, outputs: str | None = None, study_batch_size: int | None = None,
                   section: str | None = None):
    """Decorator: add a model class or factory function to the catalogue under its ``__name__``.

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
    if study_batch_size is not None and (isinstance(study_batch_size, bool) or not isinstance(study_batch_size, int)
                                         or study_batch_size < 1):
        raise ConfigError(f"study_batch_size={study_batch_size!r} is not allowed; use a positive int")
    name = fn.__name__
    old = _CATALOG.get(name)
    # A re-imported module re-registers the same definition; a different one is a clash.
    if old is not None and old.entrypoint is not None and _where(old.entrypoint) != _where(fn):
        raise ConfigError(f"model name {name!r} is already registered by {_where(old.entrypoint).replace(':', '.')}")
    _CATALOG[name] = ModelInfo(name, outputs, study_batch_size, section, fn)
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching the fnmatch wildcard ``pattern`` (case-sensitive), sorted."""
    return sorted(n for n in _CATALOG if fnmatch.fnmatchcase(n, pattern))


def model_info(name: str) -> ModelInfo:
    """The catalogue's metadata for model ``name``."""
    if not isinstance(name, str) or name not in _CATALOG:
        raise ConfigError(f"unknown model {name!r}; available models: {', '.join(list_models())}")
    return _CATALOG[name]


def outputs_of(model) -> str | None:
    """The output kind of a model object: its class's catalogue entry (``create_model("VGG_A_BatchNorm")`` builds a
    ``VGG_A``, whose entry says "logits"), else an ``outputs`` attribute of an unregistered class, else None."""
    cls = type(model)
    where = _where(cls)
    for info in _CATALOG.values():
        if info.outputs is not None and info.entrypoint is not None and (
                info.entrypoint is cls or _where(info.entrypoint) == where):
            return info.outputs
    return getattr(model, "outputs", None)
