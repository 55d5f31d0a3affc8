"""Every JSON shape bnbench writes, with its version, and the way back: run records, claim results, worker shards,
interleaved timings and summary.json. Reading checks the version and the types of what the readers use, and turns
JSON's null back into NaN where a number was missing (a diverged run), so that what comes back is what went out.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from bnbench.engine.record import RunRecord
from bnbench.errors import BnbenchError
from bnbench.numbers import finite_or_none, nan_if_none
from bnbench.verdicts.evaluate import ClaimResult
from bnbench.verdicts.stats import Verdict

RECORD_VERSION = 1
SUMMARY_VERSION = 1
SHARD_VERSION = 1


class FormatError(BnbenchError):
    """A file bnbench wrote once (or something posing as one) that does not read back."""


def _require(cond: bool, source: str, what: str) -> None:
    if not cond:
        raise FormatError(f"{source}: {what}")


def _is_num(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def _numbers(xs, source: str, what: str) -> list[float]:
    _require(isinstance(xs, list) and all(_is_num(x) for x in xs), source, f"{what} is not a list of numbers")
    return [nan_if_none(x) for x in xs]


def _version(data: Any, source: str, kind: str, known: int) -> None:
    _require(isinstance(data, dict), source, f"not a bnbench {kind} (not a JSON object)")
    version = data.get("schema_version")
    _require(isinstance(version, int) and not isinstance(version, bool), source,
             f"not a bnbench {kind} (no schema_version)")
    if version > known:
        raise FormatError(f"{source}: schema version {version} is newer than this bnbench understands ({known}); "
                          "upgrade bnbench to read it")
    _require(version >= 1, source, f"schema version {version!r} is not valid")


# -- run records ----------------------------------------------------------------------------------------------------

def record_to_json(record: RunRecord, **context: Any) -> dict:
    """A run record as stored: its fields, the derived numbers a human reader wants (ignored on load), and the
    context the runner adds (experiment id, profile, provenance of every setting, the study's accuracy reading)."""
    d = dataclasses.asdict(record)
    d["schema_version"] = RECORD_VERSION
    d["summary"] = {
        "final_test_acc": finite_or_none(record.final_test_acc),
        "final_test_loss": finite_or_none(record.final_test_loss),
        "best_test_acc": finite_or_none(record.reported_test_acc("best")),
        "checkpoint_test_acc": finite_or_none(record.reported_test_acc("checkpoint")),
        "s_per_epoch": finite_or_none(record.s_per_epoch),
        "images_per_s": finite_or_none(record.images_per_s),
        "learned": record.learned,
    }
    d.update(context)
    return d


_EPOCH_NUMBERS = ("train_loss", "train_time_s", "test_loss", "test_acc")


def record_from_json(d: Any, source: str = "run record") -> RunRecord:
    _version(d, source, "run record", RECORD_VERSION)
    _require(isinstance(d.get("config"), dict), source, "config is not an object")
    _require(isinstance(d.get("config_hash"), str), source, "config_hash is not a string")
    for key in ("device", "started_at", "finished_at", "run_id"):
        _require(isinstance(d.get(key, ""), str), source, f"{key} is not a string")
    _require(isinstance(d.get("diverged", False), bool), source, "diverged is not true/false")
    epochs = d.get("epochs", [])
    _require(isinstance(epochs, list) and all(isinstance(e, dict) for e in epochs), source,
             "epochs is not a list of objects")
    for e in epochs:
        for key in _EPOCH_NUMBERS:
            _require(_is_num(e.get(key)), source, f"epoch field {key} is not a number")
        _require(isinstance(e.get("images", 0), int) and isinstance(e.get("steps", 0), int), source,
                 "an epoch's images / steps are not whole numbers")
    probes = d.get("probes", [])
    _require(isinstance(probes, list) and all(isinstance(p, dict) for p in probes), source,
             "probes is not a list of objects")
    names = {f.name for f in dataclasses.fields(RunRecord)}
    fields = {k: v for k, v in d.items() if k in names}
    fields["step_loss"] = _numbers(d.get("step_loss", []), source, "step_loss")
    # None in step_grad_change means "no difference at this step" (an epoch's first), not a missing number.
    grad = d.get("step_grad_change", [])
    _require(isinstance(grad, list) and all(_is_num(x) for x in grad), source, "step_grad_change is not numbers")
    fields["env"] = d.get("env") if isinstance(d.get("env"), dict) else {}
    try:
        return RunRecord(**fields)
    except TypeError as exc:
        raise FormatError(f"{source}: malformed run record ({exc})") from None


# -- claim results --------------------------------------------------------------------------------------------------

def result_to_json(result: ClaimResult) -> dict:
    d = {f.name: getattr(result, f.name) for f in dataclasses.fields(ClaimResult) if f.name != "stats"}
    if result.stats is not None:
        v = result.stats
        d["stats"] = {f.name: getattr(v, f.name) for f in dataclasses.fields(Verdict)}
        d["stats"]["differences"] = list(v.differences)
    return d


def result_from_json(d: Any, source: str = "claim result") -> ClaimResult:
    _require(isinstance(d, dict), source, "a claim result is not an object")
    for key in ("claim_id", "profile", "verdict", "reason"):
        _require(isinstance(d.get(key), str), source, f"a claim result's {key} is not a string")
    _require(d["verdict"] in ("supported", "contradicted", "inconclusive"), source,
             f"verdict {d['verdict'][:40]!r} is not supported / contradicted / inconclusive")
    stats = None
    if d.get("stats") is not None:
        s = d["stats"]
        _require(isinstance(s, dict), source, "stats is not an object")
        names = {f.name for f in dataclasses.fields(Verdict)}
        s = {k: v for k, v in s.items() if k in names}
        s.setdefault("verdict", d["verdict"])
        s.setdefault("reason", d["reason"])
        _require(isinstance(s["verdict"], str) and isinstance(s["reason"], str), source, "stats' verdict is not text")
        _require(isinstance(s.get("rule", ""), str) and isinstance(s.get("relative", False), bool), source,
                 "stats.rule / stats.relative have the wrong type")
        for key in ("mean_diff", "ci_low", "ci_high"):
            _require(key in s and _is_num(s[key]), source, f"stats.{key} is not a number")
            s[key] = nan_if_none(s[key])
        for key in ("margin", "confidence", "df"):   # optional: the dataclass's defaults stand in
            if key in s:
                _require(_is_num(s[key]), source, f"stats.{key} is not a number")
                s[key] = nan_if_none(s[key])
        _require(isinstance(s.get("n"), int) and not isinstance(s.get("n"), bool) and s["n"] >= 0, source,
                 "stats.n is not a whole number")
        s["differences"] = tuple(_numbers(s.get("differences", []), source, "stats.differences"))
        try:
            stats = Verdict(**s)
        except TypeError as exc:
            raise FormatError(f"{source}: malformed stats ({exc})") from None
    notes = d.get("notes", [])
    _require(isinstance(notes, list) and all(isinstance(n, str) for n in notes), source, "notes are not text")
    documented = d.get("documented", [])
    _require(isinstance(documented, list) and all(isinstance(x, dict) for x in documented), source,
             "documented is not a list of objects")
    _require(d.get("plot") is None or isinstance(d.get("plot"), str), source, "plot is not a path")
    _require(isinstance(d.get("extra", {}), dict), source, "extra is not an object")
    return ClaimResult(
        d["claim_id"], d["profile"], d["verdict"], d["reason"],
        _numbers(d.get("a_values", []), source, "a_values"), _numbers(d.get("b_values", []), source, "b_values"),
        stats=stats, documented=documented, notes=list(notes),
        a_s_per_epoch=nan_if_none(d.get("a_s_per_epoch")) if _is_num(d.get("a_s_per_epoch")) else math.nan,
        b_s_per_epoch=nan_if_none(d.get("b_s_per_epoch")) if _is_num(d.get("b_s_per_epoch")) else math.nan,
        plot=d.get("plot"), extra=d.get("extra", {}))


# -- summary.json and worker shards ---------------------------------------------------------------------------------

@dataclass
class Summary:
    """A finished (or interrupted) run's summary.json, read back."""
    path: str
    claims: list[ClaimResult] = field(default_factory=list)
    speed: list[dict] = field(default_factory=list)
    model_speed: list[dict] = field(default_factory=list)
    experiments: dict = field(default_factory=dict)
    partial: bool = False
    started_at: str = ""
    finished_at: str = ""
    run_id: str = ""
    documented_figure: str | None = None
    trained_runs: int = 0
    resumed_runs: int = 0


def summary_to_json(summary: Summary, **context: Any) -> dict:
    return {"schema_version": SUMMARY_VERSION, "started_at": summary.started_at,
            "finished_at": summary.finished_at, "partial": summary.partial, "run_id": summary.run_id,
            "trained_runs": summary.trained_runs, "resumed_runs": summary.resumed_runs,
            "claims": [result_to_json(r) for r in summary.claims], "speed": summary.speed,
            "model_speed": summary.model_speed, "documented_figure": summary.documented_figure,
            "experiments": summary.experiments, **context}


def _rows(data: dict, key: str, source: str) -> list[dict]:
    rows = data.get(key, [])
    _require(isinstance(rows, list) and all(isinstance(r, dict) for r in rows), source, f"{key} is not a list of rows")
    return rows


def summary_from_json(data: Any, source: str) -> Summary:
    _version(data, source, "summary", SUMMARY_VERSION)
    claims = _rows(data, "claims", source)
    return Summary(
        path=source, claims=[result_from_json(c, source) for c in claims],
        speed=_rows(data, "speed", source), model_speed=_rows(data, "model_speed", source),
        experiments=data.get("experiments") if isinstance(data.get("experiments"), dict) else {},
        partial=data.get("partial") is True, started_at=str(data.get("started_at") or ""),
        finished_at=str(data.get("finished_at") or ""), run_id=str(data.get("run_id") or ""),
        documented_figure=data.get("documented_figure") if isinstance(data.get("documented_figure"), str) else None,
        trained_runs=data.get("trained_runs") if isinstance(data.get("trained_runs"), int) else 0,
        resumed_runs=data.get("resumed_runs") if isinstance(data.get("resumed_runs"), int) else 0)


@dataclass
class Shard:
    """An xdist worker's share of a run, merged by the controller."""
    run_id: str
    claims: list[ClaimResult] = field(default_factory=list)
    speed: list[dict] = field(default_factory=list)
    model_speed: list[dict] = field(default_factory=list)
    trained: int = 0
    resumed: int = 0
    records: dict[str, list[str]] = field(default_factory=dict)   # "<profile>:<experiment>" -> record paths


def shard_to_json(shard: Shard) -> dict:
    return {"schema_version": SHARD_VERSION, "run_id": shard.run_id,
            "claims": [result_to_json(r) for r in shard.claims], "speed": shard.speed,
            "model_speed": shard.model_speed, "trained": shard.trained, "resumed": shard.resumed,
            "records": shard.records}


def shard_from_json(data: Any, source: str) -> Shard:
    _version(data, source, "worker shard", SHARD_VERSION)
    records = data.get("records", {})
    _require(isinstance(records, dict) and all(isinstance(v, list) and all(isinstance(p, str) for p in v)
                                               for v in records.values()), source, "records is not paths by key")
    for key in ("trained", "resumed"):
        _require(isinstance(data.get(key, 0), int), source, f"{key} is not a whole number")
    return Shard(str(data.get("run_id", "")), [result_from_json(c, source) for c in _rows(data, "claims", source)],
                 _rows(data, "speed", source), _rows(data, "model_speed", source), data.get("trained", 0),
                 data.get("resumed", 0), records)


# -- interleaved timings --------------------------------------------------------------------------------------------

TIMING_NUMBERS = ("ratio_median", "a_s_per_step_median", "b_s_per_step_median")


def timing_from_json(data: Any, source: str) -> dict:
    _require(isinstance(data, dict), source, "not an interleaved timing (not an object)")
    for key in TIMING_NUMBERS:
        x = data.get(key)
        _require(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0, source,
                 f"{key} is not a positive number")
    _require(isinstance(data.get("run_id", ""), str), source, "run_id is not a string")
    return data
