"""RayExecutor: each run spec is one Ray task, on a local Ray instance or on an existing Ray cluster.

The driver (the process running ``python run.py``) submits tasks and receives records; it alone writes the
results folder, so resume, the folder lock, progress and the report work as with the local executors.
Workers write nothing: a task returns its record to the driver.

Resources and threads. Each task asks Ray for ``cpus_per_run`` CPUs (default 1) and ``gpus_per_run`` GPUs
(default 0). A run uses ``spec.threads`` torch threads (``harness.run.train`` sets them), and that field is left
out of the run id (``harness.config.spec.EXECUTION_FIELDS``). The executor leaves ``spec.threads`` alone when
``cpus_per_run <= 1`` (so the default gives one thread per run, exactly like the process pool, and the same
numbers), and replaces it with the granted CPU count ``int(cpus_per_run)`` when more than one CPU per run is
asked for, so the threads follow the resources granted. Different thread counts may change the last bits
of a result (the order of floating-point sums), so compare executors at equal threads.

GPUs. With ``gpus_per_run > 0`` Ray assigns each task its GPU(s) (``CUDA_VISIBLE_DEVICES``), and a run with
``device = "auto"`` (or ``"cuda"``) trains there. A run with ``device = "cpu"`` would hold a GPU it never uses,
so submitting one with ``gpus_per_run > 0`` is an error. With ``gpus_per_run = 0`` Ray does not hide the
node's GPUs, so keep ``device = "cpu"`` (the default) to stay off them.

Where Ray runs.
- No ``address``: a new local Ray instance bound to 127.0.0.1 (no dashboard, no usage stats, worker logs
  kept out of the terminal) with ``ceil(workers * cpus_per_run)`` CPUs, so ``workers`` runs go at once.
  It is always a fresh instance (``address="local"``), never a cluster that ``ray start`` left running on
  this machine. ``shutdown()`` stops it and every process it started.
- ``address="HOST:PORT"`` (or ``"auto"``): an existing cluster. Every ready run is submitted at once and Ray
  schedules them by resources, so the cluster's size, not ``workers``, sets how many run together
  (``self.workers`` then reports the cluster's capacity in runs). ``shutdown()`` disconnects and leaves the
  cluster running. Workers must import reach: Ray puts the driver's script directory and current directory
  on the workers' ``sys.path``, so reach (and its virtual environment) must sit at the same path on every
  node, e.g. a shared file system or an identical clone.
- Ray already initialised in this process (a notebook, a test fixture): used as it is, left running.

Failures. An exception inside a run is caught by ``harness.run.worker.execute`` and becomes an "error" record;
it is never retried (``retry_exceptions=False``): a deterministic run would fail again. A run whose worker
process or node dies (killed, out of memory, node lost) is retried up to ``retries`` times by Ray
(``max_retries``), then recorded as an "error" whose reason says the worker died. Either way the sweep
completes.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import math
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.config.spec import RunSpec
from harness.errors import ReachError
from harness.run.worker import execute
from harness.store.record import RunRecord

INSTALL_HINT = "--executor ray needs Ray: pip install -r requirements-ray.txt"
# The directory that holds the harness, learners and tasks packages: local workers get it on PYTHONPATH.
REPO_ROOT = str(Path(__file__).resolve().parents[2])
CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": a Ray node uses the loopback address
PROBE_SECONDS = 5.0  # how long to wait for the cluster's head to accept a connection


class RunLostError(RuntimeError):
    """A run whose Ray worker or node died more often than the retries allowed."""


def run_task(spec_dict: dict[str, Any], threads: int | None, resume: bytes | None = None) -> RunRecord:
    """The body of one Ray task: run the spec (with ``threads`` torch threads when given; from ``resume``, the
    checkpoint of the run it continues, when given) and return its record."""
    if threads is not None:
        spec_dict = {**spec_dict, "threads": threads}
    return execute(spec_dict, resume)


@contextlib.contextmanager
def _loopback_only(ray: Any) -> Iterator[None]:
    """Make the local instance started inside this block listen on 127.0.0.1 only.

    On Linux, Ray 2.60 turns ``_node_ip_address="127.0.0.1"`` into the machine's routable address and its
    servers (GCS, raylet, agents) listen on every interface: anyone who reaches this machine could then run
    code in it. Ray keeps a single-machine instance on loopback where clusters are disabled (its
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` switch, read at import). The switch is set for the processes
    started here and in this process; both are restored afterwards, so a later cluster connection from
    this process is unaffected. tests/test_ray.py checks the node's address, so a Ray upgrade that
    changes this fails there.
    """
    constants = ray._private.ray_constants
    saved_env, saved_flag = os.environ.get(CLUSTER_SWITCH), constants.ENABLE_RAY_CLUSTER
    os.environ[CLUSTER_SWITCH] = "0"
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(CLUSTER_SWITCH, None)
        else:
            os.environ[CLUSTER_SWITCH] = saved_env


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, without terminal colour codes."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _probe(address: str) -> None:
    """Fail fast on a cluster address nobody answers at: ``ray.init`` would retry it for minutes.

    ``auto`` (the cluster that ``ray start`` left on this machine) is left to Ray, which fails fast itself.
    """
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ReachError(f"--address '{address}' is not HOST:PORT (e.g. --address 10.0.0.5:6379, the head node's "
                         f"`ray start --head --port=6379`), nor 'auto'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise ReachError(f"nothing answers at the Ray cluster address {address} ({exc.strerror or exc}); start the "
                         f"head there with `ray start --head --port={port}`, or fix --address") from None


class RayExecutor:
    """Runs each submitted RunSpec as one Ray task; see the module docstring for resources and failures.

    ``workers``: runs at once on a local instance (ignored for scheduling on a cluster). ``address``: a Ray
    cluster (``HOST:PORT`` or ``auto``), or None for a new local instance. ``cpus_per_run`` (> 0) and
    ``gpus_per_run`` (>= 0): Ray resources per run, fractions allowed. ``retries`` (>= 0): how often a run
    lost to a dead worker or node is run again before it is recorded as an error.
    """

    name = "ray"

    def __init__(self, workers: int, address: str | None = None, cpus_per_run: float = 1.0,
                 gpus_per_run: float = 0.0, retries: int = 2) -> None:
        try:
            import ray
        except ImportError:
            raise ReachError(INSTALL_HINT) from None
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ReachError(f"--workers must be an integer >= 1, got {workers!r}")
        if not (isinstance(cpus_per_run, (int, float)) and math.isfinite(cpus_per_run) and cpus_per_run > 0):
            raise ReachError(f"--cpus-per-run must be > 0, got {cpus_per_run!r}")
        if not (isinstance(gpus_per_run, (int, float)) and math.isfinite(gpus_per_run) and gpus_per_run >= 0):
            raise ReachError(f"--gpus-per-run must be >= 0, got {gpus_per_run!r}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ReachError(f"--retries must be an integer >= 0, got {retries!r}")
        self._ray = ray
        self.address = address
        self.cpus_per_run = float(cpus_per_run)
        self.gpus_per_run = float(gpus_per_run)
        self.retries = retries
        self.threads = int(cpus_per_run) if cpus_per_run > 1 else None
        self._pending: dict[Any, cf.Future] = {}
        self._closed = False
        self._owns_ray = False
        if ray.is_initialized():
            if address is not None:
                raise ReachError(f"Ray is already initialised in this process; cannot also connect to {address}")
        else:
            self._start(workers)
        self.workers = workers if address is None else self._cluster_capacity()
        self._remote = ray.remote(run_task).options(
            num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=retries, retry_exceptions=False)

    # -- starting and connecting ----------------------------------------------------------------------------
    def _start(self, workers: int) -> None:
        ray = self._ray
        # Set before Ray starts any process, so that they all inherit them: no usage-stats prompt or upload.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if self.address is None:
                # Workers import reach's packages from here even when the driver runs from another directory.
                pythonpath = os.pathsep.join(p for p in (REPO_ROOT, os.environ.get("PYTHONPATH", "")) if p)
                with _loopback_only(ray):
                    ray.init(address="local", num_cpus=math.ceil(workers * self.cpus_per_run),
                             _node_ip_address="127.0.0.1", runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
                             **quiet)
            else:
                _probe(self.address)
                ray.init(address=self.address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            hint = ("; is `ray start --head` running there, with the same Ray version? A cluster with token "
                    "authentication (Ray's default once ~/.ray/auth_token exists) also needs RAY_AUTH_MODE=token "
                    "and its token (`ray get-auth-token` on the head) in RAY_AUTH_TOKEN") if self.address else ""
            raise ReachError(f"could not start or reach {where}: {_first_line(exc)}{hint}") from None
        self._owns_ray = True
        if self.address is not None:
            self._check_fits()

    def _check_fits(self) -> None:
        """Refuse per-run resources that no node of the cluster has: Ray would wait for them forever."""
        nodes = [n.get("Resources", {}) for n in self._ray.nodes() if n.get("Alive")]
        most_cpus = max((r.get("CPU", 0.0) for r in nodes), default=0.0)
        most_gpus = max((r.get("GPU", 0.0) for r in nodes), default=0.0)
        if self.cpus_per_run > most_cpus:
            self.shutdown()
            raise ReachError(f"--cpus-per-run {self.cpus_per_run:g} is more than any node of the cluster at "
                             f"{self.address} has ({most_cpus:g}); ask for fewer CPUs per run")
        if self.gpus_per_run > most_gpus:
            self.shutdown()
            raise ReachError(f"--gpus-per-run {self.gpus_per_run:g} is more than any node of the cluster at "
                             f"{self.address} has ({most_gpus:g}); ask for fewer GPUs per run")

    def _cluster_capacity(self) -> int:
        """How many runs the cluster holds at once, by CPUs (and GPUs when runs ask for them)."""
        total = self._ray.cluster_resources()
        runs = int(total.get("CPU", 0.0) // self.cpus_per_run)
        if self.gpus_per_run > 0:
            runs = min(runs, int(total.get("GPU", 0.0) // self.gpus_per_run))
        return max(runs, 1)

    # -- the executor interface -----------------------------------------------------------------------------
    def submit(self, spec: RunSpec, resume: bytes | None = None) -> cf.Future:
        """Submit one run; the future resolves to its record (an "error" record when Ray lost it for good)."""
        if self._closed:
            raise RuntimeError("RayExecutor.submit after shutdown")
        if self.gpus_per_run > 0 and spec.device == "cpu":
            raise ReachError(f"--gpus-per-run {self.gpus_per_run:g} reserves GPUs, but run {spec.label} on "
                             f"{spec.task} (distance {spec.distance}) has device = \"cpu\" and would not use "
                             f"them; set device = \"auto\" in the suite's [defaults], or drop --gpus-per-run")
        outer: cf.Future = cf.Future()
        ref = self._remote.remote(spec.to_dict(), self.threads, resume)
        self._pending[ref] = outer
        inner = ref.future()

        def done(f: cf.Future) -> None:
            self._pending.pop(ref, None)
            if outer.done():
                return
            exc = f.exception()
            outer.set_result(f.result() if exc is None else self._lost_record(spec, exc))

        inner.add_done_callback(done)
        return outer

    def _lost_record(self, spec: RunSpec, exc: BaseException) -> RunRecord:
        """The "error" record of a run that produced no record: its worker/node died, or Ray failed it."""
        ex = self._ray.exceptions
        if isinstance(exc, (ex.WorkerCrashedError, ex.NodeDiedError, ex.OutOfMemoryError, ex.LocalRayletDiedError,
                            ex.ObjectLostError)):
            tries = "no retries" if self.retries == 0 else f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}"
            reason = RunLostError(f"the Ray worker running this run died ({type(exc).__name__}), "
                                  f"given up after {tries}: {_first_line(exc)}")
        elif isinstance(exc, ex.RayTaskError) and exc.cause is not None:
            cause = exc.cause
            if isinstance(cause, ImportError) or "failed to import on the worker" in str(cause):
                reason = RunLostError(f"a Ray worker could not import reach's code ({_first_line(cause)}); install "
                                      f"reach at the same path on every node (README: Running on a cluster)")
            else:
                reason = RunLostError(f"Ray failed this run ({type(cause).__name__}): {_first_line(cause)}")
        else:
            reason = RunLostError(f"Ray failed this run ({type(exc).__name__}): {_first_line(exc)}")
        return RunRecord.failure(spec, reason)

    def shutdown(self) -> None:
        """Stop the local Ray instance this executor started, or disconnect from a cluster it connected to
        (the cluster keeps running; this driver's unfinished tasks end with it). Runs still pending are
        cancelled. A Ray that was initialised before this executor is left running. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        if not ray.is_initialized():
            return
        if self._owns_ray:
            ray.shutdown()  # a local instance stops; on a cluster, Ray ends this driver's unfinished tasks
        else:
            for ref in list(self._pending):
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # already finished or already gone: nothing left to cancel
                    pass
        self._pending.clear()

    def abort(self) -> None:
        """Stop now (the sweep was interrupted): shutdown cancels what is still pending."""
        self.shutdown()
