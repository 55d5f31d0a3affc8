"""Where a long run stands, read from its output folder while it trains: ``bnbench progress RUN_DIR``.

A study-scale run goes for hours or days in the background (niced, its output in a log nobody watches), over
several sessions with ``--bnbench-resume``. Its folder already says where it is: a finished record per finished
run, and a mid-run checkpoint (``<profile>-seed<k>-<hash>.partial.pt``, written at an epoch's end at most once a
minute) per run that has started, holding the epochs done so far. This module reads both, read-only and without
waiting on the run (a checkpoint is replaced atomically, so it is read whole or not at all), and says per
experiment and seed: finished (its final test accuracy), training now (epoch k of n), stopped mid-run, or not
started; how many seeds of each claim are complete; and, while a bnbench session holds the folder, about how long
is left.

The estimate: each run's remaining steps at the seconds per step its experiment has measured in this folder (its
finished runs and the epochs of its checkpoints; the same model's, else every run's median, where the experiment
has none yet), times the measured ratio of wall time to training time (evaluation and checkpoints), times how fast
the machine trains now against that history (``RunStanding.speed_now``: the last epochs of the runs training
now), divided by the number of runs training at once now. A run that has just started has no checkpoint yet and
is not counted among those, so right after a run starts the estimate is high; it is an estimate and says what it
assumed. Runs with trajectory probes keep no checkpoint (``bnbench.engine.checkpoint``): they show as not started
until they finish.

Whether a session is running is the folder's run lock (``bnbench.store.files.RUN_LOCK``): an advisory ``flock``
that only a live process holds, probed without taking it from anyone. Everything read is bounded and checked like
every file bnbench reads back; a checkpoint that does not read back is shown as such (the run will discard it and
start that run again from step 0).
"""
from __future__ import annotations

import math
import os
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bnbench.errors import BnbenchError

FINISHED, TRAINING, STOPPED, WAITING = "finished", "training", "stopped", "waiting"
RECENT_S = 600.0     # a checkpoint saved this recently (or within 3 epochs, when epochs are longer) is training
RECENT_EPOCHS = 3    # the epochs of a run in progress that say how fast the machine trains now
_NAME = re.compile(r"(?P<profile>[A-Za-z0-9_]+)-seed\d+-[0-9a-f]+(?:\.json|\.partial\.pt)")


@dataclass
class RunState:
    """One planned run (an experiment at the profile's scale, one seed) as its folder shows it."""
    experiment: str
    model: str
    seed: int
    state: str                     # FINISHED, TRAINING, STOPPED or WAITING
    steps_total: int
    epochs_total: int
    steps_done: int = 0
    epochs_done: int = 0
    train_seconds: float = 0.0     # the epochs' train_time_s summed, for the steps done
    test_acc: float | None = None  # the last epoch's
    saved_at: float | None = None  # when its checkpoint was written (a run in progress)
    recent_rate: float | None = None   # seconds per step over its last RECENT_EPOCHS epochs (a run in progress)
    note: str = ""                 # e.g. a checkpoint that does not read back


@dataclass
class RunStanding:
    folder: Path
    profile: str
    sections: tuple[str, ...]
    runs: list[RunState]
    claims: list[tuple[str, int, int]]                 # (claim id, complete seeds, the profile's seeds)
    holder: str | None                                 # pid holding the folder's run lock, None when none
    overhead: float                                    # wall time / training time, measured (1.0 when unknown)
    unplanned: int = 0                                 # record files of other settings, not counted
    now: float = field(default_factory=time.time)

    def count(self, state: str) -> int:
        return sum(r.state == state for r in self.runs)

    def seconds_per_step(self, run: RunState) -> float | None:
        """The run's experiment's measured seconds per training step here; its model's; every run's median."""
        def rate(runs):
            rates = [r.train_seconds / r.steps_done for r in runs if r.steps_done and r.train_seconds > 0]
            return statistics.median(rates) if rates else None

        for same in (lambda r: r.experiment == run.experiment, lambda r: r.model == run.model, lambda r: True):
            found = rate(r for r in self.runs if same(r))
            if found is not None:
                return found
        return None

    def speed_now(self) -> float:
        """How fast the machine trains now against this folder's history: the median, over the runs training now,
        of their last epochs' seconds per step over their experiment's rate here (1.0 when none is training). The
        history holds hours when the machine was busier or quieter; an experiment's cost relative to another's
        holds across them, its absolute speed does not."""
        ratios = [run.recent_rate / rate for run in self.runs
                  if run.state == TRAINING and run.recent_rate and (rate := self.seconds_per_step(run))]
        return statistics.median(ratios) if ratios else 1.0

    def left_seconds(self) -> float | None:
        """Training time left for one process (wall, with the measured overhead, at the speed of now); None before
        any run has a rate."""
        total = 0.0
        for run in self.runs:
            if run.state != FINISHED:
                rate = self.seconds_per_step(run)
                if rate is None:
                    return None
                total += (run.steps_total - run.steps_done) * rate * self.overhead
        return total * self.speed_now()

    @property
    def parallel(self) -> int:
        return max(1, self.count(TRAINING))


def planned_steps(config) -> tuple[int, int]:
    """(steps, epochs) a scaled configuration trains (``max_steps`` may end it inside its first epochs)."""
    from bnbench.estimate import TRAIN_IMAGES

    images = TRAIN_IMAGES if config.train_per_class is None else 10 * config.train_per_class
    per_epoch = math.ceil(images / config.batch_size)
    steps = per_epoch * config.epochs if config.max_steps is None else min(per_epoch * config.epochs,
                                                                           config.max_steps)
    return steps, math.ceil(steps / per_epoch)


def _profiles_present(store) -> set[str]:
    found = set()
    root = store.out / "records"
    try:
        folders = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return found
    for folder in folders:
        try:
            names = os.listdir(folder.path)
        except OSError:
            continue
        found |= {m["profile"] for n in names if (m := _NAME.fullmatch(n))}
    return found


def _sections_present(store) -> tuple[str, ...]:
    from bnbench.store.files import safe_name
    from bnbench.study.experiments import EXPERIMENTS

    root = store.out / "records"
    return tuple(sorted({e.section for e in EXPERIMENTS.values()
                         if (root / safe_name(e.id)).is_dir() and not (root / safe_name(e.id)).is_symlink()}))


def lock_holder(folder: Path) -> str | None:
    """The pid holding ``folder``'s run lock (a bnbench session training there), or None; probed without taking
    the lock from anyone (a shared probe that is refused means someone holds it exclusively or as a run's
    workers; one that succeeds is dropped at once)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock to probe
        return None
    from bnbench.store.files import RUN_LOCK

    try:
        fd = os.open(Path(folder) / RUN_LOCK, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = os.pread(fd, 200, 0).decode("ascii", "replace").split()
            return raw[0] if raw and raw[0].isdigit() else "?"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _checkpoint(store, path: Path) -> tuple[dict | None, float | None, str]:
    """(state, mtime, problem) of a run's checkpoint, read bounded and with ``weights_only``; (None, None, "")
    when there is none."""
    from bnbench.engine.checkpoint import MAX_CHECKPOINT_BYTES, from_bytes
    from bnbench.store.files import read_bytes

    try:
        where = store.readable(path)
        mtime = os.lstat(where).st_mtime
        state = from_bytes(read_bytes(where, MAX_CHECKPOINT_BYTES, "a checkpoint"), str(path))
    except FileNotFoundError:
        return None, None, ""
    except (BnbenchError, OSError) as exc:
        return None, None, f"its checkpoint does not read back ({str(exc)[:120]}): the run starts it again"
    rows = state.get("epochs")
    if not (isinstance(state.get("step"), int) and isinstance(rows, list) and all(isinstance(r, dict) for r in rows)):
        return None, None, "its checkpoint is not one this bnbench reads: the run starts it again"
    return state, mtime, ""


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def standing(folder: str | Path, profile_name: str | None = None,
             sections: tuple[str, ...] | None = None) -> RunStanding:
    """Read a run's folder (see the module doc). The profile and sections default to those its records and
    checkpoints are of; BnbenchError naming the fix when the folder holds none or several profiles."""
    import warnings

    from bnbench.errors import BnbenchSkippedFile
    from bnbench.store import Store
    from bnbench.store.checkpoints import checkpoint_path
    from bnbench.study.claims import claims_in
    from bnbench.study.experiments import experiments_in
    from bnbench.study.profiles import get_profile, scaled_config

    folder = Path(folder)
    if not folder.is_dir():
        raise BnbenchError(f"{folder}: no such folder; give the --bnbench-out of a run (it may still be training)")
    store = Store(folder)
    if profile_name is None:
        present = _profiles_present(store)
        if len(present) > 1:
            raise BnbenchError(f"{folder} holds runs of several profiles ({', '.join(sorted(present))}): name one "
                               "with --profile")
        if not present:
            raise BnbenchError(f"{folder}: no record or checkpoint under records/ yet; name the run's --profile "
                               "and --section to see what it will train")
        profile_name = present.pop()
    profile = get_profile(profile_name)
    sections = tuple(sections or _sections_present(store))
    if not sections:
        raise BnbenchError(f"{folder}: no experiment of an installed study has records there; name --section")

    runs, planned_paths, finished = [], set(), []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BnbenchSkippedFile)     # a damaged record is shown as not finished
        for section in sections:
            experiments = experiments_in(section)
            if not experiments:
                raise BnbenchError(f"section {section!r} declares no experiments in this process: install the "
                                   "study that declares it, or name another --section")
            for exp in experiments:
                for seed in range(profile.seeds):
                    config = scaled_config(exp.config, profile, exp.section, seed)
                    steps, epochs = planned_steps(config)
                    run = RunState(exp.id, config.model, seed, WAITING, steps, epochs)
                    path = store.record_path(exp.id, profile.name, seed, config.hash)
                    planned_paths.add(path)
                    record = store.load_finished(exp.id, profile.name, seed, config.hash)
                    if record is not None:
                        finished.append(record)
                        run.state, run.steps_done, run.epochs_done = FINISHED, steps, len(record.epochs)
                        run.train_seconds = sum(_number(e.get("train_time_s")) or 0.0 for e in record.epochs)
                        run.test_acc = _number(record.epochs[-1].get("test_acc")) if record.epochs else None
                        run.saved_at = _finished_at(record)
                    else:
                        _from_checkpoint(run, *_checkpoint(store, checkpoint_path(path)))
                    runs.append(run)
    holder = lock_holder(folder)
    st = RunStanding(folder, profile.name, sections, runs, [], holder, _overhead(finished))
    window = _recent_window(st)
    for run in runs:
        if run.state == STOPPED and holder is not None and st.now - (run.saved_at or 0) < window:
            run.state = TRAINING
    done = {(r.experiment, r.seed) for r in runs if r.state == FINISHED}
    for section in sections:
        for claim in claims_in(section):
            n = 0
            while n < profile.seeds and all((e.id, n) in done for e in claim.experiments):
                n += 1
            st.claims.append((claim.id, n, profile.seeds))
    st.unplanned = sum(1 for p in store.record_files() if p not in planned_paths)
    return st


def _from_checkpoint(run: RunState, state: dict | None, mtime: float | None, problem: str) -> None:
    run.note = problem
    if state is None:
        return
    rows = state["epochs"]
    run.state, run.saved_at = STOPPED, mtime
    run.steps_done = max(0, min(state["step"], run.steps_total))
    run.epochs_done = len(rows)
    run.train_seconds = sum(_number(r.get("train_time_s")) or 0.0 for r in rows)
    run.test_acc = _number(rows[-1].get("test_acc")) if rows else None
    last = rows[-RECENT_EPOCHS:]
    seconds = sum(_number(r.get("train_time_s")) or 0.0 for r in last)
    steps = sum(r.get("steps") for r in last if isinstance(r.get("steps"), int) and r.get("steps") > 0)
    run.recent_rate = seconds / steps if seconds > 0 and steps else None


def _finished_at(record) -> float | None:
    try:
        return datetime.fromisoformat(record.finished_at).timestamp()
    except (TypeError, ValueError):
        return None


def _overhead(records) -> float:
    """Median wall time / training time of finished runs that were never resumed (1.0 when there are none)."""
    ratios = []
    for record in records:
        if (record.env or {}).get("resumed_at_epoch"):
            continue
        train = sum(_number(e.get("train_time_s")) or 0.0 for e in record.epochs)
        try:
            wall = (datetime.fromisoformat(record.finished_at)
                    - datetime.fromisoformat(record.started_at)).total_seconds()
        except (TypeError, ValueError):
            continue
        if train > 0 and wall >= train:
            ratios.append(wall / train)
    return statistics.median(ratios) if ratios else 1.0


def _recent_window(st: RunStanding) -> float:
    """How recently a checkpoint must have been saved for its run to count as training: ten minutes, or three
    epochs where an epoch is longer (a checkpoint is saved at an epoch's end)."""
    longest = 0.0
    for run in st.runs:
        rate = st.seconds_per_step(run) if run.state != FINISHED else None
        if rate is not None and run.epochs_total:
            longest = max(longest, 3 * rate * st.overhead * run.steps_total / run.epochs_total)
    return max(RECENT_S, longest)


# -- what ``bnbench progress`` prints ---------------------------------------------------------------------------------

def _cell(run: RunState):
    from bnbench.text import cell

    if run.note:
        return cell("! restarts", "red")
    if run.state == FINISHED:
        return cell(f"{100 * run.test_acc:.1f}%" if run.test_acc is not None else "done", "green")
    if run.state in (TRAINING, STOPPED):
        mark = "▶ " if run.state == TRAINING else "‖ "
        return cell(f"{mark}{run.epochs_done}/{run.epochs_total}", "bold yellow" if run.state == TRAINING else "")
    return cell("·", "dim")


def standing_table(st: RunStanding):
    """One row per experiment, one column per seed: the final test accuracy of a finished run, ▶ epoch k/n for a
    run training now, ‖ k/n for one stopped mid-run, · for one not started; and the experiment's seconds per epoch."""
    from rich.table import Table

    from bnbench.text import cell

    seeds = max((r.seed for r in st.runs), default=-1) + 1
    table = Table(title=cell(f"{st.folder}: {'/'.join(st.sections)} at the {st.profile} profile, "
                             f"{st.count(FINISHED)} of {len(st.runs)} runs finished"), title_justify="left",
                  caption="%: a finished run's final test accuracy · ▶ k/n: training now, epoch k of n · ‖ k/n: stopped"
                          " mid-run (goes on from its checkpoint) · ·: not started", caption_justify="left")
    table.add_column("experiment", overflow="fold")
    for seed in range(seeds):
        table.add_column(f"seed {seed}", justify="right", no_wrap=True)
    table.add_column("s/epoch", justify="right", no_wrap=True)
    by_exp: dict[str, dict[int, RunState]] = {}
    for run in st.runs:
        by_exp.setdefault(run.experiment, {})[run.seed] = run
    for exp, runs in by_exp.items():
        any_run = next(iter(runs.values()))
        rate = st.seconds_per_step(any_run) if any(r.train_seconds for r in runs.values()) else None
        per_epoch = (f"{rate * any_run.steps_total / any_run.epochs_total:.1f}"
                     if rate is not None and any_run.epochs_total else "")
        table.add_row(cell(exp), *[_cell(runs[s]) if s in runs else cell("") for s in range(seeds)], per_epoch)
    return table


def standing_lines(st: RunStanding) -> list[str]:
    """What the table does not show: where the run is, how long it has left, the claims' complete seeds."""
    from bnbench.estimate import format_duration
    from bnbench.text import plain

    done_steps = sum(r.steps_done for r in st.runs)
    all_steps = sum(r.steps_total for r in st.runs) or 1
    counts = [f"{st.count(FINISHED)} finished"]
    for state, words in ((TRAINING, "training now"), (STOPPED, "stopped mid-run"), (WAITING, "not started")):
        if st.count(state):
            counts.append(f"{st.count(state)} {words}")
    lines = [f"runs: {', '.join(counts)} ({len(st.runs)} in all); {done_steps:,} of {all_steps:,} training steps "
             f"({100 * done_steps / all_steps:.0f}%)"]
    left = st.left_seconds()
    now = st.speed_now()
    how = (f"each run's remaining steps at its experiment's seconds per step measured here, x{st.overhead:.2f} "
           "for evaluation and checkpoints" + (f", x{now:.2f} for the speed of the last epochs of the runs "
                                               "training now" if now != 1.0 else ""))
    if st.count(FINISHED) == len(st.runs):
        lines.append("every planned run is finished")
    elif st.holder is not None:
        at_once = st.parallel
        eta = (f"about {format_duration(left / at_once)} left at {at_once} run{'s' * (at_once > 1)} at once "
               f"({format_duration(left)} for one process: {how})" if left is not None
               else "no run has measured its speed here yet: no estimate")
        lines.append(f"a bnbench session (pid {st.holder}) is training in this folder: {eta}")
    else:
        lines.append(f"no bnbench session is training in this folder: {len(st.runs) - st.count(FINISHED)} runs "
                     "left" + (f", about {format_duration(left)} for one process ({how})" if left is not None
                               else "") + "; continue with the command that started it and --bnbench-resume "
                     "(a run stopped mid-run goes on from its checkpoint)")
    claims = "; ".join(f"{cid} {n}/{seeds}" for cid, n, seeds in st.claims)
    if claims:
        lines.append(f"claims, seeds with every run finished: {claims}. Decide them from what is finished: "
                     f"bnbench publish {st.folder} DEST --profile {st.profile} "
                     + " ".join(f"--section {s}" for s in st.sections) + " (provisional below all seeds)")
    for run in st.runs:
        if run.note:
            lines.append(f"{run.experiment} seed {run.seed}: {run.note}")
    if st.unplanned:
        lines.append(f"{st.unplanned} record file{'s' * (st.unplanned > 1)} here {'are' if st.unplanned > 1 else 'is'}"
                     f" of other settings (another profile, section, or --bnbench-epochs/--bnbench-subset/"
                     "--bnbench-seeds): not counted")
    return [plain(line) for line in lines]
