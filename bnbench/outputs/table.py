"""The claims table: one row per claim, printed at the end of a pytest run and by ``bnbench summary``."""
from __future__ import annotations

import io
import math

from bnbench.numbers import nan_if_none
from bnbench.text import cell  # text from files prints literally
from bnbench.study import documented as study
from bnbench.study.claims import claim_for

WIDE = 120   # from this many columns on, the claims table has room for every number; below, the compact layout
VERDICT_STYLE = {"supported": "bold green", "contradicted": "bold red", "inconclusive": "yellow"}


def _spread(values: list[float], scale: float) -> str:
    vals = [v * scale for v in values if not math.isnan(v)]
    if not vals:
        return "n/a"
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{mean:.2f}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f"{mean:.2f} ± {sd:.2f}"


def _s_per_epoch(result, claim) -> str:
    a, b = result.a_s_per_epoch, result.b_s_per_epoch
    ours = "n/a" if math.isnan(a) or math.isnan(b) else f"{a:.2f} / {b:.2f}"
    rows = [study.row(e.documented) for e in claim.experiments if e.documented]
    theirs = " / ".join(f"{r.s_per_epoch:.2f}" for r in rows if r.s_per_epoch is not None)
    return f"{ours}\nstudy {theirs}" if theirs else ours


def evidence(result, claim) -> str:
    """The numbers behind a verdict, never the word alone: n, the mean effect with its interval and the rule that
    made it, and the claim's minimum effect. E.g. "n=3: +4.9 [+3.1, +6.7] pp (90% t-interval), margin 1 pp"."""
    n, effect, rule, margin = _effect(result, claim)
    return f"n={n}: {effect}" + (f" ({rule})" if rule else "") + f"; margin {margin}"


def _effect(result, claim) -> tuple[int, str, str, str]:
    """n, the mean effect with its interval ("+4.9 [+3.1, +6.7] pp"), the rule that made the interval (or why there
    is none) and the claim's margin ("1 pp")."""
    st = result.stats
    n = st.n if st is not None else len(result.a_values)
    relative = st.relative if st is not None else claim.relative
    scale, unit = (100.0, "%") if relative else (claim.metric.scale, claim.metric.unit)
    margin = f"{claim.margin * scale:g}{unit}"
    if st is None or math.isnan(st.mean_diff):
        return n, "no effect measured", "", margin
    finite = [abs(x) * scale for x in (st.mean_diff, st.ci_low, st.ci_high) if math.isfinite(x)]
    digits = _digits(max(finite, default=0.0))   # one precision for the mean and both bounds

    tiny = 0 < max(finite, default=0.0) < 1e-3    # a step-loss gap of 1e-7: significant digits, not +0.000000

    def num(x):
        return "n/a" if math.isnan(x) else f"{x * scale:+.2e}" if tiny else f"{x * scale:+.{digits}f}"

    if math.isnan(st.ci_low):
        return n, f"{num(st.mean_diff)}{unit}", f"no interval from {n} seed{'s' if n != 1 else ''}", margin
    return (n, f"{num(st.mean_diff)} [{num(st.ci_low)}, {num(st.ci_high)}]{unit}",
            f"{st.confidence * 100:g}% t-interval", margin)


def _digits(x: float) -> int:
    return 2 if x == 0 or abs(x) >= 1 else min(6, 2 - math.floor(math.log10(abs(x))))


def study_reading(result) -> str:
    """The accuracy the study would have reported (its checkpoint rule or best epoch), per side, labelled."""
    sr = result.extra.get("study_reading")
    if not isinstance(sr, dict) or not all(isinstance(sr.get(k), list) for k in ("a", "b", "reading")):
        return ""
    a = [nan_if_none(v) for v in sr["a"]]
    b = [nan_if_none(v) for v in sr["b"]]
    return f"study's reading ({'/'.join(sorted(set(map(str, sr['reading']))))}): {_spread(a, 100)} vs {_spread(b, 100)}%"


def results_table(results):
    """A rich Table of claim results (``ClaimResult``): per claim, the id and verdict on the left (kept whole: no
    column competes with them), the evidence and numbers on the right. Every cell is a rich Text built with
    ``bnbench.text.cell``: text from a summary file prints literally (no markup, no terminal escapes)."""
    from rich.table import Table
    from rich.text import Text

    from bnbench.text import cell

    table = Table(show_lines=True, expand=False)
    table.add_column("claim, verdict", no_wrap=True)
    table.add_column(Text("evidence (n, effect [interval], margin), measured, study"), overflow="fold")
    for r in results:
        claim = claim_for(r)
        verdict = Text.assemble(cell(r.verdict, VERDICT_STYLE.get(r.verdict, "")),
                                " (smoke)" if r.profile == "smoke" else "")
        if claim is None:
            table.add_row(Text("\n").join([cell(r.claim_id), verdict]), "(a claim this bnbench does not know)")
            continue
        scale, unit = claim.metric.scale, claim.metric.unit
        label = f"{claim.metric.measured_as} " if claim.metric.measured_as else ""
        lines = [cell(evidence(r, claim)),
                 cell(f"measured ({label}a vs b): {_spread(r.a_values, scale)} vs {_spread(r.b_values, scale)}"
                      f"{unit.replace(' pp', '%')}")]
        if study_reading(r):
            lines.append(cell(study_reading(r)))
        checks = "; ".join(str(d.get("check")) for d in r.documented) or (
            "n/a at this scale" if any(e.documented for e in claim.experiments) else "no study number")
        lines.append(cell(f"study: {claim.metric.study_values(claim)}; check: {checks}"))
        lines.append(cell("s/epoch a / b: " + _s_per_epoch(r, claim).replace("\n", ", ")))
        if r.verdict == "inconclusive" and r.reason:
            lines.append(cell("why: " + r.reason.split(": ", 1)[-1], "dim"))
        table.add_row(Text("\n").join([cell(claim.id), verdict]), Text("\n").join(lines))
    return table


def claim_rows(results) -> list[dict]:
    """Plain rows of the claims table (for --format md / csv): id, profile, verdict, the evidence, both sides'
    per-seed values, the study's reading where there is one, the study's values and the check against them. Text
    from a summary file has its control characters escaped (``bnbench.text.plain``)."""
    from bnbench.text import plain

    rows = []
    for r in results:
        claim = claim_for(r)
        if claim is None:
            rows.append({"claim": r.claim_id, "profile": r.profile, "verdict": r.verdict})
            continue
        scale = claim.metric.scale
        per_seed = " vs ".join("/".join("n/a" if math.isnan(v) else f"{v * scale:.4g}" for v in values)
                               for values in (r.a_values, r.b_values))
        rows.append({
            "claim": claim.id, "profile": r.profile, "verdict": r.verdict, "evidence": evidence(r, claim),
            "a, b per seed": per_seed, "study's reading": study_reading(r),
            "study": claim.metric.study_values(claim),
            "vs study": "; ".join(str(d.get("check")) for d in r.documented),
            "reason": r.reason if r.verdict == "inconclusive" else ""})
    return [{k: plain(v) for k, v in row.items()} for row in rows]


def to_markdown(rows: list[dict]) -> str:
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def to_csv(rows: list[dict]) -> str:
    import csv

    buf = io.StringIO()
    cols = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=cols)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


# ``bnbench summary --format``: "table" (the terminal's rich tables) and every plain-rows format, name -> writer
# (a writer turns ``claim_rows`` into text). Adding one is one entry here.
ROW_FORMATS = {"md": to_markdown, "csv": to_csv}
SUMMARY_FORMATS = ("table", *ROW_FORMATS)


def _compact(title: str, rows: list[tuple[str, str]]):
    """A table's rows as two lines each (a name line, an indented numbers line): readable at 80 columns."""
    from rich.console import Group
    from rich.text import Text

    lines = [Text(title, style="bold")]
    for head, detail in rows:
        lines += [cell(head), Text("  ") + cell(detail)]
    return Group(*lines)


def speed_table(rows, width: int = WIDE):
    from rich.table import Table

    if width < WIDE:
        return _compact("speed: bnbench vs the study-style loop (same model, batch, device, same run)", [
            (f"{r.model} [{r.variant}] on {r.device}, {execution(r)}",
             f"bnbench {r.bnbench_s_per_epoch:.2f} s/epoch (first {r.bnbench_first_epoch_s:.2f}), study-style "
             f"{r.study_style_s_per_epoch:.2f}: ratio {r.ratio:.2f}x; test acc {r.test_acc * 100:.2f}%")
            for r in rows])

    table = Table(title="speed: bnbench vs the study-style loop (same model, batch, device, same run)")
    for col in ("model", "variant", "device", "ran as", "bnbench s/epoch", "first epoch s", "study-style s/epoch",
                "ratio", "test acc"):
        table.add_column(col, justify="left" if col in ("model", "variant", "device", "ran as") else "right")
    for r in rows:
        table.add_row(cell(r.model), cell(r.variant), cell(r.device), cell(execution(r)), f"{r.bnbench_s_per_epoch:.2f}",
                      f"{r.bnbench_first_epoch_s:.2f}", f"{r.study_style_s_per_epoch:.2f}",
                      f"{r.ratio:.2f}x", f"{r.test_acc * 100:.2f}%")
    return table


def execution(row) -> str:
    """How a speed row's (a SpeedRow's or a ModelSpeed's) bnbench side ran: precision, plus 'CUDA graph' /
    'compiled' where they were in use."""
    parts = [row.precision or "?"]
    if (row.cuda_graphs or "").startswith("on:"):
        parts.append("CUDA graph")
    if row.compile == "compiled":
        parts.append("compiled")
    return ", ".join(parts)


def model_speed_table(rows, width: int = WIDE):
    from rich.table import Table

    if width < WIDE:
        return _compact("speed per model: training images/s, FLOPs and this machine's matmul peak (same run)", [
            (f"{r.model}, batch {r.batch_size}, {execution(r)}",
             f"{r.bnbench_images_per_s:.0f} img/s vs study-style {r.study_style_images_per_s:.0f}: {r.speedup:.2f}x; "
             f"{r.flops_per_image / 1e9:.3f} GFLOP/image, {r.achieved_flops / 1e12:.3f} of "
             f"{r.peak_flops / 1e12:.3f} TFLOP/s ({r.peak_dtype}) = {r.fraction_of_peak * 100:.1f}% of peak")
            for r in rows])

    table = Table(title="speed per model: training images/s, FLOPs and the machine's own matmul peak (same run)")
    for col in ("model", "batch", "ran as", "bnbench img/s", "study-style img/s", "speedup", "GFLOP/image",
                "achieved TFLOP/s", "peak TFLOP/s", "of peak"):
        table.add_column(col, justify="left" if col in ("model", "ran as") else "right")
    for r in rows:
        table.add_row(cell(r.model), str(r.batch_size), cell(execution(r)), f"{r.bnbench_images_per_s:.0f}",
                      f"{r.study_style_images_per_s:.0f}", f"{r.speedup:.2f}x",
                      f"{r.flops_per_image / 1e9:.3f}", f"{r.achieved_flops / 1e12:.3f}",
                      cell(f"{r.peak_flops / 1e12:.3f} ({r.peak_dtype})"), f"{r.fraction_of_peak * 100:.1f}%")
    return table


def full_suite_estimate_table(model_speed):
    """The full profile's estimated wall time on the machine the per-model speeds were measured on, or None
    when they do not cover every model (or come from more than one device)."""
    from bnbench.errors import BnbenchError
    from bnbench.estimate import speed_estimate_table
    from bnbench.study.profiles import get_profile

    try:
        return speed_estimate_table(model_speed, get_profile("full"))
    except BnbenchError:
        return None




def compact_claims(results, width: int = 80):
    """The claims at 80 columns: per claim at most three lines, nothing broken mid-word. Line 1: the claim id and
    its verdict; line 2: the evidence (n, the effect with its interval, the margin) and the study's values; line 3,
    for an inconclusive claim, why (cut to the width). The sentence, the per-seed values and the checks are in
    the wide table, ``bnbench summary --format md`` and the HTML report."""
    from rich.console import Group
    from rich.text import Text

    from bnbench.text import plain

    lines = [Text("claims (n, effect [90% interval], margin; the study's values). Wider terminal, --format md or "
                  "bnbench report: every number", style="bold")]
    for r in results:
        claim = claim_for(r)
        verdict = r.verdict + (" (smoke)" if r.profile == "smoke" else "")
        head = Text(plain(r.claim_id))
        gap = max(1, width - 1 - len(head.plain) - len(verdict))
        head.append(" " * gap)
        head.append(verdict, style=VERDICT_STYLE.get(r.verdict, ""))
        lines.append(head)
        if claim is None:
            lines.append(Text("  (a claim this bnbench does not know)"))
            continue
        detail = f"  {evidence(r, claim)}; study {claim.metric.study_values(claim)}"
        lines.append(Text(plain(detail), overflow="fold"))
        if r.verdict == "inconclusive" and r.reason:   # wrapped, never cut: the one line that explains the verdict
            lines.append(Text("  why: " + plain(r.reason.split(": ", 1)[-1]), style="dim"))
    return Group(*lines)


def overview(results, width: int = 80):
    """The claims at the end of a pytest run, on one screen: how many got each verdict, one line per claim (its
    verdict, effect [interval], margin and n; the margin left to the report where a line would not fit), then why
    each claim that is not supported is so, wrapped, never cut (once for all the claims that share a why). The rest
    behind a verdict (per-seed values, the study's numbers and checks, s/epoch, figures) is in ``bnbench report``
    and summary.json, where the plugin's last lines point."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from bnbench.text import plain

    lines = []
    for profile in dict.fromkeys(r.profile for r in results):
        verdicts = [r.verdict for r in results if r.profile == profile]
        counts = [Text(f"{verdicts.count(v)} {v}", style=style) for v, style in VERDICT_STYLE.items()]
        lines.append(Text.assemble(cell(f"{len(verdicts)} claim{'s' * (len(verdicts) != 1)} at {profile} scale: "),
                                   Text(", ").join(counts), style="bold"))
    rows, intervals, why = [], set(), {}
    for r in results:
        claim = claim_for(r)
        n, effect, rule, margin = _effect(r, claim) if claim else (len(r.a_values), "(unknown claim)", "", "")
        rows.append((plain(r.claim_id), r.verdict, effect, margin, str(n)))
        intervals |= {rule} if rule.endswith("t-interval") else set()
        if r.verdict != "supported" and r.reason:
            why.setdefault(plain(r.reason.split(": ", 1)[-1]), []).append(plain(r.claim_id))
    header = ("claim", "verdict", f"effect [{' / '.join(sorted(intervals))}]" if intervals else "effect", "margin",
              "n")
    needed = sum(max(map(len, column)) for column in zip(header, *rows)) + len(header) - 1
    columns = [0, 1, 2, 3, 4] if needed <= width else [0, 1, 2, 4]
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    for i in columns:
        table.add_column(Text(header[i]), no_wrap=i != 2, overflow="fold", justify="right" if i == 4 else "left")
    for row in rows:
        table.add_row(*(cell(row[i], VERDICT_STYLE.get(row[i], "") if i == 1 else "") for i in columns))
    lines.append(table)
    if 3 not in columns:
        lines.append(Text(f"margins: bnbench report, or a terminal of {needed} columns", style="dim"))
    for text, ids in why.items():
        who = f"all {len(ids)}" if len(ids) > 1 and len(ids) == len(results) else ", ".join(ids)
        lines.append(Text(f"why ({who}): {text}", style="dim"))
    return Group(*lines)


def summary_tables(claims=(), speed=(), model_speed=(), width: int = WIDE) -> list:
    """The tables a run's results make, in order: claims (compact below ``WIDE`` columns), MyNet speed, per-model
    speed, and, when the per-model speeds cover every model, the full profile's estimated wall time (empty ones
    left out)."""
    claims_view = (results_table(claims) if width >= WIDE else compact_claims(claims, width)) if claims else None
    tables = ([claims_view] if claims else []) + ([speed_table(speed, width)] if speed else [])
    if model_speed:
        tables.append(model_speed_table(model_speed, width))
        estimate = full_suite_estimate_table(model_speed)
        if estimate is not None:
            tables.append(estimate)
    return tables


def render(tables, width: int = 120, color: bool = False) -> str:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=max(width, 80), force_terminal=color, color_system="standard" if color else None)
    for table in tables:
        console.print(table)
    return buf.getvalue()
