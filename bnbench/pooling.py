"""``bnbench summary DIR1 DIR2 ...``: one verdict per claim from the seeds of several output folders.

A claim (at one profile) found in more than one folder is decided again from the records of all of them: records
are grouped by experiment id and configuration hash per seed (the same run in two folders counts once), a seed
counts where every experiment of the claim has its record, and the claims' sides are paired by seed as in one
run. Folders whose runs of an experiment differ in anything but the seed (another configuration: epochs, subset,
learning rate...) are refused with one line naming the experiment, the folders and the two hashes: pooling them
would mix different measurements. Claims found in one folder only are shown as that folder has them.

Every record is read once, through the store's validating loader (``Store.load_record_file``), and only what the
verdict needs is kept: per-step series only where the claim's metric reads them (``Metric.per_step``). A record
that does not read back stops the command with one line naming it: a verdict decided on fewer seeds than the
folders hold, with exit status 0, would pass for one decided on all of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bnbench.engine.record import RunRecord
from bnbench.errors import BnbenchError
from bnbench.verdicts.evaluate import ClaimResult


class PoolError(BnbenchError):
    """Runs that cannot be pooled (different configurations); one line."""


@dataclass
class Pooled:
    claims: list[ClaimResult]
    origins: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)   # (claim, profile) -> dir -> seeds


def _runs(store, experiment_id: str, profile: str, per_step: bool) -> dict[str, RunRecord]:
    """config hash -> record, for every record of one experiment at one profile in one folder; without its
    per-step series unless ``per_step`` (a study-scale run holds 78,150 step losses: 2.5 MB as Python floats)."""
    found = {}
    for path in store.run_records(experiment_id, profile):
        record, experiment, _ = store.load_record_file(path)
        if experiment != experiment_id:
            raise PoolError(f"{path}: holds a run of {experiment[:80]!r}, not of {experiment_id}; move it out of "
                            "the output folder")
        if not record.finished_at:
            raise PoolError(f"{path}: an unfinished run (no finished_at), which bnbench never saves; move it out "
                            "of the output folder")
        if not per_step:
            record.step_loss, record.step_grad_change = [], []
        found[record.config_hash] = record
    return found


def _without_seed(record) -> str:
    from bnbench.engine.config import TrainConfig

    return TrainConfig.from_dict({**record.config, "seed": 0}).hash


def pool(dirs: list[str], results: list[list[ClaimResult]]) -> Pooled:
    """``results[i]``: the claims of ``dirs[i]``'s summary.json. Returns the claims, those in several folders
    decided again from the pooled records, and for each pooled claim how many seeds came from which folder."""
    from bnbench.store import Store
    from bnbench.study.catalog import CLAIMS
    from bnbench.study.profiles import PROFILES, get_profile
    from bnbench.verdicts.evaluate import evaluate

    where: dict[tuple[str, str], list[int]] = {}
    for i, claims in enumerate(results):
        for c in claims:
            where.setdefault((c.claim_id, c.profile), []).append(i)
    # an experiment's per-step series are kept where any claim pooled here reads them (several claims share runs)
    per_step = {(e.id, profile) for (claim_id, profile), found in where.items() if len(set(found)) > 1
                and (claim := CLAIMS.get(claim_id)) is not None and claim.metric.per_step for e in claim.experiments}
    stores = [Store(d) for d in dirs]
    loaded: dict[tuple[int, str, str], dict[str, RunRecord]] = {}

    def runs_of(j: int, experiment_id: str, profile: str) -> dict[str, RunRecord]:
        if (j, experiment_id, profile) not in loaded:
            loaded[j, experiment_id, profile] = _runs(stores[j], experiment_id, profile,
                                                      (experiment_id, profile) in per_step)
        return loaded[j, experiment_id, profile]

    out: list[ClaimResult] = []
    origins: dict[tuple[str, str], dict[str, int]] = {}
    done: set[tuple[str, str]] = set()
    for i, claims in enumerate(results):
        for c in claims:
            key = (c.claim_id, c.profile)
            if key in done:
                continue
            folders = sorted(set(where[key]))
            claim = CLAIMS.get(c.claim_id)
            if len(folders) < 2 or claim is None or claim.metric.interleaved:
                out.append(c)        # as its folder has it (an interleaved timing is not pooled: no records)
                continue
            done.add(key)
            unpooled = [r for j in folders for r in results[j] if (r.claim_id, r.profile) == key]
            # per experiment: configuration (seed aside) must agree across the folders; runs keyed by config hash
            runs: dict[str, dict[str, tuple[int, object]]] = {}
            for e in claim.experiments:
                shape: tuple[str, int] | None = None
                runs[e.id] = {}
                for j in folders:
                    for h, rec in sorted(runs_of(j, e.id, c.profile).items()):
                        s = _without_seed(rec)
                        if shape is None:
                            shape = (s, j)
                        elif s != shape[0]:
                            raise PoolError(
                                f"cannot pool {c.claim_id} [{c.profile}]: {e.id} has configuration hash {shape[0]} "
                                f"in {dirs[shape[1]]} and {s} in {dirs[j]} (seed aside); pool only runs of one "
                                "configuration")
                        runs[e.id].setdefault(h, (j, rec))
            # a seed (the config's own seed, offset from the experiment's base) counts where every experiment has it
            by_seed: dict[str, dict[int, tuple[int, object]]] = {}
            for e in claim.experiments:
                by_seed[e.id] = {rec.config["seed"] - e.config.seed: (j, rec) for j, rec in runs[e.id].values()}
            seeds = sorted(set.intersection(*(set(v) for v in by_seed.values()))) if by_seed else []
            if not seeds:            # no records to pool (folders without records/): each folder's as it is
                out.extend(unpooled)
                continue
            pooled = {e.id: [by_seed[e.id][s][1] for s in seeds] for e in claim.experiments}
            count: dict[str, int] = {dirs[j]: 0 for j in folders}
            for s in seeds:
                j = by_seed[claim.experiments[0].id][s][0]
                count[dirs[j]] += 1
            profile = get_profile(c.profile) if c.profile in PROFILES else None
            result = evaluate(claim, pooled, profile_name=c.profile,
                              verdicts=profile.verdicts if profile else True,
                              documented=bool(profile and profile.documented_check and c.documented))
            result.notes.append("pooled: " + ", ".join(f"{n} seed{'s' * (n != 1)} from {d}" for d, n in count.items()))
            origins[key] = count
            out.append(result)
    return Pooled(out, origins)
