"""Probes: Table 1 of Vaswani et al. (2017) measured instead of quoted — gradient path length, sequential
cost (throughput and latency) and FLOPs, per learner of a suite, beside the learner's declared theory.

Each probe is usable alone (``gradient_profile``, ``measure_throughput``, ``sweep_flops``) and inside suites
(``[probes.gradient]``, ``[probes.throughput]``, ``[probes.flops]``; options below, unknown ones rejected).
``run_probes(suite, folder, console)`` runs a suite's probes over its learners and writes

    folder/probes/gradient.csv     learner, family, phase (init|trained), k, G, ...   one row per k
    folder/probes/throughput.csv   learner, device, hardware, threads, mode, n, batch, median_s, ...
    folder/probes/flops.csv        learner, sweep (n|d), n, d, pass, flops, flops_attention, ...
    folder/probes/<probe>.json     the configuration that produced each CSV (a later run with the same
                                   configuration and hardware reuses the CSV instead of measuring again)
    folder/probes/env.json         versions, CPU, threads (harness.store.provenance.environment)
    folder/table1.csv              one row per learner label: theory beside the fitted measurements

Definitions (also in the report):

- **G(k)** = mean over a batch of the Frobenius norm ||∂h_t/∂x_{t-k}||_F, t = n-1 the last position, h the
  learner's output, x its input (the task encoder's embedding of uniform random tokens), k = 0..n-1. Computed
  in float64 so that "exactly 0" means no path (a float32 product of many factors below 1 can underflow to 0):
  with ``projections = 0`` from the d exact rows of the Jacobian (one backward pass for all rows, the batch
  replicated d times); with P > 0 (default 16, 4x cheaper at d = 64) from P Gaussian projections v, since
  E||vᵀJ||² = ||J||²_F (relative error of the squared norm about sqrt(2/P) per sequence, before the batch
  mean; exact zeros stay exact).
- **measured receptive field** = 1 + the largest k with G(k) > 0 (exactly), counting the current position
  like ``Learner.receptive_field``; when G(n-1) > 0 it is at least n and written ">= n".
- **gradient reach** = the largest k >= 1 with G(k) >= ``reach_threshold`` · max_{j>=1} G(j) (default 1e-3:
  three decades below the strongest earlier position), so n-1 means "the whole probed length". k = 0 is left
  out of the reference because it holds the residual/direct path, which would make attention's reach shrink
  as 1/n merely because its weights are spread over n positions at initialisation.
- **decay rate** = -d log10 G(k) / dk in decades per step, a least-squares fit over k = 1..K where K is half
  the largest k with G(k) > 0 (the first part of the profile; k = 0 is left out because it holds the direct
  and residual paths). An RNN decaying geometrically has a constant positive rate; attention about 0.
- **throughput** = tokens/s of forward (no grad, eval mode) and of forward+backward (train mode, loss
  sum(y²)/numel) at a fixed number of tokens per batch (batch = tokens // n), median of ``repeats`` calls after
  ``warmup`` calls, with the quartiles as spread; **latency** = seconds of one batch-1 forward at length n.
  Threads (torch.get_num_threads during the measurement) and hardware are columns of every row; CPU and GPU
  rows are never fitted together.
- **FLOPs**: harness.measure.flops.count_flops (matrix products, 2 per multiply-add) of one sequence (batch 1),
  forward, over n at the suite's d_model and over d at n = ``length_at``; forward+backward once, at
  (``length_at``, d_model), for the backward/forward ratio. Counting runs the module under
  FlopCounterMode, whose per-op Python dispatch makes a recurrent net's n steps the slow part, hence the
  single backward point. Throughput rows reuse these counts (forward FLOPs are linear in the batch).
- **slopes**: least-squares exponent b of y = a·x^b (numpy.polyfit on log values). ``flops_slope_n`` over the
  whole n ladder, ``flops_slope_n_top`` between its last two points (the large-n limit), ``flops_slope_d``
  over the d ladder, ``latency_slope_n`` over the upper half of the length ladder (n >= ``fit_from``, by
  default the middle rung), where fixed per-call overheads no longer dominate. The latency fit uses the
  fastest of the repeats (``min_s``), the one least disturbed by other load on a shared machine (a busy
  neighbour only ever adds time; timeit's advice); medians and quartiles stay in throughput.csv and the
  figures.

Learners are built as the suite describes them (``options``, ``d_model``, ``n_layers``; ``param_budget`` is
ignored: Table 1 is about how cost grows with n and d at a given width). For throughput and FLOPs every
learner is built once with ``max_len`` = the largest length probed, so its architecture (a TCN's number of
dilation levels, a relative bias table) stays the same along the ladder and the slope measures n alone.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from rich.console import Console

from harness.config.probes import PROBES
from harness.measure.flops import FlopCache, sweep_flops
from harness.measure.gradient import gradient_rows, measure_gradient
from harness.measure.probe_learners import ProbeLearner, probe_learners
from harness.measure.table1 import build_table1, table1_rich
from harness.measure.throughput import hardware_name, measure_throughput, resolve_devices
from harness.store.folder import write_atomic
from harness.store.provenance import environment
from harness.text import LOG_WIDTH

# -- running a suite's probes --------------------------------------------------------------------------------
# The flops and gradient probes are independent per learner and count or train with fixed seeds, so with more
# than one worker they run in parallel processes (one torch thread each) with the same numbers; the throughput
# probe times, and runs alone afterwards.
PARALLEL = ("flops", "gradient")


def _one_thread() -> None:
    torch.set_num_threads(1)


def _flops_job(pl: ProbeLearner, opts: dict[str, Any], max_len: int) -> tuple[pd.DataFrame, dict, float]:
    cache, t0 = FlopCache(), time.perf_counter()
    frame = sweep_flops([pl], opts, max_len=max_len, flop_cache=cache)
    return frame, cache.counts, time.perf_counter() - t0


def _gradient_job(suite: Any, pl: ProbeLearner, opts: dict[str, Any]) -> tuple[list[dict], str | None, float]:
    t0 = time.perf_counter()
    rows, message = gradient_rows(suite, pl, opts)
    return rows, message, time.perf_counter() - t0


def _measure_in_parallel(suite: Any, learners: list[ProbeLearner], wanted: dict[str, dict[str, Any]],
                         max_len: int, flop_cache: FlopCache, workers: int,
                         log: Any) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """The probes in ``wanted`` (flops and/or gradient, resolved options) over ``learners`` on ``workers``
    spawned processes: their frames, in learner order, and the seconds each probe's jobs took together. The
    flops jobs' counts go into ``flop_cache`` for the throughput probe."""
    jobs: list[tuple[str, cf.Future]] = []
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                initializer=_one_thread) as pool:
        if "gradient" in wanted:  # the longer jobs first
            jobs += [("gradient", pool.submit(_gradient_job, suite, pl, wanted["gradient"])) for pl in learners]
        if "flops" in wanted:
            jobs += [("flops", pool.submit(_flops_job, pl, wanted["flops"], max_len)) for pl in learners]
        parts: dict[str, list[pd.DataFrame]] = {name: [] for name in wanted}
        seconds = dict.fromkeys(wanted, 0.0)
        for name, job in jobs:
            if name == "gradient":
                rows, message, took = job.result()
                if message:
                    log(message)
                parts[name].append(pd.DataFrame(rows))
            else:
                frame, counts, took = job.result()
                flop_cache.counts.update(counts)
                parts[name].append(frame)
            seconds[name] += took
    return {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}, seconds

def _cached(probe_dir: Path, name: str, config: dict[str, Any]) -> pd.DataFrame | None:
    csv, meta = probe_dir / f"{name}.csv", probe_dir / f"{name}.json"
    if not (csv.exists() and meta.exists()):
        return None
    try:
        if json.loads(meta.read_text()).get("config") != json.loads(json.dumps(config, default=str)):
            return None
        return pd.read_csv(csv)
    except (OSError, ValueError):
        return None


def _store(probe_dir: Path, name: str, config: dict[str, Any], frame: pd.DataFrame, seconds: float) -> None:
    # the CSV first, its configuration second: a kill in between leaves a CSV that is measured again
    write_atomic(probe_dir / f"{name}.csv", frame.to_csv(index=False))
    write_atomic(probe_dir / f"{name}.json", json.dumps({"config": config, "seconds": round(seconds, 2)},
                                                         indent=2, default=str))


def run_probes(suite: Any, folder: Path, console: Any, workers: int = 1) -> dict[str, Any]:
    """Run the suite's probes over its learners; write folder/probes/*.csv, env.json and folder/table1.csv.

    A probe whose CSV and configuration file already exist with the same configuration (options, learners,
    widths, hardware, threads) is reused, not measured again. With ``workers`` > 1 the flops and gradient
    probes run on that many processes (PARALLEL). Prints Table 1 on ``console`` and returns
    {"table1": DataFrame, "paths": {name: Path}, "seconds": {probe: float (the seconds of its work, summed over
    processes)}, "reused": [probe names]}.
    """
    folder = Path(folder)
    probe_dir = folder / "probes"
    probe_dir.mkdir(parents=True, exist_ok=True)
    learners = probe_learners(suite)
    described = [{"label": p.label, "d_model": p.d_model, "n_layers": p.n_layers, "entry": p.entry}
                 for p in learners]
    frames: dict[str, pd.DataFrame | None] = {"gradient": None, "throughput": None, "flops": None}
    seconds: dict[str, float] = {}
    reused: list[str] = []
    resolved = {name: PROBES[name].resolve(opts, f"suite '{suite.name}'") for name, opts in suite.probes.items()}
    env = environment(threads=resolved.get("throughput", {}).get("threads"))
    # one max_len for the flops and throughput probes, so both see the same architectures and share counts
    lengths = resolved.get("flops", {}).get("lengths", []) + resolved.get("throughput", {}).get("lengths", [])
    max_len = max(lengths + [resolved.get("flops", {}).get("length_at", 2)])
    flop_cache = FlopCache()
    saved_threads = torch.get_num_threads()  # training inside the gradient probe sets its own

    def log(msg: str) -> None:
        console.print(msg, highlight=False, markup=False)  # labels hold brackets: transformer[positions=...]

    configs: dict[str, dict[str, Any]] = {}
    for name in ("flops", "gradient", "throughput"):
        if name not in resolved:
            continue
        opts = resolved[name]
        config = {"options": opts, "learners": described, "torch": torch.__version__}
        if name == "gradient":
            config.update(defaults=suite.defaults, seed=suite.seeds[0])
        else:
            config.update(max_len=max_len)
        if name == "throughput":
            config.update(hardware=[hardware_name(d) for d in resolve_devices(opts["devices"])])
        configs[name] = config
        cached = _cached(probe_dir, name, config)
        if cached is not None:
            frames[name] = cached
            reused.append(name)
            log(f"probe {name}: reused {probe_dir / (name + '.csv')} (same configuration)")
    parallel = {name: resolved[name] for name in PARALLEL if name in configs and name not in reused}
    measured: dict[str, pd.DataFrame] = {}
    if workers > 1 and parallel:
        log(f"probes {' and '.join(parallel)}: {len(learners)} learners on {workers} processes")
        measured, seconds = _measure_in_parallel(suite, learners, parallel, max_len, flop_cache, workers, log)
    for name in ("flops", "gradient", "throughput"):
        if name not in configs or name in reused:
            continue
        opts = resolved[name]
        t0 = time.perf_counter()
        if name in measured:
            frame = measured[name]
        elif name == "gradient":
            frame = measure_gradient(suite, opts, log)
        elif name == "throughput":
            frame = measure_throughput(learners, opts, log, max_len=max_len, flop_cache=flop_cache)
        else:
            frame = sweep_flops(learners, opts, max_len=max_len, flop_cache=flop_cache)
        if name not in measured:
            seconds[name] = time.perf_counter() - t0
        _store(probe_dir, name, configs[name], frame, seconds[name])
        frames[name] = frame
        torch.set_num_threads(saved_threads)
        log(f"probe {name}: {len(frame)} rows in {seconds[name]:.1f} s -> {probe_dir / (name + '.csv')}")

    write_atomic(probe_dir / "env.json", json.dumps({**env, "probes": resolved, "seconds": seconds}, indent=2,
                                                      default=str))
    grad_opts, thr_opts = resolved.get("gradient", {}), resolved.get("throughput", {})
    table = build_table1(learners, frames["gradient"], frames["throughput"], frames["flops"],
                         reach_threshold=grad_opts.get("reach_threshold", 1e-3),
                         fit_from=thr_opts.get("fit_from"), gradient_length=grad_opts.get("length"))
    table.to_csv(folder / "table1.csv", index=False)
    # piped output (CI logs) would be folded to 80 columns; a log line does not wrap, so print it at its width
    wide = console if console.is_terminal else Console(file=console.file, width=LOG_WIDTH, highlight=False)
    wide.print(table1_rich(table))
    threads = ", ".join(sorted({str(int(t)) for t in table.threads.dropna()})) or "-"
    wide.print(f"Exponents: measured (theory), fitted on log-log; FLOPs per sequence at d_model (~n) and at "
               f"n = {resolved.get('flops', {}).get('length_at', '-')} (~d); batch-1 latency over the upper half "
               f"of the length ladder ({threads} thread(s)). grad reach: largest k >= 1 with G(k) >= "
               f"{grad_opts.get('reach_threshold', 1e-3):g}·max G(j>=1), at init / after training. RF: receptive "
               f"field declared / measured (∞: unbounded). decades/step: decay of log10 G(k) per step back.",
               highlight=False)
    paths = {name: probe_dir / f"{name}.csv" for name, f in frames.items() if f is not None}
    paths["table1"] = folder / "table1.csv"
    return {"table1": table, "paths": paths, "seconds": seconds, "reused": reused}
