"""Claims: side a against side b (each side one experiment, or a group of them: a sweep), the metric that measures
them, the direction and the minimum effect (or equivalence margin) that decides, and the documented rows they
check. The study's claims are defined in ``bnbench.study.catalog``; adding one is one ``claim(...)`` call there.
Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass

from bnbench.study.experiments import Experiment
from bnbench.verdicts.evaluate import DESCRIBED_KEYS, describe  # noqa: F401  (a result's description of its claim)
from bnbench.verdicts.metrics import Metric, get_metric


@dataclass(frozen=True)
class Claim:
    id: str                        # "1.1/hidden-500-beats-100"
    sentence: str                  # the study's claim in its own terms
    a: tuple[Experiment, ...]      # the side the claim is about (the treatment)
    b: tuple[Experiment, ...]      # the side it is compared with
    kind: str                      # greater | less | not_greater | equivalent (see bnbench.verdicts.stats)
    margin: float                  # minimum effect / equivalence margin, in the metric's units
    margin_reason: str
    metric: Metric = get_metric("test_acc")
    relative: bool = False         # compare a/b - 1 instead of a - b (times, gradient sizes)
    documented_tolerance: float = 0.03  # |measured mean - study| within this counts as reproduced
    notes: tuple[str, ...] = ()
    a_label: str = ""
    b_label: str = ""

    @property
    def section(self) -> str:
        return self.id.split("/")[0]

    @property
    def experiments(self) -> tuple[Experiment, ...]:
        return self.a + self.b

    @property
    def labels(self) -> tuple[str, str]:
        return (self.a_label or " + ".join(e.label for e in self.a), self.b_label or " + ".join(e.label for e in self.b))

    def __str__(self) -> str:
        return self.id


CLAIMS: dict[str, Claim] = {}


def claim(id: str, sentence: str, a, b, kind: str, margin: float, margin_reason: str, metric="test_acc",
          **extra) -> Claim:
    """Register a claim "<section>/<name>": side ``a`` against side ``b`` (an Experiment or a tuple of them: a
    sweep), ``kind`` greater | less | not_greater | equivalent, ``margin`` the smallest effect that counts (or the
    equivalence margin) in the metric's units, with its reason; ``metric`` a registered name or a ``Metric``
    object. Everything ``decide`` would refuse after the training is refused here, naming the claim."""
    from bnbench.errors import ConfigError

    if not isinstance(id, str) or id.count("/") < 1 or not all(id.split("/")):
        raise ConfigError(f"claim {id!r}: an id is '<section>/<name>', e.g. '3.1/noisy-bn-trains-like-bn'")
    if id in CLAIMS:
        raise ConfigError(f"claim {id!r} is defined twice")
    if not isinstance(sentence, str) or not sentence.strip():
        raise ConfigError(f"claim {id!r}: give the claim's sentence, in the study's own terms")
    a, b = (a,) if isinstance(a, Experiment) else tuple(a), (b,) if isinstance(b, Experiment) else tuple(b)
    _check(id, a, b, kind, margin, bool(extra.get("relative")))
    try:
        found = get_metric(metric)
    except ConfigError as exc:
        raise ConfigError(f"claim {id!r}: {exc}") from None
    CLAIMS[id] = Claim(id, sentence, a, b, kind, margin, margin_reason, metric=found, **extra)
    return CLAIMS[id]


def _check(id: str, a: tuple, b: tuple, kind: str, margin, relative: bool) -> None:
    """What ``decide`` would refuse after the training, refused at declaration instead, naming the claim."""
    import math

    from bnbench.errors import ConfigError
    from bnbench.verdicts.stats import KINDS

    if kind not in KINDS:
        raise ConfigError(f"claim {id!r}: kind {kind!r} is not known; use one of {', '.join(KINDS)}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not (math.isfinite(margin)
                                                                              and margin >= 0):
        raise ConfigError(f"claim {id!r}: margin {margin!r} must be a finite number >= 0 (the smallest effect "
                          "that counts, in the metric's units)")
    if relative and kind in ("less", "equivalent") and margin >= 1:
        raise ConfigError(f"claim {id!r}: a relative margin of {margin:g} for a '{kind}' claim asks a/b - 1 <= "
                          f"-{margin:g}, i.e. a <= 0; give a relative margin below 1")
    for side, name in ((a, "a"), (b, "b")):
        if not side or not all(isinstance(e, Experiment) for e in side):
            raise ConfigError(f"claim {id!r}: side {name} must be an experiment or a tuple of experiments")


def claims_in(section: str) -> list[Claim]:
    from bnbench.study import catalog  # noqa: F401  (fills the registry)

    return [c for c in CLAIMS.values() if c.section == section]


# -- results that describe themselves --------------------------------------------------------------------------------
# A ClaimResult carries its claim's description (``described``: the sentence, the metric's name, description, unit,
# display scale and regression rule, the kind, margin, side labels and experiment ids), written into summary.json,
# so that ``bnbench summary``, ``report`` and ``compare`` render a claim from the folder alone, in a process that
# never declared it.

def claim_for(result) -> Claim | None:
    """The claim a result is about: this process's declaration where there is one (the study's, or a user's study
    loaded through the ``bnbench.studies`` entry points), else a stand-in built from the description the result
    carries (no study numbers, no figures, no reader: enough to show and gate it), else None."""
    from bnbench.study import catalog  # noqa: F401  (fills the registry)

    known = CLAIMS.get(result.claim_id)
    if known is not None:
        return known
    d = getattr(result, "described", None) or {}
    if not d:
        return None
    metric = Metric(d["metric"], d["metric_description"], d["scale"], d["unit"], measured_as=d["measured_as"],
                    regression=d["regression"])
    side = lambda ids, label: tuple(Experiment(i, label, None) for i in ids)  # noqa: E731
    return Claim(result.claim_id, d["sentence"], side(d["a"], d["a_label"]), side(d["b"], d["b_label"]),
                 d["kind"], d["margin"], "", metric=metric, relative=d["relative"], a_label=d["a_label"],
                 b_label=d["b_label"], notes=("declared outside this process: shown from its summary.json",))

