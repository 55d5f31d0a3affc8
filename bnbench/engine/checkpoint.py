"""Mid-run checkpoints: a training run that is stopped (Ctrl-C, a scheduler's kill, a session that ends) continues
from its last saved epoch instead of from step 0.

At the study's scale one run is 50-100 epochs (MyNet on 2 CPU cores: ~25 minutes; VGG-16 on a GPU: longer), and a
run that is killed loses all of it unless its state is kept. At the end of an epoch, at most every ``every_s``
seconds, the trainer hands :func:`capture`'s state to a :class:`Checkpoint` (the store keeps it beside the run's
record, ``records/<experiment>/<profile>-seed<k>-<hash>.partial.pt``); when the run is started again the trainer
:func:`restore`\\ s it and goes on. The continuation is exact: the model's and the optimizer's state, the shuffling
generator and the global RNG (dropout's draws) are restored, so the resumed run computes the same steps as an
uninterrupted one (``tests/test_checkpoint.py`` compares them loss for loss).

Not checkpointed: runs with trajectory probes (``probe_every``: their state lives in the probe), and runs with a
``max_steps`` that ends inside an epoch are saved only at whole epochs like any other. A checkpoint is data read
back from disk, so it is loaded with ``torch.load(weights_only=True)`` (tensors and plain containers only),
bounded in size and checked against the configuration's hash and shapes; one that does not fit is discarded with
one line and the run starts from step 0.
"""
from __future__ import annotations

import io
import math
from typing import Any, Protocol

import torch

from bnbench.errors import BnbenchError

FORMAT = 1
CHECKPOINT_EVERY_S = 60.0       # at an epoch's end, when this long has passed since the last save
MAX_CHECKPOINT_BYTES = 2 << 30  # VGG-16 with SGD momentum is ~120 MB; a file far above that is not ours


class Checkpoint(Protocol):
    """Where one run's checkpoint lives (``bnbench.store.Store.checkpoint`` is the output folder's)."""

    every_s: float

    def load(self) -> dict | None:
        """The saved state as :func:`capture` made it, or None (none saved, or one that does not read back)."""

    def save(self, state: dict) -> None: ...

    def discard(self) -> None: ...


class CheckpointError(BnbenchError):
    """A checkpoint that cannot be used: the run starts from step 0 instead."""


def to_bytes(state: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def from_bytes(data: bytes, where: str) -> dict:
    """A checkpoint's state, read with ``weights_only`` (no code runs on load); CheckpointError when it is not one."""
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{where}: {len(data)} bytes, above the {MAX_CHECKPOINT_BYTES} a checkpoint may have")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise CheckpointError(f"{where}: not a bnbench checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not a bnbench checkpoint of format {FORMAT}")
    return state


def capture(*, config_hash: str, epoch: int, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            shuffle_gen: torch.Generator, step_loss: torch.Tensor, epochs: list[dict[str, Any]],
            grad_change: torch.Tensor | None, previous_grad: torch.Tensor | None, device: torch.device) -> dict:
    """Everything the rest of the run depends on, on the CPU."""
    cpu = lambda t: None if t is None else t.detach().to("cpu", copy=True)  # noqa: E731
    return {
        "format": FORMAT, "config_hash": config_hash, "epoch": epoch, "step": step,
        "model": {k: cpu(v) for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "shuffle_gen": shuffle_gen.get_state(),
        "cpu_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "step_loss": cpu(step_loss[:step]),
        "grad_change": cpu(grad_change[:step]) if grad_change is not None else None,
        "previous_grad": cpu(previous_grad),
        "epochs": [dict(row) for row in epochs],
    }


def restore(state: dict, *, config_hash: str, epochs_total: int, total_steps: int, model: torch.nn.Module,
            optimizer: torch.optim.Optimizer, shuffle_gen: torch.Generator, step_loss: torch.Tensor,
            grad_change: torch.Tensor | None, previous_grad: torch.Tensor | None,
            device: torch.device) -> tuple[int, int, list[dict[str, Any]]]:
    """Put a captured state back; returns (epochs done, steps done, the epoch rows so far). CheckpointError, with
    nothing changed, when it does not belong to this run: everything is checked (configuration, counts, the
    tensors' names, shapes and dtypes) before anything is loaded."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise CheckpointError(f"checkpoint does not fit this run ({what})")

    need(state.get("config_hash") == config_hash, "another configuration")
    epoch, step = state.get("epoch"), state.get("step")
    need(isinstance(epoch, int) and 1 <= epoch < epochs_total, f"epoch {epoch!r} of {epochs_total}")
    need(isinstance(step, int) and 1 <= step < total_steps, f"step {step!r} of {total_steps}")
    losses = state.get("step_loss")
    need(isinstance(losses, torch.Tensor) and losses.shape == (step,) and bool(torch.isfinite(losses).all()),
         "its step losses")
    rows = state.get("epochs")
    need(isinstance(rows, list) and len(rows) == epoch and all(isinstance(r, dict) for r in rows), "its epochs")
    need(all(r.get("epoch") == i + 1 for i, r in enumerate(rows)), "its epoch numbers")
    for row in rows:
        need(all(isinstance(k, str) and (v is None or isinstance(v, (int, float)) and math.isfinite(v))
                 for k, v in row.items()), "its epoch rows")
    tracked = state.get("grad_change")
    need((tracked is None) == (grad_change is None), "what it tracks")
    if grad_change is not None:
        need(isinstance(tracked, torch.Tensor) and tracked.shape == (step,), "its gradient changes")
        prev = state.get("previous_grad")
        need(isinstance(prev, torch.Tensor) and prev.shape == previous_grad.shape, "its last gradient")
    for name in ("shuffle_gen", "cpu_rng"):
        need(isinstance(state.get(name), torch.Tensor) and state[name].dtype == torch.uint8, name)
    _check_shapes(state.get("model"), state.get("optimizer"), model, optimizer, need)
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        shuffle_gen.set_state(state["shuffle_gen"])
        torch.set_rng_state(state["cpu_rng"])
        if device.type == "cuda" and isinstance(state.get("cuda_rng"), torch.Tensor):
            torch.cuda.set_rng_state(state["cuda_rng"], device)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint does not fit this run ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    step_loss[:step] = losses.to(step_loss.device)
    if grad_change is not None:
        grad_change[:step] = tracked.to(grad_change.device)
        previous_grad.copy_(state["previous_grad"].to(previous_grad.device))
    return epoch, step, [dict(r) for r in rows]


def _check_shapes(saved_model, saved_opt, model: torch.nn.Module, optimizer: torch.optim.Optimizer, need) -> None:
    """The saved model and optimizer states have exactly this run's tensors: names, shapes, dtypes."""
    own = model.state_dict()
    need(isinstance(saved_model, dict) and saved_model.keys() == own.keys(), "the model's tensors")
    need(all(isinstance(saved_model[k], torch.Tensor) and saved_model[k].shape == v.shape
             and saved_model[k].dtype == v.dtype for k, v in own.items()), "the model's shapes")
    need(isinstance(saved_opt, dict) and isinstance(saved_opt.get("state"), dict)
         and isinstance(saved_opt.get("param_groups"), list), "the optimizer's state")
    groups = optimizer.param_groups
    need(len(saved_opt["param_groups"]) == len(groups)
         and all(isinstance(g, dict) and isinstance(g.get("params"), list) and len(g["params"]) == len(o["params"])
                 for g, o in zip(saved_opt["param_groups"], groups)), "the optimizer's parameter groups")
    params = [p for g in groups for p in g["params"]]
    for index, values in saved_opt["state"].items():
        need(isinstance(index, int) and 0 <= index < len(params) and isinstance(values, dict), "the optimizer's state")
        for value in values.values():
            if isinstance(value, torch.Tensor) and value.ndim > 0:
                need(value.shape == params[index].shape, "the optimizer's buffer shapes")
