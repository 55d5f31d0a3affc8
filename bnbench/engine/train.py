"""The one trainer every benchmark uses: ``train(config, data, device=...) -> RunRecord``.

The whole split lives on the training device as one uint8 tensor (``data.DeviceSplit``); an epoch is one
seeded permutation of indices, so there is no DataLoader and no per-image Python in the hot loop. Per-step
losses stay on the device and are checked for NaN/inf every ``DIVERGENCE_CHECK_EVERY`` steps, so the loop
does not synchronise with the GPU on every step.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import time
from typing import Callable

import torch

from bnbench.engine import checkpoint as ckpt
from bnbench.engine.checkpoint import Checkpoint
from bnbench.engine.config import TrainConfig
from bnbench.engine.data import CIFAR10, DeviceSplit, fingerprint, stratified_subset
from bnbench.engine.device import native_bf16, resolve_device
from bnbench.engine.env import environment
from bnbench.engine.losses import loss_function
from bnbench.errors import BnbenchError, ConfigError
from bnbench.engine.models import create_model, init_weights
from bnbench.engine.record import RunRecord
from bnbench.engine.small_maps import use_one_pixel_convs

DIVERGENCE_CHECK_EVERY = 25  # steps between NaN/inf checks: rare enough not to stall the GPU queue
PROGRESS_EVERY_S = 1.0       # between those checks, the step count reaches the progress at least this often
# A per-sample cross-entropy above this means the logits are off by hundreds of nats: with BatchNorm a huge
# learning rate can keep the loss finite yet astronomically wrong, and that run has diverged just the same.
DIVERGED_LOSS = 1000.0


def make_optimizer(config: TrainConfig, params, device: torch.device,
                   capturable: bool = False) -> torch.optim.Optimizer:
    """The study's optimizers, in their fastest exact implementation here (same update rule; deterministic runs
    keep the reference implementation):

    - SGD and Adam fused (one kernel) on CUDA and on the CPU, and for a run whose step is captured in a CUDA
      graph, Adam's capturable form (its step count lives on the GPU);
    - except SGD on the CPU when a parameter is not contiguous (a channels_last convolution weight): the CPU's
      fused SGD copies such a tensor to a contiguous one and back at every step (1.67 vs 0.63 ms for a
      512x512x3x3 weight), so it takes the multi-tensor (foreach) form, 0.69 ms (ResNet's training step at batch 32
      1.53x -> 1.66x the study-style loop's speed, VGG_A_BatchNorm 1.91x -> 2.18x; BENCHMARKS.md). The CPU's fused
      Adam stays fused: it does the same copies, and still beats foreach (2.58 vs 3.59 ms).
    """
    params = list(params)
    fused = {"fused": True} if device.type in ("cuda", "cpu") and not config.deterministic else {}
    if config.optimizer == "sgd":
        if fused and device.type == "cpu" and not all(p.is_contiguous() for p in params):
            fused = {"foreach": True}
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, **fused)
    if config.optimizer == "adam":
        extra = {"capturable": True} if capturable and device.type == "cuda" else {}
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **fused, **extra)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ConfigError(f"optimizer {config.optimizer!r} is not known; use sgd, adam or adagrad")


def optimizer_impl(optimizer: torch.optim.Optimizer) -> str:
    """Which implementation an optimizer runs: "fused", "foreach" or "reference" (one tensor at a time)."""
    group = optimizer.param_groups[0]
    return "fused" if group.get("fused") else "foreach" if group.get("foreach") else "reference"


@contextlib.contextmanager
def kernel_mode(deterministic: bool, device: torch.device):
    """Deterministic kernels for exactness tests; cuDNN autotuning for speed runs. Restores the old state."""
    prev = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by cuBLAS for determinism
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[1], prev[2]


class _Stopwatch:
    """Wall time of a stretch of GPU work: CUDA events on the GPU (no host-side guesswork), perf_counter on CPU."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def start(self):
        if self.cuda:
            self._a = torch.cuda.Event(enable_timing=True)
            self._b = torch.cuda.Event(enable_timing=True)
            self._a.record()
        else:
            self._t = time.perf_counter()

    def stop(self) -> float:
        if self.cuda:
            self._b.record()
            self._b.synchronize()
            return self._a.elapsed_time(self._b) / 1000.0
        return time.perf_counter() - self._t


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def build_model(config: TrainConfig, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(config.seed)
    model = init_weights(create_model(config.model, **config.model_args), config.init).to(device)
    if config.one_pixel_convs:
        use_one_pixel_convs(model)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def make_splits(config: TrainConfig, data: CIFAR10, device: torch.device) -> tuple[DeviceSplit, DeviceSplit]:
    train_x, train_y, test_x, test_y = data.train_x, data.train_y, data.test_x, data.test_y
    # Subsets are drawn with fixed seeds (not the run's seed) so every run of a comparison sees the same images.
    if config.train_per_class is not None:
        idx = stratified_subset(train_y, config.train_per_class, seed=0)
        train_x, train_y = train_x[idx], train_y[idx]
    if config.test_per_class is not None:
        idx = stratified_subset(test_y, config.test_per_class, seed=1)
        test_x, test_y = test_x[idx], test_y[idx]
    kw = dict(device=device, normalization=config.normalization, channels_last=config.channels_last)
    return DeviceSplit(train_x, train_y, **kw), DeviceSplit(test_x, test_y, **kw)


@torch.inference_mode()
def evaluate(model, split: DeviceSplit, loss_fn, batch_size: int, autocast) -> tuple[float, float]:
    """Per-sample mean loss and accuracy over the whole split."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=split.y.device, dtype=torch.float64)
    correct = torch.zeros((), device=split.y.device, dtype=torch.int64)
    for x, y in split.batches(batch_size, shuffle=False):
        with autocast():
            out = model(x)
        total += loss_fn(out.float(), y, reduction="sum").double()
        correct += (out.argmax(1) == y).sum()
    model.train(was_training)
    n = len(split)
    return total.item() / n, correct.item() / n


def train(config: TrainConfig, data: CIFAR10, *, device: str | torch.device = "cpu",
          progress=None, on_backward: Callable | None = None, cuda_graphs: bool = True,
          checkpoint: Checkpoint | None = None) -> RunRecord:
    """Train one model from ``config`` on ``data`` and return its record.

    ``progress``: an object with ``start(total_steps, epochs, batch_size)``, ``update(step, loss, epoch)`` (at
    least every ``PROGRESS_EVERY_S``; ``loss`` None where it was not read), ``epoch_end(row)`` and ``stop()``
    (see ``bnbench.outputs.progress``) or None. ``on_backward(step, model, x, y, loss_fn, optimizer)`` runs after each
    backward pass and before the optimizer step (the gradient-predictiveness probes hook in here); it must leave
    the model and optimizer as it found them.

    ``cuda_graphs``: on CUDA, capture the training step once and replay it (``bnbench.engine.cuda_graphs``: same math,
    self-checked, eager fallback); ignored where it cannot apply. The record's ``env["cuda_graphs"]`` says
    what happened. It is an execution detail like the device, so it is not part of the config or its hash.

    A NaN or infinite training loss stops the run; the record says ``diverged`` and when. CUDA running out of
    memory is raised as a BnbenchError that names the batch size to lower.

    ``checkpoint`` (``bnbench.engine.checkpoint``): where this run keeps its state at epoch ends, at most every
    ``checkpoint.every_s`` seconds, and continues from when it was stopped; the record's ``env["resumed_at_epoch"]``
    lists the epochs it was continued after. Runs with probes or an ``on_backward`` hook are not checkpointed.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    record = RunRecord(config=config.to_dict(), config_hash=config.hash, device=str(device),
                       env={**environment(device), "data": fingerprint(data)}, started_at=_now())
    try:
        with kernel_mode(config.deterministic, device):
            _train(config, data, device, record, progress, on_backward, cuda_graphs, checkpoint)
    except ValueError as exc:
        if "Expected more than 1 value per channel" not in str(exc):
            raise
        raise BnbenchError(f"{config.model} got a training batch of one image, and BatchNorm cannot normalise a "
                           f"single value per channel: use batch_size >= 2 (batch_size={config.batch_size}) and one "
                           "that does not leave a last batch of one image") from None
    except torch.cuda.OutOfMemoryError:
        raise BnbenchError(f"CUDA ran out of memory training {config.model} at batch_size={config.batch_size}; "
                           f"use a smaller batch size (e.g. {max(1, config.batch_size // 2)}) or "
                           "--bnbench-device cpu") from None
    finally:
        if progress is not None:
            progress.stop()
    record.finished_at = _now()
    return record


def _train(config, data, device, record, progress, on_backward, cuda_graphs, checkpoint) -> None:
    from bnbench.engine import cuda_graphs as graphs

    model = build_model(config, device)
    loss_fn = loss_function(config.loss)
    why_not = graphs.eligibility(device, wanted=cuda_graphs, compile=config.compile, optimizer=config.optimizer,
                                 hooks=bool(config.probe_every) or on_backward is not None or config.track_grad_change,
                                 deterministic=config.deterministic,
                                 dropout=graphs.uses_dropout(model))
    optimizer = make_optimizer(config, model.parameters(), device, capturable=why_not is None)
    record.env["optimizer_impl"] = optimizer_impl(optimizer)
    train_split, test_split = make_splits(config, data, device)
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and native_bf16(device))
    # Autocast's weight-cast cache cannot live across a graph capture; without it the numbers are the same.
    cache = why_not is not None
    autocast = ((lambda: torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)) if use_bf16
                else contextlib.nullcontext)
    record.env["precision"] = "bf16-autocast" if use_bf16 else "fp32"
    forward = compiled_forward(model, record) if config.compile else model

    steps_per_epoch = math.ceil(len(train_split) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    step_loss = torch.full((total_steps,), float("nan"), device=device)
    shuffle_gen = torch.Generator().manual_seed(config.seed)   # the epoch permutations

    probe = None
    if config.probe_every:
        from bnbench.engine.probes import TrajectoryProbe

        probe = TrajectoryProbe(lr=config.lr, every=config.probe_every, autocast=autocast)
        hooks = [h for h in (probe, on_backward) if h is not None]
        on_backward = lambda *args: [h(*args) for h in hooks]  # noqa: E731

    grad_change = None
    if config.track_grad_change:   # the study's own 2.3 measurement: the last Linear layer's gradient, step to step
        from bnbench.engine.probes import last_linear

        layer = last_linear(model)
        if layer is None:
            raise ConfigError(f"track_grad_change needs a Linear layer, and {config.model} has none")
        grad_change = torch.full((total_steps,), float("nan"), device=device)
        previous = torch.zeros_like(layer.weight, dtype=torch.float32)

    saver = checkpoint if checkpoint is not None and probe is None and on_backward is None else None
    state = dict(model=model, optimizer=optimizer, shuffle_gen=shuffle_gen, step_loss=step_loss,
                 grad_change=grad_change, previous_grad=previous if grad_change is not None else None, device=device)
    done_epochs, step = _continue(saver, state, config, total_steps, record)
    if progress is not None:
        resumed = {"done_steps": step, "done_epochs": done_epochs} if step else {}
        progress.start(total_steps, epochs=config.epochs, batch_size=config.batch_size, **resumed)

    def after_backward(x, y):
        if grad_change is not None:
            g = layer.weight.grad.float()
            if step != first:          # no difference across an epoch boundary (the study's 390 per epoch)
                grad_change[step] = torch.linalg.vector_norm(g - previous)
            previous.copy_(g)
        if on_backward is not None:
            on_backward(step, model, x, y, loss_fn, optimizer)

    hooked = grad_change is not None or on_backward is not None
    eager_step = make_eager_step(forward, loss_fn, optimizer, autocast, after_backward if hooked else None)
    run_step = eager_step
    graphed = None
    if why_not is None:
        graphed = graphed_step(eager_step, model, optimizer, autocast, config.batch_size, device)
        run_step = lambda x, y: graphed(x, y, step)  # noqa: E731
    record.env["cuda_graphs"] = why_not

    watch = _Stopwatch(device)
    checked = step
    last_save = shown = time.monotonic()
    model.train()
    for epoch in range(done_epochs + 1, config.epochs + 1):
        first = step
        correct = torch.zeros((), device=device, dtype=torch.int64)
        images = 0
        watch.start()
        for x, y in train_split.batches(config.batch_size, shuffle=True, generator=shuffle_gen,
                                        augment=config.augment):
            loss, batch_correct, _ = run_step(x, y)
            step_loss[step] = loss
            correct += batch_correct
            images += len(y)
            step += 1
            if step - checked >= DIVERGENCE_CHECK_EVERY or step == total_steps:
                if _diverged_at(step_loss, checked, step, record):
                    break
                checked = step
                if progress is not None:
                    progress.update(step, step_loss[step - 1].item(), epoch)
                    shown = time.monotonic()
            elif progress is not None and time.monotonic() - shown >= PROGRESS_EVERY_S:
                progress.update(step, None, epoch)   # slow steps: the count moves; the loss waits (no device sync)
                shown = time.monotonic()
            if step == total_steps:
                break
        train_time = watch.stop()
        if record.diverged or not images:
            break
        if _diverged_at(step_loss, checked, step, record):
            break
        checked = step
        losses = step_loss[first:step]
        row = {"epoch": epoch, "steps": step - first, "images": images, "train_time_s": train_time,
               "images_per_s": images / train_time if train_time > 0 else None,
               # per-sample mean over the epoch (the last partial batch weighs less: approximated by the step mean)
               "train_loss": losses.mean().item(), "train_acc": correct.item() / images,
               "test_loss": None, "test_acc": None}
        last = epoch == config.epochs or step == total_steps
        if epoch % config.eval_every == 0 or last:
            row["test_loss"], row["test_acc"] = evaluate(model, test_split, loss_fn, config.eval_batch_size, autocast)
        record.epochs.append(row)
        if saver is not None and not last and time.monotonic() - last_save >= saver.every_s:
            saver.save({**ckpt.capture(config_hash=config.hash, epoch=epoch, step=step, epochs=record.epochs, **state),
                        "resumed_at_epoch": record.env.get("resumed_at_epoch", [])})
            last_save = time.monotonic()
        if progress is not None:
            progress.epoch_end(row)
        if last:
            break
    if graphed is not None:
        record.env["cuda_graphs"] = graphed.describe()
    done = record.diverged_step + 1 if record.diverged else step
    record.step_loss = step_loss[:done].tolist()
    if grad_change is not None:
        record.step_grad_change = [None if math.isnan(v) else v for v in grad_change[:done].tolist()]
    if probe is not None:
        record.probes, record.probe_seconds = probe.results, probe.seconds


def _continue(saver: Checkpoint | None, state: dict, config: TrainConfig, total_steps: int,
              record: RunRecord) -> tuple[int, int]:
    """(epochs done, steps done) from the run's checkpoint, restored into ``state``'s objects; (0, 0) without one.
    A checkpoint that does not fit is named in one line (``BnbenchSkippedFile``), removed, and the run starts over."""
    loaded = saver.load() if saver is not None else None
    if loaded is None:
        return 0, 0
    try:
        done_epochs, step, rows = ckpt.restore(loaded, config_hash=config.hash, epochs_total=config.epochs,
                                               total_steps=total_steps, **state)
    except ckpt.CheckpointError as exc:
        import warnings

        from bnbench.errors import BnbenchSkippedFile

        warnings.warn(BnbenchSkippedFile(f"{exc}; training this run from step 0"), stacklevel=3)
        saver.discard()
        return 0, 0
    record.epochs = rows
    before = loaded.get("resumed_at_epoch")
    before = before if isinstance(before, list) and all(isinstance(e, int) for e in before) else []
    record.env["resumed_at_epoch"] = [*before[:1000], done_epochs]
    return done_epochs, step


def make_eager_step(forward: Callable, loss_fn: Callable, optimizer: torch.optim.Optimizer, autocast,
                    after_backward: Callable | None = None) -> Callable:
    """The training step: forward (under ``autocast``), loss, backward, ``after_backward(x, y)`` (measurements that
    must see the gradients), optimizer step. Returns (loss, number correct, output), detached, on the device."""
    def eager_step(x, y):
        with autocast():
            out = forward(x)
        loss = loss_fn(out.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if after_backward is not None:
            after_backward(x, y)
        optimizer.step()
        out = out.detach()
        return loss.detach(), (out.argmax(1) == y).sum(), out
    return eager_step


def graphed_step(eager_step: Callable, model: torch.nn.Module, optimizer: torch.optim.Optimizer, autocast,
                 batch_size: int, device: torch.device):
    """``eager_step`` captured as a whole-step CUDA graph (``bnbench.engine.cuda_graphs``), self-checked against an eager
    training-mode forward of the same batch."""
    from bnbench.engine import cuda_graphs as graphs

    return graphs.GraphedStep(eager_step, lambda x: reference_output(model, x, autocast), model, optimizer,
                              batch_size, graphs.backend_for(device))


@torch.no_grad()
def reference_output(model: torch.nn.Module, x: torch.Tensor, autocast) -> torch.Tensor:
    """The model's training-mode output on ``x`` without training: no gradients, and BatchNorm's running
    statistics (which a training-mode forward updates) put back afterwards. The CUDA-graph self-check."""
    from bnbench.engine.state import SavedState

    saved = SavedState(model)
    with autocast():
        out = model(x)
    saved.restore()
    return out.float()


def compiled_forward(model: torch.nn.Module, record: RunRecord) -> Callable:
    """torch.compile'd training forward, or the eager model when compiling is unavailable or fails.

    Compilation happens lazily at the first call, so the first call is where failure shows: it is caught there,
    recorded in ``record.env["compile"]``, and training continues in eager mode. Evaluation and probes use the
    eager module (same parameters): compiling eval mode too would pay a second compilation for one pass.
    """
    try:
        compiled = torch.compile(model)
    except Exception as exc:  # e.g. an unsupported Python or platform
        record.env["compile"] = f"unavailable, eager ({type(exc).__name__}: {exc})"[:300]
        return model
    state = {"fn": compiled}

    def forward(x):
        if state["fn"] is model:
            return model(x)
        try:
            out = state["fn"](x)
            record.env["compile"] = "compiled"
            return out
        except Exception as exc:  # no C++ compiler, no triton, an op inductor cannot lower, ...
            record.env["compile"] = f"failed, eager ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"[:300]
            state["fn"] = model
            return model(x)

    return forward


def _diverged_at(step_loss: torch.Tensor, lo: int, hi: int, record: RunRecord) -> bool:
    bad = ~(torch.isfinite(step_loss[lo:hi]) & (step_loss[lo:hi].abs() < DIVERGED_LOSS))
    if not bool(bad.any()):
        return False
    record.diverged = True
    record.diverged_step = lo + int(bad.nonzero()[0, 0])
    return True
