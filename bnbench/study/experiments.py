"""Experiments: one training configuration each, at the study's own scale, trained once per seed. Every setting
carries where its value comes from (``provenance``: study code, report, course template, paper, or an assumption
with its reason), so nothing is an unexplained default. The study's own experiments are defined in
``bnbench.study.catalog``. Torch-free.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from bnbench.engine.config import TrainConfig
from bnbench.study import documented as study

@dataclass(frozen=True)
class Experiment:
    id: str                         # "1.1/hidden-500"
    label: str                      # how the report names the variant
    config: TrainConfig             # at the study's scale; the seed is the base seed
    documented: str | None = None   # key into study.ROWS
    provenance: dict[str, str] = field(default_factory=dict)  # setting -> where its value comes from (study.py)
    reported_as: str = "final"      # how the study read off its accuracy: final | best | checkpoint (engine/record.py)

    @property
    def section(self) -> str:
        return self.id.split("/")[0]

    @property
    def assumptions(self) -> tuple[str, ...]:
        """The settings none of the study's sources gives, each as "setting=value: reason"."""
        return tuple(f"{key}={_setting_value(self.config, key)!r}: {source[len('assumption: '):]}"
                     for key, source in self.provenance.items() if source.startswith("assumption: "))

    def __str__(self) -> str:
        return self.id


EXPERIMENTS: dict[str, Experiment] = {}


def _setting_value(config: TrainConfig, key: str):
    if key.startswith("model_args."):
        return config.model_args.get(key.split(".", 1)[1])
    return getattr(config, key)


# The provenance of the settings that say how bnbench computes rather than what: the same for every experiment.
_EXECUTION_SETTINGS = {
    "eval_batch_size": study.EXECUTION, "channels_last": study.EXECUTION, "compile": study.EXECUTION,
    "one_pixel_convs": study.EXECUTION,
    "deterministic": study.EXECUTION, "track_grad_change": study.EXECUTION,
    "precision": study.assumption("bf16 autocast where the hardware computes bf16 natively (about 1.7x on the VGGs); "
                                  "the study ran fp32"),
    "train_per_class": study.STUDY_CODE, "test_per_class": study.STUDY_CODE,   # None: the whole official split
    "max_steps": study.STUDY_CODE, "probe_every": study.STUDY_CODE,           # None / 0: the study has neither
}


def recipe(section: str, table: dict[str, study.Setting], model: str, model_args: dict[str, study.Setting],
           **overrides: study.Setting) -> tuple[TrainConfig, dict[str, str]]:
    """A configuration from a section's published settings (``study.SECTION_1`` ...), the model, and the settings
    this experiment changes, with the provenance of every setting: nothing here is an unexplained default."""
    settings = {**table, "epochs": study.EPOCHS[section], "model": study.Setting(model, study.REPORT),
                **{f"model_args.{k}": v for k, v in model_args.items()}, **overrides}
    if model not in ("MyNet",):                       # the study's dropout setting is MyNet's constructor argument
        settings.pop("model_args.dropout", None)
    fields = {k: v.value for k, v in settings.items() if not k.startswith("model_args.")}
    args = {k.split(".", 1)[1]: v.value for k, v in settings.items() if k.startswith("model_args.")}
    config = TrainConfig(**fields, model_args=args)
    provenance = {k: v.source for k, v in settings.items()}
    for name in (f.name for f in dataclasses.fields(TrainConfig)):
        if name not in provenance and name != "model_args":
            provenance[name] = _EXECUTION_SETTINGS.get(name) or study.assumption(
                f"bnbench's default ({getattr(config, name)!r})")
    return config, provenance


def experiment(id: str, label: str, built: tuple[TrainConfig, dict[str, str]], documented: str | None = None,
               reported_as: str | None = None) -> Experiment:
    if id in EXPERIMENTS:
        raise ValueError(f"experiment {id!r} is defined twice")
    config, provenance = built
    section = id.split("/")[0]
    EXPERIMENTS[id] = Experiment(id, label, config, documented, provenance,
                                 reported_as or study.REPORTED_ACCURACY.get(section, ("final", ""))[0])
    return EXPERIMENTS[id]



def experiments_in(section: str) -> list[Experiment]:
    from bnbench.study import catalog  # noqa: F401  (fills the registry)

    return [e for e in EXPERIMENTS.values() if e.section == section]
