"""bnbench's pytest plugin: options, markers, fixtures and the end-of-run summary. Hooks only.

pytest loads this module in every run of every project where bnbench is installed, so it imports no
torch and no matplotlib: everything heavy is imported inside fixtures, when a benchmark needs it.

Profiles are chosen with markers: plain ``pytest benchmarks`` runs the ``smoke`` profile only;
``-m quick`` or ``-m full`` selects the larger ones, ``-m speed`` the speed benchmarks.
"""
from __future__ import annotations

import contextlib
import difflib
import math
import re
import signal
import sys
import threading
import warnings

import pytest

from bnbench.errors import BnbenchError, BnbenchInconclusive
from bnbench.selection import (OWN_FIXTURES, announce_selection, needed_runs, own, plan_progress, profile_estimate,
                               to_train)
from bnbench.study.profiles import PROFILE_NAMES as PROFILE_MARKERS   # one list: the profiles' names

MARKERS = {
    "smoke": "bnbench smoke profile: minutes on a 2-core CPU; proves the machinery, verdicts stay inconclusive",
    "quick": "bnbench quick profile: directional verdicts in about half an hour of CPU time",
    "full": "bnbench full profile: the study's own scale (hours on a CPU; meant for a GPU)",
    "speed": "bnbench speed benchmarks: bnbench's trainer against the study-style loop",
}
_SESSION = pytest.StashKey()
MIN_STEPS_FOR_TREND = 10  # below this, "the loss fell" compares a couple of noisy batches and says nothing


def pytest_addoption(parser):
    group = parser.getgroup("bnbench", "bnbench: the study's claims as benchmarks")
    group.addoption("--bnbench-data", metavar="DIR", default=None,
                    help="folder holding cifar-10-batches-py/ (or that folder itself); default: $BNBENCH_DATA, "
                         "else a cache folder that torchvision downloads into on first use")
    group.addoption("--bnbench-download", action="store_true", default=False,
                    help="download CIFAR-10 into the --bnbench-data (or BNBENCH_DATA) folder when it is not there; "
                         "without it a folder without the data is an error (a mistyped path), and downloads go "
                         "only to the cache folder")
    group.addoption("--bnbench-device", metavar="DEV", default="auto",
                    help="auto (cuda when available), cpu, cuda or cuda:N; default auto")
    group.addoption("--bnbench-out", metavar="DIR", default="bnbench-results",
                    help="where records, plots, structure tables and summary.json go; default bnbench-results/")
    group.addoption("--bnbench-seeds", metavar="N", default=None,
                    help="seeds per experiment (overrides the profile: smoke 1, quick 3, full 5)")
    group.addoption("--bnbench-epochs", metavar="N", default=None,
                    help="epochs for every experiment (overrides the profile; turns off the documented-value check)")
    group.addoption("--bnbench-subset", metavar="N", default=None,
                    help="training images per class for every experiment, 0 = all (overrides the profile)")
    group.addoption("--bnbench-strict", action="store_true", default=False,
                    help="fail inconclusive claims, and models below the 1.5x speed target, too (default: they pass "
                         "with a warning)")
    group.addoption("--bnbench-resume", action="store_true", default=False,
                    help="reuse finished run records in --bnbench-out whose configuration hash matches, instead of "
                         "training again (continues an interrupted run)")
    group.addoption("--bnbench-no-cuda-graphs", action="store_true", default=False,
                    help="on CUDA, train eagerly instead of replaying each training step as one CUDA graph "
                         "(graphs are self-checked and fall back to eager on their own; this is the switch for "
                         "a driver that crashes on them)")
    group.addoption("--bnbench-executor", metavar="NAME", default="local",
                    help="where training runs execute: local (this process, default), ray (each run, one "
                         "experiment and one seed, as a task on a Ray cluster; needs the ray extra: "
                         "pip install -e \".[ray]\"), or ray://HEAD:PORT (the cluster's address in the same "
                         "value); claims are decided here when their runs are back")
    group.addoption("--bnbench-benchmark-tables", action="store_true", default=False,
                    help="show pytest-benchmark's epoch-time tables at the end of a run of bnbench's benchmarks "
                         "(hidden by default: bnbench's summary and report say what they say; the timings are kept "
                         "either way: --benchmark-json, --benchmark-autosave)")
    group.addoption("--bnbench-ray-address", metavar="ADDR", default="auto",
                    help="with --bnbench-executor ray: the cluster's address (HEAD:6379, ray://...); default auto: "
                         "a running cluster, else a local Ray instance on this machine")


def pytest_addhooks(pluginmanager):
    """bnbench's hooks (``bnbench.hookspec``): a study's own data, a result or the summary before it is written."""
    from bnbench import hookspec

    pluginmanager.add_hookspecs(hookspec)


def _hooks(config):
    """The runner's view of bnbench's hooks: each calls pytest's hook caller, so every conftest.py and plugin that
    implements the hook takes part."""
    from bnbench.runner import Hooks

    hook = config.hook
    return Hooks(data=lambda: hook.pytest_bnbench_load_data(config=config),
                 result=lambda result, claim: hook.pytest_bnbench_modify_result(config=config, result=result,
                                                                               claim=claim),
                 summary=lambda summary: hook.pytest_bnbench_modify_summary(config=config, summary=summary))


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    from bnbench.runner import Options, Runner, parse_int_option
    from bnbench.studies import load_studies

    opt = config.option
    try:
        options = Options(
            data=opt.bnbench_data, device=opt.bnbench_device, out=opt.bnbench_out,
            seeds=parse_int_option("--bnbench-seeds", opt.bnbench_seeds),
            epochs=parse_int_option("--bnbench-epochs", opt.bnbench_epochs),
            subset=parse_int_option("--bnbench-subset", opt.bnbench_subset),
            strict=opt.bnbench_strict, resume=opt.bnbench_resume, cuda_graphs=not opt.bnbench_no_cuda_graphs,
            download=opt.bnbench_download, executor=opt.bnbench_executor, ray_address=opt.bnbench_ray_address)
        if options.executor == "ray":
            from bnbench.executors import parse_ray_address, require_ray

            parse_ray_address(options.ray_address)   # "" or http://... is a usage line, not INTERNALERROR
            require_ray()
        load_studies()   # bnbench's study and every installed one (entry points "bnbench.studies")
    except BnbenchError as exc:
        raise pytest.UsageError(str(exc)) from None
    workerinput = getattr(config, "workerinput", {})    # set on pytest-xdist workers
    if "mainargv" in workerinput:    # a worker's own argv is execnet's "-c": its records name the user's command
        from bnbench.engine.env import set_command

        set_command(workerinput["mainargv"])
    session = Runner(options, progress_factory=lambda label: _progress(config, label),
                             run_id=workerinput.get("bnbench_run_id"), worker=workerinput.get("workerid"),
                             workers=workerinput.get("workercount"), hooks=_hooks(config))
    config.stash[_SESSION] = session
    config.bnbench_session = session   # for conftest extensions (a study's own data: pytest_bnbench_load_data)
    session.say = lambda line: _say(config, line)


# -- SIGTERM and SIGHUP end a run as Ctrl-C does -------------------------------------------------------------------
# A batch scheduler's kill, a closed terminal or `timeout` send SIGTERM / SIGHUP, whose default action ends the
# process at once: no summary.json, records merely kept. Raised as KeyboardInterrupt instead, they take pytest's
# Ctrl-C path: finished records kept, summary.json written marked partial, exit status 2. A signal that arrives
# while the summary is being written is held until it is written (a second one ends the process at once), then
# ends the run the same way (``_SignalState.end_held``). Only handlers still at their default are replaced: an
# ignored SIGHUP (nohup) stays ignored.
_SIGNALS = pytest.StashKey()
_CAUGHT = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class _SignalState:
    def __init__(self):
        self.previous: dict = {}
        self.finishing = False
        self.held: int | None = None

    def handle(self, signum, frame):
        if self.finishing:               # writing the summary: finish it; a second signal ends the process
            self.held = signum
            signal.signal(signum, self.previous.get(signum, signal.SIG_DFL))
            return
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def end_held(self, session, bn) -> None:
        """A signal held while the summary was written still ends the run as an interruption: summary.json marked
        partial, exit status 2, as after Ctrl-C (dropped, it would leave a complete-looking run with status 0)."""
        if self.held is None:
            return
        bn.say(f"bnbench: {signal.Signals(self.held).name} arrived while summary.json was written; the run counts "
               "as interrupted")
        if bn.summary_path is not None:
            try:
                bn.store.mark_partial()
            except (BnbenchError, OSError) as exc:
                bn.finish_error = str(exc)
        session.exitstatus = pytest.ExitCode.INTERRUPTED


def _install_signal_handlers() -> _SignalState:
    state = _SignalState()
    if threading.current_thread() is not threading.main_thread():
        return state
    for signum in _CAUGHT:
        if signal.getsignal(signum) is signal.SIG_DFL:
            state.previous[signum] = signal.signal(signum, state.handle)
    return state


def pytest_unconfigure(config):
    state = config.stash.get(_SIGNALS, None)
    if state is not None and threading.current_thread() is threading.main_thread():
        for signum, previous in state.previous.items():
            signal.signal(signum, previous)
        state.previous.clear()
    bn = config.stash.get(_SESSION, None)
    if bn is not None:
        bn.cache.close()
        bn.release_out_dir()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist controller: a worker that could not write its share says so here (``workeroutput``)."""
    bn = node.config.stash.get(_SESSION, None)
    message = (getattr(node, "workeroutput", None) or {}).get("bnbench_error")
    if bn is not None and message:
        bn.worker_errors.append(str(message))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist controller: every worker writes into this run (same run id, same output folder)."""
    node.workerinput["bnbench_run_id"] = node.config.stash[_SESSION].run_id


def _say(config, line: str) -> None:
    from bnbench.text import plain

    tr = config.pluginmanager.getplugin("terminalreporter")
    if tr is not None:
        tr.write_line(plain(line))
    else:
        print(plain(line))


def _progress(config, label: str):
    """Training progress written between pytest's own output: capture lifted for each write, the status kept to
    the room left on pytest's current line, the width asked at each draw (``bnbench.outputs.progress``). On an
    xdist worker, stdout is /dev/null (execnet keeps it for its channel) and stderr is the controller's: plain
    lines there, named by the worker (xdist has no channel for a worker's output while a test runs)."""
    from bnbench.outputs.progress import TrainingProgress

    capman = config.pluginmanager.getplugin("capturemanager")
    suspend = capman.global_and_fixture_disabled if capman is not None else contextlib.nullcontext
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker is not None:
        return TrainingProgress(f"[{worker}] {label}", suspend=suspend, file=sys.__stderr__, tty=False)
    tr = config.pluginmanager.getplugin("terminalreporter")
    tw = getattr(tr, "_tw", None)
    file = getattr(tw, "_file", None) or sys.stdout
    with suspend():                  # while captured, stdout is a file: ask the real one
        tty = bool(getattr(file, "isatty", lambda: False)())
    return TrainingProgress(label, suspend=suspend, file=file, tty=tty,
                            column=(lambda: tw.width_of_current_line) if tw is not None else None,
                            width=(lambda: tw.fullwidth) if tw is not None else None,
                            plan=config.stash.get(_PLAN, None))


def pytest_generate_tests(metafunc):
    if "bnbench_profile" in metafunc.fixturenames:
        metafunc.parametrize("bnbench_profile",
                             [pytest.param(p, marks=getattr(pytest.mark, p), id=p) for p in PROFILE_MARKERS],
                             indirect=True)


def pytest_collection_modifyitems(config, items):
    """Without -m, bnbench's benchmarks run at smoke scale only: a larger profile runs only when asked for."""
    if not config.option.markexpr:
        keep, drop = [], []
        for item in items:
            marks = {m.name for m in item.iter_markers()} & set(MARKERS)
            (drop if own(item) and marks and "smoke" not in marks else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


_DESELECTED_OWN = pytest.StashKey()


def pytest_deselected(items):
    """Remembers that some of bnbench's items were deselected, for ``_marker_hint``."""
    if any(own(i) for i in items):
        items[0].config.stash[_DESELECTED_OWN] = True


def _marker_hint(session) -> str | None:
    """``-m quik`` (a marker nobody registered) deselects every benchmark and pytest exits 5 without a word: one
    line naming bnbench's markers, only when the expression names an unknown marker and none of bnbench's items,
    which were collected, is left (another project's items and markers are its own)."""
    config = session.config
    expr = config.option.markexpr
    if not expr or not config.stash.get(_DESELECTED_OWN, False) or any(own(i) for i in session.items):
        return None
    known = {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    known |= {m.name for i in session.items for m in i.iter_markers()} | {"and", "or", "not"}
    unknown = [word for word in re.findall(r"[A-Za-z_]\w*", expr) if word not in known]
    if not unknown:
        return None
    close = difflib.get_close_matches(unknown[0], MARKERS, n=1)
    return (f"bnbench: -m {expr!r} selects none of bnbench's benchmarks: no marker is named {unknown[0]!r}"
            + (f" (did you mean {close[0]!r}?)" if close else "") + f"; bnbench's markers: {', '.join(MARKERS)}")


def _profiles(config) -> list[str]:
    expr = config.option.markexpr or ""
    return [p for p in PROFILE_MARKERS if p in expr] or (["smoke"] if not expr else [])


def _announce_device(config, bn) -> None:
    """Once the device is resolved (a session that trains): the device named, CPU model and threads or GPU and
    memory (``bnbench.engine.env.describe_device``). Not in the header: naming it there would import torch in every
    pytest session of every project that has bnbench installed. On xdist, worker gw0 says it for all, on the
    stderr the controller shows."""
    from bnbench.engine.env import describe_device

    words = describe_device(bn.device, bn.workers)
    if bn.worker is None:
        _say(config, f"bnbench: training on {words}")
    elif bn.worker == "gw0":
        from bnbench.text import plain

        print(plain(f"bnbench: [gw0] training on {words}"), file=sys.stderr, flush=True)


def pytest_report_header(config):
    """One line on what a bnbench run will use; with a larger profile selected, its estimated wall time."""
    import os

    bn = config.stash.get(_SESSION, None)
    if bn is None:
        return None
    from bnbench.text import plain

    o = bn.options
    hooked = [i.plugin_name for i in config.hook.pytest_bnbench_load_data.get_hookimpls()]
    data = (f"from the pytest_bnbench_load_data hook ({os.path.basename(hooked[-1])})" if hooked else
            o.data or os.environ.get("BNBENCH_DATA") or "the cache folder (downloaded on first use)")
    profiles = _profiles(config)
    lines = [plain(f"bnbench: device {o.device}, profile {'/'.join(profiles) or '(by -m)'}, data {data}, "
                   f"out {bn.out}")]
    if "smoke" in profiles and o.seeds and o.seeds > 1:
        lines.append("bnbench: smoke verdicts stay inconclusive with any number of seeds; -m quick (or -m full) "
                     "decides the claims")
    for name in profiles:
        if name != "smoke":
            found = profile_estimate(bn, name)
            lines.append(plain(f"bnbench: estimated {found}") if found else
                         f"bnbench: no per-model speed measured in {plain(str(bn.out))} for an estimate of the {name} "
                         "profile (pytest benchmarks -m speed -k model_speed)")
    return lines


def pytest_collection_finish(session):
    """Reject bad input before any training starts: an unwritable output folder, missing or corrupt data, said
    above pytest's closing line. A mistyped -m gets its hint here too."""
    config = session.config
    hint = _marker_hint(session)
    if hint:
        _say(config, hint)
    if config.option.collectonly:
        return
    needs = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    bn = config.stash[_SESSION]
    if needs & OWN_FIXTURES:   # SIGTERM / SIGHUP take the Ctrl-C path only in runs that train (not other suites)
        config.stash[_SIGNALS] = _install_signal_handlers()
    try:
        if needs & {"bnbench_out", "bnbench_session", "train_experiment", "check_claim"}:
            bn.claim_out_dir()   # writable, and held by this run alone (or shared with its own xdist workers)
        if needs & {"bnbench_data", "train_experiment", "check_claim"}:
            if not bn.remote:   # with Ray the runs' device is the workers' (a GPU where the cluster has one)
                bn.device  # noqa: B018  (resolves --bnbench-device; an impossible device is an error now, not later)
                if needs & {"train_experiment", "check_claim"}:
                    _announce_device(config, bn)
            bn.data  # noqa: B018  (reads, validates and caches CIFAR-10 once, before any test)
        if not bn.remote and bn.worker is None and needs & {"train_experiment", "check_claim"}:
            runs = to_train(session, bn)
            announce_selection(session, bn, runs)
            config.stash[_PLAN] = plan_progress(runs)
        if bn.remote and needs & {"train_experiment", "check_claim"} and bn.worker is None:
            _prefetch(session, bn)
    except BnbenchError as exc:
        tr = config.pluginmanager.getplugin("terminalreporter")
        if tr is None or hasattr(config, "workerinput"):
            raise pytest.UsageError(str(exc)) from None
        # Said now, on pytest's own stream: pytest prints a UsageError after its final "no tests ran" line, where
        # it reads like a footnote to a success. The UsageError without a message keeps exit status 4.
        from bnbench.text import plain

        tr.write_line(f"ERROR: {plain(exc)}", red=True)
        raise pytest.UsageError() from None


_PLAN = pytest.StashKey()


def _prefetch(session, bn) -> None:
    """--bnbench-executor ray: submit every run (experiment, seed) the selected items need, in the items' order, so
    that the cluster trains all of them while pytest walks the items; each test then waits for its own runs."""
    bn.cache.executor.start()
    submitted = sum(bn.cache.prefetch(*run) for run in needed_runs(session, bn))
    if submitted:
        bn.say(f"bnbench: {submitted} training runs submitted to Ray")


def _user_errors_fail_cleanly(fn, benchmark):
    """A BnbenchError inside a benchmark (disk full, CUDA out of memory, ...) fails the test with its one-line
    message, not a traceback from deep inside the library. Ctrl-C (or SIGTERM, SIGHUP) marks the benchmark as used:
    else pytest-benchmark warns, on the way out, that the interrupted test never used it."""
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BnbenchError as exc:
            message = str(exc)
        except KeyboardInterrupt:
            benchmark._mode = "bnbench: interrupted"
            raise
        pytest.fail(f"bnbench: {message}", pytrace=False)   # outside the except: no chained traceback
    return wrapped


@pytest.fixture(scope="session")
def bnbench_session(request):
    return request.config.stash[_SESSION]


@pytest.fixture(scope="session")
def bnbench_data(bnbench_session):
    """CIFAR-10 as uint8 CPU tensors (``bnbench.engine.data.CIFAR10``), read once per session."""
    return bnbench_session.data


@pytest.fixture(scope="session")
def bnbench_device(bnbench_session):
    return bnbench_session.device


@pytest.fixture(scope="session")
def bnbench_out(bnbench_session):
    try:
        bnbench_session.claim_out_dir()
    except BnbenchError as exc:
        pytest.fail(f"bnbench: {exc}", pytrace=False)
    return bnbench_session.out


@pytest.fixture
def bnbench_profile(request, bnbench_session):
    return bnbench_session.profile(request.param)


@pytest.fixture
def train_experiment(bnbench_session, bnbench_profile, benchmark):
    """Train every seed of an experiment; pytest-benchmark's statistics are over the training epochs it ran."""

    def run(experiment):
        before = len(bnbench_session.fresh_records)
        records = bnbench_session.run_all(experiment, bnbench_profile)
        _time_epochs(benchmark, bnbench_session.fresh_records[before:], f"{experiment.id}[{bnbench_profile.name}]",
                     experiment.section)
        benchmark.extra_info.update({
            "run_id": bnbench_session.run_id,
            "records": bnbench_session.record_files[f"{bnbench_profile.name}:{experiment.id}"],
            "experiment": experiment.id, "profile": bnbench_profile.name,
            "config_hashes": [r.config_hash for r in records],
            "s_per_epoch": [r.s_per_epoch for r in records],
            "epoch_times_s": [r.epoch_times for r in records],
            "images_per_s": [r.images_per_s for r in records],
            "test_acc": [r.final_test_acc for r in records],
            "test_loss": [r.final_test_loss for r in records],
            "train_loss": [r.final_train_loss for r in records],
            "diverged": [r.diverged for r in records],
            "probe_overhead": [r.probe_overhead for r in records],
            "resumed": [r.run_id != bnbench_session.run_id for r in records],   # taken from an earlier run's record
        })
        _assert_machinery(records, experiment)
        return records

    return _user_errors_fail_cleanly(run, benchmark)


def _assert_machinery(records, experiment):
    """What every profile proves, smoke included: a record for every seed, finite numbers unless the run is
    flagged as diverged, and a run whose loss did not fall is flagged as never having trained (so no claim
    counts it) -- never a run that stayed put yet passes for a trained one."""
    for seed, r in enumerate(records):
        assert r.epochs or r.diverged, f"{experiment.id} seed {seed}: no epoch recorded"
        if r.diverged:
            continue
        assert all(math.isfinite(x) for x in r.step_loss), f"{experiment.id} seed {seed}: non-finite loss"
        if r.steps < MIN_STEPS_FOR_TREND:
            continue
        k = r.steps // 5
        first, last = sum(r.step_loss[:k]) / k, sum(r.step_loss[-k:]) / k
        assert last < first or not (r.learned or r.left_chance), (
            f"{experiment.id} seed {seed}: training loss did not fall (first {k} steps {first:.4f}, last {k} "
            f"steps {last:.4f}) yet the run counts as trained (test accuracy {r.final_test_acc:.3f})")


@pytest.fixture
def check_claim(request, bnbench_session, bnbench_profile, benchmark):
    """Decide a claim from its runs: contradicted fails; inconclusive warns, pointing at the test (fails with
    --bnbench-strict), except at smoke scale, where inconclusive is what smoke is documented to give. Runs trained
    here (a claim selected without its training tests) are timed per epoch like train_experiment's."""

    def run(claim):
        before = len(bnbench_session.fresh_records)
        result = bnbench_session.check(claim, bnbench_profile)
        _time_epochs(benchmark, bnbench_session.fresh_records[before:], f"{claim.id}[{bnbench_profile.name}]",
                     claim.section)
        message = f"{claim.id} [{bnbench_profile.name}]: {result.reason}"
        if result.verdict == "contradicted":
            pytest.fail(message, pytrace=False)
        if result.verdict == "inconclusive":
            if bnbench_session.options.strict:
                pytest.fail(message + " (--bnbench-strict)", pytrace=False)
            if bnbench_profile.verdicts:
                path, lineno, _ = request.node.location
                warnings.warn_explicit(BnbenchInconclusive(message), BnbenchInconclusive,
                                       str(request.node.path), (lineno or 0) + 1)
        return result

    return _user_errors_fail_cleanly(run, benchmark)


def _time_epochs(benchmark, runs, name: str, group: str) -> None:
    """pytest-benchmark's statistics over training epochs: one round per epoch of each run trained here, the
    first epoch of a run left out as warm-up where the run has later ones (its time is kept in extra_info). A run
    taken from a record (resume, or trained by an earlier test) is never timed again: a resumed benchmark has no
    rounds, never a fake one. Disabled benchmarks (--benchmark-disable, or under xdist, where pytest-benchmark
    turns itself off) record nothing."""
    benchmark.name, benchmark.group = name, group
    benchmark.extra_info["epochs_timed"] = sum(len(r.epoch_times[1:] or r.epoch_times) for r in runs)
    benchmark.extra_info["warmup_epochs_s"] = [r.epoch_times[0] for r in runs if len(r.epoch_times) > 1]
    if benchmark.disabled or not benchmark.extra_info["epochs_timed"]:
        # Used, with nothing to time (every run came from a record): no rounds, and no "fixture not used" warning.
        benchmark._mode = "bnbench: nothing trained in this test"
        return
    # What benchmark.pedantic does inside, with epochs as the rounds: the trainer times each epoch itself
    # (training only, synchronised), which no call-level timer could isolate from evaluation and I/O.
    stats = benchmark._make_stats(1)
    benchmark._mode = "bnbench: training epochs"
    for r in runs:
        for seconds in r.epoch_times[1:] or r.epoch_times:
            stats.update(seconds)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A benchmark stopped inside its first round (Ctrl-C or SIGTERM in an -m speed run, a pytest.skip or
    pytest.fail in the timed call) has no rounds, and pytest-benchmark, which marks only an Exception as an error,
    would take min() of nothing when it writes its JSON at the end of the run (a traceback after the
    interruption): marked as errored, it is left out as a failed benchmark is."""
    outcome = yield
    bench = getattr(item, "funcargs", {}).get("benchmark")
    if outcome.excinfo is not None and getattr(bench, "stats", None) is not None and not bench.stats:
        bench.has_error = True


def pytest_sessionfinish(session, exitstatus):
    """Write what the run measured: summary.json (partial after Ctrl-C, SIGTERM or SIGHUP), the documented figure
    and the structure tables; on an xdist worker, its share. Anything that cannot be written makes the exit status
    non-zero (a worker's failure reaches the controller through ``workeroutput``)."""
    bn = session.config.stash.get(_SESSION, None)
    if bn is None:
        return
    state = session.config.stash.get(_SIGNALS, None)
    if state is not None:
        state.finishing = True
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    if not bn.end(interrupted=interrupted, controller=session.config.pluginmanager.hasplugin("dsession")):
        if bn.worker is not None:   # the controller says it: the worker's failure travels in workeroutput
            getattr(session.config, "workeroutput", {})["bnbench_error"] = f"worker {bn.worker}: {bn.finish_error}"
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state is not None and not interrupted:
        state.end_held(session, bn)
    session.config.stash[_TABLES_HIDDEN] = _hide_benchmark_tables(session)


_TABLES_HIDDEN = pytest.StashKey()


def _hide_benchmark_tables(session) -> bool:
    """pytest-benchmark's tables (five of 196 columns after a full run; at smoke scale every row has one round)
    repeat, for bnbench's own benchmarks, what bnbench's summary and report say: hidden there, unless asked for
    (--bnbench-benchmark-tables) or needed to show what was asked (pytest-benchmark's --benchmark-verbose,
    --benchmark-compare, --benchmark-histogram and --benchmark-cprofile display through them). Its timings,
    regression checks and saved files are untouched; another project's benchmarks keep their tables."""
    config, opt = session.config, session.config.option
    bench = getattr(config, "_benchmarksession", None)   # pytest-benchmark's session: its display reads .quiet
    timed = [item for item in session.items if "benchmark" in getattr(item, "fixturenames", ())]
    if (bench is None or bench.quiet or not timed or not all(own(item) for item in timed)
            or opt.bnbench_benchmark_tables or any(getattr(opt, name, None) for name in (
                "benchmark_verbose", "benchmark_compare", "benchmark_histogram", "benchmark_cprofile"))):
        return False
    bench.quiet = True
    return bool(bench.groups)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The end of a run on one screen: the claims' overview (``bnbench.outputs.table.overview``) and a speed run's
    tables, then where the rest is (the report, summary.json), what an interruption kept, what was not written."""
    bn = config.stash.get(_SESSION, None)
    if bn is None:
        return
    import shlex

    from bnbench.text import plain

    tr, out = terminalreporter, plain(bn.out)
    if bn.results or bn.speed_rows or bn.model_speed_rows:
        from bnbench.outputs.table import overview, render, summary_tables

        width = tr._tw.fullwidth
        tables = summary_tables((), bn.speed_rows, bn.model_speed_rows, width=width)
        tr.write_sep("=", "bnbench summary")
        tr.write(render(([overview(bn.results, width)] if bn.results else []) + tables, width=width,
                        color=tr.hasmarkup))
        if bn.summary_path:
            if bn.report_path is not None:
                tr.write_line(f"results page: {plain(bn.report_path)}", bold=True)
            elif bn.results:
                tr.write_line(f"every number behind each verdict, and the figures: bnbench report {shlex.quote(out)}")
            tr.write_line(f"records, plots and summary.json: {out}")
    if config.stash.get(_TABLES_HIDDEN, False):
        tr.write_line("pytest-benchmark's epoch-time tables: --bnbench-benchmark-tables")
    if exitstatus == pytest.ExitCode.INTERRUPTED and bn.worker is None:
        runs = f"{bn.trained} finished run{'s' * (bn.trained != 1)}"
        tr.write_line(f"bnbench: interrupted: {runs} of this session kept in {out}"
                      + (", summary.json marked partial" if bn.summary_path else "")
                      + "; the same command with --bnbench-resume trains only the rest (a run stopped midway from "
                        "its last checkpoint, where one was saved)", yellow=True)
    if bn.finish_error:
        tr.write_line(f"bnbench: not everything was written at the end of the run: {plain(bn.finish_error)}",
                      red=True)
