"""The claims table: one row per claim, printed at the end of a pytest run and by ``bnbench summary``."""
from __future__ import annotations

import io
import math

from . import study
from .claims import CLAIMS, METRICS

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


def _study_values(claim) -> str:
    rows = [study.row(e.documented) for e in claim.experiments if e.documented]
    if not rows:
        return "(no number; figure)"
    if claim.metric == "s_per_epoch":
        return " vs ".join(f"{r.s_per_epoch:.2f} s" for r in rows)
    return " vs ".join(f"{r.accuracy * 100:.2f}%" for r in rows)


def _s_per_epoch(result, claim) -> str:
    ours = f"{result['a_s_per_epoch']:.2f} / {result['b_s_per_epoch']:.2f}" \
        if result.get("a_s_per_epoch") is not None and result.get("b_s_per_epoch") is not None else "n/a"
    rows = [study.row(e.documented) for e in claim.experiments if e.documented]
    theirs = " / ".join(f"{r.s_per_epoch:.2f}" for r in rows if r.s_per_epoch is not None)
    return f"{ours}\nstudy {theirs}" if theirs else ours


def results_table(results):
    """A rich Table of claim results (ClaimResult objects or their dicts, e.g. from summary.json)."""
    from rich.table import Table

    table = Table(show_lines=True, expand=False)
    for col in ("claim", "study", "measured (n seeds)", "verdict", "vs study", "s/epoch a / b", "plot"):
        table.add_column(col, overflow="fold")
    for res in results:
        r = res if isinstance(res, dict) else res.to_dict()
        claim = CLAIMS.get(r["claim_id"])
        if claim is None:
            table.add_row(r["claim_id"], "?", "?", r["verdict"], "", "", r.get("plot") or "")
            continue
        scale, unit = METRICS[claim.metric].scale, METRICS[claim.metric].unit
        a = [math.nan if v is None else v for v in r["a_values"]]
        b = [math.nan if v is None else v for v in r["b_values"]]
        measured = f"{_spread(a, scale)} vs {_spread(b, scale)}{unit.replace(' pp', '%')} (n={len(a)})"
        checks = "; ".join(d["check"] for d in r.get("documented") or []) or (
            "n/a at this scale" if any(e.documented for e in claim.experiments) else "no study number")
        verdict = r["verdict"] + (" (smoke)" if r["profile"] == "smoke" else "")
        table.add_row(f"{claim.id}\n[dim]{claim.sentence}[/dim]", _study_values(claim), measured,
                      f"[{VERDICT_STYLE.get(r['verdict'], '')}]{verdict}[/]", checks, _s_per_epoch(r, claim),
                      r.get("plot") or "")
    return table


def speed_table(rows):
    from rich.table import Table

    table = Table(title="speed: bnbench vs the study-style loop (same model, batch, device, same run)")
    for col in ("model", "variant", "device", "ran as", "bnbench s/epoch", "first epoch s", "study-style s/epoch",
                "ratio", "test acc"):
        table.add_column(col, justify="left" if col in ("model", "variant", "device", "ran as") else "right")
    for r in rows:
        table.add_row(r["model"], r["variant"], r["device"], execution(r), f"{r['bnbench_s_per_epoch']:.2f}",
                      f"{r['bnbench_first_epoch_s']:.2f}", f"{r['study_style_s_per_epoch']:.2f}",
                      f"{r['ratio']:.2f}x", f"{r['test_acc'] * 100:.2f}%")
    return table


def execution(row) -> str:
    """How a speed row's bnbench side ran: precision, plus 'CUDA graph' / 'compiled' where they were in use."""
    parts = [row.get("precision") or "?"]
    if str(row.get("cuda_graphs") or "").startswith("on:"):
        parts.append("CUDA graph")
    if row.get("compile") == "compiled":
        parts.append("compiled")
    return ", ".join(parts)


def model_speed_table(rows):
    from rich.table import Table

    table = Table(title="speed per model: training images/s, FLOPs and the machine's own matmul peak (same run)")
    for col in ("model", "batch", "ran as", "bnbench img/s", "study-style img/s", "speedup", "GFLOP/image",
                "achieved TFLOP/s", "peak TFLOP/s", "of peak"):
        table.add_column(col, justify="left" if col in ("model", "ran as") else "right")
    for r in rows:
        table.add_row(r["model"], str(r["batch_size"]), execution(r), f"{r['bnbench_images_per_s']:.0f}",
                      f"{r['study_style_images_per_s']:.0f}", f"{r['speedup']:.2f}x",
                      f"{r['flops_per_image'] / 1e9:.3f}", f"{r['achieved_flops'] / 1e12:.3f}",
                      f"{r['peak_flops'] / 1e12:.3f} ({r['peak_dtype']})", f"{r['fraction_of_peak'] * 100:.1f}%")
    return table


def full_suite_estimate_table(model_speed):
    """The full profile's estimated wall time on the machine the per-model speeds were measured on, or None
    when they do not cover every model (or come from more than one device)."""
    from .errors import BnbenchError
    from .estimate import speed_estimate_table
    from .profiles import get_profile

    try:
        return speed_estimate_table(model_speed, get_profile("full"))
    except BnbenchError:
        return None


def summary_tables(claims=(), speed=(), model_speed=()) -> list:
    """The tables a run's results make, in order: claims, MyNet speed, per-model speed, and, when the per-model
    speeds cover every model, the full profile's estimated wall time (empty ones left out)."""
    tables = ([results_table(claims)] if claims else []) + ([speed_table(speed)] if speed else [])
    if model_speed:
        tables.append(model_speed_table(model_speed))
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
