"""Whole-step CUDA graphs: one training step (forward, loss, backward, optimizer step) captured once, replayed
for every full batch after that.

Why: the study's models are small. On a modern GPU an eager MyNet step is a few dozen kernel launches of a few
microseconds of work each, so Python and launch overhead, not the GPU, set the epoch time. A replayed graph
launches the whole step at once. The math is the trainer's own step (same kernels, same order); only how it
is launched changes, so a run's numbers do not depend on whether graphs were used (the record says which).

How (PyTorch's whole-network capture recipe, ``torch.cuda.graph``):

* the first ``WARMUP_STEPS`` full batches train eagerly on the side stream the capture will use (cuDNN
  autotuning, optimizer state, the allocator all settle there); they are ordinary training steps;
* the next full batch is copied into static input tensors and the step is captured (capture records, it does
  not run), then replayed: that replay is this batch's training step;
* every later full batch is copied into the static inputs and the graph replayed; a partial last batch
  (another shape) runs eagerly on the same parameters and optimizer state.

Trust but verify: the first ``CHECKED_REPLAYS`` replays (the capture batch, then the first batch copied in
afterwards, which is what catches inputs that are not wired through) are checked against an eager forward of
the same batch on the same weights (BatchNorm statistics restored afterwards). If a check disagrees, or the
capture raises, the state from before that step is restored, the step runs eagerly, and the rest of the run
stays eager: nothing is lost, and ``describe()`` (recorded as ``env["cuda_graphs"]``) says what happened.

The backend is a seam: :class:`CudaGraphBackend` does the capture on CUDA; the unit tests drive the same
logic on the CPU with a stand-in backend that replays by calling the step.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from bnbench.engine.state import SavedState

WARMUP_STEPS = 3        # eager steps on the capture stream before capturing (PyTorch's recipe uses a few)
CHECKED_REPLAYS = 2     # replays compared against an eager forward: the capture batch and the next one
AGREEMENT_TOL = 0.05    # relative difference of the outputs (raw and batch-centred) that counts as agreement

StepOutputs = Sequence[torch.Tensor]  # (loss, number correct, model output), all detached


def uses_dropout(model: torch.nn.Module) -> bool:
    """Whether a training-mode forward of ``model`` draws random numbers: dropout masks, or a module of a study's own
    that says so with ``draws_random = True`` (e.g. a BatchNorm with injected noise)."""
    return any(isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 or getattr(m, "draws_random", False)
               for m in model.modules())


def eligibility(device: torch.device, *, wanted: bool, compile: bool, optimizer: str, hooks: bool,
                deterministic: bool, dropout: bool = False) -> str | None:
    """None when a run can use whole-step graphs, else why not (recorded in the run's env)."""
    if not wanted:
        return "off (turned off)"
    if device.type != "cuda":
        return f"off (not available on {device.type})"
    if compile:
        return "off (compile=True: the compiled step is not captured)"
    if hooks:
        return ("off (probes run Python between backward and the optimizer step, as does the last-layer "
                "gradient-change measurement)")
    if dropout:
        # A replay draws fresh dropout masks, so its output cannot be self-checked against an eager forward of the
        # same batch (GraphedStep's guard against unwired inputs); such a run stays eager rather than unchecked.
        return "off (dropout: a replay's masks differ from the eager self-check's)"
    if optimizer not in ("sgd", "adam"):
        return f"off ({optimizer} has no capturable implementation)"
    if deterministic:
        return "off (deterministic exactness runs stay eager)"
    return None


class CudaGraphBackend:
    """Warm-up and capture on one side stream (the same one for both, as PyTorch recommends); replay on the
    current stream."""

    def __init__(self, device: torch.device):
        self.device = device
        self.stream = torch.cuda.Stream(device)
        self.graph = None

    def warmup(self, fn: Callable[[], StepOutputs]) -> StepOutputs:
        current = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            out = fn()
        current.wait_stream(self.stream)
        return out

    def capture(self, fn: Callable[[], StepOutputs]) -> StepOutputs:
        current = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(current)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, stream=self.stream):
            out = fn()
        current.wait_stream(self.stream)
        return out

    def replay(self) -> None:
        self.graph.replay()


def backend_for(device: torch.device):
    """The capture backend for a device (a seam the unit tests replace)."""
    return CudaGraphBackend(device)


def _agreement_error(graph_out: torch.Tensor, ref_out: torch.Tensor) -> float:
    """Largest relative difference between two output batches, raw and with the batch mean removed (a model
    at initialisation can give nearly the same output for every image; the centred part is what tells batches
    apart)."""
    g, r = graph_out.detach().float(), ref_out.detach().float()
    errs = []
    for a, b in ((g, r), (g - g.mean(0), r - r.mean(0))):
        errs.append(float(torch.linalg.vector_norm(a - b) / (torch.linalg.vector_norm(b) + 1e-6)))
    return max(errs)


class GraphedStep:
    """Runs the trainer's training steps, through a captured graph whenever it can (see the module docstring).

    ``eager_step(x, y) -> (loss, correct, out)``: one full training step, zeroing gradients itself.
    ``reference(x) -> out``: the model's output on ``x`` without training (no grad, BatchNorm statistics
    restored). ``model`` and ``optimizer``: whose state is saved before a checked replay and restored if the
    check fails.
    """

    def __init__(self, eager_step: Callable, reference: Callable, model: torch.nn.Module,
                 optimizer: torch.optim.Optimizer, batch_size: int, backend, *,
                 warmup: int = WARMUP_STEPS, checks: int = CHECKED_REPLAYS, tol: float = AGREEMENT_TOL):
        self.eager_step, self.reference = eager_step, reference
        self.model, self.optimizer, self.batch_size = model, optimizer, batch_size
        self.backend, self.warmup, self.checks, self.tol = backend, warmup, checks, tol
        self.warmed = 0
        self.static: tuple[torch.Tensor, torch.Tensor] | None = None
        self.outputs: StepOutputs | None = None
        self.failed: str | None = None
        self.captured_at: int | None = None
        self.replays = 0
        self.eager_steps = 0
        self.worst_error = 0.0

    # -- state saved around a checked replay -----------------------------------------------------------------
    def snapshot(self) -> SavedState:
        # What a training step writes; a replay changes no train flags, and these runs draw no random numbers
        # (eligibility refuses dropout), so the RNG is left alone.
        return SavedState(self.model, parameters=True, optimizer=self.optimizer, modes=False, rng=False)

    @staticmethod
    def restore(saved: SavedState) -> None:
        saved.restore()

    # -- the step ---------------------------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor, y: torch.Tensor, step: int = 0) -> StepOutputs:
        if self.failed is not None or len(y) != self.batch_size:
            return self._eager(x, y)
        if self.warmed < self.warmup:
            self.warmed += 1
            return self.backend.warmup(lambda: self.eager_step(x, y))
        if self.outputs is None:
            self.static = (x.clone(), y.clone())
            try:
                self.outputs = self.backend.capture(lambda: self.eager_step(*self.static))
            except Exception as exc:  # an op that cannot be captured, a driver without graph support, ...
                return self._give_up(f"capture failed at step {step}: {type(exc).__name__}: {_first_line(exc)}",
                                     None, x, y)
            self.captured_at = step
        else:
            self.static[0].copy_(x)
            self.static[1].copy_(y)
        if self.replays < self.checks:
            return self._checked_replay(x, y, step)
        self.backend.replay()
        self.replays += 1
        return self.outputs

    def _checked_replay(self, x, y, step) -> StepOutputs:
        saved = self.snapshot()
        try:
            ref = self.reference(self.static[0])
            self.backend.replay()
            err = _agreement_error(self.outputs[2], ref)
        except Exception as exc:
            return self._give_up(f"replay failed at step {step}: {type(exc).__name__}: {_first_line(exc)}",
                                 saved, x, y)
        if not err <= self.tol:   # also catches NaN
            return self._give_up(f"self-check failed at step {step}: graph and eager outputs differ by {err:.3g} "
                                 f"(tolerance {self.tol})", saved, x, y)
        self.worst_error = max(self.worst_error, err)
        self.replays += 1
        return self.outputs

    def _give_up(self, why: str, saved, x, y) -> StepOutputs:
        if saved is not None:
            self.restore(saved)
        self.failed, self.outputs, self.static = why, None, None
        self.optimizer.zero_grad(set_to_none=True)
        return self._eager(x, y)

    def _eager(self, x, y) -> StepOutputs:
        self.eager_steps += 1
        return self.eager_step(x, y)

    def describe(self) -> str:
        if self.failed is not None:
            return f"failed, eager from there ({self.failed})"[:300]
        if self.captured_at is None:
            return "on, never captured (fewer full batches than the warm-up)"
        return (f"on: captured at step {self.captured_at}, {self.replays} replays, {self.eager_steps} eager "
                f"partial-batch steps, {self.warmed} warm-up steps; self-check on {min(self.replays, self.checks)} "
                f"replays, largest difference {self.worst_error:.2g}")


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""
