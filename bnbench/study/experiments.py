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
    def documented_row(self) -> study.DocumentedRow | None:
        """The study's row this experiment reproduces (``bnbench.document``), or None."""
        return study.row(self.documented) if self.documented else None

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
}
# What bnbench's defaults of the other settings mean, for a section whose base recipe does not give them (a user's
# study): its provenance says it is bnbench's default and what that does, never that some study's code chose it.
_DEFAULT_MEANING = {
    "train_per_class": "the whole official training split", "test_per_class": "the whole official test split",
    "max_steps": "every step of every epoch", "probe_every": "no gradient probes",
}


def recipe(section: str, model: str, model_args: dict[str, study.Setting] | None = None,
           table: dict[str, study.Setting] | None = None, model_source: str = study.REPORT,
           **overrides: study.Setting) -> tuple[TrainConfig, dict[str, str]]:
    """A configuration in a declared ``section`` (``bnbench.section``): the section's base recipe (or ``table``),
    its epoch count, the model (named by ``model_source``), and the settings this experiment changes, each a
    ``Setting(value, source)``; with
    the provenance of every setting: nothing here is an unexplained default. A setting TrainConfig does not have,
    or a value it refuses, is a ConfigError naming it."""
    from bnbench.errors import ConfigError
    from bnbench.study.sections import get_section

    declared = get_section(section)
    settings = {**(declared.base if table is None else table), "epochs": declared.epochs,
                "model": study.Setting(model, model_source),
                **{f"model_args.{k}": v for k, v in (model_args or {}).items()}, **overrides}
    bad = [k for k, v in settings.items() if not isinstance(v, study.Setting)]
    if bad:
        raise ConfigError(f"section {section!r}: setting {bad[0]!r} must be a Setting(value, source)")
    fields = {k: v.value for k, v in settings.items() if not k.startswith("model_args.")}
    args = {k.split(".", 1)[1]: v.value for k, v in settings.items() if k.startswith("model_args.")}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"section {section!r}: {unknown[0]!r} is not a training setting; known: "
                          f"{', '.join(sorted(known - {'model_args'}))} (a model's argument: model_args={{...}})")
    config = TrainConfig(**fields, model_args=args)
    provenance = {k: v.source for k, v in settings.items()}
    for name in (f.name for f in dataclasses.fields(TrainConfig)):
        if name not in provenance and name != "model_args":
            meaning = f": {_DEFAULT_MEANING[name]}" if name in _DEFAULT_MEANING else ""
            provenance[name] = _EXECUTION_SETTINGS.get(name) or study.assumption(
                f"bnbench's default ({getattr(config, name)!r}{meaning})")
    return config, provenance


def experiment(id: str, label: str, built: tuple[TrainConfig, dict[str, str]], documented: str | None = None,
               reported_as: str | None = None) -> Experiment:
    """Declare an experiment "<section>/<name>" from ``recipe(...)``; ``documented``: the key of the study's row it
    reproduces (``bnbench.document``); ``reported_as``: how the study read its accuracy, by default the section's."""
    from bnbench.errors import ConfigError
    from bnbench.study.sections import get_section

    if not isinstance(id, str) or id.count("/") < 1 or not all(id.split("/")):
        raise ConfigError(f"experiment {id!r}: an id is '<section>/<name>', e.g. '3.1/vgg-noisy-bn'")
    if id in EXPERIMENTS:
        raise ConfigError(f"experiment {id!r} is defined twice")
    section = get_section(id.split("/")[0])
    if documented is not None:
        study.row(documented)   # a KeyError naming the known rows, now rather than after the training
    config, provenance = built
    EXPERIMENTS[id] = Experiment(id, label, config, documented, provenance, reported_as or section.reported_as)
    return EXPERIMENTS[id]


def experiments_in(section: str) -> list[Experiment]:
    from bnbench.study import catalog  # noqa: F401  (fills the registry)

    return [e for e in EXPERIMENTS.values() if e.section == section]
