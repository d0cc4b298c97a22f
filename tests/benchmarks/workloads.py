"""What the speed-regression suite times, shared by its modules: a harness training step, task sampling, and
the per-step timing helpers of the ratio probes (harness overhead, generator vs learner).

Every workload runs on one torch thread (tests/conftest.py sets it), the way sweep workers run.

Your own learners join the training-step benchmarks through the environment, no fork needed:
``REACH_BENCH_LEARNERS=mypackage.models:MyLearner,other.mod:Other pytest tests/benchmarks --benchmark-only``
(the modules must be importable: run from their folder or put it on PYTHONPATH).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from harness.config.spec import make_task
from harness.run.model import SequenceModel, build_model, count_parameters
from harness.run.train import task_loss
from learners import LEARNERS
from tasks import Batch, Task

TOKENS = 8192  # tokens per training batch at every sequence length (batch = TOKENS // n)
LENGTHS = (64, 256, 1024)
D_MODEL = 64
N_LAYERS = 2
GENERATOR_DISTANCE = 256  # every task is sampled at this distance, TOKENS tokens per batch
# The built-in learners, plus users' own ('package.module:Class', comma-separated) from REACH_BENCH_LEARNERS.
BENCH_LEARNERS = list(LEARNERS) + [r.strip() for r in os.environ.get("REACH_BENCH_LEARNERS", "").split(",")
                                   if r.strip()]


@dataclass
class TrainStep:
    """One training step of the harness's model (encoder, learner, head) and loss on the lag task at length n:
    forward, task_loss, backward, gradient clipping, AdamW step."""

    learner: str
    n: int
    task: Task
    model: SequenceModel
    batch: Batch
    opt: torch.optim.Optimizer

    @property
    def tokens(self) -> int:
        return self.batch.inputs.shape[0] * self.n

    def __call__(self) -> None:
        loss = task_loss(self.task, self.model(self.batch.inputs), self.batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()

    def info(self) -> dict[str, Any]:
        """Parameters and FLOPs of one step (forward + backward; 2 FLOPs per multiply-add, matrix products
        only, see harness.measure.flops) for benchmark.extra_info."""
        from harness.measure.flops import count_flops

        return {"learner": self.learner, "seq_len": self.n, "batch": self.batch.inputs.shape[0],
                "d_model": D_MODEL, "n_layers": N_LAYERS, "tokens": self.tokens,
                "params": count_parameters(self.model), "learner_params": count_parameters(self.model.learner),
                "flops_per_step": count_flops(self.model, self.batch.inputs, backward=True),
                "threads": torch.get_num_threads()}


def train_step(learner: str, n: int, tokens: int = TOKENS, d_model: int = D_MODEL, seed: int = 0) -> TrainStep:
    task = make_task("lag", max(1, n // 4), {}, seq_len=n)
    torch.manual_seed(seed)
    model = build_model(task, learner, d_model, N_LAYERS, {}).train()
    batch = task.sample(max(1, tokens // n), torch.Generator().manual_seed(seed))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return TrainStep(learner, n, task, model, batch, opt)


def generator_task(name: str, distance: int = GENERATOR_DISTANCE) -> tuple[Task, int]:
    """The task ``name`` at ``distance`` with its default parameters, and the batch size giving ~TOKENS tokens."""
    task = make_task(name, distance, {})
    return task, max(1, TOKENS // task.seq_len)


def seconds(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median(values: list[float]) -> float:
    return statistics.median(values)


def tokens_per_s(benchmark: Any, tokens: int) -> float | None:
    """tokens ÷ the benchmark's median seconds per call; None when benchmarks are disabled (no stats)."""
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return None
    return tokens / stats.stats.median
