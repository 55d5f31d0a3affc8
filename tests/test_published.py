"""Published results: ``bnbench publish`` on a study-scale folder, and the committed results/full-1.1/ checked
against the README's section (re-decided from the records through the store: the section cannot drift)."""
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from bnbench.outputs.provenance import code_warning
from bnbench.errors import BnbenchError, BnbenchSkippedFile
from bnbench.publish import (gather, published_section, publish, read_spec, section_markdown, splice,
                             verify)
from bnbench.store import Store, load_record
from bnbench.study.catalog import experiments_in
from bnbench.study.profiles import get_profile, scaled_config
from factories import epoch_row, run_record

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {"full-1.1": ("full", ("1.1",)), "full-2.1": ("full", ("2.1",))}   # results/ folder -> (profile, sections)
# the study's final accuracies (1.1) and a per-experiment offset, so that the claims come out decided
MEAN = {"1.1/base-nll": 0.675, "1.1/base-ce": 0.672, "1.1/adagrad": 0.52, "1.1/hidden-500": 0.70,
        "1.1/conv-5x5-3x3": 0.695, "1.1/tanh": 0.61}


def _fake_run(folder: Path, seeds: dict[str, int], commit: str = "a" * 40, epochs: int = 4):
    """A full-profile 1.1 folder with ``seeds[experiment]`` finished records each (synthetic numbers)."""
    store, profile = Store(folder), get_profile("full")
    rng = np.random.default_rng(0)
    for exp in experiments_in("1.1"):
        for seed in range(seeds.get(exp.id, 0)):
            config = scaled_config(exp.config, profile, exp.section, seed)
            if exp.id.startswith("1.1/identity"):
                losses = [2.3 - 0.01 * i for i in range(10)]
                rows = [epoch_row(1, test_acc=0.2, steps=10)]
            else:
                final = MEAN[exp.id] + rng.normal(0, 0.003)
                losses = list(np.linspace(2.3, 0.9, 30))
                rows = [epoch_row(e, test_acc=final - 0.02 * (epochs - e), steps=200, train_time_s=20.0)
                        for e in range(1, epochs + 1)]
            rec = run_record(config=config.to_dict(), config_hash=config.hash, step_loss=losses, epochs=rows,
                             env={"git_commit": commit, "git_dirty": False, "torch": "2.14.1",
                                  "precision": "fp32" if exp.id.startswith("1.1/identity") else "bf16-autocast",
                                  "device": "cpu", "device_name": "CPU X",
                                  "torch_threads": 1},
                             started_at="2026-12-06T16:00:00+00:00", finished_at="2026-12-06T17:00:00+00:00")
            store.save_record(rec, exp.id, profile.name, seed, provenance=exp.provenance, reported_as=exp.reported_as)


def test_publish_copies_decides_and_writes_everything(tmp_path):
    run, dest = tmp_path / "run", tmp_path / "repo" / "results" / "full-1.1"
    five = {e.id: 5 for e in experiments_in("1.1")}
    _fake_run(run, {**five, "1.1/tanh": 1})          # tanh still training: its claim waits
    readme = tmp_path / "repo" / "README.md"
    readme.parent.mkdir()
    readme.write_text("# project\n\nintro\n")
    pub = publish(run, dest, name="full-1.1", readme=readme, repo_root=tmp_path / "repo")
    assert len(pub.records) == 7 * 5 + 1
    assert [c.id for c, _ in pub.waiting] == ["1.1/relu-beats-tanh"]
    verdicts = {c.id: r.verdict for c, r in pub.decided}
    assert verdicts["1.1/hidden-500-beats-100"] == "supported"      # +2.5 points, SD 0.4
    assert verdicts["1.1/nll-beats-adagrad"] == "supported"
    assert verdicts["1.1/nll-beats-cross-entropy"] == "contradicted"  # +0.3 points: excludes 1 point
    summary = json.loads((dest / "summary.json").read_text())
    assert summary["partial"] is True and len(summary["claims"]) == 5
    assert (dest / "report.html").is_file() and (dest / "plots" / "1.1-full-test-accuracy.png").is_file()
    text = readme.read_text()
    assert text.startswith("# project\n\nintro\n") and "## Results at the study's scale" in text
    assert "in progress: 36 of 40 runs trained" in text
    assert "`1.1/relu-beats-tanh` (1 of 5 seeds complete)" in text
    assert "![test accuracy per epoch" in text and "(results/full-1.1/plots/1.1-full-test-accuracy.png)" in text
    assert "runs by commit: aaaaaaaaaa (36)" in text
    assert "torch 2.14.1, bf16-autocast (26 runs), fp32 (10 runs)." in text   # which precision trained how many
    assert "Holm" in text and "could hold up to 0.25 false verdicts" in text
    # the settings the study does not give, from the experiments' declarations, each once with who uses it
    assert ("- `lr=0.01` (`1.1/adagrad`): Adagrad's learning rate is in neither the report nor the posted code"
            in text)
    assert "- `seed=0` (every experiment): the posted scripts set no seed" in text
    # each verdict in words: a gap against nothing is read as a bound on the gap, not as one side's advantage
    meaning = next(line for line in text.splitlines() if line.startswith("- `1.1/cross-entropy-is-nll` ("))
    assert "training steps of the same seed stays below 0.0001, beyond seed noise: the claim holds" in meaning
    assert "advantage" not in meaning
    assert ("- `1.1/hidden-500-beats-100` (hidden size 500 beats 100 (70.13% vs 67.55%)): the side that should win "
            "wins, by at least the 1 pp margin, beyond seed noise." in text)
    # the section is exactly what the records say, and publishing again changes nothing
    section = published_section(text, "full-1.1")
    assert section == section_markdown(gather(dest, "full-1.1", "full", ("1.1",)), "results/full-1.1",
                                       "results/full-1.1/plots/1.1-full-test-accuracy.png")
    publish(run, dest, name="full-1.1", readme=readme, repo_root=tmp_path / "repo")
    assert readme.read_text() == text


def test_splice_replaces_only_its_section_and_refuses_duplicates():
    pub_a = "<!-- bnbench:published x start -->\nA\n<!-- bnbench:published x end -->\n"
    pub_b = "<!-- bnbench:published x start -->\nB\n<!-- bnbench:published x end -->\n"
    readme = splice("top\n", pub_a, "x") + "after\n"
    assert splice(readme, pub_b, "x") == readme.replace("\nA\n", "\nB\n")
    with pytest.raises(Exception, match="more than once"):
        splice(readme + pub_a, pub_b, "x")
    # a second folder goes at the end of the heading's part, after the first, not under a second heading
    pub_y = "<!-- bnbench:published y start -->\nY\n<!-- bnbench:published y end -->\n"
    doc = "# p\n\n## Results at the study's scale\n\nintro\n\n```\n## not a heading\n```\n\n" + pub_a + "\n## Next\n"
    out = splice(doc, pub_y, "y")
    assert out.count("## Results at the study's scale") == 1
    assert out.index(pub_a) < out.index(pub_y) < out.index("## Next")
    assert out.endswith(pub_y + "\n## Next\n")
    assert splice(out, pub_y.replace("\nY\n", "\nZ\n"), "y") == out.replace("\nY\n", "\nZ\n")
    assert splice("# p\n\n## Results at the study's scale\n\nintro\n", pub_y, "y") == \
        "# p\n\n## Results at the study's scale\n\nintro\n\n" + pub_y


def test_runs_on_two_copies_of_the_data_are_named_and_published_with_their_fingerprints(tmp_path):
    on = lambda data: run_record(0.5, env={"git_commit": "a" * 40, "torch": "2.14.1", "precision": "fp32",  # noqa
                                           **({"data": data} if data else {})})
    original, jpeg = "sha256:00000000000000aa (50000 train, 10000 test)", "sha256:00000000000000bb (50000 train, 10000 test)"
    warning = code_warning([on(original)], [on(jpeg), on(jpeg)])
    assert "different data" in warning and f"{jpeg}: 2 runs" in warning and f"{original}: 1 runs" in warning
    assert code_warning([on(original)], [on(original), on(None)]) is None    # a record that does not say: not counted
    # the published section says what the records say of their data, beside the publisher's note
    run, dest = tmp_path / "run", tmp_path / "repo" / "results" / "full-1.1"
    _fake_run(run, {e.id: 2 for e in experiments_in("1.1")})
    for path in (run / "records").rglob("*.json"):
        data = json.loads(path.read_text())
        data["env"]["data"] = jpeg
        path.write_text(json.dumps(data))
    readme = tmp_path / "repo" / "README.md"
    readme.parent.mkdir()
    readme.write_text("# p\n")
    publish(run, dest, name="full-1.1", readme=readme, data_note="the JPEG copy")
    assert f"the data: the JPEG copy; fingerprint {jpeg} (16 runs)." in readme.read_text()
    assert verify(dest) == []


def test_mixed_code_is_named():
    a = [run_record(0.5, env={"git_commit": "a" * 40, "torch": "2.14.1", "precision": "fp32"})]
    b = [run_record(0.5, env={"git_commit": "a" * 40, "torch": "2.15.0", "precision": "fp32"})]
    assert "torch versions" in code_warning(a, b)
    dirty = [run_record(0.5, env={"git_commit": "a" * 40, "git_dirty": True, "torch": "2.14.1", "precision": "fp32"})]
    assert "aaaaaaaaaa+dirty: 1 runs" in code_warning(a, dirty)
    assert code_warning(dirty, dirty, strict=False) is None and code_warning(dirty, dirty) is not None
    assert code_warning(a, a) is None
    unknown = [run_record(0.5, env={"torch": "2.14.1", "precision": "fp32"})]
    assert "unknown" in code_warning(a, unknown)


# -- the committed results ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PUBLISHED)
def test_every_committed_record_reads_back_through_the_store(name):
    folder = ROOT / "results" / name
    files = [p for p in sorted((folder / "records").rglob("*.json")) if "-timing-" not in p.name]   # timings: verify
    assert files, f"results/{name} has no records"
    for path in files:
        record = load_record(path)                      # validated: types, ranges, packed series
        assert record.finished_at and not record.diverged, path
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # a record that does not read back is an error here
        pub = gather(folder, name, *PUBLISHED[name])
    assert len(pub.records) == len(files)


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_readme_says_what_the_committed_records_say(name):
    folder = ROOT / "results" / name
    spec = read_spec(folder)
    assert (spec.profile, spec.sections) == PUBLISHED[name] and (folder / spec.readme).resolve() == ROOT / "README.md"
    assert verify(folder) == [], ("README's published section differs from the records: run "
                                  f"`bnbench publish RUN_DIR results/{name} --readme README.md`")
    pub = gather(folder, name, *PUBLISHED[name])
    summary = json.loads((folder / "summary.json").read_text())
    assert {c["claim_id"]: c["verdict"] for c in summary["claims"]} == {c.id: r.verdict for c, r in pub.decided}
    assert not math.isnan(sum(len(r.a_values) for _, r in pub.decided))


def _published(tmp_path):
    run, dest = tmp_path / "run", tmp_path / "repo" / "results" / "full-1.1"
    _fake_run(run, {e.id: 3 for e in experiments_in("1.1")})
    readme = tmp_path / "repo" / "README.md"
    readme.parent.mkdir()
    readme.write_text("# project\n")
    publish(run, dest, name="full-1.1", readme=readme, data_note="a test copy")
    return dest, readme


def test_verify_passes_a_fresh_publish_and_names_each_kind_of_drift(tmp_path):
    """``bnbench verify``: the mutations it exists for (a README edited by hand, a verdict changed in summary.json,
    a record altered or broken) each make it fail, naming what."""
    from bnbench.cli import main

    dest, readme = _published(tmp_path)
    assert "the data: a test copy." in readme.read_text()
    assert verify(dest) == [] and main(["verify", str(dest)]) == 0
    publish(tmp_path / "run", dest, name="full-1.1")          # again, no README named: the spec keeps both
    assert read_spec(dest).readme == "../../README.md" and read_spec(dest).data_note == "a test copy"
    text = readme.read_text()
    readme.write_text(text.replace("**supported**", "**contradicted**", 1))
    [problem] = verify(dest)
    assert "section differs from what the records say" in problem and "-| `1.1/" in problem
    assert main(["verify", str(dest)]) == 1
    readme.write_text(text)

    summary = dest / "summary.json"
    kept = summary.read_text()
    summary.write_text(kept.replace('"verdict": "supported"', '"verdict": "contradicted"', 1))
    assert any("summary.json's verdicts differ" in p for p in verify(dest))
    summary.write_text(kept)

    record = sorted((dest / "records" / "1.1_hidden-500").glob("*.json"))[0]
    record.write_text(record.read_text().replace('"epochs": 50', '"epochs": 49', 1))   # its hash no longer holds
    problems = verify(dest)
    assert any("does not read back" in p for p in problems) and any("records/ holds" in p for p in problems)


@pytest.mark.parametrize("spec", [
    '{"format": 1, "name": "x", "profile": "full", "sections": ["1.1"], "readme": "../../../../../etc/x.md"}',
    '{"format": 1, "name": "x", "profile": "full", "sections": ["1.1"], "readme": "/etc/passwd"}',
    '{"format": 1, "name": "x", "profile": "full", "sections": ["1.1"], "readme": "../a/../../b.md"}',
    '{"format": 1, "name": "x", "profile": "full", "sections": []}',
    '{"format": 2, "name": "x", "profile": "full", "sections": ["1.1"]}',
    '[1, 2]',
])
def test_a_published_json_bnbench_did_not_write_is_refused(tmp_path, spec):
    (tmp_path / "published.json").write_text(spec)
    with pytest.raises(BnbenchError, match="not a published.json bnbench wrote"):
        read_spec(tmp_path)


def test_a_claim_resumed_from_another_commits_records_says_so(tmp_path):
    """--bnbench-resume over records two commits trained: the claim's result names both, with their counts."""
    from bnbench.runner import Options, Runner
    from bnbench.study.catalog import CLAIMS

    _fake_run(tmp_path, {"1.1/hidden-500": 5}, commit="b" * 40)
    _fake_run(tmp_path, {"1.1/base-nll": 5}, commit="c" * 40)
    runner = Runner(Options(out=str(tmp_path), resume=True))
    result = runner.check(CLAIMS["1.1/hidden-500-beats-100"], get_profile("full"))
    [warning] = [n for n in result.notes if n.startswith("warning")]
    assert "bbbbbbbbbb: 5 runs" in warning and "cccccccccc: 5 runs" in warning
    _fake_run(tmp_path / "same", {"1.1/hidden-500": 5, "1.1/base-nll": 5})
    same = Runner(Options(out=str(tmp_path / "same"), resume=True)).check(CLAIMS["1.1/hidden-500-beats-100"],
                                                                         get_profile("full"))
    assert not [n for n in same.notes if n.startswith("warning")]


def test_verify_of_a_section_this_process_does_not_declare_says_what_to_install(tmp_path):
    (tmp_path / "published.json").write_text('{"format": 1, "name": "x", "profile": "quick", "sections": ["9.9"]}')
    with pytest.raises(BnbenchError, match="install the study that declares it"):
        verify(tmp_path)


def test_verify_reads_a_readme_only_as_a_bounded_regular_file(tmp_path):
    dest, readme = _published(tmp_path)
    target = tmp_path / "elsewhere.md"
    target.write_text(readme.read_text())
    readme.unlink()
    readme.symlink_to(target)                      # a link planted where the README was
    [problem] = verify(dest)
    assert "cannot read it" in problem and "link" in problem
    readme.unlink()
    readme.write_bytes(b"x" * (5 << 20))           # over the cap
    [problem] = verify(dest)
    assert "cannot read it" in problem


def test_the_assumed_settings_are_the_runs_own_not_what_a_profile_scaled_away():
    """A published section lists the settings the study does not give with the value the runs used: at a profile
    that changes one (smoke probes 2.3 at another interval), that setting is not the study's and is left out."""
    from bnbench.publish import Published, _assumed

    def text(profile):
        runs = {e.id: [] for e in experiments_in("2.3")}
        return "\n".join(_assumed(Published("x", get_profile(profile), ("2.3",), runs)))

    full, smoke = text("full"), text("smoke")
    assert "`probe_every=30`" in full and "probe_every" not in smoke
    assert "`seed=" in smoke and "Where the study is silent" in smoke


def test_a_sections_figure_keeps_each_experiments_colour_and_the_tables_order(tmp_path, monkeypatch):
    """While a long run's experiments arrive one by one, each keeps its colour in the section's figure (its place
    among the section's declared experiments), and the legend follows the study's table, not the alphabet."""
    import bnbench.outputs.plots as plots
    from bnbench.outputs.artefacts import write_epoch_bands
    from bnbench.study.catalog import EXPERIMENTS

    drawn = []
    monkeypatch.setattr(plots, "plot_epoch_bands",
                        lambda path, sides, **kw: drawn.append((list(sides), kw["colors"])) or path)
    rows = [epoch_row(e, test_acc=0.5) for e in (1, 2)]
    recs = lambda *ids: {f"full:{i}": [run_record(epochs=rows)] for i in ids}  # noqa: E731
    label = {i: EXPERIMENTS[i].label for i in ("1.1/base-nll", "1.1/hidden-500", "1.1/tanh")}
    write_epoch_bands(Store(tmp_path), recs("1.1/tanh", "1.1/hidden-500"), lambda key: False)
    write_epoch_bands(Store(tmp_path), recs("1.1/tanh", "1.1/hidden-500", "1.1/base-nll"), lambda key: False)
    (early, early_colours), (later, later_colours) = drawn
    assert early == [label["1.1/hidden-500"], label["1.1/tanh"]]          # the table's order: B before D
    assert later == [label["1.1/base-nll"], label["1.1/hidden-500"], label["1.1/tanh"]]
    for exp in ("1.1/hidden-500", "1.1/tanh"):
        assert early_colours[label[exp]] == later_colours[label[exp]]
    assert len(set(later_colours.values())) == 3


# -- a claim about time: decided from the interleaved timings the run's claim test kept beside the records ---------

def _fake_21(folder: Path, seeds: int, timed: int, *, device: str = "cpu", ratio: float = 1.08) -> None:
    """A full-profile 2.1 folder: ``seeds`` finished records per model and the claim test's interleaved timing of
    2.1/bn-costs-time for the first ``timed`` seeds (BN ``ratio`` times slower per step, a little noise)."""
    from bnbench.study.catalog import CLAIMS

    store, profile = Store(folder), get_profile("full")
    rng = np.random.default_rng(1)
    for exp in experiments_in("2.1"):
        for seed in range(seeds):
            config = scaled_config(exp.config, profile, exp.section, seed)
            final = (0.83 if exp.id.endswith("-bn") else 0.78) + rng.normal(0, 0.003)
            rows = [epoch_row(e, test_acc=final - 0.02 * (3 - e), steps=391, train_time_s=300.0) for e in (1, 2, 3)]
            rec = run_record(config=config.to_dict(), config_hash=config.hash, step_loss=list(np.linspace(2.3, 0.5, 30)),
                             epochs=rows, env={"git_commit": "b" * 40, "git_dirty": False, "torch": "2.14.1",
                                               "precision": "bf16-autocast", "device": device,
                                               "device_name": "CPU X", "torch_threads": 1},
                             started_at="2026-12-07T04:00:00+00:00", finished_at="2026-12-07T06:00:00+00:00")
            store.save_record(rec, exp.id, profile.name, seed, provenance=exp.provenance, reported_as=exp.reported_as)
    claim = CLAIMS["2.1/bn-costs-time"]
    for seed in range(timed):
        a, b = (scaled_config(side[0].config, profile, "2.1", seed).hash for side in (claim.a, claim.b))
        r = ratio + rng.normal(0, 0.005)
        store.save_timing(store.timing_path(claim.id, "full", seed, f"{a}-{b}-{device}"),
                          {"ratio_median": r, "a_s_per_step_median": 0.5 * r, "b_s_per_step_median": 0.5,
                           "ratio_per_pair": [r] * 7, "run_id": "run", "claim": claim.id, "profile": "full",
                           "seed": seed})


def test_a_claim_about_time_is_published_from_the_runs_kept_timings(tmp_path):
    run, dest, readme = tmp_path / "run", tmp_path / "results" / "full-2.1", tmp_path / "README.md"
    readme.write_text("# p\n")
    _fake_21(run, seeds=5, timed=1)
    pub = publish(run, dest, name="full-2.1", sections=("2.1",), readme=readme, repo_root=tmp_path)
    assert [(c.id, n) for c, n in pub.waiting] == [("2.1/bn-costs-time", 1)]     # one timed seed decides nothing
    _fake_21(tmp_path / "one", seeds=1, timed=0)
    (tmp_path / "R.md").write_text("# p\n")
    publish(tmp_path / "one", tmp_path / "one-pub", name="one", sections=("2.1",), readme=tmp_path / "R.md",
            repo_root=tmp_path)
    one = (tmp_path / "R.md").read_text()
    assert ("2 of 10 runs trained**; a claim decided on fewer than 5 seeds is provisional.\n\nNo claim is decided "
            "yet: a claim is decided once 2 seeds have every one of its runs finished (list below).\n\n" in one)
    assert "\n\n\n" not in one and "| claim |" not in one
    assert ("`2.1/bn-costs-time` (1 of 5 seeds complete: a seed counts once both sides' runs are finished and the "
            "claim's test has timed them interleaved" in readme.read_text())
    assert verify(dest) == []
    _fake_21(run, seeds=5, timed=5)              # the run's claim test timed the rest
    pub = publish(run, dest, name="full-2.1", sections=("2.1",), readme=readme, repo_root=tmp_path)
    assert not pub.waiting
    decided = {c.id: r for c, r in pub.decided}
    time_claim = decided["2.1/bn-costs-time"]
    assert time_claim.verdict == "supported" and len(time_claim.a_values) == 5
    assert time_claim.stats.mean_diff == pytest.approx(0.08, abs=0.01)     # BN 8% slower a step
    assert len(list((dest / "records").rglob("*-timing-*.json"))) == 5            # copied beside the records
    assert "| `2.1/bn-costs-time` | **supported** | n=5:" in readme.read_text()
    assert (dest / "plots" / "2.1_bn-costs-time.png").is_file()
    assert verify(dest) == []
    # a kept timing no claim reads (here: another device's) is still read back by verify
    stray = sorted((dest / "records").rglob("*seed0-timing-*-cpu.json"))[0]
    stray.with_name(stray.name.replace("-cpu.json", "-cuda.json")).write_text("[]")
    assert [p for p in verify(dest) if "a file does not read back" in p and "cuda.json" in p]
    stray.with_name(stray.name.replace("-cpu.json", "-cuda.json")).unlink()
    # a timing that does not read back is named by verify, and the claim waits for that seed again
    victim = sorted((dest / "records").rglob("*seed4-timing-*.json"))[0]
    victim.write_text('{"ratio_median": -1}')
    assert any("a file does not read back" in p and "ratio_median" in p for p in verify(dest))
    with pytest.warns(BnbenchSkippedFile):
        again = gather(dest, "full-2.1", "full", ("2.1",))
    assert [len(r.a_values) for c, r in again.decided if c.id == "2.1/bn-costs-time"] == [4]


def test_a_timing_kept_under_another_seeds_name_is_left_out(tmp_path):
    _fake_21(tmp_path, seeds=3, timed=3)
    path = sorted((tmp_path / "records").rglob("*seed1-timing-*.json"))[0]
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "seed": 0}))        # seed 0's timing copied over seed 1's
    with pytest.warns(BnbenchSkippedFile, match="where 2.1/bn-costs-time full seed 1 belongs"):
        pub = gather(tmp_path, "x", "full", ("2.1",))
    assert [(c.id, n) for c, n in pub.waiting] == [("2.1/bn-costs-time", 1)]


def test_the_published_report_shows_the_identity_gap_in_significant_digits():
    from bnbench.outputs.report import render

    page = render(ROOT / "results" / "full-1.1")
    row = page[page.index("<tr id='claim-1.1_cross-entropy-is-nll'>"):].split("</tr>")[0]
    assert "2.38e-07, 0.00, 0.00, 2.38e-07" in row and "+1.43e-07 [+1.86e-08" in row and "0.000000" not in row
