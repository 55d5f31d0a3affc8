"""Figures like the study's, drawn from plain data (lists, arrays, RunRecords); one PNG per call.

- ``plot_claim_curves``:   report 1.1 / 1.2 / 2.1 accuracy-per-epoch plots (2.1: VGG_A vs VGG_A_BatchNorm valid
                           accuracy per epoch), plus the per-step training loss of Santurkar et al. 2018, Fig. 1.
- ``plot_documented``:     no figure of the study: its documented accuracy tables (1.1, 1.2, 2.1) vs what we measured.
- ``plot_band``:           report 2.2 "loss landscape": fill_between(min_curve, max_curve) of the training loss over
                           learning rates, one band per model.
- ``plot_loss_landscape``: Santurkar et al. 2018, Fig. 4(a): loss along the gradient direction, L(w - eta g), min..max
                           over eta at each probed step.
- ``plot_probe_metric``:   Santurkar et al. 2018, Fig. 4(b) gradient predictiveness and Fig. 4(c) effective
                           beta-smoothness (report 2.3, the bonus), BN and no-BN on shared axes.

Colours follow the order of the dict a function is given: the first entry (side a) is tab:blue, the
second (side b) tab:orange, then the rest of tab10. The 2.1 claims have BN as side a, so callers that pass
the BN model first in the 2.2 / 2.3 figures too get BN = blue, no-BN = orange everywhere. ``colors=``
overrides it per name. Smoothing is display-only: nothing here changes a number a verdict reads.

Pyplot runs on the Agg backend (no display); every figure is closed before its function returns.
"""
from __future__ import annotations

import contextvars
import math
import textwrap
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import LogFormatter, MaxNLocator  # noqa: E402

from bnbench.engine.record import CHANCE_ACCURACY, RunRecord  # noqa: E402

DPI = 120
SIDE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
                "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")
STUDY_COLOUR = "black"
MEASURED_COLOUR = "tab:green"
CHANCE_STYLE = dict(color="0.55", linestyle=":", linewidth=1.0)
SEED_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")   # seed k's marker: seeds told apart within a side
MEASURED_NOTE = "every curve and point is measured by bnbench; numbers in the title are the study's"

__all__ = ["draw", "FIGURES", "smooth", "plot_claim_curves", "plot_documented", "plot_band", "plot_loss_landscape",
           "plot_probe_metric", "plot_epoch_bands", "plot_band_width", "plot_time", "scale_line", "side_colours",
           "SIDE_COLOURS", "DPI"]


# ---------------------------------------------------------------------------------------------------------
# Helpers.


def smooth(values, window: int) -> np.ndarray:
    """Centred moving average for display; same length as ``values``.

    Near the ends the window shrinks to the samples that exist (no zero padding, so a constant stays
    constant right up to the edges). Non-finite samples (NaN, inf: a diverged run) are left out of every
    average; a window holding none but them gives NaN. ``window <= 1`` returns the values unchanged.
    """
    v = np.asarray(values, dtype=float).ravel()
    window = int(window)
    if window <= 1 or v.size == 0:
        return v.copy()
    window = min(window, v.size)
    ok = np.isfinite(v)
    left = (window - 1) // 2
    # zero padding (counted as no sample) makes the edge windows the shrunken ones
    pad = (left, window - 1 - left)
    sums = _window_sums(np.pad(np.where(ok, v, 0.0), pad), window)
    counts = _window_sums(np.pad(ok.astype(float), pad), window)
    out = np.full(v.size, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0.5)
    return out


def _window_sums(x: np.ndarray, w: int) -> np.ndarray:
    """The sum of every ``w`` consecutive values of ``x``, in time linear in ``len(x)`` whatever ``w`` (a
    convolution costs len(x) * w: minutes for a long run, whose display window grows with its step count). Cut into
    blocks of ``w``, each window is a suffix of one block plus a prefix of the next: sums of the window's own values
    only, so one huge loss never cancels into its neighbours as a difference of running totals would."""
    n, m = x.size, x.size - w + 1
    blocks = np.zeros(-(-n // w) * w)
    blocks[:n] = x
    blocks = blocks.reshape(-1, w)
    prefix = np.cumsum(blocks, axis=1).ravel()
    suffix = np.cumsum(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    tail = prefix[w - 1:w - 1 + m].copy()
    tail[::w] = 0.0                    # a window that starts a block is that block's suffix alone
    return suffix[:m] + tail


def side_colours(names: Iterable[str], colors: Mapping[str, str] | None = None) -> dict[str, str]:
    """Colour per name by position (a = tab:blue, b = tab:orange, ...), overridden by ``colors``."""
    out = {name: SIDE_COLOURS[i % len(SIDE_COLOURS)] for i, name in enumerate(names)}
    out.update({k: v for k, v in (colors or {}).items() if k in out})
    return out


_STAMP: contextvars.ContextVar[str | None] = contextvars.ContextVar("bnbench_figure_note", default=None)
_SCALE: contextvars.ContextVar[str | None] = contextvars.ContextVar("bnbench_figure_scale", default=None)


def scale_line(profile: str | None, records: Mapping[str, Sequence[RunRecord]]) -> str:
    """What a figure was run at, from the records' own configs (e.g. "smoke: 2 epochs, 2,000 images, 1 seed"): a
    smoke figure and a full one look alike, and only this tells a reader which one is on the slide."""
    configs = [r.config for runs in records.values() for r in runs if r is not None]
    if not configs:
        return ""

    def each(key, word, fmt=str):
        values = sorted({c.get(key) for c in configs if c.get(key) is not None})
        return f"{'/'.join(fmt(v) for v in values)} {word}" if values else ""

    images = sorted({10 * c["train_per_class"] if c.get("train_per_class") else 50_000 for c in configs})
    seeds = max(len(runs) for runs in records.values())
    parts = [each("epochs", "epoch" + ("s" if any(c.get("epochs") != 1 for c in configs) else "")), each("max_steps", "steps max"),
             "/".join(f"{n:,}" for n in images) + " images", f"{seeds} seed{'s' if seeds != 1 else ''}"]
    return f"{profile or 'run'}: " + ", ".join(p for p in parts if p)


def _stamp(fig, note: str) -> None:
    """``note`` in red across the top of the figure, above everything, wrapped to the figure's width by measuring
    the text. Not matplotlib's ``wrap=True``: at the figure's edge it wraps to one word a line when
    ``bbox_inches="tight"`` measures the figure and to full lines when drawing, which left 540-900 px blank above
    the note."""
    text = fig.text(0.5, 1.0, note, ha="center", va="bottom", color="tab:red", fontsize=11, fontweight="bold")
    renderer = fig.canvas.get_renderer()
    width = len(note)
    while width > 20 and text.get_window_extent(renderer).width > 0.96 * fig.bbox.width:
        width -= 4
        text.set_text(textwrap.fill(note, width))


def _save(fig, path) -> Path:
    """The figure as a PNG at ``path``: drawn into memory, then written atomically (``store.files``: a temporary
    file in the folder, renamed over the target), so a link planted at ``path`` is replaced, never written
    through, and a killed run leaves no half a PNG. A failed write is a one-line BnbenchError."""
    import io

    from bnbench.store.files import write_bytes_atomic

    path = Path(path)
    buf = io.BytesIO()
    try:
        if _STAMP.get():   # a verdict that could not be reached: said on the figure, not only in the table
            _stamp(fig, _STAMP.get())
        if _SCALE.get():
            fig.text(0.99, 0.0, f"scale: {_SCALE.get()}", ha="right", va="top", fontsize=8, color="0.35")
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    finally:
        plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return path


def _label_axes(fig, ax, title: str, xlabel: str, ylabel: str, legend: str | None) -> None:
    """Title, axis labels (the y label says when the scale is log), grid, legend where there is something to name."""
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if ax.get_yscale() == "log" else ""))
    _plain_log_ticks(ax)
    ax.grid(True, which="major", alpha=0.3)
    if legend:
        ax.legend(loc=legend, fontsize=9)
    fig.tight_layout()


class _PlainLogFormatter(LogFormatter):
    """LogFormatter's choice of which ticks to label, each written as a plain decimal ("2", "0.04")."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


def _plain_log_ticks(ax) -> None:
    """Decimal tick labels on a log y axis, where matplotlib's default writes "2 x 10^0"."""
    if ax.get_yscale() == "log":
        ax.yaxis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
        ax.yaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _finite_positive(arrays: Iterable[np.ndarray]) -> bool:
    return any(np.any(np.isfinite(a) & (a > 0)) for a in arrays if np.size(a))


def _no_data(ax, what: str = "no data") -> None:
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", color="0.4", fontsize=12)


def _as_arrays(*seqs) -> list[np.ndarray]:
    """Float arrays cut to the shortest length (steps and curves may disagree by a trailing sample)."""
    arrs = [np.asarray(s if s is not None else [], dtype=float).ravel() for s in seqs]
    n = min(a.size for a in arrs)
    return [a[:n] for a in arrs]


def _pct(x) -> float:
    x = float("nan") if x is None else float(x)
    return x * 100.0


# ---------------------------------------------------------------------------------------------------------
# One claim: training loss per step and test accuracy per epoch, every seed of both sides.


ACCURACY_PANELS = {   # plot_claim_curves' right panel: which accuracy per epoch, its title and axis label
    "test": ("test_acc", "Test accuracy per evaluated epoch", "test accuracy (%)"),
    "train": ("train_acc", "Training accuracy per epoch\n(measured while training, in training mode)",
              "training accuracy (%)"),
}


def _hidden_beneath(sides: dict[str, list[RunRecord]]) -> set[str]:
    """The sides whose every seed's training losses a later side repeats (to 1e-3 relative: e.g. two losses that
    compute the same function): drawn as they are, the later side would hide them entirely."""
    def same(a: list[RunRecord], b: list[RunRecord]) -> bool:
        return bool(a) and len(a) == len(b) and all(
            len(x.step_loss) == len(y.step_loss) > 0
            and np.allclose(np.asarray(x.step_loss, float), np.asarray(y.step_loss, float), rtol=1e-3, atol=1e-6,
                            equal_nan=True)
            for x, y in zip(a, b))
    names = list(sides)
    return {a for i, a in enumerate(names) if any(same(sides[a], sides[b]) for b in names[i + 1:])}


def plot_claim_curves(path, title: str, sides: dict[str, list[RunRecord]], *,
                      colors: Mapping[str, str] | None = None, accuracy: str = "test") -> Path:
    """Left: training loss per step (every seed; light display smoothing). Right: test accuracy (%) per
    evaluated epoch (every seed), or the training accuracy (``accuracy="train"``). A diverged run is drawn as far
    as it got, its last point marked with an x, and its side's legend entry says how many seeds diverged."""
    key, acc_title, acc_label = ACCURACY_PANELS[accuracy]
    colour = side_colours(sides, colors)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(13, 5))
    try:
        longest = max((r.steps for rs in sides.values() for r in rs), default=0)
        window = max(1, longest // 50)
        loss_arrays, any_diverged, handles = [], False, []
        non_div_max, div_points = [], []
        under = _hidden_beneath(sides)
        for name, records in sides.items():
            c = colour[name]
            wide = name in under    # a later side draws the same curves: this one goes beneath, wide and pale
            lw_loss, lw_acc, ms, alpha = (3.6, 4.0, 8, 0.45) if wide else (0.9, 1.2, 4, 0.75)
            n_div = sum(1 for r in records if r.diverged)
            any_diverged |= n_div > 0
            label = f"{name} ({len(records)} seed{'s' if len(records) != 1 else ''}"
            label += f", {n_div} diverged" if n_div else ""
            label += ", wide: same curves)" if wide else ")"
            handles.append(Line2D([], [], color=c, marker="o", markersize=ms, linewidth=lw_loss,
                                  alpha=alpha if wide else 1.0, label=label))
            for seed, r in enumerate(records):
                raw = np.asarray(r.step_loss, dtype=float)
                if raw.size:
                    y = smooth(raw, window)
                    if r.diverged and r.diverged_step is not None and 0 < r.diverged_step < raw.size:
                        # smooth only what came before the blow-up, so it does not leak backwards into the curve
                        k = r.diverged_step
                        y = np.concatenate([smooth(raw[:k], window), raw[k:]])
                    loss_arrays.append(y)
                    if not r.diverged and np.any(np.isfinite(y)):
                        non_div_max.append(np.nanmax(y))
                    ax_loss.plot(np.arange(raw.size), y, color=c, linewidth=lw_loss, alpha=alpha,
                                 linestyle="--" if r.diverged else "-", marker=SEED_MARKERS[seed % 8],
                                 markevery=max(1, raw.size // 8), markersize=ms)
                ev = [e for e in r.epochs if e.get(key) is not None]
                if ev:
                    ax_acc.plot([e["epoch"] for e in ev], [_pct(e[key]) for e in ev], color=c,
                                marker=SEED_MARKERS[seed % 8], markersize=ms, linewidth=lw_acc,
                                alpha=alpha if wide else 0.85,
                                linestyle="--" if r.diverged else "-")
                if r.diverged:
                    div_points += _divergence_point(r, raw)
                    if ev:
                        ax_acc.plot([ev[-1]["epoch"]], [_pct(ev[-1][key])], marker="x", color="black",
                                    markersize=9, markeredgewidth=2, linestyle="none", zorder=5)

        # Loss panel.
        if loss_arrays:
            if _finite_positive(loss_arrays):
                ax_loss.set_yscale("log")
            if any_diverged and non_div_max:
                # keep the trained runs readable: a diverged loss of 1e30 would flatten them
                top = max(non_div_max) * (10.0 if ax_loss.get_yscale() == "log" else 1.5)
                lo, hi = ax_loss.get_ylim()
                if hi > top:
                    ax_loss.set_ylim(lo, top)
            top = ax_loss.get_ylim()[1]
            for x, y in div_points:
                if y < top:
                    ax_loss.plot([x], [y], marker="x", color="black", markersize=9, markeredgewidth=2,
                                 linestyle="none", zorder=5)
                else:   # off scale: an upward triangle just inside the top edge, the value written beside it
                    ax_loss.plot([x], [0.97], marker="^", color="black", markersize=8, linestyle="none", zorder=5,
                                 transform=ax_loss.get_xaxis_transform())
                    ax_loss.annotate(f"{y:.3g}", (x, 0.97), xycoords=ax_loss.get_xaxis_transform(),
                                     xytext=(6, -3), textcoords="offset points", fontsize=8, va="top")
        else:
            _no_data(ax_loss, "no training steps recorded")
        smoothing = f"window {window}" if window > 1 else "none"
        ax_loss.set_title(f"Training loss per step\n(display smoothing: {smoothing})")
        ax_loss.set_xlabel("optimizer step")
        ax_loss.set_ylabel("training loss" + (" (log scale)" if ax_loss.get_yscale() == "log" else ""))
        _plain_log_ticks(ax_loss)
        ax_loss.grid(True, which="major", alpha=0.3)

        # Accuracy panel.
        if ax_acc.lines:
            ax_acc.axhline(CHANCE_ACCURACY * 100, **CHANCE_STYLE)
        else:
            _no_data(ax_acc, "no evaluated epochs")
        ax_acc.set_title(acc_title)
        ax_acc.set_xlabel("epoch")
        # epochs are whole numbers: min_n_ticks=1, or a single epoch falls back to ticks 0.945 ... 1.050
        ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax_acc.set_xlim(0.5, max((e["epoch"] for rs in sides.values() for r in rs for e in r.epochs), default=1) + 0.5)
        ax_acc.set_ylabel(acc_label)
        ax_acc.grid(True, alpha=0.3)

        n_seeds = max((len(rs) for rs in sides.values()), default=0)
        seed_keys = [Line2D([], [], color="0.3", marker=SEED_MARKERS[k % 8], linestyle="none", markersize=5,
                            label=f"seed {k}") for k in range(n_seeds)] if n_seeds > 1 else []
        loss_extra = list(seed_keys)
        acc_extra = [Line2D([], [], **CHANCE_STYLE, label=f"chance ({CHANCE_ACCURACY * 100:.0f}%)"), *seed_keys]
        if any_diverged:
            off = any(y >= ax_loss.get_ylim()[1] for _, y in div_points)
            div = dict(color="black", marker="x", markersize=8, markeredgewidth=2, linestyle="--")
            loss_extra.append(Line2D([], [], **div, label="diverged (dashed; x = last finite loss"
                                     + (", ^ = off scale" if off else "") + ")"))
            acc_extra.insert(0, Line2D([], [], **div, label="diverged (dashed; x = last evaluation)"))
        ax_loss.legend(handles=handles + loss_extra, loc="lower left", fontsize=8, framealpha=0.9)
        ax_acc.legend(handles=handles + acc_extra, loc="lower right", fontsize=8, framealpha=0.9)
        fig.suptitle(f"{title}\n({MEASURED_NOTE})", fontsize=11)
        fig.tight_layout()
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


def _divergence_point(record: RunRecord, raw: np.ndarray) -> list[tuple[int, float]]:
    """The last finite training loss at or before the diverged step, as [(step, loss)] (or [])."""
    finite = np.flatnonzero(np.isfinite(raw))
    if finite.size == 0:
        return []
    step = record.diverged_step if record.diverged_step is not None else int(finite[-1])
    at = finite[finite <= step]
    i = int(at[-1]) if at.size else int(finite[-1])
    return [(i, float(raw[i]))]


# ---------------------------------------------------------------------------------------------------------
# Measured vs documented accuracy.


def plot_documented(path, rows: list[dict[str, Any]], *, title: str | None = None) -> Path:
    """Horizontal dot plot, one line per row, in %: the study's number (black diamond), the measured mean
    (dot) with a min..max error bar over seeds, every seed (small dots just above), a thin line from study to mean
    and the gap written at the right. A row with no finite measurement says "not measured". The x-axis
    is zoomed to the data (a gap of 1 point must be visible), so there are no bars from zero."""
    n = len(rows)
    fig, ax = plt.subplots(figsize=(10, 1.9 + 0.5 * max(n, 1)), layout="constrained")
    try:
        ys = np.arange(n)[::-1]          # first row at the top
        everything = []
        for y, row in zip(ys, rows):
            study = _pct(row.get("study"))
            seeds = np.array([_pct(m) for m in (row.get("measured") or [])], dtype=float)
            seeds = seeds[np.isfinite(seeds)]
            colour = row.get("color", MEASURED_COLOUR)
            if seeds.size:
                mean = float(seeds.mean())
                everything += list(seeds)
                if math.isfinite(study):
                    ax.plot([study, mean], [y, y], color="0.6", linewidth=1.0, zorder=1)
                ax.errorbar(mean, y, xerr=[[mean - seeds.min()], [seeds.max() - mean]], fmt="o", color=colour,
                            ecolor=colour, elinewidth=2.0, capsize=5, markersize=8, zorder=3)
                ax.plot(seeds, np.full(seeds.size, y + 0.22), linestyle="none", marker="o", markersize=3.5, color="0.15",
                        alpha=0.8, zorder=4)
                text = f"{mean:.1f}% (n={seeds.size})"
                if math.isfinite(study):
                    text += f", {mean - study:+.1f} pp vs study {study:.1f}%"
            else:
                text = "not measured" + (f" (study {study:.1f}%)" if math.isfinite(study) else "")
            if math.isfinite(study):
                everything.append(study)
                ax.plot([study], [y], marker="D", color=STUDY_COLOUR, markersize=7, linestyle="none", zorder=5)
            ax.text(1.01, y, text, va="center", ha="left", fontsize=8, transform=ax.get_yaxis_transform())
        if not n:
            _no_data(ax, "no documented rows")
        ax.set_yticks(ys)
        ax.set_yticklabels([str(r.get("label", "?")) for r in rows])
        ax.set_ylim(-0.7, max(n, 1) - 0.3)
        if everything:
            lo, hi = min(everything), max(everything)
            pad = max(2.0, 0.1 * (hi - lo))
            ax.set_xlim(max(0.0, lo - pad), min(100.0, hi + pad))
        else:
            ax.set_xlim(0, 100)
        chance = CHANCE_ACCURACY * 100
        handles = [
            Line2D([], [], marker="D", color=STUDY_COLOUR, linestyle="none", label="study (documented)"),
            Line2D([], [], marker="o", color=MEASURED_COLOUR, linestyle="-", label="measured mean, min..max over seeds"),
            Line2D([], [], marker="o", color="0.15", markersize=3.5, linestyle="none", label="individual seeds"),
        ]
        if ax.get_xlim()[0] <= chance:
            ax.axvline(chance, **CHANCE_STYLE)
            handles.append(Line2D([], [], **CHANCE_STYLE, label=f"chance ({chance:.0f}%)"))
        ax.set_xlabel("test accuracy (%)")
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(title or "Measured vs documented test accuracy")
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------
# Bands: the course's loss landscape (2.2) and the paper's loss along the gradient.


def _draw_bands(ax, bands: Mapping[str, Mapping[str, Any]], lo_key: str, hi_key: str, colour: dict[str, str],
                smooth_window: int, band_label: str) -> list[np.ndarray]:
    drawn = []
    for name, band in bands.items():
        steps, lo, hi = _as_arrays(band.get("steps"), band.get(lo_key), band.get(hi_key))
        if not steps.size:
            continue
        lo, hi = smooth(lo, smooth_window), smooth(hi, smooth_window)
        c = colour[name]
        ok = np.isfinite(lo) & np.isfinite(hi)
        label = f"{name}: {band_label}"
        if band.get("lrs"):
            label += " (lr " + ", ".join(f"{lr:g}" for lr in band["lrs"]) + ")"
        ax.fill_between(steps, lo, hi, where=ok, color=c, alpha=0.35, linewidth=0, label=label,
                        interpolate=False)
        ax.plot(steps, lo, color=c, linewidth=0.8)
        ax.plot(steps, hi, color=c, linewidth=0.8)
        drawn += [lo, hi]
    return drawn


def _band_figure(path, series, lo_key: str, hi_key: str, colors, smooth_window: int, band_label: str,
                 title: str, xlabel: str, ylabel: str, log: bool,
                 study: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """One figure of min..max bands, one per model on shared axes (the course's band and the paper's landscape);
    ``study`` adds the study's per-epoch band per label as dashed steps (plot_band only)."""
    colour = side_colours(list(series) + [k for k in (study or {}) if k not in series], colors)
    fig, ax = plt.subplots(figsize=(10, 5.5))
    try:
        drawn = _draw_bands(ax, series, lo_key, hi_key, colour, smooth_window, band_label)
        if study:
            drawn += _draw_study_steps(ax, study, colour)
        if not drawn:
            _no_data(ax)
        if log and _finite_positive(drawn):
            ax.set_yscale("log")
        _label_axes(fig, ax, title, xlabel, ylabel, legend="upper right" if drawn else None)
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


STUDY_BAND_LABEL = "study (published curve, per-epoch mean)"


def _draw_study_steps(ax, study: Mapping[str, Mapping[str, Any]], colour: dict[str, str]) -> list[np.ndarray]:
    """The study's per-epoch band per label: dashed steps at its min and max, one legend entry per label."""
    drawn = []
    for name, s in study.items():
        lo, hi = _as_arrays(s.get("min"), s.get("max"))
        x = np.asarray(s.get("epoch_steps") if s.get("epoch_steps") is not None else [], dtype=float).ravel()
        if not lo.size or x.size < lo.size:
            continue
        if x.size == lo.size:          # epoch starts: close the last epoch with the spacing before it
            x = np.append(x, x[-1] + (x[-1] - x[-2] if x.size > 1 else 1.0))
        edges = x[:lo.size + 1]
        c = colour[name]
        # on top of the measured band, with a white halo so it stays visible over a dense per-step band
        style = dict(color=c, linestyle="--", linewidth=1.8, baseline=None, zorder=4,
                     path_effects=[patheffects.withStroke(linewidth=3.5, foreground="white")])
        ax.stairs(hi, edges, label=f"{name}: {STUDY_BAND_LABEL}", **style)
        ax.stairs(lo, edges, **style)
        drawn += [lo, hi]
    return drawn


def plot_band(path, bands: dict[str, dict], log: bool = True, smooth_window: int = 1, *,
              title: str | None = None, colors: Mapping[str, str] | None = None,
              study: Mapping[str, Mapping[str, Any]] | None = None, quantity: str = "loss") -> Path:
    """Report 2.2: per model, the band between the lowest and highest training loss over the learning
    rates at each step (``{"steps", "min_curve", "max_curve"[, "lrs"]}``); smoothing is display only.
    ``quantity="grad"`` draws the study's own 2.3 band instead: the last Linear layer's gradient change between
    consecutive steps, ||g(t) - g(t-1)||, min..max over the learning rates.

    ``study``: per label, the study's published band per epoch (``{"epoch_steps", "min", "max"}``, as
    ``bnbench.study.curves.StudyCurves.overlay`` gives it: ``epoch_steps`` the n + 1 epoch edges in optimizer
    steps, or the n epoch starts), drawn as dashed steps in the label's colour; the measured bands are then
    labelled "measured". Pass it only for a measurement at the study's scale (391 steps an epoch), cut to the
    measured epochs. None draws the measured bands alone."""
    what, ylabel, default_title = {
        "loss": ("training loss", "training loss", "Loss landscape (training loss band per model)"),
        "grad": ("||g_last(t) - g_last(t-1)||", "last layer's gradient change",
                 "Gradient predictiveness, the study's measurement (band per model)")}[quantity]
    note = f"band = min..max {what} over learning rates at each step"
    if smooth_window > 1:
        note += f"; display smoothing: window {smooth_window}"
    band_label = "min..max over learning rates"
    if study:
        band_label = "measured " + band_label
        note += ("\nshaded = measured; dashed steps = the study's published curve (per-epoch mean of its min and "
                 "max curves)")
    else:
        band_label = "measured " + band_label
        note += "\nshaded = measured by bnbench (the study's curve is drawn only for a run at its scale)"
    return _band_figure(path, bands, "min_curve", "max_curve", colors, smooth_window, band_label,
                        f"{title or default_title}\n{note}", "optimizer step", ylabel, log, study=study)


def plot_loss_landscape(path, series: dict[str, dict], *, title: str | None = None,
                        colors: Mapping[str, str] | None = None) -> Path:
    """Santurkar et al. Fig. 4(a): per model, min..max over eta of L(w_t - eta g_t) at each probed step
    (``{"steps", "min", "max"}``), log y."""
    return _band_figure(path, series, "min", "max", colors, 1, "min..max over step sizes",
                        f"{title or 'Loss landscape along the gradient direction'}\n"
                        "band = min..max over step size eta of L(w - eta * grad L(w)) at each probed step "
                        "(measured by bnbench)",
                        "training step", "loss L(w - eta g)", True)


def plot_band_width(path, bands: Mapping[str, Mapping[str, Any]], quantity: str = "loss") -> Path:
    """The width of each model's band per step (max - min over learning rates, ``{"steps", "min_curve",
    "max_curve"}``): what a claim that one band is narrower is about, drawn rather than left to the eye."""
    what = {"loss": "training loss", "grad": "last layer's gradient change"}[quantity]
    colour = side_colours(bands)
    fig, ax = plt.subplots(figsize=(10, 5.5))
    try:
        drawn = []
        for name, band in bands.items():
            steps, lo, hi = _as_arrays(band.get("steps"), band.get("min_curve"), band.get("max_curve"))
            if steps.size:
                width = hi - lo
                ax.plot(steps, width, color=colour[name], linewidth=1.2,
                        label=f"{name} (mean {np.nanmean(width):.3g})")
                drawn.append(width)
        if not drawn:
            _no_data(ax)
        if _finite_positive(drawn):
            ax.set_yscale("log")
        _label_axes(fig, ax, f"Band width per model: max - min {what} over learning rates at each step\n"
                             "(measured by bnbench)", "optimizer step", f"band width ({what})",
                    legend="upper right" if drawn else None)
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


def plot_time(path, values: Mapping[str, Sequence[float]], *, title: str, ratios: Sequence[float] = ()) -> Path:
    """Measured training s/step per side: one dot per seed and the median as a bar (``values``: label -> s/step
    per seed, from the interleaved timings), with the paired a/b ratio the verdict reads in the title."""
    colour = side_colours(values)
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    try:
        for x, (name, vals) in enumerate(values.items()):
            v = np.asarray([np.nan if t is None else t for t in vals], dtype=float)
            v = v[np.isfinite(v)]
            if not v.size:
                continue
            mid = float(np.median(v))
            ax.bar(x, mid, color=colour[name], alpha=0.45, width=0.6)
            ax.plot(np.full(v.size, x), v, "o", color=colour[name], markeredgecolor="black", zorder=3)
            ax.annotate(f"{mid:.3g} s/step", (x, mid), xytext=(0, 4), textcoords="offset points",
                        ha="center", va="bottom", fontsize=9)
        if not ax.patches:
            _no_data(ax, "no interleaved timing was measured")
        ax.set_xticks(range(len(values)), list(values))
        ax.set_ylabel("training time per step (s, median of interleaved rounds)")
        ok = [r for r in ratios if r is not None and math.isfinite(r)]
        ratio = f"\nmedian paired time ratio a/b: {float(np.median(ok)):.3f}" if ok else ""
        ax.set_title(f"{title}{ratio}\n(measured by bnbench, sides timed interleaved; dots = seeds)", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------
# Probe metrics: gradient predictiveness, beta-smoothness.


def plot_probe_metric(path, series: dict[str, dict], ylabel: str, title: str, log: bool = True, *,
                      colors: Mapping[str, str] | None = None) -> Path:
    """A probe metric vs training step, one line per model (``{"steps", "values"}``), with a min..max band
    where ``"min"`` and ``"max"`` are given. Log y when ``log`` and the data allow it."""
    colour = side_colours(series, colors)
    fig, ax = plt.subplots(figsize=(10, 5.5))
    try:
        drawn = []
        for name, s in series.items():
            c = colour[name]
            steps, values = _as_arrays(s.get("steps"), s.get("values"))
            has_band = s.get("min") is not None and s.get("max") is not None
            if has_band:
                bsteps, lo, hi = _as_arrays(s.get("steps"), s.get("min"), s.get("max"))
                if bsteps.size:
                    ok = np.isfinite(lo) & np.isfinite(hi)
                    ax.fill_between(bsteps, lo, hi, where=ok, color=c, alpha=0.25, linewidth=0,
                                    label=f"{name}: min..max")
                    drawn += [lo, hi]
            if steps.size:
                ax.plot(steps, values, color=c, linewidth=1.4, marker="o" if steps.size <= 60 else None,
                        markersize=3.5, label=name + (": value" if has_band else ""))
                drawn.append(values)
        if not drawn:
            _no_data(ax)
        if log and _finite_positive(drawn):
            ax.set_yscale("log")
        _label_axes(fig, ax, f"{title}\n(measured by bnbench; the paper's Fig. 4 has no numbers to draw)",
                    "training step", ylabel, legend="best" if drawn else None)
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------
# A metric's figures (bnbench.verdicts.metrics.Figure): its kind names the drawing function.

def plot_epoch_bands(path, sides: Mapping[str, Sequence[RunRecord]], *, title: str,
                     study: Mapping[str, float] | None = None, colors: Mapping[str, str] | None = None) -> Path:
    """One line per experiment: the mean over seeds of the test accuracy (in %) at each epoch, with a band
    from the lowest to the highest seed, and the study's reported number (``study``: label -> fraction) as a
    diamond at the last epoch in the experiment's colour. The figure a reader looks at first for a whole section:
    how the runs got where they ended, how far apart the seeds are, and where the study says they ended.
    ``colors`` (label -> colour) keeps an experiment's colour while the others arrive (a run in progress)."""
    colour = side_colours(sides, colors)
    fig, ax = plt.subplots(figsize=(10, 6.5), layout="constrained")
    try:
        last, drew_study = 1, False
        for label, runs in sides.items():
            rows = [{e["epoch"]: e["test_acc"] for e in r.epochs if e.get("test_acc") is not None} for r in runs]
            epochs = sorted(set().union(*rows)) if rows else []
            if not epochs:
                continue
            values = np.array([[_pct(row.get(e, math.nan)) for e in epochs] for row in rows], dtype=float)
            with np.errstate(all="ignore"):
                mean, lo, hi = np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)
            # points as well as the line: a run of one or a few evaluated epochs is otherwise invisible
            ax.plot(epochs, mean, color=colour[label], linewidth=1.6, label=f"{label} (n={len(runs)})",
                    marker="o" if len(epochs) <= 25 else None, markersize=4)
            if len(epochs) > 1:
                ax.fill_between(epochs, lo, hi, color=colour[label], alpha=0.18, linewidth=0)
            else:   # one epoch: the seeds' spread as a bar
                ax.vlines(epochs, lo, hi, color=colour[label], alpha=0.35, linewidth=6)
            last = max(last, epochs[-1])
            want = (study or {}).get(label)
            if want is not None:
                drew_study = True
                ax.plot([epochs[-1]], [_pct(want)], marker="D", color=colour[label], markeredgecolor=STUDY_COLOUR,
                        markersize=8, linestyle="none", zorder=5)
        handles, _ = ax.get_legend_handles_labels()
        handles += [Line2D([], [], color="0.5", linewidth=6, alpha=0.3, label="min..max over seeds")]
        if drew_study:
            handles += [Line2D([], [], marker="D", color="0.6", markeredgecolor=STUDY_COLOUR, linestyle="none",
                               label="the study's reported accuracy")]
        ax.set_xlim(0.5, last + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(title, fontsize=11)
        ax.grid(True, alpha=0.3)
        fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


FIGURES = {
    "curves": lambda path, title, sides, accuracy="test": plot_claim_curves(path, title, sides, accuracy=accuracy),
    "band": lambda path, bands, log, study, quantity: plot_band(path, bands, log=log, study=study, quantity=quantity),
    "probe": lambda path, series, ylabel, title: plot_probe_metric(path, series, ylabel=ylabel, title=title),
    "landscape": lambda path, series: plot_loss_landscape(path, series),
    "width": lambda path, bands, quantity: plot_band_width(path, bands, quantity),
    "time": lambda path, title, values, ratios: plot_time(path, values, title=title, ratios=ratios),
}


def draw(figure, path, note: str | None = None, scale: str | None = None) -> Path:
    """Draw a metric's ``Figure`` to ``path``; ``note`` (e.g. "not comparable: ...") is written across its top,
    ``scale`` (``scale_line``) at its foot."""
    token, scale_token = _STAMP.set(note), _SCALE.set(scale)
    try:
        return FIGURES[figure.kind](path, **figure.data)
    finally:
        _STAMP.reset(token)
        _SCALE.reset(scale_token)
