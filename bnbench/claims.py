"""The study's claims, one registry. Each claim names the experiments it compares, the metric, the direction
and the minimum effect (or equivalence margin) that decides it, and the documented rows it checks.

Adding a claim is one ``claim(...)`` call at the bottom of this file (see README). Experiments are
configured at the study's own scale; profiles (``bnbench.profiles``) cut them down. Torch-free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import study
from .config import TrainConfig
from .record import RunRecord
from .stats import Verdict, decide

# ---------------------------------------------------------------------------------------------------------
# Experiments: one configuration each, trained once per seed.


@dataclass(frozen=True)
class Experiment:
    id: str                         # "1.1/hidden-500"
    label: str                      # how the report names the variant
    config: TrainConfig             # at the study's scale; the seed is the base seed
    documented: str | None = None   # key into study.ROWS
    assumptions: tuple[str, ...] = ()  # settings the study leaves unsaid: "value: reason"

    @property
    def section(self) -> str:
        return self.id.split("/")[0]

    def __str__(self) -> str:
        return self.id


EXPERIMENTS: dict[str, Experiment] = {}


def experiment(id: str, label: str, config: TrainConfig, documented: str | None = None,
               assumptions: tuple[str, ...] = ()) -> Experiment:
    if id in EXPERIMENTS:
        raise ValueError(f"experiment {id!r} is defined twice")
    EXPERIMENTS[id] = Experiment(id, label, config, documented, assumptions)
    return EXPERIMENTS[id]


# ---------------------------------------------------------------------------------------------------------
# Claims.

METRICS = {
    # name: (how to read it off a record, display scale, display unit)
    "test_acc": (lambda r: r.final_test_acc, 100.0, " pp"),
    "s_per_epoch": (lambda r: r.s_per_epoch, 1.0, " s"),
}


@dataclass(frozen=True)
class Claim:
    id: str                    # "1.1/hidden-500-beats-100"
    sentence: str              # the study's claim in its own terms
    a: Experiment              # the side the claim is about (the treatment)
    b: Experiment              # the side it is compared with
    kind: str                  # greater | less | not_greater | equivalent (see bnbench.stats)
    margin: float              # minimum effect / equivalence margin, in the metric's units (fraction for accuracy)
    margin_reason: str
    metric: str = "test_acc"
    relative: bool = False     # compare a/b - 1 instead of a - b (times)
    documented_tolerance: float = 0.03  # |measured mean - study| within this counts as reproduced
    notes: tuple[str, ...] = ()

    @property
    def section(self) -> str:
        return self.id.split("/")[0]

    @property
    def experiments(self) -> tuple[Experiment, Experiment]:
        return (self.a, self.b)

    def __str__(self) -> str:
        return self.id


CLAIMS: dict[str, Claim] = {}


def claim(id: str, sentence: str, a: Experiment, b: Experiment, kind: str, margin: float, margin_reason: str,
          **extra) -> Claim:
    if id in CLAIMS:
        raise ValueError(f"claim {id!r} is defined twice")
    CLAIMS[id] = Claim(id, sentence, a, b, kind, margin, margin_reason, **extra)
    return CLAIMS[id]


def claims_in(section: str) -> list[Claim]:
    return [c for c in CLAIMS.values() if c.section == section]


def experiments_in(section: str) -> list[Experiment]:
    return [e for e in EXPERIMENTS.values() if e.section == section]


# ---------------------------------------------------------------------------------------------------------
# Deciding a claim from its runs.


@dataclass
class ClaimResult:
    claim_id: str
    profile: str
    verdict: str                     # supported | contradicted | inconclusive
    reason: str
    a_values: list[float]
    b_values: list[float]
    stats: Verdict | None = None
    documented: list[dict] = field(default_factory=list)  # per side: study value, measured mean, check
    notes: list[str] = field(default_factory=list)
    a_s_per_epoch: float = math.nan
    b_s_per_epoch: float = math.nan
    plot: str | None = None

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "stats"}
        if self.stats is not None:
            d["stats"] = {"n": self.stats.n, "mean_diff": self.stats.mean_diff, "ci_low": self.stats.ci_low,
                          "ci_high": self.stats.ci_high, "differences": list(self.stats.differences)}
        return d


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return sum(xs) / len(xs) if xs else math.nan


def _median(xs: list[float]) -> float:
    xs = sorted(x for x in xs if not math.isnan(x))
    if not xs:
        return math.nan
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else 0.5 * (xs[m - 1] + xs[m])


def max_step_loss_difference(a: list[RunRecord], b: list[RunRecord]) -> float:
    """Largest per-step training-loss difference between paired runs (same seed)."""
    worst = 0.0
    for ra, rb in zip(a, b):
        n = min(ra.steps, rb.steps)
        worst = max([worst] + [abs(x - y) for x, y in zip(ra.step_loss[:n], rb.step_loss[:n])])
    return worst


def documented_check(claim: Claim, records: dict[str, list[RunRecord]]) -> list[dict]:
    """Measured mean vs the study's number for each side that has a documented row."""
    out = []
    if claim.metric == "s_per_epoch":
        ra, rb = study.row(claim.a.documented), study.row(claim.b.documented)
        want = ra.s_per_epoch / rb.s_per_epoch - 1
        got = _mean([x.s_per_epoch for x in records[claim.a.id]]) / _mean([x.s_per_epoch for x in records[claim.b.id]]) - 1
        ok = abs(got - want) <= claim.documented_tolerance
        out.append({"what": "time ratio a/b - 1", "study": want, "measured": got,
                    "check": "reproduced" if ok else f"deviates ({(got - want) * 100:+.1f}%)"})
        return out
    for exp in claim.experiments:
        if exp.documented is None:
            continue
        want = study.row(exp.documented).accuracy
        got = _mean([r.final_test_acc for r in records[exp.id]])
        ok = not math.isnan(got) and abs(got - want) <= claim.documented_tolerance
        out.append({"what": exp.id, "study": want, "measured": got,
                    "check": "reproduced" if ok else f"deviates ({(got - want) * 100:+.1f} pp)"})
    return out


def evaluate(claim: Claim, records: dict[str, list[RunRecord]], *, profile_name: str, verdicts: bool = True,
             documented: bool = False) -> ClaimResult:
    """The verdict on ``claim`` from its runs (records per experiment id, paired by seed position)."""
    read, scale, unit = METRICS[claim.metric]
    ra, rb = records[claim.a.id], records[claim.b.id]
    a_vals, b_vals = [read(r) for r in ra], [read(r) for r in rb]
    res = ClaimResult(claim.id, profile_name, "inconclusive", "", a_vals, b_vals,
                      a_s_per_epoch=_median([r.s_per_epoch for r in ra]),
                      b_s_per_epoch=_median([r.s_per_epoch for r in rb]))
    diverged = [f"{e.id} seed {i}" for e, rs in ((claim.a, ra), (claim.b, rb)) for i, r in enumerate(rs) if r.diverged]
    untrained = [f"{e.id} seed {i} (test accuracy {r.final_test_acc * 100:.1f}%)"
                 for e, rs in ((claim.a, ra), (claim.b, rb)) for i, r in enumerate(rs)
                 if not r.diverged and not r.learned]
    stats = decide(a_vals, b_vals, claim.kind, claim.margin, relative=claim.relative,
                   unit="" if claim.relative else unit, scale=1.0 if claim.relative else scale)
    res.stats = stats
    if diverged:
        res.reason = f"inconclusive: run(s) diverged ({', '.join(diverged)}); no verdict from a run that produced no number"
    elif untrained and claim.metric == "test_acc":
        res.reason = (f"inconclusive: not comparable at this scale, {', '.join(untrained)} never left chance level; "
                      "a run that did not train says nothing for or against the claim")
    elif not verdicts:
        res.reason = f"inconclusive (smoke): machinery check only; {stats.reason}"
    else:
        res.verdict, res.reason = stats.verdict, f"{stats.verdict}: {stats.reason}"
    if documented:
        res.documented = documented_check(claim, records)
    if claim.id == "1.1/nll-beats-cross-entropy":
        diff = max_step_loss_difference(ra, rb)
        res.notes.append(f"largest per-step training-loss difference between the nll and CrossEntropyLoss runs of the "
                         f"same seed: {diff:.3g} ({'identical training' if diff == 0 else 'not identical'}); "
                         "CrossEntropyLoss on log_softmax outputs is nll_loss, so a gap can only be seed noise")
    res.notes.extend(claim.notes)
    return res


# ---------------------------------------------------------------------------------------------------------
# Section 1.1: MyNet, 50 epochs.

_MNIST_DEFAULTS = ("batch_size=64, SGD lr=0.01, momentum=0.5: the report gives none; these are the PyTorch MNIST "
                   "example's defaults, which MyNet is adapted from",)
_base = TrainConfig(model="MyNet", model_args={"hidden": 100}, optimizer="sgd", lr=0.01, momentum=0.5,
                    loss="nll", batch_size=64, epochs=50)
base_nll = experiment("1.1/base-nll", "SGD + nll_loss, hidden 100", _base, "1.1/A/base-nll", _MNIST_DEFAULTS)
base_ce = experiment("1.1/base-ce", "SGD + CrossEntropyLoss, hidden 100", _base.replace(loss="cross_entropy"),
                     "1.1/A/base-ce", _MNIST_DEFAULTS)
adagrad = experiment("1.1/adagrad", "Adagrad + nll_loss, hidden 100", _base.replace(optimizer="adagrad", momentum=0.0),
                     "1.1/A/adagrad", ("Adagrad lr=0.01: the report gives none; PyTorch's default",) + _MNIST_DEFAULTS)
h500 = experiment("1.1/hidden-500", "SGD + nll_loss, hidden 500", _base.replace(model_args={"hidden": 500}),
                  "1.1/B/hidden-500", _MNIST_DEFAULTS)
conv3 = experiment("1.1/conv-5x5-3x3", "second conv 3x3, hidden 500",
                   _base.replace(model_args={"hidden": 500, "conv2_kernel": 3}), "1.1/C/conv-5x5-3x3", _MNIST_DEFAULTS)
tanh = experiment("1.1/tanh", "tanh activations, hidden 500",
                  _base.replace(model_args={"hidden": 500, "activation": "tanh"}), "1.1/D/tanh", _MNIST_DEFAULTS)

_ONE_POINT = "1 point of accuracy: smaller gaps are within the seed-to-seed spread of a 50-epoch CIFAR-10 run"
claim("1.1/nll-beats-cross-entropy", "SGD with nll_loss beats SGD with CrossEntropyLoss (67.55% vs 62.57%)",
      base_nll, base_ce, "greater", 0.01, _ONE_POINT)
claim("1.1/nll-beats-adagrad", "SGD with nll_loss beats Adagrad with nll_loss (67.55% vs 52.27%)",
      base_nll, adagrad, "greater", 0.01, _ONE_POINT)
claim("1.1/hidden-500-beats-100", "hidden size 500 beats 100 (70.13% vs 67.55%)",
      h500, base_nll, "greater", 0.01, _ONE_POINT)
claim("1.1/conv-3x3-not-better", "a 3x3 second convolution is not better than 5x5 (69.34% vs 70.13%)",
      conv3, h500, "not_greater", 0.01, _ONE_POINT)
claim("1.1/relu-beats-tanh", "ReLU beats tanh (70.13% vs 61.15%)", h500, tanh, "greater", 0.01, _ONE_POINT)

# ---------------------------------------------------------------------------------------------------------
# Section 1.2: ResNet and VGGNet, 100 epochs, SGD + nll_loss.

_COMPLEX = ("batch_size=64, SGD lr=0.01, momentum=0.5: the report gives none; the same MNIST-example defaults as 1.1",)
_VGG_CHOICE = ("VGGNet = VGG-16 conv stack with BatchNorm + head 512-100-100-10 (14,785,546 parameters, +8,384 vs the "
               "study's 14,777,162): without BatchNorm this stack stays at chance under SGD, while the study reports 80%",)
_resnet = TrainConfig(model="ResNet", optimizer="sgd", lr=0.01, momentum=0.5, loss="nll", batch_size=64, epochs=100)
_vggnet = _resnet.replace(model="VGGNet")
resnet = experiment("1.2/resnet-default", "ResNet, default init", _resnet, "1.2/1/resnet-default", _COMPLEX)
vggnet = experiment("1.2/vggnet-default", "VGGNet, default init", _vggnet, "1.2/1/vggnet-default",
                    _COMPLEX + _VGG_CHOICE)
resnet_x = experiment("1.2/resnet-xavier", "ResNet, xavier_uniform init", _resnet.replace(init="xavier_uniform"),
                      "1.2/1/resnet-xavier", _COMPLEX)
vggnet_x = experiment("1.2/vggnet-xavier", "VGGNet, xavier_uniform init", _vggnet.replace(init="xavier_uniform"),
                      "1.2/1/vggnet-xavier", _COMPLEX + _VGG_CHOICE)

claim("1.2/vggnet-beats-resnet", "VGGNet beats ResNet (80.34% vs 75.51%)", vggnet, resnet, "greater", 0.01,
      _ONE_POINT.replace("50-epoch", "100-epoch"))
_LITTLE = "equivalence margin 1 point: the study's own differences are 0.22 and 0.53 points"
claim("1.2/xavier-changes-little-resnet", "xavier_uniform initialisation changes ResNet's accuracy little "
      "(75.29% vs 75.51%)", resnet_x, resnet, "equivalent", 0.01, _LITTLE)
claim("1.2/xavier-changes-little-vggnet", "xavier_uniform initialisation changes VGGNet's accuracy little "
      "(80.87% vs 80.34%)", vggnet_x, vggnet, "equivalent", 0.01, _LITTLE)

# ---------------------------------------------------------------------------------------------------------
# Section 2.1: VGG-A with and without BatchNorm, the course template's settings.

_TEMPLATE = ("Adam lr=1e-3, CrossEntropyLoss, batch 128, 20 epochs, seed 2020 + i: the course template's settings",)
_vgg_a = TrainConfig(model="VGG_A", optimizer="adam", lr=1e-3, loss="cross_entropy", batch_size=128, epochs=20,
                     seed=2020)
vgg_a = experiment("2.1/vgg-a", "VGG_A", _vgg_a, "2.1/1/vgg-a", _TEMPLATE)
vgg_a_bn = experiment("2.1/vgg-a-bn", "VGG_A_BatchNorm", _vgg_a.replace(model="VGG_A_BatchNorm"), "2.1/1/vgg-a-bn",
                      _TEMPLATE)

claim("2.1/bn-improves-accuracy", "BatchNorm improves VGG-A's validation accuracy (82.88% vs 77.52%)",
      vgg_a_bn, vgg_a, "greater", 0.01, "1 point of accuracy: smaller gaps are within the seed-to-seed spread")
claim("2.1/bn-costs-time", "BatchNorm costs time per epoch (8.05 s vs 7.33 s, +9.8%)", vgg_a_bn, vgg_a, "greater",
      0.02, "2% of epoch time: smaller differences are within the timing jitter between runs",
      metric="s_per_epoch", relative=True, documented_tolerance=0.05,
      notes=("times depend on the hardware: the study's ratio is compared, not its seconds",))
