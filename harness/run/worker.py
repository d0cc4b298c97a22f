"""What a worker does with one run: rebuild its spec, train it, and turn an exception into a recorded outcome.

Every executor calls ``execute`` — in this process, in a spawned pool worker, or in a Ray task — so a run
behaves the same wherever it is placed. ``init_pool_worker`` sets up a local pool's worker process.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import torch

from harness.config.spec import RunSpec
from harness.run.train import train
from harness.store.record import RunRecord


def execute(spec_dict: dict[str, Any], resume: bytes | None = None) -> RunRecord:
    """Run one spec (given as a dict, so it crosses process boundaries cheaply), continuing from ``resume`` (the
    checkpoint of the run ``spec.continues`` names) when given; never raises for run failures: an exception
    becomes an "error" record."""
    spec = RunSpec.from_dict(spec_dict)
    t0 = time.perf_counter()
    try:
        return train(spec, resume=resume)
    except Exception as exc:  # a run that raised is a recorded outcome; the sweep goes on
        return RunRecord.failure(spec, exc, time.perf_counter() - t0)


def _exit_with_driver(driver: int, interval: float = 1.0) -> None:
    """Exit this worker once the driver process is gone (killed, crashed): an orphaned worker would finish
    its run for nobody and hold a core. A thread watching the parent pid, since PR_SET_PDEATHSIG follows the
    thread that spawned the worker, which for a rebuilt pool is a short-lived callback thread."""
    while os.getppid() == driver:
        time.sleep(interval)
    os._exit(1)


def init_pool_worker(driver: int) -> None:
    """A local pool's worker: one torch thread (small models run fastest so; two threads per process under
    contention collapse), and an exit when the driver (pid ``driver``) dies. The driver's pid is passed in, not
    read here: a driver killed while this worker was still importing would already have left it reparented."""
    threading.Thread(target=_exit_with_driver, args=(driver,), daemon=True).start()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
