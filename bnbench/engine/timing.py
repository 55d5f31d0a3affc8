"""Timing claims measured so that the machine's drift cancels: two models' training steps, interleaved.

Why: a claim such as "BatchNorm costs time per epoch" compares two training runs' seconds per epoch. Each run is
timed on its own, minutes apart, and a shared machine's speed drifts by 15-30% over minutes, so the sign of a
+5..10% difference can flip from one run to the next (issue 16 item 5: +2.89% in one run, -4.29% in a rerun of
the same code on the same machine). Here both models are built and trained side by side and timed in short,
alternating blocks of steps, close in time, in ABBA order:

    round 0: A B    round 1: B A    round 2: A B    round 3: B A ...

Within one pair of rounds (A B B A) each model's two blocks sit symmetrically around the pair's middle, so a drift
that is linear over the pair adds the same to both sides and cancels exactly; a slower drift is linear over a
pair to a good approximation. ``ratio_median`` is the median over those pairs of (A's time / B's time): the
median also drops a pair that a burst on the shared machine hit.

Layout: :func:`alternate` is the timing core. It only calls ``step_a``, ``step_b`` and ``clock``, so the unit tests
drive it with a simulated, drifting clock. :func:`interleaved_step_times` builds the two models exactly as the
trainer does (``train.build_model``, ``train.make_optimizer``, the training split at the config's scale, the
trainer's precision choice and, on CUDA, its whole-step graphs) and hands their training steps to it.

Importing this module is cheap: torch is imported inside the functions.
"""
from __future__ import annotations

import time
from typing import Callable

from bnbench.errors import ConfigError
from bnbench.numbers import median

ORDER = "ABBA"

# (rounds, steps per timed block, untimed warm-up steps per model) by device type.
# CPU: one VGG_A step at batch 128 (bf16) takes ~0.5-1 s on an idle 2-core machine, so each block is ONE step and
#   there are 14 rounds: 14 timed steps per model plus 2 warm-up steps each (oneDNN picks its kernels, the
#   optimizer allocates its state) is 32 steps, ~20-30 s for the pair when idle: under a minute. One-step blocks
#   put A and B as close in time as they can be (the drift left within an ABBA pair is the least), and 14 rounds
#   give 7 pair ratios, so the median can drop up to 3 pairs that a burst on a shared machine hit. (6 rounds x 3
#   steps costs more steps and leaves only 3 pairs to take a median of.)
# CUDA: a step is well under a millisecond to a few ms, so blocks are longer (like speed.SAMPLE) for a clock
#   that is not all overhead; 10 warm-up steps cover cuDNN autotuning and the whole-step graph's capture and its
#   self-checked replays (graphs.WARMUP_STEPS + 1 + CHECKED_REPLAYS = 6), so every timed step is a plain replay.
DEFAULTS = {"cpu": (14, 1, 2), "cuda": (8, 50, 10)}


def alternate(step_a: Callable[[], object], step_b: Callable[[], object], rounds: int, steps_per_round: int,
              clock: Callable[[], float] = time.perf_counter, warmup_steps: int = 0) -> tuple[list[float], list[float]]:
    """Time ``steps_per_round`` calls of ``step_a`` and of ``step_b`` per round, in ABBA order (A then B in even
    rounds, B then A in odd ones), after ``warmup_steps`` untimed calls of each (A's, then B's).

    Returns (A's seconds per step, B's seconds per step), one entry per round. ``clock()`` is read right before
    and right after each block; it must return seconds and account for all work queued so far (on CUDA: a
    clock that synchronises the device first, see :func:`device_clock`).
    """
    _check_counts(rounds, steps_per_round, warmup_steps)
    for step in (step_a,) * warmup_steps + (step_b,) * warmup_steps:
        step()
    times = {"a": [], "b": []}
    steps = {"a": step_a, "b": step_b}
    for r in range(rounds):
        for side in ("ab" if r % 2 == 0 else "ba"):
            fn = steps[side]
            start = clock()
            for _ in range(steps_per_round):
                fn()
            times[side].append((clock() - start) / steps_per_round)
    return times["a"], times["b"]


def pair_ratios(a_times: list[float], b_times: list[float]) -> list[float]:
    """A/B time ratio per ABBA pair of rounds (rounds 2k and 2k+1): the ratio a linear drift does not move."""
    return [(a_times[i] + a_times[i + 1]) / (b_times[i] + b_times[i + 1]) for i in range(0, len(a_times) - 1, 2)]


def summarize(a_times: list[float], b_times: list[float]) -> dict:
    """The JSON-ready numbers of an interleaved measurement (without the run's settings)."""
    pairs = pair_ratios(a_times, b_times)
    return {
        "a_s_per_step": list(a_times), "b_s_per_step": list(b_times),
        "ratio_per_round": [a / b for a, b in zip(a_times, b_times)],
        "ratio_per_pair": pairs,
        "ratio_median": median(pairs),
        "a_s_per_step_median": median(a_times), "b_s_per_step_median": median(b_times),
    }


def device_clock(device) -> Callable[[], float]:
    """perf_counter on the CPU; on CUDA, perf_counter after ``torch.cuda.synchronize`` so a block's time includes
    all the GPU work it queued (a block is tens of steps, so the one synchronisation per read is negligible)."""
    if getattr(device, "type", str(device)) != "cuda":
        return time.perf_counter
    import torch

    def clock() -> float:
        torch.cuda.synchronize(device)
        return time.perf_counter()

    return clock


def autocast_for(config, device, cache: bool = True):
    """The trainer's precision choice for ``config`` on ``device`` (as in ``train._train``): bf16 autocast when
    asked for, or with precision "auto" where the device computes bf16 natively; else fp32.
    Returns (a context-manager factory, the precision as the trainer records it)."""
    import contextlib

    import torch

    from bnbench.engine.device import native_bf16

    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and native_bf16(device))
    if not use_bf16:
        return contextlib.nullcontext, "fp32"
    return (lambda: torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)), "bf16-autocast"


class _Env:
    """Stands in for a RunRecord where ``train.compiled_forward`` records what compiling did."""

    def __init__(self):
        self.env: dict = {}


def training_step(config, data, device, cuda_graphs: bool = True):
    """One of the trainer's training steps for ``config``, as a no-argument callable that takes the next full batch
    of the training split (at the config's scale, shuffled with the config's seed, augmented if the config says so),
    runs forward, loss, backward and the optimizer step, and returns the (device-resident) loss.

    Returns (step, info) where info says the precision, compile and CUDA-graph state (as the trainer records them).
    Probes are not run: they are a measurement, not part of training's cost.
    """
    import torch

    from bnbench.engine import cuda_graphs as graphs
    from bnbench.engine.train import (build_model, compiled_forward, graphed_step, loss_function, make_eager_step, make_optimizer,
                        make_splits)

    model = build_model(config, device)
    loss_fn = loss_function(config.loss)
    why_not = graphs.eligibility(device, wanted=cuda_graphs, compile=config.compile, optimizer=config.optimizer,
                                 hooks=False, deterministic=config.deterministic,
                                 dropout=graphs.uses_dropout(model))
    optimizer = make_optimizer(config, model.parameters(), device, capturable=why_not is None)
    train_split, _ = make_splits(config, data, device)
    if len(train_split) < config.batch_size:
        raise ConfigError(f"{config.model}: the training split has {len(train_split)} images, fewer than one batch "
                          f"of {config.batch_size}; use a larger train_per_class or a smaller batch_size")
    autocast, precision = autocast_for(config, device, cache=why_not is not None)
    rec = _Env()
    forward = compiled_forward(model, rec) if config.compile else model
    shuffle_gen = torch.Generator().manual_seed(config.seed)

    def full_batches():
        while True:   # epoch after epoch; the partial last batch (another shape) is skipped
            for x, y in train_split.batches(config.batch_size, shuffle=True, generator=shuffle_gen,
                                            augment=config.augment):
                if len(y) == config.batch_size:
                    yield x, y

    eager_step = make_eager_step(forward, loss_fn, optimizer, autocast)
    run = eager_step
    graphed = None
    if why_not is None:
        graphed = graphed_step(eager_step, model, optimizer, autocast, config.batch_size, device)
        run = graphed
    batches = full_batches()
    model.train()

    def step():
        x, y = next(batches)
        return run(x, y)[0]

    def info() -> dict:
        return {"precision": precision, "compile": rec.env.get("compile"),
                "cuda_graphs": graphed.describe() if graphed is not None else why_not}

    return step, info


def interleaved_step_times(config_a, config_b, data, *, device="cpu", rounds: int | None = None,
                           steps_per_round: int | None = None, warmup_steps: int | None = None,
                           cuda_graphs: bool = True) -> dict:
    """Seconds per training step of ``config_a`` and ``config_b`` (TrainConfigs) on ``data``, timed interleaved
    in ABBA order on the same device so the machine's drift cancels (see the module docstring).

    Both models are built as the trainer builds them (each from its own config's seed), train on the training
    split at their config's scale, and run the trainer's step (precision, and on CUDA whole-step graphs, as in
    ``train.train``). Unset counts default to ``DEFAULTS[device type]``; ``rounds`` must be even (whole ABBA pairs).

    Returns JSON-ready data: per-round seconds per step of each side, ``ratio_per_round`` (A/B), ``ratio_per_pair``
    (A/B over each ABBA pair of rounds), ``ratio_median`` (the median over pairs: the drift-cancelled A/B time
    ratio; per epoch too, when both sides have the same batch size and split), the sides' median seconds per
    step, the counts, ``order`` ("ABBA"), ``device``, ``precision`` and ``wall_s`` (the whole measurement).
    """
    from bnbench.engine.device import resolve_device
    from bnbench.engine.train import kernel_mode

    device = resolve_device(device) if isinstance(device, str) else device
    d_rounds, d_steps, d_warmup = DEFAULTS.get(device.type, DEFAULTS["cuda"])
    rounds = d_rounds if rounds is None else rounds
    steps_per_round = d_steps if steps_per_round is None else steps_per_round
    warmup_steps = d_warmup if warmup_steps is None else warmup_steps
    _check_counts(rounds, steps_per_round, warmup_steps)
    if config_a.deterministic != config_b.deterministic:
        raise ConfigError("the two configs differ in deterministic=; time them with the same kernel mode")
    started = time.perf_counter()
    with kernel_mode(config_a.deterministic, device):
        step_a, info_a = training_step(config_a, data, device, cuda_graphs)
        step_b, info_b = training_step(config_b, data, device, cuda_graphs)
        a_times, b_times = alternate(step_a, step_b, rounds, steps_per_round, device_clock(device), warmup_steps)
    ia, ib = info_a(), info_b()
    out = summarize(a_times, b_times)
    out.update({
        "rounds": rounds, "steps_per_round": steps_per_round, "warmup_steps": warmup_steps, "order": ORDER,
        "device": str(device),
        "precision": ia["precision"] if ia["precision"] == ib["precision"] else f"{ia['precision']} vs {ib['precision']}",
        "a_model": config_a.model, "b_model": config_b.model,
        "a_config_hash": config_a.hash, "b_config_hash": config_b.hash,
        "batch_size": [config_a.batch_size, config_b.batch_size],
        "cuda_graphs": [ia["cuda_graphs"], ib["cuda_graphs"]], "compile": [ia["compile"], ib["compile"]],
        "wall_s": time.perf_counter() - started,
    })
    return out


def _check_counts(rounds, steps_per_round, warmup_steps) -> None:
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not is_int(rounds) or rounds < 2 or rounds % 2:
        raise ConfigError(f"rounds={rounds!r}: use an even integer >= 2 (ABBA order times whole pairs of rounds)")
    if not is_int(steps_per_round) or steps_per_round < 1:
        raise ConfigError(f"steps_per_round={steps_per_round!r}: use an integer >= 1")
    if not is_int(warmup_steps) or warmup_steps < 0:
        raise ConfigError(f"warmup_steps={warmup_steps!r}: use an integer >= 0")
