"""Section 1.2 of the study: the complex models ResNet and VGGNet, 100 epochs, SGD with nll_loss,
each with PyTorch's default initialisation and with xavier_uniform.

VGGNet is the study's own network (its published code): 14,777,162 parameters, exactly the table's. ResNet
reproduces the table's 4,737,098 with parameter-free shortcuts; the study's posted code has projection shortcuts
(4,910,922), available as ResNet_Projection. The recipe is the posted code's: batch 32, SGD lr 0.03, momentum
0.5, weight decay 1e-3; the study reported its checkpoint rule's accuracy, which bnbench compares like with like.
"""
import pytest

from bnbench.study.catalog import claims_in, experiments_in


@pytest.mark.parametrize("experiment", experiments_in("1.2"), ids=str)
def test_train(experiment, train_experiment):
    train_experiment(experiment)


@pytest.mark.parametrize("claim", claims_in("1.2"), ids=str)
def test_claim(claim, check_claim):
    check_claim(claim)
