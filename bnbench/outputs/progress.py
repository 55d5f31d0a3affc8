"""Training progress that moves and says what runs: experiment id, seed k/n, epoch e/E, step, loss, images/s, ETA,
and where the session stands ("run 3 of 12, about 14 min left").

On a terminal, one status appended to pytest's current line and rewritten in place (at most four times a second),
erased again when the run ends, so pytest's own progress line is left as it was: the status is fitted to the room
left on that line, read at each draw from the real terminal (while pytest's capture holds stdout, its size reads as
the 80-column fallback), dropping its details before what runs and how long it takes; it is erased with backspaces,
which never cross a line. Elsewhere (a pipe, a CI log, a file, an xdist worker's stderr), one plain line per
finished epoch, and a heartbeat line when a single epoch runs long, so that hours of training are never hours of
silence. Nothing is drawn from another thread: every write happens in the training loop's own calls (at least
once a second, ``bnbench.engine.train``), with pytest's output capture lifted (``suspend``) for the moment of the
write.

The trainer's protocol (``bnbench.engine.train``): ``start(total_steps, epochs, batch_size)``,
``update(step, loss, epoch)`` (``loss`` None: unchanged, read without a device sync), ``epoch_end(row)`` and
``stop()``.
"""
from __future__ import annotations

import contextlib
import shutil
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


def _about(seconds: float) -> str:
    return (f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400
            else f"{seconds / 3600:.1f} h")


class SessionPlan:
    """The training runs a session will do, counted at collection (``runs``: label, model and images = steps x
    batch size of each), and how fast this session trains each model, measured: wall time from a run's start to
    its end (evaluation included) per image of its finished runs, else the running run's own rate. A model not
    measured yet has no time: its runs are counted, not guessed. Once a run the count missed starts (a test that
    trains what its parameters do not name), the count is known to be short and only k is said."""

    def __init__(self, runs: list[tuple[str, str, int]], clock: Callable[[], float] = time.monotonic):
        self._pending = list(runs)
        self.total = len(runs)
        self.k = 0
        self.missed = False
        self._clock = clock
        self._measured: dict[str, list[float]] = {}    # model -> [seconds, images] of its finished runs
        self._current: tuple[str, int] | None = None   # the running run's model and images
        self._t0 = 0.0

    def begin(self, label: str) -> None:
        self.k += 1
        found = next((run for run in self._pending if run[0] == label), None)
        if found is not None:
            self._pending.remove(found)
        self.missed |= found is None
        self._current = found[1:] if found is not None else None
        self._t0 = self._clock()

    def end(self, images: int) -> None:
        if self._current is not None and images > 0:
            seconds_images = self._measured.setdefault(self._current[0], [0.0, 0])
            seconds_images[0] += self._clock() - self._t0
            seconds_images[1] += images
        self._current = None

    def text(self, left: float = float("nan"), rate: float = float("nan")) -> str:
        """``left``: the running run's own time left (NaN before its first steps: then its model's measured rate
        over the whole run); ``rate``: its seconds per image so far."""
        if self.missed:
            return f"run {self.k}"

        def per_image(model):
            seconds, images = self._measured.get(model, (0.0, 0))
            if images:
                return seconds / images
            return rate if self._current is not None and model == self._current[0] else float("nan")

        if left != left and self._current is not None:
            left = self._current[1] * per_image(self._current[0])
        times = [images * per_image(model) for _, model, images in self._pending] + [left]
        known = [t for t in times if t == t]
        untimed = len(times) - len(known)
        head = f"run {self.k} of {self.total}"
        if not known:
            return head
        return (f"{head}, about {_about(sum(known))} left"
                + (f" + {untimed} run{'s' * (untimed > 1)} of untimed models" if untimed else ""))


class TrainingProgress:
    """``label`` names the run ("1.1/hidden-500 seed 2/3"). ``suspend``: a context-manager factory that lifts
    output capture (the plugin passes pytest's ``capturemanager.global_and_fixture_disabled``). ``file``: where
    to write (default: the real stdout at write time). ``tty``: force the terminal or the plain mode (default:
    ``file.isatty()``). ``column``: a callable giving the column pytest's writer is at on the current line (the
    plugin asks pytest's terminal writer; None: a fresh line), ``width`` one giving the terminal's width, called
    at each draw with capture lifted (default: ``shutil.get_terminal_size``). ``plan``: the session's runs, for
    "run k of n, about T left"."""

    def __init__(self, label: str = "training", suspend: Callable = contextlib.nullcontext, file=None,
                 tty: bool | None = None, column: Callable[[], int] | None = None,
                 width: Callable[[], int] | None = None, clock: Callable[[], float] = time.monotonic,
                 plan: SessionPlan | None = None):
        self.label = label
        self._suspend = suspend
        self._file = file
        self._tty = tty
        self._column = column or (lambda: 0)
        self._width = width or (lambda: shutil.get_terminal_size().columns)
        self._clock = clock
        self._plan = plan
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
        if self._plan is not None:
            self._plan.begin(self.label)
        self._draw(force=True)

    def update(self, step: int, loss: float | None, epoch: int) -> None:
        self.step, self.epoch = step, epoch
        if loss is not None:
            self.loss = loss
        if self._is_tty():
            self._draw()
        elif self._clock() - self._last_line >= HEARTBEAT_S:
            self._line(self.status(running=True))

    def epoch_end(self, row: dict) -> None:
        self._epoch_steps += row.get("steps", 0)
        self.step = max(self.step, self._epoch_steps)   # the last update may predate the epoch's last steps
        if isinstance(row.get("train_loss"), float):
            self.loss = row["train_loss"]                # the epoch's mean training loss
        if self._is_tty():
            return   # the terminal status already shows it
        acc = row.get("test_acc")
        self._line(self.status(epoch_done=row.get("epoch", self.epoch), rate=row.get("images_per_s"),
                               acc=acc if isinstance(acc, (int, float)) else None))

    def stop(self) -> None:
        if self._plan is not None:
            self._plan.end((self.step - self._step0) * self.batch_size)
        if self._shown:
            self._write("\b" * self._shown + " " * self._shown + "\b" * self._shown)
            self._shown = 0

    # -- text -----------------------------------------------------------------------------------------------------
    def _parts(self, epoch_done: int | None = None, rate: float | None = None, acc: float | None = None,
               running: bool = False) -> list[tuple[int, str]]:
        """The status's parts in reading order, each with its rank: where room is short the lowest ranks go first
        (the details, then the step count, then the session's line), never what runs and how long it takes.
        ``rate``: the epoch's own training images/s where known; else images so far over the time so far."""
        elapsed = self._clock() - self._t0
        ran = self.step - self._step0
        per_image = elapsed / (ran * self.batch_size) if elapsed > 0 and ran > 0 and self.batch_size else float("nan")
        rate = 1 / per_image if rate is None else rate
        left = elapsed / ran * (self.total - self.step) if ran > 0 else float("nan")
        epoch = f"epoch {epoch_done}/{self.epochs} done" if epoch_done is not None else \
            f"epoch {self.epoch}/{self.epochs}"
        loss = "-" if self.loss != self.loss else f"{self.loss:.4f}"
        img = "-" if rate != rate else f"{rate:,.0f}"
        parts = [(9, self.label), (8, epoch), (5, f"step {self.step}/{self.total}"), (4, f"loss {loss}"),
                 (2, f"{img} img/s"), (7, f"ETA {_duration(left)}" + (" (epoch running)" if running else ""))]
        if acc is not None:
            parts.append((3, f"test acc {acc * 100:.1f}%"))
        if self._plan is not None:
            parts.append((6, "| " + self._plan.text(left, per_image)))
        return parts

    def status(self, **kwargs) -> str:
        return " ".join(text for _, text in self._parts(**kwargs))

    def _fit(self, room: int) -> str:
        """The status in at most ``room`` characters: whole parts taken highest rank first while they fit, shown in
        reading order; the label always, cut where nothing else fits."""
        parts = self._parts()
        kept, used = set(), -1
        for rank, text in sorted(parts, reverse=True):
            if used + 1 + len(text) <= room or not kept:
                kept.add(rank)
                used += 1 + len(text)
        return " ".join(text for rank, text in parts if rank in kept)[:room]

    # -- writing --------------------------------------------------------------------------------------------------
    def _stream(self):
        return self._file or sys.stdout

    def _is_tty(self) -> bool:
        if self._tty is not None:
            return self._tty
        return bool(getattr(self._stream(), "isatty", lambda: False)())

    def _write(self, text: str | Callable[[], str]) -> None:
        """``text``, or a callable giving it with capture lifted (a draw reads the terminal's width then)."""
        with self._suspend():
            stream = self._stream()
            stream.write(text() if callable(text) else text)
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
        self._write(self._redraw)

    def _redraw(self) -> str:
        room = self._width() - self._column() - 3   # never the last column: a status that wraps cannot be erased
        text = "  " + self._fit(room) if room > 10 else ""
        erase = "\b" * self._shown
        pad = max(0, self._shown - len(text))
        self._shown = len(text)
        return erase + text + " " * pad + "\b" * pad
