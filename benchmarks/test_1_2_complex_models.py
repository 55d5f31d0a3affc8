"""Section 1.2 of the study: the complex models ResNet and VGGNet, 100 epochs, SGD with nll_loss,
each with PyTorch's default initialisation and with xavier_uniform.

VGGNet is a reconstruction: the study's 14,777,162 parameters match no natural definition, and the
no-BatchNorm VGG-16 stack does not leave chance level under SGD. bnbench uses the VGG-16 stack with
BatchNorm and a 512-100-100-10 head (14,785,546 parameters); see bnbench.models.vgg.VGGNet.
"""
import pytest

from bnbench.claims import claims_in, experiments_in


@pytest.mark.parametrize("experiment", experiments_in("1.2"), ids=str)
def test_train(experiment, train_experiment):
    train_experiment(experiment)


@pytest.mark.parametrize("claim", claims_in("1.2"), ids=str)
def test_claim(claim, check_claim):
    check_claim(claim)
