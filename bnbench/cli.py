"""The ``bnbench`` command: models and their structure tables, the claims, and a past run's summary.

    bnbench models [PATTERN]                 registered models with parameter counts
    bnbench structure MODEL [ARG=VALUE ...]  layer / output shape / parameters table, e.g. MyNet hidden=500
    bnbench claims [PATTERN]                 the claims: id, the study's sentence, comparison and margin
    bnbench summary DIR [DIR ...]            the claims table of finished runs (DIR/summary.json)
    bnbench compare OLD NEW                  metric deltas, time ratios, verdict changes; exit 1 on a regression
    bnbench report DIR [-o FILE]             one self-contained HTML file: table, plots, numbers, environment
    bnbench publish RUN_DIR DEST [--readme F] a long run's records into a folder to publish: claims, figures, report
    bnbench verify DEST                      re-check a published folder and its README section against its records
    bnbench export DIR [--format F] [-o OUT]  one row per epoch as csv or parquet, or TensorBoard event files
    bnbench progress RUN_DIR                 where a run stands while it trains: runs done, epoch k of n, time left
    bnbench estimate DIR [--profile NAME]    a profile's wall time on the machine DIR's speed benchmark ran on
    bnbench power [--sd X] [--kind KIND]     how often the verdict rule decides, by seed count (simulated)

PATTERN is a name, a wildcard or a prefix, in any case; when nothing matches, the closest names are offered.
Errors a user can fix print one line and exit with status 2.
"""
from __future__ import annotations

import argparse
import difflib
import fnmatch
import sys

from bnbench.outputs.compare import DEFAULT_MAX_SLOWDOWN
from bnbench.store import load_summary
from bnbench.errors import BnbenchError


def _value(text: str):
    """Command-line values are parsed, never evaluated: int, float, true/false, else the string itself."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _model_args(pairs: list[str]) -> dict:
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BnbenchError(f"model argument {pair!r} is not NAME=VALUE (e.g. hidden=500)")
        args[key] = _value(value)
    return args


def _matching(names, pattern: str, what: str) -> list[str]:
    """``names`` that ``pattern`` picks as a user types it, in any case: the name itself, else a wildcard ('vgg*'),
    else a prefix ('1.1': every 1.1 claim). None is an error offering the closest names, else every name."""
    lower = {n.lower(): n for n in names}
    want = pattern.lower()
    for glob in (want, want + "*"):
        chosen = [n for low, n in lower.items() if fnmatch.fnmatchcase(low, glob)]
        if chosen:
            return chosen
    close = [lower[c] for c in difflib.get_close_matches(want, lower, n=3, cutoff=0.6)]
    raise BnbenchError(f"no {what} matches {pattern!r}; "
                       + (f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(names)}"))


def cmd_models(ns) -> None:
    from bnbench.engine.models import count_parameters, create_model, list_models

    for name in _matching(list_models(), ns.pattern, "model"):
        print(f"{name:18s} {count_parameters(create_model(name)):>12,d} parameters")


def cmd_structure(ns) -> None:
    from bnbench.engine.models import create_model, format_structure, structure_table

    model = create_model(ns.model, **_model_args(ns.args))
    print(format_structure(ns.model, structure_table(model)))


def cmd_claims(ns) -> None:
    from bnbench.study.catalog import CLAIMS

    for c in (CLAIMS[i] for i in _matching(list(CLAIMS), ns.pattern, "claim")):
        print(f"{c.id}\n    {c.sentence}\n    {c.metric.name}: {c.kind}, margin {c.margin:g} ({c.margin_reason})")


def cmd_experiments(ns) -> None:
    """Every experiment with each setting's value and where it comes from (study code, report, course template,
    paper, or bnbench's assumption with its reason)."""
    from bnbench.study.catalog import EXPERIMENTS
    from bnbench.study.experiments import _setting_value

    for e in (EXPERIMENTS[i] for i in _matching(list(EXPERIMENTS), ns.pattern, "experiment")):
        print(f"{e.id}  ({e.label}; accuracy the study reports: {e.reported_as}"
              + (f"; documented row {e.documented}" if e.documented else "") + ")")
        for key, source in e.provenance.items():
            print(f"    {key:18s} {_setting_value(e.config, key)!r:14}  {source}")


def cmd_summary(ns) -> None:
    from rich.console import Console

    from bnbench.outputs.table import summary_tables

    from bnbench.text import plain

    claims, speed, model_speed, per_dir = [], [], [], []
    for d in ns.dirs:
        data = load_summary(d)
        per_dir.append(data.claims)
        speed += data.speed
        model_speed += data.model_speed
        if data.partial:
            print(plain(f"note: {data.path} is from an interrupted run (partial)"))
    origins = {}
    if len(ns.dirs) > 1:
        # the same claim in several folders: one verdict from all their seeds (bnbench.pooling)
        from bnbench.pooling import pool

        pooled = pool(list(ns.dirs), per_dir)
        claims, origins = pooled.claims, pooled.origins
    else:
        claims = per_dir[0]
    pooled_lines = [plain(f"pooled {claim_id} [{profile}]: {sum(count.values())} seeds: "
                          + ", ".join(f"{n} from {d}" for d, n in count.items())
                          + (" (a run found in several folders, same configuration hash, counts once)"
                             if not all(count.values()) else ""))
                    for (claim_id, profile), count in origins.items()]
    if ns.format != "table":
        from bnbench.outputs.table import ROW_FORMATS, claim_rows

        print(ROW_FORMATS[ns.format](claim_rows(claims)))
        # after a Markdown table, as text; CSV keeps standard output to its rows, so the lines go to stderr
        for line in pooled_lines:
            print(line, file=sys.stdout if ns.format == "md" else sys.stderr)
        return
    tables = summary_tables(claims, speed, model_speed, width=Console().width)
    for table in tables:
        Console().print(table)
    for line in pooled_lines:
        print(line)
    if not tables:
        print(plain("no claims or speed results in " + ", ".join(ns.dirs)))


def cmd_estimate(ns) -> None:
    from rich.console import Console

    from bnbench.estimate import speed_estimate_table
    from bnbench.study.profiles import get_profile

    rows = load_summary(ns.dir).model_speed
    if not rows:
        raise BnbenchError(f"{ns.dir} has no per-model speed results: run "
                           f"pytest benchmarks -m speed -k model_speed --bnbench-out {ns.dir}")
    Console().print(speed_estimate_table(rows, get_profile(ns.profile)))


def cmd_compare(ns) -> int:
    """The CI gate: exit 1 on any regression (a metric, a slowdown, a partial, missing or null claim, an
    interrupted NEW run), 2 on bad thresholds, a file that does not read back or a claim the gate cannot judge
    (without --allow-unjudged), 0 otherwise."""
    from rich.console import Console

    from bnbench.outputs.compare import check_thresholds, compare, compare_table, run_regressions, unjudged
    from bnbench.text import plain

    check_thresholds(ns.max_drop, ns.max_slowdown)
    old, new = load_summary(ns.old), load_summary(ns.new)
    if not old.claims:
        raise BnbenchError(f"{ns.old} has no claims to compare against; give the --bnbench-out folder of a run "
                           "that checked claims")
    skipped = [f"{cid} [{profile}] ({why})" for (cid, profile), why in unjudged(old, new).items()]
    if skipped and not ns.allow_unjudged:
        raise BnbenchError(f"the gate cannot judge {len(skipped)} claim(s): {'; '.join(skipped)}; compare with the "
                           "bnbench that wrote them, or pass --allow-unjudged to gate the rest")
    rows = compare(old, new, max_drop=ns.max_drop / 100.0, max_slowdown=ns.max_slowdown,
                   across_configs=ns.across_configs)
    console = Console()
    console.print(compare_table(rows, ns.old, ns.new, width=console.width))
    if old.partial:
        print(plain(f"note: {ns.old} is from an interrupted run (partial)"))
    for r in rows:
        if r.side == "a" and r.old_verdict != r.new_verdict:
            print(plain(f"verdict changed: {r.claim_id} [{r.profile}]: {r.old_verdict} -> {r.new_verdict}"))
    for r in rows:
        if r.side == "a" and r.config_change:
            counted = "counted (--across-configs)" if ns.across_configs else "not counted as regressions"
            print(plain(f"configuration differs: {r.claim_id} [{r.profile}]: {r.config_change}; its drops and "
                        f"slowdowns are {counted}"))
    for line in skipped:
        print(plain(f"not judged (--allow-unjudged): {line}"))
    whole = run_regressions(old, new)
    bad = [r for r in rows if r.regression]
    for why in whole:
        print(plain(f"regression: {why}"))
    for r in bad:
        print(plain(f"regression: {r.claim_id} [{r.profile}] side {r.side}: {r.regression}"))
    return 1 if bad or whole else 0


def format_power_table(rows: list[dict], kind: str, sd: float, sims: int) -> str:
    """Plain-text power table: per seed count, P(supported) and P(contradicted) at true effects 0, 1x, 2x δ."""
    from bnbench.verdicts.stats import RULE

    effects = sorted({r["effect"] for r in rows})
    where = {"less": "a below b by", "equivalent": "a - b ="}.get(kind, "a above b by")
    lines = [f"verdicts of a '{kind}' claim under the rule ({RULE}; 90% t-interval), simulated",
             f"seed-to-seed SD of the paired difference: {sd:g} x the minimum effect δ; {sims:,} studies per cell",
             f"true effect: {where} 0, 1 or 2 δ"]
    if kind in ("greater", "less"):
        lines += ["supported at 0 = the false-positive rate; contradicted at 1δ = a real effect of δ ruled out",
                  "at 1δ at most about half the studies can be supported: the mean must also reach δ"]
    heads = [f"{e:g}δ" if e else "0" for e in effects]
    lines.append("")
    lines.append(f"{'seeds':>5}  " + " ".join(f"{'supported at ' + h:>16}" for h in heads) + "  "
                 + " ".join(f"{'contradicted at ' + h:>19}" for h in heads))
    for n in sorted({r["n"] for r in rows}):
        at = {r["effect"]: r for r in rows if r["n"] == n}
        lines.append(f"{n:>5}  " + " ".join(f"{at[e]['supported']:>16.1%}" for e in effects) + "  "
                     + " ".join(f"{at[e]['contradicted']:>19.1%}" for e in effects))
    return "\n".join(lines)


# The simulation holds a few float64 arrays of --sims x seeds normals per cell: 29 bytes a normal (measured: 290 MB
# at this bound).
POWER_MAX_NORMALS = 10_000_000


def cmd_power(ns) -> None:
    from bnbench.verdicts.stats import power_table

    if ns.sims * max(ns.n) > POWER_MAX_NORMALS:
        raise BnbenchError(f"--sims {ns.sims:,} x --n {max(ns.n):,} would simulate {ns.sims * max(ns.n):,} paired "
                           f"differences per cell, more than {POWER_MAX_NORMALS:,} (about 300 MB); lower --sims or "
                           "the largest --n (the default 20,000 studies put each rate within 0.4 points, one SE)")
    rows = power_table(kinds=(ns.kind,), ns=tuple(ns.n), effects_in_margins=(0, 1, 2), sd_over_margin=ns.sd,
                       sims=ns.sims, seed=0)
    print(format_power_table(rows, ns.kind, ns.sd, ns.sims))


def cmd_report(ns) -> None:
    from bnbench.outputs.report import write_report

    print(write_report(ns.dir, ns.output))


def cmd_publish(ns) -> None:
    from pathlib import Path

    from bnbench.publish import publish

    sections = tuple(ns.sections or ("1.1",))
    dest = Path(ns.dest)
    pub = publish(ns.source, dest, name=dest.name, profile_name=ns.profile, sections=sections, readme=ns.readme,
                  data_note=ns.data_note)
    expected = sum(len(v) for v in pub.runs.values())
    print(f"{dest}: {len(pub.records)} of {expected} runs, {len(pub.decided)} claims decided, "
          f"{len(pub.waiting)} waiting" + (f"; section written into {ns.readme}" if ns.readme else ""))


def cmd_verify(ns) -> int:
    """Exit 0 when a published folder's records, summary.json and README section agree; 1 with what differs."""
    from bnbench.publish import verify
    from bnbench.text import plain

    problems = verify(ns.dir, ns.readme)
    for problem in problems:
        print(plain(problem) if "\n" not in problem else problem, file=sys.stderr)
    if not problems:
        print(plain(f"{ns.dir}: every record reads back; summary.json and the README's section say what the "
                    "records say"))
    return 1 if problems else 0


def cmd_progress(ns) -> None:
    """Where a run stands, from its folder alone (``bnbench.run_status``): safe while the run trains."""
    from rich.console import Console

    from bnbench.run_status import standing, standing_lines, standing_table

    st = standing(ns.dir, ns.profile, tuple(ns.sections or ()))
    console = Console()
    console.print(standing_table(st))
    for line in standing_lines(st):
        console.print(line, markup=False, highlight=False, emoji=False)


def cmd_export(ns) -> None:
    """DIR's finished records in one of ``bnbench.outputs.export.EXPORT_FORMATS``: one row per (experiment, profile,
    seed, epoch) as CSV or Parquet, or TensorBoard event files; prints the path written and how to read it."""
    from bnbench.outputs.export import export
    from bnbench.text import plain

    for line in export(ns.dir, ns.format, ns.output)[1]:
        print(plain(line))


def main(argv: list[str] | None = None) -> int:
    from bnbench import __version__

    parser = argparse.ArgumentParser(prog="bnbench", description=__doc__.split("\n\n")[0].replace("``", "'"))
    parser.add_argument("--version", action="version", version=f"bnbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("models", help="list models with parameter counts")
    p.add_argument("pattern", nargs="?", default="*", help="model name, wildcard or prefix, any case, e.g. 'vgg*'")
    p.set_defaults(fn=cmd_models)
    p = sub.add_parser("structure", help="print a model's structure table")
    p.add_argument("model")
    p.add_argument("args", nargs="*", metavar="ARG=VALUE")
    p.set_defaults(fn=cmd_structure)
    p = sub.add_parser("claims", help="list the study's claims")
    p.add_argument("pattern", nargs="?", default="*", help="claim id, wildcard or prefix, any case, e.g. '2.2'")
    p.set_defaults(fn=cmd_claims)
    p = sub.add_parser("experiments", help="list the experiments, every setting with where it comes from")
    p.add_argument("pattern", nargs="?", default="*", help="experiment id, wildcard or prefix, any case, e.g. '1.1'")
    p.set_defaults(fn=cmd_experiments)
    p = sub.add_parser("summary", help="reprint the claims table of finished runs")
    p.add_argument("dirs", nargs="+", metavar="DIR")
    from bnbench.outputs.table import SUMMARY_FORMATS

    p.add_argument("--format", choices=SUMMARY_FORMATS, default=SUMMARY_FORMATS[0],
                   help="table (default), md (a Markdown table of the claims) or csv")
    p.set_defaults(fn=cmd_summary)
    p = sub.add_parser("compare", help="compare two finished runs; exit 1 when a metric regresses")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--max-drop", type=float, default=1.0, metavar="PP",
                   help="accuracy drop (percentage points) that counts as a regression; default 1.0")
    p.add_argument("--max-slowdown", type=float, default=DEFAULT_MAX_SLOWDOWN, metavar="X",
                   help="s/epoch ratio new/old that counts as a regression (also for a timed metric, where a "
                        "rise is the regression); default %(default)s (epoch times on a shared CPU vary by 15-30%% "
                        "between identical runs; tighten it on a quiet machine)")
    p.add_argument("--allow-unjudged", action="store_true",
                   help="pass claims the gate cannot judge (unknown to this bnbench's claim catalogue, or given "
                        "twice in a run) with a note, instead of failing with exit status 2")
    p.add_argument("--across-configs", action="store_true",
                   help="count drops and slowdowns as regressions where OLD and NEW trained a claim's experiments "
                        "with different settings (epochs, subset, ...); by default they are shown, not counted")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("report", help="write a self-contained HTML report of a finished run")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("-o", "--output", default=None, metavar="FILE", help="default: DIR/report.html")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("export", help="a finished run's records as one row per epoch (csv, parquet) or as "
                                      "TensorBoard event files")
    p.add_argument("dir", metavar="DIR", help="the run's --bnbench-out folder")
    from bnbench.outputs.export import EXPORT_FORMATS

    formats = list(EXPORT_FORMATS.values())
    p.add_argument("--format", choices=[f.name for f in formats], default=formats[0].name,
                   help=", ".join(f"{f.name}{' (default)' * (i == 0)}{f' ({f.needs})' if f.needs else ''}"
                                  for i, f in enumerate(formats)))
    p.add_argument("-o", "--output", default=None, metavar="OUT",
                   help="the file or folder to write; default "
                        + ", ".join(f"DIR/export/{f.default}" for f in formats))
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("publish", help="copy a long run's finished records into a folder to publish, decide its "
                                       "claims again, write its summary, figures, report and README section")
    p.add_argument("source", metavar="RUN_DIR", help="the run's --bnbench-out (it may still be training)")
    p.add_argument("dest", metavar="DEST", help="the folder to publish, e.g. results/full-1.1")
    p.add_argument("--profile", default="full", help="the profile the run trained at (default full)")
    p.add_argument("--section", action="append", dest="sections", metavar="S",
                   help="a study section to publish (repeatable; default 1.1)")
    p.add_argument("--readme", default=None, metavar="FILE",
                   help="write the section into FILE between its marker lines (a new one goes after the sections "
                        "already published under the same heading, or at the end)")
    p.add_argument("--data-note", default=None, metavar="TEXT",
                   help="which copy of the data trained the runs, in words, said in the section (records carry only "
                        "a fingerprint, env['data']); default: the note of an earlier publish into DEST")
    p.set_defaults(fn=cmd_publish)
    p = sub.add_parser("verify", help="re-check a published folder: its records read back, its claims decided "
                                      "again, and its summary.json and README section saying the same")
    p.add_argument("dir", metavar="DEST", help="a folder bnbench publish wrote, e.g. results/full-1.1")
    p.add_argument("--readme", default=None, metavar="FILE", help="default: the README publish wrote into")
    p.set_defaults(fn=cmd_verify)
    p = sub.add_parser("progress", help="where a run stands while it trains: each run finished, training (epoch "
                                        "k of n) or waiting, the claims' complete seeds, and the time left")
    p.add_argument("dir", metavar="RUN_DIR", help="the run's --bnbench-out (read only; the run is not disturbed)")
    p.add_argument("--profile", default=None, help="the profile it trains (default: the one its files are of)")
    p.add_argument("--section", action="append", dest="sections", metavar="S",
                   help="a section it trains (repeatable; default: every section with files there)")
    p.set_defaults(fn=cmd_progress)
    p = sub.add_parser("estimate", help="a profile's wall time on the machine a speed run measured")
    p.add_argument("dir", help="output folder of a run of pytest benchmarks -m speed -k model_speed")
    p.add_argument("--profile", default="full", help="smoke, quick or full (default full)")
    p.set_defaults(fn=cmd_estimate)
    p = sub.add_parser("power", help="how often the verdict rule supports or contradicts a claim, by seed count")
    p.add_argument("--sd", type=float, default=0.7, metavar="X",
                   help="seed-to-seed SD of the paired difference as a multiple of the claim's minimum effect; "
                        "default 0.7 (measured: about 0.7 accuracy points for a 1-point margin)")
    p.add_argument("--kind", default="greater", choices=("greater", "less", "not_greater", "equivalent"))
    p.add_argument("--n", type=int, nargs="+", default=[2, 3, 5, 8, 10], metavar="N", help="seed counts")
    p.add_argument("--sims", type=int, default=20000, help="simulated studies per cell; default 20000")
    p.set_defaults(fn=cmd_power)
    ns = parser.parse_args(argv)
    try:
        from bnbench.studies import load_studies

        load_studies()   # every installed study's claims, as the pytest run knew them (entry points)
        return ns.fn(ns) or 0
    except BnbenchError as exc:
        from bnbench.text import plain

        print(f"bnbench: {plain(exc)}", file=sys.stderr)   # one line, whatever a file's name or content holds
        return 2
    except BrokenPipeError:
        # The reader went away (`bnbench claims | head`): stop quietly, and point stdout at nothing so that the
        # interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
