"""The runner: one benchmark run's options, the data and device (loaded once), a cache of finished runs, and the
claims' results. It trains through the engine, decides through the verdicts and writes through the store
(``bnbench.store``, which owns the output folder's layout and formats). Plain Python: the pytest plugin is a thin
layer over this, and it can be driven without pytest. Torch is imported only when something is trained.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bnbench.engine.record import RunRecord
from bnbench.engine.speed_rows import ModelSpeed, SpeedRow
from bnbench.errors import BnbenchError, ConfigError
from bnbench.store import Store, Summary
from bnbench.study.claims import Claim
from bnbench.study.experiments import Experiment
from bnbench.study.profiles import Profile, get_profile, with_overrides
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
    executor: str = "local"    # where runs train: local (this process) or ray (tasks on a Ray cluster); also
                               # "ray://HEAD:PORT" / "ray:HEAD:PORT", normalised to "ray" and ray_address
    ray_address: str = "auto"  # --bnbench-ray-address: a cluster's address; auto = a running one, else local Ray

    def __post_init__(self):
        from bnbench.engine.device import parse_device

        if not self.out:   # Path("") is the current folder: results (and the cleanup) would land in a working tree
            raise ConfigError("--bnbench-out is empty; give a folder for the results, e.g. --bnbench-out "
                              "bnbench-results")

        parse_device(self.device, what="--bnbench-device")
        from bnbench.executors import parse_executor

        # one value naming engine and address ("ray://HEAD:PORT") or the two options: normalised here, once, to
        # (engine, address), so that everything after reads ``executor`` as the engine's name
        engine, address = parse_executor(self.executor, self.ray_address)
        object.__setattr__(self, "executor", engine)
        object.__setattr__(self, "ray_address", address)
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
    """One benchmark session: its options, its data and device (each loaded once, on first use), the records and
    results of the claims it checked, and its end (summary.json and the figures). The jobs around it live apart:
    the output folder and its lock in the store (``Store.claim``), training and the cache of finished runs with
    their executor in ``bnbench.run_cache``, the xdist workers' shares in ``bnbench.shards``."""

    def __init__(self, options: Options, progress_factory=None, run_id: str | None = None,
                 worker: str | None = None, workers: int | None = None, hooks: Hooks | None = None):
        from bnbench.run_cache import RunCache

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
        self._data = None
        self._device = None
        self.speed_rows: list[SpeedRow] = []             # MyNet: bnbench vs the study-style loop, full epochs
        self.model_speed_rows: list[ModelSpeed] = []     # every model: images/s, FLOP/s, fraction of peak
        self.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.say: Callable[[str], None] = print          # one-line notices (the plugin points it at its terminal)
        self.cache = RunCache(self.store, options, self.run_id, data=lambda: self.data, device=lambda: self.device,
                              progress_factory=progress_factory, say=lambda line: self.say(line))
        # the end of the session (``end``): what it wrote and what it could not
        self.worker_errors: list[str] = []               # the xdist workers' one-line failures, said by pytest
        self.summary_path: Path | None = None
        self.report_path: Path | None = None             # the results page finish() wrote (report.html)
        self.finish_error: str | None = None

    # the cache's counts and its runs, as the plugin and the CLI read them
    @property
    def trained(self) -> int:
        return self.cache.trained

    @property
    def resumed(self) -> int:
        return self.cache.resumed

    @property
    def fresh_records(self) -> list[RunRecord]:
        return self.cache.fresh_records

    @property
    def remote(self) -> bool:
        """Whether runs train elsewhere (Ray): then they are submitted ahead and collected."""
        return self.cache.remote

    # -- resources ------------------------------------------------------------------------------
    def claim_out_dir(self) -> None:
        """The output folder is writable and held by this run (shared with its own xdist workers): ``Store.claim``."""
        self.store.claim(self.run_id, shared=self.worker is not None)

    def release_out_dir(self) -> None:
        self.store.release()

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
        """Seed ``seed`` of an experiment at a profile's scale, trained once per session (``RunCache.run``)."""
        return self.cache.run(experiment, profile, seed)

    def run_all(self, experiment: Experiment, profile: Profile) -> list[RunRecord]:
        recs = [self.cache.run(experiment, profile, s) for s in range(profile.seeds)]
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

    # -- claims ---------------------------------------------------------------------------------
    def check(self, claim: Claim, profile: Profile) -> ClaimResult:
        records = {e.id: self.run_all(e, profile) for e in claim.experiments}
        timings = None
        if claim.metric.interleaved:
            timings = [self.cache.interleaved_timing(claim, profile, seed) for seed in range(profile.seeds)]
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

    # -- the end ------------------------------------------------------------------------------------
    def end(self, *, interrupted: bool, controller: bool) -> bool:
        """The end of the session, as pytest's ``sessionfinish`` asks for it: after an interruption with a remote
        executor, the runs the cluster finished are kept; an xdist worker writes its share (``bnbench.shards``);
        the xdist controller (``controller``) merges its workers' shares; a session that is not a worker writes
        summary.json and the rest (``finish``). Returns False when something was not written; ``finish_error``
        says what, ``summary_path`` is summary.json where it was written."""
        from bnbench.shards import merge_shares, write_share

        if interrupted and self.remote:   # Ctrl-C: keep the runs the cluster finished, cancel the others
            try:
                kept = self.cache.keep_finished()
                if kept:
                    self.say(f"bnbench: kept {kept} records the Ray cluster had finished; the other tasks are "
                             "cancelled")
            except (BnbenchError, OSError) as exc:
                self.say(f"bnbench: could not collect the Ray cluster's finished runs ({exc})")
        try:
            if self.worker is not None:
                write_share(self)
                return True
            errors = list(self.worker_errors) + (merge_shares(self) if controller else [])
            self.summary_path = self.finish(partial=interrupted, errors=errors)
        except BnbenchError as exc:  # e.g. the output folder vanished or filled up, or a link was planted there
            self.summary_path = getattr(exc, "path", None)
            self.finish_error = str(exc)
            return False
        return True

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

