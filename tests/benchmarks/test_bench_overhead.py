"""The harness's own cost: harness.run.train.train() against a bare hand-written PyTorch loop on the same model, data,
optimiser, schedule and clipping, for the same number of steps, in one run. Target: at most 3% more per step.

How it is timed. Each side runs SHORT and LONG steps (train(): the whole call, model build, validation set and
final evaluations included; the bare loop: model build and loop); the per-step cost is the difference of the
two medians over LONG - SHORT steps, so every fixed cost cancels and what is left is the loop itself. Rounds
interleave the two sides, in alternating order. Both CPU time (time.process_time: what this process computed,
blind to other processes taking the cores, which on a shared 2-core machine moves wall times by ±10% from one
run to the next) and wall time are reported; the verdict uses CPU time. The LONG runs of both sides must end
with bit-identical parameters, or they did not do the same work.
"""

import time

import pytest
import torch
import torch.nn.functional as F

from harness.config.spec import RunSpec
from harness.run.model import build_model
from harness.run.train import MODEL_INIT, TRAIN, generator, lr_factor, stream_seed, train
from tests.benchmarks.workloads import median

SHORT, LONG = 10, 110
ROUNDS = 7
TARGET = 1.03  # the target: the harness costs at most 3% more per step
GUARD = 1.10  # asserted on the rounds' lower quartile: above this machine's noise, far below what a real regression
# (an eval per step) costs
# (learner, d_model, batch): the smoke suite's size with the cheapest learner (a fixed per-step cost weighs most
# there) and the main study's size with a recurrent learner.
CONFIGS = [("cnn", 32, 16), ("lstm", 64, 32)]


def bare_loop(spec: RunSpec) -> torch.nn.Module:
    """What a user would write by hand for the same model, data stream, optimiser, schedule and clipping."""
    task = spec.task_obj
    torch.manual_seed(stream_seed(spec.seed, MODEL_INIT))
    model = build_model(task, spec.learner, spec.d_model, spec.n_layers, spec.learner_options).train()
    gen = generator(spec.seed, TRAIN)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, spec))
    for _ in range(spec.steps):
        batch = task.sample(spec.batch_size, gen)
        out = model(batch.inputs)
        loss = F.cross_entropy(out[batch.loss_mask], batch.targets[batch.loss_mask])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        opt.step()
        sched.step()
    return model


def harness_loop(spec: RunSpec) -> torch.nn.Module:
    record, model = train(spec, return_model=True)
    assert record.steps_run == spec.steps and record.outcome != "diverged", record.stop_reason
    return model


def timed(fn, spec):
    c0, w0 = time.process_time(), time.perf_counter()
    model = fn(spec)
    return time.process_time() - c0, time.perf_counter() - w0, model


@pytest.mark.parametrize(("learner", "d_model", "batch"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_harness_overhead(measured, figures, learner, d_model, batch):
    def spec(steps):  # eval after the last step only, a threshold no run meets: exactly `steps` steps
        return RunSpec(task="lag", distance=16, learner=learner, d_model=d_model, batch_size=batch, steps=steps,
                       eval_every=steps, val_batches=1, test_batches=1, solve_threshold=1.0, warmup_steps=5)

    specs = {SHORT: spec(SHORT), LONG: spec(LONG)}
    times = {(side, n): [] for side in ("harness", "bare") for n in specs}
    models = {}
    rounds = iter(range(ROUNDS + 1))

    def one_round():
        jobs = [(side, fn, n) for n in specs for side, fn in (("harness", harness_loop), ("bare", bare_loop))]
        if next(rounds) % 2:
            jobs.reverse()
        for side, fn, n in jobs:
            cpu, wall, models[side, n] = timed(fn, specs[n])
            times[side, n].append((cpu, wall))

    measured.group = "harness-overhead"
    measured.pedantic(one_round, rounds=ROUNDS, warmup_rounds=1)
    for (name, p), q in zip(models["harness", LONG].named_parameters(), models["bare", LONG].parameters(), strict=True):
        assert torch.equal(p, q), f"the bare loop and the harness trained different parameters ({name})"

    def per_step(side, i):  # i = 0: CPU time, 1: wall time; the warm-up round left out
        long, short = (median([t[i] for t in times[side, n][1:]]) for n in (LONG, SHORT))
        return (long - short) / (LONG - SHORT)

    cpu_ratio = per_step("harness", 0) / per_step("bare", 0)
    wall_ratio = per_step("harness", 1) / per_step("bare", 1)

    def round_ratio(r):  # one round's own estimate, for the spread: how far one round is from the next
        h, b = (times[side, LONG][r][0] - times[side, SHORT][r][0] for side in ("harness", "bare"))
        return h / b

    spread = sorted(round_ratio(r) for r in range(1, ROUNDS + 1))
    q1, q3 = spread[len(spread) // 4], spread[(3 * len(spread)) // 4]
    measured.extra_info.update({
        "learner": learner, "d_model": d_model, "batch": batch, "steps": [SHORT, LONG], "rounds": ROUNDS,
        "harness_ms_per_step_cpu": 1e3 * per_step("harness", 0), "bare_ms_per_step_cpu": 1e3 * per_step("bare", 0),
        "overhead_ratio_cpu": cpu_ratio, "overhead_ratio_wall": wall_ratio, "round_ratio_quartiles": [q1, q3]})
    verdict = "met" if cpu_ratio <= TARGET else "NOT MET"
    figures.append(f"harness overhead, {learner} d_model {d_model} batch {batch}, per step over {LONG - SHORT} steps, "
                   f"medians of {ROUNDS} interleaved rounds: harness {1e3 * per_step('harness', 0):.3f} ms, bare loop "
                   f"{1e3 * per_step('bare', 0):.3f} ms CPU time, ratio {cpu_ratio:.4f} (target <= {TARGET}: "
                   f"{verdict}; single rounds {q1:.3f}-{q3:.3f} interquartile); wall-time ratio {wall_ratio:.4f}")
    # The guard reads the lower quartile of the single rounds: load from a neighbour lands on one side of a round at
    # random (a CI run here gave a median of 1.102 with rounds from 1.007 to 1.217), while a real regression shifts
    # every round, the least disturbed ones included.
    assert q1 <= GUARD, (f"the harness loop costs {100 * (q1 - 1):.1f}% more per step than a bare loop even in its "
                         f"least disturbed rounds (median {cpu_ratio:.3f})")
