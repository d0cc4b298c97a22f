"""The throughput probe: tokens/s of forward and forward+backward at fixed tokens per batch, and batch-1 latency,
against n, per learner and device (definitions: harness.measure.probes)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd
import torch

from harness.config.probes import PROBES
from harness.errors import ReachError
from harness.measure.flops import FlopCache
from harness.measure.probe_learners import INPUT_SEED, ProbeLearner
from harness.store.provenance import cpu_model


# -- throughput and latency ----------------------------------------------------------------------------------
def hardware_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def resolve_devices(names: list[str]) -> list[torch.device]:
    """'cpu', 'cuda', 'auto' -> torch devices; 'cuda' without a CUDA device raises ReachError."""
    out: list[torch.device] = []
    for name in names:
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cuda" and not torch.cuda.is_available():
            raise ReachError("probe throughput: devices includes 'cuda' but torch sees no CUDA device; use "
                             "devices = ['cpu'] or ['auto']")
        dev = torch.device(name)
        if dev not in out:
            out.append(dev)
    return out


def time_calls(fn: Callable[[], Any], warmup: int, repeats: int, device: torch.device) -> list[float]:
    """Seconds of each of ``repeats`` calls of fn after ``warmup`` untimed ones (CUDA synchronised)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def _spread(times: list[float]) -> tuple[float, float, float]:
    if len(times) == 1:
        return times[0], times[0], times[0]
    q = statistics.quantiles(times, n=4, method="inclusive")
    return statistics.median(times), q[0], q[2]


def _forward(module: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        module(x)


def _forward_backward(module: torch.nn.Module, x: torch.Tensor) -> None:
    module.zero_grad(set_to_none=True)
    module(x).square().mean().backward()


def measure_throughput(learners: list[ProbeLearner], opts: dict[str, Any],
                       log: Callable[[str], None] = print, max_len: int | None = None,
                       flop_cache: FlopCache | None = None) -> pd.DataFrame:
    """Tokens/s forward and forward+backward, and batch-1 forward latency, per learner, device and n.

    One row per (learner, device, mode, n), mode in "forward", "forward+backward", "latency". Columns:
    median_s, q25_s, q75_s, min_s (seconds per call), tokens_per_s (batch·n / median_s), flops (counted FLOPs of
    that call: batch × the batch-1 forward count; NaN for forward+backward, whose count at every n would
    cost more than the timing) and gflops_per_s (flops / median_s / 1e9), threads (torch.get_num_threads()
    while timing), device, hardware. Threads are set to ``threads`` for the measurement and restored
    afterwards. Learners are built with ``max_len`` (default: the largest length).
    """
    opts = PROBES["throughput"].resolve(opts, "probe throughput")
    devices = resolve_devices(opts["devices"])
    lengths = opts["lengths"]
    max_len = max_len or max(lengths)
    flop_cache = flop_cache or FlopCache()
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(opts["threads"])
    rows = []
    try:
        for device in devices:
            hardware = hardware_name(device)
            for pl in learners:
                module = pl.build(max_len).to(device)
                counting = pl.build(max_len) if device.type != "cpu" else module  # counts are made on CPU
                gen = torch.Generator().manual_seed(INPUT_SEED)
                for n in lengths:
                    module.eval()
                    flops1 = flop_cache.total(pl, counting, n, pl.d_model, max_len, False)
                    batch = max(1, opts["tokens"] // n)
                    x = torch.randn(batch, n, pl.d_model, generator=gen).to(device)
                    x1 = x[:1].clone()

                    cases = [("forward", partial(_forward, module, x), batch, False),
                             ("forward+backward", partial(_forward_backward, module, x), batch, True),
                             ("latency", partial(_forward, module, x1), 1, False)]
                    for mode, fn, b, backward in cases:
                        module.train(backward)  # eval for the forward modes, train (dropout on) for training
                        times = time_calls(fn, opts["warmup"], opts["repeats"], device)
                        med, q25, q75 = _spread(times)
                        flops = float("nan") if backward else b * flops1
                        rows.append({"learner": pl.label, "name": pl.name, "family": pl.cls.family,
                                     "device": device.type, "hardware": hardware,
                                     "threads": torch.get_num_threads(), "mode": mode, "n": n, "batch": b,
                                     "tokens": b * n, "d_model": pl.d_model, "n_layers": pl.n_layers,
                                     "median_s": med, "q25_s": q25, "q75_s": q75, "min_s": min(times),
                                     "repeats": len(times),
                                     "warmup": opts["warmup"], "tokens_per_s": b * n / med,
                                     "tokens_per_s_q25": b * n / q75, "tokens_per_s_q75": b * n / q25,
                                     "flops": flops, "gflops_per_s": flops / med / 1e9})
                    module.zero_grad(set_to_none=True)
                log(f"  throughput: {pl.label} on {device.type} done")
    finally:
        torch.set_num_threads(saved_threads)
    return pd.DataFrame(rows)
