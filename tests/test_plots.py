"""bnbench.outputs.plots: every figure function writes one readable PNG and leaves no figure open. No training."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bnbench.outputs import plots
from bnbench.engine.record import RunRecord
from factories import epoch_row, run_record

import matplotlib.image as mpimg  # noqa: E402  (after bnbench.outputs.plots selected the Agg backend)
import matplotlib.pyplot as plt  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _record(seed: int, steps: int = 200, epochs: int = 5, start_acc: float = 0.4, gain: float = 0.08,
            diverge_at: int | None = None, blowup: float = math.nan) -> RunRecord:
    rng = np.random.default_rng(seed)
    loss = 2.3 * np.exp(-np.arange(steps) / (steps / 3)) + 0.2 + 0.05 * rng.standard_normal(steps)
    loss = np.abs(loss)
    per_epoch = steps // epochs
    ep = [epoch_row(e + 1, train_loss=float(loss[(e + 1) * per_epoch - 1]), train_acc=start_acc + gain * e,
                    test_loss=1.0, test_acc=(start_acc + gain * e) if e % 2 == 0 or e == epochs - 1 else None,
                    steps=per_epoch, images=1000)                                   # some epochs not evaluated
          for e in range(epochs)]
    if diverge_at is not None:
        loss = loss[:diverge_at + 1].copy()
        loss[-3] = 50.0
        loss[-2] = 500.0
        loss[-1] = blowup    # as train.py records it: the first NaN/inf/>=1000 loss is the diverged step
        ep = ep[: diverge_at // per_epoch]
    return run_record(step_loss=loss.tolist(), epochs=ep, diverged=diverge_at is not None, diverged_step=diverge_at)


def _check_png(path) -> None:
    assert path.exists(), path
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_SIGNATURE
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert img.shape[0] > 200 and img.shape[1] > 300
    assert img.std() > 0.01          # not a blank canvas
    assert plt.get_fignums() == []


@pytest.fixture(autouse=True)
def _no_leaks():
    plt.close("all")
    yield
    assert plt.get_fignums() == []


# -- smooth -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 2, 3, 7, 50, 500])
def test_smooth_constant_stays_constant_and_keeps_length(window):
    x = np.full(123, 3.25)
    y = plots.smooth(x, window)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, 3.25)


@pytest.mark.parametrize("window", [1, 0, -3])
def test_smooth_window_one_or_less_is_identity(window):
    x = [1.0, 5.0, -2.0, 7.5]
    np.testing.assert_array_equal(plots.smooth(x, window), np.array(x))


def test_smooth_is_a_centred_moving_average_with_shrinking_edges():
    y = plots.smooth([0.0, 3.0, 6.0, 9.0, 12.0], 3)
    np.testing.assert_allclose(y, [1.5, 3.0, 6.0, 9.0, 10.5])
    assert len(plots.smooth(np.arange(10.0), 4)) == 10


def test_smooth_ignores_non_finite_samples():
    y = plots.smooth([1.0, 1.0, math.nan, math.inf, 1.0], 3)
    assert y.shape == (5,)
    # every sample, the inf's own included, averages only the finite samples in its window (the line this replaces,
    # isfinite(y[3]) or isnan(y[3]), held for every float; this catches a smooth that keeps a non-finite sample's
    # own value where finite neighbours exist: y[3] would be inf)
    np.testing.assert_allclose(y, 1.0)
    assert math.isnan(plots.smooth([math.nan, math.nan, math.nan], 2)[1])
    assert plots.smooth([], 5).shape == (0,)


def test_smooth_costs_linear_time_whatever_the_window():
    """A figure's display window grows with the step count (steps // 50), so a convolution costs steps^2 / 50: 2M
    steps took minutes, and a 119 MB record hung --bnbench-resume for over 10. Linear, it is a fraction of a
    second; and each window sums only its own values (a 1e30 blow-up does not wipe out the samples after it)."""
    import time

    x = np.random.default_rng(0).random(2_000_000)
    x[1_000_000] = 1e30
    start = time.perf_counter()
    y = plots.smooth(x, 40_000)
    assert time.perf_counter() - start < 10          # the convolution: 1.6e11 multiply-adds, minutes
    for i in (0, 7, 19_999, 20_000, 500_000, 980_000, 1_020_000, 1_999_999):   # edges shrink; 19,999 left, 20,000 right
        np.testing.assert_allclose(y[i], x[max(0, i - 19_999):i + 20_001].mean(), rtol=1e-9)


# -- figures ----------------------------------------------------------------------------------------------


def test_plot_claim_curves_with_a_diverged_run(tmp_path):
    sides = {
        "VGG_A_BatchNorm": [_record(s, start_acc=0.6) for s in range(3)],
        "VGG_A": [_record(10), _record(11, diverge_at=120), _record(12, diverge_at=150, blowup=1e12)],
    }
    out = plots.plot_claim_curves(tmp_path / "deep" / "dir" / "claim.png", "2.1: BN improves accuracy", sides)
    assert out == tmp_path / "deep" / "dir" / "claim.png"
    _check_png(out)


def test_plot_claim_curves_degenerate_inputs(tmp_path):
    empty = run_record(step_loss=[])
    all_nan = run_record(step_loss=[math.nan], diverged=True, diverged_step=0)
    _check_png(plots.plot_claim_curves(tmp_path / "a.png", "empty", {"a": [empty], "b": [all_nan]}))
    _check_png(plots.plot_claim_curves(tmp_path / "b.png", "no sides", {}))


def test_plot_documented(tmp_path):
    rows = [
        {"label": "1.1/A/base-nll", "study": 0.6755, "measured": [0.66, 0.68, 0.671]},
        {"label": "1.1/B/hidden-500", "study": 0.7013, "measured": [0.71]},
        {"label": "1.2/resnet-default", "study": 0.7551, "measured": []},
        {"label": "2.1/vgg-a", "study": 0.7752, "measured": [0.75, math.nan]},
        {"label": "all nan", "study": 0.5, "measured": [math.nan]},
    ]
    _check_png(plots.plot_documented(tmp_path / "documented.png", rows))
    _check_png(plots.plot_documented(tmp_path / "none.png", []))


def test_plot_band(tmp_path):
    steps = np.arange(400)
    rng = np.random.default_rng(0)
    base = 2.3 * np.exp(-steps / 150) + 0.1
    bands = {
        "VGG_A": {"steps": steps, "min_curve": base * 0.8 + 0.05 * rng.random(400),
                  "max_curve": base * 1.3 + 0.1 * rng.random(400)},
        "VGG_A_BatchNorm": {"steps": steps, "min_curve": base * 0.5, "max_curve": base * 0.7,
                            "lrs": [1e-3, 2e-3, 1e-4, 5e-4]},
    }
    bands["VGG_A"]["max_curve"][300:] = np.nan   # a learning rate that diverged
    _check_png(plots.plot_band(tmp_path / "band.png", bands))
    _check_png(plots.plot_band(tmp_path / "band_smooth.png", bands, log=False, smooth_window=20))
    _check_png(plots.plot_band(tmp_path / "band_empty.png", {}))


def test_plot_loss_landscape(tmp_path):
    steps = [0, 100, 200, 300, 400, 500]
    series = {
        "VGG_A": {"steps": steps, "min": [2.3, 1.8, 1.5, 1.2, 1.0, 0.9], "max": [8.0, 6.0, 5.0, 4.0, 3.5, 3.0]},
        "VGG_A_BatchNorm": {"steps": steps, "min": [2.2, 1.2, 0.9, 0.7, 0.6, 0.5],
                            "max": [2.6, 1.6, 1.2, 1.0, 0.9, 0.8]},
    }
    _check_png(plots.plot_loss_landscape(tmp_path / "landscape.png", series))


def test_plot_probe_metric(tmp_path):
    steps = list(range(0, 1000, 50))
    series = {
        "VGG_A": {"steps": steps, "values": [250 * math.exp(-s / 400) + 5 for s in steps],
                  "min": [100 * math.exp(-s / 400) + 2 for s in steps],
                  "max": [300 * math.exp(-s / 400) + 8 for s in steps]},
        "VGG_A_BatchNorm": {"steps": steps, "values": [2.5 * math.exp(-s / 400) + 0.1 for s in steps]},
    }
    _check_png(plots.plot_probe_metric(tmp_path / "pred.png", series, "gradient change ||g - g'||_2",
                                       "Gradient predictiveness"))
    _check_png(plots.plot_probe_metric(tmp_path / "beta.png", series, "effective beta-smoothness",
                                       "beta-smoothness", log=False))


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_plot_band_with_the_study_overlay(tmp_path, monkeypatch):
    steps = np.arange(5 * 391)
    base = 2.3 * np.exp(-steps / 800) + 0.1
    bands = {"VGG_A_BatchNorm": {"steps": steps, "min_curve": base * 0.5, "max_curve": base * 0.8,
                                 "lrs": [1e-3, 2e-3, 1e-4, 5e-4]},
             "VGG_A": {"steps": steps, "min_curve": base * 0.8, "max_curve": base * 1.3}}
    study = {"VGG_A_BatchNorm": {"epoch_steps": [0, 391, 782, 1173, 1564, 1955],      # n + 1 edges
                                 "min": [1.1, 0.7, 0.5, 0.36, 0.24], "max": [1.7, 1.1, 0.8, 0.66, 0.55]},
             "VGG_A": {"epoch_steps": [0, 391, 782, 1173, 1564],                      # n epoch starts
                       "min": [1.6, 1.1, 0.8, 0.6, 0.5], "max": [2.0, 1.5, 1.3, 1.1, 0.95]}}
    seen = {}
    real_save = plots._save

    def spy(fig, path):
        seen["legend"] = _legend_texts(fig)
        seen["title"] = fig.axes[0].get_title()
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    _check_png(plots.plot_band(tmp_path / "band_study.png", bands, study=study))
    label = "study (published curve, per-epoch mean)"
    assert f"VGG_A_BatchNorm: {label}" in seen["legend"] and f"VGG_A: {label}" in seen["legend"]
    assert any(t.startswith("VGG_A: measured") for t in seen["legend"])
    assert "measured" in seen["title"] and "study" in seen["title"]

    _check_png(plots.plot_band(tmp_path / "band_plain.png", bands))          # default: today's figure
    assert any(t.startswith("VGG_A") for t in seen["legend"])                # a legend (not any() holds for none)
    assert not any("study" in t for t in seen["legend"])                     # no study band drawn ...
    assert all("measured" in t for t in seen["legend"])                      # ... and what is drawn says measured
    assert "dashed steps" not in seen["title"] and "measured" in seen["title"]


def test_plot_band_study_overlay_from_the_packaged_curves(tmp_path):
    from bnbench.study.curves import load
    curves = load()
    steps = np.arange(3 * 391)
    base = 2.3 * np.exp(-steps / 800) + 0.1
    bands = {"VGG_A": {"steps": steps, "min_curve": base * 0.8, "max_curve": base * 1.3}}
    _check_png(plots.plot_band(tmp_path / "band_packaged.png", bands, study={"VGG_A": curves.overlay("loss", False, 3)}))
    _check_png(plots.plot_band(tmp_path / "band_study_only.png", {}, study={"VGG_A": curves.overlay("loss", False)}))


def test_a_claim_that_could_not_be_compared_says_so_on_its_figure(tmp_path, monkeypatch):
    from matplotlib.figure import Figure as MplFigure

    from bnbench.verdicts.metrics import Figure

    seen = []
    original = MplFigure.savefig

    def spy(self, *args, **kwargs):
        seen.extend(t.get_text() for t in self.texts)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MplFigure, "savefig", spy)
    figure = Figure("probe", {"series": {"A": {"steps": [1, 2], "values": [1.0, 2.0]}}, "ylabel": "y", "title": "t"})
    plots.draw(figure, tmp_path / "a.png", note="NOT COMPARABLE at this scale")
    assert "NOT COMPARABLE at this scale" in seen
    seen.clear()
    plots.draw(figure, tmp_path / "b.png")              # the note is the call's, not left behind for the next one
    assert not any("NOT COMPARABLE" in s for s in seen) and (tmp_path / "b.png").stat().st_size > 0


LONG_NOTE = ("NOT COMPARABLE at this scale, no verdict: the smoke profile trains 40 steps per learning rate, while "
             "the study's band spans 20 epochs of 391 steps; a band over so few steps says nothing about its width")


def _longest_blank_rows(img) -> int:
    longest = run = 0
    for blank in np.all(img[..., :3] > 0.99, axis=(1, 2)):
        run = run + 1 if blank else 0
        longest = max(longest, run)
    return longest


@pytest.mark.parametrize("kind", ["band", "landscape", "probe", "curves"])
def test_a_long_note_sits_above_the_figure_whole_and_without_blank_space(tmp_path, kind):
    """The note across a figure that could not be compared: wrapped to the figure's width, every line inside the
    image, and no band of blank rows (matplotlib's wrap=True left 540-900 px blank above it)."""
    from bnbench.verdicts.metrics import Figure

    steps = np.arange(40)
    band = {"steps": steps, "min_curve": 2.3 - 0.01 * steps, "max_curve": 2.4 - 0.01 * steps,
            "min": 2.3 - 0.01 * steps, "max": 2.4 - 0.01 * steps, "values": 2.35 - 0.01 * steps}
    data = {"band": {"bands": {"VGG_A": band}, "log": True, "study": None, "quantity": "loss"},
            "landscape": {"series": {"VGG_A": band}},
            "probe": {"series": {"VGG_A": band}, "ylabel": "beta", "title": "2.3"},
            "curves": {"title": "2.1", "sides": {"a": [_record(0)], "b": [_record(1)]}}}[kind]
    plain = mpimg.imread(plots.draw(Figure(kind, data), tmp_path / "plain.png"))
    img = mpimg.imread(plots.draw(Figure(kind, data), tmp_path / "noted.png", note=LONG_NOTE))
    assert _longest_blank_rows(img) < 0.08 * img.shape[0]
    assert img.shape[1] <= plain.shape[1] + 2                       # wrapped within the figure's width
    red = (img[..., 0] > 0.7) & (img[..., 1] < 0.35) & (img[..., 2] < 0.35)   # the note's tab:red
    rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    assert rows.size and rows.min() > 0 and cols.min() > 0 and cols.max() < img.shape[1] - 1   # not cut off
    assert rows.max() - rows.min() > 25                             # the note wrapped to two lines
