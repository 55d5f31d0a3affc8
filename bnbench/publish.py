"""Publishing a result at the study's scale: ``bnbench publish RUN_DIR DEST --readme README.md``.

A long run's output folder (``RUN_DIR``, trained over days with ``--bnbench-resume``) becomes a folder a reader can
re-check (``DEST``, e.g. ``results/full-1.1/`` in the repository): its finished records, copied through the store
(each validated and its configuration hash recomputed), every claim decided again from them, summary.json, the
figures, the HTML report, and the README's section, generated between two marker lines and never typed by hand.
``tests/test_published.py`` decides every claim again from the committed records and checks that the README says
the same.

While the run is not finished, the section says so: a claim is decided from the seeds for which every one of its
experiments has a record (at least 2), and marked provisional below the profile's seed count. A claim about time
(``Metric.interleaved``, e.g. 2.1/bn-costs-time) is decided from the drift-cancelling timings the run's claim test
measured and kept beside the records (``records/<claim>/<profile>-seed<k>-timing-<hash a>-<hash b>-<device>.json``):
they are copied and read back like the records, and a seed counts once both its records and its timing are there.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bnbench.engine.record import RunRecord
from bnbench.errors import BnbenchError, BnbenchSkippedFile
from bnbench.outputs.provenance import code_warning, commits, trained_on
from bnbench.outputs.table import evidence
from bnbench.store import Store
from bnbench.study.catalog import Claim, claims_in, experiments_in
from bnbench.study.experiments import _setting_value
from bnbench.study.profiles import Profile, get_profile, scaled_config
from bnbench.verdicts.evaluate import ClaimResult, evaluate
from bnbench.verdicts.family import expected_false, family
from bnbench.verdicts.stats import ALPHA, CONTRADICTED, INCONCLUSIVE, SUPPORTED

MIN_SEEDS = 2
MARK = "<!-- bnbench:published {name} {edge} -->"


@dataclass
class Published:
    """A published folder's records and the claims decided from them."""
    name: str
    profile: Profile
    sections: tuple[str, ...]
    runs: dict[str, list[RunRecord | None]]                    # experiment id -> record per seed (None: missing)
    decided: list[tuple[Claim, ClaimResult]] = field(default_factory=list)
    waiting: list[tuple[Claim, int]] = field(default_factory=list)   # claims with fewer than MIN_SEEDS complete seeds
    timings: dict[str, list[dict]] = field(default_factory=dict)     # interleaved claim id -> timing per seed, in order

    @property
    def records(self) -> list[RunRecord]:
        return [r for recs in self.runs.values() for r in recs if r is not None]

    def complete_seeds(self, claim: Claim) -> int:
        n = 0
        while n < self.profile.seeds and all(self.runs[e.id][n] is not None for e in claim.experiments):
            n += 1
        return n


def gather(folder: str | Path, name: str, profile_name: str, sections: tuple[str, ...]) -> Published:
    """Every finished record of the sections' experiments at the profile's scale, read through the store's
    validating loader (hash recomputed), and each claim decided from its complete seeds."""
    store, profile = Store(folder), get_profile(profile_name)
    runs: dict[str, list[RunRecord | None]] = {}
    for section in sections:
        if not experiments_in(section):
            raise BnbenchError(f"section {section!r} declares no experiments in this process: install the study "
                               "that declares it (its bnbench.studies entry point), or name its --section")
        for exp in experiments_in(section):
            runs[exp.id] = [store.load_finished(exp.id, profile.name, seed,
                                                scaled_config(exp.config, profile, exp.section, seed).hash)
                            for seed in range(profile.seeds)]
    pub = Published(name, profile, tuple(sections), runs)
    for section in sections:
        for claim in claims_in(section):
            n = pub.complete_seeds(claim)
            timings = None
            if claim.metric.interleaved:
                timings = pub.timings[claim.id] = _timings(store, claim, profile, runs, n)
                n = len(timings)
            if n < MIN_SEEDS:
                pub.waiting.append((claim, n))
                continue
            records = {e.id: runs[e.id][:n] for e in claim.experiments}
            result = evaluate(claim, records, profile_name=profile.name, verdicts=profile.verdicts,
                              documented=profile.documented_check, timings=timings)
            warning = code_warning(*([r for e in side for r in records[e.id]] for side in (claim.a, claim.b)))
            if warning:
                result.notes.append(f"warning: {warning}")
            pub.decided.append((claim, result))
    return pub


TIMING_DEVICES = ("cuda", "cpu")


def _timing_paths(store: Store, claim: Claim, profile: Profile, seed: int, device: str | None) -> list[Path]:
    """Where the run's claim test kept seed ``seed``'s interleaved timing (``bnbench.run_cache``), the device the
    seed's records trained on first."""
    from bnbench.run_cache import timing_path

    return [timing_path(store, claim, profile, seed, d) for d in sorted(TIMING_DEVICES, key=lambda d: d != device)]


def _read_timing(store: Store, path: Path, claim: Claim, profile: Profile, seed: int) -> dict | None:
    """A kept timing, read bounded and validated; one that names another claim, profile or seed is refused."""
    found = store.load_timing(path)
    if found is None:
        return None
    if (found.get("claim"), found.get("profile"), found.get("seed")) != (claim.id, profile.name, seed):
        store.skipped(f"{path}: an interleaved timing of {found.get('claim')!r} {found.get('profile')!r} seed "
                      f"{found.get('seed')!r} where {claim.id} {profile.name} seed {seed} belongs; left out")
        return None
    return found


def _timings(store: Store, claim: Claim, profile: Profile, runs: dict, n: int) -> list[dict]:
    """The interleaved timings of the claim's first seeds, up to the first seed without one (at most ``n``, the
    seeds with every record)."""
    out = []
    for seed in range(n):
        device = str(runs[claim.a[0].id][seed].env.get("device") or "").split(":")[0] or None
        found = next((t for p in _timing_paths(store, claim, profile, seed, device)
                      if (t := _read_timing(store, p, claim, profile, seed)) is not None), None)
        if found is None:
            break
        out.append(found)
    return out


def copy_timings(source: str | Path, dest: str | Path, profile_name: str, sections: tuple[str, ...]) -> int:
    """The interleaved timings of the sections' time claims from ``source`` into ``dest`` (validated on the way);
    returns how many were new there."""
    src, out, profile = Store(source), Store(dest), get_profile(profile_name)
    kept = [(claim, seed, path) for section in sections for claim in claims_in(section) if claim.metric.interleaved
            for seed in range(profile.seeds) for path in _timing_paths(src, claim, profile, seed, None)]
    new = 0
    for claim, seed, path in kept:
        there = out.out / path.relative_to(src.out)
        timing = _read_timing(src, path, claim, profile, seed)
        if timing is not None and out.load_timing(there) is None:
            out.save_timing(there, timing)
            new += 1
    return new


def copy_records(source: str | Path, dest: str | Path, profile_name: str, sections: tuple[str, ...]) -> int:
    """Finished records of the sections from ``source`` into ``dest`` (validated on the way, written by the store);
    returns how many were new there."""
    src, out, profile = Store(source), Store(dest), get_profile(profile_name)
    new = 0
    for section in sections:
        for exp in experiments_in(section):
            for seed in range(profile.seeds):
                config_hash = scaled_config(exp.config, profile, exp.section, seed).hash
                record = src.load_finished(exp.id, profile.name, seed, config_hash)
                if record is None or out.load_finished(exp.id, profile.name, seed, config_hash) is not None:
                    continue
                out.save_record(record, exp.id, profile.name, seed, provenance=exp.provenance,
                                reported_as=exp.reported_as)
                new += 1
    return new


# -- the README section ---------------------------------------------------------------------------------------------

def _pp(x: float, signed: bool = True) -> str:
    return "n/a" if x is None or not math.isfinite(x) else (f"{x * 100:+.2f}" if signed else f"{x * 100:.2f}")


def _meaning(claim: Claim, result: ClaimResult) -> str:
    """What the verdict says, in words."""
    margin = f"{claim.margin * claim.metric.scale:g}{claim.metric.unit}"
    if claim.metric.against_zero and claim.kind == "not_greater" and result.verdict in (SUPPORTED, CONTRADICTED):
        # one number per seed against nothing: there is no "advantage" of one side, only a gap and its bound
        return (f"the {claim.metric.description} stays below {margin}, beyond seed noise: the claim holds"
                if result.verdict == SUPPORTED else
                f"the {claim.metric.description} reaches {margin} or more: at this scale the claim fails")
    if result.verdict == SUPPORTED:
        return {"greater": f"the side that should win wins, by at least the {margin} margin, beyond seed noise",
                "less": f"the side that should be lower is lower, by at least the {margin} margin, beyond seed noise",
                "not_greater": f"an advantage of {margin} or more is excluded, beyond seed noise: the claim holds",
                "equivalent": f"the two sides differ by less than {margin}, beyond seed noise"}[claim.kind]
    if result.verdict == CONTRADICTED:
        return {"greater": f"the data exclude an advantage of {margin} or more: at this scale the claim fails",
                "less": f"the data exclude a drop of {margin} or more: at this scale the claim fails",
                "not_greater": f"one side beats the other by more than {margin}: at this scale the claim fails",
                "equivalent": f"the sides differ by more than {margin}: at this scale the claim fails"}[claim.kind]
    return f"the difference is inside seed-to-seed noise at n={len(result.a_values)}: neither shown nor excluded"


def _side_checks(result: ClaimResult) -> str:
    rows = [d for d in result.documented if d.get("what") != "effect a - b"]
    return "; ".join(f"{d['what'].split('/', 1)[-1]} {_pp(d['measured'], False)}% vs {_pp(d['study'], False)}%: "
                     f"{d['check']}" for d in rows) or "(no documented number)"


def _effect_check(result: ClaimResult) -> str:
    for d in result.documented:
        if d.get("what") == "effect a - b":
            return f"{_pp(d['measured'])} vs {_pp(d['study'])} pp: {d['check']}"
    return "n/a"


def section_markdown(pub: Published, folder_rel: str, figure_rel: str | None, data_note: str = "") -> str:
    """The README section for ``pub``: a pure function of its records (no clock, no machine state); ``data_note``
    says in words which copy of the data trained them (records carry only a fingerprint, where they carry one)."""
    profile, seeds = pub.profile, pub.profile.seeds
    expected = sum(len(v) for v in pub.runs.values())
    lines = [MARK.format(name=pub.name, edge="start"),
             f"<!-- generated by `bnbench publish`, from the records in {folder_rel}/; `bnbench verify {folder_rel}` "
             "checks it against them. Do not edit by hand. -->", ""]
    done = len(pub.records)
    status = ("complete" if done == expected else
              f"**in progress: {done} of {expected} runs trained**; a claim decided on fewer than {seeds} seeds "
              "is provisional")
    lines += [f"Section{'s' if len(pub.sections) > 1 else ''} {', '.join(pub.sections)} at the `{profile.name}` "
              f"profile ({_scale_words(pub)}, {seeds} seeds): {status}.", ""]
    if pub.decided:
        rows = family([r for _, r in pub.decided], {c.id: c.kind for c, _ in pub.decided})
        # the study's own numbers, where a claim has any (a study without documented numbers: two columns fewer)
        documented = any(r.documented for _, r in pub.decided)
        study_cols = " the study's reading, each side | effect vs the study's |" if documented else ""
        lines += ["| claim | verdict | n: effect a - b [interval]; margin | Holm p |" + study_cols,
                  "|---|---|---|---|" + "---|---|" * documented]
        for (claim, result), fam in zip(pub.decided, rows):
            verdict = f"**{result.verdict}**" + ("" if len(result.a_values) >= seeds else " (provisional)")
            holm = "n/a" if not math.isfinite(fam.holm_p) else f"{fam.holm_p:.3g}" + (" ✓" if fam.survives else "")
            lines.append(f"| `{claim.id}` | {verdict} | {evidence(result, claim)} | {holm} |"
                         + (f" {_side_checks(result)} | {_effect_check(result)} |" if documented else ""))
        lines += ["", "What each verdict says:", ""]
        for claim, result in pub.decided:
            notes = [n for n in result.notes if n.startswith("warning")] + list(claim.notes)
            lines.append(f"- `{claim.id}` ({claim.sentence}): {_meaning(claim, result)}."
                         + "".join(f" {note[0].upper()}{note[1:]}." for note in notes))
        k = len(rows)
        worst, any_false = expected_false(k)
        survivors = [r.claim_id for r in rows if r.survives]
        decided = [r.claim_id for r in rows if r.verdict != INCONCLUSIVE]
        lines += ["", ("This claim is decided" if k == 1 else f"These {k} claims are decided together, each")
                  + f" at {ALPHA:.0%}: by chance alone the family could "
                  f"hold up to {worst:.2g} false verdicts on average, and were the claims independent, at least one "
                  f"with probability {any_false:.0%}. Holm's correction keeps the chance of any false verdict at "
                  f"{ALPHA:.0%} (Holm p above; ✓ where a verdict survives it): "
                  + (f"{len(survivors)} of the {len(decided)} decided verdicts survive "
                     f"({', '.join(f'`{c}`' for c in survivors) or 'none'})." if decided else
                     "no claim is decided yet.")]
    else:
        lines.append(f"No claim is decided yet: a claim is decided once {MIN_SEEDS} seeds have every one of its "
                     "runs finished (list below).")
    lines += _assumed(pub)
    if pub.waiting:
        lines += ["", "Waiting for runs: " + "; ".join(
            f"`{c.id}` ({n} of {seeds} seeds complete" + (
                ": a seed counts once both sides' runs are finished and the claim's test has timed them "
                "interleaved, which it does after training" if c.metric.interleaved else "") + ")"
            for c, n in pub.waiting) + "."]
    if figure_rel:
        lines += ["", "![test accuracy per epoch, mean and min..max over seeds"
                      + (", with the study's numbers" if profile.documented_check else "") + f"]({figure_rel})"]
    lines += ["", _machine(pub, data_note), "", MARK.format(name=pub.name, edge="end")]
    return "\n".join(lines) + "\n"


def _assumed(pub: Published) -> list[str]:
    """The settings of the published experiments that none of the study's sources gives (their declared
    provenance, "assumption: ..."): one line per reason, with its settings and the experiments that use them. Where
    a side deviates from the study's number, the first place to look (e.g. a learning rate the study never
    states)."""
    users: dict[str, list[str]] = {}
    for section in pub.sections:
        for exp in experiments_in(section):
            if exp.id in pub.runs:
                scaled = scaled_config(exp.config, pub.profile, exp.section, 0)
                for assumed in exp.assumptions:     # a setting the profile scales (epochs, ...) is not the study's
                    key = assumed.split("=", 1)[0]
                    if _setting_value(scaled, key) == _setting_value(exp.config, key):
                        users.setdefault(assumed, []).append(exp.id)
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for assumed, ids in users.items():
        setting, why = assumed.split(": ", 1)
        grouped.setdefault((why, tuple(ids)), []).append(setting)
    if not grouped:
        return []
    lines = ["", "Where the study is silent, these runs use bnbench's settings ("
                 + " and ".join(f"`bnbench experiments {s}`" for s in pub.sections)
                 + " lists every setting with its source):", ""]
    for (why, ids), settings in grouped.items():
        who = "every experiment" if len(ids) == len(pub.runs) else ", ".join(f"`{i}`" for i in ids)
        lines.append(f"- {', '.join(f'`{s}`' for s in settings)} ({who}): {why}")
    return lines


def _scale_words(pub: Published) -> str:
    """How much each run trains, from the sections' declarations at the profile (never from the clock): the study's
    own scale, or "3 epochs over 5,000 training images (500 a class)"."""
    if pub.profile.documented_check:
        return "the study's epochs, all 50,000 training images"
    configs = [scaled_config(e.config, pub.profile, e.section, 0) for s in pub.sections for e in experiments_in(s)]
    configs = [c for c in configs if c.max_steps is None] or configs   # a section's short checks aside
    epochs = sorted({c.epochs for c in configs})
    per_class = sorted({c.train_per_class or 5000 for c in configs})
    images = " or ".join("all 50,000" if k == 5000 else f"{10 * k:,}" for k in per_class)
    return (f"{' or '.join(map(str, epochs))} epoch{'s' * (epochs != [1])} over {images} training images"
            + (f" ({per_class[0]} a class)" if per_class != [5000] and len(per_class) == 1 else ""))


def _machine(pub: Published, data_note: str = "") -> str:
    records = pub.records
    if not records:
        return "No run is finished yet."
    env = lambda key: sorted({str(r.env.get(key)) for r in records})  # noqa: E731
    precision = Counter(str(r.env.get("precision")) for r in records)   # several: which runs used which
    precision_text = (", ".join(precision) if len(precision) == 1 else
                      ", ".join(f"{p} ({n} runs)" for p, n in sorted(precision.items(), key=lambda kv: -kv[1])))
    train_h = sum(e.get("train_time_s") or 0 for r in records for e in r.epochs) / 3600
    spe = sorted(r.s_per_epoch for r in records if len(r.epochs) > 1 and math.isfinite(r.s_per_epoch))
    started = min(r.started_at for r in records)
    finished = max(r.finished_at for r in records)
    by = commits(records)
    data = Counter(trained_on(r) or "not recorded" for r in records)
    if set(data) != {"not recorded"}:   # what the records say of their data, beside what the publisher says
        data_note = "; ".join(x for x in (data_note.rstrip("."), "fingerprint " + ", ".join(
            f"{d} ({n} runs)" for d, n in sorted(data.items()))) if x)
    return (f"Trained on {', '.join(env('device_name'))} ({', '.join(env('device'))}, torch threads per run "
            f"{', '.join(env('torch_threads'))}), torch {', '.join(env('torch'))}, "
            f"{precision_text}" + (f"; the data: {data_note.rstrip('.')}" if data_note else "") + ". "
            f"Training time {train_h:.1f} h summed over runs (median {spe[len(spe) // 2]:.1f} s an epoch), "
            f"between {started[:16]} and {finished[:16]} UTC; "
            f"runs by commit: {', '.join(f'{c} ({n})' for c, n in sorted(by.items()))}."
            if spe else f"Runs by commit: {', '.join(f'{c} ({n})' for c, n in sorted(by.items()))}.")


def splice(readme: str, section: str, name: str, heading: str = "Results at the study's scale") -> str:
    """``readme`` with its published section ``name`` replaced by ``section``. A new section goes at the end of
    the README's ``## heading`` part (after the sections published before it), or under a new heading at the end
    of the file when the README has none."""
    start, end = MARK.format(name=name, edge="start"), MARK.format(name=name, edge="end")
    if readme.count(start) > 1 or readme.count(end) > 1:
        raise BnbenchError(f"the README has the marker {start!r} more than once; keep one section")
    if start in readme and end in readme:
        head, rest = readme.split(start, 1)
        _, tail = rest.split(end, 1)
        return head + section.rstrip("\n") + tail
    lines = readme.splitlines(keepends=True)
    at = next((i for i, line in enumerate(lines) if line.rstrip() == f"## {heading}"), None)
    if at is None:
        return readme.rstrip("\n") + f"\n\n## {heading}\n\n" + section
    fence, end_at = False, len(lines)
    for i in range(at + 1, len(lines)):
        fence ^= lines[i].lstrip().startswith("```")
        if not fence and lines[i].startswith("## "):
            end_at = i
            break
    head = "".join(lines[:end_at]).rstrip("\n")
    tail = "".join(lines[end_at:])
    return head + "\n\n" + section.rstrip("\n") + "\n" + ("\n" + tail if tail else "")


def published_section(readme: str, name: str) -> str | None:
    start, end = MARK.format(name=name, edge="start"), MARK.format(name=name, edge="end")
    if start not in readme or end not in readme:
        return None
    return start + readme.split(start, 1)[1].split(end, 1)[0] + end + "\n"


def figure_file(profile_name: str, sections: tuple[str, ...]) -> str:
    """The published figure: the first section's test accuracy per epoch, as the run's end draws it
    (``bnbench.outputs.artefacts.write_epoch_bands``)."""
    return f"{sections[0]}-{profile_name}-test-accuracy.png"


# -- the whole step -------------------------------------------------------------------------------------------------

SPEC_FILE = "published.json"   # DEST/published.json: what was published, so that ``verify`` needs only the folder
MAX_SPEC_BYTES = 16_384
MAX_README_BYTES = 4 << 20    # a README verify reads: text, a few hundred kB at most in practice


@dataclass(frozen=True)
class Spec:
    """What ``publish`` published into a folder: its name (the README markers'), profile, sections, the README it
    wrote (relative to the folder) and the note on the data (which copy trained the runs, in words)."""
    name: str
    profile: str
    sections: tuple[str, ...]
    readme: str | None = None
    data_note: str = ""

    def to_json(self) -> dict:
        return {"format": 1, "name": self.name, "profile": self.profile, "sections": list(self.sections),
                "readme": self.readme, "data_note": self.data_note}


def read_spec(dest: str | Path) -> Spec | None:
    """DEST/published.json, validated (an untrusted file: bounded, types checked; the README a relative ``.md``
    path that climbs at most 3 folders out of DEST and never again after, no absolute path); None where there is
    none."""
    from bnbench.store.files import read_json

    path = Store(dest).out / SPEC_FILE
    if not path.exists():
        return None
    data = read_json(path, MAX_SPEC_BYTES, "a published.json")
    ok = (isinstance(data, dict) and data.get("format") == 1 and isinstance(data.get("name"), str)
          and isinstance(data.get("profile"), str) and isinstance(data.get("sections"), list)
          and data["sections"] and all(isinstance(x, str) and x for x in data["sections"])
          and (data.get("readme") is None or isinstance(data["readme"], str))
          and isinstance(data.get("data_note", ""), str) and len(data.get("data_note", "")) <= 1000)
    readme = data.get("readme") if ok else None
    if ok and readme is not None:   # "../../README.md": up at most 3 folders, then down, never up again
        parts = Path(readme).parts
        up = next((i for i, p in enumerate(parts) if p != ".."), len(parts))
        ok = (not Path(readme).is_absolute() and up <= 3 and len(parts) > up and ".." not in parts[up:]
              and readme.endswith(".md"))
    if not ok:
        raise BnbenchError(f"{path}: not a published.json bnbench wrote (format 1: name, profile, sections, readme, "
                           "data_note); publish the folder again with bnbench publish")
    return Spec(data["name"], data["profile"], tuple(data["sections"]), readme, data.get("data_note", ""))


def publish(source: str | Path, dest: str | Path, *, name: str, profile_name: str = "full",
            sections: tuple[str, ...] = ("1.1",), readme: str | Path | None = None,
            data_note: str | None = None, repo_root: str | Path | None = None) -> Published:
    """Copy, decide, and write summary.json, the figures, report.html, published.json and (with ``readme``) its
    section, its links relative to the README's folder (``repo_root`` by default). ``data_note``: which copy of the
    data trained the runs (None: the note of an earlier publish into ``dest``, else none)."""
    from bnbench.outputs.report import write_report
    from bnbench.runner import Options, Runner
    from bnbench.store.files import write_json_atomic, write_text_atomic

    earlier = read_spec(dest)
    if data_note is None:
        data_note = earlier.data_note if earlier is not None else ""
    copy_records(source, dest, profile_name, sections)
    copy_timings(source, dest, profile_name, sections)
    pub = gather(dest, name, profile_name, sections)
    runner = Runner(Options(out=str(dest), resume=True))
    for exp_id, recs in pub.runs.items():   # every finished run, for the documented figure and the settings
        if any(r is not None for r in recs):
            runner.records[f"{pub.profile.name}:{exp_id}"] = [r for r in recs if r is not None]
    for claim, result in pub.decided:
        n = len(result.a_values)
        records = {e.id: pub.runs[e.id][:n] for e in claim.experiments}
        result.plot = runner.plot_claim(claim, records, timings=pub.timings.get(claim.id), profile=pub.profile.name)
        runner.results.append(result)
    runner.started_at = min((r.started_at for r in pub.records), default=runner.started_at)
    runner.cache.trained = 0
    runner.cache.resumed = len(pub.records)
    runner.finish(partial=len(pub.records) < sum(len(v) for v in pub.runs.values()))
    if runner.report_path is None:   # finish() wrote it where a claim was decided
        write_report(dest)
    out = Store(dest).out
    readme_rel = earlier.readme if earlier is not None else None   # kept: verify still holds that README to them
    if readme is not None:
        readme = Path(readme).resolve()
        text = expected_section(pub, out, readme.parent if repo_root is None else Path(repo_root).resolve(),
                                data_note)
        heading = ("Results at the study's scale" if pub.profile.documented_check
                   else f"Results at the {pub.profile.name} scale")
        write_text_atomic(readme, splice(readme.read_text(encoding="utf-8"), text, name, heading))
        readme_rel = os.path.relpath(readme, out)
    write_json_atomic(out / SPEC_FILE, Spec(name, profile_name, tuple(sections), readme_rel, data_note).to_json())
    return pub


def expected_section(pub: Published, folder: Path, root: Path, data_note: str) -> str:
    """The README section for ``pub`` published in ``folder``, its links relative to ``root`` (the README's folder)."""
    figure = folder / "plots" / figure_file(pub.profile.name, pub.sections)
    rel = lambda p: Path(os.path.relpath(Path(p).resolve(), root)).as_posix()  # noqa: E731
    return section_markdown(pub, rel(folder), rel(figure) if figure.is_file() else None, data_note)


def verify(dest: str | Path, readme: str | Path | None = None) -> list[str]:
    """Re-check a published folder: every record under records/ reads back through the store's validating loader
    (hash recomputed), every claim is decided again from them, and the README's section and summary.json say
    exactly that. Returns the problems, one line each (none: the folder and its README agree)."""
    import difflib
    import warnings

    from bnbench.store import load_summary

    store = Store(dest)
    out = store.out
    spec = read_spec(out)
    if spec is None:
        return [f"{out}: no {SPEC_FILE}; it is written by bnbench publish"]
    problems: list[str] = []
    files = sorted((out / "records").rglob("*.json")) if (out / "records").is_dir() else []
    timing_files = [f for f in files if "-timing-" in f.name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pub = gather(out, spec.name, spec.profile, spec.sections)
        for f in timing_files:   # every kept timing, also one no claim reads (a later seed's, another device's)
            store.load_timing(f)
    problems += [f"a file does not read back: {w.message}" for w in caught
                 if issubclass(w.category, BnbenchSkippedFile)]
    if len(files) - len(timing_files) != len(pub.records):
        problems.append(f"records/ holds {len(files) - len(timing_files)} record files; {len(pub.records)} of them "
                        f"are runs of the published sections that read back")
    try:
        summary = {c.claim_id: c.verdict for c in load_summary(out).claims}
    except BnbenchError as exc:
        summary = None
        problems.append(f"summary.json: {exc}")
    if summary is not None and summary != {c.id: r.verdict for c, r in pub.decided}:
        problems.append("summary.json's verdicts differ from the claims decided again from the records: "
                        f"{summary} vs {({c.id: r.verdict for c, r in pub.decided})}")
    readme_path = Path(readme) if readme is not None else (
        Path(os.path.normpath(out / spec.readme)) if spec.readme else None)
    if readme_path is None:
        return problems
    from bnbench.store.files import read_bytes

    try:   # a regular file, not a link, at most MAX_README_BYTES
        text = read_bytes(readme_path, MAX_README_BYTES, "a README").decode("utf-8")
    except (OSError, UnicodeDecodeError, BnbenchError) as exc:
        return problems + [f"{readme_path}: cannot read it ({exc})"]
    got = published_section(text, spec.name)
    want = expected_section(pub, out, readme_path.resolve().parent, spec.data_note)
    if got is None:
        problems.append(f"{readme_path} has no published section {spec.name!r} (its marker lines)")
    elif got != want:
        diff = list(difflib.unified_diff(got.splitlines(), want.splitlines(), "README", "records", n=0, lineterm=""))
        problems.append(f"{readme_path}'s section differs from what the records say "
                        f"(publish again: bnbench publish RUN_DIR {dest} --readme {readme_path}):\n"
                        + "\n".join(diff[:40]))
    return problems
