"""What a run's figures, report and comparison say is what was trained and measured (issue 25, items 5 and 9).
No training: records are built by hand."""
from __future__ import annotations

import json

import pytest

from bnbench.outputs import plots
from bnbench.study.catalog import CLAIMS, EXPERIMENTS
from factories import run_record


@pytest.fixture
def figures(monkeypatch):
    """The figures a plot function would save, kept open for inspection instead."""
    kept = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.append(fig))
    yield kept
    for fig in kept:
        plots.plt.close(fig)


def _tick_labels(fig) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
            for t in axis.get_ticklabels(which="both") if t.get_text()]


def _sweep(claim, width: float) -> dict:
    """Every experiment of a 2.2 claim with one seed: losses 2.0..1.0 over 40 steps, the learning rates ``width``
    apart."""
    records = {}
    for e in claim.experiments:
        shift = width * (e.config.lr * 1000)
        records[e.id] = [run_record(0.5, steps=40, step_loss=[2.0 - i / 40 + shift for i in range(40)],
                                    config={"lr": e.config.lr, "model": e.config.model})]
    return records


def test_a_one_epoch_run_reads_epoch_1_and_log_ticks_are_decimal(figures):
    plots.plot_claim_curves("x.png", "t", {"a": [run_record(0.4, steps=30, step_loss=[2.3 - i / 30 for i in range(30)])]})
    acc = figures[0].axes[1]
    labels = _tick_labels(figures[0])
    assert acc.get_xlim() == (0.5, 1.5)
    assert [t.get_text() for t in acc.get_xticklabels() if 0.5 <= t.get_position()[0] <= 1.5] == ["1"]
    assert not [t for t in labels if "times" in t or "^" in t], labels


def test_two_sides_with_the_same_curves_both_stay_visible(figures):
    losses = [2.3 - i / 30 for i in range(30)]
    same = {"ce": [run_record(0.4, steps=30, step_loss=losses)], "nll": [run_record(0.4, steps=30, step_loss=losses)],
            "other": [run_record(0.3, steps=30, step_loss=[x + 0.2 for x in losses])]}
    plots.plot_claim_curves("x.png", "t", same)
    loss_ax = figures[0].axes[0]
    widths = [line.get_linewidth() for line in loss_ax.lines[:3]]
    assert widths[0] > 2 * widths[1] and widths[1] == widths[2]      # ce beneath nll, wide; "other" as usual
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert labels[0] == "ce (1 seed, wide: same curves)" and labels[1] == "nll (1 seed)"


def test_the_narrower_claim_draws_the_band_width(figures):
    lower, narrower = CLAIMS["2.2/bn-band-lower"], CLAIMS["2.2/bn-band-narrower"]
    records = {**_sweep(lower, 0.1)}
    assert [f.kind for f in lower.metric.figures(lower, records)] == ["band"]
    (figure,) = narrower.metric.figures(narrower, records)
    assert figure.kind == "width"
    plots.draw(figure, "w.png")
    ax = figures[0].axes[0]
    band = figure.data["bands"][narrower.labels[0]]
    assert list(ax.lines[0].get_ydata()) == pytest.approx([h - lo for lo, h in zip(band["min_curve"], band["max_curve"])])
    assert "width" in ax.get_ylabel()


def test_the_time_claim_draws_the_measured_seconds_per_step(figures):
    claim = CLAIMS["2.1/bn-costs-time"]
    timings = [{"b_s_per_step_median": 0.2, "ratio_median": 1.5}]
    (figure,) = claim.metric.figures(claim, {e.id: [run_record(0.5)] for e in claim.experiments}, timings)
    assert figure.kind == "time"
    plots.draw(figure, "t.png")
    ax = figures[0].axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.3, 0.2])
    assert "s" in ax.get_ylabel() and "1.500" in ax.get_title()


def test_every_claim_figure_says_the_scale_it_was_run_at(tmp_path, monkeypatch):
    config = {"epochs": 2, "train_per_class": 200, "seed": 0}
    records = {"a": [run_record(0.4, config=config)], "b": [run_record(0.4, config=config)]}
    line = plots.scale_line("smoke", records)
    assert line == "smoke: 2 epochs, 2,000 images, 1 seed"
    saved = []                                           # the figure as written, kept open
    monkeypatch.setattr(plots.plt, "close", saved.append)
    claim = CLAIMS["2.1/bn-improves-accuracy"]
    for figure in claim.metric.figures(claim, {e.id: [run_record(0.4, config=config)] for e in claim.experiments}):
        plots.draw(figure, tmp_path / "c.png", scale=line)
    assert any(line in t.get_text() for t in saved[0].texts)
    monkeypatch.undo()
    for fig in saved:
        plots.plt.close(fig)


def test_summary_and_report_show_what_was_trained_beside_the_study(tmp_path):
    from bnbench.outputs.artefacts import experiment_settings
    from bnbench.outputs.report import render

    study = EXPERIMENTS["1.1/base-nll"].config.to_dict()
    trained = {**study, "epochs": 2, "train_per_class": 200}
    settings = experiment_settings({"smoke:1.1/base-nll": [run_record(0.4, config=trained)]})
    info = settings["1.1/base-nll [smoke]"]
    assert info["config"]["epochs"] == 2 and info["study_config"]["epochs"] == study["epochs"] != 2
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 1, "claims": [], "experiments": settings}))
    page = render(tmp_path)
    row = page[page.index("<td>epochs</td>"):].split("</tr>")[0]
    assert f"<td>2</td><td>{study['epochs']} (" in row


def test_a_smoke_run_draws_no_documented_figure(tmp_path):
    from bnbench.runner import Options, Runner

    runner = Runner(Options(out=str(tmp_path)))
    runner.records["smoke:1.1/base-nll"] = [run_record(0.3, config=EXPERIMENTS["1.1/base-nll"].config.to_dict())]
    runner.finish()
    assert not (tmp_path / "plots" / "documented.png").exists()


def _summary(path, acc, epochs):
    from bnbench.cli import main  # noqa: F401  (the same files bnbench compare reads)

    claim = CLAIMS["1.1/hidden-500-beats-100"]
    path.mkdir(parents=True)
    result = {"claim_id": claim.id, "profile": "smoke", "verdict": "supported", "reason": "r", "a_values": acc,
              "b_values": [0.5, 0.5], "documented": [], "notes": [], "a_s_per_epoch": 1.0, "b_s_per_epoch": 1.0,
              "plot": None}
    exps = {f"{e.id} [smoke]": {"config": {**e.config.to_dict(), "epochs": epochs}} for e in claim.experiments}
    (path / "summary.json").write_text(json.dumps({"schema_version": 1, "claims": [result], "experiments": exps}))
    return str(path)


def test_compare_says_when_the_configurations_differ_and_counts_no_drop_across_them(tmp_path, capsys):
    from bnbench.cli import main

    old = _summary(tmp_path / "old", [0.7, 0.71], epochs=2)
    other = _summary(tmp_path / "other", [0.6, 0.61], epochs=3)
    assert main(["compare", old, other]) == 0
    out = capsys.readouterr().out
    assert out.count("configuration differs: 1.1/hidden-500-beats-100 [smoke]") == 1
    assert "epochs 2 -> 3" in out and "regression:" not in out
    assert main(["compare", old, other, "--across-configs"]) == 1
    assert "regression: 1.1/hidden-500-beats-100" in capsys.readouterr().out
    same = _summary(tmp_path / "same", [0.6, 0.61], epochs=2)
    assert main(["compare", old, same]) == 1
    assert "configuration differs" not in capsys.readouterr().out
