"""Where a training run executes: in this process (:class:`LocalExecutor`, the default) or as a task on a Ray
cluster (:class:`RayExecutor`, ``--bnbench-executor ray``).

The runner keeps everything that touches the output folder on the driver (the per-configuration lock, the cache,
the store's writes): an executor only turns a ``TrainConfig`` into a ``RunRecord``. A Ray worker returns its record
as the store's JSON dict (``bnbench.store.formats.record_to_json``), which the driver reads back with
``record_from_json`` (validated like a record read from disk) and writes through its store: one writer.

Ray is an optional extra (``pip install -e ".[ray]"``); this module imports it only when a RayExecutor is made.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable
from urllib.parse import urlsplit

from bnbench.engine.env import command_argv
from bnbench.errors import BnbenchError, ConfigError
from bnbench.text import plain

EXECUTORS = ("local", "ray")
DEFAULT_MAX_RETRIES = 2       # a worker that dies mid-run is retried this many times, then the run is failed
TASK_NAME = "bnbench_train"   # the Ray task's name (and the worker's process title while it trains: ray::...)
PROBE_TIMEOUT_S = 5.0         # ray.init retries a dead address for minutes (831 s measured): a TCP connect first
RAY_CLIENT_PORT = 10001       # ray://HOST without a port: the Ray client server's default port


@runtime_checkable
class Executor(Protocol):
    """Where a training run executes. ``train`` turns a ``TrainConfig`` into a ``RunRecord`` (blocking); a remote
    executor (``remote = True``) also takes runs ahead of time (``start``, ``submit``) and, on Ctrl-C, hands back
    the records its cluster finished (``finished``). A new executor implements this and gets a name in
    ``make_executor``: the runner and the plugin ask ``remote`` and call these, nothing else."""

    name: str
    remote: bool

    def train(self, config, data, *, device, progress=None, cuda_graphs: bool = True, **kwargs) -> Any: ...


class ExecutorError(BnbenchError):
    """A training run that did not come back from the cluster (after Ray's retries): one line with the reason."""


class LocalExecutor:
    """Today's in-process training."""

    name = "local"
    remote = False

    def train(self, config, data, *, device, progress=None, cuda_graphs: bool = True, checkpoint=None):
        from bnbench.engine.train import train

        return train(config, data, device=device, progress=progress, cuda_graphs=cuda_graphs, checkpoint=checkpoint)


def require_ray():
    """Ray, or a one-line usage error naming the extra."""
    try:
        import ray
    except ImportError:
        raise ConfigError('--bnbench-executor ray needs Ray, an optional extra: pip install "bnbench[ray]" '
                          '(from a checkout: pip install -e ".[ray]")') from None
    return ray


def parse_ray_address(address: str, what: str = "--bnbench-ray-address") -> tuple[str, int] | None:
    """The (host, port) a Ray address names; None for ``auto`` and ``local`` (nothing to reach). Anything else is
    one line naming the fix: Ray itself answers an empty or foreign address with a traceback."""
    if address in ("auto", "local"):
        return None
    scheme, _, rest = address.rpartition("://")
    host = port = None
    if scheme in ("", "ray"):
        try:
            parts = urlsplit("//" + rest)
            if not (parts.path or parts.query or parts.fragment or parts.username):
                host, port = parts.hostname, parts.port or (RAY_CLIENT_PORT if scheme == "ray" else None)
        except ValueError:     # a port that is not a number in 0-65535, a broken [IPv6] host
            pass
    if not host or not port:
        raise ConfigError(plain(f"{what} {address!r} is not a Ray address; use HOST:PORT (e.g. HEAD:6379), "
                                "ray://HOST:10001, auto or local"))
    return host, port


def probe_ray_address(address: str, what: str = "--bnbench-ray-address", fix: str = "start the cluster there "
                      "(ray start --head) or fix the address") -> None:
    """A bounded TCP connect to the address before ray.init, which retries an address where nothing listens for
    minutes (831 s measured): nothing answering is one line within seconds."""
    where = parse_ray_address(address, what)
    if where is None:
        return
    try:
        socket.create_connection(where, timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(plain(f"{what} {address}: nothing answers at {where[0]}:{where[1]} "
                                f"({exc.strerror or exc}); {fix}")) from None


def _train_task(config_dict: dict, data, device: str, cuda_graphs: bool, command: tuple = ()) -> dict:
    """Runs on a Ray worker: train one configuration, return its record as the store's JSON dict. ``command``:
    the submitting process's argv, which the record names (a Ray worker's own is Ray's)."""
    from bnbench.engine.config import TrainConfig
    from bnbench.engine.env import set_command
    from bnbench.engine.train import train
    from bnbench.store.formats import record_to_json

    set_command(command)
    record = train(TrainConfig.from_dict(config_dict), data, device=device, cuda_graphs=cuda_graphs)
    return record_to_json(record)


@dataclass
class _Pending:
    ref: Any
    label: str


@dataclass
class RayExecutor:
    """Training runs as Ray tasks. ``address``: ``auto`` (an existing cluster; a local Ray instance when there is
    none) or a cluster's address. ``init_kwargs`` go to ``ray.init`` when this executor starts Ray itself."""

    address: str = "auto"
    max_retries: int = DEFAULT_MAX_RETRIES
    init_kwargs: dict = field(default_factory=dict)
    say: Callable[[str], None] = print
    name: str = "ray"
    remote: bool = True

    def __post_init__(self):
        parse_ray_address(self.address)
        self._ray = require_ray()
        self._pending: dict[str, _Pending] = {}       # config hash -> the task training it
        self._data_ref = None
        self._data_id = None
        self._started_ray = False
        self._task = None
        self.where = ""

    # -- the cluster ------------------------------------------------------------------------------------------
    def start(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            self.where = "an already initialised Ray instance"
        else:
            # The workers import bnbench as the driver does (a checkout on PYTHONPATH included).
            kwargs = dict(self.init_kwargs)
            kwargs.setdefault("log_to_driver", False)
            kwargs.setdefault("include_dashboard", False)
            env = os.environ.get("RAY_ADDRESS", "")
            if self.address == "auto" and env not in ("", "auto", "local"):   # what ray.init("auto") would use
                probe_ray_address(env, "RAY_ADDRESS", "--bnbench-ray-address auto uses it: unset it for a local "
                                  "Ray instance, or start the cluster there")
            else:
                probe_ray_address(self.address)
            with _keeping_sigterm():
                try:
                    if self.address == "auto" and env == "local":
                        ray.init(address="local", **kwargs)
                        self.where = "a local Ray instance (RAY_ADDRESS=local)"
                    else:
                        ray.init(address=self.address, **kwargs)
                        self.where = f"the Ray cluster at {self.address}"
                except ConnectionError:
                    if self.address != "auto":
                        raise ConfigError(f"--bnbench-ray-address {self.address}: no Ray cluster answers there") \
                            from None
                    kwargs.pop("address", None)
                    os.environ.pop("RAY_ADDRESS", None)
                    ray.init(**kwargs)
                    self.where = "a local Ray instance (no running cluster found at address auto)"
            self._started_ray = True
        resources = ray.cluster_resources()
        self.where += f": {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs"
        self.say(f"bnbench: training runs go to {self.where}")
        self._task = ray.remote(max_retries=self.max_retries, retry_exceptions=False)(_train_task)

    def gpus(self) -> float:
        return float(self._ray.cluster_resources().get("GPU", 0))

    def device_for(self, requested: str) -> str:
        """The device a run trains on in a worker: ``auto`` is cuda where the cluster has a GPU."""
        if requested == "auto":
            return "cuda" if self.gpus() > 0 else "cpu"
        if requested.startswith("cuda"):
            # a task that asks for one GPU sees exactly that one (Ray sets CUDA_VISIBLE_DEVICES): cuda:N is cuda there
            if self.gpus() <= 0:
                raise ConfigError(f"--bnbench-device {requested}: the Ray cluster ({self.where}) has no GPU; use "
                                  "--bnbench-device auto or cpu, or join a GPU machine (ray start --address HEAD:6379)")
            return "cuda"
        return requested

    def put_data(self, data) -> None:
        """The data set reaches the object store once; every task gets the reference."""
        if self._data_id != id(data):
            self._data_ref, self._data_id = self._ray.put(data), id(data)

    # -- runs -------------------------------------------------------------------------------------------------
    def submit(self, config, data, *, device: str, cuda_graphs: bool, label: str) -> None:
        """Start training ``config`` on the cluster (once per configuration hash)."""
        if config.hash in self._pending:
            return
        if self._task is None:
            self.start()
        self.put_data(data)
        device = self.device_for(device)
        resources = {"num_gpus": 1, "num_cpus": 1} if device.startswith("cuda") else {"num_cpus": 1}
        ref = self._task.options(name=TASK_NAME, **resources).remote(
            config.to_dict(), self._data_ref, device, cuda_graphs, command_argv())
        self._pending[config.hash] = _Pending(ref, label)

    def submitted(self, config_hash: str) -> bool:
        return config_hash in self._pending

    def result(self, config_hash: str):
        """Wait for a submitted run and return its record (a RunRecord), or raise ExecutorError with the reason."""
        pending = self._pending[config_hash]
        try:
            d = self._ray.get(pending.ref)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray's errors (worker died, task raised, cancelled) become one line
            self._pending.pop(config_hash, None)
            raise ExecutorError(f"{pending.label}: the Ray task failed{self._retried(exc)} ({_reason(exc)})") from None
        self._pending.pop(config_hash, None)
        return _checked(d, config_hash, pending.label)

    def _retried(self, exc) -> str:
        name = type(exc).__name__
        if "WorkerCrashed" in name or "ActorDied" in name or "NodeDied" in name or "OutOfMemory" in name:
            return f" after {self.max_retries} retries"
        return ""

    def train(self, config, data, *, device, progress=None, cuda_graphs: bool = True, label: str = "a run"):
        device = device.type if hasattr(device, "type") else str(device)
        self.submit(config, data, device=device, cuda_graphs=cuda_graphs, label=label)
        return self.result(config.hash)

    def finished(self) -> list[str]:
        """The configuration hashes whose tasks are done (without waiting)."""
        if not self._pending:
            return []
        refs = {id(p.ref): h for h, p in self._pending.items()}
        ready, _ = self._ray.wait([p.ref for p in self._pending.values()], num_returns=len(self._pending),
                                  timeout=0)
        return [refs[id(r)] for r in ready if id(r) in refs]

    def cancel_outstanding(self) -> int:
        """Cancel every task not yet collected (Ctrl-C): returns how many."""
        n = 0
        for pending in list(self._pending.values()):
            try:
                self._ray.cancel(pending.ref, force=True)
                n += 1
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        self._pending.clear()
        return n

    def shutdown(self) -> None:
        if self._pending:
            self.cancel_outstanding()
        if self._started_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._started_ray = False
        self._task = None


@contextlib.contextmanager
def _keeping_sigterm():
    """ray.init replaces the driver's SIGTERM handler with its own (sys.exit: a traceback, summary.json not marked
    partial, exit 134): the handler that was there before (the plugin's, which ends a run as Ctrl-C does) is put
    back. Ray's stays where there was none to put back (at the default, Ray's exit at least stops its processes)."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if previous not in (None, signal.SIG_DFL):
            signal.signal(signal.SIGTERM, previous)


def _checked(d: Any, submitted: str, label: str):
    """What a task returned, as a RunRecord, only if it is a finished run of the configuration submitted: the
    driver writes it under that hash and decides claims from it, so another configuration, another experiment's
    record, a forged hash or an unfinished run is refused in one line (the run fails), never written."""
    from bnbench.engine.config import TrainConfig
    from bnbench.store.formats import record_from_json

    def refuse(why: str):
        return ExecutorError(plain(f"{label}: what the Ray task returned is refused, not written ({why})"))

    try:
        record = record_from_json(d, source="its record")
        stored = TrainConfig.from_dict(record.config).hash
    except (BnbenchError, TypeError, ValueError) as exc:
        raise refuse(str(exc)) from None
    if stored != submitted:
        raise refuse(f"its configuration hashes to {stored}, not to the {submitted} submitted")
    if record.config_hash != submitted:
        raise refuse(f"it names config_hash {record.config_hash[:64]!r}, not the {submitted} submitted")
    if not record.finished_at:
        raise refuse("an unfinished run: no finished_at")
    return record


def _reason(exc: BaseException) -> str:
    """The first meaningful line of a Ray error, escaped: a task's text is printed to the driver's terminal."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BnbenchError):
        return plain(cause)
    if cause is not None and not isinstance(cause, type(exc)):
        return plain(f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}".rstrip(": "))
    text = " ".join(str(exc).split())
    return plain(f"{type(exc).__name__}: {text[:300]}")


def parse_executor(value: str, address: str = "auto") -> tuple[str, str]:
    """``--bnbench-executor``'s one value naming the engine and, for Ray, the address: ``local``, ``ray`` (then
    ``address``, the older ``--bnbench-ray-address``, which still works), or ``ray://HEAD[:PORT]`` /
    ``ray:HEAD:PORT`` (the address in the same value). Returns (engine, address); one line naming the forms
    otherwise, or when both options name different addresses."""
    if value in EXECUTORS:
        return value, address
    if value.startswith("ray:"):
        given = value if value.startswith("ray://") else value[len("ray:"):]
        if address not in ("auto", given):
            raise ConfigError(f"--bnbench-executor {value!r} and --bnbench-ray-address {address!r} name two "
                              "clusters; give the address once")
        parse_ray_address(given, "--bnbench-executor")
        return "ray", given
    raise ConfigError(f"--bnbench-executor {value!r} is not known; use local, ray, or ray://HEAD:PORT")


def make_executor(name: str, address: str = "auto", say: Callable[[str], None] = print) -> Executor:
    engine, address = parse_executor(name, address)
    if engine == "local":
        return LocalExecutor()
    return RayExecutor(address=address, say=say)
