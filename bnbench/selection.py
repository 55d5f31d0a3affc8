"""What a pytest session selected, in bnbench's terms: which items are bnbench's, the training runs they need, the
ones this session will train (less what --bnbench-resume reuses), the progress's plan of them, and how long they
take (the selection's own estimate, and a whole profile's for the header). Plain functions of the session's items
and the runner; the plugin's hooks call them."""
from __future__ import annotations

import warnings

from bnbench.errors import BnbenchError


OWN_FIXTURES = frozenset({"bnbench_session", "bnbench_data", "bnbench_device", "bnbench_out", "bnbench_profile",
                          "train_experiment", "check_claim"})


def own(item) -> bool:
    """An item is bnbench's when it uses one of bnbench's fixtures: only those are selected or deselected by
    bnbench, so another project's own ``speed`` / ``full`` markers mean what that project says."""
    return bool(OWN_FIXTURES & set(getattr(item, "fixturenames", ())))


def needed_runs(session, bn):
    """Every run (experiment, profile, seed) the selected items train, in the items' order, repeats included."""
    from bnbench.study.claims import Claim
    from bnbench.study.experiments import Experiment

    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if not own(item) or "bnbench_profile" not in params:
            continue
        profile = bn.profile(params["bnbench_profile"])
        for value in params.values():
            experiments = ([value] if isinstance(value, Experiment) else
                           list(value.experiments) if isinstance(value, Claim) else [])
            for experiment in experiments:
                for seed in range(profile.seeds):
                    yield experiment, profile, seed


def to_train(session, bn) -> list[tuple[str, object]]:
    """The training runs this session will do: each configuration the selected items train, once, less the
    finished records --bnbench-resume will reuse (read quietly here: a damaged one counts as a run to train, and is
    named when its test reads it). (label, scaled config) each, in the items' order."""
    from bnbench.errors import BnbenchSkippedFile
    from bnbench.run_cache import run_label
    from bnbench.study.profiles import scaled_config

    runs, seen = [], set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BnbenchSkippedFile)
        for experiment, profile, seed in needed_runs(session, bn):
            config = scaled_config(experiment.config, profile, experiment.section, seed)
            if config.hash in seen:
                continue
            seen.add(config.hash)
            if bn.options.resume and bn.store.load_finished(experiment.id, profile.name, seed, config.hash):
                continue
            runs.append((run_label(experiment, profile, seed), config))
    return runs


def plan_progress(runs):
    """For the progress's "run k of n, about T left": label, model and images (steps x batch size) of each run."""
    from bnbench.outputs.progress import SessionPlan
    from bnbench.run_status import planned_steps

    planned = []
    for label, config in runs:
        steps, _ = planned_steps(config)
        planned.append((label, config.model, steps * config.batch_size))
    return SessionPlan(planned)


def announce_selection(session, bn, runs) -> None:
    """Before a quick or full selection trains: how many runs it trains and, from the speeds measured in the output
    folder, how long they take on this device — this selection's time (``-m full -k 2.1``: section 2.1's), not the
    whole profile's. -m full on a CPU without measured speeds says so in yellow (the study's scale is days there)."""
    from bnbench.estimate import format_duration, selection_seconds, throughputs
    from bnbench.store import load_summary
    from bnbench.text import plain

    profiles = {i.callspec.params["bnbench_profile"] for i in session.items if own(i) and "bnbench_profile"
                in getattr(getattr(i, "callspec", None), "params", {})} - {"smoke"}
    if not profiles or not runs:
        return
    device = bn.device.type
    seconds = where = None
    try:
        rows = [r for r in load_summary(bn.out).model_speed if (r.device or "").split(":")[0] == device]
        if rows:
            seconds = selection_seconds((c for _, c in runs), throughputs(rows))
            where = rows[-1].device_name or rows[-1].device
    except (BnbenchError, OSError):
        seconds = None
    count = f"{len(runs)} training run{'s' * (len(runs) != 1)} ({'/'.join(sorted(profiles))})"
    tr = session.config.pluginmanager.getplugin("terminalreporter")
    if tr is None:
        return
    if seconds is not None:
        tr.write_line(plain(f"bnbench: this selection trains {count}: about {format_duration(seconds)} on {where} "
                            "(bnbench estimate from the measured images/s)"))
    elif "full" in profiles and device == "cpu":
        tr.write_line(f"bnbench: -m full on the CPU trains the study at its own scale: {count}, hours each on a "
                      "2-core CPU (BENCHMARKS.md; measure this machine with pytest benchmarks -m speed -k "
                      "model_speed). Ctrl-C keeps every finished record; --bnbench-resume continues.", yellow=True)
    else:
        tr.write_line(f"bnbench: this selection trains {count}; for its time, measure this machine's speed first "
                      "(pytest benchmarks -m speed -k model_speed)")


def profile_estimate(bn, profile_name: str) -> str | None:
    """The selected profile's estimated wall time from the per-model speeds stored in the output folder (the
    speed benchmark's), or None when there are none (or they do not cover every model)."""
    from bnbench.estimate import estimate, format_duration, throughputs
    from bnbench.store import load_summary

    try:
        rows = load_summary(bn.out).model_speed
        if bn.options.device not in ("auto",):
            rows = [r for r in rows if (r.device or "").split(":")[0] == bn.options.device.split(":")[0]]
        devices = {r.device for r in rows}
        if len(devices) != 1:
            return None
        seconds = sum(s.seconds for s in estimate(bn.profile(profile_name), throughputs(rows),
                                                  next(iter(devices)).split(":")[0]))
    except (BnbenchError, OSError):
        return None
    return (f"{format_duration(seconds)} for the whole {profile_name} profile on {next(iter(devices))} (bnbench "
            "estimate; a selection's own time is said before it trains)")
