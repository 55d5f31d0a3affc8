"""CIFAR-10 for bnbench: safe loading of the python-version batches, and batching on the device.

Where the data comes from, in order of precedence:

1. ``--bnbench-data DIR`` (the ``option`` argument of :func:`resolve_data_root`),
2. the environment variable ``BNBENCH_DATA=DIR``,
3. the cache, ``$XDG_CACHE_HOME/bnbench`` or ``~/.cache/bnbench``.

``DIR`` is either a ``cifar-10-batches-py/`` folder itself or a folder that holds one. If the
folder holds no batches, :func:`load_cifar10` downloads the official archive into it with
torchvision (needs network), unless ``download=False``.

The batch files are pickles, so they are read with an unpickler that only builds the numpy types
a CIFAR-10 batch needs: a tampered file cannot run code. Once loaded, a split lives on the
training device as one uint8 tensor (:class:`DeviceSplit`); shuffling, augmentation and
normalisation are batched tensor ops, with no DataLoader and no per-image Python.
"""
from __future__ import annotations

import functools
import io
import os
import pickle
import pickletools
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bnbench.errors import ConfigError, DataError
from bnbench.text import plain

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NORMALIZATIONS = {
    "course": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # the study's ToTensor + Normalize(0.5, 0.5)
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),  # official train statistics
}
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
BATCHES_DIRNAME = "cifar-10-batches-py"
EXPECTED_TRAIN = 50_000
EXPECTED_TEST = 10_000
DOWNLOAD_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
DOWNLOAD_TIMEOUT_S = 30.0

_FIX = "pass --bnbench-data DIR or set BNBENCH_DATA=DIR to a folder holding cifar-10-batches-py/"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(message: str) -> DataError:
    return DataError(plain(_one_line(message)))   # names from a file or a path can carry terminal escapes


# -----------------------------------------------------------------------------
# reading the batch files

# A batch file is at most this large: the official ones are 30.9-31.0 MB (10,000 images of 3,072 bytes, their labels
# and file names). Anything larger is not a CIFAR-10 batch, and is refused before it is read.
MAX_BATCH_BYTES = 48 * 1024 * 1024
_ARRAY_KINDS = "biuf"            # bool, signed / unsigned integers, floats: what a batch (or a damaged one) holds

# What the pickle may build, checked on its opcodes before anything is built (``_survey``). An official batch (10,000
# images) has 30,108 opcodes, 10,023 memo entries (0..10,022), nests 5 deep, has no integer above 10,000 and shares
# nothing, so no object in it expands to more than the file's size. Each limit leaves room for a re-pickled copy.
MAX_OPCODES = 1 << 17            # bounds the objects, references and container items it can make: one per opcode
MAX_MEMO = 1 << 15               # memo indices: the unpickler's memo table grows to twice the largest one
MAX_DEPTH = 16                   # containers inside containers
MAX_INT_BITS = 64                # a shape or a label; wider integers make the shape arithmetic slow
_SHARING_SLACK = 4096            # what a re-pickled copy may share (Python's pickler memoises equal objects)
_NUMBERS = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})
_TEXTS = frozenset({"STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
                    "BYTEARRAY8", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"})
_OTHER_LEAVES = frozenset({"NONE", "NEWTRUE", "NEWFALSE", "FLOAT", "BINFLOAT", "GLOBAL", "EXT1", "EXT2", "EXT4",
                           "PERSID", "NEXT_BUFFER"})
_BUILT_FROM_MARK = frozenset({"TUPLE", "LIST", "DICT", "FROZENSET", "INST", "OBJ"})
_BUILT_FROM = {"EMPTY_LIST": 0, "EMPTY_DICT": 0, "EMPTY_SET": 0, "EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2,
               "TUPLE3": 3, "REDUCE": 2, "NEWOBJ": 2, "NEWOBJ_EX": 3, "STACK_GLOBAL": 2, "BINPERSID": 1}
_FILLED_FROM_MARK = frozenset({"APPENDS", "SETITEMS", "ADDITEMS"})
_FILLED_FROM = {"APPEND": 1, "SETITEM": 2, "BUILD": 1}
_NO_OBJECT = frozenset({"PROTO", "FRAME", "READONLY_BUFFER", "STOP"})
_COUNTS = {pickletools.TAKEN_FROM_ARGUMENT1: "<B", pickletools.TAKEN_FROM_ARGUMENT4: "<i",
           pickletools.TAKEN_FROM_ARGUMENT4U: "<I", pickletools.TAKEN_FROM_ARGUMENT8U: "<Q"}
_FIXED = {"uint1": "<B", "uint2": "<H", "int4": "<i", "uint4": "<I", "uint8": "<Q", "float8": ">d"}


def _opcode_table() -> list:
    """Per opcode byte: (name, how its argument is read, whether that argument is a string counted before it)."""
    table = [None] * 256
    for op in pickletools.opcodes:
        if op.arg is None:
            table[ord(op.code)] = (op.name, None, False)
        elif op.arg.name in _FIXED:
            table[ord(op.code)] = (op.name, struct.Struct(_FIXED[op.arg.name]), False)
        elif op.name in _TEXTS and op.arg.n in _COUNTS:
            table[ord(op.code)] = (op.name, struct.Struct(_COUNTS[op.arg.n]), True)
        else:                                           # text lines, LONG1 / LONG4: pickletools' own reader
            table[ord(op.code)] = (op.name, op.arg.reader, False)
    return table


_OPCODES = _opcode_table()


def _opcodes(blob: bytes):
    """(name, argument) of each opcode up to STOP, read with pickletools' opcode table and argument readers as
    ``pickletools.genops`` reads them, except that a counted string comes as its length, checked to be inside the
    file: genops copies and decodes every string, which for a batch's 30 MB of pixels costs three times the rest
    of the pass, and reads every opcode through a file object (measured per batch: genops 46 ms of CPU, this 6)."""
    f = io.BytesIO(blob)
    pos, end = 0, len(blob)
    while pos < end:
        entry = _OPCODES[blob[pos]]
        if entry is None:
            raise ValueError(f"unknown opcode {blob[pos:pos + 1]!r} at byte {pos:,}")
        name, how, counted = entry
        pos += 1
        if how is None:
            arg = None
        elif isinstance(how, struct.Struct):
            (arg,) = how.unpack_from(blob, pos)
            pos += how.size
            if counted:
                if arg < 0 or pos + arg > end:
                    raise ValueError(f"a {name} of {arg:,} bytes runs past the end of the file")
                pos += arg
        else:
            f.seek(pos)
            arg = how(f)
            pos = f.tell()
        yield name, arg
        if name == "STOP":
            return
    raise ValueError("the pickle ends before its STOP")


def _survey(blob: bytes, refuse) -> None:
    """Replay the pickle's opcodes on a model of its stack and memo, to refuse what it would build before the
    unpickler builds it: a memo index that grows the memo table to GiBs (9 bytes suffice), more opcodes than a batch
    has, huge integers, deep nesting, a container that holds itself, and references back to what it already built
    (one string or one list repeated through the memo: a 7.9 KB file whose labels amount to 3 GB once numpy
    expands them; a tuple of itself twice, 100 times over, that a dict key would hash forever). Every string's
    declared length is checked against the file's end too (``_opcodes``), before the unpickler would allocate it.

    On the model's stack a built object is a node (an index into ``weight`` / ``kids``) and anything else a leaf,
    ``~w`` for its weight w (a string's length, else 1). Every byte of a pickle makes at most one unit of weight, so
    a pickle that shares nothing expands to at most its own size: the expanded size of every object (each reference
    counted as a copy) is held to that, plus a little for what a re-pickled copy shares."""
    weight: list[int] = []           # per node: 1, plus the weights of the leaves put into it
    kids: list[list[int]] = []       # per node: the nodes put into it (a node put twice is counted twice)
    stack: list[int] = []
    marks: list[int] = []
    memo: dict[int, int] = {}

    def pop(k: int) -> list[int]:
        start = len(stack) - k
        if start < (marks[-1] if marks else 0):
            raise ValueError("stack underflow")
        items = stack[start:]
        del stack[start:]
        return items

    def pop_mark() -> list[int]:
        items = stack[marks[-1]:]
        del stack[marks.pop():]
        return items

    def fill(node: int, items: list[int]) -> None:
        if node < 0:
            raise ValueError("items put into something that is not a container")
        for item in items:
            if item < 0:
                weight[node] += ~item
            else:
                kids[node].append(item)

    def build(items: list[int]) -> None:
        weight.append(1)
        kids.append([])
        fill(len(weight) - 1, items)
        stack.append(len(weight) - 1)

    def remember(index: int) -> None:
        if not 0 <= index < MAX_MEMO:
            raise refuse(f"it uses the memo index {index:,}; a CIFAR-10 batch needs fewer than {MAX_MEMO:,}")
        memo[index] = stack[-1]

    for count, (name, arg) in enumerate(_opcodes(blob)):
        if count >= MAX_OPCODES:
            raise refuse(f"it has more than {MAX_OPCODES:,} opcodes; a CIFAR-10 batch has about 30,000")
        if name in _TEXTS:                      # the most frequent opcodes first: a batch's file names...
            stack.append(~(arg if isinstance(arg, int) else len(arg)))
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            remember(arg)
        elif name in _NUMBERS:                  # ... and labels
            if arg.bit_length() > MAX_INT_BITS:
                raise refuse(f"it holds a {arg.bit_length():,}-bit integer")
            stack.append(~1)
        elif name in _OTHER_LEAVES:
            stack.append(~1)
        elif name in _BUILT_FROM:
            build(pop(_BUILT_FROM[name]))
        elif name in _BUILT_FROM_MARK:
            build(pop_mark())
        elif name in _FILLED_FROM:
            items = pop(_FILLED_FROM[name])
            fill(stack[-1], items)
        elif name in _FILLED_FROM_MARK:
            items = pop_mark()
            fill(stack[-1], items)
        elif name == "MARK":
            marks.append(len(stack))
        elif name == "POP" and marks and marks[-1] == len(stack):
            marks.pop()
        elif name == "POP":
            pop(1)
        elif name == "POP_MARK":
            pop_mark()
        elif name == "DUP":
            stack.append(stack[-1])
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "MEMOIZE":
            remember(len(memo))
        elif name not in _NO_OBJECT:
            raise refuse(f"it uses the opcode {name}, which no CIFAR-10 batch does")
    _check_extent(weight, kids, len(blob) + _SHARING_SLACK, refuse)


def _check_extent(weight: list[int], kids: list[list[int]], most: int, refuse) -> None:
    """The expanded size and the depth of every object ``_survey`` modelled (whether the pickle returns it or only
    hashes it as a dict key), walked without recursion, each node once."""
    size, height = [-1] * len(weight), [0] * len(weight)
    on_path = bytearray(len(weight))
    for root in range(len(weight)):
        if size[root] >= 0:
            continue
        path = [(root, 0)]
        on_path[root] = 1
        while path:
            node, i = path[-1]
            if i < len(kids[node]):
                path[-1] = (node, i + 1)
                kid = kids[node][i]
                if on_path[kid]:
                    raise refuse("it builds a container that holds itself")
                if size[kid] < 0:
                    on_path[kid] = 1
                    path.append((kid, 0))
                continue
            path.pop()
            on_path[node] = 0
            size[node] = min(most + 1, weight[node] + sum(size[k] for k in kids[node]))
            height[node] = 1 + max((height[k] for k in kids[node]), default=0)
            if height[node] > MAX_DEPTH:
                raise refuse(f"it nests containers more than {MAX_DEPTH} deep")
            if size[node] > most:
                raise refuse(f"it refers back to what it already built until one object amounts to more than "
                             f"{most:,} bytes, more than the file itself holds ({most - _SHARING_SLACK:,} bytes)")


def _reconstruct_function():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2 (and 1.26's alias)
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


_RECONSTRUCT = _reconstruct_function()


class _NdarrayName:
    """What the pickle's ``numpy.ndarray`` global stands for: only the first argument of ``_reconstruct`` (as
    numpy pickles an array). Called directly it could build an array over any buffer with any shape and strides
    (zero strides make gigabytes out of one byte), so a call is refused."""

    def __init__(self, unpickler: "_SafeUnpickler"):
        self.unpickler = unpickler

    def __call__(self, *args, **kwargs):
        raise self.unpickler.refuse("it calls numpy.ndarray directly (numpy pickles an array through "
                                    "_reconstruct, never so)")


class _GuardedArray(np.ndarray):
    """The arrays a batch unpickles into, until ``read_batch`` views them as plain ndarrays: their state (shape,
    dtype, raw bytes) is checked before numpy builds them (``_SafeUnpickler.check_array_state``)."""

    def __setstate__(self, state):
        self._unpickler.check_array_state(state)
        super().__setstate__(state)


class _Bytes:
    """The file's bytes as the unpickler reads them, handed out as views (it copies what it keeps): the bytes read
    once for ``_survey`` are unpickled without a second copy of 30 MB of pixels, and ``peek`` lets it read ahead
    as from a buffered file (without it, the unpickler makes a Python call per opcode). ``readinto`` serves the
    bytes objects of protocol 3 and later, which the unpickler reads only from bytes or into its own buffer."""

    def __init__(self, blob: bytes):
        self.blob, self.view, self.pos = blob, memoryview(blob), 0

    def read(self, n: int = -1) -> memoryview:
        start, self.pos = self.pos, len(self.blob) if n < 0 else min(len(self.blob), self.pos + n)
        return self.view[start:self.pos]

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def peek(self, n: int = 1) -> memoryview:
        return self.view[self.pos:self.pos + max(n, 1)]

    def readline(self) -> memoryview:
        end = self.blob.find(b"\n", self.pos)
        return self.read(-1 if end < 0 else end + 1 - self.pos)


class _SafeUnpickler(pickle.Unpickler):
    """Builds only what a CIFAR-10 batch is made of: dicts, lists, strings, numbers, and numpy arrays of plain
    numeric dtypes, and only once a first pass over the opcodes (``_survey``) has bounded what the pickle builds.
    The allowed globals are bounded too: every array's bytes are counted against the file's own size (an array's
    raw bytes are in the file; one bytes object shared by many arrays, a huge shape or zero strides are how a
    100-byte pickle would otherwise expand to gigabytes), dtypes are plain numbers (no object, structured or
    sub-array types), and ``numpy.ndarray`` is never called."""

    def __init__(self, blob: bytes, source: str):
        super().__init__(_Bytes(blob), encoding="bytes")
        self.blob = blob
        self.source = source
        self.budget = len(blob) + 4096          # bytes of array data this file can hold, all arrays together
        guarded = type("_Guarded", (_GuardedArray,), {"_unpickler": self})
        self._array_type = guarded
        self._ndarray = _NdarrayName(self)
        self._allowed = {
            ("numpy.core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy", "ndarray"): self._ndarray,
            ("numpy", "dtype"): self._dtype,
        }

    def load(self):
        _survey(self.blob, self.refuse)     # the very bytes unpickled next: read once, never re-read from the disk
        return super().load()

    def refuse(self, why: str) -> DataError:
        return _error(f"{self.source}: refusing to unpickle: {why}; the file is not a CIFAR-10 batch or has been "
                      "tampered with. Delete it and point bnbench at a clean copy (--bnbench-data DIR or "
                      "BNBENCH_DATA=DIR, or delete the cache folder and let bnbench download it again).")

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise self.refuse(f"it names the global {f'{module}.{name}'[:100]}, which is not one of the numpy "
                              "types a CIFAR-10 batch needs") from None

    # -- the allowed globals, bounded ---------------------------------------------------------------------------
    def _plain_dtype(self, dt) -> np.dtype:
        try:
            dt = dt if isinstance(dt, np.dtype) else np.dtype(dt.decode("ascii") if isinstance(dt, bytes) else dt)
        except (TypeError, ValueError, UnicodeDecodeError):
            raise self.refuse(f"it asks for the dtype {str(dt)[:40]!r}") from None
        if (dt.kind not in _ARRAY_KINDS or dt.itemsize not in (1, 2, 4, 8) or dt.subdtype is not None
                or dt.names is not None or dt.hasobject):
            raise self.refuse(f"it asks for the dtype {str(dt)[:40]!r}, not a plain number type")
        return dt

    def _dtype(self, spec, align=False, copy=False):
        if not isinstance(spec, (str, bytes)) or len(spec) > 8:
            raise self.refuse(f"it builds a dtype from {type(spec).__name__} {str(spec)[:40]!r}")
        self._plain_dtype(spec)
        # copy=True whatever the file says: the dtype's state is set next, and the shared uint8 dtype must not be it
        return np.dtype(spec.decode("ascii") if isinstance(spec, bytes) else spec, bool(align), True)

    def _take(self, shape, dt: np.dtype) -> int:
        shape = (shape,) if isinstance(shape, int) else shape
        if not (isinstance(shape, tuple) and len(shape) <= 8
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape)):
            raise self.refuse(f"an array's shape is {str(shape)[:60]}")
        nbytes = dt.itemsize
        for n in shape:
            nbytes *= n
        if nbytes > self.budget:
            raise self.refuse(f"its arrays would take {nbytes:,} bytes, more than the file itself holds "
                              f"({self.budget - 4096:,} bytes)")
        self.budget -= nbytes
        return nbytes

    def _reconstruct(self, subtype, shape, dtype):
        if subtype is not self._ndarray:
            raise self.refuse("_reconstruct is asked for something other than numpy.ndarray")
        dt = self._plain_dtype(dtype)
        self._take(shape, dt)
        return _RECONSTRUCT(self._array_type, shape, dt)

    def check_array_state(self, state) -> None:
        """numpy's array state: (version, shape, dtype, is_fortran, raw bytes), or without the version."""
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise self.refuse("an array's state is not numpy's")
        shape, dtype, _fortran, raw = state[-4:]
        if not isinstance(dtype, np.dtype):
            raise self.refuse("an array's state has no dtype")
        nbytes = self._take(shape, self._plain_dtype(dtype))
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != nbytes:
            raise self.refuse(f"an array of {nbytes:,} bytes comes with "
                              f"{len(raw) if isinstance(raw, (bytes, bytearray)) else type(raw).__name__} bytes of data")


def _load(f, source: str):
    blob = f.read(MAX_BATCH_BYTES + 1)
    if len(blob) > MAX_BATCH_BYTES:
        raise _error(f"{source}: more than {MAX_BATCH_BYTES:,} bytes, more than a CIFAR-10 batch file can be; the "
                     f"file is not a CIFAR-10 batch. Fix: re-download or re-unpack it, or {_FIX}.")
    unpickler = _SafeUnpickler(blob, source)
    try:
        return unpickler.load()
    finally:   # the arrays keep their class, not the unpickler; its cycles (memo and attributes -> its bound methods
        # -> it) broken, so that it and the bytes it read are freed now, not at the next garbage collection
        unpickler._array_type._unpickler = None
        unpickler.memo.clear()
        unpickler.__dict__.clear()


def safe_load_pickle(path_or_file, *, source: str) -> object:
    """Unpickle a CIFAR-10 batch, building only bounded ndarray / dtype objects (``_SafeUnpickler``) from a
    regular file (or a file object) of at most ``MAX_BATCH_BYTES``. Errors are DataError."""
    try:
        if hasattr(path_or_file, "read"):
            return _load(path_or_file, source)
        # O_NONBLOCK: a FIFO planted as a batch file must not hang the run; it is refused below
        fd = os.open(path_or_file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _error(f"{source}: not a regular file; a CIFAR-10 batch is a plain file. Fix: {_FIX}.")
            return _load(f, source)
    except DataError:
        raise
    except OSError as e:
        raise _error(f"{source}: cannot read the file ({e.strerror or e}). Fix: check it exists and is readable, "
                     f"or {_FIX}.") from None
    except MemoryError:
        raise _error(f"{source}: ran out of memory reading it; the file is not a CIFAR-10 batch. Fix: {_FIX}.") from None
    except Exception as e:  # EOFError, UnpicklingError, ValueError, ... all mean a broken file
        detail = _one_line(f"{type(e).__name__}: {e}")[:200]
        raise _error(
            f"{source}: the file is truncated or corrupt ({detail}). Fix: delete it and re-download CIFAR-10 "
            "(or re-unpack it: python unpack_jpeg_pack.py PACK.npz DIR), or " + _FIX + "."
        ) from None


def _plain_arrays(x):
    """The unpickled batch with its arrays viewed as plain ndarrays (the guard's subclass dropped)."""
    if isinstance(x, np.ndarray):
        return x.view(np.ndarray)
    if isinstance(x, dict):
        return {k: _plain_arrays(v) for k, v in x.items()}
    return x


def _get(d: dict, key: str):
    # encoding='bytes' gives bytes keys for Python 2 pickles; files re-pickled under Python 3 have str keys
    if key.encode() in d:
        return d[key.encode()]
    return d.get(key)


def read_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images uint8 (N,3,32,32) C-contiguous, labels int64 (N,))."""
    source = str(path)
    d = _plain_arrays(safe_load_pickle(path, source=source))
    if not isinstance(d, dict):
        raise _error(f"{source}: expected a dict with 'data' and 'labels', found a {type(d).__name__}; "
                     "the file is not a CIFAR-10 batch.")
    data, labels = _get(d, "data"), _get(d, "labels")
    if data is None or labels is None:
        missing = [k for k, v in (("data", data), ("labels", labels)) if v is None]
        raise _error(f"{source}: the dict has no {' or '.join(repr(k) for k in missing)} entry; "
                     "the file is not a CIFAR-10 batch.")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = (f"a {data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else f"a {type(data).__name__}")
        raise _error(f"{source}: 'data' is {what}; a CIFAR-10 batch holds a uint8 array of shape (N, 3072).")
    n = data.shape[0]
    # checked item by item before numpy sees them: np.asarray expands nested or repeated objects without a bound
    if type(labels) is not list:
        raise _error(f"{source}: 'labels' is a {type(labels).__name__}; a CIFAR-10 batch holds a flat list of "
                     "integers.")
    odd = [type(v).__name__ for v in labels if type(v) is not int]
    if odd:
        raise _error(f"{source}: 'labels' must be a flat list of integers, found a {odd[0]} in it "
                     f"({len(odd)} not integers).")
    if len(labels) != n:
        raise _error(f"{source}: {len(labels)} labels for {n} images; the file is truncated or not a CIFAR-10 batch.")
    bad = [v for v in labels if not 0 <= v < len(CLASSES)]
    if bad:
        raise _error(f"{source}: labels must be in 0..{len(CLASSES) - 1}, found {bad[0]} "
                     f"({len(bad)} out of range); the file is corrupt or not a CIFAR-10 batch.")
    images = np.ascontiguousarray(data.reshape(n, 3, 32, 32))
    return images, np.array(labels, dtype=np.int64)


# -----------------------------------------------------------------------------
# where the data lives

def _is_file(path: Path) -> bool:
    """``path.is_file()``, with what the OS refuses (a folder without read or search permission) as one line."""
    try:
        return path.is_file()
    except OSError as e:
        raise _error(f"cannot look for {path} ({e.strerror or e}). Fix: make the folder readable, or {_FIX}.") from None


def find_batches_dir(root) -> Path | None:
    root = Path(root)
    for d in (root, root / BATCHES_DIRNAME):
        if _is_file(d / TRAIN_FILES[0]):
            return d
    return None


def default_cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "bnbench"


def resolve_data_root(option: str | None = None) -> tuple[Path, str]:
    """(root, how): --bnbench-data beats BNBENCH_DATA beats the cache."""
    if option:
        given, how = option, "--bnbench-data"
    elif os.environ.get("BNBENCH_DATA"):
        given, how = os.environ["BNBENCH_DATA"], "BNBENCH_DATA"
    else:
        given, how = None, "cache"
    try:
        path = Path(given) if given else default_cache_root()
        return path.expanduser().resolve(), how
    except (OSError, RuntimeError) as e:      # ~nouser, a link loop, no home folder to find the cache in
        raise _error(f"cannot use {given or 'the cache folder'} (from {how}) as the data folder ({e}). "
                     f"Fix: {_FIX}.") from None


# -----------------------------------------------------------------------------
# the data set

@dataclass(frozen=True)
class CIFAR10:
    train_x: torch.Tensor  # uint8 (N,3,32,32)
    train_y: torch.Tensor  # int64 (N,)
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str


def _read_split(batches_dir: Path, files: tuple[str, ...], expected: int, split: str):
    per_file = expected // len(files)
    xs, ys = [], []
    for name in files:
        path = batches_dir / name
        if not _is_file(path):
            raise _error(f"CIFAR-10 at {batches_dir} is incomplete: {path} is missing. Fix: re-download or "
                         f"re-unpack it, or {_FIX}.")
        x, y = read_batch(path)
        if len(x) != per_file:
            raise _error(f"{path}: holds {len(x)} images, expected {per_file} ({expected} {split} images in "
                         f"{len(files)} files); the copy is incomplete. Fix: re-download or re-unpack it, or {_FIX}.")
        xs.append(x)
        ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    counts = np.bincount(y, minlength=len(CLASSES))
    if (counts != expected // len(CLASSES)).any():
        raise _error(f"CIFAR-10 at {batches_dir}: the {split} images per class are {counts.tolist()}, expected "
                     f"{expected // len(CLASSES)} each; the copy is not the official split. Fix: re-download or "
                     f"re-unpack it, or {_FIX}.")
    return torch.from_numpy(x), torch.from_numpy(y)


@functools.lru_cache(maxsize=4)
def _load_dir(batches_dir: Path) -> CIFAR10:
    # cached so that a pytest session reads the 180 MB once; callers must not modify the tensors in place
    train_x, train_y = _read_split(batches_dir, TRAIN_FILES, EXPECTED_TRAIN, "train")
    test_x, test_y = _read_split(batches_dir, TEST_FILES, EXPECTED_TEST, "test")
    return CIFAR10(train_x, train_y, test_x, test_y, source=str(batches_dir))


_HOOK = "the pytest_bnbench_load_data hook"


def fingerprint(data: CIFAR10) -> str:
    """Which data a run trained on, as its record says it (``env["data"]``): the first 16 hex digits of the SHA-256
    of the four arrays' bytes (images and labels, train then test, as loaded: before any subset), with the split
    sizes, e.g. "sha256:0123456789abcdef (50000 train, 10000 test)". Two copies of CIFAR-10 with one pixel apart
    differ here (the JPEG-derived copy and the original files do); a record alone then says which copy trained it.
    Computed once per data object (about 0.3 s for CIFAR-10 on a CPU)."""
    known = getattr(data, "_fingerprint", None)
    if known is not None:
        return known
    import hashlib

    digest = hashlib.sha256()
    for tensor in (data.train_x, data.train_y, data.test_x, data.test_y):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    value = f"sha256:{digest.hexdigest()[:16]} ({len(data.train_y)} train, {len(data.test_y)} test)"
    object.__setattr__(data, "_fingerprint", value)   # a frozen dataclass: memoised beside its fields
    return value


def check_data(data) -> CIFAR10:
    """Data a study hands in (the ``pytest_bnbench_load_data`` hook), held to what the trainer assumes of CIFAR-10:
    uint8 images (N, 3, 32, 32) and int64 labels 0..9 on the CPU, as many labels as images, every class in both splits. A
    DataError naming what is wrong otherwise; the tensors are not copied."""
    if not isinstance(data, CIFAR10):
        raise DataError(f"{_HOOK} returned {type(data).__name__}; return bnbench.CIFAR10(train_x, "
                        "train_y, test_x, test_y, source) or None")
    if not isinstance(data.source, str) or not data.source or len(data.source) > 1000:
        raise DataError(f"{_HOOK}: source must say where the data comes from, in one line of text")
    for split in ("train", "test"):
        x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
            raise DataError(f"{_HOOK}: {split}_x and {split}_y must be torch tensors")
        if x.dtype != torch.uint8 or x.dim() != 4 or tuple(x.shape[1:]) != (3, 32, 32) or x.device.type != "cpu":
            raise DataError(f"{_HOOK}: {split}_x is {x.dtype} {tuple(x.shape)} on {x.device}; give uint8 images "
                            "(N, 3, 32, 32) on the CPU (bnbench moves them to the training device)")
        if y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x) or len(y) == 0:
            raise DataError(f"{_HOOK}: {split}_y is {y.dtype} {tuple(y.shape)}; give int64 labels, one per image")
        counts = torch.bincount(y.clamp(0, len(CLASSES)), minlength=len(CLASSES) + 1)
        if int(y.min()) < 0 or int(y.max()) >= len(CLASSES) or bool((counts[:len(CLASSES)] == 0).any()):
            raise DataError(f"{_HOOK}: {split}_y must hold class indices 0..{len(CLASSES) - 1}, each class at "
                            "least once (per-class subsets and accuracy assume all ten)")
    return data


def clear_cache() -> None:
    _load_dir.cache_clear()


def load_cifar10(root=None, *, download: bool = True, download_into_given: bool = False) -> CIFAR10:
    """The official train/test split as uint8 CPU tensors, validated and cached per folder.

    A missing copy is downloaded only into the cache folder; a folder the user named (``--bnbench-data``,
    ``BNBENCH_DATA``) that holds no copy is a mistyped path until they ask for a download there
    (``download_into_given``: ``--bnbench-download``)."""
    root, how = resolve_data_root(root)
    batches_dir = find_batches_dir(root)
    if batches_dir is None and how != "cache" and not download_into_given:
        raise _error(f"CIFAR-10 not found at {root} (from {how}): no {BATCHES_DIRNAME}/ there. Fix: check the "
                     f"path ({_FIX}), or add --bnbench-download to download it into that folder.")
    if batches_dir is None:
        if not download or os.environ.get("BNBENCH_OFFLINE", "").lower() in ("1", "true", "yes"):
            raise _error(f"CIFAR-10 not found at {root} (from {how}). Fix: {_FIX}, or let bnbench download it "
                         f"(needs network) into {root}.")
        batches_dir = download_cifar10(root)
    return _load_dir(batches_dir.resolve())


def download_cifar10(root: Path) -> Path:
    """Download the official archive into root with torchvision; returns root/cifar-10-batches-py."""
    root = Path(root)
    fix = (f"Fix: {_FIX} (an existing copy, e.g. one unpacked with unpack_jpeg_pack.py), "
           "or run once on a machine with network access.")
    try:
        import torchvision.datasets
    except ImportError as e:
        raise _error(f"cannot download CIFAR-10 into {root}: torchvision is not importable ({e}). {fix}") from None
    url = getattr(torchvision.datasets.CIFAR10, "url", DOWNLOAD_URL)
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # urllib has no timeout by default: never hang forever
    try:
        root.mkdir(parents=True, exist_ok=True)
        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    except Exception as e:  # URLError, socket timeout, OSError, RuntimeError (bad checksum), tar errors
        detail = _one_line(f"{type(e).__name__}: {e}")[:200]
        raise _error(f"could not download CIFAR-10 from {url} into {root} ({detail}); this machine seems "
                     f"offline or the download failed. {fix}") from None
    finally:
        socket.setdefaulttimeout(old_timeout)
    batches_dir = find_batches_dir(root)
    if batches_dir is None:
        raise _error(f"downloaded CIFAR-10 from {url} into {root}, but found no {BATCHES_DIRNAME}/ there. {fix}")
    return batches_dir


def stratified_subset(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Sorted int64 indices with exactly per_class examples of every class present in labels."""
    if per_class < 0:
        raise ConfigError(f"per_class must be >= 0, got {per_class}")
    labels = labels.cpu()
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(labels).tolist():
        idx = (labels == c).nonzero().flatten()
        if per_class > len(idx):
            raise ConfigError(f"per_class={per_class} but class {c} has only {len(idx)} examples; "
                              f"use per_class <= {len(idx)}")
        chosen.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    if not chosen:
        return torch.empty(0, dtype=torch.int64)
    return torch.cat(chosen).sort().values


def synthetic_cifar(n_train: int = 2000, n_test: int = 500, seed: int = 0, classes: int = 10) -> CIFAR10:
    """FOR UNIT TESTS ONLY: CIFAR-shaped uint8 images whose class a small CNN learns in seconds.

    Each class is a fixed smooth colour pattern (random 4x4 grid, upsampled); each image is its class
    pattern plus a random brightness shift and pixel noise. Labels are balanced (counts differ by <= 1).
    """
    if not 1 <= classes <= len(CLASSES):
        raise ConfigError(f"classes must be in 1..{len(CLASSES)}, got {classes}")
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(classes, 3, 4, 4, generator=g)
    templates = F.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)
    templates = templates / templates.std(dim=(1, 2, 3), keepdim=True)

    def split(n):
        y = (torch.arange(n) % classes)[torch.randperm(n, generator=g)]
        shift = 20 * torch.randn(n, 1, 1, 1, generator=g)
        noise = 25 * torch.randn(n, 3, 32, 32, generator=g)
        x = 128 + 45 * templates[y] + shift + noise
        return x.round().clamp(0, 255).to(torch.uint8), y

    train_x, train_y = split(n_train)
    test_x, test_y = split(n_test)
    return CIFAR10(train_x, train_y, test_x, test_y, source="synthetic")


# -----------------------------------------------------------------------------
# batching on the device

def _draw_augment(n: int, padding: int, generator, device):
    gen_device = generator.device if generator is not None else device
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator, device=gen_device)
    flips = torch.randint(0, 2, (n,), generator=generator, device=gen_device).bool()
    return offsets.to(device), flips.to(device)


def _crop_flip(x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int) -> torch.Tensor:
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4) if padding else x
    pw = w + 2 * padding
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    rows = offsets[0, :, None] + ar_h  # (n, h)
    # a flipped crop reads the crop's columns backwards
    cols = offsets[1, :, None] + torch.where(flips[:, None], ar_w.flip(0), ar_w)  # (n, w)
    # one gather over flattened pixels: 3x faster on CPU than a gather per axis
    pixels = (rows[:, :, None] * pw + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return padded.reshape(n, c, padded.shape[2] * pw).gather(2, pixels).view(n, c, h, w)


def augment_batch(x: torch.Tensor, generator: torch.Generator | None = None, padding: int = 4) -> torch.Tensor:
    """Random crop with zero padding + random horizontal flip, per image, in one batched op (uint8 in/out)."""
    if x.ndim != 4:
        raise ConfigError(f"augment_batch expects (N, C, H, W) images, got shape {tuple(x.shape)}")
    if padding < 0:
        raise ConfigError(f"padding must be >= 0, got {padding}")
    offsets, flips = _draw_augment(len(x), padding, generator, x.device)
    return _crop_flip(x, offsets, flips, padding)


class DeviceSplit:
    """One split resident on the training device as ONE uint8 tensor; no DataLoader, no per-image Python."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device, normalization: str = "course",
                 channels_last: bool = False):
        if normalization not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {normalization!r}; valid: {', '.join(NORMALIZATIONS)}")
        if x.dtype != torch.uint8 or x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
            raise ConfigError(f"DeviceSplit needs uint8 images (N,C,H,W) and labels (N,), got {x.dtype} "
                              f"{tuple(x.shape)} and {tuple(y.shape)}")
        self.device = torch.device(device)
        self.x = x.to(self.device).contiguous()
        self.y = y.to(self.device, torch.int64)
        self.normalization = normalization
        self.channels_last = channels_last
        mean, std = NORMALIZATIONS[normalization]
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        # (x/255 - mean)/std folded into one multiply and one subtract
        self._scale = 1.0 / (255.0 * self.std)
        self._shift = self.mean / self.std

    def __len__(self) -> int:
        return len(self.y)

    def _normalize(self, x: torch.Tensor, dtype) -> torch.Tensor:
        work = torch.float64 if dtype == torch.float64 else torch.float32  # half types: compute in fp32
        out = x.to(work).mul_(self._scale.to(work)).sub_(self._shift.to(work))
        if out.dtype != dtype:
            out = out.to(dtype)
        if self.channels_last:
            out = out.contiguous(memory_format=torch.channels_last)
        return out

    def batches(self, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
                augment: bool = False, dtype=torch.float32):
        """Yield (x, y) on the device: every example once per call, the last batch may be partial."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        n = len(self)
        order = None
        if shuffle:
            gen_device = generator.device if generator is not None else torch.device("cpu")
            order = torch.randperm(n, generator=generator, device=gen_device).to(self.device)
        if augment:
            # the whole epoch's crops and flips in one draw: one host->device copy, not one per batch
            offsets, flips = _draw_augment(n, 4, generator, self.device)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            if order is None:
                x, y = self.x[start:stop], self.y[start:stop]
            else:
                idx = order[start:stop]
                x, y = self.x.index_select(0, idx), self.y.index_select(0, idx)
            if augment:
                x = _crop_flip(x, offsets[:, start:stop], flips[start:stop], 4)
            yield self._normalize(x, dtype), y
