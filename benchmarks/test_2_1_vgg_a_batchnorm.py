"""Section 2.1 of the study: VGG-A with and without BatchNorm, the course template's settings
(Adam lr 1e-3, CrossEntropyLoss, batch 128, ~20 epochs; the test set serves as the validation set).

The study reports 77.52% without BatchNorm and 82.88% with it, at 7.33 s and 8.05 s per epoch.
"""
import pytest

from bnbench.study.catalog import claims_in, experiments_in


@pytest.mark.parametrize("experiment", experiments_in("2.1"), ids=str)
def test_train(experiment, train_experiment):
    train_experiment(experiment)


@pytest.mark.parametrize("claim", claims_in("2.1"), ids=str)
def test_claim(claim, check_claim):
    check_claim(claim)
