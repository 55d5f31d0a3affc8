"""Declaring a claim: a mistake in its kind, margin or sides is refused when the claim is declared, in one line
naming it, not in decide() after hours of training."""
import pytest

from bnbench.errors import ConfigError
from bnbench.study.catalog import CLAIMS, EXPERIMENTS, claim


@pytest.mark.parametrize("kind, margin, extra, sides, why", [
    ("greatr", 0.01, {}, None, "kind 'greatr' is not known"),
    ("greater", -0.01, {}, None, "margin -0.01 must be a finite number >= 0"),
    ("greater", float("nan"), {}, None, "margin nan"),
    ("greater", "1", {}, None, "margin '1'"),
    ("equivalent", 1.0, {"relative": True}, None, "a relative margin of 1"),
    ("greater", 0.01, {}, ((), None), "side a must be an experiment"),
    ("greater", 0.01, {}, (None, "1.1/tanh"), "side b must be an experiment"),
])
def test_a_bad_claim_is_refused_at_declaration(kind, margin, extra, sides, why):
    a, b = EXPERIMENTS["1.1/hidden-500"], EXPERIMENTS["1.1/tanh"]
    if sides is not None:
        a = sides[0] if sides[0] is not None else a
        b = sides[1] if sides[1] is not None else b
    with pytest.raises(ConfigError, match=f"claim 'mine/x': {why}"):
        claim("mine/x", "s", a, b, kind, margin, "r", **extra)
    assert "mine/x" not in CLAIMS
