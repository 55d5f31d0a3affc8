"""The bnbench command: structure tables, claims, summaries; user errors are one line with status 2."""
import json

from bnbench.cli import main


def test_models_and_structure(capsys):
    assert main(["models", "VGG*"]) == 0
    out = capsys.readouterr().out
    assert "VGG_A_BatchNorm" in out and "9,756,426" in out
    assert main(["structure", "MyNet", "hidden=500"]) == 0
    out = capsys.readouterr().out
    assert "657,220" in out.replace(" ", "") or "657220" in out


def test_bad_model_argument_is_one_line(capsys):
    assert main(["structure", "MyNet", "hidden"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NAME=VALUE" in err
    assert main(["structure", "LeNet"]) == 2
    assert "LeNet" in capsys.readouterr().err


def test_claims_lists_every_claim(capsys):
    from bnbench.study.catalog import CLAIMS

    assert main(["claims"]) == 0
    out = capsys.readouterr().out
    assert all(cid in out for cid in CLAIMS)


def test_summary_reprints_and_refuses_unknown_versions(tmp_path, capsys):
    result = {"claim_id": "1.1/hidden-500-beats-100", "profile": "quick", "verdict": "supported", "reason": "r",
              "a_values": [0.70, 0.71], "b_values": [0.66, 0.67], "documented": [], "notes": [],
              "a_s_per_epoch": 1.0, "b_s_per_epoch": 1.0, "plot": "plots/x.png"}
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 1, "claims": [result]}))
    assert main(["summary", str(tmp_path)]) == 0
    assert "supported" in capsys.readouterr().out
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 7, "claims": []}))
    assert main(["summary", str(tmp_path)]) == 2
    assert "version 7" in capsys.readouterr().err
    assert main(["summary", str(tmp_path / "missing")]) == 2


def _summary(path, acc_a, acc_b, s_per_epoch=1.0, verdict="supported"):
    path.mkdir(parents=True, exist_ok=True)
    result = {"claim_id": "1.1/hidden-500-beats-100", "profile": "quick", "verdict": verdict, "reason": "r",
              "a_values": acc_a, "b_values": acc_b, "documented": [], "notes": [],
              "a_s_per_epoch": s_per_epoch, "b_s_per_epoch": s_per_epoch, "plot": None}
    (path / "summary.json").write_text(json.dumps({"schema_version": 1, "claims": [result]}))
    return str(path)


def test_compare_same_run_is_clean_and_a_weakened_or_slowed_run_fails(tmp_path, capsys):
    base = _summary(tmp_path / "base", [0.70, 0.71, 0.705], [0.66, 0.665, 0.67])
    same = _summary(tmp_path / "same", [0.70, 0.71, 0.705], [0.66, 0.665, 0.67])
    assert main(["compare", base, same]) == 0
    weak = _summary(tmp_path / "weak", [0.64, 0.65, 0.645], [0.66, 0.665, 0.67], verdict="contradicted")
    assert main(["compare", base, weak]) == 1
    out = capsys.readouterr().out
    assert "regression: 1.1/hidden-500-beats-100" in out and "supported -> contradicted" in out
    slow = _summary(tmp_path / "slow", [0.70, 0.71, 0.705], [0.66, 0.665, 0.67], s_per_epoch=2.0)
    assert main(["compare", base, slow]) == 1
    assert main(["compare", base, slow, "--max-slowdown", "3"]) == 0


def test_report_is_one_self_contained_escaped_file(tmp_path):
    from bnbench.outputs.plots import plot_documented

    run = tmp_path / "run"
    _summary(run, [0.70, 0.71], [0.66, 0.67])
    data = json.loads((run / "summary.json").read_text())
    data["claims"][0]["plot"] = "plots/documented.png"
    data["claims"][0]["reason"] = "<script>alert(1)</script>"
    (run / "summary.json").write_text(json.dumps(data))
    plot_documented(run / "plots" / "documented.png", [{"label": "x", "study": 0.7, "measured": [0.69, 0.71]}])
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "data:image/png;base64," in page and "1.1/hidden-500-beats-100" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "src=\"http" not in page and "href=\"http" not in page     # nothing loaded from elsewhere


def test_report_takes_relative_and_linked_paths(tmp_path, monkeypatch, capsys):
    """The README's own `bnbench report bnbench-results`, run from the folder's parent: the output folder's check
    compares resolved paths, so a relative DIR or -o, or one through a link, is inside it."""
    _summary(tmp_path / "bnbench-results", [0.70, 0.71], [0.66, 0.67])
    (tmp_path / "link").symlink_to(tmp_path / "bnbench-results")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "bnbench-results"]) == 0
    assert (tmp_path / "bnbench-results" / "report.html").is_file()
    assert main(["report", "bnbench-results", "-o", "pages/r.html"]) == 0
    assert main(["report", "link", "-o", "link/again.html"]) == 0
    assert (tmp_path / "pages" / "r.html").is_file() and (tmp_path / "bnbench-results" / "again.html").is_file()
    assert main(["report", "bnbench-results", "-o", "pages"]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_report_opens_in_a_headless_browser(tmp_path):
    """What a user sees: Chromium renders the report with its table and image. Skipped where no Chromium is
    installed (`apt-get install chromium`)."""
    import shutil
    import subprocess

    import pytest
    from bnbench.outputs.plots import plot_documented

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine")
    run = tmp_path / "run"
    _summary(run, [0.70, 0.71], [0.66, 0.67])
    data = json.loads((run / "summary.json").read_text())
    data["claims"][0]["plot"] = "plots/documented.png"
    (run / "summary.json").write_text(json.dumps(data))
    plot_documented(run / "plots" / "documented.png", [{"label": "x", "study": 0.7, "measured": [0.69, 0.71]}])
    assert main(["report", str(run)]) == 0
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", (run / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=60).stdout
    assert "<table>" in dom and "1.1/hidden-500-beats-100" in dom and "data:image/png;base64," in dom


def test_power_prints_the_table_by_seed_count(capsys):
    assert main(["power", "--sims", "4000"]) == 0
    out = capsys.readouterr().out
    assert "0.7 x the minimum effect" in out and "paired t" in out
    rows = {int(line.split()[0]): [float(x.rstrip("%")) for x in line.split()[1:]]
            for line in out.splitlines() if line.strip() and line.split()[0].isdigit()}
    assert sorted(rows) == [2, 3, 5, 8, 10]
    for n, (fp, p1, p2, c0, c1, c2) in rows.items():
        assert fp <= 5.0 + 1.5 and c1 <= 5.0 + 1.5        # the rule's error rates, with Monte-Carlo slack
        assert fp <= p1 <= p2 and p1 <= 55.0
    assert rows[2][2] < 60.0 and rows[10][2] > 99.0      # 2x the margin: rarely found with 2 seeds, always with 10
    assert main(["power", "--sd", "2", "--n", "3", "--kind", "equivalent", "--sims", "2000"]) == 0
    out = capsys.readouterr().out
    assert "'equivalent'" in out and "2 x the minimum effect" in out
    assert main(["power", "--sd", "0"]) == 2
    assert "SD" in capsys.readouterr().err


def test_experiments_lists_every_setting_with_its_source(capsys):
    assert main(["experiments", "1.1/adagrad"]) == 0
    out = capsys.readouterr().out
    assert "batch_size" in out and "study code" in out and "assumption: Adagrad's learning rate" in out
    assert main(["experiments", "9.9/*"]) == 2
    assert "no experiment matches" in capsys.readouterr().err


def test_summary_as_markdown_and_csv_keeps_the_evidence(tmp_path, capsys):
    result = {"claim_id": "1.1/hidden-500-beats-100", "profile": "quick", "verdict": "inconclusive",
              "reason": "inconclusive: within noise", "a_values": [0.70, 0.71, 0.72], "b_values": [0.69, 0.70, 0.72],
              "documented": [], "notes": [], "a_s_per_epoch": 1.0, "b_s_per_epoch": 1.0, "plot": None,
              "stats": {"n": 3, "mean_diff": 0.0067, "ci_low": -0.003, "ci_high": 0.016, "confidence": 0.9,
                        "relative": False}}
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 1, "claims": [result]}))
    assert main(["summary", str(tmp_path), "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("| claim | profile | verdict | evidence |")
    assert "n=3: +0.67 [-0.30, +1.60] pp (90% t-interval); margin 1 pp" in md and "within noise" in md
    assert main(["summary", str(tmp_path), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("claim,profile,verdict,evidence")
