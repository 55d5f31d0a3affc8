"""Training progress that moves and says what runs: experiment id, seed k/n, epoch e/E, step, loss, images/s, ETA.

On a terminal, one status appended to pytest's current line and rewritten in place (at most four times a second),
erased again when the run ends, so pytest's own progress line is left as it was: the status is cut to the width
that is left on that line, and erased with backspaces, which never cross a line. Elsewhere (a pipe, a CI log, a
file), one plain line per finished epoch, and a heartbeat line when a single epoch runs long, so that hours of
training are never hours of silence. Nothing is drawn from another thread: every write happens in the training
loop's own calls, with pytest's output capture lifted (``suspend``) for the moment of the write.

The trainer's protocol (``bnbench.engine.train``): ``start(total_steps, epochs, batch_size)``,
``update(step, loss, epoch)``, ``epoch_end(row)`` and ``stop()``.
"""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable

REFRESH_S = 0.25        # terminal redraws at most four times a second: a faster status reads no better
HEARTBEAT_S = 60.0      # without a terminal, a line at least every minute while an epoch runs


def _duration(seconds: float) -> str:
    if seconds != seconds or seconds < 0:   # NaN
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainingProgress:
    """``label`` names the run ("1.1/hidden-500 seed 2/3"). ``suspend``: a context-manager factory that lifts
    output capture (the plugin passes pytest's ``capturemanager.global_and_fixture_disabled``). ``file``: where
    to write (default: the real stdout at write time). ``tty``: force the terminal or the plain mode (default:
    ``file.isatty()``). ``column``: a callable giving the column pytest's writer is at on the current line (the
    plugin asks pytest's terminal writer; None: a fresh line), ``width`` the terminal's width."""

    def __init__(self, label: str = "training", suspend: Callable = contextlib.nullcontext, file=None,
                 tty: bool | None = None, column: Callable[[], int] | None = None, width: int = 80,
                 clock: Callable[[], float] = time.monotonic):
        self.label = label
        self._suspend = suspend
        self._file = file
        self._tty = tty
        self._column = column or (lambda: 0)
        self._width = width
        self._clock = clock
        self._shown = 0          # characters of the status now on the terminal line
        self._column_at_line = -1
        self._last_draw = -1e9
        self._last_line = 0.0
        self.total = self.epochs = self.batch_size = 0
        self.step = self.epoch = self._epoch_steps = 0
        self.loss = float("nan")
        self._t0 = 0.0
        self._step0 = 0

    # -- the trainer's protocol ----------------------------------------------------------------------------------
    def start(self, total_steps: int, epochs: int = 1, batch_size: int = 0, done_steps: int = 0,
              done_epochs: int = 0) -> None:
        """``done_steps`` / ``done_epochs``: what a run continued from its checkpoint had done before (its rate and
        ETA count only the steps run here)."""
        self.total, self.epochs, self.batch_size = total_steps, epochs, batch_size
        self.step, self.epoch, self._epoch_steps = done_steps, done_epochs + 1, done_steps
        self._step0 = done_steps
        self._t0 = self._last_line = self._clock()
        self._draw(force=True)

    def update(self, step: int, loss: float, epoch: int) -> None:
        self.step, self.loss, self.epoch = step, loss, epoch
        if self._is_tty():
            self._draw()
        elif self._clock() - self._last_line >= HEARTBEAT_S:
            self._line(self.status() + " (epoch running)")

    def epoch_end(self, row: dict) -> None:
        self._epoch_steps += row.get("steps", 0)
        self.step = max(self.step, self._epoch_steps)   # the last update may predate the epoch's last steps
        if isinstance(row.get("train_loss"), float):
            self.loss = row["train_loss"]                # the epoch's mean training loss
        if self._is_tty():
            return   # the terminal status already shows it
        acc, rate = row.get("test_acc"), row.get("images_per_s")
        self._line(f"{self.status(epoch_done=row.get('epoch', self.epoch), rate=rate)}"
                   + (f", test acc {acc * 100:.1f}%" if isinstance(acc, (int, float)) else ""))

    def stop(self) -> None:
        if self._shown:
            self._write("\b" * self._shown + " " * self._shown + "\b" * self._shown)
            self._shown = 0

    # -- text -----------------------------------------------------------------------------------------------------
    def status(self, epoch_done: int | None = None, rate: float | None = None) -> str:
        """``rate``: the epoch's own training images/s where known; else images so far over the time so far."""
        elapsed = self._clock() - self._t0
        ran = self.step - self._step0
        if rate is None:
            rate = ran * self.batch_size / elapsed if elapsed > 0 and self.batch_size else float("nan")
        eta = elapsed / ran * (self.total - self.step) if ran > 0 else float("nan")
        epoch = f"epoch {epoch_done}/{self.epochs} done" if epoch_done is not None else \
            f"epoch {self.epoch}/{self.epochs}"
        loss = "-" if self.loss != self.loss else f"{self.loss:.4f}"
        img = "-" if rate != rate else f"{rate:,.0f}"
        return (f"{self.label} {epoch} step {self.step}/{self.total} loss {loss} {img} img/s "
                f"ETA {_duration(eta)}")

    # -- writing --------------------------------------------------------------------------------------------------
    def _stream(self):
        return self._file or sys.stdout

    def _is_tty(self) -> bool:
        if self._tty is not None:
            return self._tty
        return bool(getattr(self._stream(), "isatty", lambda: False)())

    def _write(self, text: str) -> None:
        with self._suspend():
            stream = self._stream()
            stream.write(text)
            stream.flush()

    def _line(self, text: str) -> None:
        self._last_line = self._clock()
        # A newline first when pytest's line has text on it, unless that text was there at our last line (pytest
        # does not see our writes, so its column stays put while we print lines).
        col = self._column()
        self._write(("\n" if col and col != self._column_at_line else "") + f"bnbench: {text}\n")
        self._column_at_line = col

    def _draw(self, force: bool = False) -> None:
        if not self._is_tty():
            return
        now = self._clock()
        if not force and now - self._last_draw < REFRESH_S:
            return
        self._last_draw = now
        room = self._width - self._column() - 1     # never the last column: a status that wraps cannot be erased
        text = ("  " + self.status())[:max(0, room)] if room > 12 else ""
        erase = "\b" * self._shown
        pad = max(0, self._shown - len(text))
        self._write(erase + text + " " * pad + "\b" * pad)
        self._shown = len(text)
