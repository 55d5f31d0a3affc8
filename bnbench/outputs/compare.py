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
    config_change: str = ""    # how OLD's and NEW's runs of the claim's experiments differ (seed aside), or ""


# Two smoke runs of one commit on the shared 2-core CI machine differed by up to 1.36x in s/epoch (one seed,
# one or two short epochs), and full MyNet epochs by ~15%: below 1.5x a slowdown is not told from that noise there.
DEFAULT_MAX_SLOWDOWN = 1.5


def check_thresholds(max_drop: float, max_slowdown: float) -> None:
    """A gate's thresholds must be numbers that can fail: NaN compares false with everything (a gate that never
    fires), and a negative drop or a non-positive slowdown ratio means nothing."""
    from bnbench.errors import ConfigError

    if not (isinstance(max_drop, (int, float)) and math.isfinite(max_drop) and max_drop >= 0):
        raise ConfigError(f"--max-drop {max_drop!r} is not a finite number >= 0 (percentage points)")
    if not (isinstance(max_slowdown, (int, float)) and math.isfinite(max_slowdown) and max_slowdown > 0):
        raise ConfigError(f"--max-slowdown {max_slowdown!r} is not a finite ratio > 0 (e.g. 1.5)")


def _number_lost(old: float, new: float) -> bool:
    return math.isfinite(old) and not math.isfinite(new)


def _metric(result):
    """What the gate needs to judge a claim's values, its metric (scale and regression direction): from the claim's
    declaration in this process, else from the description the result carries in its summary.json
    (``bnbench.study.claims.claim_for``); None for a result that has neither (a summary written before results
    described themselves, of a claim this bnbench does not declare)."""
    from bnbench.study.claims import claim_for

    claim = claim_for(result)
    return claim.metric if claim else None


def _repeated(old: "Summary", new: "Summary") -> dict[tuple[str, str], str]:
    """The claims (id, profile) a run gives more than once: which copy would the gate judge?"""
    from collections import Counter

    return {key: f"{n} copies in {name}" for name, run in (("OLD", old), ("NEW", new))
            for key, n in Counter((c.claim_id, c.profile) for c in run.claims).items() if n > 1}


def unjudged(old: "Summary", new: "Summary") -> dict[tuple[str, str], str]:
    """The claims (id, profile) the gate cannot judge, with why: one a run gives more than once, and one of OLD
    whose metric this bnbench does not know (a fall or a rise of its values means nothing without the scale and the
    regression direction). Passed silently, either lets a regression through with exit status 0."""
    why = {(c.claim_id, c.profile): "not declared in this process and not described in its summary.json: its "
                                    "metric's scale and regression direction are unknown"
           for c in old.claims if _metric(c) is None}
    return {**why, **_repeated(old, new)}


def _config_key(config: dict):
    """A trained configuration's hash with the seed aside (as pooling groups runs), or the dict itself where this
    bnbench cannot read it as a TrainConfig."""
    from bnbench.engine.config import TrainConfig
    from bnbench.errors import ConfigError

    try:
        return TrainConfig.from_dict({**config, "seed": 0}).hash
    except (ConfigError, TypeError):
        return {k: v for k, v in config.items() if k != "seed"}


def config_change(old: "Summary", new: "Summary", result, profile: str) -> str:
    """Which of the claim's experiments OLD and NEW trained differently (the seed aside), with the settings that
    differ: a 2-epoch run against a 3-epoch one is a different measurement, not a regression. "" when they agree or
    either summary lacks the trained configuration."""
    from bnbench.study.claims import claim_for

    claim = claim_for(result)
    out = []
    for exp in (claim.experiments if claim else ()):
        key = f"{exp.id} [{profile}]"
        a, b = (getattr(run, "experiments", {}).get(key, {}).get("config") for run in (old, new))
        if not (isinstance(a, dict) and isinstance(b, dict)) or _config_key(a) == _config_key(b):
            continue
        diff = [f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
                if k != "seed" and a.get(k) != b.get(k)]
        out.append(f"{exp.id} ({', '.join(diff) or 'configuration hash'})")
    return "; ".join(out)


def compare(old: "Summary", new: "Summary", *, max_drop: float = 0.01, max_slowdown: float = DEFAULT_MAX_SLOWDOWN,
            across_configs: bool = False) -> list[Row]:
    """Rows for every claim of the old run, per side. A side regresses when its accuracy mean falls by more than
    ``max_drop`` (a fraction: 0.01 = 1 point), its epoch time (or a metric where a rise is the regression, a time)
    grows beyond ``max_slowdown`` x, the new run has fewer values than the old (a partial claim), a value the old
    run measured is null in the new one (a diverged or unmeasured run), or the claim is missing from the new run
    altogether. A claim given more than once (``unjudged``) has no row; an unknown one is judged on everything but
    its metric. Where OLD and NEW trained a claim's experiments differently (``config_change``), a drop, rise or
    slowdown is reported but counts as a regression only with ``across_configs``."""
    check_thresholds(max_drop, max_slowdown)
    twice = _repeated(old, new)
    new_claims = {(c.claim_id, c.profile): c for c in new.claims}
    rows = []
    for before in old.claims:
        if (before.claim_id, before.profile) in twice:
            continue
        c = new_claims.get((before.claim_id, before.profile))
        metric = _metric(before)
        name, scale = (metric.name, metric.scale) if metric else ("?", 1.0)
        for side in "ab":
            o_raw = getattr(before, f"{side}_values")
            o = _finite(o_raw)
            if c is None:
                rows.append(Row(before.claim_id, before.profile, side, name, scale, sum(o) / len(o) if o else math.nan,
                                math.nan, math.nan, math.nan, math.nan, math.nan, before.verdict, "missing",
                                "claim missing from NEW"))
                continue
            n_raw = getattr(c, f"{side}_values")
            n = _finite(n_raw)
            delta, lo, hi = delta_ci(o, n)
            t_old, t_new = getattr(before, f"{side}_s_per_epoch"), getattr(c, f"{side}_s_per_epoch")
            ratio = t_new / t_old if t_old > 0 and t_new > 0 else math.nan
            row = Row(c.claim_id, c.profile, side, name, scale, sum(o) / len(o) if o else math.nan,
                      sum(n) / len(n) if n else math.nan, delta, lo, hi, ratio, before.verdict, c.verdict)
            row.config_change = config_change(old, new, c, c.profile)
            judged = across_configs or not row.config_change
            why = []
            if len(n_raw) < len(o_raw):
                why.append(f"partial: {len(n_raw)} value(s) where OLD has {len(o_raw)}")
            lost = sum(_number_lost(a, b) for a, b in zip(o_raw, n_raw))
            if lost:
                why.append(f"{lost} value(s) null in NEW (a diverged or unmeasured run) where OLD measured one")
            if _number_lost(t_old, t_new):
                why.append("s/epoch not measured in NEW")
            if judged and metric is not None and metric.regression == "drop" and delta < -max_drop:
                why.append(f"{metric.description} {delta * metric.scale:+.2f}{metric.unit} "
                           f"(threshold -{max_drop * metric.scale:.2f})")
            rise = row.new_mean / row.old_mean if row.old_mean > 0 else math.nan
            if judged and metric is not None and metric.regression == "rise" and rise > max_slowdown:
                why.append(f"{metric.name} x{rise:.2f} (threshold x{max_slowdown:.2f})")
            if judged and ratio > max_slowdown:
                why.append(f"s/epoch x{ratio:.2f} (threshold x{max_slowdown:.2f})")
            row.regression = "; ".join(why)
            rows.append(row)
    return rows


def run_regressions(old: "Summary", new: "Summary") -> list[str]:
    """What fails the gate for the run as a whole: a NEW run that was interrupted (its summary is partial)."""
    return ["NEW is from an interrupted run (summary.json marked partial)"] if new.partial else []


def compare_table(rows: list[Row], old_name: str, new_name: str, width: int = 120):
    """Every cell a rich Text (``bnbench.text.cell``): ids, profiles and verdicts from the files print literally.
    Below 120 columns, a compact layout that keeps every claim id and verdict whole: per claim side, one line with
    the id and side and one with the numbers."""
    from rich.table import Table

    from bnbench.text import cell

    if width < 120:
        from rich.console import Group
        from rich.text import Text

        lines = [cell(f"bnbench compare: {old_name} -> {new_name}", "bold")]
        for r in rows:
            ci = "" if math.isnan(r.ci_low) else f" [{r.ci_low * r.scale:+.2f}, {r.ci_high * r.scale:+.2f}]"
            verdict = r.new_verdict if r.old_verdict == r.new_verdict else f"{r.old_verdict} -> {r.new_verdict}"
            lines.append(cell(f"{r.claim_id} [{r.profile}] side {r.side}: {verdict}"))
            ratio = "n/a" if math.isnan(r.time_ratio) else f"{r.time_ratio:.2f}x"
            detail = Text("  ")
            detail.append(cell(f"{r.metric} {r.old_mean * r.scale:.3f} -> {r.new_mean * r.scale:.3f} "
                               f"({r.delta * r.scale:+.3f}{ci}), s/epoch {ratio}"))
            if r.regression:
                detail.append(cell(f"; {r.regression}", "red"))
            lines.append(detail)
        return Group(*lines)

    table = Table(title=cell(f"bnbench compare: {old_name} -> {new_name}"))
    for col in ("claim", "side", "metric", "old", "new", "delta [90% t-interval]", "s/epoch ratio", "verdict",
                "regression"):
        table.add_column(col)
    for r in rows:
        scale = r.scale
        ci = "" if math.isnan(r.ci_low) else f" [{r.ci_low * scale:+.2f}, {r.ci_high * scale:+.2f}]"
        verdict = r.new_verdict if r.old_verdict == r.new_verdict else f"{r.old_verdict} -> {r.new_verdict}"
        table.add_row(cell(f"{r.claim_id} [{r.profile}]"), r.side, cell(r.metric), f"{r.old_mean * scale:.3f}",
                      f"{r.new_mean * scale:.3f}", f"{r.delta * scale:+.3f}{ci}",
                      "n/a" if math.isnan(r.time_ratio) else f"{r.time_ratio:.2f}x", cell(verdict),
                      cell(r.regression, "red"))
    return table
