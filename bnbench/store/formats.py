"""Every JSON shape bnbench writes, with its version, and the way back: run records, claim results, speed rows,
worker shards, interleaved timings and summary.json. Reading checks the version and the types of what the readers
use, and turns JSON's null back into NaN where a number was missing (a diverged run), so that what comes back is
what went out.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from bnbench.engine.record import RunRecord
from bnbench.engine.speed_rows import ModelSpeed, SpeedRow
from bnbench.errors import BnbenchError
from bnbench.numbers import finite_or_none, nan_if_none
from bnbench.verdicts.evaluate import ClaimResult
from bnbench.verdicts.stats import VERDICTS, Verdict

RECORD_VERSION = 2          # 2: long per-step series may be stored packed (``pack_series``); 1 is still read
SUMMARY_VERSION = 1
SHARD_VERSION = 1


class FormatError(BnbenchError):
    """A file bnbench wrote once (or something posing as one) that does not read back."""


def _require(cond: bool, source: str, what: str) -> None:
    if not cond:
        raise FormatError(f"{source}: {what}")


def _is_num(x) -> bool:
    """A number as bnbench writes one: null (NaN: a diverged or unmeasured value) or a finite int / float. JSON
    read back can also hold Infinity, NaN or a 400-digit integer; none of those is ever written, so each is refused
    (and an integer too large for a float would stop every reader with an OverflowError)."""
    if x is None:
        return True
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _whole(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 2**53


def _number(d: dict, key: str, source: str, what: str, lo: float = -math.inf, hi: float = math.inf,
            default: float = math.nan) -> float:
    """``d[key]`` as a float (null -> NaN; absent -> ``default``), refused unless a number in [lo, hi]."""
    if key not in d:
        return default
    x = d[key]
    _require(_is_num(x) and (x is None or lo <= x <= hi), source,
             f"{what} is not a number" + (f" in [{lo:g}, {hi:g}]" if (lo, hi) != (-math.inf, math.inf) else "")
             + f" (got {str(x)[:40]!r})")
    return nan_if_none(x)


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

PACK_ABOVE = 2000            # per-step series longer than this are stored packed
MAX_SERIES = 50_000_000      # values in one per-step series: far beyond 100 epochs x 1,563 steps


def pack_series(xs: list) -> dict:
    """A per-step series as little-endian float32 in base64 (None and NaN as NaN). The losses are float32 on the
    device, so nothing is lost, and a study-scale record (78,125 steps) shrinks from ~1.5 MB of JSON decimals to
    ~0.4 MB that reads back about 10x faster."""
    import base64

    import numpy as np

    a = np.asarray([math.nan if x is None else x for x in xs], dtype="<f4")
    return {"float32_base64": base64.b64encode(a.tobytes()).decode("ascii"), "n": len(xs)}


def _series(x: Any, source: str, what: str, none_for_nan: bool = False) -> list:
    """A per-step series as stored: a list of numbers (null = NaN), or packed (``pack_series``)."""
    if isinstance(x, list):
        if not none_for_nan:
            return _numbers(x, source, what)
        _require(all(_is_num(v) for v in x), source, f"{what} is not numbers")
        return list(x)
    _require(isinstance(x, dict) and set(x) == {"float32_base64", "n"} and _whole(x["n"]) and x["n"] <= MAX_SERIES
             and isinstance(x["float32_base64"], str) and len(x["float32_base64"]) == 4 * math.ceil(4 * x["n"] / 3),
             source, f"{what} is neither a list of numbers nor a packed float32 series of its stated length")
    import base64
    import binascii

    import numpy as np

    try:
        raw = base64.b64decode(x["float32_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{source}: {what} is not valid base64") from None
    _require(len(raw) == 4 * x["n"], source, f"{what} does not hold the {x['n']} values it states")
    values = np.frombuffer(raw, dtype="<f4").astype(float)
    _require(not np.isinf(values).any(), source, f"{what} holds an infinite value")
    out = values.tolist()
    return [None if v != v else v for v in out] if none_for_nan else out


def record_to_json(record: RunRecord, **context: Any) -> dict:
    """A run record as stored: its fields, the derived numbers a human reader wants (ignored on load), and the
    context the runner adds (experiment id, profile, provenance of every setting, the study's accuracy reading).
    Per-step series longer than ``PACK_ABOVE`` are packed (``pack_series``)."""
    d = dataclasses.asdict(record)
    d["schema_version"] = 1     # what every bnbench reads; 2 only where a series is packed
    for key in ("step_loss", "step_grad_change"):
        if len(d[key]) > PACK_ABOVE:
            d[key], d["schema_version"] = pack_series(d[key]), RECORD_VERSION
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
        t, acc = e.get("train_time_s"), e.get("test_acc")
        _require(t is not None and t >= 0, source, "an epoch's train_time_s is not a time >= 0")
        _require(acc is None or 0 <= acc <= 1, source, "an epoch's test_acc is not an accuracy in [0, 1]")
        _require(all(_whole(e.get(k, 0)) for k in ("images", "steps", "epoch")), source,
                 "an epoch's images / steps / epoch are not whole numbers >= 0")
    probes = d.get("probes", [])
    _require(isinstance(probes, list) and all(isinstance(p, dict) for p in probes), source,
             "probes is not a list of objects")
    for p in probes:
        _require(_whole(p.get("step")), source, "a probe's step is not a whole number >= 0")
        _require(all(_is_num(v) or (isinstance(v, list) and all(_is_num(x) for x in v)) for v in p.values()),
                 source, "a probe's values are not numbers or lists of numbers")
    _require(d.get("diverged_step") is None or _whole(d.get("diverged_step")), source,
             "diverged_step is not a whole number >= 0")
    _require(_is_num(d.get("probe_seconds", 0)) and (d.get("probe_seconds") or 0) >= 0, source,
             "probe_seconds is not a time >= 0")
    names = {f.name for f in dataclasses.fields(RunRecord)}
    fields = {k: v for k, v in d.items() if k in names}
    fields["step_loss"] = _series(d.get("step_loss", []), source, "step_loss")
    # None in step_grad_change means "no difference at this step" (an epoch's first), not a missing number.
    fields["step_grad_change"] = _series(d.get("step_grad_change", []), source, "step_grad_change",
                                         none_for_nan=True)
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


MAX_SEEDS = 10_000   # far beyond any profile (the full one runs 5): a claim result with more values is not ours


def _study_reading(extra: dict, source: str) -> None:
    """``extra["study_reading"]`` (the accuracy the study would have reported, per side and seed), where present."""
    sr = extra.get("study_reading")
    if sr is None:
        return
    _require(isinstance(sr, dict) and isinstance(sr.get("reading"), list)
             and all(isinstance(x, str) for x in sr["reading"]), source, "extra.study_reading.reading is not text")
    for side in ("a", "b"):
        _require(isinstance(sr.get(side), list) and all(_is_num(x) and (x is None or 0 <= x <= 1) for x in sr[side]),
                 source, f"extra.study_reading.{side} is not a list of accuracies in [0, 1]")


MAX_TEXT = 4000          # a claim's sentence, a metric's description: far beyond any real one
MAX_SIDE = 1000          # experiments on one side of a claim


def _described(d: Any, source: str, where: str) -> dict:
    """A result's description of its claim (``bnbench.study.claims.describe``), validated: bounded text, finite
    numbers, a known kind and regression rule; {} where the result has none (summaries written before it)."""
    from bnbench.verdicts.evaluate import DESCRIBED_KEYS
    from bnbench.verdicts.metrics import REGRESSIONS
    from bnbench.verdicts.stats import KINDS

    if d is None or d == {}:
        return {}
    _require(isinstance(d, dict) and set(DESCRIBED_KEYS) <= set(d), source,
             f"{where}: described is not an object with {', '.join(DESCRIBED_KEYS)}")
    out = {k: d[k] for k in DESCRIBED_KEYS}
    for key in ("sentence", "metric", "metric_description", "unit", "measured_as", "a_label", "b_label"):
        _require(isinstance(out[key], str) and len(out[key]) <= MAX_TEXT, source,
                 f"{where}: described.{key} is not text of at most {MAX_TEXT} characters")
    _require(out["kind"] in KINDS, source, f"{where}: described.kind is not one of {', '.join(KINDS)}")
    _require(out["regression"] in REGRESSIONS, source, f"{where}: described.regression is not drop / rise / null")
    _require(isinstance(out["relative"], bool), source, f"{where}: described.relative is not true / false")
    out["scale"] = _number(out, "scale", source, f"{where}: described.scale", 0)
    out["margin"] = _number(out, "margin", source, f"{where}: described.margin", 0)
    _require(math.isfinite(out["scale"]) and math.isfinite(out["margin"]), source,
             f"{where}: described.scale / margin is not a finite number")
    for side in ("a", "b"):
        _require(isinstance(out[side], list) and 0 < len(out[side]) <= MAX_SIDE
                 and all(isinstance(x, str) and len(x) <= MAX_TEXT for x in out[side]), source,
                 f"{where}: described.{side} is not a list of experiment ids")
    return out


def result_from_json(d: Any, source: str = "claim result") -> ClaimResult:
    _require(isinstance(d, dict), source, "a claim result is not an object")
    for key in ("claim_id", "profile", "verdict", "reason"):
        _require(isinstance(d.get(key), str), source, f"a claim result's {key} is not a string")
    _require(d["verdict"] in VERDICTS, source,
             f"verdict {d['verdict'][:40]!r} is not supported / contradicted / inconclusive")
    where = f"claim {d['claim_id'][:80]!r}"
    stats = None
    if d.get("stats") is not None:
        s = d["stats"]
        _require(isinstance(s, dict), source, f"{where}: stats is not an object")
        names = {f.name for f in dataclasses.fields(Verdict)}
        s = {k: v for k, v in s.items() if k in names}
        s.setdefault("verdict", d["verdict"])
        s.setdefault("reason", d["reason"])
        _require(isinstance(s["verdict"], str) and isinstance(s["reason"], str), source,
                 f"{where}: stats' verdict is not text")
        _require(isinstance(s.get("rule", ""), str) and isinstance(s.get("relative", False), bool), source,
                 f"{where}: stats.rule / stats.relative have the wrong type")
        for key in ("mean_diff", "ci_low", "ci_high"):
            _require(key in s, source, f"{where}: stats.{key} is missing")
            s[key] = _number(s, key, source, f"{where}: stats.{key}")
        for key, lo, hi in (("margin", 0, math.inf), ("confidence", 0, 1), ("df", 0, math.inf)):
            if key in s:                       # optional: the dataclass's defaults stand in
                s[key] = _number(s, key, source, f"{where}: stats.{key}", lo, hi)
        n = s.get("n")
        _require(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_SEEDS, source,
                 f"{where}: stats.n is not a whole number from 0 to {MAX_SEEDS}")
        s["differences"] = tuple(_numbers(s.get("differences", []), source, f"{where}: stats.differences"))
        try:
            stats = Verdict(**s)
        except TypeError as exc:
            raise FormatError(f"{source}: {where}: malformed stats ({exc})") from None
    notes = d.get("notes", [])
    _require(isinstance(notes, list) and all(isinstance(n, str) for n in notes), source, f"{where}: notes are not text")
    documented = d.get("documented", [])
    _require(isinstance(documented, list) and all(isinstance(x, dict) for x in documented), source,
             f"{where}: documented is not a list of objects")
    _require(d.get("plot") is None or isinstance(d.get("plot"), str), source, f"{where}: plot is not a path")
    extra = d.get("extra", {})
    _require(isinstance(extra, dict), source, f"{where}: extra is not an object")
    _study_reading(extra, source)
    values = {side: _numbers(d.get(f"{side}_values", []), source, f"{where}: {side}_values") for side in "ab"}
    _require(all(len(v) <= MAX_SEEDS for v in values.values()), source, f"{where}: more than {MAX_SEEDS} values")
    return ClaimResult(
        d["claim_id"], d["profile"], d["verdict"], d["reason"], values["a"], values["b"],
        stats=stats, documented=documented, notes=list(notes),
        a_s_per_epoch=_number(d, "a_s_per_epoch", source, f"{where}: a_s_per_epoch", 0),
        b_s_per_epoch=_number(d, "b_s_per_epoch", source, f"{where}: b_s_per_epoch", 0),
        plot=d.get("plot"), extra=extra, described=_described(d.get("described"), source, where))


# -- speed rows -----------------------------------------------------------------------------------------------------
# The JSON keys are the dataclasses' field names, in their order (as the speed benchmark has always written them);
# fields that older files lack (cuda_graphs, device_name, paired_speedups, native_bf16, compile) read back as their
# defaults, and keys this bnbench does not know are ignored.

def _finite(x) -> bool:
    """A number that is there: ``_is_num`` without null (so a 400-digit integer is refused, never an OverflowError)."""
    return x is not None and _is_num(x)


def _row_numbers(d: dict, keys: tuple[str, ...], source: str, where: str, positive: bool) -> dict[str, float]:
    out = {}
    for key in keys:
        x = d.get(key)
        _require(_finite(x) and (x > 0 if positive else x >= 0), source,
                 f"{where}.{key} is not a finite {'positive' if positive else 'non-negative'} number (got {x!r:.40})")
        out[key] = float(x)
    return out


def _row_strings(d: dict, keys: tuple[str, ...], source: str, where: str, optional: bool) -> dict[str, str | None]:
    out = {}
    for key in keys:
        x = d.get(key)
        _require(isinstance(x, str) or (optional and x is None), source,
                 f"{where}.{key} is not a string{' or null' if optional else ''}")
        out[key] = x
    return out


def speed_row_to_json(row: SpeedRow) -> dict:
    d = dataclasses.asdict(row)
    d["test_acc"] = finite_or_none(row.test_acc)
    return d


def speed_row_from_json(d: Any, source: str = "speed row", where: str = "speed row") -> SpeedRow:
    _require(isinstance(d, dict), source, f"{where} is not an object")
    acc = d.get("test_acc")
    _require(acc is None or (_finite(acc) and 0 <= acc <= 1), source,
             f"{where}.test_acc is not an accuracy in [0, 1] or null")
    return SpeedRow(
        **_row_strings(d, ("model", "variant", "device", "precision"), source, where, optional=False),
        **_row_strings(d, ("compile", "cuda_graphs"), source, where, optional=True),
        **_row_numbers(d, ("bnbench_s_per_epoch", "bnbench_first_epoch_s", "study_style_s_per_epoch", "ratio",
                           "bnbench_images_per_s", "study_style_images_per_s"), source, where, positive=True),
        test_acc=math.nan if acc is None else float(acc))


def model_speed_to_json(row: ModelSpeed) -> dict:
    d = dataclasses.asdict(row)
    d["paired_speedups"] = list(row.paired_speedups)
    return d


def model_speed_from_json(d: Any, source: str = "model speed row", where: str = "model_speed row") -> ModelSpeed:
    _require(isinstance(d, dict), source, f"{where} is not an object")
    bs = d.get("batch_size")
    _require(isinstance(bs, int) and not isinstance(bs, bool) and bs > 0, source,
             f"{where}.batch_size is not a positive whole number")
    paired = d.get("paired_speedups", [])
    _require(isinstance(paired, list) and all(_finite(x) and x > 0 for x in paired), source,
             f"{where}.paired_speedups is not a list of finite positive numbers")
    _require(d.get("native_bf16") is None or isinstance(d.get("native_bf16"), bool), source,
             f"{where}.native_bf16 is not true / false / null")
    return ModelSpeed(
        **_row_strings(d, ("model", "device", "precision", "peak_dtype"), source, where, optional=False),
        **_row_strings(d, ("device_name", "compile", "cuda_graphs"), source, where, optional=True),
        **_row_numbers(d, ("bnbench_images_per_s", "study_style_images_per_s", "speedup", "peak_flops"),
                       source, where, positive=True),
        **_row_numbers(d, ("flops_per_image", "achieved_flops", "fraction_of_peak"), source, where, positive=False),
        batch_size=bs, paired_speedups=tuple(float(x) for x in paired), native_bf16=d.get("native_bf16"))


# -- summary.json and worker shards ---------------------------------------------------------------------------------

@dataclass
class Summary:
    """A finished (or interrupted) run's summary.json, read back."""
    path: str
    claims: list[ClaimResult] = field(default_factory=list)
    speed: list[SpeedRow] = field(default_factory=list)
    model_speed: list[ModelSpeed] = field(default_factory=list)
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
            "claims": [result_to_json(r) for r in summary.claims],
            "speed": [speed_row_to_json(r) for r in summary.speed],
            "model_speed": [model_speed_to_json(r) for r in summary.model_speed],
            "documented_figure": summary.documented_figure,
            "experiments": summary.experiments, **context}


def _rows(data: dict, key: str, source: str) -> list[dict]:
    rows = data.get(key, [])
    _require(isinstance(rows, list) and all(isinstance(r, dict) for r in rows), source, f"{key} is not a list of rows")
    return rows


def _speed_rows(data: dict, source: str) -> tuple[list[SpeedRow], list[ModelSpeed]]:
    return ([speed_row_from_json(r, source, f"speed[{i}]") for i, r in enumerate(_rows(data, "speed", source))],
            [model_speed_from_json(r, source, f"model_speed[{i}]")
             for i, r in enumerate(_rows(data, "model_speed", source))])


def summary_from_json(data: Any, source: str) -> Summary:
    _version(data, source, "summary", SUMMARY_VERSION)
    claims = _rows(data, "claims", source)
    speed, model_speed = _speed_rows(data, source)
    return Summary(
        path=source, claims=[result_from_json(c, source) for c in claims], speed=speed, model_speed=model_speed,
        experiments=_experiments(data, source), partial=_flag(data, "partial", source),
        started_at=_text(data, "started_at", source), finished_at=_text(data, "finished_at", source),
        run_id=_text(data, "run_id", source), documented_figure=_text(data, "documented_figure", source) or None,
        trained_runs=_count(data, "trained_runs", source), resumed_runs=_count(data, "resumed_runs", source))


def _text(data: dict, key: str, source: str) -> str:
    x = data.get(key)
    _require(x is None or isinstance(x, str), source, f"{key} is not a string")
    return x or ""


def _flag(data: dict, key: str, source: str) -> bool:
    x = data.get(key, False)
    _require(isinstance(x, bool), source, f"{key} is not true / false")
    return x


def _count(data: dict, key: str, source: str) -> int:
    x = data.get(key, 0)
    _require(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 10**9, source,
             f"{key} is not a whole number >= 0")
    return x


def _experiments(data: dict, source: str) -> dict:
    """Each experiment that ran: {"config": {...}, "provenance": {setting: source text}, "reported_as": text}."""
    exps = data.get("experiments", {})
    _require(isinstance(exps, dict), source, "experiments is not an object")
    for exp_id, info in exps.items():
        where = f"experiments[{exp_id[:60]!r}]"
        _require(isinstance(info, dict), source, f"{where} is not an object")
        _require(isinstance(info.get("config", {}), dict), source, f"{where}.config is not an object")
        _require(isinstance(info.get("config", {}).get("model_args", {}), dict), source,
                 f"{where}.config.model_args is not an object")
        prov = info.get("provenance", {})
        _require(isinstance(prov, dict) and all(isinstance(v, str) for v in prov.values()), source,
                 f"{where}.provenance is not settings with their sources as text")
        _require(isinstance(info.get("reported_as", ""), str), source, f"{where}.reported_as is not a string")
    return exps


@dataclass
class Shard:
    """An xdist worker's share of a run, merged by the controller."""
    run_id: str
    claims: list[ClaimResult] = field(default_factory=list)
    speed: list[SpeedRow] = field(default_factory=list)
    model_speed: list[ModelSpeed] = field(default_factory=list)
    trained: int = 0
    resumed: int = 0
    records: dict[str, list[str]] = field(default_factory=dict)   # "<profile>:<experiment>" -> record paths


def shard_to_json(shard: Shard) -> dict:
    return {"schema_version": SHARD_VERSION, "run_id": shard.run_id,
            "claims": [result_to_json(r) for r in shard.claims],
            "speed": [speed_row_to_json(r) for r in shard.speed],
            "model_speed": [model_speed_to_json(r) for r in shard.model_speed],
            "trained": shard.trained, "resumed": shard.resumed,
            "records": shard.records}


def shard_from_json(data: Any, source: str) -> Shard:
    _version(data, source, "worker shard", SHARD_VERSION)
    records = data.get("records", {})
    _require(isinstance(records, dict) and all(isinstance(v, list) and all(isinstance(p, str) for p in v)
                                               for v in records.values()), source, "records is not paths by key")
    _require(all(":" in k for k in records), source, "records' keys are not <profile>:<experiment>")
    speed, model_speed = _speed_rows(data, source)
    return Shard(_text(data, "run_id", source), [result_from_json(c, source) for c in _rows(data, "claims", source)],
                 speed, model_speed, _count(data, "trained", source), _count(data, "resumed", source), records)


# -- interleaved timings --------------------------------------------------------------------------------------------

TIMING_NUMBERS = ("ratio_median", "a_s_per_step_median", "b_s_per_step_median")


def timing_from_json(data: Any, source: str) -> dict:
    _require(isinstance(data, dict), source, "not an interleaved timing (not an object)")
    for key in TIMING_NUMBERS:
        x = data.get(key)
        _require(_finite(x) and x > 0, source,
                 f"{key} is not a positive number")
    _require(isinstance(data.get("run_id", ""), str), source, "run_id is not a string")
    return data
