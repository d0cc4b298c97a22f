"""Executors: where runs execute. One small interface (``Executor``): ``submit(spec, resume)`` returns a
``concurrent.futures.Future`` of the run's record (``resume``: the checkpoint a continuing run starts from, see
harness.run.train); ``shutdown()`` and ``abort()`` end it. Every run seeds itself
from its spec and uses ``spec.threads`` torch threads, so the same specs give the same numbers on every executor.

- ``InProcessExecutor``: runs each spec when submitted, in this process (debugging, tests).
- ``ProcessPoolExecutor``: a local pool of spawned worker processes, one torch thread each (spawn, not
  fork: forking after OpenMP has started deadlocks or crawls). A worker that dies (killed, out of memory)
  breaks the pool; the pool is rebuilt and the run retried once before it is recorded as an error.
- ``RayExecutor`` (harness.run.ray_executor): Ray tasks on a local or remote cluster.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from typing import Any, Protocol

from harness.config.spec import RunSpec
from harness.errors import ReachError
from harness.run.worker import execute, init_pool_worker
from harness.store.record import RunRecord


class Executor(Protocol):
    """Where runs execute: ``submit`` returns a future of the run's record; ``shutdown`` frees the workers once
    the sweep is done; ``abort`` stops the work still running now (the sweep was interrupted)."""

    name: str
    workers: int  # runs that execute at once

    def submit(self, spec: RunSpec, resume: bytes | None = None) -> cf.Future: ...

    def shutdown(self) -> None: ...

    def abort(self) -> None: ...


class InProcessExecutor:
    name = "in-process"

    def __init__(self, workers: int = 1) -> None:
        self.workers = 1

    def submit(self, spec: RunSpec, resume: bytes | None = None) -> cf.Future:
        fut: cf.Future = cf.Future()
        fut.set_result(execute(spec.to_dict(), resume))
        return fut

    def shutdown(self) -> None:
        pass

    def abort(self) -> None:
        pass


class ProcessPoolExecutor:
    name = "process-pool"

    def __init__(self, workers: int, retries: int = 1) -> None:
        self.workers = workers
        self.retries = retries
        self._aborting = False
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                      initializer=init_pool_worker, initargs=(os.getpid(),))

    def submit(self, spec: RunSpec, resume: bytes | None = None) -> cf.Future:
        outer: cf.Future = cf.Future()
        self._submit(spec, resume, outer, self.retries)
        return outer

    def _submit(self, spec: RunSpec, resume: bytes | None, outer: cf.Future, retries_left: int) -> None:
        try:
            inner = self._pool.submit(execute, spec.to_dict(), resume)
        except cf.process.BrokenProcessPool:
            self._pool = self._new_pool()
            inner = self._pool.submit(execute, spec.to_dict(), resume)

        def done(f: cf.Future) -> None:
            if f.cancelled() or self._aborting:  # the sweep is stopping: nothing to record or retry
                outer.cancel()
                return
            exc = f.exception()
            if exc is None:
                outer.set_result(f.result())
            elif isinstance(exc, cf.process.BrokenProcessPool) and retries_left > 0:
                self._submit(spec, resume, outer, retries_left - 1)
            else:
                outer.set_result(RunRecord.failure(spec, RuntimeError(f"worker process died: {exc}")))

        inner.add_done_callback(done)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop now (the sweep was interrupted): kill the workers instead of waiting for their runs, which
        are lost anyway and re-run on resume."""
        self._aborting = True
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)


def make_executor(name: str, workers: int, **kwargs: Any) -> Executor:
    """The executor ``name`` ('in-process', 'process-pool', 'ray') with ``workers`` runs at once; Ray options
    (address, cpus_per_run, gpus_per_run, retries) go through ``kwargs``."""
    if name == "in-process":
        return InProcessExecutor()
    if name == "process-pool":
        return ProcessPoolExecutor(workers)
    if name == "ray":  # imported here: Ray is optional (requirements-ray.txt)
        from harness.run.ray_executor import RayExecutor

        return RayExecutor(workers=workers, **kwargs)
    raise ReachError(f"unknown executor '{name}' (choose in-process, process-pool or ray)")
