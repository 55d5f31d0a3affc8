"""The store: the one owner of an output folder and of every file format in it. The runner writes through it;
``bnbench summary``, ``compare``, ``report`` and ``estimate`` read through it. Layout (``--bnbench-out``)::

    records/<experiment>/<profile>-seed<k>-<config hash>.json      one per training run (formats.record_*)
    records/<claim>/<profile>-seed<k>-timing-<hashes>-<dev>.json   an interleaved timing (formats.timing_*)
    plots/<claim id>.png, plots/documented.png                     figures
    structures/<experiment>.txt                                    layer / output shape / parameters tables
    summary.json                                                   every claim's verdict and numbers
    .workers/<run id>-<worker>.json                                an xdist worker's share, until merged

Everything read back is treated as untrusted: regular files only, bounded in size and depth, types checked
(``formats``), and a record's configuration hash recomputed from its stored configuration.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bnbench.engine.record import RunRecord
from bnbench.errors import BnbenchError
from bnbench.store.files import (file_lock, read_json, remove_orphans, safe_name, write_json_atomic,  # noqa: F401
                                 write_text_atomic)
from bnbench.store.formats import (FormatError, Shard, Summary, record_from_json, record_to_json,  # noqa: F401
                                   shard_from_json, shard_to_json, summary_from_json, summary_to_json,
                                   timing_from_json)


def load_summary(path: str | Path) -> Summary:
    """A run's summary.json (``path`` is the file or its folder), validated; BnbenchError naming what is wrong."""
    p = Path(path)
    p = p / "summary.json" if p.is_dir() else p
    try:
        data = read_json(p)
    except FileNotFoundError:
        raise BnbenchError(f"{p}: no summary.json there; give the --bnbench-out folder of a finished run") from None
    return summary_from_json(data, str(p))


def load_record(path: str | Path) -> RunRecord:
    return record_from_json(read_json(Path(path)), str(path))


class Store:
    """One output folder."""

    def __init__(self, out: str | Path):
        self.out = Path(out).expanduser().resolve()

    def path(self, *parts: str) -> Path:
        """A path inside the folder from computed components (each made path-safe): never from data."""
        return self.out.joinpath(*(safe_name(p) if i < len(parts) - 1 else p for i, p in enumerate(parts)))

    # -- records ----------------------------------------------------------------------------------------------------
    def record_path(self, experiment_id: str, profile: str, seed: int, config_hash: str) -> Path:
        return self.out / "records" / safe_name(experiment_id) / safe_name(f"{profile}-seed{seed}-{config_hash}.json")

    def save_record(self, record: RunRecord, experiment_id: str, profile: str, seed: int, **context: Any) -> Path:
        path = self.record_path(experiment_id, profile, seed, record.config_hash)
        write_json_atomic(path, record_to_json(record, experiment=experiment_id, profile=profile, **context))
        return path

    def load_finished(self, experiment_id: str, profile: str, seed: int, config_hash: str) -> RunRecord | None:
        """A finished record of exactly this configuration, or None (absent, unreadable, unfinished, or its stored
        configuration does not hash to ``config_hash``: the stored hash itself is never trusted)."""
        from bnbench.engine.config import TrainConfig

        path = self.record_path(experiment_id, profile, seed, config_hash)
        try:
            record = load_record(path)
            if not record.finished_at or TrainConfig.from_dict(record.config).hash != config_hash:
                return None
        except FileNotFoundError:
            return None
        except BnbenchError:
            return None   # a damaged or foreign record is retrained, and overwritten when the new run finishes
        return record

    @staticmethod
    def lock(path: Path):
        """The per-file lock that makes one process train a configuration while the others wait for its record."""
        return file_lock(path.with_name(f".{path.name}.lock"))

    # -- interleaved timings ----------------------------------------------------------------------------------------
    def timing_path(self, claim_id: str, profile: str, seed: int, key: str) -> Path:
        return self.out / "records" / safe_name(claim_id) / safe_name(f"{profile}-seed{seed}-timing-{key}.json")

    def load_timing(self, path: Path) -> dict | None:
        try:
            return timing_from_json(read_json(path), str(path))
        except (FileNotFoundError, BnbenchError):
            return None   # absent or damaged: measured again

    def save_timing(self, path: Path, timing: dict) -> None:
        write_json_atomic(path, timing)

    # -- worker shards ----------------------------------------------------------------------------------------------
    def shard_path(self, run_id: str, worker: str) -> Path:
        return self.out / ".workers" / safe_name(f"{run_id}-{worker}.json")

    def write_shard(self, shard: Shard, worker: str) -> None:
        write_json_atomic(self.shard_path(shard.run_id, worker), shard_to_json(shard))

    def take_shards(self, run_id: str) -> list[Shard]:
        """Every worker's share of this run, removed from the folder once read."""
        shards = []
        folder = self.out / ".workers"
        if not folder.is_dir():
            return shards
        for path in sorted(folder.glob(f"{safe_name(run_id)}-*.json")):
            shards.append(shard_from_json(read_json(path), str(path)))
            path.unlink()
        return shards

    # -- summary ----------------------------------------------------------------------------------------------------
    @property
    def summary_path(self) -> Path:
        return self.out / "summary.json"

    def write_summary(self, summary: Summary, **context: Any) -> Path:
        write_json_atomic(self.summary_path, summary_to_json(summary, **context))
        return self.summary_path

    def write_text(self, path: Path, text: str) -> Path:
        write_text_atomic(path, text)
        return path
