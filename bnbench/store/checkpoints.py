"""A training run's mid-run checkpoint in the output folder (``bnbench.engine.checkpoint`` says what is in it):
``records/<experiment>/<profile>-seed<k>-<config hash>.partial.pt``, beside the record it becomes. Written
atomically like every bnbench file, read back bounded, without following links and with ``weights_only``, and
removed once the run's record is written.
"""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from bnbench.errors import BnbenchError
from bnbench.store.files import read_bytes

SUFFIX = ".partial.pt"


def checkpoint_path(record_path: Path) -> Path:
    """Where the run whose finished record goes to ``record_path`` keeps its checkpoint."""
    record_path = Path(record_path)
    return record_path.with_name(record_path.name.removesuffix(".json") + SUFFIX)


class StoreCheckpoint:
    """One run's checkpoint in a store (the ``bnbench.engine.checkpoint.Checkpoint`` protocol)."""

    def __init__(self, store, record_path: Path, every_s: float | None = None):
        from bnbench.engine.checkpoint import CHECKPOINT_EVERY_S

        self.store = store
        self.path = checkpoint_path(record_path)
        self.every_s = CHECKPOINT_EVERY_S if every_s is None else every_s

    def load(self) -> dict | None:
        from bnbench.engine.checkpoint import MAX_CHECKPOINT_BYTES, from_bytes

        try:
            raw = read_bytes(self.store.readable(self.path), MAX_CHECKPOINT_BYTES, "a checkpoint")
            return from_bytes(raw, str(self.path))
        except FileNotFoundError:
            return None
        except BnbenchError as exc:   # a damaged or foreign file (CheckpointError is one too)
            self.store.skipped(f"{exc}; training this run from step 0")
            self.discard()
            return None

    def save(self, state: dict) -> None:
        from bnbench.engine.checkpoint import to_bytes
        from bnbench.store.files import write_bytes_atomic

        write_bytes_atomic(self.store.writable(self.path), to_bytes(state))

    def discard(self) -> None:
        """Remove the checkpoint (a regular file only: anything else planted there is left alone)."""
        with contextlib.suppress(OSError, BnbenchError):
            path = self.store.readable(self.path)
            if stat.S_ISREG(os.lstat(path).st_mode):
                path.unlink()
