"""Tests for bnbench.engine.data: safe reading of CIFAR-10 batches, data-root resolution, device batching.

Never touches /tmp/cifar or the network: batch files are written into tmp_path the way the official
files are written, and torchvision is replaced by a fake whenever a download would start.
"""
import gc
import io
import os
import pickle
import pickletools
import socket
import struct
import sys
import types
import urllib.error
import warnings
import weakref

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bnbench.engine import data as D
from bnbench.errors import ConfigError, DataError

FAST = settings(max_examples=20, deadline=None)


# -----------------------------------------------------------------------------
# writing batch files like the official ones

class _Py2StrPickler(pickle._Pickler):
    """Bytes as Python 2 str opcodes (as the official files have them), so no _codecs.encode global."""
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_str(self, obj):
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256
                   else pickle.BINSTRING + struct.pack("<I", n) + obj)
        self.memoize(obj)
    dispatch[bytes] = _save_str


def official_pickle(obj, numpy_core_name=True) -> bytes:
    buf = io.BytesIO()
    _Py2StrPickler(buf, protocol=2, fix_imports=False).dump(obj)
    out = buf.getvalue()
    if numpy_core_name:  # the official files name numpy.core, which numpy 2 only keeps as an alias
        out = out.replace(b"cnumpy._core.multiarray\n_reconstruct\n", b"cnumpy.core.multiarray\n_reconstruct\n")
    return out


def write_batch(path, data, labels, str_keys=False, numpy_core_name=True):
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    obj = {key("batch_label"): b"training batch", key("labels"): [int(v) for v in labels], key("data"): data,
           key("filenames"): [b"img_%05d.png" % i for i in range(len(labels))]}
    path.write_bytes(official_pickle(obj, numpy_core_name))
    return path


def make_batches_dir(root, per_file=10, seed=0):
    """A complete tiny cifar-10-batches-py/: 5 train files + test file, each class once per file."""
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    for name in D.TRAIN_FILES + D.TEST_FILES:
        labels = rng.permutation(np.arange(per_file) % 10)
        write_batch(d / name, rng.integers(0, 256, (per_file, 3072), dtype=np.uint8), labels)
    meta = {b"label_names": [c.encode() for c in D.CLASSES], b"num_cases_per_batch": per_file, b"num_vis": 3072}
    (d / "batches.meta").write_bytes(official_pickle(meta))
    return d


@pytest.fixture(autouse=True)
def _fresh_cache():
    D.clear_cache()
    yield
    D.clear_cache()


@pytest.fixture
def tiny_counts(monkeypatch):
    monkeypatch.setattr(D, "EXPECTED_TRAIN", 50)
    monkeypatch.setattr(D, "EXPECTED_TEST", 10)


def assert_one_line_naming(err, *parts):
    msg = str(err.value)
    assert "\n" not in msg
    for p in parts:
        assert str(p) in msg, (p, msg)


# -----------------------------------------------------------------------------
# read_batch

@FAST
@given(n=st.integers(0, 12), seed=st.integers(0, 2**32 - 1), str_keys=st.booleans(), core=st.booleans())
def test_read_batch_round_trip(tmp_path_factory, n, seed, str_keys, core):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    path = write_batch(tmp_path_factory.mktemp("b") / "data_batch_1", data, labels, str_keys, core)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy.core must not be imported (deprecated under numpy 2)
        images, got_labels = D.read_batch(path)
    assert images.dtype == np.uint8 and images.shape == (n, 3, 32, 32) and images.flags.c_contiguous
    assert got_labels.dtype == np.int64 and got_labels.shape == (n,)
    np.testing.assert_array_equal(images.reshape(n, 3072), data)
    np.testing.assert_array_equal(got_labels, labels)


def test_read_batch_layout(tmp_path):
    # official row: 1024 red, then 1024 green, then 1024 blue, each 32x32 row-major
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)]).astype(np.uint8)
    row[5 * 32 + 7] = 99  # red channel, image row 5, column 7
    images, _ = D.read_batch(write_batch(tmp_path / "b", row[None], [3]))
    assert images[0, 1].min() == images[0, 1].max() == 20
    assert images[0, 2].min() == images[0, 2].max() == 30
    assert images[0, 0, 5, 7] == 99 and (images[0, 0] == 10).sum() == 1023


class _Payload:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "nested"])
def test_unpickler_refuses_foreign_globals(tmp_path, kind):
    marker = tmp_path / "pwned"
    if kind == "os.system":
        payload, global_name = _Payload(os.system, f"touch {marker}"), f"{os.system.__module__}.system"
    else:
        payload, global_name = _Payload(eval, f"open({str(marker)!r}, 'w').close()"), "builtins.eval"
    if kind == "builtins.eval":  # prove the payload is live when unpickled naively
        pickle.loads(pickle.dumps(payload, protocol=2))
        assert marker.exists()
        marker.unlink()
    obj = payload if kind != "nested" else {b"data": np.zeros((1, 3072), np.uint8), b"labels": [payload]}
    path = tmp_path / "data_batch_1"
    # official_pickle: no _codecs.encode global ahead of the payload's; fix_imports=False keeps builtins.eval
    path.write_bytes(official_pickle(obj))
    with pytest.raises(DataError) as err:
        D.read_batch(path)
    assert_one_line_naming(err, path, global_name, "refusing to unpickle")
    assert not marker.exists()


def test_python3_protocol2_bytes_are_refused(tmp_path):
    # Python 3 writes bytes under protocol 2 as _codecs.encode(...): not in the allow-list
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError) as err:
        D.read_batch(path)
    assert_one_line_naming(err, "_codecs.encode")


def test_safe_load_pickle_accepts_file_objects():
    blob = official_pickle({b"labels": [1, 2], b"data": np.arange(4, dtype=np.uint8)})
    out = D.safe_load_pickle(io.BytesIO(blob), source="memory")
    assert out[b"labels"] == [1, 2] and out[b"data"].tolist() == [0, 1, 2, 3]


_PICKLABLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=3), inner,
                                                                                          max_size=3),
    max_leaves=12)


@FAST
@given(obj=_PICKLABLE, protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_the_opcode_reader_reads_as_pickletools_does(obj, protocol):
    """The survey's reader (``_opcodes``) against ``pickletools.genops``: the same opcodes and arguments, except
    that a counted string is its length in bytes (genops decodes it)."""
    blob = pickle.dumps(obj, protocol=protocol)

    def counted(op, arg):
        if op.name not in D._TEXTS or op.arg.n not in D._COUNTS:
            return arg
        return len(arg.encode("utf-8", "surrogatepass") if "unicode" in op.arg.name else arg)
    assert list(D._opcodes(blob)) == [(op.name, counted(op, arg)) for op, arg, _ in pickletools.genops(blob)]


@pytest.mark.parametrize("protocol", [None, 3, 4])
def test_a_full_size_batch_is_far_inside_the_survey_limits(tmp_path, protocol):
    """10,000 images as the official files are written (None; unpack_jpeg_pack.py writes them so too) or as
    Python 3 re-pickles them: read, with its opcodes and memo entries under a third of the limits."""
    rng = np.random.default_rng(0)
    data, labels = rng.integers(0, 256, (10_000, 3072), dtype=np.uint8), (np.arange(10_000) % 10).tolist()
    path = tmp_path / "data_batch_1"
    if protocol is None:
        write_batch(path, data, labels)
    else:
        path.write_bytes(pickle.dumps({"batch_label": "training batch 1 of 5", "labels": labels, "data": data,
                                       "filenames": [f"img_{i:05d}.png" for i in range(10_000)]}, protocol=protocol))
    names = [name for name, _ in D._opcodes(path.read_bytes())]
    assert len(names) < D.MAX_OPCODES / 3
    assert sum(name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE") for name in names) < D.MAX_MEMO / 3
    images, got = D.read_batch(path)
    assert got.tolist() == labels and np.array_equal(images.reshape(10_000, 3072), data)


def test_the_unpickler_and_the_bytes_it_read_are_freed_at_once(tmp_path, monkeypatch):
    """Its memo and attributes hold its own bound methods (a cycle): broken after each load, so the 31 MB it read
    go back before the next batch is read, not at some later garbage collection."""
    made = []

    class Watched(D._SafeUnpickler):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(weakref.ref(self))

    monkeypatch.setattr(D, "_SafeUnpickler", Watched)
    path = write_batch(tmp_path / "data_batch_1", np.zeros((2, 3072), np.uint8), [0, 1])
    gc.disable()
    try:
        D.read_batch(path)
        assert made[0]() is None
    finally:
        gc.enable()


@FAST
@given(frac=st.floats(0.0, 0.999))
def test_truncated_batch(tmp_path_factory, frac):
    blob = official_pickle({b"data": np.ones((3, 3072), np.uint8), b"labels": [0, 1, 2]})
    path = tmp_path_factory.mktemp("t") / "data_batch_2"
    path.write_bytes(blob[: int(len(blob) * frac)])
    with pytest.raises(DataError) as err:
        D.read_batch(path)
    assert_one_line_naming(err, path, "truncated or corrupt")


@pytest.mark.parametrize("blob", [b"garbage\nmore garbage\n", b"\x80\x02}q\x00(", b"\x80\x05\xff\xff",
                                  bytes(np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8))])
def test_garbage_batch(tmp_path, blob):
    path = tmp_path / "test_batch"
    path.write_bytes(blob)
    with pytest.raises(DataError) as err:
        D.read_batch(path)
    assert_one_line_naming(err, path)


def test_missing_file_is_data_error(tmp_path):
    with pytest.raises(DataError) as err:
        D.read_batch(tmp_path / "nope")
    assert_one_line_naming(err, tmp_path / "nope")


@pytest.mark.parametrize("obj, what", [
    ({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, "(2, 3000)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "float32"),
    ({b"data": np.zeros(3072, np.uint8), b"labels": [0]}, "(3072,)"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "found 10"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [-1, 0]}, "found -1"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]}, "3 labels for 2 images"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0.5, 1.0]}, "integers"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": (0, 1)}, "'labels' is a tuple"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [[0, 1], [1]]}, "flat list"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "'labels'"),
    ([1, 2, 3], "list"),
])
def test_read_batch_rejects_malformed(tmp_path, obj, what):
    path = tmp_path / "data_batch_3"
    path.write_bytes(official_pickle(obj))
    with pytest.raises(DataError) as err:
        D.read_batch(path)
    assert_one_line_naming(err, path, what)


# -----------------------------------------------------------------------------
# where the data lives

def test_resolve_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("BNBENCH_DATA", raising=False)
    assert D.default_cache_root() == tmp_path / "xdg" / "bnbench"
    assert D.resolve_data_root(None) == ((tmp_path / "xdg" / "bnbench").resolve(), "cache")
    monkeypatch.setenv("BNBENCH_DATA", str(tmp_path / "env"))
    assert D.resolve_data_root(None) == ((tmp_path / "env").resolve(), "BNBENCH_DATA")
    assert D.resolve_data_root(str(tmp_path / "opt")) == ((tmp_path / "opt").resolve(), "--bnbench-data")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.resolve_data_root("~/x") == ((tmp_path / "home" / "x").resolve(), "--bnbench-data")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert D.default_cache_root() == tmp_path / "home" / ".cache" / "bnbench"


def test_find_batches_dir(tmp_path):
    assert D.find_batches_dir(tmp_path) is None
    d = make_batches_dir(tmp_path)
    assert D.find_batches_dir(tmp_path) == d
    assert D.find_batches_dir(d) == d


# -----------------------------------------------------------------------------
# load_cifar10

def test_load_cifar10_tiny(tmp_path, tiny_counts):
    d = make_batches_dir(tmp_path)
    data = D.load_cifar10(tmp_path, download=False)
    assert data.train_x.shape == (50, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (10, 3, 32, 32)
    assert data.train_y.dtype == torch.int64 and data.train_y.bincount().tolist() == [5] * 10
    assert data.source == str(d.resolve())
    x0, _ = D.read_batch(d / "data_batch_1")
    assert torch.equal(data.train_x[:10], torch.from_numpy(x0))
    assert D.load_cifar10(d, download=False) is data  # cached by resolved folder


def test_load_cifar10_uses_env(tmp_path, tiny_counts, monkeypatch):
    make_batches_dir(tmp_path / "env")
    monkeypatch.setenv("BNBENCH_DATA", str(tmp_path / "env"))
    assert len(D.load_cifar10(download=False).train_y) == 50


def test_load_cifar10_missing_no_download(tmp_path, monkeypatch):
    monkeypatch.setenv("BNBENCH_DATA", str(tmp_path))
    with pytest.raises(DataError) as err:
        D.load_cifar10(download=False)
    assert_one_line_naming(err, tmp_path.resolve(), "(from BNBENCH_DATA)", "--bnbench-data", "BNBENCH_DATA=")


def test_load_cifar10_incomplete_dir(tmp_path, tiny_counts):
    d = make_batches_dir(tmp_path)
    (d / "data_batch_3").unlink()
    with pytest.raises(DataError) as err:
        D.load_cifar10(tmp_path, download=True)  # never downloads over a partial copy
    assert_one_line_naming(err, d / "data_batch_3", "--bnbench-data", "BNBENCH_DATA")


def test_load_cifar10_short_file(tmp_path, tiny_counts):
    d = make_batches_dir(tmp_path)
    write_batch(d / "data_batch_4", np.zeros((9, 3072), np.uint8), np.arange(9))
    with pytest.raises(DataError) as err:
        D.load_cifar10(tmp_path, download=False)
    assert_one_line_naming(err, d / "data_batch_4", "holds 9 images, expected 10")


def test_load_cifar10_class_counts(tmp_path, tiny_counts):
    d = make_batches_dir(tmp_path)
    write_batch(d / "test_batch", np.zeros((10, 3072), np.uint8), [0] * 10)
    with pytest.raises(DataError) as err:
        D.load_cifar10(tmp_path, download=False)
    assert_one_line_naming(err, "test images per class", "expected 1 each")


def test_real_counts_are_the_official_ones():
    assert (D.EXPECTED_TRAIN, D.EXPECTED_TEST) == (50_000, 10_000)
    assert D.CLASSES[0] == "airplane" and D.CLASSES[9] == "truck" and len(D.CLASSES) == 10


def fake_torchvision(monkeypatch, cifar_cls):
    tv = types.ModuleType("torchvision")
    tv.datasets = types.ModuleType("torchvision.datasets")
    tv.datasets.CIFAR10 = cifar_cls
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", tv.datasets)


class _Offline:
    url = "https://example.invalid/cifar-10-python.tar.gz"
    timeouts = []

    def __init__(self, root, train, download):
        _Offline.timeouts.append(socket.getdefaulttimeout())
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def test_download_offline(tmp_path, monkeypatch):
    fake_torchvision(monkeypatch, _Offline)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("BNBENCH_DATA", raising=False)
    before = socket.getdefaulttimeout()
    with pytest.raises(DataError) as err:
        D.load_cifar10(None, download=True)
    assert_one_line_naming(err, _Offline.url, tmp_path / "bnbench", "offline", "--bnbench-data", "BNBENCH_DATA")
    assert _Offline.timeouts[-1] == D.DOWNLOAD_TIMEOUT_S  # a timeout was in force during the download
    assert socket.getdefaulttimeout() == before  # and restored after


def test_download_offline_real_torchvision_class(tmp_path, monkeypatch):
    tvd = pytest.importorskip("torchvision.datasets")
    monkeypatch.setattr(tvd, "CIFAR10", _Offline)
    with pytest.raises(DataError) as err:
        D.download_cifar10(tmp_path)
    assert_one_line_naming(err, "offline", tmp_path)


def test_download_then_load(tmp_path, monkeypatch, tiny_counts):
    class Works:
        def __init__(self, root, train, download):
            assert download and train
            make_batches_dir(tmp_path / "dl")

    fake_torchvision(monkeypatch, Works)
    data = D.load_cifar10(tmp_path / "dl", download=True, download_into_given=True)
    assert data.source == str((tmp_path / "dl" / "cifar-10-batches-py").resolve())


def test_a_named_folder_without_the_data_is_a_mistyped_path_not_a_download(tmp_path, monkeypatch):
    class Refuses:
        def __init__(self, *args, **kwargs):
            raise AssertionError("downloaded into a folder the user named without --bnbench-download")

    fake_torchvision(monkeypatch, Refuses)
    with pytest.raises(DataError, match="--bnbench-download") as err:
        D.load_cifar10(tmp_path / "typo", download=True)
    assert str(tmp_path / "typo") in str(err.value) and not (tmp_path / "typo").exists()


# -----------------------------------------------------------------------------
# stratified_subset

@FAST
@given(per_class=st.integers(0, 6), seed=st.integers(0, 1000), n=st.integers(60, 120))
def test_stratified_subset(per_class, seed, n):
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=torch.Generator().manual_seed(n))]
    idx = D.stratified_subset(labels, per_class, seed)
    assert idx.dtype == torch.int64
    assert torch.equal(idx, idx.sort().values) and len(idx.unique()) == len(idx)
    assert labels[idx].bincount(minlength=10).tolist() == [per_class] * 10
    assert torch.equal(idx, D.stratified_subset(labels, per_class, seed))


def test_stratified_subset_seed_matters_and_too_many():
    labels = torch.arange(1000) % 10
    a, b = D.stratified_subset(labels, 20, 0), D.stratified_subset(labels, 20, 1)
    assert not torch.equal(a, b)
    with pytest.raises(ConfigError, match="only 100"):
        D.stratified_subset(labels, 101, 0)


# -----------------------------------------------------------------------------
# DeviceSplit

def indexed_split(n, **kw):
    """Images whose pixels encode their index, labels = index: every yielded example is identifiable."""
    x = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 32, 32).contiguous()
    return D.DeviceSplit(x, torch.arange(n), "cpu", **kw)


@FAST
@given(n=st.integers(1, 40), batch_size=st.integers(1, 16), shuffle=st.booleans(), augment=st.booleans(),
       seed=st.integers(0, 100))
def test_batches_cover_every_example_once(n, batch_size, shuffle, augment, seed):
    split = indexed_split(n)
    g = torch.Generator().manual_seed(seed)
    got = list(split.batches(batch_size, shuffle=shuffle, generator=g, augment=augment))
    assert [len(y) for _, y in got] == [min(batch_size, n - s) for s in range(0, n, batch_size)]
    ys = torch.cat([y for _, y in got])
    assert sorted(ys.tolist()) == list(range(n))
    if not shuffle:
        assert ys.tolist() == list(range(n))
    if not augment:  # the pixels travelled with their label
        xs = torch.cat([x for x, _ in got])
        assert torch.allclose((xs[:, :, 0, 0] + 1) * 127.5, ys[:, None].float().expand(-1, 3), atol=1e-3)


def test_batches_seeded_permutation():
    split = indexed_split(100)

    def epoch(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.cat([y for _, y in split.batches(32, shuffle=True, generator=g, augment=True)])

    assert torch.equal(epoch(3), epoch(3))
    assert not torch.equal(epoch(3), epoch(4))
    g = torch.Generator().manual_seed(3)
    e1 = torch.cat([y for _, y in split.batches(32, shuffle=True, generator=g)])
    e2 = torch.cat([y for _, y in split.batches(32, shuffle=True, generator=g)])
    assert not torch.equal(e1, e2)  # a new permutation each epoch


def test_normalization():
    x = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    x[1] = 255
    (out, _), = D.DeviceSplit(x, torch.zeros(2), "cpu").batches(8, shuffle=False)
    assert out.dtype == torch.float32
    assert torch.allclose(out[0], torch.tensor(-1.0)) and torch.allclose(out[1], torch.tensor(1.0))
    (out, _), = D.DeviceSplit(x, torch.zeros(2), "cpu", "cifar10", channels_last=True).batches(
        8, shuffle=False, dtype=torch.bfloat16)
    assert out.dtype == torch.bfloat16 and out.is_contiguous(memory_format=torch.channels_last)
    mean, std = D.NORMALIZATIONS["cifar10"]
    assert torch.allclose(out[0, :, 0, 0].float(), -torch.tensor(mean) / torch.tensor(std), atol=2e-2)
    with pytest.raises(ConfigError, match="course"):
        D.DeviceSplit(x, torch.zeros(2), "cpu", "imagenet")
    from bnbench.engine.config import NORMALIZATIONS
    assert tuple(D.NORMALIZATIONS) == NORMALIZATIONS   # the torch-free names config validates are this table's


# -----------------------------------------------------------------------------
# augment_batch

def _is_crop_of(out, img, padding):
    padded = torch.nn.functional.pad(img, (padding,) * 4)
    h, w = img.shape[1:]
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy:dy + h, dx:dx + w]
            if torch.equal(out, crop) or torch.equal(out, crop.flip(-1)):
                return True
    return False


@FAST
@given(seed=st.integers(0, 10_000), padding=st.integers(0, 4))
def test_augment_is_crop_and_flip(seed, padding):
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    out = D.augment_batch(x, torch.Generator().manual_seed(seed), padding=padding)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert all(_is_crop_of(out[i], x[i], padding) for i in range(len(x)))


def test_augment_padding_zero_and_seeds():
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = D.augment_batch(x, torch.Generator().manual_seed(0), padding=0)
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert (same | flipped).all() and same.any() and flipped.any()
    a = D.augment_batch(x, torch.Generator().manual_seed(1))
    b = D.augment_batch(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, D.augment_batch(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, b)


# -----------------------------------------------------------------------------
# synthetic_cifar

def test_synthetic_cifar():
    s = D.synthetic_cifar(n_train=200, n_test=50, seed=1)
    assert s.source == "synthetic"
    assert s.train_x.shape == (200, 3, 32, 32) and s.train_x.dtype == torch.uint8
    assert s.test_x.shape == (50, 3, 32, 32) and s.test_y.dtype == torch.int64
    assert s.train_y.bincount().tolist() == [20] * 10 and s.test_y.bincount().tolist() == [5] * 10
    assert torch.equal(s.train_x, D.synthetic_cifar(200, 50, seed=1).train_x)
    assert D.synthetic_cifar(30, 10, classes=3).train_y.bincount().tolist() == [10, 10, 10]


def test_synthetic_classes_are_separable():
    # nearest class mean on the train set classifies the test set: the classes carry signal
    s = D.synthetic_cifar(n_train=500, n_test=200, seed=0)
    means = torch.stack([s.train_x[s.train_y == c].float().mean(0) for c in range(10)])
    dist = torch.cdist(s.test_x.float().flatten(1), means.flatten(1))
    assert (dist.argmin(1) == s.test_y).float().mean() > 0.9
