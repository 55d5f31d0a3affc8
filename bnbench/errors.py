"""Errors a user sees. Each message names the input at fault and the fix, on one line.

The plugin and the CLI catch :class:`BnbenchError` and print its message without a traceback,
so raising one of these is how library code reports bad input.
"""


class BnbenchError(Exception):
    """Base class: bad input or an environment problem the user can fix."""


class DataError(BnbenchError):
    """CIFAR-10 files missing, truncated, corrupt, or unsafe."""


class ConfigError(BnbenchError, ValueError):
    """An option or configuration value out of range or unknown."""


class BnbenchInconclusive(UserWarning):
    """A claim's runs could not decide it (one seed, noise-level difference, or runs that never trained)."""


class BnbenchBelowTarget(UserWarning):
    """A speed measurement below bnbench's own target (at least 1.5x the study-style loop's images/s for every
    model at the study's batch size); ``--bnbench-strict`` makes it fail."""


class BnbenchSkippedFile(UserWarning):
    """A file in the output folder that was not used (damaged, foreign, another configuration): one line naming it
    and what is wrong; resume retrains what it held."""
