"""How long a profile takes on a machine, from that machine's measured training speed.

Input: bnbench's training images/s per model, as the speed benchmark measured it (``-m speed``: the
``model_speed`` rows of a run's summary.json). Output: per section, the runs a profile trains (every
experiment x seed, each configuration once, as a session trains it), the training images they see, and the
time that takes at the measured speed, plus evaluation and probing:

* training: steps x batch size images at the model's measured images/s;
* evaluation: the test images once per evaluated epoch, at ``EVAL_COST`` of a training image (a forward pass
  without backward or optimizer step is about a third of a training step);
* probing (2.3): x ``PROBE_OVERHEAD`` on the probed runs (1.20-1.21x measured at the default interval, see
  BENCHMARKS.md).

It is an estimate, and says so: throughput was measured at each model's study batch size over a short sample;
first-epoch warm-up (compilation, cuDNN autotuning, graph capture) and process start-up are left out.
Torch-free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from bnbench.engine.speed_rows import ModelSpeed
from bnbench.study.catalog import EXPERIMENTS
from bnbench.errors import BnbenchError
from bnbench.study.profiles import Profile, scaled_config

TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000
EVAL_COST = 1 / 3
PROBE_OVERHEAD = 1.21


@dataclass(frozen=True)
class SectionEstimate:
    section: str
    runs: int
    train_images: int
    seconds: float
    models: tuple[str, ...]


def throughputs(model_speed_rows: list[ModelSpeed]) -> dict[str, float]:
    """bnbench's measured training images/s per model (the last measurement of each wins)."""
    return {row.model: float(row.bnbench_images_per_s) for row in model_speed_rows if row.bnbench_images_per_s}


def run_cost(config, images_per_s: dict[str, float]) -> tuple[int, float]:
    """One training run of ``config`` (a scaled ``TrainConfig``): the training images it sees and its seconds at
    the model's measured images/s (see the module doc)."""
    n_train = TRAIN_IMAGES if config.train_per_class is None else 10 * config.train_per_class
    n_test = TEST_IMAGES if config.test_per_class is None else 10 * config.test_per_class
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        steps = min(steps, config.max_steps)
    images = min(steps * config.batch_size, n_train * config.epochs)
    epochs_run = math.ceil(steps / steps_per_epoch)
    evals = sum(1 for k in range(1, epochs_run + 1) if k % config.eval_every == 0 or k == epochs_run)
    seconds = (images + evals * n_test * EVAL_COST) / images_per_s[config.model]
    return images, seconds * (PROBE_OVERHEAD if config.probe_every else 1.0)


def _needs_speed(models, images_per_s) -> None:
    needed = sorted(set(models) - set(images_per_s))
    if needed:
        raise BnbenchError(f"no measured speed for {', '.join(needed)}: run the speed benchmark "
                           "(pytest benchmarks -m speed -k model_speed) and pass its output folder")


def estimate(profile: Profile, images_per_s: dict[str, float], device_type: str = "cpu") -> list[SectionEstimate]:
    """Per section, what ``profile`` trains and how long it takes at ``images_per_s`` (see the module doc), plus the
    interleaved timings of the timing claims (``bnbench.engine.timing.DEFAULTS[device_type]`` steps of each side a
    seed). Every configuration once, as a session trains it: the 1.1 identity pair are experiments like the others
    and are counted with them, once."""
    seen: set[str] = set()
    per: dict[str, dict] = {}
    _needs_speed({e.config.model for e in EXPERIMENTS.values()}, images_per_s)
    for exp in EXPERIMENTS.values():
        for seed in range(profile.seeds):
            config = scaled_config(exp.config, profile, exp.section, seed)
            if config.hash in seen:
                continue
            seen.add(config.hash)
            images, seconds = run_cost(config, images_per_s)
            row = per.setdefault(exp.section, {"runs": 0, "images": 0, "seconds": 0.0, "models": set()})
            row["runs"] += 1
            row["images"] += images
            row["seconds"] += seconds
            row["models"].add(config.model)
    from bnbench.study.catalog import CLAIMS
    from bnbench.engine.timing import DEFAULTS

    rounds, steps_per_round, warmup = DEFAULTS.get(device_type, DEFAULTS["cuda"])
    for claim in CLAIMS.values():
        if claim.metric.interleaved and claim.section in per:
            for exp in (claim.a[0], claim.b[0]):
                steps = rounds * steps_per_round + warmup
                per[claim.section]["seconds"] += (profile.seeds * steps * exp.config.batch_size
                                                  / images_per_s[exp.config.model])
    return [SectionEstimate(s, r["runs"], r["images"], r["seconds"], tuple(sorted(r["models"])))
            for s, r in sorted(per.items())]


def selection_seconds(configs, images_per_s: dict[str, float]) -> float:
    """The training time of the runs a session selected (scaled configs, each once): what ``-m full -k 2.1``
    trains, not the whole profile. Interleaved timings are left out (seconds, next to hours of training)."""
    configs = list(configs)
    _needs_speed({c.model for c in configs}, images_per_s)
    return sum(run_cost(c, images_per_s)[1] for c in configs)


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_table(rows: list[SectionEstimate], profile: Profile, where: str):
    from rich.table import Table

    seeds = f"{profile.seeds} seed" + ("" if profile.seeds == 1 else "s")
    from bnbench.text import cell

    # ``where`` is a device name read from a summary file: the title prints it literally (no markup, no escapes)
    table = Table(title=cell(f"estimated wall time of the {profile.name} profile ({seeds}) on {where}, "
                             "from the measured images/s"))
    for col in ("section", "models", "runs", "training images", "estimated time"):
        table.add_column(col, justify="left" if col in ("section", "models") else "right")
    for r in rows:
        table.add_row(r.section, ", ".join(r.models), str(r.runs), f"{r.train_images:,d}", format_duration(r.seconds))
    total = sum(r.seconds for r in rows)
    table.add_row("total", "", str(sum(r.runs for r in rows)), f"{sum(r.train_images for r in rows):,d}",
                  format_duration(total), style="bold")
    return table


def speed_estimate_table(model_speed_rows: list[ModelSpeed], profile: Profile):
    """``estimate_table`` for the machine a speed run's per-model rows were measured on. A BnbenchError when
    the rows come from more than one device or leave a model out."""
    devices = sorted({f"{r.device_name or '?'} ({r.device})" for r in model_speed_rows})
    if len(devices) > 1:
        raise BnbenchError(f"the speed results mix {', '.join(devices)}; estimate one machine at a time")
    device_type = (model_speed_rows[0].device or "cpu").split(":")[0] if model_speed_rows else "cpu"
    return estimate_table(estimate(profile, throughputs(model_speed_rows), device_type), profile, devices[0])
