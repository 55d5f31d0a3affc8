"""What a run leaves besides its records and summary: the rows of the measured-vs-documented figure, every
experiment's settings with their provenance (for summary.json and the report), and one structure table per
experiment. Plain functions of the run's records (``"<profile>:<experiment id>" -> records by seed``)."""
from __future__ import annotations

from bnbench.engine.record import RunRecord
from bnbench.store import Store
from bnbench.store.files import safe_name
from bnbench.study import documented as study
from bnbench.study.catalog import EXPERIMENTS

Records = dict[str, list[RunRecord]]


def _experiment_ids(records: Records) -> list[str]:
    return sorted({key.split(":", 1)[1] for key, recs in records.items() if recs} & set(EXPERIMENTS))


def documented_rows(records: Records) -> list[dict]:
    """Per (profile, experiment) with a documented accuracy: the study's number and the measured final accuracies."""
    rows = []
    for key, recs in records.items():
        profile, exp_id = key.split(":", 1)
        exp = EXPERIMENTS.get(exp_id)
        if exp is None or exp.documented is None:
            continue
        rows.append({"label": f"{exp.label} ({profile})", "study": study.row(exp.documented).accuracy,
                     "measured": [r.final_test_acc for r in recs]})
    return rows


def experiment_settings(records: Records) -> dict:
    """Per experiment and profile that ran (``"<experiment> [<profile>]"``): the configuration seed 0 trained with,
    from its record, beside the study-scale one and where each study setting comes from. A smoke run trains 2
    epochs where the study trained 50; reporting the study's settings alone would describe a run that never
    happened."""
    out = {}
    for key, recs in sorted(records.items()):
        profile, exp_id = key.split(":", 1)
        exp = EXPERIMENTS.get(exp_id)
        if exp is None or not recs:
            continue
        out[f"{exp_id} [{profile}]"] = {
            "experiment": exp_id, "profile": profile, "seeds": len(recs), "config": dict(recs[0].config),
            "study_config": exp.config.to_dict(), "provenance": exp.provenance, "reported_as": exp.reported_as}
    return out


def write_structures(store: Store, records: Records) -> None:
    """One table per experiment that ran (structures/<experiment>.txt): variants of one model name (MyNet's
    hidden sizes, kernels, activations) each keep their own table."""
    from bnbench.engine.models import create_model, format_structure, structure_table

    for exp_id in _experiment_ids(records):
        config = EXPERIMENTS[exp_id].config
        model = create_model(config.model, **config.model_args)
        args = ", ".join(f"{k}={v!r}" for k, v in config.model_args.items())
        store.write_text(store.out / "structures" / f"{safe_name(exp_id)}.txt",
                         format_structure(f"{exp_id}: {config.model}({args})", structure_table(model)) + "\n")


def write_epoch_bands(store: Store, records: Records, at_study_scale) -> list:
    """Per profile and section with evaluated epochs: plots/<section>-<profile>-test-accuracy.png, every experiment
    of the section as the mean test accuracy per epoch over its seeds with a min..max band (the seeds' spread, not
    one line per seed), and the study's reported number beside an experiment trained at the study's scale only
    (``at_study_scale(key)``). Returns the paths written."""
    from bnbench.outputs.plots import SIDE_COLOURS, plot_epoch_bands
    from bnbench.study.experiments import experiments_in

    groups: dict[tuple[str, str], dict] = {}
    for key, recs in sorted(records.items()):
        profile, exp_id = key.split(":", 1)
        exp = EXPERIMENTS.get(exp_id)
        runs = [r for r in recs if r is not None and r.evaluated]
        if exp is None or not runs:
            continue
        sides, wanted = groups.setdefault((exp.section, profile), ({}, {}))
        sides[exp.label] = runs
        if exp.documented and at_study_scale(key):
            wanted[exp.label] = study.row(exp.documented).accuracy
    written = []
    for (section, profile), (sides, wanted) in sorted(groups.items()):
        # the section's training runs, not its few-step checks (1.1's identity pair): the most evaluated epochs
        longest = max(len(r.evaluated) for runs in sides.values() for r in runs)
        sides = {label: runs for label, runs in sides.items() if max(len(r.evaluated) for r in runs) == longest}
        wanted = {label: v for label, v in wanted.items() if label in sides}
        # the section's own order (its table's) and a colour per experiment that stays while the others arrive
        declared = [e.label for e in experiments_in(section)]
        rank = {label: declared.index(label) if label in declared else len(declared) for label in sides}
        sides = dict(sorted(sides.items(), key=lambda kv: (rank[kv[0]], kv[0])))
        colors = {label: SIDE_COLOURS[rank[label] % len(SIDE_COLOURS)] for label in sides}
        title = (f"{section} [{profile}]: test accuracy per epoch (mean, min..max over seeds"
                 + ("; diamond: the study's number)" if wanted else ")"))
        written.append(plot_epoch_bands(store.plot_path(f"{section}-{profile}-test-accuracy"), sides, title=title,
                                        study=wanted, colors=colors))
    return written
