"""``bnbench export DIR``: a run folder's records as one tidy table, one row per (experiment, profile, seed, epoch),
for pandas, R, a spreadsheet or TensorBoard.

    csv          DIR/export/epochs.csv       the standard library's csv module; empty cells where nothing was measured
    parquet      DIR/export/epochs.parquet   needs pandas and pyarrow (``pip install 'bnbench[export]'``)
    tensorboard  DIR/export/tensorboard/     one run per record; ``pip install 'bnbench[tensorboard]'``

Records are read through the store only (validated, bounded, no link followed); a file that does not read back, or
an unfinished run, is skipped with one line on standard error naming it, and the rest is exported. Files are written
to a temporary name beside the target and renamed over it, so a reader never sees half a file.
"""
from __future__ import annotations

import csv
import io
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bnbench.engine.record import RunRecord
from bnbench.errors import BnbenchError
from bnbench.store import _RECORD_NAME, Store
from bnbench.store.files import safe_name, swap_folder, write_bytes_atomic, write_text_atomic

# The table's columns, in order. Every row has every column (None where a record has no value: an epoch not
# evaluated has no test_loss / test_acc; a record written before train_acc existed has none).
COLUMNS = ("experiment", "profile", "seed", "model", "config_hash", "epoch", "train_loss", "train_acc", "test_loss",
           "test_acc", "train_time_s", "images", "steps", "lr", "batch_size", "precision", "device", "diverged")
INT_COLUMNS = frozenset({"seed", "epoch", "images", "steps", "batch_size"})
FLOAT_COLUMNS = frozenset({"train_loss", "train_acc", "test_loss", "test_acc", "train_time_s", "lr"})
# The per-epoch numbers of a record, as they go to TensorBoard (tag "epoch/<name>", global step = the epoch).
EPOCH_SCALARS = ("test_acc", "test_loss", "train_loss", "train_acc", "train_time_s")
# TensorBoard's scalar plugin keeps 1,000 points per tag by default and its charts slow down beyond some ten
# thousands: a long run's per-step losses (the study's full scale: 78,150 steps) are thinned to at most this many.
MAX_STEP_POINTS = 20_000
TENSORBOARD_MARK = ".bnbench-export"   # the file that says a folder is an export bnbench may replace


@dataclass(frozen=True)
class _Run:
    record: RunRecord
    experiment: str
    profile: str
    seed: int
    path: Path


def _warn_skipped(path: Path, why: str) -> None:
    from bnbench.text import plain

    print(plain(f"bnbench: skipped {why if str(path) in why else f'{path}: {why}'}"), file=sys.stderr)


def _seed(record: RunRecord, path: Path) -> int:
    """The seed from the stored configuration (the store has checked it hashes to the file's hash), else from the
    file name the store gave it."""
    seed = record.config.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    m = _RECORD_NAME.fullmatch(path.name)
    return int(m["seed"]) if m else 0   # load_record_file accepts only files named as save_record names them


def finished_runs(run_dir: str | Path) -> list[_Run]:
    """Every finished record under ``run_dir``/records, sorted by experiment, profile, seed and configuration hash.
    A file that does not read back (or an unfinished run) is skipped with a line on stderr; BnbenchError when
    nothing is left."""
    store = Store(run_dir)
    runs, skipped = [], 0
    files = store.record_files()
    for path in files:
        try:
            record, experiment, profile = store.load_record_file(path)
        except (OSError, BnbenchError) as exc:
            _warn_skipped(path, str(exc) if isinstance(exc, BnbenchError) else (exc.strerror or str(exc)))
            skipped += 1
            continue
        if not record.finished_at:
            _warn_skipped(path, "an unfinished run (no finished_at)")
            skipped += 1
            continue
        runs.append(_Run(record, experiment, profile, _seed(record, path), path))
    if not runs:
        why = (f"{skipped} record file(s) under records/, none readable and finished" if files
               else "no records/ folder with record files; give the --bnbench-out folder of a run")
        raise BnbenchError(f"no finished records in {store.out} ({why})")
    return sorted(runs, key=lambda r: (r.experiment, r.profile, r.seed, r.record.config_hash))


def _typed(column: str, value: Any) -> Any:
    """A cell as its column's type: whole numbers int, measurements float, None where missing or not finite."""
    if value is None or (isinstance(value, bool) and column in INT_COLUMNS | FLOAT_COLUMNS):
        return None
    if column in INT_COLUMNS:
        return int(value)
    if column in FLOAT_COLUMNS:
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def epoch_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    """One row per (experiment, profile, seed, epoch) of every finished record in ``run_dir``, with the columns of
    ``COLUMNS``: numbers as int / float, None where not measured (test_loss and test_acc of an epoch not evaluated),
    sorted by experiment, profile, seed (then configuration hash) and epoch. BnbenchError when there is no record."""
    rows = []
    for run in finished_runs(run_dir):
        rec, config = run.record, run.record.config
        fixed = {"experiment": run.experiment, "profile": run.profile, "seed": run.seed,
                 "model": config.get("model"), "config_hash": rec.config_hash, "lr": config.get("lr"),
                 "batch_size": config.get("batch_size"), "precision": config.get("precision"),
                 "device": rec.device, "diverged": bool(rec.diverged)}
        for e in sorted(rec.epochs, key=lambda e: e.get("epoch") or 0):
            row = {**fixed, **{k: e.get(k) for k in COLUMNS if k not in fixed}}
            rows.append({k: _typed(k, row[k]) for k in COLUMNS})
    return rows


def _target_file(path: str | Path, default_name: str) -> Path:
    """``path`` as a file to write: refused when it is a folder; its folder made (real folders only, as the store
    checks them) and resolved, as the store computes every path inside it."""
    given = Path(path).expanduser()
    if given.name in ("", ".", "..") or given.is_dir():
        raise BnbenchError(f"{given} is a folder; -o takes a file name, e.g. {given / default_name}")
    store = Store(given.parent)
    return store.writable(store.out / given.name)


def to_csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    # None is written as an empty cell by csv; floats as repr, which reads back to the same float
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """``rows`` (``epoch_rows``) as CSV at ``path``, written atomically; returns the path written."""
    target = _target_file(path, "epochs.csv")
    write_text_atomic(target, to_csv_text(rows))
    return target


def _pandas():
    try:
        import pandas
        import pyarrow  # noqa: F401
    except ImportError:
        raise BnbenchError("--format parquet needs pandas and pyarrow: pip install 'bnbench[export]' "
                           "(or use --format csv, which needs neither)") from None
    return pandas


def to_frame(rows: list[dict[str, Any]]):
    """``rows`` as a pandas DataFrame with the ``COLUMNS`` in order: measurements float64 (NaN where missing), whole
    numbers int64 (float64 should one be missing)."""
    pd = _pandas()
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    for column in INT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="raise")
    frame["diverged"] = frame["diverged"].astype(bool)
    return frame


def write_parquet(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """``rows`` as a Parquet file at ``path`` (pandas + pyarrow), written atomically; returns the path written."""
    frame = to_frame(rows)                  # BnbenchError with the install hint before anything is made
    target = _target_file(path, "epochs.parquet")
    buf = io.BytesIO()
    frame.to_parquet(buf, engine="pyarrow", index=False)
    write_bytes_atomic(target, buf.getvalue())
    return target


def _summary_writer():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise BnbenchError("--format tensorboard needs the tensorboard package: pip install 'bnbench[tensorboard]'") \
            from None
    return SummaryWriter


def _replaceable_folder(folder: Path) -> bool:
    """Whether ``folder`` may be replaced by a new export: missing, empty, or an earlier export (it holds the mark)."""
    try:
        if folder.is_symlink() or not folder.is_dir():
            return not os.path.lexists(folder)
        return not any(folder.iterdir()) or (folder / TENSORBOARD_MARK).is_file()
    except OSError:
        return False


def write_tensorboard(run_dir: str | Path, logdir: str | Path) -> Path:
    """TensorBoard event files of every finished record in ``run_dir``, in ``logdir``: one run per record, in
    ``<experiment>/<profile>-seed<N>`` (safe names; ``-<config hash>`` added where two records would share one):

    - ``epoch/test_acc``, ``epoch/test_loss``, ``epoch/train_loss``, ``epoch/train_acc``, ``epoch/train_time_s`` at
      global step = the epoch (1, 2, ...); an epoch not evaluated has no test point;
    - ``step/train_loss``: the training loss of every optimizer step, at global step = the step's index (0-based, as
      ``diverged_step`` counts). A run of more than 20,000 steps (``MAX_STEP_POINTS``) is thinned to every k-th step,
      k = ceil(steps / 20,000), so at most 20,000 points: TensorBoard's charts slow down with more. Non-finite
      losses (a diverged run's last steps) are left out.

    The export is built in a temporary folder beside ``logdir`` and then put in its place, so an earlier export there
    is replaced, not mixed with the new one (TensorBoard would draw both). A ``logdir`` that holds anything but an
    earlier export is refused. Needs the tensorboard package; torch is imported here, not before."""
    runs = finished_runs(run_dir)
    SummaryWriter = _summary_writer()
    given = Path(logdir).expanduser()
    if given.name in ("", ".", ".."):
        raise BnbenchError(f"{given}: name the TensorBoard folder to write, e.g. {given / 'tensorboard'}")
    store = Store(given.parent)
    target = store.out / given.name
    store.writable(target)                   # its parent: a real folder, made where missing
    if not _replaceable_folder(target):
        raise BnbenchError(f"{target} exists and is not an earlier bnbench export (no {TENSORBOARD_MARK} in it); "
                           "remove it or choose another -o folder")
    try:
        work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    except OSError as exc:
        raise BnbenchError(f"cannot write {target}: {exc.strerror or exc}; choose another -o folder") from None
    try:
        used: set[str] = set()
        for run in runs:
            name = f"{safe_name(run.experiment)}/{safe_name(f'{run.profile}-seed{run.seed}')}"
            if name in used:
                name += f"-{safe_name(run.record.config_hash)[:16]}"
            used.add(name)
            _write_run(SummaryWriter, work / name, run.record)
        write_text_atomic(work / TENSORBOARD_MARK,
                          "written by bnbench export; the whole folder is replaced on the next\n")
        os.chmod(work, 0o777 & ~_umask())
        swap_folder(work, target, _replaceable_folder)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise BnbenchError(f"cannot write {target}: {exc.strerror or exc}; choose another -o folder") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_run(SummaryWriter, folder: Path, record: RunRecord) -> None:
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for e in record.epochs:
            for key in EPOCH_SCALARS:
                value = e.get(key)
                if value is not None and not isinstance(value, bool) and math.isfinite(value):
                    writer.add_scalar(f"epoch/{key}", float(value), global_step=int(e["epoch"]))
        losses = record.step_loss
        every = max(1, math.ceil(len(losses) / MAX_STEP_POINTS))
        for i in range(0, len(losses), every):
            if math.isfinite(losses[i]):
                writer.add_scalar("step/train_loss", float(losses[i]), global_step=i)
    finally:
        writer.close()


@dataclass(frozen=True)
class ExportFormat:
    """One ``bnbench export --format``: how it writes a run folder (``write(run_dir, output) -> (path, lines)``,
    the lines printed after it: what was written and how to read it), where by default (under DIR/export/), and
    what it needs installed (shown in the CLI's help)."""
    name: str
    write: Callable[[str | Path, str | Path], tuple[Path, list[str]]]
    default: str
    needs: str = ""


def _export_rows(writer, reader: str):
    def write(run_dir, output):
        rows = epoch_rows(run_dir)
        path = writer(rows, output)
        runs = len({(r["experiment"], r["profile"], r["seed"], r["config_hash"]) for r in rows})
        return path, [f"wrote {path} ({len(rows)} epochs of {runs} runs)", f"read it with: {reader}({str(path)!r})"]
    return write


def _export_tensorboard(run_dir, output):
    import shlex

    path = write_tensorboard(run_dir, output)
    return path, [f"wrote {path}", f"view it with: tensorboard --logdir {shlex.quote(str(path))}"]


# Every export format, in the order the CLI lists them (the first is the default): adding one is one entry here.
EXPORT_FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("csv", _export_rows(write_csv, "pandas.read_csv"), "epochs.csv"),
    ExportFormat("parquet", _export_rows(write_parquet, "pandas.read_parquet"), "epochs.parquet",
                 needs="pip install 'bnbench[export]'"),
    ExportFormat("tensorboard", _export_tensorboard, "tensorboard", needs="pip install 'bnbench[tensorboard]'"),
)}


def export(run_dir: str | Path, format: str = "csv", output: str | Path | None = None) -> tuple[Path, list[str]]:
    """Write ``run_dir``'s records in ``format`` (one of ``EXPORT_FORMATS``) at ``output`` (default
    DIR/export/<the format's default name>). Returns the path written and the lines that say what and how to read."""
    try:
        fmt = EXPORT_FORMATS[format]
    except KeyError:
        raise BnbenchError(f"export format {format!r} is not known; use {', '.join(EXPORT_FORMATS)}") from None
    return fmt.write(run_dir, output or Store(run_dir).out / "export" / fmt.default)
