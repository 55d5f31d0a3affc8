"""Section 1.1 of the study: the simple model MyNet (the PyTorch MNIST example adapted to CIFAR-10), 50 epochs.

Tables A-D vary the optimizer and loss (SGD/Adagrad, nll_loss/CrossEntropyLoss), the hidden size (100/500),
the second convolution (5x5/3x3) and the activation (ReLU/tanh). Each variant is trained for every seed,
then each of the study's conclusions gets a verdict.
"""
import pytest

from bnbench.study.catalog import CLAIMS, claims_in, experiments_in


@pytest.mark.parametrize("experiment", experiments_in("1.1"), ids=str)
def test_train(experiment, train_experiment):
    train_experiment(experiment)


def test_cross_entropy_is_nll(bnbench_session, bnbench_profile):
    """MyNet ends in log_softmax, so CrossEntropyLoss on its output is nll_loss: at every profile (smoke included,
    whose verdicts are all "inconclusive"), each seed's two deterministic fp32 runs agree over the first steps to
    float rounding. The claim 1.1/cross-entropy-is-nll decides the same from the same records."""
    claim = CLAIMS["1.1/cross-entropy-is-nll"]
    records = {e.id: bnbench_session.run_all(e, bnbench_profile) for e in claim.experiments}
    gaps, _, blocked = claim.metric.values(claim, records, None)
    assert not blocked, blocked
    assert max(gaps) <= claim.margin, gaps


@pytest.mark.parametrize("claim", claims_in("1.1"), ids=str)
def test_claim(claim, check_claim):
    check_claim(claim)
