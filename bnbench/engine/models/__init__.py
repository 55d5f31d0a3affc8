"""The networks of the study, behind one catalogue: ``create_model("VGG_A_BatchNorm")``.

``model_info(name)`` gives each model's metadata (a ``ModelInfo``): ``outputs`` ("log_probs": ends in
log_softmax, pair with nll_loss; "logits": pair with CrossEntropyLoss), the study's batch size and the report
section. The catalogue (``catalog.py``) is the one place a model is registered; see its docstring for why.

Importing this package is torch-free (``config`` reads the catalogue before torch is imported): the names that
need torch load ``registry`` or ``structure`` on first use.
"""
from __future__ import annotations

import importlib

from bnbench.engine.models.catalog import (INIT_SCHEMES, ModelInfo, list_models, model_info, outputs_of,  # noqa: F401
                                           register_model)

_NEEDS_TORCH = {"count_parameters": "registry", "create_model": "registry", "init_weights": "registry",
                "format_structure": "structure", "structure_table": "structure"}

__all__ = ["INIT_SCHEMES", "ModelInfo", "count_parameters", "create_model", "format_structure", "init_weights",
           "list_models", "model_info", "outputs_of", "register_model", "structure_table"]


def __getattr__(name: str):
    if name in _NEEDS_TORCH:
        value = getattr(importlib.import_module(f"{__name__}.{_NEEDS_TORCH[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
