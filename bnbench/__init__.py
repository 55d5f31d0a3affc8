"""bnbench: the claims of a CIFAR-10 / Batch Normalization study as honest, executable benchmarks, and the same
machinery for a researcher's own claims.

The public API for declaring a study (README "Your own study") is this package's top level, loaded on first use:

    section, Scale, Setting, assumption          a section: epochs, base recipe, per-profile scales
    recipe, experiment, Experiment               experiments, every setting with its source
    claim, Claim                                 claims (kind and margin checked at declaration)
    Metric, Figure, register_metric              what a claim measures, as an object
    Band, upper_mean, width_mean                 a statistic of the band over a sweep's runs (a Metric)
    document                                     the study's documented numbers
    register_model, create_model                 a network, by name (timm-style decorator), and building one
    experiments_in, claims_in                    a section's experiments and claims (to parametrize benchmarks)
    CIFAR10                                      what the ``pytest_bnbench_load_data`` hook returns (bnbench.hookspec)
    synthetic_cifar                              learnable CIFAR-shaped images, for a study's unit tests
    load_studies                                 the study's and every installed study's declarations

Importing this package imports no torch: the pytest plugin (``bnbench.plugin``) is loaded in
every pytest run of every project where bnbench is installed, so heavy imports happen lazily.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from bnbench.errors import BnbenchError, BnbenchInconclusive, ConfigError, DataError  # noqa: F401,E402  (torch-free)

_API = {
    "section": "bnbench.study.sections", "Scale": "bnbench.study.sections", "Section": "bnbench.study.sections",
    "Setting": "bnbench.study.documented", "assumption": "bnbench.study.documented",
    "document": "bnbench.study.documented",
    "recipe": "bnbench.study.experiments", "experiment": "bnbench.study.experiments",
    "Experiment": "bnbench.study.experiments",
    "claim": "bnbench.study.claims", "Claim": "bnbench.study.claims",
    "Metric": "bnbench.verdicts.metrics", "Figure": "bnbench.verdicts.metrics",
    "register_metric": "bnbench.verdicts.metrics", "Band": "bnbench.verdicts.metrics",
    "upper_mean": "bnbench.verdicts.metrics", "width_mean": "bnbench.verdicts.metrics",
    "register_model": "bnbench.engine.models", "create_model": "bnbench.engine.models",
    "experiments_in": "bnbench.study.experiments", "claims_in": "bnbench.study.claims",
    "RunRecord": "bnbench.engine.record",   # what a Metric's reader is handed: one run's numbers
    "CIFAR10": "bnbench.engine.data", "synthetic_cifar": "bnbench.engine.data", "load_studies": "bnbench.studies",
}
__all__ = ["BnbenchError", "BnbenchInconclusive", "ConfigError", "DataError", "__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bnbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
