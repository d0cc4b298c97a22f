"""Executors: where runs execute. One small interface: ``submit(spec) -> concurrent.futures.Future`` of the
run's record, and ``shutdown()``. Every run seeds itself from its spec and uses ``spec.threads`` torch
threads, so the same specs give the same numbers on every executor.

- ``InProcessExecutor``: runs each spec when submitted, in this process (debugging, tests).
- ``ProcessPoolExecutor``: a local pool of spawned worker processes, one torch thread each (spawn, not
  fork: forking after OpenMP has started deadlocks or crawls). A worker that dies (killed, out of memory)
  breaks the pool; the pool is rebuilt and the run retried once before it is recorded as an error.
- ``RayExecutor`` (harness.ray_executor): Ray tasks on a local or remote cluster.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import time
from typing import Any

from harness.spec import RunSpec


def execute(spec_dict: dict[str, Any]) -> dict[str, Any]:
    """Run one spec (given as a dict, so it crosses process boundaries cheaply); never raises for run
    failures: an exception becomes an "error" record."""
    from harness.train import failed_record, train

    spec = RunSpec.from_dict(spec_dict)
    t0 = time.perf_counter()
    try:
        return train(spec)
    except Exception as exc:  # a run that raised is a recorded outcome; the sweep goes on
        return failed_record(spec, exc, time.perf_counter() - t0)


def _exit_with_driver(driver: int, interval: float = 1.0) -> None:
    """Exit this worker once the driver process is gone (killed, crashed): an orphaned worker would finish
    its run for nobody and hold a core. A thread watching the parent pid, since PR_SET_PDEATHSIG follows the
    thread that spawned the worker, which for a rebuilt pool is a short-lived callback thread."""
    while os.getppid() == driver:
        time.sleep(interval)
    os._exit(1)


def _worker_init() -> None:
    import threading

    import torch

    threading.Thread(target=_exit_with_driver, args=(os.getppid(),), daemon=True).start()

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)


class InProcessExecutor:
    name = "in-process"

    def __init__(self, workers: int = 1) -> None:
        self.workers = 1

    def submit(self, spec: RunSpec) -> cf.Future:
        fut: cf.Future = cf.Future()
        fut.set_result(execute(spec.to_dict()))
        return fut

    def shutdown(self) -> None:
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
                                      initializer=_worker_init)

    def submit(self, spec: RunSpec) -> cf.Future:
        outer: cf.Future = cf.Future()
        self._submit(spec, outer, self.retries)
        return outer

    def _submit(self, spec: RunSpec, outer: cf.Future, retries_left: int) -> None:
        try:
            inner = self._pool.submit(execute, spec.to_dict())
        except cf.process.BrokenProcessPool:
            self._pool = self._new_pool()
            inner = self._pool.submit(execute, spec.to_dict())

        def done(f: cf.Future) -> None:
            if f.cancelled() or self._aborting:  # the sweep is stopping: nothing to record or retry
                outer.cancel()
                return
            exc = f.exception()
            if exc is None:
                outer.set_result(f.result())
            elif isinstance(exc, cf.process.BrokenProcessPool) and retries_left > 0:
                self._submit(spec, outer, retries_left - 1)
            else:
                from harness.train import failed_record

                outer.set_result(failed_record(spec, RuntimeError(f"worker process died: {exc}")))

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


def make_executor(name: str, workers: int, **kwargs: Any):
    from harness.errors import ReachError

    if name == "in-process":
        return InProcessExecutor()
    if name == "process-pool":
        return ProcessPoolExecutor(workers)
    if name == "ray":
        from harness.ray_executor import RayExecutor

        return RayExecutor(workers=workers, **kwargs)
    raise ReachError(f"unknown executor '{name}' (choose in-process, process-pool or ray)")
