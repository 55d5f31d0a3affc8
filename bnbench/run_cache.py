"""The run cache: every training run a session asks for is trained once, by the session's executor, and kept.

One configuration (its hash) is trained at most once per session; a finished record in the output folder is reused
under ``--bnbench-resume`` (a record of this same run always); a run stopped midway continues from its checkpoint
(local executor, ``--bnbench-resume``). With a remote executor (Ray) runs are submitted ahead (``prefetch``) and
collected when asked for; after Ctrl-C, the ones the cluster finished are written (``keep_finished``). The cache
knows nothing of claims, results or pytest: the session (``bnbench.runner.Runner``) asks it for records.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from bnbench.errors import BnbenchError

if TYPE_CHECKING:
    from bnbench.engine.record import RunRecord
    from bnbench.executors import Executor
    from bnbench.store import Store
    from bnbench.study.experiments import Experiment
    from bnbench.study.profiles import Profile


def run_label(experiment: Experiment, profile: Profile, seed: int) -> str:
    """How progress lines and cluster tasks name one training run: "1.1/hidden-500 seed 2/3"."""
    return f"{experiment.id} seed {seed + 1}/{profile.seeds}"


def timing_path(store: "Store", claim, profile: Profile, seed: int, device_type: str):
    """Where seed ``seed``'s interleaved timing of ``claim`` is kept: beside the records, named by both sides'
    configuration hashes and the device type it was measured on (``RunCache.interleaved_timing`` writes it,
    ``bnbench.publish`` reads it)."""
    from bnbench.study.profiles import scaled_config

    a, b = (scaled_config(side[0].config, profile, side[0].section, seed).hash for side in (claim.a, claim.b))
    return store.timing_path(claim.id, profile.name, seed, f"{a}-{b}-{device_type}")


class RunCache:
    """The finished runs of one session, keyed by configuration hash, and the executor that trains the rest.

    ``data`` and ``device`` are callables (the session loads the data and resolves the device once, on first use:
    a session that only reads records never imports torch); ``say`` prints a one-line notice."""

    def __init__(self, store: Store, options, run_id: str, *, data: Callable[[], Any], device: Callable[[], Any],
                 progress_factory: Callable[[str], Any] | None = None, say: Callable[[str], None] = print):
        self.store, self.options, self.run_id = store, options, run_id
        self._data, self._device, self._progress_factory, self._say = data, device, progress_factory, say
        # Options has already turned "ray://HEAD:PORT" into ("ray", address): the engine is known from here on
        self.remote = options.executor != "local"
        self._executor: Executor | None = None
        self._cache: dict[str, RunRecord] = {}        # config hash -> record
        self._prefetched: dict[str, tuple] = {}       # config hash -> (experiment, profile, seed) sent ahead
        self.trained = 0                               # training runs (and timings) executed, not from a record
        self.resumed = 0                               # taken from an earlier run's record (--bnbench-resume)
        self.fresh_records: list[RunRecord] = []       # the runs this process trained, in order (epoch timing)

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            from bnbench.executors import make_executor

            self._executor = make_executor(self.options.executor, self.options.ray_address, say=self._say)
        return self._executor

    @executor.setter
    def executor(self, executor: Executor) -> None:   # e.g. a test's RayExecutor with its own retries
        self._executor = executor

    def config(self, experiment: Experiment, profile: Profile, seed: int):
        from bnbench.study.profiles import scaled_config

        return scaled_config(experiment.config, profile, experiment.section, seed)

    def run(self, experiment: Experiment, profile: Profile, seed: int) -> RunRecord:
        """Seed ``seed`` of an experiment at a profile's scale: from this session's cache, a finished record, or
        trained now (and written)."""
        config = self.config(experiment, profile, seed)
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
                record = self._train(config, path, experiment, profile, seed)
        self._cache[config.hash] = record
        return record

    def _train(self, config, path, experiment: Experiment, profile: Profile, seed: int) -> RunRecord:
        label = run_label(experiment, profile, seed)
        if self.remote:   # trained on the cluster (submitted now unless prefetched); written here
            record = self.executor.train(config, self._data(), device=self.options.device,
                                         cuda_graphs=self.options.cuda_graphs, label=label)
            self._keep(record, experiment, profile, seed)
            return record
        from bnbench.store.checkpoints import StoreCheckpoint

        # a run stopped midway continues from its checkpoint, under --bnbench-resume only
        checkpoint = StoreCheckpoint(self.store, path)
        if not self.options.resume:
            checkpoint.discard()
        progress = self._progress_factory(label) if self._progress_factory else None
        record = self.executor.train(config, self._data(), device=self._device(), progress=progress,
                                     cuda_graphs=self.options.cuda_graphs, checkpoint=checkpoint)
        self._keep(record, experiment, profile, seed)
        checkpoint.discard()   # the record is written: the checkpoint has done its job
        return record

    def _keep(self, record: RunRecord, experiment: Experiment, profile: Profile, seed: int) -> None:
        """A run this process had trained (here or on the cluster): counted, timed per epoch, written with where
        each setting comes from (provenance) and how the study read its accuracy (reported_as)."""
        record.run_id = self.run_id
        self.trained += 1
        self.fresh_records.append(record)
        self.store.save_record(record, experiment.id, profile.name, seed, provenance=experiment.provenance,
                               reported_as=experiment.reported_as)

    def prefetch(self, experiment: Experiment, profile: Profile, seed: int) -> bool:
        """With a remote executor: start training this run on the cluster now, so that it is done (or under way)
        when :meth:`run` asks for it. Runs already cached, already submitted, or (with --bnbench-resume) finished in
        the output folder are not submitted. Returns whether it was submitted."""
        if not self.remote:
            return False
        config = self.config(experiment, profile, seed)
        if config.hash in self._cache or self.executor.submitted(config.hash):
            return False
        if self.options.resume and self.store.load_finished(experiment.id, profile.name, seed, config.hash):
            return False
        self.executor.submit(config, self._data(), device=self.options.device, cuda_graphs=self.options.cuda_graphs,
                             label=run_label(experiment, profile, seed))
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
            try:
                record = self.executor.result(config_hash)
            except BnbenchError as exc:   # failed, or returned what is refused: said, not written
                self._say(f"bnbench: {exc}")
                continue
            self._keep(record, *where)
            self._cache[config_hash] = record
            kept += 1
        self.executor.cancel_outstanding()
        return kept

    def close(self) -> None:
        if self._executor is not None and hasattr(self._executor, "shutdown"):
            self._executor.shutdown()

    def interleaved_timing(self, claim, profile: Profile, seed: int) -> dict:
        """Seed ``seed``'s drift-cancelling timing of a claim's two sides (``bnbench.engine.timing``): both networks'
        training steps alternated in ABBA order at the profile's scale. Kept beside the records, reused like them."""
        from bnbench.engine.timing import interleaved_step_times

        a, b = (self.config(side[0], profile, seed) for side in (claim.a, claim.b))
        device = self._device()
        path = timing_path(self.store, claim, profile, seed, device.type)
        with self.store.lock(path):
            found = self.store.load_timing(path)
            if found is not None and (found.get("run_id") == self.run_id or self.options.resume):
                if found.get("run_id") != self.run_id:
                    self.resumed += 1
                return found
            timing = interleaved_step_times(a, b, self._data(), device=device, cuda_graphs=self.options.cuda_graphs)
            timing.update({"run_id": self.run_id, "claim": claim.id, "profile": profile.name, "seed": seed})
            self.store.save_timing(path, timing)
            self.trained += 1
        return timing
