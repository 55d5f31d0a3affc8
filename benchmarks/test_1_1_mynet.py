"""Section 1.1 of the study: the simple model MyNet (the PyTorch MNIST example adapted to CIFAR-10), 50 epochs.

Tables A-D vary the optimizer and loss (SGD/Adagrad, nll_loss/CrossEntropyLoss), the hidden size (100/500),
the second convolution (5x5/3x3) and the activation (ReLU/tanh). Each variant is trained for every seed,
then each of the study's conclusions gets a verdict.
"""
import pytest

from bnbench.claims import base_ce, base_nll, claims_in, experiments_in


@pytest.mark.parametrize("experiment", experiments_in("1.1"), ids=str)
def test_train(experiment, train_experiment):
    train_experiment(experiment)


def test_cross_entropy_is_nll(bnbench_session, bnbench_profile, benchmark):
    """MyNet ends in log_softmax, so CrossEntropyLoss on its output is nll_loss: from one seed, in deterministic
    fp32 mode with dropout off (the check is about the loss), the two runs start identical and differ only by float
    rounding. Whatever gap the study saw came
    from elsewhere (seeds, or a different setup)."""
    found = benchmark.pedantic(bnbench_session.compare_step_losses, args=(base_nll, base_ce, bnbench_profile),
                               rounds=1, iterations=1)
    benchmark.extra_info.update(found)
    bnbench_session.findings["1.1/nll-beats-cross-entropy"] = found
    assert found["steps"] > 0
    # logsumexp of log-probabilities is log 1 = 0 only to ~1e-7, so the two losses agree to rounding at first;
    # training then amplifies the rounding (measured: 3e-5 after 32 steps, 0.04 after 782), the way any two
    # nearly identical SGD trajectories drift apart. The identity is checked where rounding has not yet grown.
    # With the study's recipe (lr 0.03, momentum 0.5, weight decay 1e-3) the amplification is fast: measured on 2
    # threads at quick scale, 1.8e-4 by step 10 and past 1e-3 at step 10; the first 5 steps stay at rounding.
    assert found["max_abs_diff_first_5"] <= 1e-4, found


@pytest.mark.parametrize("claim", claims_in("1.1"), ids=str)
def test_claim(claim, check_claim):
    check_claim(claim)
