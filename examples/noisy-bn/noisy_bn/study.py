"""The study, declared through bnbench's public API (``import bnbench``) and nothing else: one section, three
experiments, two claims. bnbench loads it through the ``bnbench.studies`` entry point (pyproject.toml), in pytest
runs and in the ``bnbench`` command alike. Torch-free: the network is built on first use.

Santurkar et al. (2018), section 2.1 and Figure 2: a VGG on CIFAR-10 trained standard, with BatchNorm, and with
BatchNorm followed by noise (``noisy_bn.model``). The paper: noisy BatchNorm trains about as well as BatchNorm,
despite far more internal covariate shift, and both beat the network without BatchNorm.
"""
from __future__ import annotations

import bnbench
from bnbench import Scale, Setting, assumption

PAPER = "paper"   # Santurkar et al., 2018, section 2.1 and Figure 2
SECTION = "noisy-bn"


@bnbench.register_model(outputs="logits", study_batch_size=128, section=SECTION)
def VGG_A_NoisyBatchNorm(noise_mean: float = 0.5, noise_scale: float = 1.25):
    """VGG_A_BatchNorm with noise of non-zero mean and non-unit variance after every BatchNorm (noisy_bn.model)."""
    from noisy_bn.model import vgg_a_noisy_bn

    return vgg_a_noisy_bn(noise_mean, noise_scale)


_TEMPLATE = assumption("the paper's VGG recipe is not in its section 2.1; the course template's (Adam 1e-3, batch "
                       "128, cross-entropy), so the numbers sit beside bnbench's section 2.1")
bnbench.section(SECTION, title="noisy BatchNorm (Santurkar et al. 2018, section 2.1)",
                epochs=Setting(20, _TEMPLATE),
                base={"optimizer": Setting("adam", _TEMPLATE), "lr": Setting(1e-3, _TEMPLATE),
                      "momentum": Setting(0.0, _TEMPLATE), "weight_decay": Setting(0.0, _TEMPLATE),
                      "batch_size": Setting(128, _TEMPLATE), "loss": Setting("cross_entropy", _TEMPLATE),
                      "normalization": Setting("course", _TEMPLATE), "augment": Setting(False, _TEMPLATE),
                      "init": Setting("default", _TEMPLATE),
                      "seed": Setting(2020, assumption("the paper gives no seed; seed k is 2020 + k"))},
                scales={
                    # a machinery check: one epoch over 1,000 images, about a minute a run on a 2-core CPU
                    "smoke": Scale(epochs=1, train_per_class=100, test_per_class=50),
                    # the verdicts in README.md: 3 epochs over 5,000 images, 3 seeds
                    "quick": Scale(epochs=3, train_per_class=500, test_per_class=200)})

standard = bnbench.experiment(f"{SECTION}/vgg-a", "VGG-A (standard)", bnbench.recipe(SECTION, "VGG_A", model_source=PAPER))
batchnorm = bnbench.experiment(f"{SECTION}/vgg-a-bn", "VGG-A + BatchNorm",
                               bnbench.recipe(SECTION, "VGG_A_BatchNorm", model_source=PAPER))
_NOISE = {"noise_mean": Setting(0.5, assumption("the paper does not give the noise's size: m ~ U(-0.5, 0.5)")),
          "noise_scale": Setting(1.25, assumption("the paper does not give the noise's size: s ~ U(1, 1.25)"))}
noisy = bnbench.experiment(f"{SECTION}/vgg-a-noisy-bn", "VGG-A + noisy BatchNorm",
                           bnbench.recipe(SECTION, "VGG_A_NoisyBatchNorm", _NOISE, model_source=PAPER))


def _chance(runs: list[bnbench.RunRecord]) -> str | None:
    """A side that never trained past a uniform guess cannot speak to how well it trains."""
    run = runs[0]
    if run.diverged:
        return "the run diverged"
    return None if run.left_chance else f"its training loss never left chance level (final training accuracy " \
                                        f"{run.final_train_acc * 100:.1f}%)"


# Figure 2 plots *training* accuracy: the claim is about how a network trains, so its metric is the last epoch's
# training accuracy as measured while training (noise on, as the paper's networks trained). Test accuracy is in the
# records too; README.md says what it shows.
TRAIN_ACCURACY = bnbench.register_metric(bnbench.Metric(
    "final_train_acc", "final epoch's training accuracy (over its batches, in training mode, noise on)",
    scale=100.0, unit=" pp", measured_as="final epoch, training", regression="drop",
    reader=lambda runs: runs[0].final_train_acc, not_comparable=_chance, accuracy_panel="train"))

bnbench.claim(f"{SECTION}/noisy-bn-trains-like-bn", "noisy BatchNorm trains about as well as BatchNorm (Figure 2: "
              "the same training accuracy despite the injected covariate shift)", noisy, batchnorm, "equivalent",
              0.02, "2 points of accuracy: Figure 2's noisy and standard BatchNorm curves end within about a point",
              metric=TRAIN_ACCURACY)
bnbench.claim(f"{SECTION}/noisy-bn-beats-no-bn", "noisy BatchNorm trains better than the network without BatchNorm "
              "(Figure 2)", noisy, standard, "greater", 0.01,
              "1 point of accuracy: smaller gaps are within seed-to-seed spread", metric=TRAIN_ACCURACY)
