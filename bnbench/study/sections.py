"""Sections: a study's unit of work. A section declares its epoch count (the study's scale), the recipe its
experiments start from (every setting with its source), how much of it each smaller profile trains, and how the
study read off the accuracy it reports. Experiments are declared inside a declared section (``recipe``), so that
``-m smoke`` and ``-m quick`` cut every section, the study's and a user's, and ``--bnbench-epochs`` /
``--bnbench-subset`` reach every one of them.

The public call is ``bnbench.section``. Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bnbench.errors import ConfigError
from bnbench.study.documented import Setting

READINGS = ("final", "best", "checkpoint")   # how a study read its accuracy off (RunRecord.reported_test_acc)


@dataclass(frozen=True)
class Scale:
    """How much of a section a profile trains; every None keeps the section's own value."""
    epochs: int | None = None            # None: the study's own epoch count
    train_per_class: int | None = None   # None: all 5,000 images per class
    test_per_class: int | None = None    # None: all 1,000 images per class
    max_steps: int | None = None
    batch_size: int | None = None        # None: the study's; smoke shrinks it to get tens of steps in CPU minutes
    probe_every: int | None = None       # None: the experiment's own interval

    def __post_init__(self):
        for name in ("epochs", "train_per_class", "test_per_class", "max_steps", "batch_size", "probe_every"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConfigError(f"Scale({name}={v!r}): give a whole number >= 1, or None for the section's own")


# What a section that declares no scale for a profile trains there: never the full scale under smoke. Smoke: one
# epoch over 1,000 images, minutes for a small CNN on a CPU; quick: two epochs over 10,000.
DEFAULT_SCALES = {"smoke": Scale(epochs=1, train_per_class=100, test_per_class=50),
                  "quick": Scale(epochs=2, train_per_class=1000, test_per_class=200)}


@dataclass(frozen=True)
class Section:
    id: str                              # "1.1"; an experiment "1.1/hidden-500" belongs to it
    epochs: Setting                      # the study's epoch count, with its source
    base: dict[str, Setting]             # the recipe every experiment of the section starts from
    scales: dict[str, Scale] = field(default_factory=dict)   # profile name -> what that profile trains
    reported_as: str = "final"           # how the study read its accuracy off: final | best | checkpoint
    title: str = ""

    def scale(self, profile: str) -> Scale | None:
        return self.scales.get(profile)


SECTIONS: dict[str, Section] = {}


def section(id: str, *, epochs: Setting, base: dict[str, Setting] | None = None,
            scales: dict[str, Scale] | None = None, reported_as: str = "final", title: str = "") -> Section:
    """Declare a section: ``epochs`` (a ``Setting``: the study's count and its source), ``base`` (setting name ->
    ``Setting``: the recipe its experiments start from; ``model_args.<name>`` for a model argument), ``scales``
    (profile name -> ``Scale``: what smoke and quick train; the full profile is always the study's scale, and a
    profile left out uses ``DEFAULT_SCALES``), ``reported_as`` (how the study read its accuracy). Every problem is
    a ConfigError naming the section."""
    where = f"section {id!r}"
    if not isinstance(id, str) or not id or "/" in id or id != id.strip():
        raise ConfigError(f"{where}: a section id is a non-empty name without '/', e.g. '3.1'")
    if id in SECTIONS:
        raise ConfigError(f"{where} is declared twice")
    if not isinstance(epochs, Setting) or isinstance(epochs.value, bool) or not isinstance(epochs.value, int) \
            or epochs.value < 1:
        raise ConfigError(f"{where}: epochs must be a Setting(whole number >= 1, source), e.g. "
                          f"Setting(20, 'paper'); got {epochs!r}")
    base = dict(base or {})
    bad = [k for k, v in base.items() if not isinstance(k, str) or not isinstance(v, Setting)]
    if bad:
        raise ConfigError(f"{where}: base settings must map names to Setting(value, source): {bad[0]!r}")
    scales = dict(scales or {})
    if "full" in scales:
        raise ConfigError(f"{where}: the full profile is the study's own scale; declare scales for smoke / quick")
    bad = [k for k, v in scales.items() if not isinstance(v, Scale)]
    if bad:
        raise ConfigError(f"{where}: scales[{bad[0]!r}] must be a bnbench.Scale")
    if reported_as not in READINGS:
        raise ConfigError(f"{where}: reported_as {reported_as!r}; use one of {', '.join(READINGS)}")
    SECTIONS[id] = Section(id, epochs, base, scales, reported_as, title)
    return SECTIONS[id]


def get_section(id: str) -> Section:
    try:
        return SECTIONS[id]
    except KeyError:
        known = ", ".join(SECTIONS) or "none yet"
        raise ConfigError(f"section {id!r} is not declared (declared: {known}); declare it first with "
                          f"bnbench.section({id!r}, epochs=Setting(N, source), base={{...}})") from None
