"""Study-scale output folders of section 1.1 with synthetic numbers, for timing ``bnbench summary DIR1 DIR2 ...``
(BENCHMARKS.md): what a full run of ``pytest benchmarks -m full -k 1.1`` leaves, without training anything.

    python scripts/make_pool_folders.py OUT [--folders 4] [--seeds 5] [--lists]

Folder k (OUT/k) holds 5 seeds (k*5 .. k*5+4) of the six 50-epoch experiments (1,563 steps an epoch: 78,150
step losses a run) and of the two ten-step identity runs, saved through the store (step losses packed, as every
record is written now), and a summary.json with each claim decided from that folder's records, as a run writes
them. Distinct seeds per folder, so that pooling them adds seeds (``--bnbench-seeds`` on one machine and another).
``--lists`` stores the step losses as JSON lists (schema 1), as records written before packing have them (1.7 MB
a run instead of 0.43 MB).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from bnbench.engine.record import RunRecord
from bnbench.store import Store, Summary, write_json_atomic
from bnbench.store.formats import record_to_json
from bnbench.study import documented as study
from bnbench.study.claims import claims_in
from bnbench.study.profiles import get_profile, scaled_config
from bnbench.verdicts.evaluate import evaluate

STEPS_PER_EPOCH = 1563      # 50,000 images at batch 32, the last batch partial


def synthetic_record(experiment, profile, seed: int, rng: np.random.Generator) -> RunRecord:
    config = scaled_config(experiment.config, profile, experiment.section, seed)
    epochs = config.epochs if not config.max_steps else 1
    steps = config.max_steps or epochs * STEPS_PER_EPOCH
    want = study.row(experiment.documented).accuracy if experiment.documented else 0.6
    t = np.arange(steps)
    loss = (2.3 * np.exp(-t / (steps / 4 + 1)) + 0.6 + 0.05 * rng.standard_normal(steps)).astype(np.float32)
    rows = [{"epoch": e + 1, "train_loss": float(loss[min(steps - 1, (e + 1) * STEPS_PER_EPOCH - 1)]),
             "train_time_s": 30.0 + rng.random(), "images": 50_000, "steps": min(steps, STEPS_PER_EPOCH),
             "test_loss": 1.0 + 0.5 / (e + 1), "test_acc": min(1.0, want * (1 - math.exp(-(e + 1) / 5))
                                                                 + 0.005 * rng.standard_normal())}
            for e in range(epochs)]
    return RunRecord(config=config.to_dict(), config_hash=config.hash, device="cuda:0",
                     env={"torch": "2.5.1", "python": "3.12.3", "device_name": "NVIDIA H100", "bnbench": "synthetic"},
                     started_at="2026-12-06T00:00:00+00:00", finished_at="2026-12-06T00:30:00+00:00",
                     step_loss=[float(x) for x in loss], epochs=rows, run_id="synthetic")


def make_folder(out: Path, first_seed: int, seeds: int, lists: bool = False) -> None:
    profile = get_profile("full")
    store = Store(out)
    rng = np.random.default_rng(first_seed)
    claims = claims_in("1.1")
    experiments = {e.id: e for c in claims for e in c.experiments}
    records = {}
    for e in experiments.values():
        records[e.id] = []
        for seed in range(first_seed, first_seed + seeds):
            rec = synthetic_record(e, profile, seed, rng)
            path = store.save_record(rec, e.id, profile.name, seed, provenance=e.provenance,
                                     reported_as=e.reported_as)
            if lists:
                data = record_to_json(rec, experiment=e.id, profile=profile.name, provenance=e.provenance,
                                      reported_as=e.reported_as)
                write_json_atomic(path, {**data, "schema_version": 1, "step_loss": rec.step_loss})
            records[e.id].append(rec)
    results = [evaluate(c, records, profile_name=profile.name, documented=True) for c in claims]
    store.write_summary(Summary(path=str(store.summary_path), claims=results, run_id="synthetic",
                                started_at="2026-12-06T00:00:00+00:00", finished_at="2026-12-06T02:00:00+00:00",
                                trained_runs=sum(map(len, records.values()))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--folders", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--lists", action="store_true", help="step losses as JSON lists (records before packing)")
    ns = parser.parse_args()
    for k in range(ns.folders):
        make_folder(ns.out / str(k), k * ns.seeds, ns.seeds, ns.lists)
        print(ns.out / str(k))


if __name__ == "__main__":
    main()
