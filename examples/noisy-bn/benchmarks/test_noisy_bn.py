"""The noisy-BatchNorm study's benchmarks: every experiment trained, every claim decided. `pytest benchmarks`
runs the smoke profile, `-m quick` the verdicts in README.md (the same markers and options as bnbench's own)."""
import pytest

import bnbench

SECTION = "noisy-bn"


@pytest.mark.parametrize("experiment", bnbench.experiments_in(SECTION), ids=str)
def test_train(experiment, train_experiment):
    train_experiment(experiment)


@pytest.mark.parametrize("claim", bnbench.claims_in(SECTION), ids=str)
def test_claim(claim, check_claim):
    check_claim(claim)
