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
from bnbench.study.sections import DEFAULT_SCALES, SECTIONS, Scale


@dataclass(frozen=True)
class Profile:
    name: str
    seeds: int
    scales: dict[str, Scale] = field(default_factory=dict)  # section -> scale: the command line's overrides
    verdicts: bool = True            # smoke proves the machinery only: every verdict is "inconclusive (smoke)"
    documented_check: bool = False  # compare with the study's numbers only at the study's scale
    study_scale: bool = False        # the study's own scale: no section is cut (the full profile)

    def scale(self, section: str) -> Scale:
        """What this profile trains of ``section``: the command line's override, else the section's declared scale
        for this profile (``bnbench.section(..., scales=...)``), else the study's own scale for the full profile and
        ``DEFAULT_SCALES`` for the others (never the full scale under smoke)."""
        if section in self.scales:
            return self.scales[section]
        declared = SECTIONS.get(section)
        if declared is not None and declared.scale(self.name) is not None:
            return declared.scale(self.name)
        return Scale() if self.study_scale else DEFAULT_SCALES.get(self.name, DEFAULT_SCALES["quick"])


# Each section's smoke and quick scale is declared with the section (bnbench.study.catalog for the study's).
PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", seeds=1, verdicts=False),
    # 3 seeds: with 2, the paired t-rule's quantile (6.3 at 1 df) leaves nearly every claim inconclusive.
    "quick": Profile("quick", seeds=3),
    "full": Profile("full", seeds=5, documented_check=True, study_scale=True),
}
PROFILE_NAMES = tuple(PROFILES)


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
    sections = set(scales) | set(SECTIONS)     # every declared section: the study's and a user's
    changes: dict = {}
    if epochs is not None or subset is not None:
        for s in sections:
            base = profile.scale(s)
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
