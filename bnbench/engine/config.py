"""Training configuration: one frozen dataclass, validated up front, hashed for records and resume.

Torch-free on purpose: the plugin and the CLI build and check configurations before any heavy import. Model names
and what a model outputs come from the model catalogue (``bnbench.engine.models.catalog``, torch-free too); the
loss functions behind ``LOSSES`` are ``bnbench.engine.losses``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from bnbench.engine.models.catalog import INIT_SCHEMES, list_models, model_info
from bnbench.errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adagrad")
LOSSES = ("nll", "cross_entropy")   # the names of bnbench.engine.losses.LOSS_FUNCTIONS
INITS = INIT_SCHEMES
NORMALIZATIONS = ("course", "cifar10")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes (the device is recorded, not hashed)."""

    model: str = "MyNet"
    model_args: dict[str, Any] = field(default_factory=dict)  # e.g. {"hidden": 500}
    optimizer: str = "sgd"            # sgd | adam | adagrad
    lr: float = 0.01
    momentum: float = 0.0             # SGD only
    weight_decay: float = 0.0
    loss: str = "nll"                 # nll (needs log-probabilities) | cross_entropy
    batch_size: int = 64
    epochs: int = 1
    max_steps: int | None = None      # stop after this many optimizer steps (None: all epochs)
    seed: int = 0                     # model init, shuffling and augmentation all derive from it
    init: str = "default"             # "default" keeps the model's own init (VGG_A: the template's xavier_normal)
    train_per_class: int | None = None  # stratified training subset; None = all 5,000 per class
    test_per_class: int | None = None   # stratified test subset; None = all 1,000 per class
    augment: bool = False             # random crop (pad 4) + flip; the study used none
    normalization: str = "course"     # course: mean 0.5 / std 0.5 as in the template; cifar10: per-channel stats
    eval_batch_size: int = 1000       # does not change any number, only memory and speed
    eval_every: int = 1               # evaluate on the test set every k epochs (and always after the last)
    precision: str = "auto"           # auto: bf16 autocast where the hardware has it natively, else fp32 | fp32 | bf16
    compile: bool = False             # torch.compile the training forward (falls back to eager if it fails)
    channels_last: bool = True        # NHWC activations: faster convolutions on both CPU (oneDNN) and GPU
    one_pixel_convs: bool = True      # a convolution with a 1x1 output runs as the equal matmul (engine/small_maps.py)
    deterministic: bool = False       # bit-reproducible kernels (slower); for exactness tests
    probe_every: int = 0              # gradient-predictiveness probes every k steps (0: none); see bnbench.engine.probes
    track_grad_change: bool = False   # record ||g_last(t) - g_last(t-1)|| of the last Linear layer's weight gradient
                                      # at every step (the study's own section-2.3 measurement)

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training setting(s) {unknown}; valid settings: {sorted(known)}")
        return cls(**data)

    @property
    def hash(self) -> str:
        return config_hash(self)


# Settings added after records were first written: left out of the hash while at their default, so a record made
# before the setting existed keeps its hash (and --bnbench-resume keeps finding it).
_ADDED_LATER = {"track_grad_change": False, "one_pixel_convs": True}


# Settings that change how a run is computed but not what it measures: the hash (and so --bnbench-resume) treats
# them as if at their defaults, so a record made with another evaluation batch size, memory layout, compile or
# one-pixel-convolution setting is the same experiment. (Normalised rather than dropped, so that every hash made
# before this rule keeps its value.)
HASH_IGNORES = ("eval_batch_size", "channels_last", "compile", "one_pixel_convs")


def config_hash(config: TrainConfig) -> str:
    """Stable across processes and Python versions: sha256 of canonical JSON, 16 hex digits. ``HASH_IGNORES``
    settings count at their defaults."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name in HASH_IGNORES}
    data = {k: v for k, v in config.replace(**defaults).to_dict().items()
            if not (k in _ADDED_LATER and v == _ADDED_LATER[k])}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"{name}={value!r} is not known; choose one of {', '.join(valid)}")


def _int_in(name: str, value: Any, lo: int, hi: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{name}={value!r} is out of range; use an integer from {lo} to {hi}")


def _float_in(name: str, value: Any, lo: float, hi: float, lo_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        bound = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise ConfigError(f"{name}={value!r} is out of range; use a finite number in {bound}")


def check_loss_outputs(loss: str, outputs: str | None, model: str) -> None:
    """nll_loss needs log-probabilities: refuse it for a model that ends in raw logits (``outputs="logits"``)."""
    if loss == "nll" and outputs == "logits":
        raise ConfigError(f"loss='nll' needs log-probabilities but {model} outputs raw logits; use loss='cross_entropy'")


def validate(c: TrainConfig) -> None:
    """Reject bad settings before any data is read or any model is built."""
    _choice("model", c.model, tuple(list_models()))
    if not isinstance(c.model_args, dict):
        raise ConfigError(f"model_args must be a dict of constructor arguments, got {c.model_args!r}")
    _choice("optimizer", c.optimizer, OPTIMIZERS)
    _choice("loss", c.loss, LOSSES)
    check_loss_outputs(c.loss, model_info(c.model).outputs, c.model)
    _choice("init", c.init, INITS)
    _choice("normalization", c.normalization, NORMALIZATIONS)
    # A learning rate of 1e6 is allowed on purpose: diverging runs are recorded, not refused.
    _float_in("lr", c.lr, 0.0, 1e6, lo_open=True)
    _float_in("momentum", c.momentum, 0.0, 0.999)
    if c.momentum and c.optimizer != "sgd":
        raise ConfigError(f"momentum={c.momentum} applies to sgd only, not {c.optimizer}; set momentum=0")
    _float_in("weight_decay", c.weight_decay, 0.0, 1.0)
    _int_in("batch_size", c.batch_size, 1, 65536)
    _int_in("epochs", c.epochs, 1, 10000)
    _int_in("max_steps", c.max_steps, 1, 10_000_000, optional=True)
    _int_in("seed", c.seed, 0, 2**63 - 1)
    _int_in("train_per_class", c.train_per_class, 1, 5000, optional=True)
    _int_in("test_per_class", c.test_per_class, 1, 1000, optional=True)
    _int_in("eval_batch_size", c.eval_batch_size, 1, 65536)
    _int_in("eval_every", c.eval_every, 1, 10000)
    _int_in("probe_every", c.probe_every, 0, 10_000_000)
    _choice("precision", c.precision, PRECISIONS)
    for flag in ("augment", "compile", "channels_last", "one_pixel_convs", "deterministic", "track_grad_change"):
        if not isinstance(getattr(c, flag), bool):
            raise ConfigError(f"{flag}={getattr(c, flag)!r} must be true or false")
