"""A rich progress bar for training runs that pytest's capture does not swallow and that stays silent
when the output is not a terminal (CI logs, pipes, files)."""
from __future__ import annotations

import contextlib
import sys
import time


class TrainingProgress:
    """Implements the trainer's progress protocol: ``start`` / ``update`` / ``stop``.

    ``suspend`` is a context-manager factory that lifts output capture while the bar draws (the plugin passes
    pytest's ``capturemanager.global_and_fixture_disabled``); ``file`` defaults to the real stdout.
    """

    REFRESH_S = 0.25  # redraw at most four times a second: drawing is not free, and a faster bar reads no better

    def __init__(self, suspend=contextlib.nullcontext, file=None, force: bool | None = None):
        self._suspend = suspend
        self._file = file
        self._force = force
        self._bar = None
        self._last = 0.0

    def _enabled(self, stream) -> bool:
        if self._force is not None:
            return self._force
        return bool(getattr(stream, "isatty", lambda: False)())

    def start(self, total_steps: int, description: str) -> None:
        with self._suspend():
            stream = self._file or sys.stdout
            if not self._enabled(stream):
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("epoch {task.fields[epoch]}  loss {task.fields[loss]}"),
                                 TimeRemainingColumn(), console=Console(file=stream), transient=True)
            self._task = self._bar.add_task(description, total=total_steps, epoch="-", loss="-")
            self._bar.start()

    def update(self, step: int, loss: float, epoch: int) -> None:
        if self._bar is None or time.monotonic() - self._last < self.REFRESH_S:
            return
        self._last = time.monotonic()
        with self._suspend():
            self._bar.update(self._task, completed=step, epoch=epoch, loss=f"{loss:.4f}")

    def stop(self) -> None:
        if self._bar is not None:
            with self._suspend():
                self._bar.stop()
            self._bar = None
