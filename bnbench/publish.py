"""Publishing a result at the study's scale: ``bnbench publish RUN_DIR DEST --readme README.md``.

A long run's output folder (``RUN_DIR``, trained over days with ``--bnbench-resume``) becomes a folder a reader can
re-check (``DEST``, e.g. ``results/full-1.1/`` in the repository): its finished records, copied through the store
(each validated and its configuration hash recomputed), every claim decided again from them, summary.json, the
figures, the HTML report, and the README's section, generated between two marker lines and never typed by hand.
``tests/test_published.py`` decides every claim again from the committed records and checks that the README says
the same.

While the run is not finished, the section says so: a claim is decided from the seeds for which every one of its
experiments has a record (at least 2), and marked provisional below the profile's seed count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from bnbench.engine.record import RunRecord
from bnbench.errors import BnbenchError
from bnbench.outputs.provenance import code_warning, commits
from bnbench.outputs.table import evidence
from bnbench.store import Store
from bnbench.study.catalog import Claim, claims_in, experiments_in
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
        for exp in experiments_in(section):
            runs[exp.id] = [store.load_finished(exp.id, profile.name, seed,
                                                scaled_config(exp.config, profile, exp.section, seed).hash)
                            for seed in range(profile.seeds)]
    pub = Published(name, profile, tuple(sections), runs)
    for section in sections:
        for claim in claims_in(section):
            n = pub.complete_seeds(claim)
            if n < MIN_SEEDS or claim.metric.interleaved:
                pub.waiting.append((claim, n))
                continue
            records = {e.id: runs[e.id][:n] for e in claim.experiments}
            result = evaluate(claim, records, profile_name=profile.name, verdicts=profile.verdicts,
                              documented=profile.documented_check)
            warning = code_warning(*([r for e in side for r in records[e.id]] for side in (claim.a, claim.b)))
            if warning:
                result.notes.append(f"warning: {warning}")
            pub.decided.append((claim, result))
    return pub


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
    if result.verdict == SUPPORTED:
        return {"greater": f"the side that should win wins, by at least the {margin} margin, beyond seed noise",
                "less": f"the side that should be lower is lower, by at least the {margin} margin, beyond seed noise",
                "not_greater": f"any advantage is excluded down to the {margin} margin: the claim holds",
                "equivalent": f"the two sides differ by less than {margin}, beyond seed noise"}[claim.kind]
    if result.verdict == CONTRADICTED:
        return {"greater": f"the data exclude an advantage of {margin} or more: at this scale the claim fails",
                "less": f"the data exclude a drop of {margin} or more: at this scale the claim fails",
                "not_greater": f"one side beats the other by more than {margin}: the claim fails",
                "equivalent": f"the sides differ by more than {margin}: the claim fails"}[claim.kind]
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


def section_markdown(pub: Published, folder_rel: str, figure_rel: str | None) -> str:
    """The README section for ``pub``: a pure function of its records (no clock, no machine state)."""
    profile, seeds = pub.profile, pub.profile.seeds
    expected = sum(len(v) for v in pub.runs.values())
    lines = [MARK.format(name=pub.name, edge="start"),
             f"<!-- generated by `bnbench publish`, from the records in {folder_rel}/; tests/test_published.py "
             "checks it against them. Do not edit by hand. -->", ""]
    done = len(pub.records)
    status = ("complete" if done == expected else
              f"**in progress: {done} of {expected} runs trained**; a claim decided on fewer than {seeds} seeds "
              "is provisional")
    lines += [f"Section{'s' if len(pub.sections) > 1 else ''} {', '.join(pub.sections)} at the `{profile.name}` "
              f"profile (the study's epochs, all 50,000 training images, {seeds} seeds): {status}.", ""]
    if pub.decided:
        rows = family([r for _, r in pub.decided], {c.id: c.kind for c, _ in pub.decided})
        lines += ["| claim | verdict | n: effect a - b [interval]; margin | Holm p | the study's reading, each side "
                  "| effect vs the study's |", "|---|---|---|---|---|---|"]
        for (claim, result), fam in zip(pub.decided, rows):
            verdict = f"**{result.verdict}**" + ("" if len(result.a_values) >= seeds else " (provisional)")
            holm = "n/a" if not math.isfinite(fam.holm_p) else f"{fam.holm_p:.3g}" + (" ✓" if fam.survives else "")
            lines.append(f"| `{claim.id}` | {verdict} | {evidence(result, claim)} | {holm} | "
                         f"{_side_checks(result)} | {_effect_check(result)} |")
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
    if pub.waiting:
        lines += ["", "Waiting for runs: " + "; ".join(
            f"`{c.id}` ({n} of {seeds} seeds complete)" for c, n in pub.waiting) + "."]
    if figure_rel:
        lines += ["", f"![test accuracy per epoch, mean and min..max over seeds, with the study's numbers]"
                      f"({figure_rel})"]
    lines += ["", _machine(pub), "", MARK.format(name=pub.name, edge="end")]
    return "\n".join(lines) + "\n"


def _machine(pub: Published) -> str:
    records = pub.records
    if not records:
        return "No run is finished yet."
    env = lambda key: sorted({str(r.env.get(key)) for r in records})  # noqa: E731
    train_h = sum(e.get("train_time_s") or 0 for r in records for e in r.epochs) / 3600
    spe = sorted(r.s_per_epoch for r in records if len(r.epochs) > 1 and math.isfinite(r.s_per_epoch))
    started = min(r.started_at for r in records)
    finished = max(r.finished_at for r in records)
    by = commits(records)
    return (f"Trained on {', '.join(env('device_name'))} ({', '.join(env('device'))}, torch threads per run "
            f"{', '.join(env('torch_threads'))}), torch {', '.join(env('torch'))}, "
            f"{', '.join(env('precision'))}; the data is the JPEG-derived CIFAR-10 copy (the official split, pixels "
            "off the original files by a mean 5.8/255). "
            f"Training time {train_h:.1f} h summed over runs (median {spe[len(spe) // 2]:.1f} s an epoch), "
            f"between {started[:16]} and {finished[:16]} UTC; "
            f"runs by commit: {', '.join(f'{c} ({n})' for c, n in sorted(by.items()))}."
            if spe else f"Runs by commit: {', '.join(f'{c} ({n})' for c, n in sorted(by.items()))}.")


def splice(readme: str, section: str, name: str) -> str:
    """``readme`` with its published section ``name`` replaced by ``section`` (appended under a heading if absent)."""
    start, end = MARK.format(name=name, edge="start"), MARK.format(name=name, edge="end")
    if readme.count(start) > 1 or readme.count(end) > 1:
        raise BnbenchError(f"the README has the marker {start!r} more than once; keep one section")
    if start in readme and end in readme:
        head, rest = readme.split(start, 1)
        _, tail = rest.split(end, 1)
        return head + section.rstrip("\n") + tail
    return readme.rstrip("\n") + "\n\n## Results at the study's scale\n\n" + section


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

def publish(source: str | Path, dest: str | Path, *, name: str, profile_name: str = "full",
            sections: tuple[str, ...] = ("1.1",), readme: str | Path | None = None,
            repo_root: str | Path = ".") -> Published:
    """Copy, decide, and write summary.json, the figures, report.html and (with ``readme``) its section."""
    from bnbench.outputs.report import write_report
    from bnbench.runner import Options, Runner

    copy_records(source, dest, profile_name, sections)
    pub = gather(dest, name, profile_name, sections)
    runner = Runner(Options(out=str(dest), resume=True))
    for exp_id, recs in pub.runs.items():   # every finished run, for the documented figure and the settings
        if any(r is not None for r in recs):
            runner.records[f"{pub.profile.name}:{exp_id}"] = [r for r in recs if r is not None]
    for claim, result in pub.decided:
        n = len(result.a_values)
        records = {e.id: pub.runs[e.id][:n] for e in claim.experiments}
        result.plot = runner.plot_claim(claim, records, profile=pub.profile.name)   # interleaved claims wait
        runner.results.append(result)
    runner.started_at = min((r.started_at for r in pub.records), default=runner.started_at)
    runner.trained = 0
    runner.resumed = len(pub.records)
    runner.finish(partial=len(pub.records) < sum(len(v) for v in pub.runs.values()))
    # the figure a reader looks at first: the run's own per-section test accuracy, seed bands, the study's numbers
    figure = runner.out / "plots" / figure_file(pub.profile.name, sections)
    figure = figure if figure.is_file() else None
    if runner.report_path is None:   # finish() wrote it where a claim was decided
        write_report(dest)
    if readme is not None:
        root = Path(repo_root).resolve()
        rel = lambda p: Path(p).resolve().relative_to(root).as_posix()  # noqa: E731
        text = section_markdown(pub, rel(dest), rel(figure) if figure else None)
        from bnbench.store.files import write_text_atomic

        readme = Path(readme)
        write_text_atomic(readme, splice(readme.read_text(encoding="utf-8"), text, name))
    return pub

