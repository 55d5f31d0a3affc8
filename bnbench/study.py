"""The study's documented tables, as data, each row with its source (section, table, row).

Transcribed from the course report "Project 2" (CIFAR-10 classification; Batch Normalization after
Santurkar et al., 2018). Benchmarks and verdicts read the study's numbers from here and nowhere else.
Torch-free.
"""
from __future__ import annotations

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


def _row(key, model, params, epochs, time_s, loss, acc_percent):
    section, table, row = key.split("/")
    return DocumentedRow(key, section, table, row, model, params, epochs, time_s, loss, acc_percent / 100.0)


ROWS: dict[str, DocumentedRow] = {r.key: r for r in [
    # 1.1 MyNet, 50 epochs. Tables A-D.
    _row("1.1/A/base-ce", "MyNet", 152_820, 50, 206.2, 0.0577, 62.57),
    _row("1.1/A/base-nll", "MyNet", 152_820, 50, 202.2, 0.0301, 67.55),
    _row("1.1/A/adagrad", "MyNet", 152_820, 50, 212.9, 0.0407, 52.27),
    _row("1.1/B/hidden-500", "MyNet", 657_220, 50, 192.9, 0.0288, 70.13),
    _row("1.1/C/conv-5x5-3x3", "MyNet", None, 50, 191.8, 0.0246, 69.34),
    _row("1.1/D/tanh", "MyNet", None, 50, 205.2, 0.0582, 61.15),
    # 1.2 complex models, 100 epochs, SGD + nll_loss.
    _row("1.2/1/resnet-default", "ResNet", 4_737_098, 100, 815.0, 0.023, 75.51),
    _row("1.2/1/vggnet-default", "VGGNet", 14_777_162, 100, 1387.3, 0.021, 80.34),
    _row("1.2/1/resnet-xavier", "ResNet", 4_737_098, 100, 815.6, 0.024, 75.29),
    _row("1.2/1/vggnet-xavier", "VGGNet", 14_777_162, 100, 1333.1, 0.020, 80.87),
    # 2.1 VGG-A with and without BatchNorm, ~20 epochs; the report gives s/epoch, not a total.
    _row("2.1/1/vgg-a", "VGG_A", 9_750_922, 20, 7.33 * 20, None, 77.52),
    _row("2.1/1/vgg-a-bn", "VGG_A_BatchNorm", 9_756_426, 20, 8.05 * 20, None, 82.88),
]}


def row(key: str) -> DocumentedRow:
    try:
        return ROWS[key]
    except KeyError:
        raise KeyError(f"no documented row {key!r}; known rows: {', '.join(ROWS)}") from None


def section_rows(section: str) -> list[DocumentedRow]:
    return [r for r in ROWS.values() if r.section == section]
