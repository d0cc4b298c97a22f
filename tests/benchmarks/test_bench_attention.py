"""Local attention against the full transformer, in one run (issue 14): local attention (window 16, rotary
positions, the main study's setting) must cost no more than the full transformer at n = 64 and clearly less at
n = 1024.

What is timed. One forward+backward of the learner alone (no encoder, head or optimiser): batch 32, d_model 64,
2 layers, 4 heads, one thread. The full transformer runs with rotary positions (the like-for-like comparison)
and with sinusoidal positions (the main study's most expensive learner), for reference.

How it is timed. Each round times every learner at every length once, the order reversed every other round;
medians over ROUNDS rounds after a warm-up round. The verdict uses CPU time (time.process_time: blind to other
processes taking the shared cores); wall time is reported beside it.

A second probe times local attention's two score layouts against each other (one masked L x L block, and
chunks of window queries against 2·window keys) around L = 3·window: the figures behind
learners.attention.DENSE_WINDOWS.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from learners import LEARNERS, attention

BATCH, D_MODEL, N_LAYERS, WINDOW = 32, 64, 2, 16
ROUNDS = 7
LEARNERS_TIMED = {"local-attention": ("local-attention", {"window": WINDOW, "positions": "rotary"}),
                  "transformer[rotary]": ("transformer", {"positions": "rotary"}),
                  "transformer[sinusoidal]": ("transformer", {"positions": "sinusoidal"})}
# (length, target, guard): local / full-rotary CPU-time ratio. The target is the issue's; the asserted guard
# allows this machine's noise at n = 64, where the projections and MLP, the same in both, take most of the time.
LENGTHS = [(64, 1.0, 1.10), (1024, 0.5, 0.5)]
LAYOUT_LENGTHS = [32, 48, 56, 64, 80]  # window 16: 2w, 3w (the last dense length), 3.5w, 4w, 5w


def learner_step(name: str, options: dict, n: int) -> Callable[[], torch.Tensor]:
    """One forward+backward of a freshly seeded learner on fixed inputs; returns the output (for comparisons)."""
    torch.manual_seed(0)
    model = LEARNERS[name](d_model=D_MODEL, n_layers=N_LAYERS, max_len=1024, **options).train()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, n, D_MODEL, generator=g).requires_grad_()
    grad_out = torch.randn(BATCH, n, D_MODEL, generator=g)

    def step() -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        x.grad = None
        y = model(x)
        y.backward(grad_out)
        return y.detach()

    return step


def timed(step: Callable[[], torch.Tensor]) -> tuple[float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    step()
    return time.process_time() - c0, time.perf_counter() - w0


def interleaved(measured, jobs: dict, rounds: int) -> dict:
    """Medians (CPU, wall seconds) per job over ``rounds`` rounds after a warm-up round, order alternating."""
    times: dict = {key: [] for key in jobs}
    count = iter(range(rounds + 1))

    def one_round():
        order = list(jobs.items())
        if next(count) % 2:
            order.reverse()
        for key, step in order:
            times[key].append(timed(step))

    measured.pedantic(one_round, rounds=rounds, warmup_rounds=1)
    # pedantic's warm-up round is the first call of one_round, so times[key][0] is the warm-up
    return {key: tuple(statistics.median(t[i] for t in ts[1:]) for i in (0, 1)) for key, ts in times.items()}


def test_local_attention_costs_less_than_full_attention(measured, figures):
    jobs = {(label, n): learner_step(name, options, n)
            for n, _, _ in LENGTHS for label, (name, options) in LEARNERS_TIMED.items()}
    measured.group = "attention-local-vs-full"
    medians = interleaved(measured, jobs, ROUNDS)

    failures = []
    for n, target, guard in LENGTHS:
        local = medians["local-attention", n]
        for label in ("transformer[rotary]", "transformer[sinusoidal]"):
            full = medians[label, n]
            cpu, wall = local[0] / full[0], local[1] / full[1]
            measured.extra_info[f"local_over_{label}_n{n}"] = {"cpu": cpu, "wall": wall}
            verdict = ""
            if label == "transformer[rotary]":
                verdict = f" (target <= {target}: {'met' if cpu <= target else 'NOT MET'})"
                if cpu > guard:
                    failures.append(f"n={n}: local / full = {cpu:.3f} > {guard}")
            figures.append(f"local-attention (window {WINDOW}, rotary) vs {label}, n={n}, batch {BATCH}, d_model "
                           f"{D_MODEL}, {N_LAYERS} layers, forward+backward, medians of {ROUNDS} interleaved rounds: "
                           f"{1e3 * local[0]:.2f} vs {1e3 * full[0]:.2f} ms CPU time, ratio {cpu:.3f}{verdict}; "
                           f"wall-time ratio {wall:.3f}")
    measured.extra_info["ms_cpu"] = {f"{label} n={n}": 1e3 * m[0] for (label, n), m in medians.items()}
    assert not failures, "local attention is not cheaper than full attention: " + "; ".join(failures)


def test_local_attention_layouts_around_the_dense_limit(measured, figures, monkeypatch):
    name, options = LEARNERS_TIMED["local-attention"]
    shipped_limit = attention.DENSE_WINDOWS * WINDOW  # read before the probe patches it
    steps = {n: learner_step(name, options, n) for n in LAYOUT_LENGTHS}
    layouts = {"dense": 10**9, "chunked": 0}  # DENSE_WINDOWS values that force one layout at every length

    def forced(step, dense_windows):
        def run():
            monkeypatch.setattr(attention, "DENSE_WINDOWS", dense_windows)
            return step()
        return run

    jobs = {(layout, n): forced(step, dw) for n, step in steps.items() for layout, dw in layouts.items()}
    for n in LAYOUT_LENGTHS:  # same function, either layout
        torch.testing.assert_close(jobs["dense", n](), jobs["chunked", n](), atol=1e-5, rtol=1e-5)
    measured.group = "attention-local-layouts"
    medians = interleaved(measured, jobs, ROUNDS)
    for n in LAYOUT_LENGTHS:
        dense, chunked = medians["dense", n][0], medians["chunked", n][0]
        shipped = "dense" if n <= shipped_limit else "chunked"
        figures.append(f"local-attention layouts, window {WINDOW}, n={n} ({n / WINDOW:g} windows): dense "
                       f"{1e3 * dense:.2f} ms, chunked {1e3 * chunked:.2f} ms CPU time, chunked / dense "
                       f"{chunked / dense:.3f}; attend_local picks {shipped}")
        measured.extra_info[f"chunked_over_dense_n{n}"] = chunked / dense
