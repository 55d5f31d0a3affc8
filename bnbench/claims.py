"""The study's claims, one registry. Each claim names the experiments it compares, the metric, the direction
and the minimum effect (or equivalence margin) that decides it, and the documented rows it checks.

Adding a claim is one ``claim(...)`` call at the bottom of this file (see README). Experiments are
configured at the study's own scale; profiles (``bnbench.profiles``) cut them down. Torch-free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from . import study
from .config import TrainConfig
from .record import LEFT_CHANCE_LOSS, RunRecord
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
# Metrics: one number per seed, read off the runs of one side (one run, or several for a sweep).


@dataclass(frozen=True)
class Metric:
    name: str
    read: Callable[[list[RunRecord]], float]
    scale: float = 1.0               # display: value * scale + unit
    unit: str = ""
    # Returns why a side's runs cannot speak to the claim (e.g. never left chance level), or None.
    comparable: Callable[[list[RunRecord]], str | None] = lambda runs: None
    description: str = ""


def _never_trained(runs: list[RunRecord]) -> str | None:
    bad = [r for r in runs if not r.diverged and not r.learned]
    return (f"final test accuracy {_pct(bad[0].final_test_acc)} never left chance level" if bad else None)


def _band_at_chance(runs: list[RunRecord]) -> str | None:
    """A sweep has not started learning when, over most steps, even its best learning rate is still near ln 10:
    its band is then narrow and high because nothing learns, which says nothing about BatchNorm."""
    lo, _ = band(runs)
    if not lo:
        return "no steps recorded"
    typical = _median(lo)
    return (f"for most steps even the best learning rate's loss was still near ln 10 (median min_curve "
            f"{typical:.3f} >= {LEFT_CHANCE_LOSS:.3f})" if typical >= LEFT_CHANCE_LOSS else None)


MIN_LEARNING_PROBES = 3  # probe points past chance level a run needs before its probe statistics mean anything


def _learning_probes(run: RunRecord) -> list[dict]:
    """The probe points taken after the run's training loss left ln 10; earlier ones are degenerate."""
    return [p for p in run.probes if p.get("train_loss") is not None and p["train_loss"] < LEFT_CHANCE_LOSS]


def _probes_at_chance(runs: list[RunRecord]) -> str | None:
    for r in runs:
        k = len(_learning_probes(r))
        if k < MIN_LEARNING_PROBES:
            return (f"only {k} of {len(r.probes)} probe points were taken after the training loss left ln 10 "
                    f"(need {MIN_LEARNING_PROBES}): a network that has not started learning has tiny gradients "
                    "that look predictive and a flat landscape that looks smooth")
    return None


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x * 100:.1f}%"


def band(runs: list[RunRecord]) -> tuple[list[float], list[float]]:
    """The course's band (2.2): per step, min and max of the training loss over the sweep's runs (raw values).
    Steps are aligned by index and cut to the shortest run."""
    n = min((r.steps for r in runs), default=0)
    curves = [r.step_loss[:n] for r in runs]
    return [min(v) for v in zip(*curves)], [max(v) for v in zip(*curves)]


def _band_max_mean(runs):
    lo, hi = band(runs)
    return sum(hi) / len(hi) if hi else math.nan


def _band_width_mean(runs):
    lo, hi = band(runs)
    return sum(h - l for l, h in zip(lo, hi)) / len(hi) if hi else math.nan


def _probe_median(key: str, reduce=max, points=_learning_probes):
    """Median over probe points (by default those past chance level) of a probe quantity; a per-eta list is
    reduced to one number per point first."""
    def read(runs):
        vals = [reduce(p[key]) if isinstance(p[key], list) else p[key] for r in runs for p in points(r)
                if p.get(key) is not None]
        vals = [v for v in vals if v is not None and math.isfinite(v)]
        return _median(vals) if vals else math.nan
    return read


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("test_acc", lambda runs: runs[0].final_test_acc, 100.0, " pp", _never_trained, "final test accuracy"),
    Metric("s_per_epoch", lambda runs: runs[0].s_per_epoch, 1.0, " s", description="median training s/epoch"),
    Metric("band_max_mean", _band_max_mean, 1.0, "", _band_at_chance,
           "mean over steps of max_curve (the band's upper edge: training loss, max over learning rates)"),
    Metric("band_width_mean", _band_width_mean, 1.0, "", _band_at_chance,
           "mean over steps of max_curve - min_curve (the band's width)"),
    Metric("grad_change_median", _probe_median("grad_change"), 1.0, "", _probes_at_chance,
           "median over probe points past chance level of max over eta of ||grad L(w) - grad L(w - eta g)||"),
    Metric("beta_median", _probe_median("beta"), 1.0, "", _probes_at_chance,
           "median over probe points past chance level of the effective beta-smoothness"),
]}

# ---------------------------------------------------------------------------------------------------------
# Claims: side a against side b, each side one experiment or a group of them (a sweep).


@dataclass(frozen=True)
class Claim:
    id: str                        # "1.1/hidden-500-beats-100"
    sentence: str                  # the study's claim in its own terms
    a: tuple[Experiment, ...]      # the side the claim is about (the treatment)
    b: tuple[Experiment, ...]      # the side it is compared with
    kind: str                      # greater | less | not_greater | equivalent (see bnbench.stats)
    margin: float                  # minimum effect / equivalence margin, in the metric's units
    margin_reason: str
    metric: str = "test_acc"
    relative: bool = False         # compare a/b - 1 instead of a - b (times, gradient sizes)
    documented_tolerance: float = 0.03  # |measured mean - study| within this counts as reproduced
    notes: tuple[str, ...] = ()
    compare_step_losses: bool = False  # report the largest per-step loss gap between paired runs (same seed)
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


def claim(id: str, sentence: str, a, b, kind: str, margin: float, margin_reason: str, **extra) -> Claim:
    """Register a claim; ``a`` and ``b`` are an Experiment or a tuple of them (a sweep)."""
    if id in CLAIMS:
        raise ValueError(f"claim {id!r} is defined twice")
    if extra.get("metric", "test_acc") not in METRICS:
        raise ValueError(f"claim {id!r}: unknown metric {extra['metric']!r}; known: {', '.join(METRICS)}")
    a, b = (a,) if isinstance(a, Experiment) else tuple(a), (b,) if isinstance(b, Experiment) else tuple(b)
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
    extra: dict = field(default_factory=dict)            # claim-specific numbers (e.g. the relative variant)

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


def per_seed(side: tuple[Experiment, ...], records: dict[str, list[RunRecord]]) -> list[list[RunRecord]]:
    """Seed i's runs of one side: one run per experiment of the side."""
    return [list(runs) for runs in zip(*(records[e.id] for e in side))]


def documented_check(claim: Claim, records: dict[str, list[RunRecord]]) -> list[dict]:
    """Measured mean vs the study's number for each side that has a documented row."""
    out = []
    if claim.metric == "s_per_epoch":
        ra, rb = study.row(claim.a[0].documented), study.row(claim.b[0].documented)
        want = ra.s_per_epoch / rb.s_per_epoch - 1
        got = (_mean([x.s_per_epoch for x in records[claim.a[0].id]])
               / _mean([x.s_per_epoch for x in records[claim.b[0].id]]) - 1)
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
    metric = METRICS[claim.metric]
    sides = {"a": per_seed(claim.a, records), "b": per_seed(claim.b, records)}
    a_vals, b_vals = ([metric.read(runs) for runs in sides[k]] for k in "ab")
    res = ClaimResult(claim.id, profile_name, "inconclusive", "", a_vals, b_vals,
                      a_s_per_epoch=_median([r.s_per_epoch for e in claim.a for r in records[e.id]]),
                      b_s_per_epoch=_median([r.s_per_epoch for e in claim.b for r in records[e.id]]))
    diverged = [f"{e.id} seed {i}" for e in claim.experiments for i, r in enumerate(records[e.id]) if r.diverged]
    blocked = [f"{label} seed {i}: {why}" for label, side in zip(claim.labels, sides.values())
               for i, runs in enumerate(side) if (why := metric.comparable(runs))]
    stats = decide(a_vals, b_vals, claim.kind, claim.margin, relative=claim.relative,
                   unit="" if claim.relative else metric.unit, scale=1.0 if claim.relative else metric.scale)
    res.stats = stats
    if blocked:
        res.reason = (f"inconclusive: not comparable at this scale ({'; '.join(blocked)}); a run that did not "
                      "train says nothing for or against the claim")
    elif diverged and any(math.isnan(v) for v in a_vals + b_vals):
        res.reason = f"inconclusive: run(s) diverged ({', '.join(diverged)}); no verdict from a run that produced no number"
    elif not verdicts:
        res.reason = f"inconclusive (smoke): machinery check only; {stats.reason}"
    else:
        res.verdict, res.reason = stats.verdict, f"{stats.verdict}: {stats.reason}"
    if diverged and "diverged" not in res.reason:
        res.notes.append(f"diverged: {', '.join(diverged)}")
    if documented:
        res.documented = documented_check(claim, records)
    if claim.compare_step_losses:
        diff = max_step_loss_difference(records[claim.a[0].id], records[claim.b[0].id])
        res.notes.append(f"largest per-step training-loss difference between the paired runs of the same seed: "
                         f"{diff:.3g}")
    if claim.metric in ("grad_change_median", "beta_median"):
        res.extra = probe_details(claim, sides)
        rel = res.extra["grad_change_rel_median"]
        res.notes.append("gradient change relative to ||g|| (median over probe points, max over eta): "
                         + ", ".join(f"{label} {_fmt(v)}" for label, v in zip(claim.labels, rel)))
    res.notes.extend(claim.notes)
    return res


def _fmt(values: list[float]) -> str:
    return "/".join("n/a" if math.isnan(v) else f"{v:.3g}" for v in values)


def probe_details(claim: Claim, sides: dict[str, list[list[RunRecord]]]) -> dict:
    """Per side and seed: the relative gradient change and the course handout's simpler variants (labelled), over
    the probe points past chance level as the verdict uses them; the training loss at every probe point; the
    measured probing overhead."""
    def per_side(fn):
        return [[fn(runs[0]) for runs in sides[k]] for k in "ab"]

    def med(key, points=_learning_probes):
        read = _probe_median(key, points=points)   # the verdict's own statistic, for one run
        return lambda r: read([r])

    return {
        "sides": list(claim.labels),
        "grad_change_rel_median": per_side(med("grad_change_rel")),
        "probe_points": per_side(lambda r: len(r.probes)),
        "probe_points_past_chance": per_side(lambda r: len(_learning_probes(r))),
        "train_loss_at_probes_median": per_side(med("train_loss", points=lambda r: r.probes)),
        "handout_last_layer_grad_change_median (course handout variant)":
            per_side(med("handout_last_layer_grad_change")),
        "handout_beta_median (course handout variant)": per_side(med("handout_beta")),
        "probe_overhead": per_side(lambda r: r.probe_overhead),
    }


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
      base_nll, base_ce, "greater", 0.01, _ONE_POINT, compare_step_losses=True,
      notes=("CrossEntropyLoss on log_softmax outputs is nll_loss, so a gap can only be seed noise",))
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

# ---------------------------------------------------------------------------------------------------------
# Section 2.2: the course's "loss landscape": VGG_A and VGG_A_BatchNorm at four learning rates; per step, the
# band between the lowest and highest training loss over the learning rates. Verdicts use raw per-step losses.

LEARNING_RATES = (1e-3, 2e-3, 1e-4, 5e-4)
_BAND = ("optimizer Adam (the template's; a setting), CrossEntropyLoss, batch 128, 20 epochs, seed 2020 + i",)
band_vgg_a = tuple(experiment(f"2.2/vgg-a-lr{lr:g}", f"VGG_A lr {lr:g}", _vgg_a.replace(lr=lr, eval_every=20),
                              assumptions=_BAND) for lr in LEARNING_RATES)
band_vgg_a_bn = tuple(experiment(f"2.2/vgg-a-bn-lr{lr:g}", f"VGG_A_BatchNorm lr {lr:g}",
                                 _vgg_a.replace(model="VGG_A_BatchNorm", lr=lr, eval_every=20), assumptions=_BAND)
                      for lr in LEARNING_RATES)
_FIVE_PERCENT = "5% of the statistic: smaller differences are within the seed-to-seed spread of a training curve"
claim("2.2/bn-band-lower", "with BatchNorm the loss is lower at the same step (a lower band)",
      band_vgg_a_bn, band_vgg_a, "less", 0.05, _FIVE_PERCENT, metric="band_max_mean", relative=True,
      a_label="VGG_A_BatchNorm (4 learning rates)", b_label="VGG_A (4 learning rates)")
claim("2.2/bn-band-narrower", "with BatchNorm the band across learning rates is narrower",
      band_vgg_a_bn, band_vgg_a, "less", 0.05, _FIVE_PERCENT, metric="band_width_mean", relative=True,
      a_label="VGG_A_BatchNorm (4 learning rates)", b_label="VGG_A (4 learning rates)",
      notes=("lower and narrower are separate claims: a band can be lower yet wider",))

# ---------------------------------------------------------------------------------------------------------
# Section 2.3: gradient predictiveness and beta-smoothness along the training trajectory (Santurkar et al.):
# SGD lr 0.1, batch 128, up to 15,000 steps, no augmentation, Glorot init (VGG_A's own xavier_normal).

_PAPER = ("SGD lr 0.1, batch 128, 15,000 steps, CrossEntropyLoss, no augmentation: Santurkar et al.'s VGG setup",
          "probes every 30 steps on the current training batch in train mode (bnbench.probes.DEFAULT_EVERY)")
_sgd = _vgg_a.replace(optimizer="sgd", lr=0.1, epochs=39, max_steps=15_000, eval_every=39, probe_every=30)
probe_vgg_a = experiment("2.3/vgg-a-sgd", "VGG_A (SGD 0.1)", _sgd, assumptions=_PAPER)
probe_vgg_a_bn = experiment("2.3/vgg-a-bn-sgd", "VGG_A_BatchNorm (SGD 0.1)", _sgd.replace(model="VGG_A_BatchNorm"),
                            assumptions=_PAPER)
_PROSE = ("the study's own prose reads its figure the other way ('with BN ... relatively drastic'); "
          "this verdict comes from the measurement, not the prose")
_QUARTER = "25%: the paper reports about two orders of magnitude; a change within a quarter is not that effect"
claim("2.3/bn-gradients-more-predictive", "with BatchNorm the gradients are more predictive (smaller gradient change "
      "along the gradient direction)", probe_vgg_a_bn, probe_vgg_a, "less", 0.25, _QUARTER,
      metric="grad_change_median", relative=True, notes=(_PROSE,))
claim("2.3/bn-smaller-beta", "with BatchNorm the effective beta-smoothness is smaller", probe_vgg_a_bn, probe_vgg_a,
      "less", 0.25, _QUARTER, metric="beta_median", relative=True, notes=(_PROSE,))
