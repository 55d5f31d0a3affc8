"""What a result was measured on: versions, device, CPU, and the code's git state."""
from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from bnbench import __version__


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_state(path: Path | None = None) -> dict:
    """Commit and dirty flag of the checkout bnbench runs from, when it is one."""
    where = path or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, timeout=5).stdout.strip()
        if not commit:
            return {}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5).stdout.strip() != ""
        return {"git_commit": commit, "git_dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {}


def describe_device(device, workers: int | None = None) -> str:
    """The device a run trains on, in words, for the header: a GPU's name and memory, or the CPU's model with the
    torch threads each training process gets (``workers``: pytest-xdist's process count, which share the cores;
    ``bnbench.runner.share_cpu_threads``) out of the cores this process may use."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        return f"{dev} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:   # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        threads = int(os.environ["OMP_NUM_THREADS"])
    else:
        threads = max(1, cores // workers) if workers and workers > 1 else torch.get_num_threads()
    per = f"{workers} processes x {threads}" if workers and workers > 1 else f"{threads}"
    return f"{dev} ({cpu_name()}, {per} thread{'s' * (threads != 1)} of {cores} cores)"


_STATIC: dict = {}
_COMMAND: list[str] = []


def command_line(argv) -> str:
    """The command a user typed, as far as a process can tell: ``python -m pytest ...`` for a module run (argv[0]
    is then the package's ``__main__.py``), the program's name otherwise, the arguments quoted for a shell."""
    argv = [str(a) for a in argv]
    if not argv:
        return ""
    first = Path(argv[0])
    prog = f"python -m {first.parent.name}" if first.name == "__main__.py" else first.name
    return " ".join([prog, shlex.join(argv[1:])]).strip()


def set_command(argv) -> None:
    """The command this process's records name. A pytest-xdist worker or a Ray task is started by ``-c`` or a
    worker script, not by the user's command line: the plugin hands a worker its controller's argv here, and a
    Ray task gets it with its configuration."""
    _COMMAND[:] = [str(a) for a in argv or ()]


def command_argv() -> tuple[str, ...]:
    """The argv this process's records name (``set_command``'s, else this process's own)."""
    return tuple(_COMMAND or sys.argv)


def environment(device=None) -> dict:
    """Versions, CPU, device, git state and command line. The parts that cannot change within a process are
    computed once (git runs a subprocess)."""
    import torch

    if "git" not in _STATIC:
        _STATIC["git"] = git_state()

    info = {
        "bnbench": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        **_STATIC["git"],
        "command": command_line(command_argv()),
    }
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover - torchvision is a dependency
        info["torchvision"] = None
    if device is not None:
        dev = torch.device(device)
        info["device"] = str(dev)
        info["device_name"] = torch.cuda.get_device_name(dev) if dev.type == "cuda" else info["cpu"]
    return info
