"""Wall-time estimates from measured speed (bnbench.estimate, `bnbench estimate`): the arithmetic, checked by
hand on one section, and the command's errors."""
import json

import pytest

from bnbench.cli import main
from bnbench.errors import BnbenchError
from bnbench.estimate import EVAL_COST, PROBE_OVERHEAD, estimate, format_duration
from bnbench.study.profiles import get_profile

SPEEDS = {"MyNet": 4000.0, "ResNet": 1600.0, "ResNet_Projection": 1500.0, "VGGNet": 200.0, "VGG_A": 400.0,
          "VGG_A_BatchNorm": 400.0}


def _rows(profile, speeds=SPEEDS):
    return {r.section: r for r in estimate(get_profile(profile), speeds)}


def test_full_profile_by_hand():
    rows = _rows("full")
    # 2.1: VGG_A with and without BN, 5 seeds, 20 epochs of 50,000 images at 400 images/s, evaluated every epoch,
    # plus per seed the interleaved timing of bn-costs-time: (14 rounds x 1 step + 2 warm-up) steps of 128 a side
    r = rows["2.1"]
    assert r.runs == 10 and r.train_images == 10 * 20 * 50_000
    assert r.seconds == pytest.approx(10 * 20 * (50_000 + 10_000 * EVAL_COST) / 400 + 5 * 2 * 16 * 128 / 400)
    # every section of the study, 5 seeds each
    assert set(rows) == {"1.1", "1.2", "2.1", "2.2", "2.3"}
    assert rows["1.2"].models == ("ResNet", "VGGNet")
    # probing is paid for on 2.3 only
    assert rows["2.3"].seconds > rows["2.3"].train_images / 400 * PROBE_OVERHEAD


def test_time_scales_inversely_with_speed_and_seeds_add_runs():
    slow, fast = _rows("quick"), _rows("quick", {k: 2 * v for k, v in SPEEDS.items()})
    for s in slow:
        assert fast[s].seconds == pytest.approx(slow[s].seconds / 2)
    assert _rows("full")["1.1"].runs == 5 * _rows("smoke")["1.1"].runs


def test_missing_models_are_named():
    with pytest.raises(BnbenchError, match="no measured speed for VGGNet"):
        estimate(get_profile("full"), {k: v for k, v in SPEEDS.items() if k != "VGGNet"})


def test_format_duration():
    assert format_duration(42) == "42 s" and format_duration(600) == "10.0 min" and format_duration(9000) == "2.5 h"


def _speed_summary(path, models=SPEEDS, device="cpu"):
    path.mkdir(parents=True, exist_ok=True)
    rows = [{"model": m, "device": device, "device_name": "Test CPU, 2 cores", "bnbench_images_per_s": v,
             "study_style_images_per_s": v / 2, "speedup": 2.0, "batch_size": 64, "precision": "fp32",
             "flops_per_image": 1e8, "achieved_flops": 1e8 * v, "peak_flops": 1e12, "peak_dtype": "fp32",
             "fraction_of_peak": 1e8 * v / 1e12} for m, v in models.items()]
    (path / "summary.json").write_text(json.dumps({"schema_version": 1, "model_speed": rows}))
    return str(path)


def test_estimate_command(tmp_path, capsys):
    assert main(["estimate", _speed_summary(tmp_path / "ok")]) == 0
    out = capsys.readouterr().out
    assert "full profile (5 seeds) on Test CPU, 2 cores (cpu)" in out and "total" in out
    # the summary of a speed run shows the same estimate under its per-model table
    assert main(["summary", str(tmp_path / "ok")]) == 0
    assert "estimated wall time of the full profile" in capsys.readouterr().out
    partial = _speed_summary(tmp_path / "partial", {"MyNet": 4000.0})
    assert main(["estimate", partial]) == 2
    assert "no measured speed for" in capsys.readouterr().err
    assert main(["summary", partial]) == 0                      # no estimate, no error
    assert "estimated wall time" not in capsys.readouterr().out
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "summary.json").write_text(json.dumps({"schema_version": 1, "claims": []}))
    assert main(["estimate", str(tmp_path / "none")]) == 2
    assert "-m speed -k model_speed" in capsys.readouterr().err
    assert main(["estimate", _speed_summary(tmp_path / "ok2"), "--profile", "huge"]) == 2


def test_each_configuration_counts_once_the_identity_pair_included():
    """Section 1.1's time is its configurations' own, each once: the CE-vs-nll identity pair are experiments
    like the others (a stale special case once added them a second time)."""
    from bnbench.estimate import run_cost
    from bnbench.study.catalog import experiments_in
    from bnbench.study.profiles import scaled_config

    profile = get_profile("full")
    configs = {c.hash: c for e in experiments_in("1.1") for seed in range(profile.seeds)
               for c in [scaled_config(e.config, profile, "1.1", seed)]}
    assert _rows("full")["1.1"].runs == len(configs) == 8 * 5     # six experiments and the identity pair
    assert _rows("full")["1.1"].seconds == pytest.approx(sum(run_cost(c, SPEEDS)[1] for c in configs.values()))


def test_a_selection_announces_its_own_time_not_the_profile_s(tmp_path):
    """-m full -k 2.1 says what 2.1 trains (10 runs, ~7 h at 400 images/s), not the whole profile's days."""
    from types import SimpleNamespace

    import torch

    from bnbench.estimate import selection_seconds
    from bnbench.selection import announce_selection
    from bnbench.study.catalog import EXPERIMENTS
    from bnbench.study.profiles import scaled_config

    profile = get_profile("full")
    runs = [(f"{e}/{seed}", scaled_config(EXPERIMENTS[e].config, profile, "2.1", seed))
            for e in ("2.1/vgg-a", "2.1/vgg-a-bn") for seed in range(5)]
    seconds = selection_seconds((c for _, c in runs), SPEEDS)
    assert seconds == pytest.approx(10 * 20 * (50_000 + 10_000 * EVAL_COST) / 400)
    total = sum(r.seconds for r in _rows("full").values())
    assert seconds < total / 5

    lines = []
    item = SimpleNamespace(fixturenames=("train_experiment",), callspec=SimpleNamespace(
        params={"bnbench_profile": "full"}))
    tr = SimpleNamespace(write_line=lambda line, **kw: lines.append(line))
    session = SimpleNamespace(items=[item], config=SimpleNamespace(pluginmanager=SimpleNamespace(
        getplugin=lambda name: tr)))
    bn = SimpleNamespace(device=torch.device("cpu"), out=_speed_summary(tmp_path / "speed"))
    announce_selection(session, bn, runs)
    assert lines == [f"bnbench: this selection trains 10 training runs (full): about {format_duration(seconds)} on "
                     "Test CPU, 2 cores (bnbench estimate from the measured images/s)"], lines
    lines.clear()
    announce_selection(session, SimpleNamespace(device=torch.device("cpu"), out=str(tmp_path / "none")), runs)
    assert "10 training runs (full)" in lines[0] and "-m speed -k model_speed" in lines[0], lines
