"""The losses a run can train with, by name. The names themselves are ``config.LOSSES`` (torch-free, for
validation); this is the one table from those names to functions, used by the trainer and the study-style
baseline alike (tests/test_train.py holds the two to the same names)."""
from __future__ import annotations

from typing import Callable

import torch.nn.functional as F

from bnbench.engine.config import LOSSES
from bnbench.errors import ConfigError

# Per-sample mean losses. ``cross_entropy`` on log_softmax outputs equals ``nll`` exactly (log_softmax is
# idempotent), which is why the study's CE-vs-nll gap cannot come from the loss.
LOSS_FUNCTIONS: dict[str, Callable] = {"nll": F.nll_loss, "cross_entropy": F.cross_entropy}


def loss_function(name: str) -> Callable:
    """The loss function called ``name`` (one of ``config.LOSSES``)."""
    if name not in LOSSES:
        raise ConfigError(f"loss {name!r} is not known; use {' or '.join(LOSSES)}")
    return LOSS_FUNCTIONS[name]
