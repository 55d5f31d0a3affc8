"""The catalog: bad input, injected faults and untrusted files, one parametrized test per family.

Every case checks what a user meets: a BnbenchError (or pytest usage error) whose one line names the input and
the fix, never a traceback from inside torch or pickle; a fault that is recorded and survived; a file that is
refused. Process-level faults (Ctrl-C, SIGKILL during a write) live in test_records.py; the plugin's usage
errors (missing data, unwritable output folder, bad option values) in test_plugin.py.
"""
import ast
import errno
import os
import pickle
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
from bnbench.store.formats import record_from_json
from bnbench.runner import Options, parse_int_option
from bnbench.store.files import safe_name, write_json_atomic
from bnbench.engine.train import resolve_device, train
from test_data import write_batch

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
}


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_is_refused_with_one_line(case, tmp_path):
    make, needle = BAD_DATA[case]
    path = make(tmp_path)
    with pytest.raises(BnbenchError) as err:
        if path.is_dir() or not path.exists():
            load_cifar10(path, download=False)
        else:
            read_batch(path)
    one_line(err.value, needle)


# ---------------------------------------------------------------------------------------------------------
# Bad names and out-of-range settings: refused before data is read or a model is built.

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
    "a GPU this machine lacks": (lambda: resolve_device("cuda:99"), "cuda"),
    "batch of one through BatchNorm": (lambda: train(TrainConfig(model="ResNet", batch_size=1, max_steps=1,
                                                                 train_per_class=1, test_per_class=1), SYNTHETIC),
                                       "batch_size"),
    "run record from a newer bnbench": (lambda: record_from_json({"schema_version": 99}, source="r.json"),
                                        "upgrade"),
    "not a run record": (lambda: record_from_json({"x": 1}, source="r.json"), "r.json"),
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

def _calls(name: str):
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                if called == name:
                    yield path, node


def _no_eval_exec():
    """The builtins, that is: ``model.eval()`` switches a module's mode and evaluates no string."""
    found = [p for name in ("eval", "exec") for p, node in _calls(name) if isinstance(node.func, ast.Name)]
    assert not found, found


def _torch_load_weights_only():
    for path, node in _calls("load"):
        if isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "torch":
            assert any(k.arg == "weights_only" and getattr(k.value, "value", None) is True for k in node.keywords), path


def _results_are_json_not_pickles():
    pickling = [p for name in ("dump", "dumps") for p, node in _calls(name)
                if isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "pickle"]
    assert not pickling, pickling


def _paths_stay_inside_the_output_folder():
    for hostile in ("../../etc/passwd", "/abs/path", "a/../../b", "..", "", "\x00x"):
        name = safe_name(hostile)
        assert "/" not in name and not name.startswith(".") and name not in ("", "..")


FILES = {"no eval or exec of strings": _no_eval_exec, "torch.load only with weights_only": _torch_load_weights_only,
         "results are JSON, never pickles": _results_are_json_not_pickles,
         "ids cannot escape the output folder": _paths_stay_inside_the_output_folder}


@pytest.mark.parametrize("case", FILES)
def test_untrusted_input_is_never_trusted(case):
    FILES[case]()


def test_catalog_size():
    """The counts the README and BENCHMARKS.md quote."""
    assert (len(BAD_DATA) + len(BAD_SETTINGS), len(FAULTS) + 2, len(FILES)) == (30, 6, 4)
