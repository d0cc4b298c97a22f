"""One training step (forward, loss, backward, clip, AdamW) of every learner through the harness's model and
loss, at three sequence lengths with a fixed number of tokens per batch; grouped by learner. Users' own
learners join through REACH_BENCH_LEARNERS (see workloads.py).

extra_info: learner, seq_len, batch, d_model, params, learner_params, flops_per_step (forward + backward),
tokens_per_s (tokens per batch ÷ median seconds) and flops_per_s.
"""

import pytest
import torch

from tests.benchmarks.workloads import BENCH_LEARNERS, LENGTHS, tokens_per_s, train_step


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("learner", BENCH_LEARNERS)
def test_train_step(benchmark, learner, n):
    step = train_step(learner, n)
    before = [p.detach().clone() for p in step.model.parameters()]
    benchmark.group = f"train-step:{learner}"
    if not benchmark.disabled:
        benchmark.extra_info.update(step.info())
        step()  # the first call allocates; keep it out of the calibration
    benchmark(step)
    rate = tokens_per_s(benchmark, step.tokens)
    if rate is not None:
        benchmark.extra_info["tokens_per_s"] = rate
        benchmark.extra_info["flops_per_s"] = benchmark.extra_info["flops_per_step"] * rate / step.tokens
    after = list(step.model.parameters())
    assert all(torch.isfinite(p).all() for p in after), f"{learner}: non-finite parameters after training steps"
    assert any(not torch.equal(a, b) for a, b in zip(after, before)), f"{learner}: the step changed no parameter"
