"""A claim's result from its runs: the metric's per-seed values, the decision rule (``bnbench.verdicts.stats``),
the guards that make a verdict inconclusive (a side that never trained, a run that diverged, the smoke profile),
the check against the study's numbers and the metric's own details. A pure function of records; torch-free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from bnbench.engine.record import RunRecord
from bnbench.numbers import median
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover  (types only: verdicts import nothing of the study at run time)
    from bnbench.study.claims import Claim
from bnbench.verdicts.stats import Verdict, decide

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
    described: dict = field(default_factory=dict)        # the claim itself (bnbench.study.claims.describe)


# A ClaimResult carries its claim's description (``described``: the sentence, the metric's name, description, unit,
# display scale and regression rule, the kind, margin, side labels and experiment ids), written into summary.json,
# so that ``bnbench summary``, ``report`` and ``compare`` render a claim from the folder alone, in a process that
# never declared it (``bnbench.study.claims.claim_for``).
DESCRIBED_KEYS = ("sentence", "metric", "metric_description", "unit", "scale", "measured_as", "regression", "kind",
                  "margin", "relative", "a_label", "b_label", "a", "b")


def describe(claim: "Claim") -> dict:
    m = claim.metric
    a_label, b_label = claim.labels
    return {"sentence": claim.sentence, "metric": m.name, "metric_description": m.description, "unit": m.unit,
            "scale": m.scale, "measured_as": m.measured_as, "regression": m.regression, "kind": claim.kind,
            "margin": claim.margin, "relative": claim.relative, "a_label": a_label, "b_label": b_label,
            "a": [e.id for e in claim.a], "b": [e.id for e in claim.b]}


def evaluate(claim: "Claim", records: dict[str, list[RunRecord]], *, profile_name: str, verdicts: bool = True,
             documented: bool = False, timings: list[dict] | None = None) -> ClaimResult:
    """The verdict on ``claim`` from its runs (records per experiment id, paired by seed position). A claim whose
    metric is measured interleaved (``Metric.interleaved``) takes its per-seed values from ``timings``
    (``bnbench.engine.timing.interleaved_step_times``, one per seed)."""
    metric = claim.metric
    a_vals, b_vals, blocked = metric.values(claim, records, timings)
    res = ClaimResult(claim.id, profile_name, "inconclusive", "", a_vals, b_vals,
                      a_s_per_epoch=median([r.s_per_epoch for e in claim.a for r in records[e.id]]),
                      b_s_per_epoch=median([r.s_per_epoch for e in claim.b for r in records[e.id]]),
                      described=describe(claim))
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
        res.documented = metric.documented_check(claim, records, timings)
    extra, notes = metric.details(claim, records, timings)
    res.extra.update(extra)
    res.notes.extend(notes)
    res.notes.extend(claim.notes)
    return res
