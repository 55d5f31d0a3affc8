"""bnbench.study.curves: the study's compact per-epoch curves (package data), their validation, and the per-epoch
comparison of a measured band with them. No training, no torch."""
from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnbench.study import curves as sc
from bnbench.errors import BnbenchError, ConfigError

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = ROOT / "bnbench" / "study" / "curves.json"
NPZ = ROOT.parent / "shared" / "data" / "study-curves" / "study_curves.npz"   # the source; optional at test time


@pytest.fixture(scope="module")
def curves() -> sc.StudyCurves:
    return sc.load()


def _per_step(values, spe, wiggle=0.0):
    """A per-step curve whose per-epoch means are ``values`` (optionally with a zero-mean wiggle inside each epoch)."""
    ramp = np.linspace(-1.0, 1.0, spe)
    return np.concatenate([v * (1 + wiggle * ramp) for v in values]).tolist()


# -- load and validation ----------------------------------------------------------------------------------


def test_packaged_copy_loads_and_is_compact(curves):
    assert PACKAGED.stat().st_size < 100_000
    assert Path(curves.path).name == "curves.json"
    assert curves.epochs == 20
    assert len(curves.sha256) == 64
    prov = curves.provenance
    assert "pj2/task_2_VGG_BatchNorm" in prov["source"] and "paint/Loss" in prov["source"]
    assert prov["steps_per_epoch"] == {"loss": 391, "grad": 390}
    assert prov["setting"]["seed"].startswith("2020") and prov["setting"]["batch_size"] == 128
    assert prov["setting"]["learning_rates"] == [1e-3, 2e-3, 1e-4, 5e-4]
    assert set(prov["curves"]) == {f"{q}_{e}_curve{s}" for q in ("loss", "grad") for e in ("max", "min")
                                   for s in ("", "_BN")}
    for q in sc.QUANTITIES:
        for bn in (False, True):
            lo, hi = curves.epoch_band(q, bn)
            assert len(lo) == len(hi) == 20
            assert all(a < b for a, b in zip(lo, hi))
            b = curves.band(q, bn)
            assert b.model == ("VGG_A_BatchNorm" if bn else "VGG_A")
            assert b.steps_per_epoch == (391 if q == "loss" else 390)
            assert all(x <= m <= y for x, m, y in zip(b.max_curve.min, b.max_curve.mean, b.max_curve.max))
    assert sc.load() is sc.load()     # the packaged copy is read once


def test_load_works_from_another_directory(tmp_path):
    """Package data: the installed (pip -e) package finds its json from any working directory."""
    out = subprocess.run([sys.executable, "-c", "from bnbench.study.curves import load; c = load(); "
                          "print(c.run_means('loss', True).max_curve)"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert abs(float(out.stdout) - 0.370) < 5e-4


def test_pyproject_declares_the_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert "[tool.setuptools.package-data]" in text and "curves.json" in text


def _write(tmp_path, doc=None, text=None) -> Path:
    p = tmp_path / "broken_study_curves.json"
    p.write_text(text if text is not None else json.dumps(doc), encoding="utf-8")
    return p


def _doc() -> dict:
    return json.loads(PACKAGED.read_text())


def _break_missing_key(d):
    del d["curves"]["grad_min_curve_BN"]


def _break_nan(d):
    d["curves"]["loss_max_curve"]["mean"][4] = math.nan


def _break_epochs(d):
    d["curves"]["loss_min_curve_BN"]["max"] = d["curves"]["loss_min_curve_BN"]["max"][:19]


def _break_epoch_count(d):
    d["provenance"]["epochs"] = 19


def _break_string(d):
    d["run_means"]["loss"]["VGG_A"]["width"] = "0.4"


def _break_order(d):
    d["curves"]["grad_max_curve"]["min"][0] = 1e6


@pytest.mark.parametrize("breaker, words", [
    (_break_missing_key, "grad_min_curve_BN"),
    (_break_nan, "not finite"),
    (_break_epochs, "19 epochs, expected 20"),
    (_break_epoch_count, "epochs is 19"),
    (_break_string, "not a number"),
    (_break_order, "min"),
])
def test_broken_copy_raises_naming_the_file(tmp_path, breaker, words):
    doc = _doc()
    breaker(doc)
    p = _write(tmp_path, doc)
    with pytest.raises(BnbenchError, match=words) as e:
        sc.load(p)
    assert str(p) in str(e.value)


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2, 3]", '{"format": "something/else"}'])
def test_not_the_expected_json_raises_naming_the_file(tmp_path, text):
    p = _write(tmp_path, text=text)
    with pytest.raises(BnbenchError) as e:
        sc.load(p)
    assert str(p) in str(e.value)


def test_missing_file_raises_naming_it(tmp_path):
    with pytest.raises(BnbenchError, match="nope.json"):
        sc.load(tmp_path / "nope.json")


def test_a_valid_copy_at_a_path_loads(tmp_path):
    c = sc.load(_write(tmp_path, _doc()))
    assert c.epoch_band("loss", False) == sc.load().epoch_band("loss", False)


# -- the documented summary, from the compact copy ------------------------------------------------------------


def test_readme_summary_reproduced(curves):
    """Data README: mean over steps of max / min loss, VGG_A 0.714 / 0.311, VGG_A_BatchNorm 0.370 / 0.189."""
    for bn, (mx, mn) in {False: (0.714, 0.311), True: (0.370, 0.189)}.items():
        rm = curves.run_means("loss", bn)
        assert round(rm.max_curve, 3) == mx and round(rm.min_curve, 3) == mn
        lo, hi = curves.epoch_band("loss", bn)       # equal epochs: the per-epoch means average to the run mean
        assert abs(sum(hi) / 20 - rm.max_curve) < 1e-5 and abs(sum(lo) / 20 - rm.min_curve) < 1e-5
        width = curves.band("loss", bn).width
        assert abs(sum(width) / 20 - rm.width) < 1e-5
        assert abs(rm.width - (rm.max_curve - rm.min_curve)) < 1e-5


def test_report_statement_reproduced(curves):
    """report.md, last section: BN's mean max-curve 48% lower, its mean band width 55% narrower."""
    change = curves.bn_change("loss")
    assert round(change.max_curve_lower, 2) == 0.48
    assert round(change.width_narrower, 2) == 0.55


@pytest.mark.skipif(not NPZ.exists(), reason="the study's npz is not beside this checkout")
def test_copy_matches_its_source_npz(curves):
    import hashlib
    assert hashlib.sha256(NPZ.read_bytes()).hexdigest() == curves.sha256
    data = np.load(NPZ)
    for q, spe in sc.STEPS_PER_EPOCH.items():
        for bn in (False, True):
            b = curves.band(q, bn)
            for edge, stats in (("max", b.max_curve), ("min", b.min_curve)):
                raw = data[f"{q}_{edge}_curve" + ("_BN" if bn else "")].reshape(20, spe)
                np.testing.assert_allclose(stats.mean, raw.mean(axis=1), rtol=1e-5)
                np.testing.assert_allclose(stats.min, raw.min(axis=1), rtol=1e-5)
                np.testing.assert_allclose(stats.max, raw.max(axis=1), rtol=1e-5)
            # the study's own per-step curves pass every epoch
            check = sc.compare_band_per_epoch(q, bn, data[f"{q}_min_curve" + ("_BN" if bn else "")],
                                              data[f"{q}_max_curve" + ("_BN" if bn else "")], spe)
            assert check.all_within, check.summary


@pytest.mark.skipif(not (ROOT / "scripts" / "make_study_curves.py").exists(), reason="no scripts folder")
def test_make_script_checks_the_documented_numbers():
    spec = importlib.util.spec_from_file_location("make_study_curves", ROOT / "scripts" / "make_study_curves.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    lines = mod.verify(_doc())
    assert any("48" in line and "55" in line for line in lines)
    bad = _doc()
    bad["run_means"]["loss"]["VGG_A_BatchNorm"]["max_curve"] = 0.5
    with pytest.raises(AssertionError):
        mod.verify(bad)
    assert mod.sig(0.123456789) == 0.123457 and mod.sig(12345678.9) == 12345700.0


# -- the per-epoch comparison ------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", ["loss", "grad"])
@pytest.mark.parametrize("bn", [False, True])
def test_the_study_band_reconstructed_passes_every_epoch(curves, quantity, bn):
    lo, hi = curves.epoch_band(quantity, bn)
    spe = curves.steps_per_epoch(quantity)
    check = sc.compare_band_per_epoch(quantity, bn, _per_step(lo, spe, 0.3), _per_step(hi, spe, 0.3), spe)
    assert check.compared and check.all_within
    assert check.epochs_compared == check.epochs_within == 20
    model = "VGG_A_BatchNorm" if bn else "VGG_A"
    assert check.summary.startswith(f"{model} {quantity} band: 20 of 20 epochs within tolerance")
    assert len(check.lines()) == 21
    assert all(abs(r.measured_max - r.study_max) < 1e-9 * max(1, r.study_max) for r in check.rows)


@pytest.mark.parametrize("quantity", ["loss", "grad"])
@pytest.mark.parametrize("bn", [False, True])
def test_a_band_three_times_the_study_fails_every_epoch(curves, quantity, bn):
    lo, hi = curves.epoch_band(quantity, bn)
    spe = curves.steps_per_epoch(quantity)
    check = sc.compare_band_per_epoch(quantity, bn, _per_step([3 * v for v in lo], spe),
                                      _per_step([3 * v for v in hi], spe), spe)
    assert check.compared and check.epochs_within == 0
    assert not any(r.min_within or r.max_within for r in check.rows)
    assert ": 0 of 20 epochs" in check.summary


def test_only_one_edge_off_fails_the_epoch(curves):
    lo, hi = curves.epoch_band("loss", False)
    check = sc.compare_band_per_epoch("loss", False, _per_step(lo, 391), _per_step([2 * v for v in hi], 391), 391)
    # 20 epochs compared: "0 within" and the all() below also hold when nothing is compared (catches a comparison
    # that refuses a run at the study's scale)
    assert check.epochs_compared == len(check.rows) == 20
    assert check.epochs_within == 0
    assert all(r.min_within and not r.max_within for r in check.rows)


@pytest.mark.parametrize("quantity, spe", [("loss", 100), ("loss", 390), ("grad", 391), ("grad", 12)])
def test_not_at_the_study_scale(curves, quantity, spe):
    check = sc.compare_band_per_epoch(quantity, False, [1.0] * (spe * 3), [2.0] * (spe * 3), spe)
    assert not check.compared and check.rows == () and not check.all_within
    want = 391 if quantity == "loss" else 390
    assert f"not at the study's scale ({spe} steps per epoch vs {want})" in check.summary


def test_a_shorter_run_compares_its_first_epochs_and_says_so(curves):
    lo, hi = curves.epoch_band("loss", True)
    mn, mx = _per_step(lo[:3], 391), _per_step(hi[:3], 391)
    check = sc.compare_band_per_epoch("loss", True, mn + [0.5] * 100, mx + [0.9] * 100, 391)
    assert check.compared and check.epochs_compared == 3 and check.all_within
    assert "3 of 3 epochs" in check.summary
    assert "3 of the study's 20 epochs" in check.summary and "100 trailing steps" in check.summary
    empty = sc.compare_band_per_epoch("loss", True, mn[:200], mx[:200], 391)
    assert not empty.compared and empty.rows == () and "no complete epoch" in empty.summary


def test_a_longer_run_compares_the_study_epochs_only(curves):
    lo, hi = curves.epoch_band("grad", False)
    check = sc.compare_band_per_epoch("grad", False, _per_step(list(lo) + [0.1, 0.1], 390),
                                      _per_step(list(hi) + [9.0, 9.0], 390), 390)
    assert check.epochs_compared == 20 and check.all_within
    assert "2 measured epochs beyond" in check.summary


def test_diverged_steps_count_as_off(curves):
    lo, hi = curves.epoch_band("loss", False)
    mn, mx = _per_step(lo, 391), _per_step(hi, 391)
    mx[5 * 391 + 10] = math.nan        # one learning rate diverged in epoch 6: max_curve is NaN there
    mx[7 * 391 + 3] = None
    check = sc.compare_band_per_epoch("loss", False, mn, mx, 391)
    assert check.epochs_within == 18
    bad = [r for r in check.rows if not r.within]
    assert [r.epoch for r in bad] == [6, 8]
    assert all(r.min_within and not r.max_within and r.nonfinite_max == 1 for r in bad)
    assert math.isfinite(bad[0].measured_max)          # the mean over the finite steps, for information
    assert "2 epochs with non-finite (diverged) steps" in check.summary
    assert "non-finite" in bad[0].line()


def test_tolerance_and_floor(curves):
    lo, hi = curves.epoch_band("loss", False)
    mn, mx = _per_step([v * 1.3 for v in lo], 391), _per_step([v * 1.3 for v in hi], 391)
    assert sc.compare_band_per_epoch("loss", False, mn, mx, 391).all_within            # 30% < 35%
    assert sc.compare_band_per_epoch("loss", False, mn, mx, 391, tolerance=0.25, floor=0).epochs_within == 0
    # the floor admits small absolute differences on small values (late min_curve)
    small = _per_step([v + 0.015 for v in lo], 391)
    check = sc.compare_band_per_epoch("loss", False, small, _per_step(hi, 391), 391, tolerance=0.0)
    assert len(check.rows) == 20 and all(r.min_within for r in check.rows)     # all() of no rows would hold too
    check = sc.compare_band_per_epoch("loss", False, small, _per_step(hi, 391), 391, tolerance=0.0, floor=0.01)
    assert len(check.rows) == 20 and not any(r.min_within for r in check.rows)
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ConfigError):
            sc.compare_band_per_epoch("loss", False, mn, mx, 391, tolerance=bad)
    with pytest.raises(ConfigError):
        sc.compare_band_per_epoch("accuracy", False, mn, mx, 391)


def test_tolerance_justification_holds(curves):
    """TOLERANCE_REASON's numbers: the study's band shifted by one epoch passes >= 14 of 20 epochs for every model
    and quantity; the other model's loss band passes at most 1."""
    assert sc.RELATIVE_TOLERANCE == 0.35 and sc.ABSOLUTE_FLOOR == 0.02
    for q in sc.QUANTITIES:
        spe = curves.steps_per_epoch(q)
        for bn in (False, True):
            lo, hi = curves.epoch_band(q, bn)
            for shift in (lambda v: list(v[1:]) + [v[-1]], lambda v: [v[0]] + list(v[:-1])):
                check = sc.compare_band_per_epoch(q, bn, _per_step(shift(lo), spe), _per_step(shift(hi), spe), spe)
                assert check.epochs_within >= 14, (q, bn, check.summary)
            if q == "loss":
                olo, ohi = curves.epoch_band(q, not bn)
                other = sc.compare_band_per_epoch(q, bn, _per_step(olo, spe), _per_step(ohi, spe), spe)
                assert other.epochs_within <= 1, other.summary


def test_overlay_for_the_figure(curves):
    ov = curves.overlay("loss", True)
    assert ov["epoch_steps"][:3] == [0, 391, 782] and len(ov["epoch_steps"]) == 21
    assert ov["min"] == list(curves.epoch_band("loss", True)[0])
    short = curves.overlay("grad", False, epochs=3)
    assert short["epoch_steps"] == [0, 390, 780, 1170] and len(short["max"]) == 3


def test_band_wording():
    assert sc.BAND_WORDING["lower"] == ("smaller loss in the same step", "the study's report, 2.2")
    assert sc.BAND_WORDING["faster decline"] == ("the loss declines faster", "the study's report, 2.2")
    wording, source = sc.BAND_WORDING["narrower"]
    assert wording == "a narrower band across learning rates" and "not the study's words" in source
