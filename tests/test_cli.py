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
    from bnbench.claims import CLAIMS

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
