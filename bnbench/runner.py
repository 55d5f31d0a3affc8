"""The runner: one benchmark run's options, the data and device (loaded once), a cache of finished runs, and the
claims' results. It trains through the engine, decides through the verdicts and writes through the store
(``bnbench.store``, which owns the output folder's layout and formats). Plain Python: the pytest plugin is a thin
layer over this, and it can be driven without pytest. Torch is imported only when something is trained.
"""
from __future__ import annotations

import datetime as _dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bnbench.engine.record import RunRecord
from bnbench.engine.speed_rows import ModelSpeed, SpeedRow
from bnbench.errors import BnbenchError, ConfigError
from bnbench.store import Shard, Store, Summary
from bnbench.study.claims import Claim
from bnbench.study.experiments import Experiment
from bnbench.study.profiles import Profile, get_profile, scaled_config, with_overrides
from bnbench.verdicts.evaluate import ClaimResult, evaluate


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
    download: bool = False     # download CIFAR-10 into a --bnbench-data / BNBENCH_DATA folder that lacks it
    cuda_graphs: bool = True   # see bnbench.engine.cuda_graphs; an execution detail, so not part of a run's config hash
    executor: str = "local"    # where runs train: local (this process) or ray (tasks on a Ray cluster)
    ray_address: str = "auto"  # --bnbench-ray-address: a cluster's address; auto = a running one, else local Ray

    def __post_init__(self):
        from bnbench.engine.device import parse_device

        if not self.out:   # Path("") is the current folder: results (and the cleanup) would land in a working tree
            raise ConfigError("--bnbench-out is empty; give a folder for the results, e.g. --bnbench-out "
                              "bnbench-results")

        parse_device(self.device, what="--bnbench-device")
        from bnbench.executors import EXECUTORS

        if self.executor not in EXECUTORS:
            raise ConfigError(f"--bnbench-executor {self.executor!r} is not known; use {' or '.join(EXECUTORS)}")
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


def _label(experiment: Experiment, profile: Profile, seed: int) -> str:
    """How progress lines and cluster tasks name one training run: "1.1/hidden-500 seed 2/3"."""
    return f"{experiment.id} seed {seed + 1}/{profile.seeds}"


def share_cpu_threads(workers: int | None) -> int | None:
    """On a CPU, ``pytest -n N`` workers share the cores: each takes cores // N threads (at least one) instead of
    PyTorch's default of all of them, which would oversubscribe the machine N times over. A small model at batch
    32 does not fill two cores from one process, so 2 workers x 1 thread train section 1.1 1.6x faster than one
    process with 2 threads (BENCHMARKS.md, "All cores"). An explicit OMP_NUM_THREADS is the user's choice and is
    kept. Returns the thread count set, or None when nothing was changed."""
    import os

    if not workers or workers < 2 or os.environ.get("OMP_NUM_THREADS"):
        return None
    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:   # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    torch.set_num_threads(threads)
    return threads


def new_run_id() -> str:
    import uuid

    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


class Runner:
    def __init__(self, options: Options, progress_factory=None, run_id: str | None = None,
                 worker: str | None = None, workers: int | None = None, hooks: Hooks | None = None):
        self.options = options
        self.hooks = hooks or Hooks()
        self.run_id = run_id or new_run_id()   # shared by every xdist worker of one pytest run
        self.worker = worker                   # "gw0", ... under pytest-xdist, else None
        self.workers = workers                 # how many xdist workers this run has (None: not under xdist)
        self.store = Store(options.out)
        self.out = self.store.out
        self.results: list[ClaimResult] = []
        self.records: dict[str, list[RunRecord]] = {}   # "<profile>:<experiment id>" -> records by seed
        self._study_scale: dict[str, bool] = {}          # the same keys -> trained at the study's scale
        self.record_files: dict[str, list[str]] = {}    # the same keys -> where those records are
        self._cache: dict[str, RunRecord] = {}          # config hash -> record
        self._prefetched: dict[str, tuple] = {}         # config hash -> (experiment, profile, seed) sent ahead
        self._data = None
        self._device = None
        self._progress_factory = progress_factory
        self.trained = 0                                 # training runs actually executed (not from cache)
        self.fresh_records: list[RunRecord] = []         # the runs this process trained, in order (epoch timing)
        self.resumed = 0                                 # runs taken from a finished record (--bnbench-resume)
        self.speed_rows: list[SpeedRow] = []             # MyNet: bnbench vs the study-style loop, full epochs
        self.model_speed_rows: list[ModelSpeed] = []     # every model: images/s, FLOP/s, fraction of peak
        self.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self._run_lock = None                            # the output folder's run lock, once claimed
        self._claimed = False
        self.report_path: Path | None = None             # the results page finish() wrote (report.html)
        self._executor = None                            # bnbench.executors: where runs train (made on first use)
        self.say = print                                 # one-line notices (the plugin points it at pytest's terminal)

    @property
    def executor(self):
        if self._executor is None:
            from bnbench.executors import make_executor

            self._executor = make_executor(self.options.executor, self.options.ray_address, say=self.say)
        return self._executor

    @property
    def remote(self) -> bool:
        """Whether runs train elsewhere (the executor's ``remote``): then they are submitted ahead and collected."""
        from bnbench.executors import parse_executor

        return parse_executor(self.options.executor, self.options.ray_address)[0] != "local"

    # -- resources ------------------------------------------------------------------------------
    def claim_out_dir(self) -> None:
        """Before any training: the output folder is writable, and this run holds it (``store.files.
        acquire_run_lock``): a second pytest process on the same folder is refused with one line naming the
        holder's pid, while the xdist workers of one run share it. The process that finds the folder free removes
        the temporary files a killed run left there (only bnbench's own, in the folders it writes)."""
        from bnbench.store.files import acquire_run_lock

        self.check_out_dir()
        if not self._claimed:
            self._run_lock, first = acquire_run_lock(self.out, self.run_id, shared=self.worker is not None)
            self._claimed = True
            if first:
                self.store.remove_orphans()

    def release_out_dir(self) -> None:
        from bnbench.store.files import release_run_lock

        release_run_lock(self._run_lock)
        self._run_lock, self._claimed = None, False

    def check_out_dir(self) -> None:
        """The output folder is made (the one every later write checks it still is: ``store.files.
        check_output_folder``) and takes a file, named like bnbench's temporary files so that the sweep finds it."""
        from bnbench.store.files import TMP_PREFIX, check_output_folder

        try:
            self.out.mkdir(parents=True, exist_ok=True)
            check_output_folder(self.out)
            with tempfile.NamedTemporaryFile(dir=self.out, prefix=f"{TMP_PREFIX}write-test.", suffix=".tmp"):
                pass
        except OSError as exc:
            raise ConfigError(f"--bnbench-out {self.out}: cannot write there ({exc.strerror or exc}); "
                              "choose a writable directory") from None

    @property
    def data(self):
        if self._data is None:
            from bnbench.engine.data import check_data, load_cifar10

            provided = self.hooks.data() if self.hooks.data else None
            if provided is not None:   # with Ray too: the data set travels through the object store
                self._data = check_data(provided)
            else:
                self._data = load_cifar10(self.options.data, download=True,
                                          download_into_given=self.options.download)
        return self._data

    @property
    def device(self):
        if self._device is None:
            import torch

            from bnbench.engine.train import resolve_device

            self._device = resolve_device(self.options.device)
            if self._device.type == "cpu":
                share_cpu_threads(self.workers)
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
        path = self.store.record_path(experiment.id, profile.name, seed, config.hash)
        with self.store.lock(path):
            record = self.store.load_finished(experiment.id, profile.name, seed, config.hash)
            if record is not None and record.run_id != self.run_id and not self.options.resume:
                record = None                      # an older run's record: only --bnbench-resume reuses it
            if record is not None:
                if record.run_id != self.run_id:
                    self.resumed += 1
            else:
                label = _label(experiment, profile, seed)
                checkpoint = None
                if self.remote:   # trained on the cluster (submitted now unless prefetched); written here
                    record = self.executor.train(config, self.data, device=self.options.device,
                                                 cuda_graphs=self.options.cuda_graphs, label=label)
                else:   # a run stopped midway continues from its checkpoint, under --bnbench-resume only
                    from bnbench.store.checkpoints import StoreCheckpoint

                    checkpoint = StoreCheckpoint(self.store, path)
                    if not self.options.resume:
                        checkpoint.discard()
                    progress = self._progress_factory(label) if self._progress_factory else None
                    record = self.executor.train(config, self.data, device=self.device, progress=progress,
                                                 cuda_graphs=self.options.cuda_graphs, checkpoint=checkpoint)
                self._keep_trained(record, experiment, profile, seed)
                if checkpoint is not None:
                    checkpoint.discard()   # the record is written: the checkpoint has done its job
        self._cache[config.hash] = record
        return record

    def _keep_trained(self, record: RunRecord, experiment: Experiment, profile: Profile, seed: int) -> None:
        """A run this process had trained (here or on the cluster): counted, timed per epoch, written."""
        record.run_id = self.run_id
        self.trained += 1
        self.fresh_records.append(record)
        self.write_record(record, experiment, profile, seed)

    def prefetch(self, experiment: Experiment, profile: Profile, seed: int) -> bool:
        """With a remote executor: start training this run on the cluster now, so that it is done (or under way)
        when :meth:`run` asks for it. Runs already cached, already submitted, or (with --bnbench-resume) finished in
        the output folder are not submitted. Returns whether it was submitted."""
        if not self.remote:
            return False
        config = scaled_config(experiment.config, profile, experiment.section, seed)
        if config.hash in self._cache or self.executor.submitted(config.hash):
            return False
        if self.options.resume and self.store.load_finished(experiment.id, profile.name, seed, config.hash):
            return False
        self.executor.submit(config, self.data, device=self.options.device, cuda_graphs=self.options.cuda_graphs,
                             label=_label(experiment, profile, seed))
        self._prefetched[config.hash] = (experiment, profile, seed)
        return True

    def keep_finished(self) -> int:
        """Ctrl-C with a remote executor: write the records of the runs the cluster finished but no test collected
        yet, then cancel the rest. Returns how many records were kept."""
        if self._executor is None or not self.remote:
            return 0
        kept = 0
        for config_hash in self.executor.finished():
            where = self._prefetched.get(config_hash)
            if where is None or config_hash in self._cache:
                continue
            experiment, profile, seed = where
            try:
                record = self.executor.result(config_hash)
            except BnbenchError as exc:   # failed, or returned what is refused: said, not written
                self.say(f"bnbench: {exc}")
                continue
            self._keep_trained(record, experiment, profile, seed)
            self._cache[config_hash] = record
            kept += 1
        self.executor.cancel_outstanding()
        return kept

    def close_executor(self) -> None:
        if self._executor is not None and hasattr(self._executor, "shutdown"):
            self._executor.shutdown()

    def interleaved_timing(self, claim: Claim, profile: Profile, seed: int) -> dict:
        """Seed ``seed``'s drift-cancelling timing of a claim's two sides (``bnbench.engine.timing``): both networks'
        training steps alternated in ABBA order at the profile's scale. Kept beside the records, reused like them."""
        from bnbench.engine.timing import interleaved_step_times

        a, b = (scaled_config(e.config, profile, e.section, seed) for e in (claim.a[0], claim.b[0]))
        path = self.store.timing_path(claim.id, profile.name, seed, f"{a.hash}-{b.hash}-{self.device.type}")
        with self.store.lock(path):
            found = self.store.load_timing(path)
            if found is not None and (found.get("run_id") == self.run_id or self.options.resume):
                if found.get("run_id") != self.run_id:
                    self.resumed += 1
                return found
            timing = interleaved_step_times(a, b, self.data, device=self.device, cuda_graphs=self.options.cuda_graphs)
            timing.update({"run_id": self.run_id, "claim": claim.id, "profile": profile.name, "seed": seed})
            self.store.save_timing(path, timing)
            self.trained += 1
        return timing

    def run_all(self, experiment: Experiment, profile: Profile) -> list[RunRecord]:
        recs = [self.run(experiment, profile, s) for s in range(profile.seeds)]
        key = f"{profile.name}:{experiment.id}"
        self.records[key] = recs
        self._study_scale[key] = profile.documented_check
        self.record_files[key] = [str(self.store.record_path(experiment.id, profile.name, s, r.config_hash))
                                  for s, r in enumerate(recs)]
        return recs

    def at_study_scale(self, key: str) -> bool:
        """Whether the records under ``key`` ("<profile>:<experiment id>") were trained at the study's scale (the
        profile's documented check on): known from run_all, else (records merged from xdist workers) from the
        profile's name; a profile this bnbench does not know is not the study's scale."""
        if key in self._study_scale:
            return self._study_scale[key]
        try:
            return self.profile(key.split(":", 1)[0]).documented_check
        except ConfigError:
            return False

    # -- several workers ----------------------------------------------------------------------------
    def write_worker_file(self) -> None:
        """An xdist worker's share of the summary; the controller merges them (``merge_workers``). A worker that
        never used the output folder (no bnbench test ran on it) writes nothing."""
        if not self._claimed and not (self.results or self.records or self.speed_rows or self.model_speed_rows
                                      or self.trained or self.resumed):
            return
        self.store.write_shard(Shard(self.run_id, list(self.results), self.speed_rows, self.model_speed_rows,
                                     self.trained, self.resumed, self.record_files), self.worker)

    def merge_workers(self) -> list[str]:
        """Controller side: fold every worker's results of this run into this session. Returns one line per share
        that could not be read (that share is left in .workers/; the others are merged)."""
        from bnbench.store import load_record

        errors: list[str] = []
        for shard in self.store.take_shards(self.run_id, errors=errors):
            self.results.extend(shard.claims)
            self.speed_rows.extend(shard.speed)
            self.model_speed_rows.extend(shard.model_speed)
            self.trained += shard.trained
            self.resumed += shard.resumed
            for key, paths in shard.records.items():
                try:
                    self.records[key] = [load_record(p) for p in paths]
                except (OSError, BnbenchError) as exc:
                    errors.append(f"a worker's record for {key} does not read back ({exc})")
        return errors

    def write_record(self, record: RunRecord, experiment: Experiment, profile: Profile, seed: int) -> Path:
        # provenance: where each setting comes from (bnbench.study); reported_as: how the study read its accuracy
        return self.store.save_record(record, experiment.id, profile.name, seed, provenance=experiment.provenance,
                                      reported_as=experiment.reported_as)

    # -- claims ---------------------------------------------------------------------------------
    def check(self, claim: Claim, profile: Profile) -> ClaimResult:
        records = {e.id: self.run_all(e, profile) for e in claim.experiments}
        timings = None
        if claim.metric.interleaved:
            timings = [self.interleaved_timing(claim, profile, seed) for seed in range(profile.seeds)]
        result = evaluate(claim, records, profile_name=profile.name, verdicts=profile.verdicts,
                          documented=profile.documented_check, timings=timings)
        from bnbench.outputs.provenance import code_warning

        mixed = code_warning(*([r for e in side for r in records[e.id]] for side in (claim.a, claim.b)), strict=False)
        if mixed:   # e.g. --bnbench-resume took records another commit or torch version trained
            result.notes.append(f"warning: {mixed}")
        note = None
        if result.reason.startswith("inconclusive: not comparable"):
            note = "NOT COMPARABLE at this scale, no verdict: " + result.reason.split("(", 1)[-1].split(";")[0]
        result.plot = self.plot_claim(claim, records, note, timings=timings, profile=profile.name)
        if self.hooks.result:
            verdict = result.verdict
            self.hooks.result(result, claim)
            if result.verdict != verdict:
                raise ConfigError(f"claim {claim.id!r}: a pytest_bnbench_modify_result hook changed the verdict "
                                  f"{verdict!r} to {result.verdict!r}; a hook may add notes and numbers, the "
                                  "verdict is the decision rule's")
        self.results.append(result)
        return result

    def plot_claim(self, claim: Claim, records: dict[str, list[RunRecord]], note: str | None = None, *,
                   timings: list[dict] | None = None, profile: str | None = None) -> str | None:
        """The figures the claim's metric asks for: its own (plots/<claim id>.png, with ``note`` across its top) and
        any beside it, each with the scale it was run at (``profile`` and the records' configs) at its foot."""
        from bnbench.outputs.plots import draw, scale_line

        own, scale = None, scale_line(profile, records)
        for figure in claim.metric.figures(claim, records, timings):
            path = self.store.plot_path(figure.name or claim.id)   # computed, in a real plots/ folder
            draw(figure, path, note if figure.name is None else None, scale=scale)
            if figure.name is None:
                own = str(path.relative_to(self.out))
        return own

    def finish(self, partial: bool = False, errors: list[str] | None = None) -> Path | None:
        """Write summary.json, the measured-vs-documented figure and the models' structure tables. Each is written
        on its own: a figure or a table that cannot be written does not cost summary.json. Afterwards a FinishError
        (with ``.path``, summary.json where it was written) names everything that failed, ``errors`` (the workers'
        and the merge's) included, so that the caller can fail the run."""
        failed = list(errors or [])
        if not (self.results or self.records or self.speed_rows or self.model_speed_rows):
            if failed:
                raise FinishError(None, "; ".join(failed))
            return None
        from bnbench.outputs import artefacts

        # the study's numbers only beside runs at its scale: a 2-epoch run's "-45 pp vs study" compares nothing
        rows = artefacts.documented_rows({k: v for k, v in self.records.items() if self.at_study_scale(k)})
        figure = None
        if rows:
            from bnbench.outputs.plots import plot_documented

            try:
                figure = plot_documented(self.store.plot_path("documented"), rows)
            except Exception as exc:   # noqa: BLE001 - whatever stopped the figure, summary.json is still written
                failed.append(f"plots/documented.png not written ({_why(exc)})")
        try:
            artefacts.write_epoch_bands(self.store, self.records, self.at_study_scale)
        except Exception as exc:       # noqa: BLE001 - the same for the per-section accuracy figures
            failed.append(f"plots/*-test-accuracy.png not written ({_why(exc)})")
        try:
            artefacts.write_structures(self.store, self.records)
        except Exception as exc:       # noqa: BLE001 - the same for the structure tables
            failed.append(f"structures/ not written ({_why(exc)})")
        summary = Summary(
            path=str(self.store.summary_path), claims=list(self.results), speed=self.speed_rows,
            model_speed=self.model_speed_rows, experiments=artefacts.experiment_settings(self.records),
            partial=partial,
            started_at=self.started_at, finished_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            run_id=self.run_id, documented_figure=str(Path(figure).relative_to(self.out)) if figure else None,
            trained_runs=self.trained, resumed_runs=self.resumed)
        if self.hooks.summary:
            self.hooks.summary(summary)
        path = None
        try:
            path = self.store.write_summary(summary, out=str(self.out), options=self.options.__dict__)
        except BnbenchError as exc:
            failed.append(f"summary.json not written ({exc})")
        if path is not None and self.results:   # the results page, beside summary.json (bnbench report rewrites it)
            from bnbench.outputs.report import write_report

            try:
                self.report_path = write_report(self.out)
            except Exception as exc:   # noqa: BLE001 - summary.json is written; the page is one more artefact
                failed.append(f"report.html not written ({_why(exc)})")
        if failed:
            raise FinishError(path, "; ".join(failed))
        return path


@dataclass
class Hooks:
    """What a study changes through bnbench's hooks (``bnbench.hookspec``; the plugin fills these from pytest's
    hook caller): its own data, a result before it joins the summary, the summary before it is written."""
    data: Callable[[], object] | None = None
    result: Callable[[ClaimResult, Claim], None] | None = None
    summary: Callable[[Summary], None] | None = None


class FinishError(BnbenchError):
    """Something at the end of a run was not written; ``path`` is summary.json where it was written, else None."""

    def __init__(self, path: Path | None, message: str):
        super().__init__(message)
        self.path = path


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, BnbenchError) else f"{type(exc).__name__}: {exc}"

