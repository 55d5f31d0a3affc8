"""The run record: what one training run measured, as plain data. Its file format belongs to the store
(``bnbench.store.formats``).

Torch-free so that the summary, the CLI and the verdicts can read records without importing torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bnbench.errors import BnbenchError
from bnbench.numbers import median

CHANCE_ACCURACY = 0.10          # ten balanced classes
LN10 = math.log(10.0)           # the loss of a uniform prediction over ten classes
# A run counts as having left chance level when its final test accuracy clears chance by 5 points:
# above what a 1,000-image test subset gives a constant predictor by sampling noise (< 1 point).
LEARNED_MIN_ACCURACY = CHANCE_ACCURACY + 0.05
# Training loss counts as having left chance level below 90% of ln 10: a network still at ~2.30 has tiny,
# structureless gradients that would look "predictive" and a flat landscape that would look "smooth".
LEFT_CHANCE_LOSS = 0.9 * LN10


@dataclass
class RunRecord:
    config: dict[str, Any]
    config_hash: str
    device: str
    env: dict[str, Any]
    started_at: str
    finished_at: str = ""
    step_loss: list[float] = field(default_factory=list)   # training loss of every optimizer step
    epochs: list[dict[str, Any]] = field(default_factory=list)
    diverged: bool = False
    diverged_step: int | None = None
    probes: list[dict[str, Any]] = field(default_factory=list)   # one dict per probed step (bnbench.engine.probes)
    probe_seconds: float = 0.0        # time spent probing, included in the epochs' train_time_s
    # ||g(t) - g(t-1)|| of the last Linear layer's weight gradient, per step (None at each epoch's first step, where
    # the study takes no difference); empty unless the config asked for it (track_grad_change)
    step_grad_change: list[float | None] = field(default_factory=list)
    run_id: str = ""                  # the pytest run (all its xdist workers) that trained it

    # -- derived numbers, never stored twice -------------------------------------------------
    @property
    def steps(self) -> int:
        return len(self.step_loss)

    @property
    def evaluated(self) -> list[dict[str, Any]]:
        return [e for e in self.epochs if e.get("test_acc") is not None]

    @property
    def final_test_acc(self) -> float:
        ev = self.evaluated
        return ev[-1]["test_acc"] if ev and not self.diverged else float("nan")

    def reported_test_acc(self, reading: str = "final") -> float:
        """The test accuracy read off the way a study reports it (NaN for a diverged run):

        - ``final``: the last evaluated epoch (bnbench's verdicts: no selection on the test set);
        - ``best``: the highest over the evaluated epochs (the course template prints the max validation accuracy);
        - ``checkpoint``: the study's section-1 rule: after every epoch a checkpoint is kept when the test loss is
          below every earlier epoch's AND the accuracy above every earlier epoch's; the last such epoch counts.
        """
        ev = self.evaluated
        if not ev or self.diverged:
            return float("nan")
        if reading == "final":
            return ev[-1]["test_acc"]
        if reading == "best":
            return max(e["test_acc"] for e in ev)
        if reading == "checkpoint":
            kept, low, high = float("nan"), math.inf, -math.inf
            for e in ev:
                if e["test_loss"] < low and e["test_acc"] > high:
                    kept = e["test_acc"]
                low, high = min(low, e["test_loss"]), max(high, e["test_acc"])
            return kept
        raise BnbenchError(f"unknown accuracy reading {reading!r}; use final, best or checkpoint")

    @property
    def final_test_loss(self) -> float:
        ev = self.evaluated
        return ev[-1]["test_loss"] if ev and not self.diverged else float("nan")

    @property
    def final_train_loss(self) -> float:
        return self.epochs[-1]["train_loss"] if self.epochs and not self.diverged else float("nan")

    @property
    def final_train_acc(self) -> float:
        """The last epoch's training accuracy, as measured while it trained (over the epoch's batches, in training
        mode: dropout and any injected noise on); NaN for a diverged run or a record without one."""
        value = self.epochs[-1].get("train_acc") if self.epochs and not self.diverged else None
        return float("nan") if value is None else value

    @property
    def epoch_times(self) -> list[float]:
        return [e["train_time_s"] for e in self.epochs]

    @property
    def s_per_epoch(self) -> float:
        """Median training time per full epoch. The first epoch pays for warm-up (allocator, cuDNN
        autotuning, compilation), so it is left out whenever there are later epochs to use."""
        return median(self.epoch_times[1:] or self.epoch_times)

    @property
    def images_per_s(self) -> float:
        n = sum(e["images"] for e in self.epochs)
        t = sum(self.epoch_times)
        return n / t if t > 0 else float("nan")

    @property
    def probe_overhead(self) -> float:
        """Training time with probing / training time without it (1.0 when nothing was probed)."""
        total = sum(self.epoch_times)
        return total / (total - self.probe_seconds) if total > self.probe_seconds > 0 else 1.0

    @property
    def left_chance(self) -> bool:
        """The training loss of the last tenth of the steps is clearly below ln 10, the loss of a uniform guess."""
        if self.diverged or not self.step_loss:
            return False
        tail = self.step_loss[-max(1, len(self.step_loss) // 10):]
        return sum(tail) / len(tail) < LEFT_CHANCE_LOSS

    @property
    def learned(self) -> bool:
        """False for a run that diverged or never left chance level: it cannot speak for or against a claim."""
        acc = self.final_test_acc
        return not self.diverged and not math.isnan(acc) and acc >= LEARNED_MIN_ACCURACY
