"""Files under an output folder: atomic JSON writes that never follow a link planted there, bounded JSON reads of
regular files only, cross-process locks, and path-safe names. Nothing here knows what the JSON means."""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

from bnbench.errors import BnbenchError

# Caps per kind of file, from what a full-scale run writes (measured: BENCHMARKS.md, 2026-12-06). A cap bounds what
# a file costs to read and to use (memory, time, the report it becomes), not only its bytes: a 119 MB record within
# one 256 MB cap for every file cost 2.8 GB when pooled.
MB = 1024 * 1024
MAX_RECORD_BYTES = 16 * MB    # the largest full-scale record: 0.86 MB (1.2: 156,300 step losses, packed), 3.5 MB as
                              # the JSON lists records had before packing; 16 MB is 4.6x that
MAX_SUMMARY_BYTES = 4 * MB    # summary.json, a worker's share: 111 KB for all 16 claims at 5 seeds, +5.8 KB a seed
MAX_TIMING_BYTES = 1 * MB     # an interleaved timing: a few KB (tens of rounds)
MAX_JSON_DEPTH = 64           # bnbench writes at most ~6 levels; deeper is not ours


def safe_name(text: str) -> str:
    """A claim or experiment id as one path component: "1.1/hidden-500" -> "1.1_hidden-500"."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "unnamed"


_UMASK = os.umask(0)
os.umask(_UMASK)


def _json_default(obj):
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def no_nan(x: Any) -> Any:
    """NaN / inf are not JSON: store them as null (``bnbench.numbers.nan_if_none`` reads them back)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: no_nan(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [no_nan(v) for v in x]
    return x


# Output folders in use, each with its (device, inode) when first seen as a folder (None until it is made). A folder
# replaced after that (by a link, a file or another folder) is refused on every write into it.
_OUTPUT_FOLDERS: dict[Path, tuple[int, int] | None] = {}


def watch_output_folder(root: Path) -> None:
    """Take ``root`` (resolved: never a link itself) as it is now: every later write into it first checks that it is
    still this folder (``check_output_folder``)."""
    try:
        info = os.lstat(root)
        _OUTPUT_FOLDERS[root] = (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None
    except OSError:
        _OUTPUT_FOLDERS[root] = None


def check_output_folder(root: Path) -> None:
    """Refuse ``root`` (one watched by ``watch_output_folder``) unless it is still the folder it was: replaced by a
    link mid-run, it would send every write below it to the link's target. One lstat, no more. A folder not made yet
    is left to the caller, which makes it; the first check that finds it takes its identity."""
    if root not in _OUTPUT_FOLDERS:
        return
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        if _OUTPUT_FOLDERS[root] is None:
            return
        info = None
    known = _OUTPUT_FOLDERS[root]
    if info is None or stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        what = "gone" if info is None else _kind(info.st_mode)
        raise BnbenchError(f"the output folder {root} is {what} now, not the folder this run started with; bnbench "
                           "does not write there (put the folder back, or choose another --bnbench-out)")
    if known is None:
        _OUTPUT_FOLDERS[root] = (info.st_dev, info.st_ino)
    elif known != (info.st_dev, info.st_ino):
        raise BnbenchError(f"the output folder {root} was replaced by another folder after this run started; "
                           "bnbench does not write there (put the folder back, or choose another --bnbench-out)")


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, what in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def _check_no_link(path: Path) -> None:
    """Refuse to write through a symbolic link: a link planted in a shared output folder would send the write to
    its target. Every folder from the output folder down is checked by the caller's mkdir (real folders only)."""
    if path.is_symlink():
        raise BnbenchError(f"{path} is a symbolic link; bnbench does not write through links in its output folder "
                           "(remove the link, or choose another --bnbench-out)")


def real_folder(root: Path, folder: Path, create: bool = True) -> Path:
    """``folder``, checked to be a real folder inside ``root``: every component from ``root`` (exclusive) down is a
    folder and not a symbolic link, made where missing when ``create``. A link planted anywhere below the output
    folder would send a write (or a read) to its target, so one is refused, naming it. FileNotFoundError when a
    component is missing and ``create`` is false. ``root`` itself is the user's choice and may be a link, unless
    it is a watched output folder (``check_output_folder``)."""
    root, folder = Path(root), Path(folder)
    try:
        rel = folder.relative_to(root)
    except ValueError:
        raise BnbenchError(f"{folder} is outside the output folder {root}; bnbench reads and writes only inside "
                           "it") from None
    if any(part in ("..", ".") for part in rel.parts):
        raise BnbenchError(f"{folder}: a path with '..' in it could leave the output folder {root}")
    check_output_folder(root)
    if create:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BnbenchError(f"cannot make {root}: {exc.strerror or exc}; choose another --bnbench-out") from None
        check_output_folder(root)   # made just now: its identity is taken here
    current = root
    for part in rel.parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(current)
            except FileExistsError:
                pass                                   # made meanwhile (another worker): checked just below
            except OSError as exc:
                raise BnbenchError(f"cannot make {current}: {exc.strerror or exc}; choose another "
                                   "--bnbench-out") from None
            info = os.lstat(current)
        if stat.S_ISLNK(info.st_mode):
            raise BnbenchError(f"{current} is a symbolic link; bnbench does not read or write through links in "
                               "its output folder (remove the link, or choose another --bnbench-out)")
        if not stat.S_ISDIR(info.st_mode):
            raise BnbenchError(f"{current} is not a folder; bnbench needs a folder there (remove it, or choose "
                               "another --bnbench-out)")
    return folder


TMP_PREFIX = ".bnbench-"   # temporary names: .bnbench-<target name>.<mkstemp's 8 random characters>.tmp
_TMP_NAME = re.compile(r"^\.bnbench-[A-Za-z0-9._-]+\.[a-z0-9_]{8}\.tmp$")


def _write_atomic(path: Path, write, mode: str) -> None:
    """Write through ``write(file)`` to a temporary file in the target's folder, then rename it over the target:
    a reader never sees half a file, and a link planted at the target is replaced, never followed. Anything else
    that is not a regular file there (a device, FIFO, socket or folder) is refused, never replaced; so is a write
    into a watched output folder that was replaced (``check_output_folder``). OSError (disk full, permission)
    becomes a one-line BnbenchError; no temporary file is left behind."""
    path = Path(path)
    for folder in path.parents:
        check_output_folder(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _check_no_link(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise BnbenchError(f"cannot write {path}: {exc.strerror or exc}; choose another --bnbench-out") from None
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes 0600; results are meant to be shared like any file
        _check_replaceable(path)
        os.replace(tmp, path)            # replaces a link at ``path`` itself rather than writing to its target
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise BnbenchError(f"cannot write {path}: {why}; free space or choose another --bnbench-out "
                               "(records written so far are intact)") from None
        raise


def _check_replaceable(path: Path) -> None:
    """Refuse a target that is there and neither a regular file nor a link: renamed over, a device node (``-o
    /dev/null``) would become a regular file every other process then writes into; a FIFO or socket would be cut
    off from its users. Checked just before the rename, to keep the window small."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise BnbenchError(f"{path} is {_kind(mode)}, not a regular file; bnbench does not replace it (remove it, "
                           "or write somewhere else)")


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON written atomically (``_write_atomic``): never half a file, never through a planted link. NaN and
    infinities become null."""
    _write_atomic(path, lambda f: json.dump(no_nan(data), f, indent=1, allow_nan=False, default=_json_default), "w")


def write_text_atomic(path: Path, text: str) -> None:
    """The same for a text file (structure tables, the HTML report)."""
    _write_atomic(path, lambda f: f.write(text), "w")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """The same for bytes (the PNG figures)."""
    _write_atomic(path, lambda f: f.write(data), "wb")


def swap_folder(work: Path, target: Path, still_ours) -> None:
    """Put the finished folder ``work`` at ``target`` (beside it): an existing ``target`` that ``still_ours(target)``
    accepts (checked again just before the swap) is moved aside first and removed after, so a reader sees the old
    folder or the new one, never a mix. BnbenchError when ``target`` is no longer ours; OSError as it comes."""
    import shutil
    import tempfile

    old = None
    if os.path.lexists(target):
        if not still_ours(target):
            raise BnbenchError(f"{target} changed while it was being replaced and is not bnbench's now; remove it "
                               "or choose another folder")
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
        os.replace(target, old / "x")
    os.replace(work, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _depth(x: Any, limit: int) -> int:
    """How many containers deep ``x`` nests (stopping past ``limit``). Only containers go on the stack: a record's
    78,150 step losses as a JSON list are one filter, not 78,150 pushes and pops (that cost more than parsing)."""
    stack, deepest = [(x, 1)] if type(x) in _CONTAINERS else [], 1
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > limit:
            return d
        children = node.values() if type(node) is dict else node
        stack.extend([(v, d + 1) for v in children if type(v) in _CONTAINERS])
    return deepest


_CONTAINERS = (dict, list)   # what json.loads makes that holds more


def read_bytes(path: Path, max_bytes: int, what: str = "a bnbench file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (the cap of its kind, ``what``). A FIFO, a device or a
    link is refused (it could hang, never end, or point anywhere); so is an over-large file. Raises
    FileNotFoundError when absent and BnbenchError naming the file and what is wrong otherwise."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        why = "a symbolic link" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise BnbenchError(f"{path}: cannot read it ({why})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise BnbenchError(f"{path}: not a regular file")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > max_bytes:
            raise BnbenchError(f"{path}: {info.st_size:,} bytes, more than the {max_bytes:,} {what} can be; not "
                               "one bnbench wrote (move it out of the output folder)")
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise BnbenchError(f"{path}: more than the {max_bytes:,} bytes {what} can be; not one bnbench wrote (move "
                           "it out of the output folder)")
    return raw


def read_json(path: Path, max_bytes: int = MAX_TIMING_BYTES, what: str = "a bnbench file") -> Any:
    """JSON in UTF-8 (as bnbench writes it) from a regular file read by ``read_bytes``, nested at most
    ``MAX_JSON_DEPTH`` deep (by default the smallest cap). One in another encoding is refused (json would guess
    UTF-16 and read what bnbench never wrote)."""
    raw = read_bytes(path, max_bytes, what)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise BnbenchError(f"{path}: not valid JSON ({str(exc)[:120]})") from None
    if _depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BnbenchError(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels; not a bnbench file")
    return data


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock across processes (pytest-xdist workers, or two pytest runs on one folder): one
    of them trains a configuration, the others wait, then read its record. A no-op where fcntl is unavailable."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_no_link(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    with os.fdopen(fd, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_orphans(folder: Path) -> int:
    """Delete the temporary files a killed run left in ``folder`` itself (``_write_atomic``'s names,
    ``.bnbench-<name>.<random>.tmp``: regular files only, nothing below it); returns how many. The caller names
    the folders bnbench owns: anything else, a user's own ``.draft.v2.tmp`` included, is never touched."""
    n = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if _TMP_NAME.match(entry.name):
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    n += 1
    return n


# -- the run lock ---------------------------------------------------------------------------------------------------

RUN_LOCK = ".bnbench-run.lock"


class FolderInUse(BnbenchError):
    """Another bnbench run holds the output folder."""


def acquire_run_lock(folder: Path, run_id: str, shared: bool = False, wait_s: float = 1.5) -> tuple[int | None, bool]:
    """Hold ``folder`` for one run: ``(fd, first)``; the lock lasts until ``fd`` is closed or the process ends
    (an advisory ``flock``, so a killed run never leaves the folder held).

    A plain pytest process takes the lock exclusively. pytest-xdist workers (``shared``) share it with the other
    workers of their own run (the same ``run_id``, written into the lock file by the first of them) and with no
    one else. Anyone else is refused with a FolderInUse naming the folder and the holder's pid. ``first`` is true
    for the process that found the folder free (it may clean up what a killed run left). ``(None, True)`` where
    there is no fcntl (Windows): no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None, True
    import time

    path = Path(folder) / RUN_LOCK
    _check_no_link(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:
        raise BnbenchError(f"cannot open {path}: {exc.strerror or exc}; choose another --bnbench-out") from None

    def holder() -> tuple[str, str]:
        raw = os.pread(fd, 200, 0).decode("ascii", "replace").split()
        return (raw[0], raw[1]) if len(raw) >= 2 else ("?", "")

    def take(mode: int) -> bool:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    deadline = time.monotonic() + wait_s
    while True:
        if take(fcntl.LOCK_EX):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {run_id}\n".encode(), 0)
            if not shared or take(fcntl.LOCK_SH):               # shared: let this run's other workers in
                return fd, True
            # else someone slipped in: try again
        if shared and take(fcntl.LOCK_SH):
            if holder()[1] == run_id:
                return fd, False                                # a worker of this same run holds it: share
            fcntl.flock(fd, fcntl.LOCK_UN)
        if time.monotonic() >= deadline:
            pid, _ = holder()
            os.close(fd)
            raise FolderInUse(f"--bnbench-out {folder} is in use by another bnbench run (pid {pid}); wait for it "
                              "to finish, or give this run its own --bnbench-out")
        time.sleep(0.05)


def release_run_lock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
