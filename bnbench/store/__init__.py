"""The store: the one owner of an output folder and of every file format in it. The runner writes through it;
``bnbench summary``, ``compare``, ``report`` and ``estimate`` read through it. Layout (``--bnbench-out``)::

    records/<experiment>/<profile>-seed<k>-<config hash>.json      one per training run (formats.record_*)
    records/<claim>/<profile>-seed<k>-timing-<hashes>-<dev>.json   an interleaved timing (formats.timing_*)
    plots/<claim id>.png, plots/documented.png                     figures
    structures/<experiment>.txt                                    layer / output shape / parameters tables
    summary.json                                                   every claim's verdict and numbers
    .workers/<run id>-<worker>.json                                an xdist worker's share, until merged

Everything read back is treated as untrusted: regular files only, bounded in size and depth, types checked
(``formats``), and a record's configuration hash recomputed from its stored configuration. Every path is computed
here from ids (never read from a file), and every folder below the output folder is checked to be a real folder,
not a link, before anything is read from or written into it (``files.real_folder``); the output folder itself is
checked on every write to be the folder it was when the Store was made (``files.check_output_folder``).
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

from bnbench.engine.record import RunRecord
from bnbench.errors import BnbenchError
from bnbench.store.files import (MAX_RECORD_BYTES, MAX_SUMMARY_BYTES, MAX_TIMING_BYTES, file_lock,  # noqa: F401
                                 read_json, real_folder, remove_orphans, safe_name, watch_output_folder,
                                 write_bytes_atomic, write_json_atomic, write_text_atomic)
from bnbench.store.formats import (FormatError, Shard, Summary, record_from_json, record_to_json,  # noqa: F401
                                   shard_from_json, shard_to_json, summary_from_json, summary_to_json,
                                   timing_from_json)


def load_summary(path: str | Path) -> Summary:
    """A run's summary.json (``path`` is the file or its folder), validated; BnbenchError naming what is wrong."""
    p = Path(path)
    p = p / "summary.json" if p.is_dir() else p
    try:
        data = read_json(p, MAX_SUMMARY_BYTES, "a summary.json")
    except FileNotFoundError:
        hint = ("; its records are there: a run still training (see bnbench progress "
                f"{p.parent}) or one that was killed, whose command rerun with --bnbench-resume reuses every "
                "finished record and writes the summary" if (p.parent / "records").is_dir() else "")
        raise BnbenchError(f"{p}: no summary.json there; give the --bnbench-out folder of a finished run"
                           + hint) from None
    return summary_from_json(data, str(p))


def load_record(path: str | Path) -> RunRecord:
    return record_from_json(_read_record(Path(path)), str(path))


def _read_record(path: Path) -> dict:
    return read_json(path, MAX_RECORD_BYTES, "a run record")


def _hash_checked(record: RunRecord, path: Path, config_hash: str) -> RunRecord:
    """``record``, once its stored configuration is found to hash to ``config_hash`` (the hash its file name and
    its own config_hash give): a stored hash is never trusted. FormatError naming the file otherwise."""
    from bnbench.engine.config import TrainConfig

    try:
        stored = TrainConfig.from_dict(record.config).hash
    except BnbenchError as exc:
        raise FormatError(f"{path}: its stored configuration is not valid ({exc})") from None
    if stored != config_hash:
        raise FormatError(f"{path}: its stored configuration hashes to {stored}, not {config_hash}")
    return record


_RECORD_NAME = re.compile(r"(?P<profile>.+)-seed(?P<seed>\d+)-(?P<hash>[0-9a-f]+)\.json")


class Store:
    """One output folder."""

    def __init__(self, out: str | Path):
        self.out = Path(out).expanduser().resolve()
        watch_output_folder(self.out)
        self._run_lock: int | None = None
        self.claimed = False   # whether this process holds the folder for its run (``claim``)

    # -- holding the folder for one run ------------------------------------------------------------
    def claim(self, run_id: str, shared: bool = False) -> None:
        """Before any training: the folder is writable, and this run holds it (``files.acquire_run_lock``): a
        second pytest process on the same folder is refused with one line naming the holder's pid, while the
        xdist workers of one run (``shared``) hold it together. The process that finds the folder free removes
        the temporary files a killed run left there (only bnbench's own, in the folders it writes)."""
        from bnbench.store.files import acquire_run_lock

        self.check_writable()
        if not self.claimed:
            self._run_lock, first = acquire_run_lock(self.out, run_id, shared=shared)
            self.claimed = True
            if first:
                self.remove_orphans()

    def release(self) -> None:
        from bnbench.store.files import release_run_lock

        release_run_lock(self._run_lock)
        self._run_lock, self.claimed = None, False

    def check_writable(self) -> None:
        """The folder is made (the one every later write checks it still is: ``files.check_output_folder``) and
        takes a file, named like bnbench's temporary files so that the sweep finds it. ConfigError otherwise."""
        import tempfile

        from bnbench.errors import ConfigError
        from bnbench.store.files import TMP_PREFIX, check_output_folder

        try:
            self.out.mkdir(parents=True, exist_ok=True)
            check_output_folder(self.out)
            with tempfile.NamedTemporaryFile(dir=self.out, prefix=f"{TMP_PREFIX}write-test.", suffix=".tmp"):
                pass
        except OSError as exc:
            raise ConfigError(f"--bnbench-out {self.out}: cannot write there ({exc.strerror or exc}); "
                              "choose a writable directory") from None

    def remove_orphans(self) -> int:
        """Delete the temporary files a killed run left in the folders bnbench writes (the output folder itself,
        plots/, structures/, .workers/, records/ and each records/<id>/), nowhere else: a user's own files under
        the output folder are never touched. Real folders only (no link followed). Returns how many."""
        folders = [self.out, self.out / "plots", self.out / "structures", self.out / ".workers", self.out / "records"]
        with contextlib.suppress(OSError):    # records/<id>/: one level down, each checked below like the rest
            folders += [Path(e.path) for e in os.scandir(folders[-1]) if e.is_dir(follow_symlinks=False)]
        n = 0
        for folder in folders:
            try:
                real_folder(self.out, folder, create=False)
            except (FileNotFoundError, BnbenchError):
                continue                      # missing, or a link: nothing of bnbench's to clean there
            n += remove_orphans(folder)
        return n

    def writable(self, path: Path) -> Path:
        """``path``, once its folder is checked to be a real folder inside this one (made where missing)."""
        real_folder(self.out, Path(path).parent)
        return Path(path)

    def readable(self, path: Path) -> Path:
        """``path``, once its folder is checked to be a real folder inside this one; FileNotFoundError when a
        folder on the way is missing."""
        real_folder(self.out, Path(path).parent, create=False)
        return Path(path)

    def plot_path(self, name: str) -> Path:
        """plots/<name>.png, computed from a claim id or a fixed name, in a real plots/ folder."""
        return self.writable(self.out / "plots" / f"{safe_name(name)}.png")

    def record_files(self) -> list[Path]:
        """Every *.json under records/, walking real folders only (no link is followed), sorted."""
        root = self.out / "records"
        try:
            self.readable(root / "x")
        except (FileNotFoundError, BnbenchError):
            return []
        found = []
        for here, _dirs, files in os.walk(root, followlinks=False):
            found += [Path(here) / f for f in files if f.endswith(".json") and not f.startswith(".")]
        return sorted(found)

    def run_records(self, experiment_id: str, profile: str) -> list[Path]:
        """The record files of one experiment at one profile (``record_path``'s names; timings, checkpoints,
        locks and temporary files have others), sorted; [] when it has no folder. Whatever holds such a name is
        listed, a FIFO or a folder included, for the loader to refuse; a link on the way is refused here."""
        folder = self.out / "records" / safe_name(experiment_id)
        try:
            self.readable(folder / "x")
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise BnbenchError(f"{folder}: cannot list it ({exc.strerror or exc}); check its permissions") from None
        return sorted(folder / n for n in names if (m := _RECORD_NAME.fullmatch(n)) and m["profile"] == profile)

    def load_record_file(self, path: Path) -> tuple[RunRecord, str, str]:
        """A run record under records/, read once (bounded, no link on the way) and validated, with the experiment
        id and profile it was saved under, from the same read. It must be where ``save_record`` puts that run, and
        its stored configuration must hash to the hash in its name and in its config_hash (neither is trusted).
        BnbenchError naming the file otherwise."""
        path = Path(path)
        data = _read_record(self.readable(path))
        record = record_from_json(data, str(path))
        experiment, profile = data.get("experiment"), data.get("profile")
        if not (isinstance(experiment, str) and isinstance(profile, str)):
            raise FormatError(f"{path}: names no experiment and profile; not a record bnbench saved")
        m = _RECORD_NAME.fullmatch(path.name)
        home = self.record_path(experiment, profile, int(m["seed"]), record.config_hash) if m else None
        if path != home:
            raise FormatError(f"{path}: holds a run of {experiment[:80]!r} [{profile[:20]}] with configuration hash "
                              f"{record.config_hash[:40]!r}, which bnbench saves as {home or 'another name'}")
        return _hash_checked(record, path, record.config_hash), experiment, profile

    # -- records ----------------------------------------------------------------------------------------------------
    def record_path(self, experiment_id: str, profile: str, seed: int, config_hash: str) -> Path:
        return self.out / "records" / safe_name(experiment_id) / safe_name(f"{profile}-seed{seed}-{config_hash}.json")

    def save_record(self, record: RunRecord, experiment_id: str, profile: str, seed: int, **context: Any) -> Path:
        path = self.writable(self.record_path(experiment_id, profile, seed, record.config_hash))
        write_json_atomic(path, record_to_json(record, experiment=experiment_id, profile=profile, **context))
        return path

    def load_finished(self, experiment_id: str, profile: str, seed: int, config_hash: str) -> RunRecord | None:
        """A finished record of exactly this configuration, or None (absent, unreadable, unfinished, or its stored
        configuration does not hash to ``config_hash``: the stored hash itself is never trusted)."""
        path = self.record_path(experiment_id, profile, seed, config_hash)
        try:
            record = load_record(self.readable(path))
            if not record.finished_at:
                return None                        # an unfinished record: what a killed run left
            _hash_checked(record, path, config_hash)
        except FileNotFoundError:
            return None
        except BnbenchError as exc:
            # a damaged or foreign record is retrained, and overwritten when the new run finishes: one line says so
            self.skipped(f"{exc}; retraining it")
            return None
        return record

    def skipped(self, message: str) -> None:
        """One line about a file that was not used (damaged, foreign, of another configuration)."""
        import warnings

        from bnbench.errors import BnbenchSkippedFile
        from bnbench.text import plain

        warnings.warn(BnbenchSkippedFile(plain(message)), stacklevel=3)

    def lock(self, path: Path):
        """The per-file lock that makes one process train a configuration while the others wait for its record."""
        return file_lock(self.writable(path).with_name(f".{path.name}.lock"))

    # -- interleaved timings ----------------------------------------------------------------------------------------
    def timing_path(self, claim_id: str, profile: str, seed: int, key: str) -> Path:
        return self.out / "records" / safe_name(claim_id) / safe_name(f"{profile}-seed{seed}-timing-{key}.json")

    def load_timing(self, path: Path) -> dict | None:
        try:
            return timing_from_json(read_json(self.readable(path), MAX_TIMING_BYTES, "a timing"), str(path))
        except FileNotFoundError:
            return None
        except BnbenchError as exc:
            self.skipped(f"{exc}; measuring it again")
            return None   # damaged: measured again

    def save_timing(self, path: Path, timing: dict) -> None:
        write_json_atomic(self.writable(path), timing)

    # -- worker shards ----------------------------------------------------------------------------------------------
    def shard_path(self, run_id: str, worker: str) -> Path:
        return self.out / ".workers" / safe_name(f"{run_id}-{worker}.json")

    def write_shard(self, shard: Shard, worker: str) -> None:
        write_json_atomic(self.writable(self.shard_path(shard.run_id, worker)), shard_to_json(shard))

    def take_shards(self, run_id: str, errors: list[str] | None = None) -> list[Shard]:
        """Every worker's share of this run, removed from the folder once read. The record paths a shard names
        are data: each must be a record file of this folder's records/ (no '..', no link on the way). A share that
        does not read back raises, or with ``errors`` given is left in place and named there."""
        shards = []
        folder = self.out / ".workers"
        try:
            self.readable(folder / "x")
        except FileNotFoundError:
            return shards
        for path in sorted(folder.glob(f"{safe_name(run_id)}-*.json")):
            try:
                shard = shard_from_json(read_json(path, MAX_SUMMARY_BYTES, "a worker's share"), str(path))
                for paths in shard.records.values():
                    for p in paths:
                        self.record_file(p, source=str(path))
            except BnbenchError as exc:
                if errors is None:
                    raise
                errors.append(str(exc))
                continue
            shards.append(shard)
            path.unlink()
        return shards

    def record_file(self, name: str, source: str) -> Path:
        """A record path read from a file, checked to be a *.json under this folder's records/ (real folders)."""
        p = Path(name)
        try:
            p.relative_to(self.out / "records")
            ok = p.suffix == ".json" and ".." not in p.parts
        except ValueError:
            ok = False
        if not ok:
            raise FormatError(f"{source}: names {name[:120]!r}, which is not a record of {self.out}")
        try:
            return self.readable(p)
        except FileNotFoundError:
            raise FormatError(f"{source}: names {name[:120]!r}, which does not exist") from None

    # -- summary ----------------------------------------------------------------------------------------------------
    @property
    def summary_path(self) -> Path:
        return self.out / "summary.json"

    def write_summary(self, summary: Summary, **context: Any) -> Path:
        write_json_atomic(self.writable(self.summary_path), summary_to_json(summary, **context))
        return self.summary_path

    def mark_partial(self) -> None:
        """summary.json, already written, marked partial: a SIGTERM held while it was written still makes the run
        an interrupted one."""
        data = read_json(self.readable(self.summary_path), MAX_SUMMARY_BYTES, "a summary.json")
        data["partial"] = True
        write_json_atomic(self.writable(self.summary_path), data)

    def write_text(self, path: Path, text: str) -> Path:
        write_text_atomic(self.writable(path), text)
        return path
