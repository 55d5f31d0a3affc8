"""Gradient-predictiveness and smoothness probes (report 2.3; Santurkar et al., 2018).

At training step t with weights w_t, the current batch (x_t, y_t) and its gradient g_t = ∇L(w_t), for step
sizes η on a grid over [0.5, 4] × lr, ``probe_direction`` measures

- the loss landscape along the gradient:     L(w_t − η g_t)
- gradient predictiveness:                   ‖∇L(w_t) − ∇L(w_t − η g_t)‖₂  (also relative to ‖g_t‖)
- effective β-smoothness:                    max_η ‖∇L(w_t) − ∇L(w_t − η g_t)‖₂ / ‖η g_t‖₂

``TrajectoryProbe`` is an ``on_backward`` hook for ``bnbench.engine.train.train`` that runs it every ``every`` steps,
together with the course handout's simpler variants (labelled ``handout_*``):

- ``handout_last_layer_grad_change``: ‖g_i − g_{i−1}‖₂ restricted to the LAST nn.Linear of the model (its
  weight and bias gradients), between consecutive steps i−1, i of the same run;
- ``handout_beta``: ‖g_i − g_{i−1}‖₂ / ‖w_i − w_{i−1}‖₂ over the full parameter vector (the largest gradient
  change divided by the distance moved, measured on one pair of consecutive steps). Note that g_i and g_{i−1}
  are gradients on DIFFERENT mini-batches, so this mixes curvature with batch-to-batch gradient noise; the
  Santurkar quantities above use one batch and differ only in the weights.

With an adaptive optimizer (Adam) the step the optimizer actually takes is not −η g_t; the probe still follows
the paper's definition (the raw gradient direction, η = multiplier × lr).
"""
from __future__ import annotations

import contextlib
import time
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from bnbench.engine.state import SavedState

ETA_MULTIPLIERS = (0.5, 1.0, 2.0, 3.0, 4.0)   # x lr; a grid over [0.5, 4] as in the paper

# Each probe costs one forward (the loss at w_t) plus len(etas) forward+backward passes on the training batch:
# measured on CPU (1 thread) at 5.3 training steps for both MyNet (batch 64) and VGG_A (batch 128, Adam) with the
# 5-point grid. Probing every k steps adds ~5.3 / k to training time. At k = 25 a 117-step VGG_A run measured
# 1.26x (bf16, 2 cores: the stash one step before each probe and step 0's probe add to the estimate), over the
# 25% budget; k = 30 leaves room. (Short runs pay relatively more: step 0 is always probed, ceil(steps / k) probes.)
DEFAULT_EVERY = 30


def _trainable(model: nn.Module) -> tuple[list[str], list[nn.Parameter]]:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [n for n, _ in named], [p for _, p in named]


def _as_loss(loss_fn: Callable, out: torch.Tensor, y) -> torch.Tensor:
    """As the trainer does (``loss_fn(out.float(), y)``), but without narrowing a float64 output to float32."""
    if out.dtype in (torch.float16, torch.bfloat16):
        out = out.float()
    return loss_fn(out, y)


def _norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """l2 norm of the concatenation, accumulated in float64 (a 0-dim tensor on the tensors' device)."""
    sq = [torch.linalg.vector_norm(t, dtype=torch.float64).square() for t in tensors]
    return torch.stack(sq).sum().sqrt() if sq else torch.zeros((), dtype=torch.float64)


def _diff_norm(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    return _norm([x - y for x, y in zip(a, b)])


def probe_direction(model: nn.Module, x, y, loss_fn: Callable, lr: float, etas: Sequence[float] = ETA_MULTIPLIERS,
                    autocast: Callable = contextlib.nullcontext) -> dict:
    """Loss and gradient along −g_t on the current training batch; see the module docstring for the definitions.

    Requires ``p.grad`` filled for every trainable parameter: it is taken as g_t (what ``loss.backward()`` left,
    i.e. the gradient of the training loss on this batch, in train mode, at w_t). ``etas`` are multipliers of
    ``lr``; the actual step sizes are returned under "eta".

    Which batch: the current training batch (x_t, y_t), the one g_t was computed on, so that g_t is exactly
    ∇L(w_t) of the function probed. Which mode: TRAIN mode (BatchNorm normalises with the batch statistics),
    because that is the function the optimizer descends and the one g_t is the gradient of; in eval mode
    BatchNorm would use its running statistics and the "landscape" would belong to a different function.
    Train-mode forwards update the BatchNorm running statistics, so every buffer is saved and copied back.

    Leaves training undisturbed, bitwise: the weights are never written (the perturbed weights w_t − η g_t are
    fresh tensors passed through ``torch.func.functional_call``), the perturbed gradients come from
    ``torch.autograd.grad`` so ``p.grad`` is never touched, the optimizer is not used at all, and the buffers
    (running_mean, running_var, num_batches_tracked, ...), every module's train/eval flag and the global RNG
    state are restored exactly afterwards. Forwards run under ``autocast()`` as the caller's do.

    Returns {"loss": L(w_t) (recomputed on the batch, train mode), "grad_norm": ‖g_t‖, "eta": [η...],
    "loss_along": [L(w_t − η g_t)...], "grad_change": [‖g_t − ∇L(w_t − η g_t)‖...],
    "grad_change_rel": [grad_change / ‖g_t‖...], "beta": max_η grad_change / (η ‖g_t‖)}; all Python floats.
    """
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    names, params = _trainable(model)
    missing = [n for n, p in zip(names, params) if p.grad is None]
    if missing:
        raise ValueError(f"probe_direction needs p.grad for every trainable parameter (call loss.backward() "
                         f"first); missing for {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    grads = [p.grad.detach() for p in params]
    steps = [float(m) * float(lr) for m in etas]
    if not steps or min(steps) <= 0:
        raise ValueError(f"etas must be a non-empty sequence of positive multipliers, got {tuple(etas)!r}")

    saved = SavedState(model)
    try:
        model.train()
        with torch.no_grad():
            with autocast():
                out = model(x)
            loss0 = _as_loss(loss_fn, out, y).detach()
        grad_norm = _norm(grads)
        loss_along, grad_change = [], []
        for eta in steps:
            with torch.no_grad():
                moved = [torch.add(p.detach(), g, alpha=-eta) for p, g in zip(params, grads)]
            moved = [t.requires_grad_() for t in moved]
            with autocast():
                out = torch.func.functional_call(model, dict(zip(names, moved)), (x,))
            loss = _as_loss(loss_fn, out, y)
            g_eta = torch.autograd.grad(loss, moved, allow_unused=True)
            g_eta = [torch.zeros_like(m) if g is None else g for m, g in zip(moved, g_eta)]
            loss_along.append(loss.detach())
            grad_change.append(_diff_norm(grads, g_eta))
            del moved, g_eta, out, loss
    finally:
        saved.restore()

    # One host transfer for everything (a single sync on the GPU).
    values = torch.stack([loss0.double().reshape(()), grad_norm.double()]
                         + [v.double().reshape(()) for v in loss_along] + [c.double() for c in grad_change]).tolist()
    n = len(steps)
    loss_w, gnorm = values[0], values[1]
    along, change = values[2:2 + n], values[2 + n:]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = [float(np.float64(c) / gnorm) for c in change]
        beta = float(np.max([np.float64(c) / (eta * gnorm) for c, eta in zip(change, steps)]))  # NaN propagates
    return {"loss": loss_w, "grad_norm": gnorm, "eta": steps, "loss_along": along, "grad_change": change,
            "grad_change_rel": rel, "beta": beta}


def last_linear(model: nn.Module) -> nn.Linear | None:
    """The model's last layer for the handout variant: the last nn.Linear in module registration order."""
    found = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            found = m
    return found


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors]) if tensors else torch.zeros(0)


class TrajectoryProbe:
    """An ``on_backward`` hook for ``bnbench.engine.train.train``: on every step with ``step % every == 0`` it runs
    ``probe_direction`` on the current batch and, when step − 1 was stashed, the handout variants.

    ``results``: one dict per probed step with "step", "train_loss" (the loss at w_t on that batch, train mode;
    a net still at ln 10 = 2.303 has tiny gradients that look "predictive", so keep it next to the numbers), all
    of ``probe_direction``'s keys, and "handout_last_layer_grad_change" / "handout_beta" (None on step 0 or when
    the previous step was not seen, and the former None for a model without nn.Linear).
    ``seconds``: wall time of the probe work (perf_counter, with torch.cuda.synchronize around it on CUDA).
    ``autocast``: the trainer's autocast factory is not passed to hooks, so give the same one here, e.g.
    ``lambda: torch.autocast("cuda", dtype=torch.bfloat16)`` for a CUDA run with ``config.bf16``.

    For the handout variants the step before each probed step (``(step + 1) % every == 0``) stashes flat copies
    of the full gradient and the full weights (2 × the parameter count of memory); nothing else is kept.
    """

    def __init__(self, lr: float, every: int = DEFAULT_EVERY, etas: Sequence[float] = ETA_MULTIPLIERS,
                 autocast: Callable = contextlib.nullcontext):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        self.lr, self.every, self.etas, self.autocast = float(lr), every, tuple(etas), autocast
        self.results: list[dict] = []
        self.seconds = 0.0
        self._stash: tuple[int, torch.Tensor, torch.Tensor, list[slice] | None] | None = None

    def _layout(self, model: nn.Module, params: list[nn.Parameter]) -> list[slice] | None:
        """Where the last Linear's weight and bias sit in the flat trainable-parameter vector."""
        layer = last_linear(model)
        if layer is None:
            return None
        ids = {id(p) for p in layer.parameters() if p.requires_grad}
        offset, where = 0, []
        for p in params:
            if id(p) in ids:
                where.append(slice(offset, offset + p.numel()))
            offset += p.numel()
        return where or None

    def __call__(self, step: int, model: nn.Module, x, y, loss_fn: Callable, optimizer) -> None:
        probe_now = step % self.every == 0
        stash_now = (step + 1) % self.every == 0
        if not (probe_now or stash_now):
            return
        cuda = any(p.is_cuda for p in model.parameters())
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        _, params = _trainable(model)
        if probe_now:
            row = {"step": step}
            res = probe_direction(model, x, y, loss_fn, self.lr, self.etas, self.autocast)
            row["train_loss"] = res["loss"]
            row.update(res)
            row["handout_last_layer_grad_change"] = None
            row["handout_beta"] = None
            if self._stash is not None and self._stash[0] == step - 1:
                _, g_prev, w_prev, last = self._stash
                g, w = _flat([p.grad for p in params]), _flat(params)
                dg = g - g_prev
                nums = [torch.linalg.vector_norm(dg, dtype=torch.float64),
                        torch.linalg.vector_norm(w - w_prev, dtype=torch.float64)]
                if last is not None:
                    nums.append(_norm([dg[part] for part in last]))
                nums = torch.stack(nums).tolist()
                with np.errstate(divide="ignore", invalid="ignore"):
                    row["handout_beta"] = float(np.float64(nums[0]) / nums[1])
                if last is not None:
                    row["handout_last_layer_grad_change"] = nums[2]
            self._stash = None
            self.results.append(row)
        if stash_now:
            self._stash = (step, _flat([p.grad for p in params]).clone(), _flat(params).clone(),
                           self._layout(model, params))
        if cuda:
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - t0

    def summary(self) -> dict:
        """Medians over the probe points (NaN propagates: a non-finite probe makes its median NaN).

        "grad_change"/"grad_change_rel"/"loss_along_*" per η multiplier (aligned with "eta_multipliers") and
        of the per-point max ("grad_change_max", "grad_change_rel_max"); "beta"; the loss band medians
        "loss_along_min"/"loss_along_max" (per point min/max over η); the handout variants' medians over the
        points that have them; and "train_loss": the list of train losses at the probe points.
        """
        rows = self.results

        def med(values):
            values = [v for v in values if v is not None]
            return float(np.median(values)) if values else None

        def per_eta(key):
            if not rows:
                return []
            return [float(v) for v in np.median(np.array([r[key] for r in rows], dtype=np.float64), axis=0)]

        return {
            "n_probes": len(rows),
            "steps": [r["step"] for r in rows],
            "every": self.every,
            "eta_multipliers": list(self.etas),
            "train_loss": [r["train_loss"] for r in rows],
            "grad_norm": med([r["grad_norm"] for r in rows]),
            "grad_change": per_eta("grad_change"),
            "grad_change_rel": per_eta("grad_change_rel"),
            "grad_change_max": med([np.max(r["grad_change"]) for r in rows]),
            "grad_change_rel_max": med([np.max(r["grad_change_rel"]) for r in rows]),
            "beta": med([r["beta"] for r in rows]),
            "loss_along": per_eta("loss_along"),
            "loss_along_min": med([np.min(r["loss_along"]) for r in rows]),
            "loss_along_max": med([np.max(r["loss_along"]) for r in rows]),
            "handout_last_layer_grad_change": med([r["handout_last_layer_grad_change"] for r in rows]),
            "handout_beta": med([r["handout_beta"] for r in rows]),
            "seconds": self.seconds,
        }
