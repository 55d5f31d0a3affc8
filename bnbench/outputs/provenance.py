"""Which code trained which runs. A study-scale result is trained over days, across sessions and commits: a claim
whose two sides were trained by code that computes differently compares the code as much as the claim. Records
carry the commit (``env["git_commit"]``, ``git_dirty``), torch and precision they were trained with, and the data
(``env["data"]``, a fingerprint); this module counts them and says when they differ in anything that changes what a
run computes.

What changes what a run computes: the torch version, the precision, and bnbench's engine (``ENGINE_PATHS``: the
trainer, data, models, losses). Two commits whose engine is identical (``git diff`` of those paths is empty) train
the same runs; when git cannot tell (no checkout, an unknown commit, a dirty tree), the difference is reported.
"""
from __future__ import annotations

import functools
import subprocess
from collections import Counter
from pathlib import Path

ENGINE_PATHS = ("bnbench/engine",)
UNKNOWN = "unknown"


def trained_by(record) -> str:
    """``abc1234`` (``+dirty`` when the tree had uncommitted changes), or "unknown"."""
    env = record.env if isinstance(record.env, dict) else {}
    commit = env.get("git_commit")
    if not isinstance(commit, str) or not commit:
        return UNKNOWN
    return commit[:10] + ("+dirty" if env.get("git_dirty") else "")


def commits(records) -> Counter:
    return Counter(trained_by(r) for r in records)


def trained_on(record) -> str | None:
    """The data a run trained on, as its record says (``env["data"]``, ``bnbench.engine.data.fingerprint``), or None
    for a record that does not say (older than the field, or not a string of a sane length)."""
    env = record.env if isinstance(record.env, dict) else {}
    data = env.get("data")
    return data if isinstance(data, str) and 0 < len(data) <= 100 else None


def _what(record) -> tuple:
    env = record.env if isinstance(record.env, dict) else {}
    return str(env.get("torch")), str(env.get("precision"))


@functools.lru_cache(maxsize=256)
def engine_differs(a: str, b: str, root: str | None = None) -> bool:
    """Whether bnbench's engine differs between two ``trained_by`` labels (True when git cannot tell)."""
    if a == b and "+dirty" not in a and a != UNKNOWN:
        return False
    if UNKNOWN in (a, b) or "+dirty" in a or "+dirty" in b:
        return True
    where = root or str(Path(__file__).resolve().parents[2])
    try:
        done = subprocess.run(["git", "diff", "--quiet", a, b, "--", *ENGINE_PATHS], cwd=where,
                              capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return True
    return done.returncode != 0


def code_warning(side_a, side_b, strict: bool = True) -> str | None:
    """One sentence when a claim's runs were trained by code that computes differently, else None. ``strict``:
    runs from an uncommitted (dirty) tree or of unknown code count as such even when they all share it (for a
    published result); otherwise only a mix of trainers does (a run resumed from another commit's records)."""
    everything = list(side_a) + list(side_b)
    data = Counter(d for r in everything if (d := trained_on(r)) is not None)
    if len(data) > 1:   # two copies of the data (records that do not say are not counted against either)
        return ("its runs were trained on different data (" + "; ".join(f"{d}: {n} runs" for d, n in
                                                                       sorted(data.items()))
                + "): the comparison is not like with like")
    versions = sorted({_what(r) for r in everything})
    if len(versions) > 1:
        return ("its runs were trained with different torch versions or precisions ("
                + "; ".join(f"torch {t}, {p}" for t, p in versions) + "): the comparison is not like with like")
    labels = sorted(commits(everything))
    unsure = {x for x in labels if "+dirty" in x or x == UNKNOWN} if strict or len(labels) > 1 else set()
    differing = sorted(unsure | {x for x in labels for y in labels if x != y and engine_differs(x, y)})
    if differing:
        counts = commits(everything)
        return ("its runs were trained by bnbench commits whose engine differs or cannot be compared ("
                + ", ".join(f"{c}: {counts[c]} runs" for c in differing) + ")")
    return None
