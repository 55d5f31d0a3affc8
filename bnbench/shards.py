"""Worker shards: how the pytest-xdist workers of one run hand their part to the controller.

Each worker writes its share of the summary (its claims' results, speed rows, counts and where its records are)
into ``.workers/<run id>-<worker>.json`` at its end; the controller folds every share of its own run into its
session before it writes summary.json. A share that does not read back is named and left in ``.workers/``; the
others are merged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from bnbench.errors import BnbenchError
from bnbench.store import Shard, load_record

if TYPE_CHECKING:
    from bnbench.runner import Runner


def write_share(session: Runner) -> None:
    """An xdist worker's share of the summary. A worker that never used the output folder (no bnbench test ran on
    it) writes nothing."""
    cache = session.cache
    if not session.store.claimed and not (session.results or session.records or session.speed_rows
                                          or session.model_speed_rows or cache.trained or cache.resumed):
        return
    session.store.write_shard(Shard(session.run_id, list(session.results), session.speed_rows,
                                    session.model_speed_rows, cache.trained, cache.resumed, session.record_files),
                              session.worker)


def merge_shares(session: Runner) -> list[str]:
    """Controller side: fold every worker's share of this run into ``session``. Returns one line per share (or
    record) that could not be read."""
    errors: list[str] = []
    for shard in session.store.take_shards(session.run_id, errors=errors):
        session.results.extend(shard.claims)
        session.speed_rows.extend(shard.speed)
        session.model_speed_rows.extend(shard.model_speed)
        session.cache.trained += shard.trained
        session.cache.resumed += shard.resumed
        for key, paths in shard.records.items():
            try:
                session.records[key] = [load_record(p) for p in paths]
            except (OSError, BnbenchError) as exc:
                errors.append(f"a worker's record for {key} does not read back ({exc})")
    return errors
