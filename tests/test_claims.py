"""The study's tables as data, the claims registry, and how a claim is decided from its runs."""
import json
import math

import pytest

from bnbench.study import documented as study
from bnbench.study.catalog import CLAIMS, EXPERIMENTS
from bnbench.study.sections import SECTIONS
from bnbench.verdicts.evaluate import ClaimResult, evaluate
from bnbench.study.profiles import PROFILES, Profile, Scale, get_profile, scaled_config, with_overrides
from bnbench.runner import Options, Runner
from factories import epoch_row, run_record


@pytest.mark.parametrize("key, acc, loss, time_s, params", [
    ("1.1/A/base-ce", 0.6257, 0.0577, 206.2, 152_820),
    ("1.1/A/base-nll", 0.6755, 0.0301, 202.2, 152_820),
    ("1.1/A/adagrad", 0.5227, 0.0407, 212.9, 152_820),
    ("1.1/B/hidden-500", 0.7013, 0.0288, 192.9, 657_220),
    ("1.1/C/conv-5x5-3x3", 0.6934, 0.0246, 191.8, None),
    ("1.1/D/tanh", 0.6115, 0.0582, 205.2, None),
    ("1.2/1/resnet-default", 0.7551, 0.023, 815.0, 4_737_098),
    ("1.2/1/vggnet-xavier", 0.8087, 0.020, 1333.1, 14_777_162),
])
def test_table_rows_match_the_report(key, acc, loss, time_s, params):
    r = study.row(key)
    assert (r.accuracy, r.loss, r.time_s) == pytest.approx((acc, loss, time_s))
    assert r.params == params


def test_section_2_1_rows_and_the_loss_convention():
    a, bn = study.row("2.1/1/vgg-a"), study.row("2.1/1/vgg-a-bn")
    assert (a.s_per_epoch, bn.s_per_epoch) == pytest.approx((7.33, 8.05))
    assert (a.accuracy, bn.accuracy) == pytest.approx((0.7752, 0.8288))
    assert study.row("1.1/A/base-nll").loss_per_sample == pytest.approx(0.9632)
    assert len(study.ROWS) == 12


def test_every_claim_the_issue_names_is_registered():
    want = {"1.1/nll-beats-cross-entropy", "1.1/nll-beats-adagrad", "1.1/hidden-500-beats-100",
            "1.1/conv-3x3-not-better", "1.1/relu-beats-tanh", "1.2/vggnet-beats-resnet",
            "1.2/xavier-changes-little-resnet", "1.2/xavier-changes-little-vggnet", "2.1/bn-improves-accuracy",
            "2.1/bn-costs-time"}
    assert want <= set(CLAIMS)
    for c in CLAIMS.values():
        assert c.margin >= 0 and c.margin_reason and c.sentence
        for e in c.experiments:
            assert e.documented is None or e.documented in study.ROWS
            assert e.assumptions, f"{e.id} must say what it assumed where the study is silent"


def test_profiles_scale_the_study_down_and_overrides_apply():
    full = get_profile("full")
    assert full.seeds >= 5 and full.documented_check and not PROFILES["smoke"].verdicts
    cfg = scaled_config(EXPERIMENTS["2.1/vgg-a"].config, full, "2.1", seed=1)
    assert (cfg.epochs, cfg.train_per_class, cfg.seed) == (20, None, 2021)
    smoke = with_overrides(get_profile("smoke"), epochs=3, seeds=2, subset=0)
    assert smoke.seeds == 2 and smoke.scale("1.2") == Scale(epochs=3)
    assert not with_overrides(full, epochs=5).documented_check


CLAIM = CLAIMS["1.1/hidden-500-beats-100"]


def decide(a, b, verdicts=True):
    return evaluate(CLAIM, {CLAIM.a[0].id: [run_record(x) for x in a], CLAIM.b[0].id: [run_record(x) for x in b]},
                    profile_name="quick", verdicts=verdicts)


def test_clear_effect_is_supported_and_its_reverse_contradicted():
    assert decide([0.70, 0.71, 0.705], [0.66, 0.665, 0.67]).verdict == "supported"
    assert decide([0.66, 0.665, 0.67], [0.70, 0.71, 0.705]).verdict == "contradicted"


def test_one_seed_noise_and_smoke_are_inconclusive():
    assert decide([0.70], [0.60]).verdict == "inconclusive"
    assert decide([0.70, 0.60, 0.71], [0.65, 0.66, 0.64]).verdict == "inconclusive"
    smoke = decide([0.70, 0.71, 0.705], [0.60, 0.61, 0.60], verdicts=False)
    assert smoke.verdict == "inconclusive" and "smoke" in smoke.reason


def test_a_run_that_never_trained_makes_the_comparison_not_comparable():
    res = decide([0.70, 0.71, 0.70], [0.10, 0.11, 0.10])
    assert res.verdict == "inconclusive" and "not comparable" in res.reason and "chance" in res.reason


def test_a_diverged_run_gives_inconclusive_not_nan(tmp_path):
    res = evaluate(CLAIM, {CLAIM.a[0].id: [run_record(0.7), run_record(0, diverged=True)],
                           CLAIM.b[0].id: [run_record(0.6), run_record(0.6)]}, profile_name="quick")
    assert res.verdict == "inconclusive" and "diverged" in res.reason
    from bnbench.store.files import write_json_atomic
    from bnbench.store.formats import result_from_json, result_to_json

    # written as the store writes it (strict JSON, NaN as null), the result reads back as it was, the diverged seed's
    # NaN in its place (catches result_to_json leaving an object JSON cannot hold, e.g. the Verdict itself, or
    # dropping a field; the json.dumps(..., default=str) this replaces passed whatever the dict held)
    write_json_atomic(tmp_path / "result.json", result_to_json(res))
    back = result_from_json(json.loads((tmp_path / "result.json").read_text()))
    assert (back.verdict, back.reason) == (res.verdict, res.reason)
    assert back.a_values[0] == 0.7 and math.isnan(back.a_values[1]) and back.b_values == [0.6, 0.6]


def test_documented_check_reports_the_deviation():
    res = evaluate(CLAIM, {CLAIM.a[0].id: [run_record(0.70)] * 3, CLAIM.b[0].id: [run_record(0.6155)] * 3},
                   profile_name="full", documented=True)
    checks = {d["what"]: d["check"] for d in res.documented}
    assert checks["1.1/hidden-500"] == "reproduced"                   # 70.0 vs 70.13
    assert checks["1.1/base-nll"] == "deviates (-6.0 pp)"             # 61.55 vs 67.55
    assert checks["effect a - b"] == "deviates (+5.9 pp)"             # +8.45 vs the study's +2.58


def test_the_effect_check_catches_a_reversed_effect_that_both_sides_pass():
    """Each side within 3 points of the study, and the effect within 3 points of the study's (-0.3 vs +2.58), yet
    a - b points the other way: the effect check says so."""
    res = evaluate(CLAIM, {CLAIM.a[0].id: [run_record(0.689)] * 3, CLAIM.b[0].id: [run_record(0.692)] * 3},
                   profile_name="full", documented=True)
    checks = {d["what"]: d["check"] for d in res.documented}
    assert checks["1.1/hidden-500"] == checks["1.1/base-nll"] == "reproduced"
    assert checks["effect a - b"].startswith("deviates")


def _epochs(*pairs):
    return [epoch_row(i + 1, test_loss=loss, test_acc=acc) for i, (loss, acc) in enumerate(pairs)]


def test_the_study_reading_of_accuracy_final_best_and_checkpoint():
    rec = run_record(0.5)
    # epoch 3 has the best accuracy but not the lowest loss; epoch 4 improves both again, epoch 5 neither
    rec.epochs = _epochs((1.0, 0.50), (0.9, 0.55), (0.95, 0.70), (0.85, 0.71), (0.80, 0.60))
    assert rec.reported_test_acc("final") == 0.60
    assert rec.reported_test_acc("best") == 0.71
    assert rec.reported_test_acc("checkpoint") == 0.71
    rec.epochs = _epochs((1.0, 0.50), (0.9, 0.55), (0.95, 0.70), (0.92, 0.69))
    assert rec.reported_test_acc("checkpoint") == 0.55       # epoch 3's loss rose: no checkpoint after epoch 2
    from bnbench.store.formats import record_to_json

    assert record_to_json(rec)["summary"]["checkpoint_test_acc"] == 0.55


def test_the_documented_check_uses_the_study_reading_and_the_verdict_the_final_epoch():
    a, b = run_record(0.5), run_record(0.5)
    a.epochs = _epochs((1.0, 0.60), (0.9, 0.70), (1.2, 0.64))   # checkpoint 0.70, final 0.64
    b.epochs = _epochs((1.0, 0.60), (0.9, 0.67), (1.2, 0.61))
    res = evaluate(CLAIM, {CLAIM.a[0].id: [a] * 2, CLAIM.b[0].id: [b] * 2}, profile_name="full", documented=True)
    assert res.a_values == [0.64, 0.64]
    measured = {d["what"]: d["measured"] for d in res.documented}
    assert measured["1.1/hidden-500"] == pytest.approx(0.70) and measured["1.1/base-nll"] == pytest.approx(0.67)
    assert res.extra["study_reading"]["a"] == [0.70, 0.70]


def test_every_experiment_runs_the_published_recipe_and_says_where_each_setting_comes_from():
    """Every setting of every experiment has a provenance, and wherever it is the published source's, the value is
    the published one (study.SECTION_1 / SECTION_2 / SANTURKAR): a drifting default fails here."""
    import dataclasses

    from bnbench.study.experiments import _setting_value
    from bnbench.engine.config import TrainConfig

    tables = {"1.1": study.SECTION_1, "1.2": study.SECTION_1, "2.1": study.SECTION_2, "2.2": study.SECTION_2,
              "2.3": study.SANTURKAR}
    sources = (study.STUDY_CODE, study.REPORT, study.TEMPLATE, study.PAPER, study.EXECUTION)
    for e in EXPERIMENTS.values():
        names = {f.name for f in dataclasses.fields(TrainConfig)} - {"model_args"}
        names |= {f"model_args.{k}" for k in e.config.model_args}
        assert names <= set(e.provenance), (e.id, names - set(e.provenance))
        for key, source in e.provenance.items():
            assert source in sources or source.startswith("assumption: ") and len(source) > 20, (e.id, key, source)
        for key, setting in tables[e.section].items():
            if key not in e.provenance:
                assert key == "model_args.dropout" and e.config.model != "MyNet", (e.id, key)
                continue
            if e.provenance[key] == setting.source:
                assert _setting_value(e.config, key) == setting.value, (e.id, key)
        assert e.config.epochs == SECTIONS[e.section].epochs.value


def test_the_published_settings_are_the_study_codes():
    """Transcribed from report.md, "The study's published code"; pinned here so the table itself cannot drift."""
    s1 = {k: v.value for k, v in study.SECTION_1.items()}
    assert (s1["batch_size"], s1["lr"], s1["momentum"], s1["weight_decay"], s1["model_args.dropout"]) == \
        (32, 0.03, 0.5, 1e-3, 0.5)
    assert study.SECTION_1["lr"].source == study.STUDY_CODE
    s2 = {k: v.value for k, v in study.SECTION_2.items()}
    assert (s2["optimizer"], s2["lr"], s2["batch_size"], s2["loss"], s2["seed"]) == ("adam", 1e-3, 128, "cross_entropy", 2020)
    assert {k: v.epochs.value for k, v in SECTIONS.items() if k in ("1.1", "1.2", "2.1", "2.2", "2.3")} == \
        {"1.1": 50, "1.2": 100, "2.1": 20, "2.2": 20, "2.3": 39}
    assert study.SANTURKAR["precision"].value == "fp32"
    assert EXPERIMENTS["1.1/base-nll"].config.model_args == {"hidden": 100, "dropout": 0.5}
    assert EXPERIMENTS["1.1/adagrad"].provenance["lr"].startswith("assumption: ")
    assert {e.reported_as for e in EXPERIMENTS.values() if e.section in ("1.1", "1.2")} == {"checkpoint"}
    assert {e.reported_as for e in EXPERIMENTS.values() if e.section == "2.1"} == {"best"}


def test_session_checks_a_claim_end_to_end_on_synthetic_data(tmp_path, synthetic_data):
    """The whole chain, profile -> configs -> trainer -> records -> verdict -> plot -> summary.json, made small."""
    session = Runner(Options(out=str(tmp_path), device="cpu"))
    session._data = synthetic_data(n_train=600, n_test=200, seed=1)
    tiny = Profile("tiny", seeds=2, scales={"1.1": Scale(epochs=1, train_per_class=30, test_per_class=20)})
    result = session.check(CLAIMS["1.1/relu-beats-tanh"], tiny)
    assert isinstance(result, ClaimResult) and len(result.a_values) == 2 and session.trained == 4
    assert (tmp_path / result.plot).stat().st_size > 1000
    again = session.check(CLAIMS["1.1/hidden-500-beats-100"], tiny)    # hidden-500 runs come from the cache
    assert session.trained == 6 and again.a_values == result.a_values
    records = list((tmp_path / "records").rglob("*.json"))
    assert len(records) == 6 and all(json.loads(p.read_text())["schema_version"] == 1 for p in records)
    summary = json.loads(session.finish().read_text())
    assert [c["claim_id"] for c in summary["claims"]] == ["1.1/relu-beats-tanh", "1.1/hidden-500-beats-100"]
    # not at the study's scale: the study's numbers are not drawn beside these runs
    assert not summary["partial"] and not (tmp_path / "plots" / "documented.png").exists()
    # one structure table per experiment: the variants of MyNet do not overwrite each other's
    tables = {p.name: p.read_text() for p in (tmp_path / "structures").iterdir()}
    assert set(tables) == {"1.1_hidden-500.txt", "1.1_tanh.txt", "1.1_base-nll.txt"}
    assert "activation='tanh'" in tables["1.1_tanh.txt"] and "657,220" in tables["1.1_hidden-500.txt"]


def test_resume_retrains_nothing_when_every_record_matches(tmp_path, monkeypatch, synthetic_data):
    tiny = Profile("tiny", seeds=2, scales={"1.1": Scale(epochs=1, train_per_class=20, test_per_class=10)})
    data = synthetic_data(n_train=600, n_test=200, seed=1)
    first = Runner(Options(out=str(tmp_path), device="cpu"))
    first._data = data
    before = first.check(CLAIMS["1.1/relu-beats-tanh"], tiny)
    assert first.trained == 4

    import bnbench.engine.train

    calls = []
    real = bnbench.engine.train.train
    monkeypatch.setattr(bnbench.engine.train, "train", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = Runner(Options(out=str(tmp_path), device="cpu", resume=True))
    again._data = data
    after = again.check(CLAIMS["1.1/relu-beats-tanh"], tiny)
    assert calls == [] and again.trained == 0 and again.resumed == 4
    assert after.a_values == before.a_values and after.b_values == before.b_values

    # a different configuration (another epoch count) does not match: it trains
    more = Profile("tiny", seeds=2, scales={"1.1": Scale(epochs=2, train_per_class=20, test_per_class=10)})
    again.check(CLAIMS["1.1/relu-beats-tanh"], more)
    assert len(calls) == 4


def test_the_paper_experiments_probe_at_the_default_interval():
    from bnbench.engine.probes import DEFAULT_EVERY

    assert {EXPERIMENTS[k].config.probe_every for k in ("2.3/vgg-a-sgd", "2.3/vgg-a-bn-sgd")} == {DEFAULT_EVERY}


def _probed(losses_at_probes, grad_change):
    probes = [{"step": 30 * i, "train_loss": loss, "grad_change": [grad_change] * 2, "grad_change_rel": [1.0] * 2,
               "beta": grad_change, "handout_beta": 1.0, "handout_last_layer_grad_change": 1.0}
              for i, loss in enumerate(losses_at_probes)]
    rec = run_record(0.4, steps=20)
    rec.probes = probes
    return rec


def test_probe_claims_use_only_points_past_chance_and_refuse_a_side_that_never_got_there():
    claim = CLAIMS["2.3/bn-gradients-more-predictive"]
    learning = _probed([2.30, 1.9, 1.8, 1.7, 1.6], grad_change=1.0)
    stuck = _probed([2.30, 2.30, 2.29, 2.10, 2.00], grad_change=0.1)   # tiny gradients: would look "predictive"
    res = evaluate(claim, {claim.a[0].id: [learning] * 2, claim.b[0].id: [stuck] * 2}, profile_name="quick")
    assert res.verdict == "inconclusive" and "not comparable" in res.reason and "1 of 5" in res.reason
    # the first probe point (at ln 10) does not count; with one step past chance on side b, no paired statistic
    assert res.extra["probe_points_past_chance"] == [[4, 4], [1, 1]]
    assert len(res.a_values) == len(res.b_values) == 2       # one value per seed (all() below holds for none)
    assert all(math.isnan(v) for v in res.a_values + res.b_values)


def test_band_claims_refuse_a_side_whose_best_learning_rate_never_left_chance():
    claim = CLAIMS["2.2/bn-band-narrower"]
    flat = run_record(0.1, steps=10)
    flat.step_loss = [2.30] * 10
    falling = run_record(0.4, steps=10)
    falling.step_loss = [2.3 - 0.1 * i for i in range(10)]
    records = {e.id: [falling, falling] for e in claim.a} | {e.id: [flat, flat] for e in claim.b}
    res = evaluate(claim, records, profile_name="quick")
    assert res.verdict == "inconclusive" and "best learning rate" in res.reason


def test_the_session_passes_the_cuda_graph_switch_to_the_trainer(tmp_path, monkeypatch, synthetic_data):
    import bnbench.engine.train

    seen = []
    real = bnbench.engine.train.train
    monkeypatch.setattr(bnbench.engine.train, "train", lambda *a, **k: seen.append(k["cuda_graphs"]) or real(*a, **k))
    tiny = Profile("tiny", seeds=1, scales={"1.1": Scale(epochs=1, train_per_class=10, test_per_class=5)})
    for switch in (True, False):
        session = Runner(Options(out=str(tmp_path / str(switch)), device="cpu", cuda_graphs=switch))
        session._data = synthetic_data(n_train=600, n_test=200, seed=1)
        session.run(EXPERIMENTS["1.1/hidden-500"], tiny, 0)
    assert seen == [True, False]


def _grad_tracked(scale, steps=12, per_epoch=4):
    rec = run_record(0.5, steps=steps)
    rec.epochs = [dict(rec.epochs[0], steps=per_epoch)]
    rec.step_grad_change = [None if i % per_epoch == 0 else scale * (1 + 0.01 * i) for i in range(steps)]
    return rec


def test_the_study_2_3_measurement_is_a_claim_decided_from_the_band_runs():
    claim = CLAIMS["2.3/bn-last-layer-grad-change-smaller"]
    assert claim.experiments == tuple(EXPERIMENTS[k] for k in EXPERIMENTS if k.startswith("2.2/vgg-a-bn")) + \
        tuple(EXPERIMENTS[k] for k in EXPERIMENTS if k.startswith("2.2/vgg-a-lr"))
    assert all(e.config.track_grad_change for e in claim.experiments)
    records = {e.id: [_grad_tracked(0.4 + 0.01 * s) for s in range(3)] for e in claim.a}
    records |= {e.id: [_grad_tracked(1.0 + 0.02 * s) for s in range(3)] for e in claim.b}
    res = evaluate(claim, records, profile_name="quick")
    assert res.verdict == "supported", res.reason
    # the epochs' first steps (None: no difference across an epoch boundary) are left out of the band
    from bnbench.verdicts.metrics import grad_band

    lo, hi = grad_band([_grad_tracked(1.0)] * 4)
    assert len(lo) == 9 and hi[0] == pytest.approx(1.01)
    # runs without the measurement are not comparable, not silently zero
    bare = {e.id: [run_record(0.5)] * 3 for e in claim.experiments}
    assert "not comparable" in evaluate(claim, bare, profile_name="quick").reason
    # nor is a sweep still at ln 10: its tiny gradients change little, which would read as "predictive"
    stuck = _grad_tracked(0.01)
    stuck.step_loss = [2.30] * stuck.steps
    records |= {e.id: [stuck] * 3 for e in claim.b}
    res = evaluate(claim, records, profile_name="quick")
    assert res.verdict == "inconclusive" and "near ln 10" in res.reason


def test_probe_claims_pair_the_two_networks_by_step():
    """Side a's probes past chance at steps 30..150, side b's only from step 90 on: both medians are taken over
    steps 90..150, so an early-training value of a (large, here 9.0) does not enter the comparison."""
    claim = CLAIMS["2.3/bn-gradients-more-predictive"]
    a = _probed([1.9, 1.8, 1.7, 1.6, 1.5, 1.4], grad_change=1.0)
    for p in a.probes[:3]:
        p["grad_change"] = [9.0, 9.0]
    b = _probed([2.3, 2.3, 2.3, 1.9, 1.8, 1.7], grad_change=2.0)
    res = evaluate(claim, {claim.a[0].id: [a] * 2, claim.b[0].id: [b] * 2}, profile_name="quick")
    assert res.a_values == [1.0, 1.0] and res.b_values == [2.0, 2.0]


def test_a_timing_claim_is_decided_from_the_interleaved_timing():
    claim = CLAIMS["2.1/bn-costs-time"]
    runs = {e.id: [run_record(0.5)] * 3 for e in claim.experiments}
    # the paired ratio (median over ABBA pairs) decides, not the ratio of the two sides' separate medians
    timings = [{"a_s_per_step_median": 1.0, "b_s_per_step_median": 2.0, "ratio_median": 1.10 + 0.001 * s}
               for s in range(3)]
    res = evaluate(claim, runs, profile_name="quick", timings=timings, documented=True)
    assert res.a_values == pytest.approx([2.20, 2.202, 2.204]) and res.b_values == [2.0] * 3
    assert res.verdict == "supported", res.reason
    assert res.documented[0]["measured"] == pytest.approx(0.101)
    assert "no interleaved timing" in evaluate(claim, runs, profile_name="quick").reason


def test_band_claims_at_the_study_scale_are_held_against_the_studys_curves():
    """391 steps an epoch: seed 0's bands are compared with the study's published curves epoch by epoch, and the
    effect with the one on the study's curves (its mean band width is 55% narrower with BN)."""
    from bnbench.study import curves as study_curves

    claim = CLAIMS["2.2/bn-band-narrower"]
    curves = study_curves.load()

    def run(bn, lr_index):
        lo, hi = curves.epoch_band("loss", bn)
        rec = run_record(0.5, steps=391)
        rec.epochs = [dict(rec.epochs[0], steps=391)]
        rec.config = {"model": "VGG_A_BatchNorm" if bn else "VGG_A"}
        rec.step_loss = [lo[0] if lr_index == 0 else hi[0]] * 391   # two runs at each edge: the study's band
        return rec

    records = {e.id: [run(True, i % 2)] * 2 for i, e in enumerate(claim.a)}
    records |= {e.id: [run(False, i % 2)] * 2 for i, e in enumerate(claim.b)}
    checks = {d["what"]: d for d in evaluate(claim, records, profile_name="full", documented=True).documented}
    assert checks["VGG_A_BatchNorm loss band per epoch (seed 0)"]["check"] == "reproduced (1 of 1 epochs within)"
    assert checks["VGG_A loss band per epoch (seed 0)"]["check"] == "reproduced (1 of 1 epochs within)"
    effect = checks["effect BN/no BN - 1 (band_width_mean, seed 0)"]
    assert effect["study"] == pytest.approx(-curves.bn_change("loss").width_narrower)
