"""Section 2.3 of the study (after Santurkar et al., 2018): along the training trajectory, every k steps and on
the current batch, the loss along the gradient direction L(w - eta g), the gradient predictiveness
||grad L(w) - grad L(w - eta g)|| and the effective beta-smoothness, for eta in [0.5, 4] x lr. The claim: with
BatchNorm the gradients are more predictive and the landscape smoother. Probing restores weights, optimizer state
and BatchNorm statistics exactly, so the probed trajectory is the unprobed one.
"""
import pytest

from bnbench.study.catalog import claims_in, experiments_in

PROBING_BUDGET = 1.25   # probing at the default interval may add at most 25% to training time


@pytest.mark.parametrize("experiment", experiments_in("2.3"), ids=str)
def test_train(experiment, train_experiment, bnbench_profile):
    records = train_experiment(experiment)
    for r in records:
        assert r.probes, "no probe points recorded"
        if r.config["probe_every"] == experiment.config.probe_every:   # the default interval, not a smoke override
            assert r.probe_overhead <= PROBING_BUDGET, f"probing overhead {r.probe_overhead:.2f}x"


@pytest.mark.parametrize("claim", claims_in("2.3"), ids=str)
def test_claim(claim, check_claim):
    check_claim(claim)
