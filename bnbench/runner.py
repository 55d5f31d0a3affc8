"""One benchmark session: options, the data and device (loaded once), a cache of finished runs, the claims'
results, and what is written under the output directory. Plain Python: the pytest plugin is a thin layer over
this, and it can be driven without pytest. Torch is imported only when something is trained.

Output layout (``--bnbench-out``, default ``bnbench-results/``)::

    records/<experiment>/<profile>-seed<k>-<config hash>.json   one per training run
    plots/<claim id>.png, plots/documented.png                   figures
    structures/<experiment>.txt                                 layer / output shape / parameters tables
    summary.json                                                every claim's verdict and numbers
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnbench.study.claims import Claim
from bnbench.study.experiments import Experiment
from bnbench.verdicts.evaluate import ClaimResult, evaluate
from bnbench.errors import BnbenchError, ConfigError
from bnbench.study.profiles import Profile, get_profile, scaled_config, with_overrides
from bnbench.engine.record import RunRecord


@dataclass(frozen=True)
class Options:
    data: str | None = None
    device: str = "auto"
    out: str = "bnbench-results"
    seeds: int | None = None
    epochs: int | None = None
    subset: int | None = None
    strict: bool = False
    resume: bool = False
    cuda_graphs: bool = True   # see bnbench.engine.cuda_graphs; an execution detail, so not part of a run's config hash

    def __post_init__(self):
        from bnbench.engine.device import parse_device

        parse_device(self.device, what="--bnbench-device")
        for name, value, lo, hi in (("--bnbench-seeds", self.seeds, 1, 100), ("--bnbench-epochs", self.epochs, 1, 10000),
                                    ("--bnbench-subset", self.subset, 0, 5000)):
            if value is not None and not (isinstance(value, int) and lo <= value <= hi):
                raise ConfigError(f"{name} {value!r} is out of range; use an integer from {lo} to {hi}"
                                  + (" (0 = all data)" if name == "--bnbench-subset" else ""))


def parse_int_option(name: str, raw: Any) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {raw!r} is not a whole number") from None


def safe_name(text: str) -> str:
    """A claim or experiment id as one path component: "1.1/hidden-500" -> "1.1_hidden-500"."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "unnamed"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same directory, then rename: a reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise BnbenchError(f"cannot write {path}: {exc.strerror or exc}; choose another --bnbench-out") from None
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, allow_nan=False, default=_json_default)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes 0600; results are meant to be shared like any file
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise BnbenchError(f"cannot write {path}: {why}; free space or choose another --bnbench-out "
                               "(records written so far are intact)") from None
        raise


_UMASK = os.umask(0)
os.umask(_UMASK)


def _json_default(obj):
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean(x: Any) -> Any:
    """NaN / inf are not JSON: store them as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock across processes (pytest-xdist workers): one of them trains a configuration,
    the others wait, then read its record. A no-op where fcntl is unavailable."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def new_run_id() -> str:
    import uuid

    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


class BnbenchSession:
    def __init__(self, options: Options, progress_factory=None, run_id: str | None = None,
                 worker: str | None = None):
        self.options = options
        self.run_id = run_id or new_run_id()   # shared by every xdist worker of one pytest run
        self.worker = worker                   # "gw0", ... under pytest-xdist, else None
        self.out = Path(options.out).expanduser().resolve()
        self.results: list[ClaimResult] = []
        self.records: dict[str, list[RunRecord]] = {}   # "<profile>:<experiment id>" -> records by seed
        self.record_files: dict[str, list[str]] = {}    # the same keys -> where those records are
        self._cache: dict[str, RunRecord] = {}          # config hash -> record
        self._data = None
        self._device = None
        self._progress_factory = progress_factory
        self.trained = 0                                 # training runs actually executed (not from cache)
        self.resumed = 0                                 # runs taken from a finished record (--bnbench-resume)
        self.speed_rows: list[dict] = []                 # MyNet: bnbench vs the study-style loop, full epochs
        self.model_speed_rows: list[dict] = []           # every model: images/s, FLOP/s, fraction of peak
        self.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    # -- resources ------------------------------------------------------------------------------
    def check_out_dir(self) -> None:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.out, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise ConfigError(f"--bnbench-out {self.out}: cannot write there ({exc.strerror or exc}); "
                              "choose a writable directory") from None

    @property
    def data(self):
        if self._data is None:
            from bnbench.engine.data import load_cifar10

            self._data = load_cifar10(self.options.data, download=True)
        return self._data

    @property
    def device(self):
        if self._device is None:
            import torch

            from bnbench.engine.train import resolve_device

            self._device = resolve_device(self.options.device)
            # Several GPUs and several xdist workers: worker gwK takes GPU K mod n.
            if (self._device.type == "cuda" and self.options.device in ("auto", "cuda") and self.worker
                    and torch.cuda.device_count() > 1):
                self._device = torch.device("cuda", int(self.worker.lstrip("gw") or 0) % torch.cuda.device_count())
        return self._device

    def profile(self, name: str) -> Profile:
        o = self.options
        return with_overrides(get_profile(name), epochs=o.epochs, seeds=o.seeds, subset=o.subset)

    # -- training -------------------------------------------------------------------------------
    def run(self, experiment: Experiment, profile: Profile, seed: int) -> RunRecord:
        """Train one seed of an experiment at a profile's scale (once per session per configuration)."""
        config = scaled_config(experiment.config, profile, experiment.section, seed)
        record = self._cache.get(config.hash)
        if record is not None:
            return record
        path = self.record_path(experiment, profile, seed, config.hash)
        with file_lock(path.with_name(f".{path.name}.lock")):
            record = self.load_finished(experiment, profile, seed, config.hash)
            if record is not None and record.run_id != self.run_id and not self.options.resume:
                record = None                      # an older run's record: only --bnbench-resume reuses it
            if record is not None:
                if record.run_id != self.run_id:
                    self.resumed += 1
            else:
                from bnbench.engine.train import train

                progress = self._progress_factory() if self._progress_factory else None
                record = train(config, self.data, device=self.device, progress=progress,
                               cuda_graphs=self.options.cuda_graphs)
                record.run_id = self.run_id
                self.trained += 1
                self.write_record(record, experiment, profile, seed)
        self._cache[config.hash] = record
        return record

    def interleaved_timing(self, claim: Claim, profile: Profile, seed: int) -> dict:
        """Seed ``seed``'s drift-cancelling timing of a claim's two sides (``bnbench.engine.timing``): both networks'
        training steps alternated in ABBA order at the profile's scale. Kept beside the records, reused like them."""
        from bnbench.engine.timing import interleaved_step_times

        a, b = (scaled_config(e.config, profile, e.section, seed) for e in (claim.a[0], claim.b[0]))
        key = f"{a.hash}-{b.hash}-{self.device.type}"
        path = self.out / "records" / safe_name(claim.id) / f"{profile.name}-seed{seed}-timing-{key}.json"
        with file_lock(path.with_name(f".{path.name}.lock")):
            try:
                found = json.loads(path.read_text())
                if found.get("run_id") == self.run_id or self.options.resume:
                    if found.get("run_id") != self.run_id:
                        self.resumed += 1
                    return found
            except (OSError, ValueError, AttributeError):
                pass   # absent or damaged: measure again
            timing = interleaved_step_times(a, b, self.data, device=self.device, cuda_graphs=self.options.cuda_graphs)
            timing.update({"run_id": self.run_id, "claim": claim.id, "profile": profile.name, "seed": seed})
            write_json_atomic(path, _clean(timing))
            self.trained += 1
        return timing

    def run_all(self, experiment: Experiment, profile: Profile) -> list[RunRecord]:
        recs = [self.run(experiment, profile, s) for s in range(profile.seeds)]
        key = f"{profile.name}:{experiment.id}"
        self.records[key] = recs
        self.record_files[key] = [str(self.record_path(experiment, profile, s, r.config_hash))
                                  for s, r in enumerate(recs)]
        return recs

    def record_path(self, experiment: Experiment, profile: Profile, seed: int, config_hash: str) -> Path:
        return self.out / "records" / safe_name(experiment.id) / f"{profile.name}-seed{seed}-{config_hash}.json"

    def load_finished(self, experiment: Experiment, profile: Profile, seed: int, config_hash: str) -> RunRecord | None:
        """A finished record of exactly this configuration, or None (absent, unreadable or another config)."""
        path = self.record_path(experiment, profile, seed, config_hash)
        try:
            record = RunRecord.from_dict(json.loads(path.read_text()), source=str(path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, BnbenchError):
            return None   # a damaged record is retrained, and overwritten when the new run finishes
        if record.config_hash != config_hash or not record.finished_at:
            return None
        record.step_loss = [math.nan if x is None else x for x in record.step_loss]  # JSON null was NaN
        return record

    # -- several workers ----------------------------------------------------------------------------
    def worker_file(self, worker: str) -> Path:
        return self.out / ".workers" / f"{self.run_id}-{worker}.json"

    def write_worker_file(self) -> None:
        """An xdist worker's share of the summary; the controller merges them (``merge_workers``)."""
        write_json_atomic(self.worker_file(self.worker), _clean({
            "run_id": self.run_id,
            "claims": [r if isinstance(r, dict) else r.to_dict() for r in self.results], "speed": self.speed_rows,
            "model_speed": self.model_speed_rows, "trained": self.trained, "resumed": self.resumed,
            "records": self.record_files}))

    def merge_workers(self) -> None:
        """Controller side: fold every worker's results of this run into this session."""
        for path in sorted((self.out / ".workers").glob(f"{self.run_id}-*.json")):
            part = json.loads(path.read_text())
            self.results.extend(part["claims"])
            self.speed_rows.extend(part["speed"])
            self.model_speed_rows.extend(part["model_speed"])
            self.trained += part["trained"]
            self.resumed += part["resumed"]
            for key, paths in part["records"].items():
                self.records[key] = [RunRecord.from_dict(json.loads(Path(p).read_text()), source=p) for p in paths]
            path.unlink()

    def write_record(self, record: RunRecord, experiment: Experiment, profile: Profile, seed: int) -> Path:
        path = self.record_path(experiment, profile, seed, record.config_hash)
        data = record.to_dict()
        data["experiment"] = experiment.id
        data["profile"] = profile.name
        data["provenance"] = experiment.provenance     # where each setting comes from (bnbench.study.documented)
        data["reported_as"] = experiment.reported_as   # how the study read off the accuracy it reports
        write_json_atomic(path, _clean(data))
        return path

    # -- claims ---------------------------------------------------------------------------------
    def check(self, claim: Claim, profile: Profile) -> ClaimResult:
        records = {e.id: self.run_all(e, profile) for e in claim.experiments}
        timings = None
        if claim.metric.interleaved:
            timings = [self.interleaved_timing(claim, profile, seed) for seed in range(profile.seeds)]
        result = evaluate(claim, records, profile_name=profile.name, verdicts=profile.verdicts,
                          documented=profile.documented_check, timings=timings)
        result.plot = self.plot_claim(claim, records)
        self.results.append(result)
        return result

    def plot_claim(self, claim: Claim, records: dict[str, list[RunRecord]]) -> str | None:
        """The figures the claim's metric asks for: its own (plots/<claim id>.png) and any beside it."""
        from bnbench.outputs.plots import draw

        own = None
        for figure in claim.metric.figures(claim, records):
            path = self.out / "plots" / f"{safe_name(figure.name or claim.id)}.png"
            draw(figure, path)
            if figure.name is None:
                own = str(path.relative_to(self.out))
        return own

    def finish(self, partial: bool = False) -> Path | None:
        """Write summary.json, the measured-vs-documented figure and the models' structure tables."""
        if not (self.results or self.records or self.speed_rows or self.model_speed_rows):
            return None
        from bnbench.study import documented as study

        rows = []
        for key, recs in self.records.items():
            profile, exp_id = key.split(":", 1)
            from bnbench.study.catalog import EXPERIMENTS

            exp = EXPERIMENTS.get(exp_id)
            if exp is None or exp.documented is None:
                continue
            rows.append({"label": f"{exp.label} ({profile})", "study": study.row(exp.documented).accuracy,
                         "measured": [r.final_test_acc for r in recs]})
        figure = None
        if rows:
            from bnbench.outputs.plots import plot_documented

            figure = plot_documented(self.out / "plots" / "documented.png", rows)
        self.write_structures()
        summary = {
            "schema_version": 1, "started_at": self.started_at,
            "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "partial": partial, "out": str(self.out), "options": self.options.__dict__,
            "trained_runs": self.trained, "resumed_runs": self.resumed,
            "run_id": self.run_id,
            "claims": [r if isinstance(r, dict) else r.to_dict() for r in self.results],
            "speed": self.speed_rows,
            "model_speed": self.model_speed_rows,
            "documented_figure": str(Path(figure).relative_to(self.out)) if figure else None,
            "experiments": self.experiment_settings(),
        }
        path = self.out / "summary.json"
        write_json_atomic(path, _clean(summary))
        return path

    def experiment_settings(self) -> dict:
        """Each experiment that ran: its study-scale settings and where each comes from (for the report)."""
        from bnbench.study.catalog import EXPERIMENTS

        ids = sorted({key.split(":", 1)[1] for key in self.records} & set(EXPERIMENTS))
        return {i: {"config": EXPERIMENTS[i].config.to_dict(), "provenance": EXPERIMENTS[i].provenance,
                    "reported_as": EXPERIMENTS[i].reported_as} for i in ids}

    def write_structures(self) -> None:
        """One table per experiment that ran (structures/<experiment>.txt): variants of one model name (MyNet's
        hidden sizes, kernels, activations) each keep their own table."""
        from bnbench.study.catalog import EXPERIMENTS
        from bnbench.engine.models import create_model, format_structure, structure_table

        done: set[str] = set()
        for key, recs in sorted(self.records.items()):
            exp_id = key.split(":", 1)[1]
            exp = EXPERIMENTS.get(exp_id)
            if exp is None or not recs or exp_id in done:
                continue
            done.add(exp_id)
            config = exp.config
            path = self.out / "structures" / f"{safe_name(exp_id)}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            model = create_model(config.model, **config.model_args)
            args = ", ".join(f"{k}={v!r}" for k, v in config.model_args.items())
            path.write_text(format_structure(f"{exp_id}: {config.model}({args})", structure_table(model)) + "\n")


def user_error(exc: BaseException) -> str | None:
    """The one-line message for an error a user can fix, or None for a real bug."""
    return str(exc) if isinstance(exc, BnbenchError) else None
