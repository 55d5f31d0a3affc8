"""Saving a model's training state and putting it back bitwise: the one implementation behind the probes (which
must leave training undisturbed) and the CUDA-graph self-check (which must undo a replay that fails its check).

What a caller needs differs, so the parts are options: a train-mode forward changes only buffers (BatchNorm's
running statistics), module train flags and the RNG state, which is what ``SavedState(model)`` keeps; a training
step also writes the parameters and the optimizer's state, which ``parameters=True, optimizer=...`` adds.
"""
from __future__ import annotations

import torch
from torch import nn


class SavedState:
    """A copy of ``model``'s buffers, and optionally of its parameters (``parameters=True``), of ``optimizer``'s
    state tensors, of every module's train/eval flag (``modes``) and of the global CPU and CUDA RNG states
    (``rng``); :meth:`restore` copies it all back in place (the tensors keep their identity, so a captured CUDA
    graph that reads them stays valid)."""

    def __init__(self, model: nn.Module, *, parameters: bool = False,
                 optimizer: torch.optim.Optimizer | None = None, modes: bool = True, rng: bool = True):
        tensors = (list(model.parameters()) if parameters else []) + list(model.buffers())
        self.tensors = [(t, t.detach().clone()) for t in tensors]
        # (state dict, key, copy): restore writes into whatever tensor the optimizer holds under the key then.
        self.optimizer_state = [] if optimizer is None else [
            (state, key, value.detach().clone())
            for state in optimizer.state.values() for key, value in state.items() if isinstance(value, torch.Tensor)]
        self.modes = [(m, m.training) for m in model.modules()] if modes else []
        self.cpu_rng = self.cuda_rng = None
        self.cuda_devices: list[int] = []
        if rng:
            devices = {t.device for t in tensors} | {p.device for p in model.parameters()}
            self.cuda_devices = sorted({d.index if d.index is not None else torch.cuda.current_device()
                                        for d in devices if d.type == "cuda"})
            # Dropout or any random layer draws from the global generators: keep the trajectory unchanged.
            self.cpu_rng = torch.get_rng_state()
            self.cuda_rng = [torch.cuda.get_rng_state(i) for i in self.cuda_devices]

    def restore(self) -> None:
        with torch.no_grad():
            for target, saved in self.tensors:
                target.copy_(saved)
            for state, key, saved in self.optimizer_state:
                state[key].copy_(saved)
        for m, flag in self.modes:
            m.training = flag
        if self.cpu_rng is not None:
            torch.set_rng_state(self.cpu_rng)
            for i, state in zip(self.cuda_devices, self.cuda_rng):
                torch.cuda.set_rng_state(state, i)
