"""What a claim measures. A ``Metric`` carries everything the rest of bnbench needs to know about it: how it reads
one number per seed off a side's runs (``values``), when a side cannot speak to the claim (``comparable``), how its
values are shown (``scale``, ``unit``, ``measured_as``), the study's value (``study_values``), the check against the
study's numbers (``documented_check``), the extra numbers and notes a result carries (``details``), its figures
(``figures``) and what counts as a regression between two runs (``regression``). Adding a metric is one subclass
or one instance in ``METRICS``; nothing elsewhere branches on a metric's name.

Pure functions of run records: torch-free, nothing read from disk except the study's packaged curves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from bnbench.engine.record import LEFT_CHANCE_LOSS, RunRecord
from bnbench.numbers import mean, median

if TYPE_CHECKING:  # pragma: no cover
    from bnbench.study.claims import Claim

Runs = list[RunRecord]          # one side's runs of one seed (one run, or one per learning rate of a sweep)
Records = dict[str, list[RunRecord]]   # experiment id -> its runs, by seed

# What counts as a regression between two runs (bnbench compare): a fall of the values ("drop", beyond --max-drop),
# a rise ("rise", beyond --max-slowdown x: a time), or neither (None: a change is a finding, not a regression).
REGRESSIONS = ("drop", "rise", None)
EFFECT_TOLERANCE = 0.03   # |measured effect - study effect| within 3 points, the same tolerance as each side's
MIN_LEARNING_PROBES = 3   # probe points past chance level a run needs before its probe statistics mean anything


@dataclass(frozen=True)
class Figure:
    """A figure a metric asks for: ``kind`` names a drawing function of ``bnbench.outputs.plots.FIGURES``; ``name``
    None is the claim's own figure (plots/<claim id>.png), otherwise plots/<name>.png; ``data`` its arguments."""
    kind: str
    data: dict[str, Any]
    name: str | None = None


def per_seed(side, records: Records) -> list[Runs]:
    """Seed i's runs of one side: one run per experiment of the side."""
    return [list(runs) for runs in zip(*(records[e.id] for e in side))]


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x * 100:.1f}%"


def _fmt(values: list[float]) -> str:
    return "/".join("n/a" if math.isnan(v) else f"{v:.3g}" for v in values)


@dataclass(frozen=True)
class Metric:
    """The base: a number read off each side's runs per seed. Subclasses add the study-facing behaviour."""
    name: str
    description: str
    scale: float = 1.0               # display: value * scale + unit
    unit: str = ""
    measured_as: str = ""            # how the table labels the measured values ("final epoch")
    # between two runs (bnbench compare): "drop" (a fall beyond --max-drop is a regression), "rise" (a rise beyond
    # --max-slowdown x: a time), or None (a change either way is a finding, not a regression)
    regression: str | None = None
    reader: Callable[[Runs], float] = field(default=lambda runs: math.nan, repr=False, compare=False)
    not_comparable: Callable[[Runs], str | None] = field(default=lambda runs: None, repr=False, compare=False)
    # the default figure's right panel (beside the training loss): "test" or "train" accuracy per epoch
    accuracy_panel: str = "test"
    interleaved = False              # measured by bnbench.engine.timing (both sides alternated), not read off runs
    per_step = False                 # reads the runs' per-step series (step_loss, step_grad_change): pooling keeps them
    against_zero = False             # side a's value is one number per seed (a gap between the sides), side b's is 0

    def read(self, runs: Runs) -> float:
        """The metric's number for one side's runs of one seed."""
        return self.reader(runs)

    def comparable(self, runs: Runs) -> str | None:
        """Why a side's runs cannot speak to the claim (e.g. never left chance level), or None."""
        return self.not_comparable(runs)

    def values(self, claim: "Claim", records: Records, timings: list[dict] | None) -> tuple[list, list, list[str]]:
        """Per-seed values of side a and side b, and why a side is not comparable (one line per seed that is not)."""
        sides = (per_seed(claim.a, records), per_seed(claim.b, records))
        blocked = [f"{label} seed {i}: {why}" for label, side in zip(claim.labels, sides)
                   for i, runs in enumerate(side) if (why := self.comparable(runs))]
        return [self.read(r) for r in sides[0]], [self.read(r) for r in sides[1]], blocked

    def study_values(self, claim: "Claim") -> str:
        """The study's numbers for the claim's sides, as the table shows them."""
        return "(no number; figure)"

    def documented_check(self, claim: "Claim", records: Records, timings: list[dict] | None) -> list[dict]:
        return []

    def details(self, claim: "Claim", records: Records, timings: list[dict] | None) -> tuple[dict, list[str]]:
        """Claim-specific numbers for the result's ``extra`` and notes."""
        return {}, []

    def figures(self, claim: "Claim", records: Records, timings: list[dict] | None = None) -> list[Figure]:
        return [Figure("curves", {"title": f"{claim.id}: {claim.sentence}", "accuracy": self.accuracy_panel,
                                  "sides": {e.label: records[e.id] for e in claim.experiments}})]

    def format(self, value: float) -> str:
        return "n/a" if value is None or math.isnan(value) else f"{value * self.scale:.4g}{self.unit}"


# -- accuracy -----------------------------------------------------------------------------------------------------

def _never_trained(runs: Runs) -> str | None:
    bad = [r for r in runs if not r.diverged and not r.learned]
    return f"final test accuracy {_pct(bad[0].final_test_acc)} never left chance level" if bad else None


@dataclass(frozen=True)
class Accuracy(Metric):
    """The final epoch's test accuracy (the verdict's, with no selection on the test set); the documented check
    reads each side the way the study did (``Experiment.reported_as``) and compares the effect too."""

    def study_values(self, claim):
        rows = [e.documented_row for e in claim.experiments if e.documented]
        return " vs ".join(f"{r.accuracy * 100:.2f}%" for r in rows) or "(no number)"

    def documented_check(self, claim, records, timings):
        out, means = [], {}
        for exp in claim.experiments:
            if exp.documented is None:
                continue
            want = exp.documented_row.accuracy
            got = means[exp.id] = mean([r.reported_test_acc(exp.reported_as) for r in records[exp.id]])
            ok = not math.isnan(got) and abs(got - want) <= claim.documented_tolerance
            out.append({"what": exp.id, "reading": exp.reported_as, "study": want, "measured": got,
                        "check": "reproduced" if ok else f"deviates ({(got - want) * 100:+.1f} pp)"})
        if len(claim.a) == len(claim.b) == 1 and claim.a[0].id in means and claim.b[0].id in means:
            a, b = claim.a[0], claim.b[0]
            want = a.documented_row.accuracy - b.documented_row.accuracy
            got = means[a.id] - means[b.id]
            # Within the tolerance, and pointing the same way wherever the study's effect reaches the claim's
            # minimum effect: a 2.6-point effect measured as -0.3 is within 3 points, yet it is the effect reversed.
            ok = (not math.isnan(got) and abs(got - want) <= EFFECT_TOLERANCE
                  and (abs(want) < claim.margin or got * want > 0))
            out.append({"what": "effect a - b", "reading": a.reported_as, "study": want, "measured": got,
                        "check": "reproduced" if ok else f"deviates ({(got - want) * 100:+.1f} pp)"})
        return out

    def details(self, claim, records, timings):
        """Per side and seed, the accuracy the study would have reported (its checkpoint rule or best epoch)."""
        reading = {"reading": [e.reported_as for e in (claim.a[0], claim.b[0])],
                   "a": [r[0].reported_test_acc(claim.a[0].reported_as) for r in per_seed(claim.a, records)],
                   "b": [r[0].reported_test_acc(claim.b[0].reported_as) for r in per_seed(claim.b, records)]}
        return {"study_reading": reading}, []


# -- time per step, measured interleaved ---------------------------------------------------------------------------

@dataclass(frozen=True)
class InterleavedTime(Metric):
    """Median training s/step of both sides, timed interleaved in ABBA order (``bnbench.engine.timing``) rather
    than read off the runs: side b's median, and side a's as b's times the paired ratio, so that a/b is the
    drift-cancelled ratio itself. Compared with the study's as a ratio, never in seconds."""
    interleaved = True

    def values(self, claim, records, timings):
        timings = timings or []
        b = [t["b_s_per_step_median"] for t in timings]
        a = [t["ratio_median"] * t["b_s_per_step_median"] for t in timings]
        return a, b, ([] if timings else ["no interleaved timing was measured"])

    def study_values(self, claim):
        rows = [e.documented_row for e in claim.experiments if e.documented]
        return " vs ".join(f"{r.s_per_epoch:.2f} s" for r in rows) or "(no number)"

    def documented_check(self, claim, records, timings):
        ra, rb = claim.a[0].documented_row, claim.b[0].documented_row
        want = ra.s_per_epoch / rb.s_per_epoch - 1
        got = median([t["ratio_median"] for t in timings or []]) - 1
        ok = abs(got - want) <= claim.documented_tolerance
        return [{"what": "time ratio a/b - 1", "study": want, "measured": got,
                 "check": "reproduced" if ok else f"deviates ({(got - want) * 100:+.1f}%)"}]

    def details(self, claim, records, timings):
        return ({"interleaved_timing": timings} if timings else {}), []

    def figures(self, claim, records, timings=None):
        """The measured s/step per side and seed (the verdict's values), not the runs' accuracy: a claim about
        time is judged on a figure of time."""
        a, b, _ = self.values(claim, records, timings)
        return [Figure("time", {"title": f"{claim.id}: {claim.sentence}",
                                "values": dict(zip(claim.labels, (a, b))),
                                "ratios": [t["ratio_median"] for t in timings or []]})]


# -- bands over a learning-rate sweep (2.2, and the study's own 2.3) --------------------------------------------

def loss_band(runs: Runs) -> tuple[list[float], list[float]]:
    """The course's band (2.2): per step, min and max of the training loss over the sweep's runs (raw values).
    Steps are aligned by index and cut to the shortest run."""
    n = min((r.steps for r in runs), default=0)
    curves = [r.step_loss[:n] for r in runs]
    return [min(v) for v in zip(*curves)], [max(v) for v in zip(*curves)]


def grad_band(runs: Runs) -> tuple[list[float], list[float]]:
    """The study's 2.3 band: per step, min and max over the sweep's runs of the last Linear layer's gradient change
    between consecutive steps (steps where no change exists, the first of each epoch, are left out)."""
    n = min((len(r.step_grad_change) for r in runs), default=0)
    cols = [[r.step_grad_change[i] for r in runs] for i in range(n)]
    cols = [c for c in cols if all(v is not None and math.isfinite(v) for v in c)]
    return [min(c) for c in cols], [max(c) for c in cols]


def _band_at_chance(runs: Runs) -> str | None:
    """A sweep has not started learning when, over most steps, even its best learning rate is still near ln 10:
    its band is then narrow and high because nothing learns, which says nothing about BatchNorm."""
    lo, _ = loss_band(runs)
    if not lo:
        return "no steps recorded"
    typical = median(lo)
    return (f"for most steps even the best learning rate's loss was still near ln 10 (median min_curve "
            f"{typical:.3f} >= {LEFT_CHANCE_LOSS:.3f})" if typical >= LEFT_CHANCE_LOSS else None)


def upper_mean(lo: list[float], hi: list[float]) -> float:
    return sum(hi) / len(hi) if hi else math.nan


def width_mean(lo: list[float], hi: list[float]) -> float:
    return sum(h - l for l, h in zip(lo, hi)) / len(hi) if hi else math.nan


@dataclass(frozen=True)
class Band(Metric):
    """A statistic of a band over a sweep's runs: ``quantity`` "loss" (2.2's training loss) or "grad" (the study's
    2.3 last-layer gradient change), ``statistic`` of (lower edge, upper edge), and the same statistic's field on
    the study's published curves (``study_statistic``, a ``bnbench.study.curves.RunMeans`` field)."""
    quantity: str = "loss"
    statistic: Callable[[list[float], list[float]], float] = field(default=None, repr=False, compare=False)
    study_statistic: str = "max_curve"
    # the study's published per-step curves to check against and draw beside (``bnbench.study.curves`` for the
    # study's 2.2 and 2.3 bands: ``load()``, ``MODELS``, ``compare_band_per_epoch``); None: no study curves
    published: Any = field(default=None, repr=False, compare=False)
    per_step = True

    def __post_init__(self):
        if self.statistic is None:
            object.__setattr__(self, "statistic", upper_mean)

    def band(self, runs: Runs) -> tuple[list[float], list[float]]:
        return (grad_band if self.quantity == "grad" else loss_band)(runs)

    def read(self, runs):
        return self.statistic(*self.band(runs))

    def comparable(self, runs):
        if self.quantity == "grad" and not all(r.step_grad_change for r in runs):
            return "the runs recorded no last-layer gradient change"
        # A network at ln 10 has tiny gradients whose change from step to step is tiny too, which would read as
        # "predictive": the same guard as the loss band's.
        return _band_at_chance(runs)

    def steps_per_epoch(self, runs: Runs) -> int:
        """Steps per epoch of a band: the runs' own, less the epoch's first step for the gradient-change band."""
        steps = runs[0].epochs[0]["steps"] if runs and runs[0].epochs else 0
        return max(0, steps - 1) if self.quantity == "grad" else steps

    def documented_check(self, claim, records, timings):
        """Seed 0's measured bands against the study's published curves, epoch by epoch (only at the study's
        scale), and the effect (a/b - 1 of the claim's statistic) against the one on the study's curves; nothing
        for a band with no published curves."""
        study_curves = self.published
        if study_curves is None:
            return []
        curves = study_curves.load()
        out, stats = [], {}
        for side in (claim.a, claim.b):
            runs = per_seed(side, records)[0]
            bn = runs[0].config.get("model") == study_curves.MODELS[True]
            lo, hi = self.band(runs)
            check = study_curves.compare_band_per_epoch(self.quantity, bn, lo, hi, self.steps_per_epoch(runs),
                                                        curves=curves)
            stats[bn] = self.read(runs)
            word = ("reproduced" if check.all_within else "deviates") if check.compared else "not compared"
            out.append({"what": f"{check.model} {self.quantity} band per epoch (seed 0)",
                        "study": curves.run_means(self.quantity, bn).max_curve, "measured": mean(hi),
                        "check": f"{word} ({check.epochs_within} of {check.epochs_compared} epochs within)"
                        if check.compared else word, "lines": check.lines()})
        if all(c["check"] != "not compared" for c in out):
            theirs = {bn: getattr(curves.run_means(self.quantity, bn), self.study_statistic) for bn in (True, False)}
            want = theirs[True] / theirs[False] - 1
            got = stats[True] / stats[False] - 1
            ok = abs(got - want) <= claim.documented_tolerance and got * want > 0
            out.append({"what": f"effect BN/no BN - 1 ({self.name}, seed 0)", "study": want, "measured": got,
                        "check": "reproduced" if ok else f"deviates ({(got - want) * 100:+.1f}%)"})
        return out

    def figures(self, claim, records, timings=None):
        """Seed 0's band per side, with the study's published band where the measurement is at its scale; for a
        claim about the band's width, the width itself (max - min per step), which the band figure leaves to the
        eye."""
        study_curves = self.published
        curves = study_curves.load() if study_curves is not None else None
        bands, theirs = {}, {}
        for label, side in zip(claim.labels, (claim.a, claim.b)):
            runs = per_seed(side, records)[0]
            lo, hi = self.band(runs)
            bands[label] = {"steps": list(range(len(lo))), "min_curve": lo, "max_curve": hi,
                            "lrs": [r.config["lr"] for r in runs]}
            if curves is not None and self.steps_per_epoch(runs) == curves.steps_per_epoch(self.quantity):
                bn = runs[0].config.get("model") == study_curves.MODELS[True]
                epochs = len(lo) // curves.steps_per_epoch(self.quantity)
                theirs[label] = curves.overlay(self.quantity, bn, epochs=epochs)
        if self.statistic is width_mean:
            return [Figure("width", {"bands": bands, "quantity": self.quantity})]
        return [Figure("band", {"bands": bands, "log": True, "study": theirs or None, "quantity": self.quantity})]


# -- Santurkar's probes (2.3) ---------------------------------------------------------------------------------------

def learning_probes(run: RunRecord) -> list[dict]:
    """The probe points taken after the run's training loss left ln 10; earlier ones are degenerate."""
    return [p for p in run.probes if p.get("train_loss") is not None and p["train_loss"] < LEFT_CHANCE_LOSS]


def _probes_at_chance(runs: Runs) -> str | None:
    for r in runs:
        k = len(learning_probes(r))
        if k < MIN_LEARNING_PROBES:
            return (f"only {k} of {len(r.probes)} probe points were taken after the training loss left ln 10 "
                    f"(need {MIN_LEARNING_PROBES}): a network that has not started learning has tiny gradients "
                    "that look predictive and a flat landscape that looks smooth")
    return None


def probe_values(probes: list[dict], key: str, reduce=max) -> list[float]:
    vals = [reduce(p[key]) if isinstance(p[key], list) else p[key] for p in probes if p.get(key) is not None]
    return [v for v in vals if v is not None and math.isfinite(v)]


def probe_median(key: str, reduce=max, points=learning_probes) -> Callable[[Runs], float]:
    """Median over probe points (by default those past chance level) of a probe quantity; a per-eta list is
    reduced to one number per point first."""
    def read(runs):
        return median(probe_values([p for r in runs for p in points(r)], key, reduce))
    return read


@dataclass(frozen=True)
class Probe(Metric):
    """The median of a probe quantity over the probe steps where BOTH networks had left chance level: medians
    over each side's own window would compare early steps of one network with late steps of the other."""
    key: str = "grad_change"
    ylabel: str = ""
    title: str = ""
    eta_band: bool = False          # the figure shows the band over eta (min / max of a per-eta list)
    landscape: bool = False         # also draw the loss along the gradient direction (plots/2.3_loss-landscape.png)

    def comparable(self, runs):
        return _probes_at_chance(runs)

    def read(self, runs):
        return probe_median(self.key)(runs)

    def pair(self, a_runs: Runs, b_runs: Runs) -> tuple[float, float, str | None]:
        pa = {p["step"]: p for p in learning_probes(a_runs[0])}
        pb = {p["step"]: p for p in learning_probes(b_runs[0])}
        steps = sorted(set(pa) & set(pb))
        if len(steps) < MIN_LEARNING_PROBES:
            return math.nan, math.nan, (f"only {len(steps)} probe steps where both networks had left ln 10 "
                                        f"(need {MIN_LEARNING_PROBES})")
        return (median(probe_values([pa[s] for s in steps], self.key)),
                median(probe_values([pb[s] for s in steps], self.key)), None)

    def values(self, claim, records, timings):
        _, _, blocked = super().values(claim, records, timings)
        pairs = [self.pair(ra, rb) for ra, rb in zip(per_seed(claim.a, records), per_seed(claim.b, records))]
        blocked += [f"seed {i}: {p[2]}" for i, p in enumerate(pairs) if p[2] and not blocked]
        return [p[0] for p in pairs], [p[1] for p in pairs], blocked

    def details(self, claim, records, timings):
        """Per side and seed: the relative gradient change and the course handout's simpler variants (labelled),
        over the probe points past chance level as the verdict uses them; the training loss at every probe point;
        the measured probing overhead."""
        sides = (per_seed(claim.a, records), per_seed(claim.b, records))

        def per_side(fn):
            return [[fn(runs[0]) for runs in side] for side in sides]

        def med(key, points=learning_probes):
            read = probe_median(key, points=points)   # the verdict's own statistic, for one run
            return lambda r: read([r])

        extra = {
            "sides": list(claim.labels),
            "grad_change_rel_median": per_side(med("grad_change_rel")),
            "probe_points": per_side(lambda r: len(r.probes)),
            "probe_points_past_chance": per_side(lambda r: len(learning_probes(r))),
            "train_loss_at_probes_median": per_side(med("train_loss", points=lambda r: r.probes)),
            "handout_last_layer_grad_change_median (course handout variant)":
                per_side(med("handout_last_layer_grad_change")),
            "handout_beta_median (course handout variant)": per_side(med("handout_beta")),
            "probe_overhead": per_side(lambda r: r.probe_overhead),
        }
        note = ("gradient change relative to ||g|| (median over probe points, max over eta): "
                + ", ".join(f"{label} {_fmt(v)}" for label, v in zip(claim.labels, extra["grad_change_rel_median"])))
        return extra, [note]

    def figures(self, claim, records, timings=None):
        first = {label: per_seed(side, records)[0][0].probes for label, side in zip(claim.labels, (claim.a, claim.b))}
        steps = {label: [p["step"] for p in probes] for label, probes in first.items()}
        if self.eta_band:
            series = {label: {"steps": steps[label], "values": [max(p[self.key]) for p in probes],
                              "min": [min(p[self.key]) for p in probes], "max": [max(p[self.key]) for p in probes]}
                      for label, probes in first.items()}
        else:
            series = {label: {"steps": steps[label], "values": [p[self.key] for p in probes]}
                      for label, probes in first.items()}
        out = [Figure("probe", {"series": series, "ylabel": self.ylabel, "title": self.title})]
        if self.landscape:
            out.append(Figure("landscape", {"series": {
                label: {"steps": steps[label], "min": [min(p["loss_along"]) for p in probes],
                        "max": [max(p["loss_along"]) for p in probes]} for label, probes in first.items()}},
                name="2.3_loss-landscape"))
        return out


# -- an identity, checked step by step (1.1: CrossEntropyLoss on log_softmax outputs is nll_loss) -----------------

@dataclass(frozen=True)
class StepLossGap(Metric):
    """Per seed, the largest |loss_a - loss_b| over the first ``steps`` training steps of the two sides' runs of
    that seed (side b's value is 0: the claim is about the gap itself). Two runs of one seed that compute the same
    function agree to float rounding at first; training then amplifies the rounding, the way any two nearly
    identical SGD trajectories drift apart, so the identity is judged where rounding has not yet grown."""
    steps: int = 5
    per_step = True
    against_zero = True

    def gap(self, a: RunRecord, b: RunRecord, steps: int | None = None) -> float:
        n = min(a.steps, b.steps, steps if steps is not None else self.steps)
        return max((abs(x - y) for x, y in zip(a.step_loss[:n], b.step_loss[:n])), default=math.nan)

    def values(self, claim, records, timings):
        pairs = list(zip(per_seed(claim.a, records), per_seed(claim.b, records)))
        gaps = [self.gap(ra[0], rb[0]) for ra, rb in pairs]
        blocked = [f"seed {i}: no training steps recorded" for i, g in enumerate(gaps) if math.isnan(g)]
        return gaps, [0.0] * len(gaps), blocked

    def study_values(self, claim):
        return "(no number: an identity of the losses)"

    def details(self, claim, records, timings):
        rows = []
        for ra, rb in zip(per_seed(claim.a, records), per_seed(claim.b, records)):
            a, b = ra[0], rb[0]
            n = min(a.steps, b.steps)
            diffs = [abs(x - y) for x, y in zip(a.step_loss[:n], b.step_loss[:n])]
            rows.append({"steps": n, "max_abs_diff": max(diffs, default=math.nan),
                         "first_step_over_1e-3": next((i for i, d in enumerate(diffs) if d > 1e-3), None)})
        notes = [f"seed {i}: losses identical to {self.gap(ra[0], rb[0]):.2g} over the first {self.steps} steps; "
                 f"largest {r['max_abs_diff']:.3g} over {r['steps']} steps"
                 + (f" (first above 1e-3 at step {r['first_step_over_1e-3']})"
                    if r["first_step_over_1e-3"] is not None else "")
                 for i, ((ra, rb), r) in enumerate(zip(zip(per_seed(claim.a, records), per_seed(claim.b, records)),
                                                       rows))]
        return {"step_loss_gap": rows}, notes


# The metrics any study may use by name; a study's own (the study's band metrics, with its published curves) are
# declared with it (bnbench.study.catalog).
METRICS: dict[str, Metric] = {m.name: m for m in [
    Accuracy("test_acc", "final test accuracy", 100.0, " pp", measured_as="final epoch", regression="drop",
             reader=lambda runs: runs[0].final_test_acc, not_comparable=_never_trained),
    InterleavedTime("interleaved_time", "median training s/step, both sides timed interleaved in ABBA order "
                    "(bnbench.engine.timing)", 1.0, " s", regression="rise"),
    Probe("grad_change_median", "median over the probe steps where both networks were past chance level of max "
          "over eta of ||grad L(w) - grad L(w - eta g)||", key="grad_change", eta_band=True, landscape=True,
          ylabel="||grad L(w) - grad L(w - eta g)||", title="gradient predictiveness (band over eta)"),
    Probe("beta_median", "median over the probe steps where both networks were past chance level of the effective "
          "beta-smoothness", key="beta", ylabel="effective beta-smoothness", title="effective beta-smoothness"),
    StepLossGap("step_loss_gap", "largest |loss_a - loss_b| over the first 5 training steps of the same seed"),
]}


def register_metric(metric: Metric) -> Metric:
    """Add a metric (a ``Metric`` or a subclass's instance) under its name, for ``claim(metric=name)``; passing the
    object itself to ``claim`` registers it too. The same object twice is fine; another under a taken name is a
    ConfigError."""
    from bnbench.errors import ConfigError

    if not isinstance(metric, Metric):
        raise ConfigError(f"register_metric({metric!r}): give a bnbench.Metric (or a subclass's instance)")
    if not isinstance(metric.name, str) or not metric.name.isidentifier():
        raise ConfigError(f"metric name {metric.name!r}: use a Python identifier, e.g. 'noise_gap'")
    if metric.accuracy_panel not in ("test", "train"):
        raise ConfigError(f"metric {metric.name!r}: accuracy_panel {metric.accuracy_panel!r}; use 'test' or 'train'")
    if metric.regression not in REGRESSIONS:
        raise ConfigError(f"metric {metric.name!r}: regression {metric.regression!r}; use one of "
                          f"{', '.join(map(str, REGRESSIONS))}")
    old = METRICS.get(metric.name)
    if old is not None and old is not metric:
        raise ConfigError(f"metric {metric.name!r} is already registered ({old.description}); choose another name")
    METRICS[metric.name] = metric
    return metric


def get_metric(name) -> Metric:
    """A metric by name, or the ``Metric`` object itself (registered on the way)."""
    from bnbench.errors import ConfigError

    if isinstance(name, Metric):
        return register_metric(name)
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown metric {name!r}; known: {', '.join(METRICS)} (or register_metric your "
                          "own)") from None
