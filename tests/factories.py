"""Test data builders shared by the test modules: plain functions, so that module-level code can use them too
(``from factories import synthetic``; tests/conftest.py puts this folder on ``sys.path``).

- :func:`synthetic`: the learnable CIFAR-shaped set of :func:`bnbench.engine.data.synthetic_cifar`, built once per
  process for each size and seed and then shared. Treat it as read-only: tests/conftest.py checks after every test
  module that no test changed one in place.
- :func:`run_record` and :func:`epoch_row`: :class:`~bnbench.engine.record.RunRecord` objects written by hand,
  for the code that reads records (verdicts, figures) without training anything.
"""
from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING, Any

from bnbench.engine.record import RunRecord

if TYPE_CHECKING:   # torch is imported on first use, so that conftest.py loading this module stays torch-free
    from bnbench.engine.data import CIFAR10

_SPLITS = ("train_x", "train_y", "test_x", "test_y")


@functools.lru_cache(maxsize=None)
def _build(n_train: int, n_test: int, seed: int, classes: int) -> CIFAR10:
    from bnbench.engine.data import synthetic_cifar

    return synthetic_cifar(n_train=n_train, n_test=n_test, seed=seed, classes=classes)


def synthetic(n_train: int, n_test: int, seed: int = 0, classes: int = 10) -> CIFAR10:
    """``synthetic_cifar(n_train, n_test, seed, classes)``, memoised: every caller asking for the same size and seed
    gets the same object (the same tensors). Do not modify it."""
    key = (n_train, n_test, seed, classes)
    data = _build(*key)
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = fingerprint(data)
    return data


def fingerprint(data: CIFAR10) -> str:
    """A digest of the four tensors' contents (and shapes and dtypes)."""
    h = hashlib.blake2b(digest_size=16)
    for name in _SPLITS:
        t = getattr(data, name)
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.contiguous().numpy())   # the buffer itself: no copy
    return h.hexdigest()


_FINGERPRINTS: dict[tuple[int, int, int, int], str] = {}


def changed_synthetic_sets() -> list[str]:
    """The shared sets whose contents differ from what :func:`synthetic` handed out (none, unless a test or the code
    under test wrote into them)."""
    return [f"synthetic(n_train={k[0]}, n_test={k[1]}, seed={k[2]}, classes={k[3]})"
            for k, digest in _FINGERPRINTS.items() if fingerprint(_build(*k)) != digest]


def epoch_row(epoch: int = 1, *, test_acc: float | None, test_loss: float = 1.0, train_loss: float = 1.0,
              train_acc: float = 0.5, steps: int = 10, images: int = 100, train_time_s: float = 1.0) -> dict[str, Any]:
    """One entry of ``RunRecord.epochs`` with every field the trainer writes (``test_acc=None``: not evaluated)."""
    return {"epoch": epoch, "steps": steps, "images": images, "train_time_s": train_time_s,
            "images_per_s": images / train_time_s, "train_loss": train_loss, "train_acc": train_acc,
            "test_loss": test_loss, "test_acc": test_acc}


def run_record(acc: float | None = None, *, loss: float = 1.0, steps: int = 10, diverged: bool = False,
               step_loss: list[float] | None = None, epochs: list[dict[str, Any]] | None = None,
               diverged_step: int | None = None, **fields: Any) -> RunRecord:
    """A record as the trainer would leave it, with what a test does not care about filled in.

    - ``step_loss``: by default ``steps`` losses falling from 2.3 by 0.1 a step (a run that left chance level);
    - ``epochs``: by default one epoch evaluated at ``acc`` (train and test accuracy ``acc``, losses ``loss``), or
      none when ``acc`` is None or the run ``diverged``;
    - ``diverged_step``: by default, for a diverged run, its last step (the trainer's convention);
    - any other RunRecord field by keyword (``config``, ``probes``, ``step_grad_change``, ...).
    """
    if step_loss is None:
        step_loss = [2.3 - 0.1 * i for i in range(steps)]
    if epochs is None:
        epochs = [] if acc is None or diverged else [
            epoch_row(1, test_acc=acc, test_loss=loss, train_loss=loss, train_acc=acc, steps=steps)]
    if diverged and diverged_step is None:
        diverged_step = len(step_loss) - 1
    base = dict(config={}, config_hash="h", device="cpu", env={}, started_at="t")
    return RunRecord(**{**base, **fields}, step_loss=list(step_loss), epochs=list(epochs), diverged=diverged,
                     diverged_step=diverged_step)


def sigint_default() -> None:
    """``preexec_fn`` for a subprocess a test stops with SIGINT: Ctrl-C's default action restored first. A shell
    starts a background job (``cmd &`` without job control, as CI scripts and nohup do) with SIGINT ignored, the
    child inherits that, and a Python that starts with SIGINT ignored never raises KeyboardInterrupt: the test's
    Ctrl-C would be lost, whatever the code under test does."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
