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

MAX_JSON_BYTES = 256 * 1024 * 1024   # a full-scale record is a few MB (100 epochs x 1,563 steps); 256 MB is absurd
MAX_JSON_DEPTH = 64                  # bnbench writes at most ~6 levels; deeper is not ours


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


def _check_no_link(path: Path) -> None:
    """Refuse to write through a symbolic link: a link planted in a shared output folder would send the write to
    its target. Every folder from the output folder down is checked by the caller's mkdir (real folders only)."""
    if path.is_symlink():
        raise BnbenchError(f"{path} is a symbolic link; bnbench does not write through links in its output folder "
                           "(remove the link, or choose another --bnbench-out)")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same directory, then rename over the target: a reader never sees half a
    file, and a link planted at the target is replaced, never followed. NaN and infinities become null."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _check_no_link(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise BnbenchError(f"cannot write {path}: {exc.strerror or exc}; choose another --bnbench-out") from None
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(no_nan(data), f, indent=1, allow_nan=False, default=_json_default)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes 0600; results are meant to be shared like any file
        os.replace(tmp, path)            # replaces a link at ``path`` itself rather than writing to its target
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise BnbenchError(f"cannot write {path}: {why}; free space or choose another --bnbench-out "
                               "(records written so far are intact)") from None
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """The same for a text file (structure tables, the HTML report)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _depth(x: Any, limit: int) -> int:
    stack, deepest = [(x, 1)], 0
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > limit:
            return d
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def read_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """JSON from a regular file of at most ``max_bytes``, nested at most ``MAX_JSON_DEPTH`` deep. A FIFO, a device
    or a link is refused (it could hang, never end, or point anywhere); so is an over-large or over-deep file.
    Raises FileNotFoundError when absent and BnbenchError naming the file and what is wrong otherwise."""
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
            raise BnbenchError(f"{path}: {info.st_size} bytes, more than the {max_bytes} a bnbench file can be")
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise BnbenchError(f"{path}: more than the {max_bytes} bytes a bnbench file can be")
    try:
        data = json.loads(raw)
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
    """Delete the temporary files a killed run left behind (``.<name>.<random>.tmp``); returns how many."""
    n = 0
    if not folder.is_dir():
        return 0
    for p in folder.rglob(".*.tmp"):
        if p.is_file() and not p.is_symlink():
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
    return n
