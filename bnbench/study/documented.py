"""The study's documented tables, as data, each row with its source (section, table, row).

Transcribed from the course report "Project 2" (CIFAR-10 classification; Batch Normalization after
Santurkar et al., 2018). Benchmarks and verdicts read the study's numbers from here and nowhere else.
Torch-free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# The study's test "loss" is the sum of per-batch mean losses divided by the number of test images, i.e.
# the per-sample mean divided by the test batch size. 0.0301 at 67.55% accuracy only makes sense as a
# cross-entropy of ~0.96 (= 0.0301 x 32), so the study's test batch size is inferred to be 32.
STUDY_LOSS_CONVENTION = "mean loss / test batch size (sum of per-batch means / test images)"
STUDY_TEST_BATCH_INFERRED = 32


@dataclass(frozen=True)
class DocumentedRow:
    key: str                  # "1.1/A/base-nll": section/table/row
    section: str
    table: str
    row: str                  # the row's label in the report
    model: str
    params: int | None        # None where the report does not give it
    epochs: int
    time_s: float | None      # total training time the report gives (for 2.1: per epoch x epochs)
    loss: float | None        # the report's test "loss", in STUDY_LOSS_CONVENTION
    accuracy: float           # test (2.1: validation = test set) accuracy, as a fraction

    @property
    def s_per_epoch(self) -> float | None:
        return None if self.time_s is None else self.time_s / self.epochs

    @property
    def loss_per_sample(self) -> float | None:
        """The report's loss converted to a per-sample mean (an inference, see STUDY_TEST_BATCH_INFERRED)."""
        return None if self.loss is None else self.loss * STUDY_TEST_BATCH_INFERRED


ROWS: dict[str, DocumentedRow] = {}


def document(key: str, *, model: str, accuracy_percent: float, epochs: int, params: int | None = None,
             time_s: float | None = None, loss: float | None = None) -> DocumentedRow:
    """Register one documented row of a study's table: ``key`` is "<section>/<table>/<row>" (an experiment names
    it as ``documented=key``), ``accuracy_percent`` the test accuracy the study reports, in percent; ``time_s`` its
    total training time, ``loss`` its test loss as it reports it. A ConfigError names the row on bad input."""
    from bnbench.errors import ConfigError

    parts = key.split("/") if isinstance(key, str) else []
    if len(parts) != 3 or not all(parts):
        raise ConfigError(f"documented row {key!r}: a key is '<section>/<table>/<row>', e.g. '3.1/2/noisy-bn'")
    if key in ROWS:
        raise ConfigError(f"documented row {key!r} is registered twice")
    numbers = {"accuracy_percent": accuracy_percent, "epochs": epochs, "params": params, "time_s": time_s,
               "loss": loss}
    for name, v in numbers.items():
        if v is None and name not in ("accuracy_percent", "epochs"):
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"documented row {key!r}: {name} {v!r} is not a finite number >= 0")
    if accuracy_percent > 100 or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"documented row {key!r}: accuracy_percent is 0..100 and epochs a whole number >= 1")
    section, table, row_label = parts
    ROWS[key] = DocumentedRow(key, section, table, row_label, model, params, epochs, time_s, loss,
                              accuracy_percent / 100.0)
    return ROWS[key]


def row(key: str) -> DocumentedRow:
    from bnbench.errors import ConfigError

    try:
        return ROWS[key]
    except KeyError:
        raise ConfigError(f"no documented row {key!r}; known rows: {', '.join(ROWS) or 'none'} (register one with "
                          "bnbench.document)") from None


# ---------------------------------------------------------------------------------------------------------
# The recipes the study ran, setting by setting, each with where it comes from. Experiments (bnbench.study.claims)
# are built from these tables and record the provenance of every setting; tests/test_claims.py holds every
# experiment against them, so a drifting default fails there.

STUDY_CODE = "study code"            # the study's published scripts (report.md, "The study's published code")
REPORT = "report"                    # the study's report itself
TEMPLATE = "course template"         # the course's template code the study's section 2 runs
PAPER = "paper"                      # Santurkar et al., 2018
EXECUTION = "bnbench: execution"     # how bnbench computes, not what: device-side data, memory layout, eval batch


def assumption(reason: str) -> str:
    """The provenance of a setting none of the sources gives: bnbench's choice, with its reason."""
    return f"assumption: {reason}"


@dataclass(frozen=True)
class Setting:
    value: object
    source: str


def _settings(source: str, **values) -> dict[str, Setting]:
    return {k: Setting(v, source) for k, v in values.items()}


# What the study's scripts do that TrainConfig calls a default: the whole official split, every epoch, no probes.
_WHOLE_RUN = _settings(STUDY_CODE, train_per_class=None, test_per_class=None, max_steps=None, probe_every=0)
# Section 1 (project2_MyNet.py, project2_My_Res_Net.py, project2_My_VGG_Net.py as posted).
SECTION_1 = {
    **_WHOLE_RUN,
    **_settings(STUDY_CODE, optimizer="sgd", lr=0.03, momentum=0.5, weight_decay=1e-3, batch_size=32, loss="nll",
                normalization="course", augment=False, init="default", eval_every=1),
    "model_args.dropout": Setting(0.5, STUDY_CODE),   # MyNet's two Dropout(0.5); VGGNet's are part of the network
    "seed": Setting(0, assumption("the posted scripts set no seed; seed k of a profile is base 0 + k")),
}
# Section 2 (the course template: VGG_Loss_Landscape_*.py).
SECTION_2 = {
    **_WHOLE_RUN,
    **_settings(TEMPLATE, optimizer="adam", lr=1e-3, momentum=0.0, weight_decay=0.0, batch_size=128,
                loss="cross_entropy", normalization="course", augment=False, init="default", seed=2020,
                eval_every=1),
}
# Section 2.3 as Santurkar et al. measured it (SGD, constant lr 0.1, batch 128, 15,000 steps, fp32).
SANTURKAR = {
    **_WHOLE_RUN,
    **_settings(PAPER, optimizer="sgd", lr=0.1, momentum=0.0, weight_decay=0.0, batch_size=128, max_steps=15_000,
                loss="cross_entropy", normalization="course", augment=False, precision="fp32", init="default"),
    "seed": Setting(2020, assumption("the paper gives no seed; the course template's 2020 + k")),
}
# Where the study's code and its report disagree; the report's number stands as the documented value.
CONFLICTS = (
    "1.2 ResNet: the table gives 4,737,098 parameters (parameter-free shortcuts); the posted code has 1x1-conv "
    "projection shortcuts (4,910,922). bnbench's ResNet reproduces the table; ResNet_Projection is the posted "
    "code's network.",
    "1.1 loss: the CE variant's posted code uses CrossEntropyLoss on log_softmax outputs, which is nll_loss "
    "exactly; the table's 5-point gap between them cannot come from the loss.",
)
