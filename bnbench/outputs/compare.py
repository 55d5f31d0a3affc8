"""Compare two finished runs (their summary.json): per claim, how each side's metric moved (with a 90% Welch
t-interval over seeds), how epoch times moved, and which verdicts changed. A regression beyond the
user's thresholds makes ``bnbench compare`` exit non-zero, so CI can gate on it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from bnbench.numbers import finite as _finite
from bnbench.store.formats import Summary  # noqa: F401  (what compare reads)


def delta_ci(old: list[float], new: list[float]) -> tuple[float, float, float]:
    """mean(new) - mean(old) and its 90% Welch t-interval (two one-sided 95% bounds): the two runs' seeds are
    independent trainings, not pairs. The bounds are NaN when a side has fewer than 2 finite values."""
    from bnbench.verdicts.stats import welch_interval

    old, new = _finite(old), _finite(new)
    if not old or not new:
        return math.nan, math.nan, math.nan
    return welch_interval(old, new)


@dataclass
class Row:
    claim_id: str
    profile: str
    side: str                  # "a" or "b"
    metric: str
    scale: float               # the metric's display scale (100 for accuracies)
    old_mean: float
    new_mean: float
    delta: float
    ci_low: float
    ci_high: float
    time_ratio: float          # new s/epoch / old s/epoch
    old_verdict: str
    new_verdict: str
    regression: str = ""       # why this row counts as a regression, or ""


# Two smoke runs of one commit on the shared 2-core CI machine differed by up to 1.36x in s/epoch (one seed,
# one or two short epochs), and full MyNet epochs by ~15%: below 1.5x a slowdown is not told from that noise there.
DEFAULT_MAX_SLOWDOWN = 1.5


def compare(old: "Summary", new: "Summary", *, max_drop: float = 0.01, max_slowdown: float = DEFAULT_MAX_SLOWDOWN) -> list[Row]:
    """Rows for every claim present in both runs. Accuracy metrics regress when a side's mean falls by more than
    ``max_drop`` (a fraction: 0.01 = 1 point); epoch times regress when they grow beyond ``max_slowdown`` x."""
    from bnbench.study.catalog import CLAIMS

    old_claims = {(c.claim_id, c.profile): c for c in old.claims}
    rows = []
    for c in new.claims:
        before = old_claims.get((c.claim_id, c.profile))
        if before is None:
            continue
        claim = CLAIMS.get(c.claim_id)
        metric = claim.metric if claim else None
        for side in "ab":
            o, n = _finite(getattr(before, f"{side}_values")), _finite(getattr(c, f"{side}_values"))
            delta, lo, hi = delta_ci(o, n)
            t_old, t_new = getattr(before, f"{side}_s_per_epoch"), getattr(c, f"{side}_s_per_epoch")
            ratio = t_new / t_old if t_old > 0 and t_new > 0 else math.nan
            row = Row(c.claim_id, c.profile, side, metric.name if metric else "?",
                      metric.scale if metric else 1.0, sum(o) / len(o) if o else math.nan,
                      sum(n) / len(n) if n else math.nan, delta, lo, hi, ratio, before.verdict, c.verdict)
            why = []
            if metric is not None and metric.regression == "drop" and delta < -max_drop:
                why.append(f"{metric.description} {delta * metric.scale:+.2f}{metric.unit} "
                           f"(threshold -{max_drop * metric.scale:.2f})")
            if ratio > max_slowdown:
                why.append(f"s/epoch x{ratio:.2f} (threshold x{max_slowdown:.2f})")
            row.regression = "; ".join(why)
            rows.append(row)
    return rows


def compare_table(rows: list[Row], old_name: str, new_name: str):
    from rich.table import Table

    table = Table(title=f"bnbench compare: {old_name} -> {new_name}")
    for col in ("claim", "side", "metric", "old", "new", "delta [90% t-interval]", "s/epoch ratio", "verdict",
                "regression"):
        table.add_column(col)
    for r in rows:
        scale = r.scale
        ci = "" if math.isnan(r.ci_low) else f" [{r.ci_low * scale:+.2f}, {r.ci_high * scale:+.2f}]"
        verdict = r.new_verdict if r.old_verdict == r.new_verdict else f"{r.old_verdict} -> {r.new_verdict}"
        table.add_row(f"{r.claim_id} [{r.profile}]", r.side, r.metric, f"{r.old_mean * scale:.3f}",
                      f"{r.new_mean * scale:.3f}", f"{r.delta * scale:+.3f}{ci}",
                      "n/a" if math.isnan(r.time_ratio) else f"{r.time_ratio:.2f}x", verdict,
                      f"[red]{r.regression}[/red]" if r.regression else "")
    return table
