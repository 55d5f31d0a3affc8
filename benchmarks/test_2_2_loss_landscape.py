"""Section 2.2 of the study: the course's "loss landscape". VGG_A and VGG_A_BatchNorm are trained at each
learning rate of [1e-3, 2e-3, 1e-4, 5e-4] (Adam, the template's optimizer); per step, max_curve and min_curve
over the learning rates bound a band, one per model. The study: with BatchNorm the band is lower and narrower.
Lower and narrower are two claims with two verdicts; both use the raw per-step losses (smoothing is display only).
"""
import pytest

from bnbench.study.catalog import claims_in, experiments_in


@pytest.mark.parametrize("experiment", experiments_in("2.2"), ids=str)
def test_train(experiment, train_experiment):
    train_experiment(experiment)


@pytest.mark.parametrize("claim", claims_in("2.2"), ids=str)
def test_claim(claim, check_claim):
    check_claim(claim)
