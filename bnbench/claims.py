"""The study's claims, one registry. Each claim names the experiments it compares, the metric, the direction
and the minimum effect (or equivalence margin) that decides it, and the documented rows it checks.

Adding a claim is one ``claim(...)`` call at the bottom of this file (see README). Experiments are
configured at the study's own scale; profiles (``bnbench.profiles``) cut them down. Torch-free.
"""
from __future__ import annotations

import dataclasses
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
    provenance: dict[str, str] = field(default_factory=dict)  # setting -> where its value comes from (study.py)
    reported_as: str = "final"      # how the study read off its accuracy: final | best | checkpoint (record.py)

    @property
    def section(self) -> str:
        return self.id.split("/")[0]

    @property
    def assumptions(self) -> tuple[str, ...]:
        """The settings none of the study's sources gives, each as "setting=value: reason"."""
        return tuple(f"{key}={_setting_value(self.config, key)!r}: {source[len('assumption: '):]}"
                     for key, source in self.provenance.items() if source.startswith("assumption: "))

    def __str__(self) -> str:
        return self.id


EXPERIMENTS: dict[str, Experiment] = {}


def _setting_value(config: TrainConfig, key: str):
    if key.startswith("model_args."):
        return config.model_args.get(key.split(".", 1)[1])
    return getattr(config, key)


# The provenance of the settings that say how bnbench computes rather than what: the same for every experiment.
_EXECUTION_SETTINGS = {
    "eval_batch_size": study.EXECUTION, "channels_last": study.EXECUTION, "compile": study.EXECUTION,
    "deterministic": study.EXECUTION, "track_grad_change": study.EXECUTION,
    "precision": study.assumption("bf16 autocast where the hardware computes bf16 natively (about 1.7x on the VGGs); "
                                  "the study ran fp32"),
    "train_per_class": study.STUDY_CODE, "test_per_class": study.STUDY_CODE,   # None: the whole official split
    "max_steps": study.STUDY_CODE, "probe_every": study.STUDY_CODE,           # None / 0: the study has neither
}


def recipe(section: str, table: dict[str, study.Setting], model: str, model_args: dict[str, study.Setting],
           **overrides: study.Setting) -> tuple[TrainConfig, dict[str, str]]:
    """A configuration from a section's published settings (``study.SECTION_1`` ...), the model, and the settings
    this experiment changes, with the provenance of every setting: nothing here is an unexplained default."""
    settings = {**table, "epochs": study.EPOCHS[section], "model": study.Setting(model, study.REPORT),
                **{f"model_args.{k}": v for k, v in model_args.items()}, **overrides}
    if model not in ("MyNet",):                       # the study's dropout setting is MyNet's constructor argument
        settings.pop("model_args.dropout", None)
    fields = {k: v.value for k, v in settings.items() if not k.startswith("model_args.")}
    args = {k.split(".", 1)[1]: v.value for k, v in settings.items() if k.startswith("model_args.")}
    config = TrainConfig(**fields, model_args=args)
    provenance = {k: v.source for k, v in settings.items()}
    for name in (f.name for f in dataclasses.fields(TrainConfig)):
        if name not in provenance and name != "model_args":
            provenance[name] = _EXECUTION_SETTINGS.get(name) or study.assumption(
                f"bnbench's default ({getattr(config, name)!r})")
    return config, provenance


def experiment(id: str, label: str, built: tuple[TrainConfig, dict[str, str]], documented: str | None = None,
               reported_as: str | None = None) -> Experiment:
    if id in EXPERIMENTS:
        raise ValueError(f"experiment {id!r} is defined twice")
    config, provenance = built
    section = id.split("/")[0]
    EXPERIMENTS[id] = Experiment(id, label, config, documented, provenance,
                                 reported_as or study.REPORTED_ACCURACY.get(section, ("final", ""))[0])
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
    # Reads both sides of one seed together: (a value, b value, why not comparable or None). For statistics that
    # must be taken over the same training steps on both sides (the probes).
    pair: Callable[[list[RunRecord], list[RunRecord]], tuple[float, float, str | None]] | None = None
    timing: bool = False             # a time per step or epoch: compared as a ratio with the study's, not its seconds
    test_acc_reading: bool = False   # an accuracy: the summary also shows the study's reading of it (checkpoint/best)
    interleaved: bool = False        # measured by bnbench.timing (both sides alternated), not read off the runs
    curve: str | None = None         # a statistic of a band over a sweep: "loss" (2.2) or "grad" (the study's 2.3)
    study_statistic: str = "max_curve"  # the same statistic on the study's curves (study_curves.RunMeans field)


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
        return _median(_probe_values([p for r in runs for p in points(r)], key, reduce))
    return read


def _probe_values(probes: list[dict], key: str, reduce=max) -> list[float]:
    vals = [reduce(p[key]) if isinstance(p[key], list) else p[key] for p in probes if p.get(key) is not None]
    return [v for v in vals if v is not None and math.isfinite(v)]


def _paired_probe_median(key: str, reduce=max):
    """Both sides' medians over the SAME training steps: the probe steps where both runs had left chance level.
    Medians over each side's own window would compare early steps of one network with late steps of the other."""
    def pair(a_runs, b_runs):
        pa = {p["step"]: p for p in _learning_probes(a_runs[0])}
        pb = {p["step"]: p for p in _learning_probes(b_runs[0])}
        steps = sorted(set(pa) & set(pb))
        if len(steps) < MIN_LEARNING_PROBES:
            return math.nan, math.nan, (f"only {len(steps)} probe steps where both networks had left ln 10 "
                                        f"(need {MIN_LEARNING_PROBES})")
        return (_median(_probe_values([pa[s] for s in steps], key, reduce)),
                _median(_probe_values([pb[s] for s in steps], key, reduce)), None)
    return pair


def grad_band(runs: list[RunRecord]) -> tuple[list[float], list[float]]:
    """The study's 2.3 band: per step, min and max over the sweep's runs of the last Linear layer's gradient change
    between consecutive steps (steps where no change exists, the first of each epoch, are left out)."""
    n = min((len(r.step_grad_change) for r in runs), default=0)
    cols = [[r.step_grad_change[i] for r in runs] for i in range(n)]
    cols = [c for c in cols if all(v is not None and math.isfinite(v) for v in c)]
    return [min(c) for c in cols], [max(c) for c in cols]


def _grad_band_max_mean(runs):
    lo, hi = grad_band(runs)
    return sum(hi) / len(hi) if hi else math.nan


def _grad_band_not_comparable(runs: list[RunRecord]) -> str | None:
    """No measurement, or a sweep that never started learning: a network at ln 10 has tiny gradients whose change
    from step to step is tiny too, which would read as "predictive" (the same guard as the loss band's)."""
    if not all(r.step_grad_change for r in runs):
        return "the runs recorded no last-layer gradient change"
    return _band_at_chance(runs)


BANDS = {"loss": band, "grad": grad_band}   # Metric.curve -> the band of a sweep's runs


def band_steps_per_epoch(runs: list[RunRecord], curve: str) -> int:
    """Steps per epoch of a band: the runs' own, less the epoch's first step for the gradient-change band."""
    steps = runs[0].epochs[0]["steps"] if runs and runs[0].epochs else 0
    return max(0, steps - 1) if curve == "grad" else steps


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("test_acc", lambda runs: runs[0].final_test_acc, 100.0, " pp", _never_trained, "final test accuracy",
           test_acc_reading=True),
    Metric("s_per_epoch", lambda runs: runs[0].s_per_epoch, 1.0, " s", description="median training s/epoch",
           timing=True),
    Metric("interleaved_time", lambda runs: math.nan, 1.0, " s", description="median training s/step, both sides "
           "timed interleaved in ABBA order (bnbench.timing)", timing=True, interleaved=True),
    Metric("band_max_mean", _band_max_mean, 1.0, "", _band_at_chance,
           "mean over steps of max_curve (the band's upper edge: training loss, max over learning rates)",
           curve="loss"),
    Metric("band_width_mean", _band_width_mean, 1.0, "", _band_at_chance,
           "mean over steps of max_curve - min_curve (the band's width)", curve="loss", study_statistic="width"),
    Metric("grad_band_max_mean", _grad_band_max_mean, 1.0, "", _grad_band_not_comparable,
           "mean over steps of the upper edge of the band (max over learning rates) of ||g_last(t) - g_last(t-1)||",
           curve="grad"),
    Metric("grad_change_median", _probe_median("grad_change"), 1.0, "", _probes_at_chance,
           "median over the probe steps where both networks were past chance level of max over eta of "
           "||grad L(w) - grad L(w - eta g)||", pair=_paired_probe_median("grad_change")),
    Metric("beta_median", _probe_median("beta"), 1.0, "", _probes_at_chance,
           "median over the probe steps where both networks were past chance level of the effective "
           "beta-smoothness", pair=_paired_probe_median("beta")),
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
            v = self.stats
            d["stats"] = {"n": v.n, "mean_diff": v.mean_diff, "ci_low": v.ci_low, "ci_high": v.ci_high,
                          "differences": list(v.differences), "margin": v.margin, "confidence": v.confidence,
                          "rule": v.rule, "df": v.df, "relative": v.relative, "reason": v.reason}
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


EFFECT_TOLERANCE = 0.03   # |measured effect - study effect| within 3 points, the same tolerance as each side's


def documented_check(claim: Claim, records: dict[str, list[RunRecord]], timings: list[dict] | None = None) -> list[dict]:
    """The study's numbers against ours, like with like: each side's accuracy as the study read it off (its
    checkpoint rule or best epoch, ``Experiment.reported_as``), and the effect a - b against the study's, because a
    per-side tolerance can pass while the effect reverses. Timing claims compare the ratio, not the seconds."""
    metric = METRICS[claim.metric]
    out = []
    if metric.timing:
        ra, rb = study.row(claim.a[0].documented), study.row(claim.b[0].documented)
        want = ra.s_per_epoch / rb.s_per_epoch - 1
        if metric.interleaved:
            got = _median([t["ratio_median"] for t in timings or []]) - 1
        else:
            got = (_mean([x.s_per_epoch for x in records[claim.a[0].id]])
                   / _mean([x.s_per_epoch for x in records[claim.b[0].id]]) - 1)
        ok = abs(got - want) <= claim.documented_tolerance
        out.append({"what": "time ratio a/b - 1", "study": want, "measured": got,
                    "check": "reproduced" if ok else f"deviates ({(got - want) * 100:+.1f}%)"})
        return out
    if metric.curve is not None:
        return _band_checks(claim, metric, records)
    means = {}
    for exp in claim.experiments:
        if exp.documented is None:
            continue
        want = study.row(exp.documented).accuracy
        got = means[exp.id] = _mean([r.reported_test_acc(exp.reported_as) for r in records[exp.id]])
        ok = not math.isnan(got) and abs(got - want) <= claim.documented_tolerance
        out.append({"what": exp.id, "reading": exp.reported_as, "study": want, "measured": got,
                    "check": "reproduced" if ok else f"deviates ({(got - want) * 100:+.1f} pp)"})
    if len(claim.a) == len(claim.b) == 1 and claim.a[0].id in means and claim.b[0].id in means:
        a, b = claim.a[0], claim.b[0]
        want = study.row(a.documented).accuracy - study.row(b.documented).accuracy
        got = means[a.id] - means[b.id]
        # Within the tolerance, and pointing the same way wherever the study's effect reaches the claim's minimum
        # effect: a 2.6-point effect measured as -0.3 is within 3 points, yet it is the effect reversed.
        ok = (not math.isnan(got) and abs(got - want) <= EFFECT_TOLERANCE
              and (abs(want) < claim.margin or got * want > 0))
        out.append({"what": "effect a - b", "reading": a.reported_as, "study": want, "measured": got,
                    "check": "reproduced" if ok else f"deviates ({(got - want) * 100:+.1f} pp)"})
    return out


def _band_checks(claim: Claim, metric: Metric, records: dict[str, list[RunRecord]]) -> list[dict]:
    """Seed 0's measured bands against the study's published curves, epoch by epoch (bnbench.study_curves; only at
    the study's scale), and the effect (a/b - 1 of the claim's statistic) against the one on the study's curves."""
    from . import study_curves

    curves = study_curves.load()
    out, stats = [], {}
    for side in (claim.a, claim.b):
        runs = per_seed(side, records)[0]
        bn = runs[0].config.get("model") == study_curves.MODELS[True]
        lo, hi = BANDS[metric.curve](runs)
        check = study_curves.compare_band_per_epoch(metric.curve, bn, lo, hi, band_steps_per_epoch(runs, metric.curve),
                                                    curves=curves)
        stats[bn] = metric.read(runs)
        word = ("reproduced" if check.all_within else "deviates") if check.compared else "not compared"
        out.append({"what": f"{check.model} {metric.curve} band per epoch (seed 0)",
                    "study": curves.run_means(metric.curve, bn).max_curve, "measured": _mean(hi),
                    "check": f"{word} ({check.epochs_within} of {check.epochs_compared} epochs within)"
                    if check.compared else word, "lines": check.lines()})
    if all(c["check"] != "not compared" for c in out):
        study_means = {bn: curves.run_means(metric.curve, bn) for bn in (True, False)}
        field_ = metric.study_statistic
        want = getattr(study_means[True], field_) / getattr(study_means[False], field_) - 1
        got = stats[True] / stats[False] - 1
        ok = abs(got - want) <= claim.documented_tolerance and got * want > 0
        out.append({"what": f"effect BN/no BN - 1 ({claim.metric}, seed 0)", "study": want, "measured": got,
                    "check": "reproduced" if ok else f"deviates ({(got - want) * 100:+.1f}%)"})
    return out


def evaluate(claim: Claim, records: dict[str, list[RunRecord]], *, profile_name: str, verdicts: bool = True,
             documented: bool = False, timings: list[dict] | None = None) -> ClaimResult:
    """The verdict on ``claim`` from its runs (records per experiment id, paired by seed position). A claim whose
    metric is measured interleaved (``Metric.interleaved``) takes its per-seed values from ``timings``
    (``bnbench.timing.interleaved_step_times``, one per seed)."""
    metric = METRICS[claim.metric]
    sides = {"a": per_seed(claim.a, records), "b": per_seed(claim.b, records)}
    blocked = [f"{label} seed {i}: {why}" for label, side in zip(claim.labels, sides.values())
               for i, runs in enumerate(side) if (why := metric.comparable(runs))]
    if metric.interleaved:
        # Side b's median s/step, and side a's as b's times the paired ratio (the median over ABBA pairs), so that
        # a/b is the drift-cancelled ratio itself, not a ratio of two separately taken medians.
        timings = timings or []
        b_vals = [t["b_s_per_step_median"] for t in timings]
        a_vals = [t["ratio_median"] * t["b_s_per_step_median"] for t in timings]
        if not timings:
            blocked.append("no interleaved timing was measured")
    elif metric.pair is not None:
        pairs = [metric.pair(ra, rb) for ra, rb in zip(sides["a"], sides["b"])]
        a_vals, b_vals = [p[0] for p in pairs], [p[1] for p in pairs]
        blocked += [f"seed {i}: {p[2]}" for i, p in enumerate(pairs) if p[2] and not blocked]
    else:
        a_vals, b_vals = ([metric.read(runs) for runs in sides[k]] for k in "ab")
    res = ClaimResult(claim.id, profile_name, "inconclusive", "", a_vals, b_vals,
                      a_s_per_epoch=_median([r.s_per_epoch for e in claim.a for r in records[e.id]]),
                      b_s_per_epoch=_median([r.s_per_epoch for e in claim.b for r in records[e.id]]))
    diverged = [f"{e.id} seed {i}" for e in claim.experiments for i, r in enumerate(records[e.id]) if r.diverged]
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
        res.documented = documented_check(claim, records, timings)
    if metric.test_acc_reading:
        res.extra["study_reading"] = _study_readings(claim, records)
    if claim.compare_step_losses:
        diff = max_step_loss_difference(records[claim.a[0].id], records[claim.b[0].id])
        res.notes.append(f"largest per-step training-loss difference between the paired runs of the same seed: "
                         f"{diff:.3g}")
    if metric.pair is not None:
        res.extra = probe_details(claim, sides)
        rel = res.extra["grad_change_rel_median"]
        res.notes.append("gradient change relative to ||g|| (median over probe points, max over eta): "
                         + ", ".join(f"{label} {_fmt(v)}" for label, v in zip(claim.labels, rel)))
    if metric.interleaved and timings:
        res.extra["interleaved_timing"] = timings
    res.notes.extend(claim.notes)
    return res


def _study_readings(claim: Claim, records: dict[str, list[RunRecord]]) -> dict:
    """Per side and seed, the accuracy the study would have reported (its checkpoint rule or best epoch), next to
    the final-epoch accuracy the verdict uses."""
    return {"reading": [e.reported_as for e in (claim.a[0], claim.b[0])],
            "a": [r[0].reported_test_acc(claim.a[0].reported_as) for r in per_seed(claim.a, records)],
            "b": [r[0].reported_test_acc(claim.b[0].reported_as) for r in per_seed(claim.b, records)]}


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
# Section 1.1: MyNet, 50 epochs, the study's posted recipe (study.SECTION_1: batch 32, SGD 0.03 / momentum 0.5,
# weight decay 1e-3, two Dropout(0.5)).

S, REPORT, assumption = study.Setting, study.REPORT, study.assumption


def _mynet(hidden: int, **args: S) -> dict[str, S]:
    return {"hidden": S(hidden, REPORT), **args}


def _section_1(model: str, model_args: dict[str, S] | None = None, section: str = "1.1", **overrides: S):
    return recipe(section, study.SECTION_1, model, model_args or {}, **overrides)


base_nll = experiment("1.1/base-nll", "SGD + nll_loss, hidden 100", _section_1("MyNet", _mynet(100)),
                      "1.1/A/base-nll")
base_ce = experiment("1.1/base-ce", "SGD + CrossEntropyLoss, hidden 100",
                     _section_1("MyNet", _mynet(100), loss=S("cross_entropy", REPORT)), "1.1/A/base-ce")
adagrad = experiment("1.1/adagrad", "Adagrad + nll_loss, hidden 100", _section_1(
    "MyNet", _mynet(100), optimizer=S("adagrad", REPORT),
    lr=S(0.01, assumption("Adagrad's learning rate is in neither the report nor the posted code; PyTorch's default")),
    weight_decay=S(1e-3, assumption("the posted SGD runs' weight decay, kept so that only the optimizer differs")),
    momentum=S(0.0, assumption("Adagrad has no momentum"))), "1.1/A/adagrad")
h500 = experiment("1.1/hidden-500", "SGD + nll_loss, hidden 500", _section_1("MyNet", _mynet(500)),
                  "1.1/B/hidden-500")
conv3 = experiment("1.1/conv-5x5-3x3", "second conv 3x3, hidden 500",
                   _section_1("MyNet", _mynet(500, conv2_kernel=S(3, REPORT))), "1.1/C/conv-5x5-3x3")
tanh = experiment("1.1/tanh", "tanh activations, hidden 500",
                  _section_1("MyNet", _mynet(500, activation=S("tanh", REPORT))), "1.1/D/tanh")

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
# Section 1.2: ResNet and VGGNet, 100 epochs, the same posted recipe. "xavier_uniform" is the study's: Linear
# weights only, Linear bias 0.01, convolutions at PyTorch's default (bnbench.models.init_weights).

resnet = experiment("1.2/resnet-default", "ResNet, default init", _section_1("ResNet", section="1.2"),
                    "1.2/1/resnet-default")
vggnet = experiment("1.2/vggnet-default", "VGGNet, default init", _section_1("VGGNet", section="1.2"),
                    "1.2/1/vggnet-default")
_XAVIER = S("xavier_uniform", REPORT)
resnet_x = experiment("1.2/resnet-xavier", "ResNet, xavier_uniform init",
                      _section_1("ResNet", section="1.2", init=_XAVIER), "1.2/1/resnet-xavier")
vggnet_x = experiment("1.2/vggnet-xavier", "VGGNet, xavier_uniform init",
                      _section_1("VGGNet", section="1.2", init=_XAVIER), "1.2/1/vggnet-xavier")

claim("1.2/vggnet-beats-resnet", "VGGNet beats ResNet (80.34% vs 75.51%)", vggnet, resnet, "greater", 0.01,
      _ONE_POINT.replace("50-epoch", "100-epoch"), notes=(study.CONFLICTS[0],))
_LITTLE = "equivalence margin 1 point: the study's own differences are 0.22 and 0.53 points"
claim("1.2/xavier-changes-little-resnet", "xavier_uniform initialisation changes ResNet's accuracy little "
      "(75.29% vs 75.51%)", resnet_x, resnet, "equivalent", 0.01, _LITTLE, notes=(study.CONFLICTS[0],))
claim("1.2/xavier-changes-little-vggnet", "xavier_uniform initialisation changes VGGNet's accuracy little "
      "(80.87% vs 80.34%)", vggnet_x, vggnet, "equivalent", 0.01, _LITTLE)

# ---------------------------------------------------------------------------------------------------------
# Section 2.1: VGG-A with and without BatchNorm, the course template's settings (study.SECTION_2).

vgg_a = experiment("2.1/vgg-a", "VGG_A", recipe("2.1", study.SECTION_2, "VGG_A", {}), "2.1/1/vgg-a")
vgg_a_bn = experiment("2.1/vgg-a-bn", "VGG_A_BatchNorm", recipe("2.1", study.SECTION_2, "VGG_A_BatchNorm", {}),
                      "2.1/1/vgg-a-bn")

claim("2.1/bn-improves-accuracy", "BatchNorm improves VGG-A's validation accuracy (82.88% vs 77.52%)",
      vgg_a_bn, vgg_a, "greater", 0.01, "1 point of accuracy: smaller gaps are within the seed-to-seed spread")
claim("2.1/bn-costs-time", "BatchNorm costs time per epoch (8.05 s vs 7.33 s, +9.8%)", vgg_a_bn, vgg_a, "greater",
      0.02, "2% of the time per step: smaller differences are within the jitter of interleaved timing",
      metric="interleaved_time", relative=True, documented_tolerance=0.05,
      notes=("times depend on the hardware: the study's ratio is compared, not its seconds",
             "timed interleaved (bnbench.timing: both networks' training steps alternated in ABBA order, seconds "
             "apart), so the machine's drift over minutes cancels; the training runs' own s/epoch are shown too"))

# ---------------------------------------------------------------------------------------------------------
# Section 2.2: the course's "loss landscape": VGG_A and VGG_A_BatchNorm at four learning rates; per step, the
# band between the lowest and highest training loss over the learning rates. Verdicts use raw per-step losses.
# The same eight runs record the study's own section-2.3 measurement (the last Linear layer's gradient change
# between consecutive steps), so that claim needs no training of its own.

LEARNING_RATES = (1e-3, 2e-3, 1e-4, 5e-4)
_BAND_SETTINGS = dict(
    eval_every=S(20, assumption("the band needs training losses only: one evaluation, after the last epoch")),
    track_grad_change=S(True, study.STUDY_CODE))


def _band_run(model: str, lr: float):
    return recipe("2.2", study.SECTION_2, model, {}, lr=S(lr, REPORT), **_BAND_SETTINGS)


band_vgg_a = tuple(experiment(f"2.2/vgg-a-lr{lr:g}", f"VGG_A lr {lr:g}", _band_run("VGG_A", lr))
                   for lr in LEARNING_RATES)
band_vgg_a_bn = tuple(experiment(f"2.2/vgg-a-bn-lr{lr:g}", f"VGG_A_BatchNorm lr {lr:g}",
                                 _band_run("VGG_A_BatchNorm", lr)) for lr in LEARNING_RATES)
_FIVE_PERCENT = "5% of the statistic: smaller differences are within the seed-to-seed spread of a training curve"
# documented_tolerance: the study's effect on its own curves (e.g. -48% for the band's upper edge) is one seed's;
# within 15 points of it, and pointing the same way, counts as reproduced.
_SIDES = dict(a_label="VGG_A_BatchNorm (4 learning rates)", b_label="VGG_A (4 learning rates)",
              documented_tolerance=0.15)
claim("2.2/bn-band-lower", "with BatchNorm the loss is lower at the same step (a lower band)",
      band_vgg_a_bn, band_vgg_a, "less", 0.05, _FIVE_PERCENT, metric="band_max_mean", relative=True, **_SIDES,
      notes=("wording tested: 'smaller loss in the same step' (the study's report, 2.2); statistic: mean over steps "
             "of max_curve",))
claim("2.2/bn-band-narrower", "with BatchNorm the band across learning rates is narrower",
      band_vgg_a_bn, band_vgg_a, "less", 0.05, _FIVE_PERCENT, metric="band_width_mean", relative=True, **_SIDES,
      notes=("wording tested: 'a narrower band' is Santurkar et al.'s and the course design's, not the study's "
             "(the study says the loss 'declines faster' and is smaller at the same step)",
             "lower and narrower are separate claims: a band can be lower yet wider"))

# ---------------------------------------------------------------------------------------------------------
# Section 2.3, as the study measured it: from the 2.2 runs, per step the l2 norm of the change of the last Linear
# layer's weight gradient between consecutive steps, banded over the four learning rates.

_PROSE = ("the study's own prose reads its figure the other way ('with BN ... relatively drastic'); "
          "this verdict comes from the measurement, not the prose")
claim("2.3/bn-last-layer-grad-change-smaller", "with BatchNorm the last layer's gradient changes less from step "
      "to step (the study's own 2.3 measurement)", band_vgg_a_bn, band_vgg_a, "less", 0.25,
      "25%: a change within a quarter is not the clear separation the study's figure shows",
      metric="grad_band_max_mean", relative=True, **_SIDES,
      notes=("the study's measurement (report.md, 'The study's published code'), not Santurkar's probe; statistic: "
             "mean over steps of the band's upper edge (max over the four learning rates)", _PROSE))

# Section 2.3, as Santurkar et al. measured it: gradient predictiveness and beta-smoothness along the training
# trajectory, SGD lr 0.1, batch 128, up to 15,000 steps, no augmentation, Glorot init (VGG_A's own xavier_normal),
# fp32 like the paper.

_PROBES = dict(eval_every=S(39, assumption("the probes need training only: one evaluation, after the last epoch")),
               probe_every=S(30, assumption("probes every 30 steps on the current training batch in train mode: "
                                            "within the 25% probing-time budget (bnbench.probes.DEFAULT_EVERY)")))
probe_vgg_a = experiment("2.3/vgg-a-sgd", "VGG_A (SGD 0.1)", recipe("2.3", study.SANTURKAR, "VGG_A", {}, **_PROBES))
probe_vgg_a_bn = experiment("2.3/vgg-a-bn-sgd", "VGG_A_BatchNorm (SGD 0.1)",
                            recipe("2.3", study.SANTURKAR, "VGG_A_BatchNorm", {}, **_PROBES))
_QUARTER = "25%: the paper reports about two orders of magnitude; a change within a quarter is not that effect"
claim("2.3/bn-gradients-more-predictive", "with BatchNorm the gradients are more predictive (smaller gradient change "
      "along the gradient direction)", probe_vgg_a_bn, probe_vgg_a, "less", 0.25, _QUARTER,
      metric="grad_change_median", relative=True, notes=(_PROSE,))
claim("2.3/bn-smaller-beta", "with BatchNorm the effective beta-smoothness is smaller", probe_vgg_a_bn, probe_vgg_a,
      "less", 0.25, _QUARTER, metric="beta_median", relative=True, notes=(_PROSE,))
