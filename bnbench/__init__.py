"""bnbench: the claims of a CIFAR-10 / Batch Normalization study as honest, executable benchmarks.

Importing this package imports no torch: the pytest plugin (``bnbench.plugin``) is loaded in
every pytest run of every project where bnbench is installed, so heavy imports happen lazily.
"""
__version__ = "0.1.0"

from bnbench.errors import BnbenchError, BnbenchInconclusive, ConfigError, DataError  # noqa: F401  (torch-free)
