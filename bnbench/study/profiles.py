"""Scale profiles: how much of the study to reproduce. Plain data; the command line overrides it.

- smoke: minutes on a 2-core CPU. Proves the machinery (losses fall, records and plots are written);
  its verdicts are always "inconclusive (smoke)".
- quick: verdicts on one CPU or GPU at a reduced scale (subsets, 2-3 epochs, 3 seeds): with 3 seeds the paired
  t-rule decides effects of about twice a claim's margin (power table in README), so quick verdicts speak for the
  quick scale only, never for the study's 50 / 100 epochs.
- full:  the study's own scale (50 / 100 / 20 epochs on all 50,000 images), 5 seeds (the power table: at a
  paired-difference SD of 0.7 margins, 5 seeds detect an effect of twice the margin nearly always and keep both
  error rates at 5%); meant for a GPU.

Torch-free.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from bnbench.engine.config import TrainConfig
from bnbench.errors import ConfigError


@dataclass(frozen=True)
class Scale:
    epochs: int | None = None            # None: the study's own epoch count
    train_per_class: int | None = None   # None: all 5,000 images per class
    test_per_class: int | None = None    # None: all 1,000 images per class
    max_steps: int | None = None
    batch_size: int | None = None        # None: the study's; smoke shrinks it to get tens of steps in CPU minutes
    probe_every: int | None = None       # None: the experiment's own interval


@dataclass(frozen=True)
class Profile:
    name: str
    seeds: int
    scales: dict[str, Scale] = field(default_factory=dict)  # section -> scale; a missing section runs at full scale
    verdicts: bool = True            # smoke proves the machinery only: every verdict is "inconclusive (smoke)"
    documented_check: bool = False  # compare with the study's numbers only at the study's scale

    def scale(self, section: str) -> Scale:
        return self.scales.get(section, Scale())


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", seeds=1, verdicts=False, scales={
        # MyNet is cheap: 2 epochs over 2,000 images shows the loss falling.
        "1.1": Scale(epochs=2, train_per_class=200, test_per_class=100),
        # VGG-16 trains at ~190 images/s on 2 CPU cores (bf16): two epochs over 1,500 images is what fits.
        "1.2": Scale(epochs=2, train_per_class=150, test_per_class=50),
        "2.1": Scale(epochs=2, train_per_class=200, test_per_class=50),
        # Eight VGG-A runs for the band: 40 steps of 32 images each, enough to see the loss move.
        "2.2": Scale(epochs=1, train_per_class=128, test_per_class=10, max_steps=40, batch_size=32),
        "2.3": Scale(epochs=1, train_per_class=128, test_per_class=10, max_steps=40, batch_size=32, probe_every=8),
    }),
    # 3 seeds: with 2, the paired t-rule's quantile (6.3 at 1 df) leaves nearly every claim inconclusive. The
    # scales are cut so the profile stays within 45 minutes on a 2-core CPU (BENCHMARKS.md).
    "quick": Profile("quick", seeds=3, scales={
        # batch 32 (the study's): 625 steps an epoch on 20,000 images.
        "1.1": Scale(epochs=2, train_per_class=2000, test_per_class=None),
        "1.2": Scale(epochs=2, train_per_class=500, test_per_class=200),
        "2.1": Scale(epochs=3, train_per_class=500, test_per_class=200),
        # VGG_A without BatchNorm sits at ln 10 for its first ~100 steps (measured): 2.2 and 2.3 need ~150-300
        # steps before their comparisons mean anything.
        "2.2": Scale(epochs=2, train_per_class=600, test_per_class=50),    # 2 x 47 steps
        # The default probing interval, so the overhead measured here is the one the budget is about; fp32 (the
        # paper's precision) makes these the slowest steps of the profile.
        "2.3": Scale(epochs=2, train_per_class=800, test_per_class=50),    # 2 x 63 steps
    }),
    "full": Profile("full", seeds=5, documented_check=True),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"profile {name!r} is not known; choose one of {', '.join(PROFILES)}") from None


def with_overrides(profile: Profile, *, epochs: int | None = None, seeds: int | None = None,
                   subset: int | None = None) -> Profile:
    """Command-line overrides: the same epochs / per-class subset for every section, and the seed count.

    ``subset=0`` means all data. An override leaves the profile's name but turns off the documented-value check
    when it moves the run away from the study's scale.
    """
    scales = dict(profile.scales)
    sections = set(scales) | {"1.1", "1.2", "2.1", "2.2", "2.3"}
    changes: dict = {}
    if epochs is not None or subset is not None:
        for s in sections:
            base = scales.get(s, Scale())
            if epochs is not None:
                base = dataclasses.replace(base, epochs=epochs)
            if subset is not None:
                per = None if subset == 0 else subset
                base = dataclasses.replace(base, train_per_class=per,
                                           test_per_class=None if per is None else min(per, 1000))
            scales[s] = base
        changes["scales"] = scales
        changes["documented_check"] = profile.documented_check and epochs is None and not subset
    if seeds is not None:
        changes["seeds"] = seeds
    return dataclasses.replace(profile, **changes)


def scaled_config(config: TrainConfig, profile: Profile, section: str, seed: int) -> TrainConfig:
    """The study-scale config of an experiment, cut down to the profile's scale, for one seed."""
    s = profile.scale(section)
    return config.replace(
        epochs=s.epochs if s.epochs is not None else config.epochs,
        train_per_class=s.train_per_class, test_per_class=s.test_per_class,
        max_steps=s.max_steps if s.max_steps is not None else config.max_steps,
        batch_size=s.batch_size if s.batch_size is not None else config.batch_size,
        probe_every=s.probe_every if s.probe_every is not None and config.probe_every else config.probe_every,
        seed=config.seed + seed,
    )
