"""Batch generation of every task at distance 256, ~8192 tokens per batch; extra_info: tokens_per_s."""

import pytest
import torch

from tasks import TASKS
from tests.benchmarks.workloads import generator_task, tokens_per_s


@pytest.mark.parametrize("name", list(TASKS))
def test_generate_batch(benchmark, name):
    task, batch_size = generator_task(name)
    gen = torch.Generator().manual_seed(0)
    benchmark.group = "generate"
    benchmark.extra_info.update({"task": name, "distance": task.distance, "seq_len": task.seq_len,
                                 "batch": batch_size})
    batch = benchmark(task.sample, batch_size, gen)
    rate = tokens_per_s(benchmark, batch_size * task.seq_len)
    if rate is not None:
        benchmark.extra_info["tokens_per_s"] = rate
    assert batch.mask.shape == (batch_size, task.seq_len) and batch.mask.any(dim=1).all()
