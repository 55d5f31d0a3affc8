"""The study, claim by claim: its sections (epochs, base recipe, what smoke and quick train), its documented
numbers, its experiments (at the study's own scale, every setting with its source) and the claims built from them,
in the report's order. Reading this file should read like the report's sections. It declares the study through
bnbench's public API only (``import bnbench``: README "Your own study"), the same calls a user's study makes;
the machinery is in ``bnbench.study`` and ``bnbench.verdicts``. Torch-free.
"""
from __future__ import annotations

from bnbench import (Band, Scale, Setting as S, assumption, claim, document, experiment, recipe, register_metric,
                     section, width_mean)
from bnbench.study import curves as published_curves, documented as study
from bnbench.study.claims import CLAIMS, Claim, claims_in  # noqa: F401  (the registries, filled below)
from bnbench.study.experiments import EXPERIMENTS, Experiment, experiments_in  # noqa: F401

REPORT = study.REPORT

# ---------------------------------------------------------------------------------------------------------
# The study's sections. Smoke proves the machinery in minutes on a 2-core CPU; quick decides at a reduced scale
# within 45 minutes there (BENCHMARKS.md); full is the study's own scale. How the study read its accuracy off
# (report.md, "The study's published code"): section 1 keeps the checkpoint of the last epoch whose test loss is
# below every earlier one AND whose accuracy is above every earlier one; 2.1 prints the best epoch's validation
# accuracy. bnbench's verdicts use the final epoch (no selection on the test set); the documented check compares
# like with like.

section("1.1", title="MyNet", epochs=S(50, REPORT), base=study.SECTION_1, reported_as="checkpoint", scales={
    # MyNet is cheap: 2 epochs over 2,000 images shows the loss falling.
    "smoke": Scale(epochs=2, train_per_class=200, test_per_class=100),
    # batch 32 (the study's): 625 steps an epoch on 20,000 images, the whole test set.
    "quick": Scale(epochs=2, train_per_class=2000)})
section("1.2", title="ResNet and VGGNet", epochs=S(100, REPORT), base=study.SECTION_1, reported_as="checkpoint",
        scales={
            # VGG-16 trains at ~190 images/s on 2 CPU cores (bf16): two epochs over 1,500 images is what fits.
            "smoke": Scale(epochs=2, train_per_class=150, test_per_class=50),
            "quick": Scale(epochs=2, train_per_class=500, test_per_class=200)})
section("2.1", title="VGG-A with and without BatchNorm", epochs=S(20, study.TEMPLATE), base=study.SECTION_2,
        reported_as="best", scales={"smoke": Scale(epochs=2, train_per_class=200, test_per_class=50),
                                    "quick": Scale(epochs=3, train_per_class=500, test_per_class=200)})
section("2.2", title="the loss landscape", epochs=S(20, study.TEMPLATE), base=study.SECTION_2, scales={
    # Eight VGG-A runs for the band: 40 steps of 32 images each, enough to see the loss move.
    "smoke": Scale(epochs=1, train_per_class=128, test_per_class=10, max_steps=40, batch_size=32),
    # VGG_A without BatchNorm sits at ln 10 for its first ~100 steps (measured): 2.2 and 2.3 need ~150-300 steps
    # before their comparisons mean anything. 2 x 47 steps.
    "quick": Scale(epochs=2, train_per_class=600, test_per_class=50)})
# 2.3: Santurkar et al.'s 15,000 steps of 391 = 38.4 epochs
section("2.3", title="gradient predictiveness", epochs=S(39, study.PAPER), base=study.SANTURKAR, scales={
    "smoke": Scale(epochs=1, train_per_class=128, test_per_class=10, max_steps=40, batch_size=32, probe_every=8),
    # The default probing interval, so the overhead measured here is the one the budget is about; fp32 (the
    # paper's precision) makes these the slowest steps of the profile. 2 x 63 steps.
    "quick": Scale(epochs=2, train_per_class=800, test_per_class=50)})

# The study's tables (report.md), one row each: accuracy in percent, the total training time and the test "loss"
# as reported (bnbench.study.documented.STUDY_LOSS_CONVENTION).
for _key, _model, _params, _epochs, _time_s, _loss, _acc in [
    # 1.1 MyNet, 50 epochs. Tables A-D.
    ("1.1/A/base-ce", "MyNet", 152_820, 50, 206.2, 0.0577, 62.57),
    ("1.1/A/base-nll", "MyNet", 152_820, 50, 202.2, 0.0301, 67.55),
    ("1.1/A/adagrad", "MyNet", 152_820, 50, 212.9, 0.0407, 52.27),
    ("1.1/B/hidden-500", "MyNet", 657_220, 50, 192.9, 0.0288, 70.13),
    ("1.1/C/conv-5x5-3x3", "MyNet", None, 50, 191.8, 0.0246, 69.34),
    ("1.1/D/tanh", "MyNet", None, 50, 205.2, 0.0582, 61.15),
    # 1.2 complex models, 100 epochs, SGD + nll_loss.
    ("1.2/1/resnet-default", "ResNet", 4_737_098, 100, 815.0, 0.023, 75.51),
    ("1.2/1/vggnet-default", "VGGNet", 14_777_162, 100, 1387.3, 0.021, 80.34),
    ("1.2/1/resnet-xavier", "ResNet", 4_737_098, 100, 815.6, 0.024, 75.29),
    ("1.2/1/vggnet-xavier", "VGGNet", 14_777_162, 100, 1333.1, 0.020, 80.87),
    # 2.1 VGG-A with and without BatchNorm, ~20 epochs; the report gives s/epoch, not a total.
    ("2.1/1/vgg-a", "VGG_A", 9_750_922, 20, 7.33 * 20, None, 77.52),
    ("2.1/1/vgg-a-bn", "VGG_A_BatchNorm", 9_756_426, 20, 8.05 * 20, None, 82.88),
]:
    document(_key, model=_model, params=_params, epochs=_epochs, time_s=_time_s, loss=_loss, accuracy_percent=_acc)

# ---------------------------------------------------------------------------------------------------------
# Section 1.1: MyNet, 50 epochs, the study's posted recipe (study.SECTION_1: batch 32, SGD 0.03 / momentum 0.5,
# weight decay 1e-3, two Dropout(0.5)).


def _mynet(hidden: int, **args: S) -> dict[str, S]:
    return {"hidden": S(hidden, REPORT), **args}


_NO_DROPOUT_ARG = {k: v for k, v in study.SECTION_1.items() if k != "model_args.dropout"}


def _section_1(model: str, model_args: dict[str, S] | None = None, section: str = "1.1", **overrides: S):
    # the study's dropout setting is MyNet's constructor argument; VGGNet's dropout is part of the network
    table = study.SECTION_1 if model == "MyNet" else _NO_DROPOUT_ARG
    return recipe(section, model, model_args or {}, table=table, **overrides)


base_nll = experiment("1.1/base-nll", "SGD + nll_loss, hidden 100", _section_1("MyNet", _mynet(100)),
                      "1.1/A/base-nll")
base_ce = experiment("1.1/base-ce", "SGD + CrossEntropyLoss, hidden 100",
                     _section_1("MyNet", _mynet(100), loss=S("cross_entropy", REPORT)), "1.1/A/base-ce")
adagrad = experiment("1.1/adagrad", "Adagrad + nll_loss, hidden 100", _section_1(
    "MyNet", _mynet(100), optimizer=S("adagrad", REPORT),
    lr=S(0.01, assumption("Adagrad's learning rate is in neither the report nor the posted code; PyTorch's default")),
    weight_decay=S(1e-3, assumption("the posted SGD runs' weight decay, kept so that only the optimizer differs")),
    momentum=S(0.0, assumption("Adagrad has no momentum"))), "1.1/A/adagrad")
h500 = experiment("1.1/hidden-500", "SGD + nll_loss, hidden 500", _section_1("MyNet", _mynet(500)),
                  "1.1/B/hidden-500")
conv3 = experiment("1.1/conv-5x5-3x3", "second conv 3x3, hidden 500",
                   _section_1("MyNet", _mynet(500, conv2_kernel=S(3, REPORT))), "1.1/C/conv-5x5-3x3")
tanh = experiment("1.1/tanh", "tanh activations, hidden 500",
                  _section_1("MyNet", _mynet(500, activation=S("tanh", REPORT))), "1.1/D/tanh")

_ONE_POINT = "1 point of accuracy: smaller gaps are within the seed-to-seed spread of a 50-epoch CIFAR-10 run"
claim("1.1/nll-beats-cross-entropy", "SGD with nll_loss beats SGD with CrossEntropyLoss (67.55% vs 62.57%)",
      base_nll, base_ce, "greater", 0.01, _ONE_POINT,
      notes=("CrossEntropyLoss on log_softmax outputs is nll_loss, so a gap can only be seed noise: see the claim "
             "1.1/cross-entropy-is-nll, which checks the identity step by step",))

# The identity behind that claim, as its own claim decided from records: MyNet ends in log_softmax, so
# CrossEntropyLoss on its output is nll_loss. Per seed, both losses train the same network from the same seed in
# deterministic fp32 with dropout off (the check is about the loss: with Dropout(0.5) the 2-thread CPU kernels
# amplify the first 1e-7 rounding difference past 1e-3 within 8 steps; 1e-7 throughout without it, measured).
_IDENTITY = dict(
    deterministic=S(True, assumption("bit-reproducible kernels: the two runs are compared step by step")),
    precision=S("fp32", assumption("the identity is about the math, not bf16's three digits")),
    max_steps=S(10, assumption("the identity shows in the first steps, before training amplifies rounding")))
identity_nll = experiment("1.1/identity-nll", "nll_loss, deterministic fp32, no dropout", _section_1(
    "MyNet", _mynet(100, dropout=S(0.0, assumption("the check is about the loss, not dropout's draws"))),
    **_IDENTITY))
identity_ce = experiment("1.1/identity-ce", "CrossEntropyLoss, deterministic fp32, no dropout", _section_1(
    "MyNet", _mynet(100, dropout=S(0.0, assumption("the check is about the loss, not dropout's draws"))),
    loss=S("cross_entropy", REPORT), **_IDENTITY))
claim("1.1/cross-entropy-is-nll", "CrossEntropyLoss on MyNet's log_softmax output computes nll_loss: from the same "
      "seed the per-step training losses agree to float rounding", identity_ce, identity_nll, "not_greater", 1e-4,
      "1e-4: fp32 rounding of the log-probabilities is ~1e-7, while a different loss differs at the first step by "
      "far more", metric="step_loss_gap",
      notes=("training amplifies rounding (measured with the study's recipe: 1.8e-4 by step 10), so the gap is "
             "judged over the first 5 steps; the notes give the largest over all recorded steps",))
claim("1.1/nll-beats-adagrad", "SGD with nll_loss beats Adagrad with nll_loss (67.55% vs 52.27%)",
      base_nll, adagrad, "greater", 0.01, _ONE_POINT)
claim("1.1/hidden-500-beats-100", "hidden size 500 beats 100 (70.13% vs 67.55%)",
      h500, base_nll, "greater", 0.01, _ONE_POINT)
claim("1.1/conv-3x3-not-better", "a 3x3 second convolution is not better than 5x5 (69.34% vs 70.13%)",
      conv3, h500, "not_greater", 0.01, _ONE_POINT)
claim("1.1/relu-beats-tanh", "ReLU beats tanh (70.13% vs 61.15%)", h500, tanh, "greater", 0.01, _ONE_POINT)

# ---------------------------------------------------------------------------------------------------------
# Section 1.2: ResNet and VGGNet, 100 epochs, the same posted recipe. "xavier_uniform" is the study's: Linear
# weights only, Linear bias 0.01, convolutions at PyTorch's default (bnbench.engine.models.init_weights).

resnet = experiment("1.2/resnet-default", "ResNet, default init", _section_1("ResNet", section="1.2"),
                    "1.2/1/resnet-default")
vggnet = experiment("1.2/vggnet-default", "VGGNet, default init", _section_1("VGGNet", section="1.2"),
                    "1.2/1/vggnet-default")
_XAVIER = S("xavier_uniform", REPORT)
resnet_x = experiment("1.2/resnet-xavier", "ResNet, xavier_uniform init",
                      _section_1("ResNet", section="1.2", init=_XAVIER), "1.2/1/resnet-xavier")
vggnet_x = experiment("1.2/vggnet-xavier", "VGGNet, xavier_uniform init",
                      _section_1("VGGNet", section="1.2", init=_XAVIER), "1.2/1/vggnet-xavier")

claim("1.2/vggnet-beats-resnet", "VGGNet beats ResNet (80.34% vs 75.51%)", vggnet, resnet, "greater", 0.01,
      _ONE_POINT.replace("50-epoch", "100-epoch"), notes=(study.CONFLICTS[0],))
_LITTLE = "equivalence margin 1 point: the study's own differences are 0.22 and 0.53 points"
claim("1.2/xavier-changes-little-resnet", "xavier_uniform initialisation changes ResNet's accuracy little "
      "(75.29% vs 75.51%)", resnet_x, resnet, "equivalent", 0.01, _LITTLE, notes=(study.CONFLICTS[0],))
claim("1.2/xavier-changes-little-vggnet", "xavier_uniform initialisation changes VGGNet's accuracy little "
      "(80.87% vs 80.34%)", vggnet_x, vggnet, "equivalent", 0.01, _LITTLE)

# ---------------------------------------------------------------------------------------------------------
# Section 2.1: VGG-A with and without BatchNorm, the course template's settings (study.SECTION_2).

vgg_a = experiment("2.1/vgg-a", "VGG_A", recipe("2.1", "VGG_A"), "2.1/1/vgg-a")
vgg_a_bn = experiment("2.1/vgg-a-bn", "VGG_A_BatchNorm", recipe("2.1", "VGG_A_BatchNorm"), "2.1/1/vgg-a-bn")

claim("2.1/bn-improves-accuracy", "BatchNorm improves VGG-A's validation accuracy (82.88% vs 77.52%)",
      vgg_a_bn, vgg_a, "greater", 0.01, "1 point of accuracy: smaller gaps are within the seed-to-seed spread")
claim("2.1/bn-costs-time", "BatchNorm costs time per epoch (8.05 s vs 7.33 s, +9.8%)", vgg_a_bn, vgg_a, "greater",
      0.02, "2% of the time per step: smaller differences are within the jitter of interleaved timing",
      metric="interleaved_time", relative=True, documented_tolerance=0.05,
      notes=("times depend on the hardware: the study's ratio is compared, not its seconds",
             "timed interleaved (bnbench.engine.timing: both networks' training steps alternated in ABBA order, seconds "
             "apart), so the machine's drift over minutes cancels; the training runs' own s/epoch are shown too"))

# ---------------------------------------------------------------------------------------------------------
# Section 2.2: the course's "loss landscape": VGG_A and VGG_A_BatchNorm at four learning rates; per step, the
# band between the lowest and highest training loss over the learning rates. Verdicts use raw per-step losses.
# The same eight runs record the study's own section-2.3 measurement (the last Linear layer's gradient change
# between consecutive steps), so that claim needs no training of its own.

LEARNING_RATES = (1e-3, 2e-3, 1e-4, 5e-4)
_BAND_SETTINGS = dict(
    eval_every=S(20, assumption("the band needs training losses only: one evaluation, after the last epoch")),
    track_grad_change=S(True, study.STUDY_CODE))


def _band_run(model: str, lr: float):
    return recipe("2.2", model, lr=S(lr, REPORT), **_BAND_SETTINGS)


band_vgg_a = tuple(experiment(f"2.2/vgg-a-lr{lr:g}", f"VGG_A lr {lr:g}", _band_run("VGG_A", lr))
                   for lr in LEARNING_RATES)
band_vgg_a_bn = tuple(experiment(f"2.2/vgg-a-bn-lr{lr:g}", f"VGG_A_BatchNorm lr {lr:g}",
                                 _band_run("VGG_A_BatchNorm", lr)) for lr in LEARNING_RATES)
# The band metrics, each checked against and drawn beside the study's published curves (bnbench.study.curves).
register_metric(Band("band_max_mean", "mean over steps of max_curve (the band's upper edge: training loss, max over "
                     "learning rates)", quantity="loss", published=published_curves))
register_metric(Band("band_width_mean", "mean over steps of max_curve - min_curve (the band's width)", quantity="loss",
                     statistic=width_mean, study_statistic="width", published=published_curves))
register_metric(Band("grad_band_max_mean", "mean over steps of the upper edge of the band (max over learning rates) "
                     "of ||g_last(t) - g_last(t-1)||", quantity="grad", published=published_curves))
_FIVE_PERCENT = "5% of the statistic: smaller differences are within the seed-to-seed spread of a training curve"
# documented_tolerance: the study's effect on its own curves (e.g. -48% for the band's upper edge) is one seed's;
# within 15 points of it, and pointing the same way, counts as reproduced.
_SIDES = dict(a_label="VGG_A_BatchNorm (4 learning rates)", b_label="VGG_A (4 learning rates)",
              documented_tolerance=0.15)
claim("2.2/bn-band-lower", "with BatchNorm the loss is lower at the same step (a lower band)",
      band_vgg_a_bn, band_vgg_a, "less", 0.05, _FIVE_PERCENT, metric="band_max_mean", relative=True, **_SIDES,
      notes=("wording tested: 'smaller loss in the same step' (the study's report, 2.2); statistic: mean over steps "
             "of max_curve",))
claim("2.2/bn-band-narrower", "with BatchNorm the band across learning rates is narrower",
      band_vgg_a_bn, band_vgg_a, "less", 0.05, _FIVE_PERCENT, metric="band_width_mean", relative=True, **_SIDES,
      notes=("wording tested: 'a narrower band' is Santurkar et al.'s and the course design's, not the study's "
             "(the study says the loss 'declines faster' and is smaller at the same step)",
             "lower and narrower are separate claims: a band can be lower yet wider"))

# ---------------------------------------------------------------------------------------------------------
# Section 2.3, as the study measured it: from the 2.2 runs, per step the l2 norm of the change of the last Linear
# layer's weight gradient between consecutive steps, banded over the four learning rates.

_PROSE = ("the study's own prose reads its figure the other way ('with BN ... relatively drastic'); "
          "this verdict comes from the measurement, not the prose")
claim("2.3/bn-last-layer-grad-change-smaller", "with BatchNorm the last layer's gradient changes less from step "
      "to step (the study's own 2.3 measurement)", band_vgg_a_bn, band_vgg_a, "less", 0.25,
      "25%: a change within a quarter is not the clear separation the study's figure shows",
      metric="grad_band_max_mean", relative=True, **_SIDES,
      notes=("the study's measurement (report.md, 'The study's published code'), not Santurkar's probe; statistic: "
             "mean over steps of the band's upper edge (max over the four learning rates)", _PROSE))

# Section 2.3, as Santurkar et al. measured it: gradient predictiveness and beta-smoothness along the training
# trajectory, SGD lr 0.1, batch 128, up to 15,000 steps, no augmentation, Glorot init (VGG_A's own xavier_normal),
# fp32 like the paper.

_PROBES = dict(eval_every=S(39, assumption("the probes need training only: one evaluation, after the last epoch")),
               probe_every=S(30, assumption("probes every 30 steps on the current training batch in train mode: "
                                            "within the 25% probing-time budget (bnbench.engine.probes.DEFAULT_EVERY)")))
probe_vgg_a = experiment("2.3/vgg-a-sgd", "VGG_A (SGD 0.1)", recipe("2.3", "VGG_A", **_PROBES))
probe_vgg_a_bn = experiment("2.3/vgg-a-bn-sgd", "VGG_A_BatchNorm (SGD 0.1)",
                            recipe("2.3", "VGG_A_BatchNorm", **_PROBES))
_QUARTER = "25%: the paper reports about two orders of magnitude; a change within a quarter is not that effect"
claim("2.3/bn-gradients-more-predictive", "with BatchNorm the gradients are more predictive (smaller gradient change "
      "along the gradient direction)", probe_vgg_a_bn, probe_vgg_a, "less", 0.25, _QUARTER,
      metric="grad_change_median", relative=True, notes=(_PROSE,))
claim("2.3/bn-smaller-beta", "with BatchNorm the effective beta-smoothness is smaller", probe_vgg_a_bn, probe_vgg_a,
      "less", 0.25, _QUARTER, metric="beta_median", relative=True, notes=(_PROSE,))
