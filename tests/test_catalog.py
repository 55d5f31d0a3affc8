"""The catalog: bad input, injected faults and untrusted files, one parametrized test per family.

Every case checks what a user meets: a BnbenchError (or pytest usage error) whose one line names the input and
the fix, never a traceback from inside torch or pickle; a fault that is recorded and survived; a file that is
refused. The families: bad data, bad settings, hostile output folders (through every command that reads one),
damaged records under resume and pooled by ``bnbench summary``, what a Ray task returns, text from files that
would drive the terminal, data batches that would expand, the compare gate, faults (in-process, links planted in
the output folder, and process-level: SIGTERM, SIGHUP, a second pytest on a held folder, a failing end-of-run
write), and source rules.
Ctrl-C and SIGKILL during a write live in test_records.py; the plugin's usage errors (missing data, unwritable
output folder, bad option values) in test_plugin.py. ``test_catalog_size`` holds the counts the README quotes.
"""
import ast
import contextlib
import errno
import io
import json
import os
import pickle
import re
import signal
import stat
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bnbench.study.catalog import CLAIMS
from bnbench.verdicts.evaluate import evaluate
from bnbench.engine.config import TrainConfig
from bnbench.engine.data import load_cifar10, read_batch, synthetic_cifar
from bnbench.errors import BnbenchError, ConfigError
from bnbench.engine.models import create_model
from bnbench.study.profiles import get_profile
from bnbench.engine.record import RunRecord
from bnbench.store.formats import RECORD_VERSION, record_from_json
from bnbench.runner import Options, parse_int_option
from bnbench.store.files import MAX_RECORD_BYTES, MAX_SUMMARY_BYTES, safe_name, write_json_atomic
from bnbench.engine.train import resolve_device, train
from bnbench.cli import main as cli
from test_data import write_batch
from test_ray import fake_ray, returned_record

PACKAGE = Path(__file__).resolve().parent.parent / "bnbench"
SYNTHETIC = synthetic_cifar(n_train=100, n_test=50, seed=0)


def one_line(exc: BaseException, *needles: str) -> None:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, text


# ---------------------------------------------------------------------------------------------------------
# Bad data files: refused when read, before any training, naming the file.

def _batch(path, **overrides):
    data = overrides.get("data", np.zeros((4, 3072), dtype=np.uint8))
    write_batch(path, data, overrides.get("labels", [0, 1, 2, 3]))


class _Foreign:
    def __reduce__(self):
        return (os.system, ("true",))


def _file(p, content: bytes) -> Path:
    (p / "b").write_bytes(content)
    return p / "b"


def _empty_dir(p) -> Path:
    (p / "empty").mkdir()
    return p / "empty"


def _truncated(p) -> Path:
    _batch(p / "b")
    return _file(p, (p / "b").read_bytes()[:200])


def _bad_batch(p, **overrides) -> Path:
    _batch(p / "b", **overrides)
    return p / "b"


def _unreadable(p) -> Path:
    (p / "locked" / "cifar-10-batches-py").mkdir(parents=True)
    _batch(p / "locked" / "cifar-10-batches-py" / "data_batch_1")
    (p / "locked").chmod(0)
    return p / "locked"


def _link_loop(p) -> Path:
    (p / "loop").symlink_to(p / "loop")
    return p / "loop"


@contextlib.contextmanager
def _shut_out(active: bool):
    """Root reads any folder: the read runs as nobody (effective uid only), for whom a chmod 000 folder is shut."""
    if not active or os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


BAD_DATA = {  # case: (make the input under tmp_path, a word the one-line message must contain)
    "missing folder": (lambda p: p / "nowhere", "--bnbench-data"),
    "empty folder": (_empty_dir, "BNBENCH_DATA"),
    "empty file": (lambda p: _file(p, b""), "b"),
    "truncated file": (_truncated, "truncated"),
    "garbage bytes": (lambda p: _file(p, os.urandom(500)), "b"),
    "foreign global": (lambda p: _file(p, pickle.dumps({"data": _Foreign()}, protocol=4)), "system"),
    "label out of range": (lambda p: _bad_batch(p, labels=[0, 1, 2, 10]), "label"),
    "wrong image shape": (lambda p: _bad_batch(p, data=np.zeros((4, 3000), dtype=np.uint8)), "3072"),
    "label count mismatch": (lambda p: _bad_batch(p, labels=[0, 1]), "label"),
    "unreadable data folder": (_unreadable, "readable"),
    "--bnbench-data ~nouser": (lambda p: Path("~bnbench-no-such-user"), "~bnbench-no-such-user"),
    "a link loop as the data folder": (_link_loop, "loop"),
}


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_is_refused_with_one_line(case, tmp_path):
    make, needle = BAD_DATA[case]
    path = make(tmp_path)
    folder = path.is_dir() or not path.exists()
    with pytest.raises(BnbenchError) as err, _shut_out(make is _unreadable):
        if folder:
            load_cifar10(path, download=False)
        else:
            read_batch(path)
    one_line(err.value, needle)


# ---------------------------------------------------------------------------------------------------------
# Bad names and out-of-range settings: refused before data is read or a model is built.

def _ray_address(address: str):
    from bnbench.executors import parse_ray_address

    return parse_ray_address(address)


def _bnbench(*argv: str) -> None:
    """``bnbench ARGV``, its refusal (one line on stderr, exit status 2) raised as the BnbenchError it printed."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = cli(list(argv))
    if status == 2:
        raise BnbenchError(err.getvalue().removeprefix("bnbench: ").rstrip("\n"))


BAD_SETTINGS = {
    "unknown model": (lambda: TrainConfig(model="LeNet"), "model"),
    "unknown optimizer": (lambda: TrainConfig(optimizer="rmsprop"), "optimizer"),
    "unknown loss": (lambda: TrainConfig(loss="hinge"), "loss"),
    "unknown init": (lambda: TrainConfig(init="he_normal"), "init"),
    "unknown profile": (lambda: get_profile("huge"), "smoke"),
    "unknown model (registry)": (lambda: create_model("ResNet152"), "VGG_A"),
    "bad model argument": (lambda: create_model("MyNet", activation="gelu"), "activation"),
    "zero epochs": (lambda: TrainConfig(epochs=0), "epochs"),
    "negative batch": (lambda: TrainConfig(batch_size=-8), "batch_size"),
    "negative seed": (lambda: TrainConfig(seed=-1), "seed"),
    "zero learning rate": (lambda: TrainConfig(lr=0.0), "lr"),
    "infinite learning rate": (lambda: TrainConfig(lr=float("inf")), "lr"),
    "nll on logits": (lambda: TrainConfig(model="VGG_A", loss="nll"), "cross_entropy"),
    "--bnbench-seeds 0": (lambda: Options(seeds=0), "--bnbench-seeds"),
    "--bnbench-epochs abc": (lambda: parse_int_option("--bnbench-epochs", "abc"), "--bnbench-epochs"),
    "--bnbench-subset 9999": (lambda: Options(subset=9999), "--bnbench-subset"),
    "--bnbench-device tpu": (lambda: Options(device="tpu"), "--bnbench-device"),
    '--bnbench-out ""': (lambda: Options(out=""), "--bnbench-out"),
    "a GPU this machine lacks": (lambda: resolve_device("cuda:99"), "cuda"),
    "batch of one through BatchNorm": (lambda: train(TrainConfig(model="ResNet", batch_size=1, max_steps=1,
                                                                 train_per_class=1, test_per_class=1), SYNTHETIC),
                                       "batch_size"),
    "run record from a newer bnbench": (lambda: record_from_json({"schema_version": 99}, source="r.json"),
                                        "upgrade"),
    "not a run record": (lambda: record_from_json({"x": 1}, source="r.json"), "r.json"),
    "MyNet hidden=3000000 (15 GB)": (lambda: create_model("MyNet", hidden=3_000_000), "hidden"),
    "bnbench power --sims 1000000000": (lambda: _bnbench("power", "--sims", "1000000000"), "--sims"),
    "bnbench power --n 100000000": (lambda: _bnbench("power", "--n", "100000000"), "--n"),
    '--bnbench-ray-address ""': (lambda: _ray_address(""), "HOST:PORT"),
    "--bnbench-ray-address http://head:6379": (lambda: _ray_address("http://head:6379"), "HOST:PORT"),
    "--bnbench-ray-address head (no port)": (lambda: _ray_address("head"), "HOST:PORT"),
}


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_bad_settings_are_refused_with_one_line(case):
    make, needle = BAD_SETTINGS[case]
    with pytest.raises(BnbenchError) as err:
        make()
    one_line(err.value, needle)


_VALUES = {
    "model": st.sampled_from(["MyNet", "ResNet", "VGG_A", "Transformer", ""]),
    "optimizer": st.sampled_from(["sgd", "adam", "adagrad", "lbfgs"]),
    "loss": st.sampled_from(["nll", "cross_entropy", "mse"]),
    "lr": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.05)),
    "momentum": st.sampled_from([0.0, 0.5, 0.9, 1.0, -0.1]),
    "batch_size": st.one_of(st.integers(-2, 40), st.just(2**20), st.text(max_size=2)),
    "epochs": st.integers(-1, 2),
    "seed": st.one_of(st.integers(-3, 2**64), st.none()),
    "init": st.sampled_from(["default", "xavier_uniform", "kaiming"]),
    "precision": st.sampled_from(["auto", "fp32", "bf16", "fp8"]),
}


@given(st.fixed_dictionaries({}, optional=_VALUES))
@settings(max_examples=40)
def test_generated_configurations_run_or_are_refused_with_a_message(fields):
    try:
        config = TrainConfig(**fields, train_per_class=1, test_per_class=1, max_steps=1)
    except ConfigError as err:
        one_line(err)
        assert any(name in str(err) for name in list(fields) + ["momentum", "loss"]), (fields, str(err))
        return
    try:                                    # an accepted configuration runs, or stops with a message
        rec = train(config, SYNTHETIC)
    except BnbenchError as err:
        one_line(err, "batch_size")
        return
    assert rec.steps == 1 or rec.diverged


@given(st.dictionaries(st.sampled_from(["--bnbench-seeds", "--bnbench-epochs", "--bnbench-subset"]),
                       st.one_of(st.text(max_size=4), st.integers(-5, 20000).map(str)), max_size=3),
       st.sampled_from(["auto", "cpu", "cuda", "cuda:0", "gpu", "", "cuda:x"]))
@settings(max_examples=60)
def test_generated_command_lines_parse_or_are_refused_with_a_message(opts, device):
    try:
        Options(device=device, **{k[10:]: parse_int_option(k, v) for k, v in opts.items()})
    except ConfigError as err:
        one_line(err)
        assert "--bnbench-" in str(err)


# ---------------------------------------------------------------------------------------------------------
# Faults: recorded and survived, never averaged into a number.

def _diverging_run():
    rec = train(TrainConfig(model="MyNet", lr=1e6, momentum=0.9, epochs=2, batch_size=10), SYNTHETIC)
    assert rec.diverged and rec.diverged_step is not None
    claim = CLAIMS["1.1/hidden-500-beats-100"]
    fine = train(TrainConfig(model="MyNet", lr=0.05, epochs=1, batch_size=10), SYNTHETIC)
    res = evaluate(claim, {claim.a[0].id: [rec, fine], claim.b[0].id: [fine, fine]}, profile_name="quick")
    assert res.verdict == "inconclusive" and "diverged" in res.reason


def _disk_full(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(BnbenchError) as err:
        write_json_atomic(tmp_path / "summary.json", {"a": 1})
    one_line(err.value, "disk is full", "--bnbench-out")
    assert not list(tmp_path.iterdir())             # no temporary file left behind


def _out_of_memory(tmp_path, monkeypatch):
    import bnbench.engine.train as t

    def oom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(t, "_train", oom)
    with pytest.raises(BnbenchError) as err:
        train(TrainConfig(model="VGG_A", loss="cross_entropy", batch_size=512), SYNTHETIC)
    one_line(err.value, "batch_size=512", "256")


def _unwritable_record_dir(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BnbenchError) as err:
        write_json_atomic(tmp_path / "file" / "r.json", {"a": 1})
    one_line(err.value, "--bnbench-out")


FAULTS = {"diverging run": lambda tmp_path, mp: _diverging_run(), "disk full": _disk_full,
          "CUDA out of memory": _out_of_memory, "output path is a file": _unwritable_record_dir}


@pytest.mark.parametrize("case", FAULTS)
def test_fault_is_survived_and_reported(case, tmp_path, monkeypatch):
    FAULTS[case](tmp_path, monkeypatch)


# ---------------------------------------------------------------------------------------------------------
# Untrusted files and strings.

def _sources() -> list[tuple[Path, list[ast.AST]]]:
    """Every module of the package with its AST nodes, parsed once per session."""
    if not _PARSED:
        files = sorted(PACKAGE.rglob("*.py"))
        assert len(files) > 30, f"found {len(files)} source files under {PACKAGE}: the scan would check nothing"
        _PARSED.extend((path, list(ast.walk(ast.parse(path.read_text())))) for path in files)
    return _PARSED


_PARSED: list = []


def _calls(name: str):
    for path, nodes in _sources():
        for node in nodes:
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                if called == name:
                    yield path, node


def _receiver(node: ast.Call) -> str:
    return ast.unparse(node.func.value) if isinstance(node.func, ast.Attribute) else ""


def _where(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def _no_eval_exec():
    """The builtins, that is: ``model.eval()`` switches a module's mode and evaluates no string."""
    found = [p for name in ("eval", "exec") for p, node in _calls(name) if isinstance(node.func, ast.Name)]
    assert not found, found


def _unpickling_only_through_the_allow_list():
    """Every place that turns bytes into objects: the allow-listed unpickler in engine/data.py, built at least once
    (so this rule has something to check), and no pickle.load(s), numpy.load or unrestricted torch.load anywhere."""
    built = [_where(p) for p, _ in _calls("_SafeUnpickler")]
    assert built, "no _SafeUnpickler(...) call found: this rule would check nothing"
    assert set(built) == {"bnbench/engine/data.py"}, built
    loads = [(_where(p), ast.unparse(n)) for name in ("load", "loads", "Unpickler") for p, n in _calls(name)
             if _receiver(n) in ("pickle", "np", "numpy", "torch", "joblib", "dill", "marshal")]
    bad = [site for site in loads if not ("torch.load" in site[1] and "weights_only=True" in site[1])]
    assert not bad, bad
    tree = ast.parse((PACKAGE / "engine" / "data.py").read_text())
    (cls,) = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "_SafeUnpickler"]
    assert "find_class" in {f.name for f in cls.body if isinstance(f, ast.FunctionDef)}


def _every_write_goes_through_the_store():
    """Results are JSON written atomically by bnbench/store/files.py, never pickles and never a plain open():
    every json.dump and os.replace is there (each found, so the rule can fail), figures are drawn into memory
    and handed to the store, and no other code creates a file."""
    dumps = [_where(p) for p, n in _calls("dump") if _receiver(n) == "json"]
    replaces = [_where(p) for p, n in _calls("replace") if _receiver(n) == "os"]
    assert dumps and replaces, "no json.dump / os.replace found: this rule would check nothing"
    assert set(dumps) == set(replaces) == {"bnbench/store/files.py"}, (dumps, replaces)
    pickling = [_where(p) for name in ("dump", "dumps", "save") for p, n in _calls(name)
                if _receiver(n) in ("pickle", "torch", "np", "numpy", "joblib")]
    # one exception: a mid-run checkpoint is torch state (torch.save into memory; the store writes the bytes),
    # read back only with weights_only=True (the rule above)
    assert pickling == ["bnbench/engine/checkpoint.py"], pickling
    opened = [(_where(p), ast.unparse(n)) for p, n in _calls("open") if isinstance(n.func, ast.Name)]
    assert not opened, opened                                     # the builtin open(): none at all
    creating = [_where(p) for p, n in _calls("open") if _receiver(n) == "os" and "O_CREAT" in ast.unparse(n)]
    assert set(creating) == {"bnbench/store/files.py"}, creating
    figures = [(_where(p), ast.unparse(n.args[0])) for p, n in _calls("savefig")]
    assert figures == [("bnbench/outputs/plots.py", "buf")], figures   # into memory; the store writes the file
    texts = [(_where(p), ast.unparse(n)) for name in ("write_text", "write_bytes") for p, n in _calls(name)
             if not (_receiver(n).endswith("store") or _receiver(n).startswith("Store("))]
    assert not texts, texts


def _paths_stay_inside_the_output_folder():
    for hostile in ("../../etc/passwd", "/abs/path", "a/../../b", "..", "", "\x00x"):
        name = safe_name(hostile)
        assert "/" not in name and not name.startswith(".") and name not in ("", "..")


FILES = {"no eval or exec of strings": _no_eval_exec,
         "unpickling only through the allow-listed unpickler": _unpickling_only_through_the_allow_list,
         "every write goes through the store (JSON, never pickles)": _every_write_goes_through_the_store,
         "ids cannot escape the output folder": _paths_stay_inside_the_output_folder}


@pytest.mark.parametrize("case", FILES)
def test_untrusted_input_is_never_trusted(case):
    FILES[case]()


# ---------------------------------------------------------------------------------------------------------
# Hostile output folders: what bnbench reads back is refused with one line naming the file and what is wrong
# (exit 2), by every command that reads a run: summary (table and csv), compare, report and estimate.

GOOD_RESULT = {"claim_id": "1.1/hidden-500-beats-100", "profile": "quick", "verdict": "supported", "reason": "r",
               "a_values": [0.70, 0.71], "b_values": [0.66, 0.67], "documented": [], "notes": [],
               "a_s_per_epoch": 1.0, "b_s_per_epoch": 1.0, "plot": None}


def _run_dir(folder: Path, claims=None, **top) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"schema_version": 1, "claims": [dict(GOOD_RESULT)] if claims is None else claims, **top}
    (folder / "summary.json").write_text(json.dumps(data))
    return folder


def _claim(**changes) -> list[dict]:
    return [{**GOOD_RESULT, **changes}]


def _text_file(content: str):
    return lambda d: (d / "summary.json").write_text(content)


def _summary_json(**top):
    return lambda d: _run_dir(d, **top)


def _summary_link(d: Path):
    target = _run_dir(d.parent / "elsewhere")
    (d / "summary.json").symlink_to(target / "summary.json")


def _sparse(d: Path, size: int = 300 * 1024 * 1024):
    with open(d / "summary.json", "wb") as f:
        f.truncate(size)                                  # no disk used: the cap refuses it by its size alone


HOSTILE_FOLDERS = {  # case: (make summary.json in the folder, a word the one-line message must contain)
    "summary.json is a symbolic link": (_summary_link, "link"),
    "summary.json is a FIFO": (lambda d: os.mkfifo(d / "summary.json"), "not a regular file"),
    "summary.json is a folder": (lambda d: (d / "summary.json").mkdir(), "not a regular file"),
    "summary.json over the size cap": (_sparse, "more than"),
    "nested 100 deep": (_text_file("[" * 100 + "]" * 100), "deeper"),
    "nested 100,000 deep": (_text_file("[" * 100_000 + "]" * 100_000), "JSON"),
    "empty file": (_text_file(""), "JSON"),
    "not JSON": (_text_file("{'claims': []}"), "JSON"),
    "invalid UTF-8": (lambda d: (d / "summary.json").write_bytes(b'{"a": "\xff\xfe"}'), "JSON"),
    "a JSON list": (_text_file("[1, 2]"), "not a bnbench summary"),
    "schema from a newer bnbench": (_summary_json(schema_version=99), "upgrade"),
    "schema_version true": (_summary_json(schema_version=True), "schema_version"),
    "claims not a list": (_summary_json(claims={"a": 1}), "claims"),
    "a made-up verdict": (_summary_json(claims=_claim(verdict="proven")), "verdict"),
    "a 400-digit value": (_text_file('{"schema_version": 1, "claims": [' + json.dumps(GOOD_RESULT).replace(
        "0.7,", "1" + "0" * 400 + ",", 1) + "]}"), "a_values"),
    "Infinity as a value": (_text_file('{"schema_version": 1, "claims": [' + json.dumps(GOOD_RESULT).replace(
        "0.7,", "Infinity,", 1) + "]}"), "a_values"),
    "values as text": (_summary_json(claims=_claim(b_values=["0.7"])), "b_values"),
    "a negative s/epoch": (_summary_json(claims=_claim(a_s_per_epoch=-1.0)), "a_s_per_epoch"),
    "stats.n negative": (_summary_json(claims=_claim(stats={"n": -1, "mean_diff": 0, "ci_low": 0,
                                                            "ci_high": 0})), "stats.n"),
    "stats.confidence 7": (_summary_json(claims=_claim(stats={"n": 2, "mean_diff": 0, "ci_low": 0, "ci_high": 0,
                                                              "confidence": 7})), "confidence"),
    "notes not text": (_summary_json(claims=_claim(notes=[1])), "notes"),
    "documented not objects": (_summary_json(claims=_claim(documented=["x"])), "documented"),
    "the study's reading as text": (_summary_json(claims=_claim(extra={"study_reading": {
        "reading": ["checkpoint"], "a": ["high"], "b": [0.5]}})), "study_reading"),
    "experiments not objects": (_summary_json(experiments={"1.1/x": [1]}), "experiments"),
    "partial as text": (_summary_json(partial="yes"), "partial"),
    "trained_runs negative": (_summary_json(trained_runs=-3), "trained_runs"),
    "a speed row with text for a number": (_summary_json(speed=[{"model": "MyNet", "ratio": "fast"}]), "speed"),
    "a per-model speed row negative": (_summary_json(model_speed=[{"model": "MyNet", "batch_size": -32}]),
                                       "model_speed"),
    "a valid summary.json past its cap (4 MB; a full run's is 111 KB)": (
        _summary_json(padding="x" * MAX_SUMMARY_BYTES), "more than"),
}


@pytest.mark.parametrize("case", HOSTILE_FOLDERS)
def test_a_hostile_output_folder_is_refused_by_every_command(case, tmp_path, capsys):
    make, needle = HOSTILE_FOLDERS[case]
    good = _run_dir(tmp_path / "good")
    bad = tmp_path / "bad"
    bad.mkdir()
    make(bad)
    for args in (["summary", bad], ["summary", bad, "--format", "csv"], ["compare", good, bad], ["report", bad],
                 ["estimate", bad]):
        rc = cli([str(a) for a in args])
        out, err = capsys.readouterr()
        assert rc == 2, (args[0], out, err)
        assert err.startswith("bnbench: ") and err.count("\n") == 1 and "Traceback" not in err, (args[0], err)
        assert str(bad / "summary.json") in err and needle in err, (args[0], err)
    assert not (bad / "report.html").exists()


# Records read back by --bnbench-resume: one line naming the file (a BnbenchSkippedFile warning), then retrained.

def _good_record() -> RunRecord:
    config = TrainConfig(model="MyNet", epochs=1)
    return RunRecord(config=config.to_dict(), config_hash=config.hash, device="cpu", env={}, started_at="t0",
                     finished_at="t1", step_loss=[2.3, 1.9],
                     epochs=[{"epoch": 1, "train_loss": 2.0, "train_time_s": 1.0, "images": 64, "steps": 2,
                              "test_loss": 1.8, "test_acc": 0.3}], run_id="r1")


def _damage_record(change):
    def make(path: Path):
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return make


def _replace_record(make):
    def replace(path: Path):
        path.unlink()
        make(path)
    return replace


def _linked_record(path: Path):
    elsewhere = path.parent.parent.parent / "elsewhere.json"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)


HOSTILE_RECORDS = {  # case: (damage the stored record, a word the warning must contain)
    "a link to a record elsewhere": (_linked_record, "link"),
    "a FIFO": (_replace_record(os.mkfifo), "not a regular file"),
    "cut short": (lambda p: p.write_text(p.read_text()[:100]), "JSON"),
    "another configuration under this hash": (_damage_record(lambda d: d["config"].update(lr=0.5)), "hashes to"),
    "an invalid stored configuration": (_damage_record(lambda d: d["config"].update(model="LeNet")), "LeNet"),
    "step losses as text": (_damage_record(lambda d: d.update(step_loss="low")), "step_loss"),
    "an epoch time of null": (_damage_record(lambda d: d["epochs"][0].update(train_time_s=None)), "train_time_s"),
    "an accuracy of 40": (_damage_record(lambda d: d["epochs"][0].update(test_acc=40)), "test_acc"),
    "a probe with text": (_damage_record(lambda d: d.update(probes=[{"step": 0, "beta": "x"}])), "probe"),
    "a newer schema": (_damage_record(lambda d: d.update(schema_version=RECORD_VERSION + 1)), "upgrade"),
    "a valid record past its cap (16 MB; a full-scale one is under 4 MB)": (
        _damage_record(lambda d: d["env"].update(padding="x" * MAX_RECORD_BYTES)), "more than"),
}


@pytest.mark.parametrize("case", HOSTILE_RECORDS)
def test_a_hostile_record_is_named_skipped_and_retrained(case, tmp_path):
    from bnbench.errors import BnbenchSkippedFile
    from bnbench.store import Store

    damage, needle = HOSTILE_RECORDS[case]
    store = Store(tmp_path / "out")
    rec = _good_record()
    path = store.save_record(rec, "1.1/hidden-500", "quick", 0)
    assert store.load_finished("1.1/hidden-500", "quick", 0, rec.config_hash) is not None
    damage(path)
    with pytest.warns(BnbenchSkippedFile) as caught:
        assert store.load_finished("1.1/hidden-500", "quick", 0, rec.config_hash) is None
    (warning,) = caught
    one_line(warning.message, str(path), needle, "retraining")


def test_resume_retrains_a_damaged_record_and_overwrites_it(tmp_path):
    from bnbench.errors import BnbenchSkippedFile
    from bnbench.runner import Runner
    from bnbench.study.catalog import EXPERIMENTS
    from bnbench.study.profiles import Profile, Scale

    tiny = Profile("tiny", seeds=1, scales={"1.1": Scale(epochs=1, train_per_class=5, test_per_class=2)})
    first = Runner(Options(out=str(tmp_path), device="cpu"))
    first._data = SYNTHETIC
    rec = first.run(EXPERIMENTS["1.1/hidden-500"], tiny, 0)
    path = first.store.record_path("1.1/hidden-500", "tiny", 0, rec.config_hash)
    path.write_text(path.read_text()[:50])
    again = Runner(Options(out=str(tmp_path), device="cpu", resume=True))
    again._data = SYNTHETIC
    with pytest.warns(BnbenchSkippedFile, match="retraining"):
        again.run(EXPERIMENTS["1.1/hidden-500"], tiny, 0)
    assert again.trained == 1 and again.resumed == 0
    assert record_from_json(json.loads(path.read_text()), str(path)).finished_at      # whole again


# Records pooled by ``bnbench summary DIR1 DIR2``: one that does not read back stops the command in one line naming
# it (exit 2), rather than a verdict on fewer seeds with exit 0.

POOL_CLAIM = CLAIMS["1.1/relu-beats-tanh"]


def _pool_dir(folder: Path, seeds: tuple[int, ...]) -> Path:
    """An output folder that holds POOL_CLAIM [quick]: its summary.json and a finished record per experiment and
    seed, saved through the store."""
    from bnbench.store import Store

    store = Store(folder)
    for e in POOL_CLAIM.experiments:
        for k in seeds:
            config = e.config.replace(seed=e.config.seed + k, epochs=1)
            acc = (0.70 if e is POOL_CLAIM.a[0] else 0.60) + 0.01 * k
            store.save_record(RunRecord(
                config=config.to_dict(), config_hash=config.hash, device="cpu", env={}, started_at="t0",
                finished_at="t1", step_loss=[2.3, 1.9], run_id="r1",
                epochs=[{"epoch": 1, "train_loss": 2.0, "train_time_s": 1.0, "images": 64, "steps": 2,
                         "test_loss": 1.8, "test_acc": acc}]), e.id, "quick", k)
    return _run_dir(folder, claims=_claim(claim_id=POOL_CLAIM.id))


def _tanh_record(d: Path, seed: int = 2) -> Path:
    return next((d / "records" / safe_name("1.1/tanh")).glob(f"quick-seed{seed}-*.json"))


def _pooled(damage):
    """Damages the tanh record of seed 2 in the folder; returns its path (what the line must name)."""
    def make(d: Path) -> Path:
        path = _tanh_record(d)
        damage(path)
        return path
    return make


def _linked_folder(*parts: str):
    """Moves the folder's ``parts`` folder elsewhere and leaves a link to it in its place."""
    def make(d: Path) -> Path:
        folder = d.joinpath(*parts)
        elsewhere = d.parent / f"elsewhere-{parts[-1]}"
        folder.rename(elsewhere)
        folder.symlink_to(elsewhere, target_is_directory=True)
        return folder
    return make


def _moved_to_another_experiment(d: Path) -> Path:
    moved = d / "records" / safe_name("1.1/hidden-500") / _tanh_record(d).name
    moved.write_bytes(_tanh_record(d).read_bytes())
    return moved


POOLED_RECORDS = {  # case: (damage folder two, returning the path the line must name; a word the line must contain)
    "a record cut short": (_pooled(lambda p: p.write_text(p.read_text()[:100])), "JSON"),
    "a record in UTF-16": (_pooled(lambda p: p.write_bytes(p.read_text().encode("utf-16"))), "utf-8"),
    "a FIFO in place of a record": (_pooled(_replace_record(os.mkfifo)), "not a regular file"),
    "a valid record past its cap (16 MB)": (_pooled(_damage_record(
        lambda d: d["env"].update(padding="x" * MAX_RECORD_BYTES))), "more than"),
    "an unfinished record": (_pooled(_damage_record(lambda d: d.update(finished_at=""))), "unfinished"),
    "another configuration under its name": (_pooled(_damage_record(lambda d: d["config"].update(lr=0.5))),
                                             "hashes to"),
    "a forged config_hash": (_pooled(_damage_record(lambda d: d.update(config_hash="0" * 16))), "saves as"),
    "a record copied into another experiment's folder": (_moved_to_another_experiment, "saves as"),
    "records/ a link": (_linked_folder("records"), "link"),
    "records/<experiment>/ a link": (_linked_folder("records", safe_name("1.1/tanh")), "link"),
}


@pytest.mark.parametrize("case", POOLED_RECORDS)
def test_a_record_that_does_not_read_back_stops_pooling_in_one_line(case, tmp_path, capsys):
    damage, needle = POOLED_RECORDS[case]
    one, two = _pool_dir(tmp_path / "one", (0, 1)), _pool_dir(tmp_path / "two", (2, 3))
    assert cli(["summary", str(one), str(two)]) == 0
    assert f"pooled {POOL_CLAIM.id} [quick]: 4 seeds" in capsys.readouterr().out      # whole, both folders count
    named = damage(two)
    for args in (["summary", one, two], ["summary", one, two, "--format", "csv"]):
        rc = cli([str(a) for a in args])
        out, err = capsys.readouterr()
        assert rc == 2, (out, err)
        assert err.startswith("bnbench: ") and err.count("\n") == 1 and "Traceback" not in err, err
        assert str(named) in err and needle in err, err


# What a Ray task returns (``--bnbench-executor ray``): refused in one line and never written unless it is a finished
# run of the configuration submitted (its stored configuration's hash recomputed); a task's error text escaped.

def _tanh_config(config: dict) -> dict:
    from bnbench.study.catalog import EXPERIMENTS

    return {**config, "model_args": EXPERIMENTS["1.1/tanh"].config.to_dict()["model_args"]}


def _raises(text: str):
    def work(config: dict):
        raise RuntimeError(text)
    return work


RAY_RETURNS = {  # case: (what the task returns for the submitted configuration, a word the one line must contain)
    "another configuration": (lambda c: returned_record({**c, "lr": 0.5}), "hashes to"),
    "another experiment's record (tanh for relu)": (lambda c: returned_record(_tanh_config(c)), "hashes to"),
    "another configuration under the submitted hash": (lambda c: {**returned_record(_tanh_config(c)), "config_hash":
                                                                  TrainConfig.from_dict(c).hash}, "hashes to"),
    "a forged config_hash": (lambda c: {**returned_record(c), "config_hash": "0" * 16}, "config_hash"),
    "an unfinished run": (lambda c: {**returned_record(c), "finished_at": ""}, "unfinished"),
    "an invalid configuration": (lambda c: returned_record(c) | {"config": {**c, "model": "LeNet"}}, "LeNet"),
    "not a record": (lambda c: {"schema_version": 1, "x": 1}, "config"),
    "an error with terminal escapes": (_raises("\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202e"), "\\x1b]52"),
}


@pytest.mark.parametrize("case", RAY_RETURNS)
def test_what_a_ray_task_returns_is_checked_against_what_was_submitted(case, tmp_path):
    from bnbench.executors import ExecutorError
    from bnbench.runner import Runner
    from bnbench.study.catalog import EXPERIMENTS

    work, needle = RAY_RETURNS[case]
    with fake_ray(work):
        runner = Runner(Options(out=str(tmp_path / "out"), executor="ray", seeds=1, epochs=1, subset=10))
        runner._data, runner.say = SYNTHETIC, lambda line: None
        with pytest.raises(ExecutorError) as err:
            runner.run(EXPERIMENTS["1.1/base-nll"], runner.profile("smoke"), 0)
    one_line(err.value, "1.1/base-nll seed 1/1", needle)
    assert not any(ch in str(err.value) for ch in "\x1b\x07\u202e"), str(err.value)
    assert runner.trained == 0 and not list((tmp_path / "out").rglob("*.json"))


# ---------------------------------------------------------------------------------------------------------
# Text from files printed: control characters escaped, rich markup and emoji codes printed literally.

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]")
_OSC52 = "\x1b]52;c;cHduZWQ=\x07"


def _inconclusive(**changes) -> list[dict]:
    return _claim(verdict="inconclusive", **changes)


def _speed_folder(device_name: str):
    def make(d: Path):   # every model measured: the estimate table (its title names the device) is printed
        rows = [{"model": m, "batch_size": 32, "device": "cpu", "device_name": device_name, "precision": "fp32",
                 "bnbench_images_per_s": 4000.0, "study_style_images_per_s": 2000.0, "speedup": 2.0,
                 "flops_per_image": 1e7, "achieved_flops": 4e10, "peak_flops": 1e11, "peak_dtype": "fp32",
                 "fraction_of_peak": 0.4}
                for m in ("MyNet", "ResNet", "ResNet_Projection", "VGGNet", "VGG_A", "VGG_A_BatchNorm")]
        _run_dir(d, claims=[], model_speed=rows)
    return make


HOSTILE_TEXT = {  # case: (make the run folder, the command (RUN = that folder), what must print literally)
    "OSC 52 (clipboard) in a reason": (lambda d: _run_dir(d, claims=_inconclusive(reason="x: " + _OSC52)),
                                       ["summary", "RUN"], "\\x1b]52;c;cHduZWQ=\\x07"),
    "screen clear in an unknown claim id": (lambda d: _run_dir(d, claims=_claim(claim_id="\x1b[2Jzz")),
                                            ["summary", "RUN"], "\\x1b[2Jzz"),
    "C1 control (CSI) in a reason": (lambda d: _run_dir(d, claims=_inconclusive(reason="x: \x9b31m")),
                                     ["summary", "RUN"], "\\x9b31m"),
    "bidi override in a reason": (lambda d: _run_dir(d, claims=_inconclusive(reason="x: abc\u202edef")),
                                  ["summary", "RUN"], "abc\\u202edef"),
    "rich markup in a claim id": (lambda d: _run_dir(d, claims=_claim(claim_id="[bold red]zz[/]")),
                                  ["summary", "RUN"], "[bold red]zz[/]"),
    "an unmatched closing tag in a reason": (lambda d: _run_dir(d, claims=_inconclusive(reason="x: [/dim]y")),
                                             ["summary", "RUN"], "[/dim]y"),
    "an emoji code in a claim id": (lambda d: _run_dir(d, claims=_claim(claim_id=":thumbs_up:")),
                                    ["summary", "RUN"], ":thumbs_up:"),
    "markup in the study's reading": (lambda d: _run_dir(d, claims=_claim(extra={"study_reading": {
        "reading": ["[/x]"], "a": [0.5], "b": [0.4]}})), ["summary", "RUN"], "[/x]"),
    "an escape in a documented check": (lambda d: _run_dir(d, claims=_claim(documented=[{"check": "\x1b[31m"}])),
                                        ["summary", "RUN"], "\\x1b[31m"),
    "an escape in a reason, as Markdown": (lambda d: _run_dir(d, claims=_inconclusive(reason=_OSC52)),
                                           ["summary", "RUN", "--format", "md"], "\\x1b]52"),
    "an escape in a reason, as CSV": (lambda d: _run_dir(d, claims=_inconclusive(reason=_OSC52)),
                                      ["summary", "RUN", "--format", "csv"], "\\x1b]52"),
    "a closing tag in a profile (compare)": (lambda d: _run_dir(d, claims=_claim(profile="[/red]")),
                                             ["compare", "RUN", "RUN"], "[/red]"),
    "a line break forging a line (compare)": (lambda d: _run_dir(d, claims=_claim(profile="q\nregression: none")),
                                              ["compare", "RUN", "RUN"], "q\\nregression: none"),
    "an escape and markup in a device name (estimate)": (_speed_folder("\x1b]0;owned\x07[bold]gpu"),
                                                         ["estimate", "RUN"], "[bold]gpu"),
    "an escape in a device name (summary)": (_speed_folder("\x1b]0;owned\x07"), ["summary", "RUN"],
                                             "\\x1b]0;owned\\x07"),
    "an escape in a file's name (error line)": (lambda d: (d / "\x1b[31mx").mkdir(), ["summary", "RUN/\x1b[31mx"],
                                                "\\x1b[31mx"),
}


@pytest.mark.parametrize("case", HOSTILE_TEXT)
def test_text_from_files_prints_literally(case, tmp_path, capsys, monkeypatch):
    make, args, literal = HOSTILE_TEXT[case]
    monkeypatch.setenv("COLUMNS", "300")            # rich wraps at the terminal's width: keep each cell whole
    run = tmp_path / "run"
    run.mkdir()
    make(run)
    rc = cli([a.replace("RUN", str(run)) for a in args])
    out, err = capsys.readouterr()
    assert rc in (0, 1, 2) and "Traceback" not in err, (rc, err)
    assert not _CONTROL.search((out + err).replace("\r\n", "\n")), repr(out + err)   # CSV's own line ends
    assert literal in out + err, out + err
    if args[0] == "compare":
        assert not any(line.startswith("regression: none") for line in out.splitlines())


# ---------------------------------------------------------------------------------------------------------
# Data batches: the allow-listed globals are bounded too (what they build, counted against the file's size).

def _int(n: int) -> bytes:
    return b"J" + struct.pack("<i", n) if -2**31 <= n < 2**31 else b"\x8a" + bytes([8]) + n.to_bytes(8, "little")


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _text(s: str) -> bytes:
    return b"X" + struct.pack("<I", len(s)) + s.encode()


def _batch_of(data: bytes) -> bytes:
    """{'data': <data>, 'labels': []} as protocol-2 opcodes, as the official files are."""
    return b"\x80\x02}(" + _text("data") + data + _text("labels") + b"]u."


NDARRAY, RECONSTRUCT, DTYPE = b"cnumpy\nndarray\n", b"cnumpy.core.multiarray\n_reconstruct\n", b"cnumpy\ndtype\n"


def _dtype_ops(spec: bytes, copy: bytes = b"\x88") -> bytes:
    return DTYPE + b"(" + spec + b"\x89" + copy + b"tR" + _tuple(_int(3), _text("|"), b"NNN", _int(-1), _int(-1),
                                                                   _int(0)) + b"b"


def _array_ops(shape: tuple, raw: bytes, spec: bytes = b"X\x02\x00\x00\x00u1") -> bytes:
    """numpy's own pickling of an array: _reconstruct(ndarray, (0,), b'b'), then its state."""
    return (RECONSTRUCT + NDARRAY + _tuple(_int(0)) + b"U\x01b\x87R"
            + _tuple(_int(1), _tuple(*map(_int, shape)), _dtype_ops(spec), b"\x89", raw) + b"b")


ZERO_STRIDES = _batch_of(NDARRAY + _tuple(_tuple(_int(10**6), _int(3072)), _text("u1"), b"U\x01x", _int(0),
                                          _tuple(_int(0), _int(0))) + b"R")   # ndarray over one byte: 3 GB


def _shared_raw(n: int = 100_000, arrays: int = 20) -> bytes:
    first = _array_ops((n,), b"T" + struct.pack("<I", n) + bytes(n) + b"q\x63")   # BINSTRING, memoised as 99
    again = _array_ops((n,), b"h\x63")                                             # the same bytes, by memo
    return _batch_of(b"](" + first + again * (arrays - 1) + b"e")


def _labels_of(ops: bytes, n: int = 2) -> bytes:
    """{'data': n blank images, 'labels': <ops>}: a batch whose labels the given opcodes build."""
    raw = b"T" + struct.pack("<I", n * 3072) + bytes(n * 3072)
    return b"\x80\x02}(" + _text("data") + _array_ops((n, 3072), raw) + _text("labels") + ops + b"u."


def _nested_labels(levels: int = 4, width: int = 100) -> bytes:
    """Level 0 a list of `width` zeros, each next level a list of `width` references to the one below: width **
    levels labels once numpy expands them (the issue's 7.9 KB file took 3 GB and 23 s)."""
    ops, item = b"", _int(0)
    for i in range(levels):
        ops += b"](" + item * width + b"e"
        if i < levels - 1:
            ops += b"q" + bytes([i]) + b"0"            # memoised in slot i and popped: the next level refers to it
            item = b"h" + bytes([i])
    return _labels_of(ops)


def _huge_shape(path: Path, size: int = 4 << 20) -> None:
    """_reconstruct of a shape of two integers of `size` bytes each: 22 s of multiplying them, before any check."""
    big = b"\x8b" + struct.pack("<i", size) + b"\x01" * size
    path.write_bytes(_batch_of(RECONSTRUCT + NDARRAY + _tuple(big, big) + b"U\x01b\x87R"))


HOSTILE_BATCHES = {  # case: (the file's bytes, or a function making it at a path; a word the message must contain)
    "ndarray over one byte with zero strides (3 GB)": (ZERO_STRIDES, "ndarray directly"),
    "_reconstruct of a 3 GB shape": (_batch_of(RECONSTRUCT + NDARRAY + _tuple(_int(10**6), _int(3072))
                                               + b"U\x01b\x87R"), "more than the file"),
    "one bytes object behind 20 arrays": (_shared_raw(), "more than the file"),
    "an object dtype": (_batch_of(_dtype_ops(_text("O8"))), "dtype"),
    "a sub-array dtype": (_batch_of(DTYPE + _tuple(_tuple(_text("u1"), _tuple(_int(10**5), _int(10**5))),
                                                  b"\x89\x88") + b"R"), "dtype"),
    "a string dtype of 4 GB per item": (_batch_of(_dtype_ops(_text("U1000000000"))), "dtype"),
    "a negative dimension": (_batch_of(RECONSTRUCT + NDARRAY + _tuple(_int(-1)) + b"U\x01b\x87R"), "shape"),
    "an array with too little data": (_batch_of(_array_ops((1000,), b"U\x04abcd")), "bytes of data"),
    "_reconstruct of another type": (_batch_of(RECONSTRUCT + _dtype_ops(_text("u1")) + _tuple(_int(0))
                                               + b"U\x01b\x87R"), "other than numpy.ndarray"),
    "a file over the size cap": (lambda p: open(p, "wb").truncate(60 * 1024 * 1024), "more than a CIFAR-10"),
    "a FIFO in place of a batch": (lambda p: os.mkfifo(p), "not a regular file"),
    "a memo index that zero-fills a 1 GiB table (9 bytes)": (b"\x80\x02Nr" + struct.pack("<I", 1 << 26) + b".",
                                                              "memo index"),
    "labels: one 1 MB string 1,000 times (1 GB in numpy)": (
        lambda p: p.write_bytes(_labels_of(b"](T" + struct.pack("<I", 1 << 20) + bytes(1 << 20) + b"q\x00"
                                           + b"h\x00" * 999 + b"e")), "more than the file"),
    "labels: lists of lists through the memo (10^8 from 7 KB)": (_nested_labels(), "more than the file"),
    "ragged labels": (_labels_of(b"](](" + _int(0) + _int(1) + b"e](" + _int(2) + b"ee"), "flat list"),
    "labels nested 200,000 deep": (lambda p: p.write_bytes(_labels_of(_int(0) + b"\x85" * 200_000)), "opcodes"),
    "labels nested 1,000 deep": (_labels_of(_int(0) + b"\x85" * 1000), "deep"),
    "labels that hold themselves": (_labels_of(b"]q\x00h\x00a"), "holds itself"),
    "a shape of two 4 MB integers": (_huge_shape, "-bit integer"),
    "a global whose name carries terminal escapes": (b"\x80\x02cos\x1b]52;c;aGk=\x07\nsystem\n.", "os\\x1b]52"),
}


@pytest.mark.parametrize("case", HOSTILE_BATCHES)
def test_a_batch_that_would_expand_is_refused_at_once(case, tmp_path):
    import resource
    import time

    make, needle = HOSTILE_BATCHES[case]
    path = tmp_path / "data_batch_1"
    make(path) if callable(make) else path.write_bytes(make)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(BnbenchError) as err:
        read_batch(path)
    assert time.perf_counter() - start < 5.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000     # KiB: nothing was built
    one_line(err.value, str(path), needle)


def test_the_zero_stride_batch_is_a_real_attack():
    """What the bounds stop: a naive unpickler (numpy's own globals only) makes a 3 GB array of this small file,
    as a view that the first copy (np.ascontiguousarray, torch.from_numpy(...).to(device)) would materialise."""
    assert len(ZERO_STRIDES) <= 108
    view = pickle.loads(ZERO_STRIDES, encoding="bytes")["data"]
    assert view.nbytes >= 3 * 10**9 and view.strides == (0, 0)


# ---------------------------------------------------------------------------------------------------------
# Writes stay inside the output folder: links planted there are replaced or refused, never followed; what is not a
# regular file is never replaced; the folder itself is re-checked on every write; the cleanup takes only bnbench's own.

def _finishing_runner(out: Path):
    """A runner with one finished record of a documented experiment: finish() writes summary.json, the
    documented figure and a structure table."""
    from bnbench.runner import Runner

    runner = Runner(Options(out=str(out), device="cpu"))
    runner.records["full:1.1/base-nll"] = [_good_record()]   # the study's scale: the documented figure is drawn
    return runner


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "precious").write_text("precious")
    return outside


def _untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["precious"], list(outside.iterdir())
    assert (outside / "precious").read_text() == "precious"


def _link_at_file(name: str):
    def case(tmp_path):
        outside = _outside(tmp_path)
        out = tmp_path / "out"
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).symlink_to(outside / "precious")
        _finishing_runner(out).finish()
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0
        _untouched(outside)
    return case


def _linked_folder_at_finish(folder: str):
    def case(tmp_path):
        from bnbench.runner import FinishError

        outside = _outside(tmp_path)
        out = tmp_path / "out"
        out.mkdir()
        (out / folder).symlink_to(outside, target_is_directory=True)
        with pytest.raises(FinishError) as err:
            _finishing_runner(out).finish()
        one_line(err.value, str(out / folder), "symbolic link")
        assert json.loads((out / "summary.json").read_text())["run_id"]      # the summary was still written
        _untouched(outside)
    return case


def _linked_folder_refuses(folder: str, write):
    def case(tmp_path):
        from bnbench.store import Store

        outside = _outside(tmp_path)
        out = tmp_path / "out"
        (out / folder).parent.mkdir(parents=True)
        (out / folder).symlink_to(outside, target_is_directory=True)
        with pytest.raises(BnbenchError) as err:
            write(Store(out))
        one_line(err.value, str(out / folder), "symbolic link")
        _untouched(outside)
    return case


def _link_at_lock(tmp_path):
    from bnbench.store import Store

    outside = _outside(tmp_path)
    store = Store(tmp_path / "out")
    path = store.record_path("1.1/x", "quick", 0, "abc")
    path.parent.mkdir(parents=True)
    path.with_name(f".{path.name}.lock").symlink_to(outside / "precious")
    with pytest.raises(BnbenchError) as err:
        with store.lock(path):
            pass
    one_line(err.value, "symbolic link")
    _untouched(outside)


def _link_at_run_lock(tmp_path):
    from bnbench.store.files import RUN_LOCK, acquire_run_lock

    outside = _outside(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / RUN_LOCK).symlink_to(outside / "precious")
    with pytest.raises(BnbenchError) as err:
        acquire_run_lock(tmp_path / "out", "run")
    one_line(err.value, "symbolic link")
    _untouched(outside)


def _link_at_report(tmp_path):
    from bnbench.outputs.report import write_report

    outside = _outside(tmp_path)
    run = _run_dir(tmp_path / "run")
    (run / "report.html").symlink_to(outside / "precious")
    write_report(run)
    assert not (run / "report.html").is_symlink() and "<html>" in (run / "report.html").read_text()
    _untouched(outside)


def _shard_naming_an_outside_record(tmp_path):
    from bnbench.store import Shard, Store

    outside = _outside(tmp_path)
    store = Store(tmp_path / "out")
    record = store.save_record(_good_record(), "1.1/hidden-500", "quick", 0)
    for name in (str(outside / "precious"), str(record.parent / ".." / ".." / ".." / "outside" / "precious.json")):
        store.write_shard(Shard("r", records={"quick:1.1/x": [name]}), "gw0")
        with pytest.raises(BnbenchError) as err:
            store.take_shards("r")
        one_line(err.value, "not a record of")


def _resume_through_a_linked_records_folder(tmp_path):
    from bnbench.errors import BnbenchSkippedFile
    from bnbench.store import Store

    rec = _good_record()
    Store(tmp_path / "elsewhere").save_record(rec, "1.1/hidden-500", "quick", 0)   # a valid record, outside
    out = tmp_path / "out"
    out.mkdir()
    (out / "records").symlink_to(tmp_path / "elsewhere" / "records", target_is_directory=True)
    with pytest.warns(BnbenchSkippedFile, match="symbolic link"):
        assert Store(out).load_finished("1.1/hidden-500", "quick", 0, rec.config_hash) is None


def _report_through_linked_folders(tmp_path):
    from bnbench.outputs.plots import plot_documented
    from bnbench.outputs.report import render
    from bnbench.store import Store

    elsewhere = Store(tmp_path / "elsewhere")
    rec = _good_record()
    rec.env = {"secret": "outside-env"}
    elsewhere.save_record(rec, "1.1/hidden-500", "quick", 0)
    plot_documented(elsewhere.plot_path("1.1_hidden-500-beats-100"), [{"label": "x", "study": 0.7,
                                                                      "measured": [0.69]}])
    run = _run_dir(tmp_path / "run")
    (run / "records").symlink_to(elsewhere.out / "records", target_is_directory=True)
    (run / "plots").symlink_to(elsewhere.out / "plots", target_is_directory=True)
    page = render(run)
    assert "outside-env" not in page and "data:image/png" not in page and "missing plot" in page


def _orphans_cleaned_links_not_walked(tmp_path):
    from bnbench.runner import Runner

    outside = _outside(tmp_path)
    (outside / ".bnbench-r.json.abcd1234.tmp").write_text("not ours")
    out = tmp_path / "out"
    (out / "records" / "x").mkdir(parents=True)
    (out / "records" / "x" / ".bnbench-r.json.k3j2h1g0.tmp").write_text("{half")     # a killed run's leftovers
    (out / ".bnbench-summary.json.zz99yy88.tmp").write_text("{")
    (out / "records" / "linked").symlink_to(outside, target_is_directory=True)
    runner = Runner(Options(out=str(out), device="cpu"))
    runner.claim_out_dir()
    runner.release_out_dir()
    assert not list(out.rglob("*.tmp")) and (outside / ".bnbench-r.json.abcd1234.tmp").exists()


def _users_temporary_files_survive_the_sweep(tmp_path):
    """Only bnbench's own temporary names, only in the folders it writes: what looks like one elsewhere stays."""
    from bnbench.runner import Runner

    out = tmp_path / "out"
    theirs = [out / "docs" / ".thesis.v2.tmp", out / ".notes.abc123.tmp", out / "records" / ".r.json.abcd1234.tmp",
              out / "docs" / ".bnbench-x.abcdefgh.tmp",                 # bnbench's pattern, not in its folders
              out / "records" / "x" / "deeper" / ".bnbench-r.json.k3j2h1g0.tmp"]
    for path in theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    ours = out / "plots" / ".bnbench-documented.png.zz99yy88.tmp"
    ours.parent.mkdir()
    ours.write_text("half")
    runner = Runner(Options(out=str(out), device="cpu"))
    runner.claim_out_dir()
    runner.release_out_dir()
    assert not ours.exists() and all(p.read_text() == "mine" for p in theirs)


def _not_a_regular_file(make, kind: str, write):
    """Something not a regular file at a target (made by ``make(path)``): refused in one line, left as it was.
    ``write(store, None)`` names the target, ``write(store, path)`` writes it as bnbench does."""
    def case(tmp_path):
        from bnbench.store import Store

        store = Store(tmp_path / "out")
        path = write(store, None)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            make(path)
        except PermissionError:
            pytest.skip("making a device node needs CAP_MKNOD")
        mode = os.lstat(path).st_mode
        with pytest.raises(BnbenchError) as err:
            write(store, path)
        one_line(err.value, str(path), kind)
        assert os.lstat(path).st_mode == mode and not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    return case


def _summary_target(store, path):
    from bnbench.store import Summary

    return store.summary_path if path is None else store.write_summary(Summary(path=""))


def _record_target(store, path):
    rec = _good_record()
    return (store.record_path("1.1/hidden-500", "quick", 0, rec.config_hash) if path is None
            else store.save_record(rec, "1.1/hidden-500", "quick", 0))


def _figure_target(store, path):
    from bnbench.outputs.plots import plot_documented

    return (store.plot_path("documented") if path is None
            else plot_documented(path, [{"label": "x", "study": 0.7, "measured": [0.69]}]))


def _structure_target(store, path):
    target = store.out / "structures" / "1.1_base-nll.txt"
    return target if path is None else store.write_text(target, "layer  shape  parameters")


def _report_target(store, path):
    from bnbench.outputs.report import write_report

    return store.out / "null" if path is None else write_report(_run_dir(store.out.parent / "run"), path)


def _output_folder_replaced(write, by_a_link: bool = True):
    """The output folder moved away mid-run and a link to elsewhere (or another folder) put in its place: the next
    write is refused in one line naming the folder, and nothing lands outside. ``write(store, path)`` as above:
    its target is computed (and its folder made) before the swap, as a run computes a figure's path first."""
    def case(tmp_path):
        from bnbench.store import Store

        outside = _outside(tmp_path)
        store = Store(tmp_path / "out")
        path = store.writable(write(store, None))
        store.out.rename(tmp_path / "moved")
        if by_a_link:
            store.out.symlink_to(outside, target_is_directory=True)
        else:
            store.out.mkdir()
        with pytest.raises(BnbenchError) as err:
            write(store, path)
        one_line(err.value, str(store.out), "symbolic link" if by_a_link else "replaced")
        _untouched(outside)
        assert by_a_link or not any(store.out.iterdir())
    return case


OUTPUT_WRITES = {
    "a link at summary.json": _link_at_file("summary.json"),
    "a link at plots/documented.png": _link_at_file("plots/documented.png"),
    "a link at a structure table": _link_at_file("structures/1.1_base-nll.txt"),
    "plots/ is a link": _linked_folder_at_finish("plots"),
    "structures/ is a link": _linked_folder_at_finish("structures"),
    "records/ is a link": _linked_folder_refuses(
        "records", lambda s: s.save_record(_good_record(), "1.1/hidden-500", "quick", 0)),
    "records/<experiment>/ is a link": _linked_folder_refuses(
        "records/1.1_hidden-500", lambda s: s.save_record(_good_record(), "1.1/hidden-500", "quick", 0)),
    ".workers/ is a link": _linked_folder_refuses(".workers", lambda s: s.write_shard(
        __import__("bnbench.store", fromlist=["Shard"]).Shard("r"), "gw0")),
    "a link at a configuration's lock": _link_at_lock,
    "a link at the run lock": _link_at_run_lock,
    "a link at report.html": _link_at_report,
    "a worker shard naming a record outside": _shard_naming_an_outside_record,
    "resume through a linked records/": _resume_through_a_linked_records_folder,
    "the report through linked records/ and plots/": _report_through_linked_folders,
    "a killed run's temporary files (and a linked folder)": _orphans_cleaned_links_not_walked,
    "a user's temporary-looking files under the output folder": _users_temporary_files_survive_the_sweep,
    "a FIFO at summary.json": _not_a_regular_file(os.mkfifo, "a FIFO", _summary_target),
    "a folder at a record": _not_a_regular_file(os.mkdir, "a folder", _record_target),
    "a socket at a figure": _not_a_regular_file(lambda p: os.mknod(p, 0o600 | stat.S_IFSOCK),
                                                "a socket", _figure_target),
    "a device node as report -o": _not_a_regular_file(
        lambda p: os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3)), "a character device",
        _report_target),
    "the output folder replaced by a link: a record": _output_folder_replaced(_record_target),
    "the output folder replaced by a link: a figure": _output_folder_replaced(_figure_target),
    "the output folder replaced by a link: a structure table": _output_folder_replaced(_structure_target),
    "the output folder replaced by another folder: summary.json": _output_folder_replaced(_summary_target,
                                                                                        by_a_link=False),
}


@pytest.mark.parametrize("case", OUTPUT_WRITES)
def test_writes_and_reads_stay_inside_the_output_folder(case, tmp_path):
    OUTPUT_WRITES[case](tmp_path)


# ---------------------------------------------------------------------------------------------------------
# The compare gate: broken or partial runs fail it (exit 1), thresholds that could never fire are refused (exit 2).

def _values(**changes):
    base = {"a_values": [0.70, 0.71, 0.705], "b_values": [0.66, 0.665, 0.67]}
    return lambda d: _run_dir(d, claims=_claim(**{**base, **changes}))


def _old_and_new(old: list[dict], new: list[dict]):
    """Makes NEW, and OLD beside it (over the test's own OLD)."""
    return lambda d: (_run_dir(d.parent / "old", claims=old), _run_dir(d, claims=new))


_SAME = {**GOOD_RESULT, "a_values": [0.70, 0.71, 0.705], "b_values": [0.66, 0.665, 0.67]}   # as _values() writes
_UNKNOWN = {**GOOD_RESULT, "claim_id": "9.9/a-claim-this-bnbench-does-not-know"}
_TIME = {**GOOD_RESULT, "claim_id": "2.1/bn-costs-time", "a_values": [0.110, 0.112], "b_values": [0.100, 0.101]}

COMPARE_GATES = {  # case: (make NEW, extra arguments, exit status, a word the output must contain)
    "the same run": (_values(), [], 0, ""),
    "NEW interrupted (partial)": (lambda d: (_values()(d), _run_dir(d, claims=json.loads(
        (d / "summary.json").read_text())["claims"], partial=True)), [], 1, "interrupted"),
    "a claim missing from NEW": (lambda d: _run_dir(d, claims=[]), [], 1, "missing"),
    "a claim at another profile only": (_values(profile="full"), [], 1, "missing"),
    "fewer seeds in NEW (a partial claim)": (_values(a_values=[0.70, 0.71]), [], 1, "partial"),
    "a diverged (null) value in NEW": (_values(a_values=[0.70, None, 0.705]), [], 1, "null"),
    "every NEW value null": (_values(b_values=[None, None, None]), [], 1, "null"),
    "s/epoch null in NEW": (_values(a_s_per_epoch=None), [], 1, "s/epoch"),
    "--max-drop nan": (_values(), ["--max-drop", "nan"], 2, "--max-drop"),
    "--max-drop -1": (_values(), ["--max-drop", "-1"], 2, "--max-drop"),
    "--max-drop inf": (_values(), ["--max-drop", "inf"], 2, "--max-drop"),
    "--max-slowdown nan": (_values(), ["--max-slowdown", "nan"], 2, "--max-slowdown"),
    "--max-slowdown -1": (_values(), ["--max-slowdown", "-1"], 2, "--max-slowdown"),
    "--max-slowdown 0": (_values(), ["--max-slowdown", "0"], 2, "--max-slowdown"),
    "--max-slowdown inf": (_values(), ["--max-slowdown", "inf"], 2, "--max-slowdown"),
    "OLD with no claims": (_values(), ["OLD-EMPTY"], 2, "no claims"),
    "an unknown claim 31 points lower in NEW": (_old_and_new([_UNKNOWN], [{**_UNKNOWN, "a_values": [0.39, 0.40]}]),
                                                [], 2, "9.9/a-claim-this-bnbench-does-not-know"),
    "an unknown claim, --allow-unjudged": (_old_and_new([_UNKNOWN], [{**_UNKNOWN, "a_values": [0.39, 0.40]}]),
                                           ["--allow-unjudged"], 0, "not judged"),
    "a claim twice in NEW, the first copy lower": (lambda d: _run_dir(d, claims=[
        {**_SAME, "a_values": [0.30, 0.31, 0.305]}, _SAME]), [], 2, "2 copies in NEW"),
    "a claim twice in OLD": (_old_and_new([_SAME, _SAME], [_SAME]), [], 2, "2 copies in OLD"),
    "interleaved s/step 2x in NEW (a rise is the regression)": (_old_and_new([_TIME], [
        {**_TIME, "a_values": [0.220, 0.224], "b_values": [0.200, 0.202]}]), [], 1, "interleaved_time x2.00"),
}


@pytest.mark.parametrize("case", COMPARE_GATES)
def test_the_compare_gate(case, tmp_path, capsys, monkeypatch):
    make, extra, status, needle = COMPARE_GATES[case]
    monkeypatch.setenv("COLUMNS", "300")
    old = _values()(tmp_path / "old")
    if "OLD-EMPTY" in extra:
        old, extra = _run_dir(tmp_path / "empty", claims=[]), []
    new = tmp_path / "new"
    new.mkdir()
    make(new)
    rc = cli(["compare", str(old), str(new), *extra])
    out, err = capsys.readouterr()
    assert rc == status, out + err
    assert needle in (out + err), out + err
    if status == 2:
        assert err.count("\n") == 1 and "Traceback" not in err
    if status == 1:
        assert any(line.startswith("regression: ") for line in out.splitlines())


# ---------------------------------------------------------------------------------------------------------
# Process faults: SIGTERM and SIGHUP end a run as Ctrl-C does; a second pytest on a held folder is refused; a
# write failing at the end of the run fails the run. Each starts plain pytest processes (bounded, always killed).

WAITING_BENCH = textwrap.dedent('''
    import time
    from bnbench.study.catalog import EXPERIMENTS

    def test_train(train_experiment):
        train_experiment(EXPERIMENTS["1.1/base-nll"])

    def test_wait(bnbench_out):
        (bnbench_out.parent / "waiting").write_text("")
        time.sleep(90)
''')
TRAIN_BENCH = textwrap.dedent('''
    from bnbench.study.catalog import EXPERIMENTS

    def test_train(train_experiment):
        train_experiment(EXPERIMENTS["1.1/base-nll"])
''')


def _pytest(where: Path, bench: str, out: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    """Plain pytest (no xdist) on ``bench`` in ``where``, writing to ``out``, on synthetic data, tiny runs."""
    from test_plugin import synthetic_conftest

    where.mkdir(parents=True, exist_ok=True)
    (where / "conftest.py").write_text(synthetic_conftest(100, 100))
    (where / "test_bench.py").write_text(bench)
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--benchmark-disable",
                             "--bnbench-out", str(out), "--bnbench-epochs", "1", "--bnbench-subset", "3", *extra,
                             str(where / "test_bench.py")], cwd=where, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "XDG_CACHE_HOME": str(where / "cache"), **(env or {})})


SIGNALLED_WHILE_FINISHING = TRAIN_BENCH + textwrap.dedent('''
    import os
    import signal
    from bnbench.store import Store

    _write_summary = Store.write_summary

    def _signalled(self, *args, **kwargs):      # SIGTERM arrives while summary.json is being written
        os.kill(os.getpid(), signal.SIGTERM)
        return _write_summary(self, *args, **kwargs)

    Store.write_summary = _signalled
''')


def _wait_for(proc: subprocess.Popen, path: Path, seconds: float = 120) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError("the run ended early:\n" + proc.communicate()[0])
        assert time.monotonic() < deadline, f"{path.name} did not appear within {seconds} s"
        time.sleep(0.05)


def _interrupted_by(signum: int, *extra: str, env: dict | None = None):
    def case(tmp_path, second=False):
        proc = _pytest(tmp_path / "first", WAITING_BENCH, tmp_path / "out", *extra, env=env)
        try:
            _wait_for(proc, tmp_path / "waiting")          # one record written, the run waiting in its 2nd test
            if second:                                     # a second plain pytest on the same folder: refused
                other = _pytest(tmp_path / "second", TRAIN_BENCH, tmp_path / "out")
                text = other.communicate(timeout=120)[0]
                assert other.returncode == 4, text
                line = next(l for l in text.splitlines() if l.startswith("ERROR:"))
                assert str(tmp_path / "out") in line and f"pid {proc.pid}" in line and "in use" in line, line
            proc.send_signal(signum)
            output = proc.communicate(timeout=60)[0]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 2, output                # pytest: interrupted, as after Ctrl-C
        (record,) = (tmp_path / "out" / "records").rglob("*.json")
        assert record_from_json(json.loads(record.read_text()), str(record)).finished_at
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary["partial"] is True and summary["trained_runs"] == 1
    return case


def _sighup_and_a_second_run_refused(tmp_path):
    _interrupted_by(signal.SIGHUP)(tmp_path, second=True)


def _output(proc, timeout: float) -> str:
    """A pytest subprocess's output once it ends; killed (and its output still read) when it overruns."""
    try:
        return proc.communicate(timeout=timeout)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _end_of_run_write_fails(tmp_path):
    outside = _outside(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "structures").symlink_to(outside, target_is_directory=True)   # the structure tables' folder
    proc = _pytest(tmp_path / "run", TRAIN_BENCH, tmp_path / "out")
    output = _output(proc, 180)
    assert proc.returncode == 1, output                    # every test passed, yet the run failed
    assert "not everything was written" in output and "structures" in output, output
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["trained_runs"] == 1
    _untouched(outside)


def _sigterm_while_the_summary_is_written(tmp_path):
    proc = _pytest(tmp_path / "run", SIGNALLED_WHILE_FINISHING, tmp_path / "out")
    output = _output(proc, 180)
    assert proc.returncode == 2, output                    # held until the summary was written, then not dropped
    assert "SIGTERM arrived while summary.json was written" in output, output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["partial"] is True and summary["trained_runs"] == 1


SPEED_BENCH = textwrap.dedent('''
    import os
    import signal
    import pytest

    @pytest.mark.speed
    def test_speed(bnbench_device, benchmark):      # SIGTERM while the benchmark's first round is timed
        benchmark.pedantic(os.kill, args=(os.getpid(), signal.SIGTERM), rounds=1, iterations=1)
''')


def _sigterm_in_a_speed_benchmarks_first_round(tmp_path):
    timings = tmp_path / "timings.json"
    proc = _pytest(tmp_path / "run", SPEED_BENCH, tmp_path / "out", "-m", "speed", "--benchmark-enable",
                   "--benchmark-json", str(timings))
    output = _output(proc, 120)
    assert proc.returncode == 2 and "Traceback" not in output, output     # interrupted, pytest-benchmark's JSON
    assert json.loads(timings.read_text())["benchmarks"] == []            # written without the round-less one


def test_the_run_lock_is_shared_by_one_runs_workers_and_refuses_anyone_else(tmp_path):
    """Locks are per open file, so one process can play every part: a plain run holds the folder alone; the
    xdist workers of one run share it; a worker of another run, or a plain run, is refused naming the holder."""
    from bnbench.store.files import FolderInUse, acquire_run_lock, release_run_lock

    plain, first = acquire_run_lock(tmp_path, "run-a")
    assert first
    for shared in (False, True):
        with pytest.raises(FolderInUse) as err:
            acquire_run_lock(tmp_path, "run-b", shared=shared, wait_s=0.1)
        one_line(err.value, str(tmp_path), f"pid {os.getpid()}", "--bnbench-out")
    release_run_lock(plain)
    gw0, first = acquire_run_lock(tmp_path, "run-c", shared=True)
    gw1, again = acquire_run_lock(tmp_path, "run-c", shared=True)
    assert first and not again                                  # the second worker shares the first's run
    for run, shared in (("run-d", True), ("run-c", False)):
        with pytest.raises(FolderInUse):
            acquire_run_lock(tmp_path, run, shared=shared, wait_s=0.1)
    release_run_lock(gw0)
    release_run_lock(gw1)
    release_run_lock(acquire_run_lock(tmp_path, "run-e")[0])    # free again once both workers are done


def _sigterm_midway_under_ray(tmp_path):
    """ray.init installs its own SIGTERM handler (a traceback, summary not partial, exit 134): bnbench's is kept."""
    pytest.importorskip("ray")
    _interrupted_by(signal.SIGTERM, "--bnbench-executor", "ray",
                    env={"RAY_ADDRESS": "local", "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"})(tmp_path)


PROCESS_FAULTS = {"SIGTERM midway": _interrupted_by(signal.SIGTERM),
                  "SIGTERM midway under Ray (--bnbench-executor ray)": _sigterm_midway_under_ray,
                  "SIGHUP midway, with a second pytest on the folder refused": _sighup_and_a_second_run_refused,
                  "a write failing at the end of the run": _end_of_run_write_fails,
                  "SIGTERM while summary.json is written": _sigterm_while_the_summary_is_written,
                  "SIGTERM in a speed benchmark's first round (--benchmark-json)":
                      _sigterm_in_a_speed_benchmarks_first_round}


@pytest.mark.parametrize("case", PROCESS_FAULTS)
def test_process_fault_is_survived_and_reported(case, tmp_path):
    PROCESS_FAULTS[case](tmp_path)


def test_catalog_size():
    """The counts the README and BENCHMARKS.md quote: inputs tried, faults injected, rules held."""
    inputs = len(BAD_DATA) + len(BAD_SETTINGS) + len(HOSTILE_FOLDERS) + len(HOSTILE_RECORDS) + len(HOSTILE_TEXT) \
        + len(HOSTILE_BATCHES) + len(COMPARE_GATES) + len(RAY_RETURNS) + len(POOLED_RECORDS)
    faults = len(FAULTS) + len(OUTPUT_WRITES) + len(PROCESS_FAULTS) + 2   # + Ctrl-C and SIGKILL (test_records.py)
    assert (inputs, faults, len(FILES)) == (155, 36, 4), (inputs, faults, len(FILES))
