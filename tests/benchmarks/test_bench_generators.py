"""Task generation must never be the bottleneck: tokens/s of every task's generator against the fastest learner's
training tokens/s, in one run. Required: every generator at least RATIO times faster.

How it is timed. pytest-benchmark times one batch of every task (the stored figure), each sample call timed
on its own inside; its untimed ``setup`` times one training step of every learner before each round, so the
two alternate. Both at ~8192 tokens per batch and length ~256 (learners: d_model 64, 2 layers, the lag task
at n = 256; tasks: distance 256, default parameters). Medians over ROUNDS rounds.

Besides the defaults, the generators run at the field's settings (FIELD, from REFERENCES.md): a generator whose
cost grows with the vocabulary or an unused dimension rather than the tokens it makes shows up there (Zoology's
MQAR draws keys from a vocabulary of 8,192; Mamba's selective copying is 4,096 long).
"""

import time

from learners import LEARNERS
from tasks import TASKS, Task
from tests.benchmarks.workloads import TOKENS, generator_task, median, train_step

RATIO = 20  # the requirement
ROUNDS = 5
SAMPLES_PER_ROUND = 5
# label: (task, parameters). Recall's length is 2·pairs + distance: (L, pairs) = (256, 16) and (512, 64).
FIELD: dict[str, tuple[str, dict]] = {
    "recall V=8192 L=256 16 pairs": ("recall", {"distance": 224, "n_pairs": 16, "vocab": 8192}),
    "recall V=8192 L=512 64 pairs": ("recall", {"distance": 384, "n_pairs": 64, "vocab": 8192}),
    "selective-copy L=4096 V=16 16 data": ("selective-copy", {"distance": 4080, "n_data": 16, "vocab": 16}),
    "copy T=1000": ("copy", {"distance": 1000}),
    "hold 16 items": ("hold", {"distance": 256, "n_items": 16}),  # the top of the load ladder (hold 1 item: TASKS)
}


def field_task(name: str, params: dict) -> tuple[Task, int]:
    """The task at the field's setting and the batch size giving ~TOKENS tokens (at least one sequence)."""
    task = TASKS[name].from_params(**params)
    return task, max(1, TOKENS // task.seq_len)


def test_generators_outpace_fastest_learner(measured, figures):
    import torch

    steps = {name: train_step(name, 256) for name in LEARNERS}
    tasks = {name: generator_task(name) for name in TASKS}
    tasks.update({label: field_task(name, params) for label, (name, params) in FIELD.items()})
    gens = {name: torch.Generator().manual_seed(0) for name in tasks}
    step_s: dict[str, list[float]] = {name: [] for name in steps}
    sample_s: dict[str, list[float]] = {name: [] for name in tasks}

    def time_learners():
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            step_s[name].append(time.perf_counter() - t0)

    def sample_every_task():
        for name, (task, batch_size) in tasks.items():
            for _ in range(SAMPLES_PER_ROUND):
                t0 = time.perf_counter()
                task.sample(batch_size, gens[name])
                sample_s[name].append(time.perf_counter() - t0)

    for step in steps.values():
        step()  # first calls allocate
    measured.group = "generator-vs-learner"
    measured.pedantic(sample_every_task, setup=time_learners, rounds=ROUNDS, warmup_rounds=1)

    learner_tps = {name: steps[name].tokens / median(ts[1:]) for name, ts in step_s.items()}
    fastest = max(learner_tps, key=learner_tps.get)
    ratios = {}
    for name, (task, batch_size) in tasks.items():
        tps = batch_size * task.seq_len / median(sample_s[name][SAMPLES_PER_ROUND:])
        ratios[name] = tps / learner_tps[fastest]
        figures.append(f"generator {name:<35} {tps:>14,.0f} tokens/s = {ratios[name]:7.1f} x the fastest learner "
                       f"({fastest}, {learner_tps[fastest]:,.0f} training tokens/s at n=256, d_model 64)")
    measured.extra_info.update({"fastest_learner": fastest, "learner_tokens_per_s": learner_tps,
                                "generator_over_fastest_learner": ratios})
    slow = {name: round(r, 1) for name, r in ratios.items() if r <= RATIO}
    assert not slow, f"task generation would be a bottleneck: generator / fastest-learner ratio <= {RATIO}: {slow}"
