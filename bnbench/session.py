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

from .claims import Claim, ClaimResult, Experiment, evaluate
from .errors import BnbenchError, ConfigError
from .profiles import Profile, get_profile, scaled_config, with_overrides
from .record import RunRecord


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
    cuda_graphs: bool = True   # see bnbench.graphs; an execution detail, so not part of a run's config hash

    def __post_init__(self):
        if self.device.strip().lower() not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", self.device):
            raise ConfigError(f"--bnbench-device {self.device!r} is not known; use auto, cpu, cuda or cuda:N")
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
        self.findings: dict[str, dict] = {}              # claim id -> what a dedicated check found (added to notes)
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
            from .data import load_cifar10

            self._data = load_cifar10(self.options.data, download=True)
        return self._data

    @property
    def device(self):
        if self._device is None:
            import torch

            from .train import resolve_device

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
                from .train import train

                progress = self._progress_factory() if self._progress_factory else None
                record = train(config, self.data, device=self.device, progress=progress,
                               cuda_graphs=self.options.cuda_graphs)
                record.run_id = self.run_id
                self.trained += 1
                self.write_record(record, experiment, profile, seed)
        self._cache[config.hash] = record
        return record

    def compare_step_losses(self, a: Experiment, b: Experiment, profile: Profile, seed: int = 0) -> dict:
        """Train two experiments from one seed in deterministic mode for one epoch at the profile's scale and
        report the largest per-step training-loss difference (the CE-vs-nll check of section 1.1)."""
        from .train import train

        # fp32: the check is about the math (log_softmax is idempotent), not about bf16's three digits. Dropout off:
        # it is about the loss, and with Dropout(0.5) the 2-thread CPU kernels amplify the first 1e-7 rounding
        # difference past 1e-3 within 8 steps (measured; 1e-7 throughout without dropout).
        configs = [scaled_config(e.config, profile, e.section, seed).replace(
            deterministic=True, epochs=1, precision="fp32", model_args={**e.config.model_args, "dropout": 0.0})
            for e in (a, b)]
        ra, rb = (train(c, self.data, device=self.device) for c in configs)
        self.trained += 2
        diffs = [abs(x - y) for x, y in zip(ra.step_loss, rb.step_loss)]
        apart = next((i for i, d in enumerate(diffs) if d > 1e-3), None)
        return {"a": a.id, "b": b.id, "seed": configs[0].seed, "steps": len(diffs),
                "max_abs_diff": max(diffs, default=float("nan")),
                "max_abs_diff_first_5": max(diffs[:5], default=float("nan")),
                "max_abs_diff_first_10": max(diffs[:10], default=float("nan")),
                "first_step_over_1e-3": apart,
                "first_step_losses": [ra.step_loss[0], rb.step_loss[0]] if diffs else []}

    def interleaved_timing(self, claim: Claim, profile: Profile, seed: int) -> dict:
        """Seed ``seed``'s drift-cancelling timing of a claim's two sides (``bnbench.timing``): both networks'
        training steps alternated in ABBA order at the profile's scale. Kept beside the records, reused like them."""
        from .timing import interleaved_step_times

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
        data["provenance"] = experiment.provenance     # where each setting comes from (bnbench.study)
        data["reported_as"] = experiment.reported_as   # how the study read off the accuracy it reports
        write_json_atomic(path, _clean(data))
        return path

    # -- claims ---------------------------------------------------------------------------------
    def check(self, claim: Claim, profile: Profile) -> ClaimResult:
        from .claims import METRICS

        records = {e.id: self.run_all(e, profile) for e in claim.experiments}
        timings = None
        if METRICS[claim.metric].interleaved:
            timings = [self.interleaved_timing(claim, profile, seed) for seed in range(profile.seeds)]
        result = evaluate(claim, records, profile_name=profile.name, verdicts=profile.verdicts,
                          documented=profile.documented_check, timings=timings)
        found = self.findings.get(claim.id)
        if found:
            apart = found["first_step_over_1e-3"]
            result.notes.append(f"deterministic fp32 check, one seed: per-step losses identical to "
                                f"{found['max_abs_diff_first_10']:.2g} over the first 10 steps; float rounding then "
                                + (f"grows (first difference above 1e-3 at step {apart}" if apart is not None
                                   else "stays small (never above 1e-3")
                                + f", largest {found['max_abs_diff']:.3g} over {found['steps']} steps)")
        result.plot = self.plot_claim(claim, records)
        self.results.append(result)
        return result

    def plot_claim(self, claim: Claim, records: dict[str, list[RunRecord]]) -> str | None:
        """The claim's figure (seed 0 where a figure shows one run per side); extra figures go beside it."""
        from . import plots
        from .claims import BANDS, METRICS, band_steps_per_epoch, per_seed

        path = self.out / "plots" / f"{safe_name(claim.id)}.png"
        sides = {label: per_seed(side, records) for label, side in zip(claim.labels, (claim.a, claim.b))}
        metric = METRICS[claim.metric]
        if metric.curve is not None:
            from . import study_curves

            curves = study_curves.load()
            bands, study = {}, {}
            for label, seeds in sides.items():
                lo, hi = BANDS[metric.curve](seeds[0])
                bands[label] = {"steps": list(range(len(lo))), "min_curve": lo, "max_curve": hi,
                                "lrs": [r.config["lr"] for r in seeds[0]]}
                # The study's published band, where the measurement is at its scale (same steps per epoch).
                if band_steps_per_epoch(seeds[0], metric.curve) == curves.steps_per_epoch(metric.curve):
                    bn = seeds[0][0].config.get("model") == study_curves.MODELS[True]
                    epochs = len(lo) // curves.steps_per_epoch(metric.curve)
                    study[label] = curves.overlay(metric.curve, bn, epochs=epochs)
            plots.plot_band(path, bands, log=True, study=study or None, quantity=metric.curve)
        elif metric.pair is not None:
            first = {label: seeds[0][0].probes for label, seeds in sides.items()}
            steps = {label: [p["step"] for p in probes] for label, probes in first.items()}
            if claim.metric == "grad_change_median":
                plots.plot_loss_landscape(self.out / "plots" / "2.3_loss-landscape.png", {
                    label: {"steps": steps[label], "min": [min(p["loss_along"]) for p in probes],
                            "max": [max(p["loss_along"]) for p in probes]} for label, probes in first.items()})
                plots.plot_probe_metric(path, {
                    label: {"steps": steps[label], "values": [max(p["grad_change"]) for p in probes],
                            "min": [min(p["grad_change"]) for p in probes],
                            "max": [max(p["grad_change"]) for p in probes]} for label, probes in first.items()},
                    ylabel="||grad L(w) - grad L(w - eta g)||", title="gradient predictiveness (band over eta)")
            else:
                plots.plot_probe_metric(path, {label: {"steps": steps[label], "values": [p["beta"] for p in probes]}
                                               for label, probes in first.items()},
                                        ylabel="effective beta-smoothness", title="effective beta-smoothness")
        else:
            plots.plot_claim_curves(path, f"{claim.id}: {claim.sentence}",
                                    {e.label: records[e.id] for e in claim.experiments})
        return str(path.relative_to(self.out))

    def finish(self, partial: bool = False) -> Path | None:
        """Write summary.json, the measured-vs-documented figure and the models' structure tables."""
        if not (self.results or self.records or self.speed_rows or self.model_speed_rows):
            return None
        from . import study

        rows = []
        for key, recs in self.records.items():
            profile, exp_id = key.split(":", 1)
            from .claims import EXPERIMENTS

            exp = EXPERIMENTS.get(exp_id)
            if exp is None or exp.documented is None:
                continue
            rows.append({"label": f"{exp.label} ({profile})", "study": study.row(exp.documented).accuracy,
                         "measured": [r.final_test_acc for r in recs]})
        figure = None
        if rows:
            from .plots import plot_documented

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
        from .claims import EXPERIMENTS

        ids = sorted({key.split(":", 1)[1] for key in self.records} & set(EXPERIMENTS))
        return {i: {"config": EXPERIMENTS[i].config.to_dict(), "provenance": EXPERIMENTS[i].provenance,
                    "reported_as": EXPERIMENTS[i].reported_as} for i in ids}

    def write_structures(self) -> None:
        """One table per experiment that ran (structures/<experiment>.txt): variants of one model name (MyNet's
        hidden sizes, kernels, activations) each keep their own table."""
        from .claims import EXPERIMENTS
        from .models import create_model, format_structure, structure_table

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
