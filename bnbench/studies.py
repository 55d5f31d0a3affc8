"""Which studies this process knows: bnbench's own (``bnbench.study.catalog``) and every installed package's, found
through the ``bnbench.studies`` entry-point group. An entry point names a module (imported for its declarations:
``bnbench.section``, ``experiment``, ``claim``, ...) or a callable (called once, with no arguments). The pytest
plugin and the ``bnbench`` command load them before anything else, so the CLI knows every claim the pytest run
knew; a study's conftest.py declarations are known to its own pytest runs, and its results describe themselves
(``ClaimResult.described``) for any other process.

    # a study package's pyproject.toml
    [project.entry-points."bnbench.studies"]
    noisy_bn = "noisy_bn.study"

``BNBENCH_STUDIES`` (a comma-separated list of entry-point names) restricts which installed studies load; empty
loads none (bnbench's own test suite sets it so, so that what a machine has installed does not change its tests).
"""
from __future__ import annotations

import importlib.metadata
import os
import types

from bnbench.errors import BnbenchError, ConfigError

GROUP = "bnbench.studies"
_LOADED: dict[str, str] = {}     # entry point name -> its value, once loaded


def load_studies() -> dict[str, str]:
    """Load bnbench's own study and every installed study once; returns the installed ones (name -> value). A study
    that fails to load is a BnbenchError naming it and the fix."""
    from bnbench.study import catalog  # noqa: F401  (the study's own declarations)

    wanted = os.environ.get("BNBENCH_STUDIES")
    names = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
    for ep in importlib.metadata.entry_points(group=GROUP):
        if ep.name in _LOADED or (names is not None and ep.name not in names):
            continue
        try:
            found = ep.load()
            if callable(found) and not isinstance(found, types.ModuleType):
                found()
        except BnbenchError as exc:
            raise ConfigError(f"the installed study {ep.name!r} ({ep.value}) declares something bnbench refuses: "
                              f"{exc}") from None
        except Exception as exc:  # noqa: BLE001 - anything a third-party study raises is reported, named
            raise BnbenchError(f"the installed study {ep.name!r} ({ep.value}) failed to load ({type(exc).__name__}: "
                               f"{exc}); fix it, or uninstall its package") from None
        _LOADED[ep.name] = ep.value
    return dict(_LOADED)
