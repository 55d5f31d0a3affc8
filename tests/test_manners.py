"""A plugin people keep installed: it selects only its own items, says what it will use in one header line, warns
where the test is, times epochs for pytest-benchmark, and its command behaves like a Unix tool."""
import json
import os
import subprocess
import sys
import textwrap

from test_plugin import synthetic_conftest

OTHER_PROJECT = textwrap.dedent('''
    import pytest

    def test_plain():
        pass

    @pytest.mark.speed
    def test_their_speed():
        pass

    @pytest.mark.full
    def test_their_full():
        pass
''')


def _pytest(tmp_path, *args, timeout=300):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=timeout)


def test_another_projects_speed_and_full_markers_run_as_without_bnbench(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    speed: theirs\n    full: theirs\n")
    (tmp_path / "test_theirs.py").write_text(OTHER_PROJECT)
    with_bnbench = _pytest(tmp_path, "-q", "test_theirs.py")
    without = _pytest(tmp_path, "-q", "-p", "no:bnbench", "test_theirs.py")
    assert "3 passed" in without.stdout
    assert "3 passed" in with_bnbench.stdout and "deselected" not in with_bnbench.stdout, with_bnbench.stdout


def test_the_header_names_device_profile_data_and_output_folder(tmp_path):
    (tmp_path / "test_theirs.py").write_text(OTHER_PROJECT)
    out = _pytest(tmp_path, "test_theirs.py", "--bnbench-out", str(tmp_path / "res"), "--bnbench-data",
                  str(tmp_path / "d")).stdout
    line = next(line for line in out.splitlines() if line.startswith("bnbench: device"))
    assert "device auto" in line and "profile smoke" in line and str(tmp_path / "d") in line
    assert str(tmp_path / "res") in line


CLAIM_RUN = textwrap.dedent('''
    from bnbench.study.catalog import CLAIMS

    def test_claim(check_claim):
        check_claim(CLAIMS["1.1/relu-beats-tanh"])
''')


def test_a_claim_alone_is_timed_per_epoch_and_warns_at_the_test(tmp_path):
    """-k on a claim trains its runs inside check_claim: pytest-benchmark gets one round per epoch (the first of
    each run left out as warm-up), the JSON file is written, and an inconclusive verdict warns at the test's own
    line, not inside bnbench. At smoke scale, where inconclusive is the documented outcome, nothing warns."""
    (tmp_path / "conftest.py").write_text(synthetic_conftest(200, 100))
    (tmp_path / "test_claim_run.py").write_text(CLAIM_RUN)
    # one seed: the verdict is inconclusive whatever the numbers ("one seed cannot separate an effect")
    common = ["--bnbench-seeds", "1", "--bnbench-epochs", "3", "--bnbench-subset", "10", "-W",
              "always::bnbench.errors.BnbenchInconclusive", str(tmp_path / "test_claim_run.py")]
    quick = _pytest(tmp_path, "-m", "quick", "--bnbench-out", str(tmp_path / "q"), "--benchmark-json",
                    str(tmp_path / "b.json"), *common)
    assert quick.returncode == 0, quick.stdout[-3000:]
    bench = json.loads((tmp_path / "b.json").read_text())["benchmarks"]
    (entry,) = bench
    # 2 experiments x 1 seed x 3 epochs, less each run's warm-up epoch: 4 timed epochs
    assert entry["stats"]["rounds"] == 4 and entry["extra_info"]["epochs_timed"] == 4
    assert len(entry["extra_info"]["warmup_epochs_s"]) == 2
    assert "BnbenchInconclusive" in quick.stdout, quick.stdout[-3000:]
    assert "test_claim_run.py:4: BnbenchInconclusive" in quick.stdout and "plugin.py" not in quick.stdout, quick.stdout[-3000:]
    smoke = _pytest(tmp_path, "--bnbench-out", str(tmp_path / "s"), *common)
    assert smoke.returncode == 0 and "BnbenchInconclusive" not in smoke.stdout, smoke.stdout[-3000:]


def _bnbench(*args, shell=False):
    cmd = " ".join(("bnbench",) + args) if shell else ["bnbench", *args]
    return subprocess.run(cmd, shell=shell, capture_output=True, text=True, timeout=120)


def test_the_command_is_a_well_behaved_unix_tool():
    from bnbench import __version__

    version = _bnbench("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"bnbench {__version__}"
    piped = _bnbench("claims", "|", "head", "-1", shell=True)
    assert piped.returncode == 0 and piped.stderr == "" and piped.stdout.count("\n") == 1, piped.stderr
    for args, known in ((("models", "nosuch"), "VGG_A"), (("claims", "nosuch"), "1.1/relu-beats-tanh"),
                        (("experiments", "nosuch"), "1.1/base-nll"), (("structure", "NoSuchNet"), "MyNet")):
        proc = _bnbench(*args)
        assert proc.returncode == 2 and known in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
    helptext = _bnbench("--help").stdout
    assert "``" not in helptext and "--version" in helptext


def test_the_claims_table_reads_at_80_columns(tmp_path):
    from bnbench.outputs.table import render, summary_tables
    from bnbench.study.catalog import CLAIMS
    from bnbench.verdicts.evaluate import ClaimResult
    from bnbench.verdicts.stats import decide

    results = []
    for i, claim_id in enumerate(CLAIMS):
        stats = decide([0.70 + 0.01 * i, 0.71, 0.72], [0.60, 0.61, 0.63], "greater", 0.01)
        results.append(ClaimResult(claim_id, "quick", "inconclusive" if i % 2 else stats.verdict,
                                   "inconclusive: " + "a long reason " * 12, [0.7, 0.71, 0.72], [0.6, 0.61, 0.63],
                                   stats=stats))
    text = render(summary_tables(results, width=80), width=80)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    for r in results:   # every id whole, its verdict whole on the same line
        assert any(line.startswith(r.claim_id) and line.rstrip().endswith(r.verdict) for line in lines), r.claim_id
    assert len(lines) <= 2 + 5 * len(results)
    assert "…" not in text and "why: " + "a long reason " * 11 + "a long reason" in " ".join(text.split())  # wrapped
    wide = render(summary_tables(results, width=200), width=200)
    assert "measured (final epoch a vs b)" in wide            # the wide layout keeps every number


def test_with_a_speed_record_the_header_estimates_the_selected_profile(tmp_path):
    from bnbench.engine.models import list_models
    from bnbench.engine.speed_rows import ModelSpeed
    from bnbench.store import Store, Summary

    rows = [ModelSpeed(model=m, batch_size=32, device="cpu", precision="bf16", bnbench_images_per_s=1000.0,
                       study_style_images_per_s=500.0, speedup=2.0, flops_per_image=1e9, achieved_flops=1e12,
                       peak_flops=2e12, peak_dtype="bf16", fraction_of_peak=0.5) for m in list_models()]
    Store(tmp_path / "res").write_summary(Summary(path="", model_speed=rows))
    (tmp_path / "test_theirs.py").write_text(OTHER_PROJECT)
    out = _pytest(tmp_path, "--co", "-m", "full", "test_theirs.py", "--bnbench-out", str(tmp_path / "res")).stdout
    line = next(line for line in out.splitlines() if line.startswith("bnbench: estimated"))
    assert "for the whole full profile on cpu (bnbench estimate" in line and " h " in line, line


def test_the_speed_tables_read_at_80_columns():
    from bnbench.engine.speed_rows import ModelSpeed, SpeedRow
    from bnbench.outputs.table import render, summary_tables

    speed = [SpeedRow(model="MyNet(hidden=500)", variant="default+compile", device="cpu", bnbench_s_per_epoch=15.08,
                      bnbench_first_epoch_s=16.65, study_style_s_per_epoch=24.95, ratio=0.60, bnbench_images_per_s=3315.0,
                      study_style_images_per_s=2004.0, test_acc=0.665, precision="bf16-autocast", compile="compiled")]
    model = [ModelSpeed(model="ResNet_Projection", batch_size=32, device="cpu", precision="bf16-autocast",
                        bnbench_images_per_s=812.0, study_style_images_per_s=560.0, speedup=1.45, flops_per_image=1.1e9,
                        achieved_flops=9e11, peak_flops=4e12, peak_dtype="bf16", fraction_of_peak=0.225)]
    narrow = render(summary_tables([], speed, model, width=80), width=80)
    assert max(map(len, narrow.splitlines())) <= 80 and "…" not in narrow        # nothing truncated
    for whole in ("MyNet(hidden=500) [default+compile]", "ratio 0.60x", "ResNet_Projection, batch 32", "1.45x"):
        assert whole in narrow, whole
    assert "┃" in render(summary_tables([], speed, model, width=200), width=200)  # the wide table from 120 on
