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
    folder/probes/env.json         versions, CPU, threads (harness.store.environment)
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
- **FLOPs**: harness.flops.count_flops (matrix products, 2 per multiply-add) of one sequence (batch 1),
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

import difflib
import json
import math
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from harness.errors import ReachError
from harness.store import write_atomic

TABLE1_REQUIRED = ["learner", "family", "theory_complexity", "theory_sequential_ops", "theory_max_path_length",
                   "flops_slope_n", "flops_slope_d", "latency_slope_n", "gradient_reach"]
INPUT_SEED = 20_000_003  # the probes' own token stream: never one of a run's streams (4·seed + 0..3)


# -- option validation ---------------------------------------------------------------------------------------
def _int(v: Any, lo: int = 1) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _ladder(v: Any) -> bool:
    return isinstance(v, list) and len(v) >= 2 and all(_int(x, 2) for x in v) and v == sorted(set(v))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class Probe:
    """A probe's options (name -> (default, check, what a valid value is)) and one-line summary."""

    name: str
    summary: str
    options: dict[str, tuple[Any, Callable[[Any], bool], str]]
    # a check across options: resolved options -> an error message, or None when they fit together
    across: Callable[[dict[str, Any]], str | None] = lambda opts: None

    def defaults(self) -> dict[str, Any]:
        return {k: v[0] for k, v in self.options.items()}

    def resolve(self, given: dict[str, Any], where: str) -> dict[str, Any]:
        """Defaults merged with ``given``; an unknown option or a bad value raises ReachError naming it."""
        for key, value in given.items():
            if key not in self.options:
                near = difflib.get_close_matches(key, list(self.options), n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                raise ReachError(f"{where}: probe '{self.name}' has no option '{key}'{hint}; valid options: "
                                 f"{', '.join(self.options)}")
            _, check, allowed = self.options[key]
            if not check(value):
                raise ReachError(f"{where}: probe '{self.name}' option '{key}' must be {allowed}, got {value!r}")
        resolved = {**self.defaults(), **given}
        problem = self.across(resolved)
        if problem:
            raise ReachError(f"{where}: probe '{self.name}': {problem}")
        return resolved


PROBES: dict[str, Probe] = {
    "gradient": Probe("gradient", "G(k) = mean ||dh_t/dx_{t-k}||, at initialisation and after training on lag", {
        "length": (128, lambda v: _int(v, 2), "an int >= 2 (the sequence length n of the profile)"),
        "batch": (4, _int, "an int >= 1 (sequences averaged)"),
        "projections": (16, lambda v: _int(v, 0), "an int >= 0 (0: exact Jacobian rows; P: P random projections)"),
        "train_steps": (300, lambda v: _int(v, 0), "an int >= 0 (0: at initialisation only)"),
        "distance": (16, _int, "an int >= 1 (the lag distance trained on)"),
        "reach_threshold": (1e-3, lambda v: _number(v) and 0 < v < 1, "a number in (0, 1)"),
    }, across=lambda o: None if o["distance"] < o["length"] else
        f"distance ({o['distance']}) must be shorter than length ({o['length']}): the lag task trains on sequences "
        f"of the probed length"),
    "throughput": Probe("throughput", "tokens/s forward and forward+backward at fixed tokens per batch; "
                                      "batch-1 latency; over n", {
        "lengths": ([64, 128, 256, 512, 1024], _ladder, "an ascending list of at least 2 distinct ints >= 2"),
        "tokens": (4096, _int, "an int >= 1 (tokens per batch; batch = tokens // n, at least 1)"),
        "warmup": (1, lambda v: _int(v, 0), "an int >= 0"),
        "repeats": (5, _int, "an int >= 1"),
        "threads": (1, _int, "an int >= 1 (torch threads while timing)"),
        "devices": (["cpu"], lambda v: isinstance(v, list) and len(v) >= 1 and all(x in ("cpu", "cuda", "auto")
                                                                                     for x in v),
                    "a list of 'cpu', 'cuda', 'auto' ('auto': cuda when torch sees one)"),
        "fit_from": (None, lambda v: v is None or _int(v, 2), "None or an int >= 2 (smallest n of the latency fit)"),
    }),
    "flops": Probe("flops", "FlopCounterMode FLOPs of one sequence over n (fixed d) and over d (fixed n)", {
        "lengths": ([64, 128, 256, 512, 1024], _ladder, "an ascending list of at least 2 distinct ints >= 2"),
        "widths": ([32, 64, 128, 256], _ladder, "an ascending list of at least 2 distinct ints >= 2"),
        "length_at": (256, lambda v: _int(v, 2), "an int >= 2 (n of the width sweep)"),
        "backward": (True, lambda v: isinstance(v, bool),
                     "true or false (also count forward+backward at length_at and d_model)"),
    }),
}


def validate_probes(probes: dict[str, dict[str, Any]], where: str) -> None:
    """Raise ReachError for an unknown probe name, a non-table, an unknown option or a bad option value."""
    if not isinstance(probes, dict):
        raise ReachError(f"{where}: 'probes' must be a table of probe name -> options")
    for name, options in probes.items():
        if name not in PROBES:
            near = difflib.get_close_matches(name, list(PROBES), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ReachError(f"{where}: unknown probe '{name}'{hint}; known: {', '.join(PROBES) or 'none'}")
        if not isinstance(options, dict):
            raise ReachError(f"{where}: probe '{name}' options must be a table")
        PROBES[name].resolve(options, where)


# -- learners of a suite -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeLearner:
    """One learner entry of a suite, as the probes build it."""

    label: str
    name: str
    options: dict[str, Any]
    d_model: int
    n_layers: int
    entry: dict[str, Any]  # the suite's learner entry (RunSpec field overrides such as lr)

    @property
    def cls(self) -> type:
        from harness.registry import learner_class

        return learner_class(self.name)

    def build(self, max_len: int, d_model: int | None = None, seed: int = 0) -> torch.nn.Module:
        """The bare learner (no encoder or head), initialised under torch.manual_seed(seed)."""
        from learners import LearnerOptionError

        torch.manual_seed(seed)
        try:
            return self.cls(d_model=d_model or self.d_model, n_layers=self.n_layers, max_len=max_len,
                            **self.options)
        except LearnerOptionError as exc:
            raise ReachError(f"probe learner {self.label} at d_model={d_model or self.d_model}: {exc}") from None


def probe_learners(suite: Any) -> list[ProbeLearner]:
    """The suite's learners, one per distinct label (the first entry wins when two share a label)."""
    from harness.spec import RunSpec

    if not suite.learners:
        raise ReachError(f"suite '{suite.name}': probes need at least one [[learners]] entry")
    out: dict[str, ProbeLearner] = {}
    for entry in suite.learners:
        options = dict(entry.get("options", {}))
        label = RunSpec(task="lag", distance=1, learner=entry["name"], learner_options=options).label
        if label in out:
            continue
        d = entry.get("d_model", suite.defaults.get("d_model", 64))
        layers = entry.get("n_layers", suite.defaults.get("n_layers", 2))
        out[label] = ProbeLearner(label, entry["name"], options, int(d), int(layers), dict(entry))
    return list(out.values())


# -- fits ----------------------------------------------------------------------------------------------------
def loglog_slope(x: Any, y: Any) -> float:
    """Exponent b of y = a·x^b by least squares on (log x, log y); NaN with fewer than 2 positive points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or len(set(x[ok])) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def theory_exponents(complexity: str) -> tuple[float, float]:
    """(exponent of n, exponent of d) in a Table 1 complexity string such as 'O(n²·d)' or 'O(k·n·d²)'."""
    powers = {"": 1, "²": 2, "³": 3, "^2": 2, "^3": 3}
    found = {}
    for var in ("n", "d"):
        m = re.search(rf"(?<![a-z]){var}(²|³|\^2|\^3)?(?![a-z])", complexity)
        found[var] = float(powers[m.group(1) or ""]) if m else 0.0
    return found["n"], found["d"]


# -- gradient path length ------------------------------------------------------------------------------------
def gradient_profile(learner: torch.nn.Module, x: torch.Tensor, projections: int = 0,
                     generator: torch.Generator | None = None, chunk: int = 64) -> np.ndarray:
    """G(k) for k = 0..n-1: mean over the batch of ||∂h_{n-1}/∂x_{n-1-k}||_F (a d×d Jacobian norm).

    ``x``: the learner's input [B, n, d] (its dtype is used; float64 is what the probes use). With
    ``projections = 0`` the norm is exact: the batch is replicated d times and row i of each copy is projected
    on the unit vector e_i, so one backward gives every Jacobian row. With P > 0, P Gaussian vectors v give
    the unbiased estimate ||J||²_F ≈ mean_p ||v_pᵀJ||²; exact zeros stay exact either way. Rows are
    processed ``chunk`` sequences at a time to bound memory. The learner's mode is left as it was (put it
    in eval mode first if it has dropout).
    """
    B, n, d = x.shape
    if projections == 0:
        V = torch.eye(d, dtype=x.dtype, device=x.device)
    else:
        V = torch.randn(projections, d, generator=generator, dtype=torch.float64).to(x.dtype).to(x.device)
    P = V.shape[0]
    rows_x = x.detach().repeat_interleave(P, dim=0)  # [B·P, n, d]: sample b, projection p at row b·P + p
    rows_v = V.repeat(B, 1)  # [B·P, d]
    sq = torch.empty(B * P, n, dtype=x.dtype, device=x.device)
    for i in range(0, B * P, chunk):
        xi = rows_x[i:i + chunk].clone().requires_grad_()
        (learner(xi)[:, -1] * rows_v[i:i + chunk]).sum().backward()
        sq[i:i + chunk] = xi.grad.pow(2).sum(-1)  # ||v_pᵀ ∂h_t/∂x_s||² for every s
    sq = sq.view(B, P, n)
    fro2 = sq.sum(1) if projections == 0 else sq.mean(1)
    return fro2.sqrt().mean(0).flip(0).detach().cpu().numpy()  # index k = t - s


def profile_summary(G: np.ndarray, reach_threshold: float = 1e-3) -> dict[str, Any]:
    """Measured receptive field, gradient reach and decay rate of a profile G(k) (definitions above).

    ``receptive_field_measured`` is 1 + the largest k with G(k) > 0; ``receptive_field_bounded`` says whether
    G reached exactly 0 within the probed length (when False the field is only known to be >= n).
    """
    G = np.asarray(G, dtype=float)
    n = len(G)
    positive = np.flatnonzero(G > 0)
    last = int(positive[-1]) if len(positive) else -1
    top = float(G[1:].max()) if n > 1 else 0.0
    reach = int(np.flatnonzero(G[1:] >= reach_threshold * top)[-1]) + 1 if top > 0 else 0
    K = max(2, last // 2)
    ks = np.arange(1, min(K, n - 1) + 1)
    ks = ks[G[ks] > 0]
    decay = float(-np.polyfit(ks, np.log10(G[ks]), 1)[0]) if len(ks) >= 2 else float("nan")
    return {"receptive_field_measured": last + 1, "receptive_field_bounded": bool(last < n - 1),
            "gradient_reach": reach, "decay_rate": decay, "G0": float(G[0]) if n else float("nan"),
            "G_last": float(G[-1]) if n else float("nan")}


def _gradient_spec(suite: Any, pl: ProbeLearner, opts: dict[str, Any]) -> Any:
    from harness.spec import RunSpec

    fields = dict(suite.defaults)
    fields.update({k: v for k, v in pl.entry.items() if k not in ("name", "options")})
    fields.update(task="lag", distance=opts["distance"], seq_len=opts["length"], learner=pl.name,
                  learner_options=dict(pl.options), steps=max(1, opts["train_steps"]), seed=suite.seeds[0],
                  param_budget=None, task_params={})
    return RunSpec.from_dict(fields, where=f"probe gradient ({pl.label})")


def measure_gradient(suite: Any, opts: dict[str, Any], log: Callable[[str], None] = print) -> pd.DataFrame:
    """The gradient probe over a suite's learners: one row per (learner, phase, k); see the module docstring.

    The initial model is built exactly as ``harness.train.train`` builds it for the same spec (lag at
    ``distance``, sequence length ``length``, the suite's first seed), so "init" is the trained model's
    starting point. ``train_steps`` > 0 trains it with ``train(spec, return_model=True)`` (early stopping
    on validation as in any run) and measures the trained learner on the same inputs.
    """
    from harness.model import build_model
    from harness.train import MODEL_INIT, stream_seed, train

    opts = PROBES["gradient"].resolve(opts, "probe gradient")
    n = opts["length"]
    rows = []
    for pl in probe_learners(suite):
        spec = _gradient_spec(suite, pl, opts)
        task = spec.task_obj
        tokens = task.sample(opts["batch"], torch.Generator().manual_seed(INPUT_SEED)).inputs
        torch.manual_seed(stream_seed(spec.seed, MODEL_INIT))
        models = [("init", build_model(task, spec.learner, spec.d_model, spec.n_layers, spec.learner_options),
                   None)]
        if opts["train_steps"] > 0:
            t0 = time.perf_counter()
            record, trained = train(spec, return_model=True)
            log(f"  gradient: trained {pl.label} on lag {opts['distance']} (n={n}): {record['outcome']}, "
                f"test accuracy {record['test_accuracy']:.3f}, {record['steps_run']} steps, "
                f"{time.perf_counter() - t0:.1f} s")
            models.append(("trained", trained, record))
        for phase, model, record in models:
            model = model.to("cpu", torch.float64).eval()
            with torch.no_grad():
                x = model.encoder(tokens)
            G = gradient_profile(model.learner, x, opts["projections"],
                                 torch.Generator().manual_seed(INPUT_SEED + 1))
            for k, g in enumerate(G):
                rows.append({"learner": pl.label, "name": pl.name, "family": pl.cls.family, "phase": phase,
                             "k": k, "G": float(g), "n": n, "batch": opts["batch"],
                             "projections": opts["projections"], "dtype": "float64", "d_model": spec.d_model,
                             "n_layers": spec.n_layers, "distance": opts["distance"],
                             "train_steps": record["steps_run"] if record else 0,
                             "test_accuracy": record["test_accuracy"] if record else float("nan"),
                             "outcome": record["outcome"] if record else ""})
    return pd.DataFrame(rows)


# -- FLOP counts shared by the flops and throughput probes ----------------------------------------------------
class FlopCache:
    """Counted FLOPs per aten op of one batch-1 call, keyed by (learner label, d, max_len, n, backward).

    Counts depend on shapes only, so the flops and throughput probes share them instead of counting twice
    (counting a recurrent net at n = 1024 takes seconds of per-op dispatch).
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[Any, ...], dict[str, int]] = {}

    def by_op(self, pl: ProbeLearner, module: torch.nn.Module, n: int, d: int, max_len: int,
              backward: bool) -> dict[str, int]:
        from harness.flops import count_flops_by_op

        key = (pl.label, pl.n_layers, d, max_len, n, backward)
        if key not in self.counts:
            device = next(module.parameters()).device
            x = torch.randn(1, n, d, generator=torch.Generator().manual_seed(INPUT_SEED)).to(device)
            self.counts[key] = count_flops_by_op(module, x, backward=backward)
        return self.counts[key]

    def total(self, *args: Any, **kwargs: Any) -> int:
        return sum(self.by_op(*args, **kwargs).values())


# -- throughput and latency ----------------------------------------------------------------------------------
def hardware_name(device: torch.device) -> str:
    from harness.store import cpu_model

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


# -- FLOPs ---------------------------------------------------------------------------------------------------
def sweep_flops(learners: list[ProbeLearner], opts: dict[str, Any], max_len: int | None = None,
                flop_cache: FlopCache | None = None) -> pd.DataFrame:
    """Counted FLOPs of one sequence (batch 1) over n at each learner's d_model and over d at ``length_at``.

    One row per (learner, sweep, n or d, pass): sweep "n" and "d" are forward passes; with ``backward`` one
    more row, sweep "point", pass "forward+backward", at (length_at, d_model). Columns flops,
    flops_attention (the attention core: scores and weighted sums), flops_per_token, method (how ops the
    stock counter misses were counted). Learners are built with ``max_len`` (default: the largest length).
    """
    from harness.flops import METHOD_NOTE, attention_core_flops

    opts = PROBES["flops"].resolve(opts, "probe flops")
    max_len = max_len or max(max(opts["lengths"]), opts["length_at"])
    flop_cache = flop_cache or FlopCache()
    rows = []
    for pl in learners:
        points = [("n", "forward", n, pl.d_model) for n in opts["lengths"]]
        points += [("d", "forward", opts["length_at"], d) for d in opts["widths"]]
        if opts["backward"]:
            points += [("point", "forward", opts["length_at"], pl.d_model),
                       ("point", "forward+backward", opts["length_at"], pl.d_model)]
        modules: dict[int, torch.nn.Module] = {}
        for sweep, pass_name, n, d in points:
            if d not in modules:
                modules[d] = pl.build(max_len, d_model=d).eval()
            by_op = flop_cache.by_op(pl, modules[d], n, d, max_len, pass_name != "forward")
            total = sum(by_op.values())
            rows.append({"learner": pl.label, "name": pl.name, "family": pl.cls.family, "sweep": sweep,
                         "n": n, "d": d, "n_layers": pl.n_layers, "pass": pass_name, "flops": total,
                         "flops_attention": attention_core_flops(by_op), "flops_per_token": total / n,
                         "ops": ",".join(sorted(by_op)), "method": METHOD_NOTE.get(pl.name, "stock counter")})
    return pd.DataFrame(rows)


# -- Table 1 -------------------------------------------------------------------------------------------------
def quadratic_crossover(n: Any, flops: Any) -> float:
    """n at which the n² term of flops = a·n + b·n² (least squares, a, b >= 0) overtakes the linear one: a/b.

    NaN when the quadratic term is negligible (b·n_max below 1% of a) or the fit is not positive.
    """
    n, f = np.asarray(n, dtype=float), np.asarray(flops, dtype=float)
    if len(n) < 2:
        return float("nan")
    A = np.stack([n, n * n], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, f, rcond=None)
    if a <= 0 or b <= 0 or b * n.max() < 0.01 * a:
        return float("nan")
    return float(a / b)


def build_table1(learners: list[ProbeLearner], gradient: pd.DataFrame | None, throughput: pd.DataFrame | None,
                 flops: pd.DataFrame | None, reach_threshold: float = 1e-3, fit_from: int | None = None,
                 gradient_length: int | None = None) -> pd.DataFrame:
    """One row per learner label: theory (class attributes) beside the fitted measurements.

    Theory: theory_complexity, theory_sequential_ops, theory_max_path_length (the learner's ``theory``),
    theory_slope_n / theory_slope_d (the exponents of n and d in the complexity), and the declared
    path_length_at_n, sequential_ops_at_n, receptive_field_declared (NaN: unbounded), params, all for a
    learner built with max_len = n_ref (the gradient probe's length, else 128). Measured: flops_slope_n,
    flops_slope_n_top, flops_slope_d, flops_crossover_n (n where a·n + b·n² turns quadratic), attention_share_max_n,
    backward_ratio, latency_slope_n (and _cuda), latency_gflops_max_n (counted FLOPs / batch-1 latency at the
    largest n), tokens/s at the largest n, gradient_reach (init) and gradient_reach_trained,
    receptive_field_measured (+ receptive_field_bounded), decay_rate(_trained), trained_accuracy; plus the
    ladders' bounds, threads and hardware. Columns of a probe that did not run are NaN. Definitions: module
    docstring.
    """
    rows = []
    for pl in learners:
        cls = pl.cls
        theory = dict(cls.theory)
        tn, td = theory_exponents(theory.get("complexity", ""))
        n_ref = gradient_length or 128
        model = pl.build(max_len=n_ref)
        rf = model.receptive_field(n_ref)
        row: dict[str, Any] = {
            "learner": pl.label, "name": pl.name, "family": cls.family,
            "theory_complexity": theory.get("complexity"), "theory_sequential_ops": theory.get("sequential_ops"),
            "theory_max_path_length": theory.get("max_path_length"), "theory_slope_n": tn, "theory_slope_d": td,
            "d_model": pl.d_model, "n_layers": pl.n_layers,
            "params": sum(p.numel() for p in model.parameters()),
            "n_ref": n_ref, "path_length_at_n": model.max_path_length(n_ref),
            "sequential_ops_at_n": model.sequential_ops(n_ref),
            "receptive_field_declared": rf if rf is not None else float("nan"),
            "window": getattr(model, "window", None) or float("nan"),
        }
        for col in ("flops_n_min", "flops_n_max", "flops_length_at", "latency_n_min_fit", "latency_n_max",
                    "trained_distance", "trained_steps", "flops_slope_n", "flops_slope_n_top", "flops_slope_d",
                    "flops_per_token_max_n", "attention_share_max_n", "flops_crossover_n", "backward_ratio",
                    "latency_slope_n", "latency_ms_max_n", "latency_gflops_max_n", "fwd_tokens_per_s_max_n",
                    "fwdbwd_tokens_per_s_max_n", "threads", "hardware", "latency_slope_n_cuda",
                    "latency_ms_max_n_cuda", "gradient_reach", "gradient_reach_trained", "receptive_field_measured",
                    "receptive_field_bounded", "decay_rate", "decay_rate_trained", "trained_accuracy",
                    "flops_method"):
            row[col] = float("nan")
        if flops is not None and len(flops):
            f = flops[(flops.learner == pl.label) & (flops["pass"] == "forward")]
            fn, fd = f[f.sweep == "n"].sort_values("n"), f[f.sweep == "d"].sort_values("d")
            if len(fn):
                row["flops_n_min"], row["flops_n_max"] = int(fn.n.min()), int(fn.n.max())
                row["flops_slope_n"] = loglog_slope(fn.n, fn.flops)
                row["flops_slope_n_top"] = loglog_slope(fn.n.iloc[-2:], fn.flops.iloc[-2:])
                row["flops_per_token_max_n"] = float(fn.flops_per_token.iloc[-1])
                row["attention_share_max_n"] = float(fn.flops_attention.iloc[-1] / fn.flops.iloc[-1])
                row["flops_crossover_n"] = quadratic_crossover(fn.n, fn.flops)
                row["flops_method"] = str(fn.method.iloc[0])
                point = flops[(flops.learner == pl.label) & (flops.sweep == "point")].set_index("pass").flops
                if {"forward", "forward+backward"} <= set(point.index):
                    row["backward_ratio"] = float(point["forward+backward"] / point["forward"])
            if len(fd):
                row["flops_slope_d"] = loglog_slope(fd.d, fd.flops)
                row["flops_length_at"] = int(fd.n.iloc[0])
        if throughput is not None and len(throughput):
            for dev, suffix in (("cpu", ""), ("cuda", "_cuda")):
                t = throughput[(throughput.learner == pl.label) & (throughput.device == dev)]
                if not len(t):
                    continue
                lat = t[t["mode"] == "latency"].sort_values("n")
                ns = sorted(lat.n.unique())
                start = fit_from if fit_from is not None else ns[(len(ns) - 1) // 2]
                upper = lat[lat.n >= start]
                row["latency_slope_n" + suffix] = loglog_slope(upper.n, upper.min_s)
                row["latency_ms_max_n" + suffix] = float(lat.median_s.iloc[-1] * 1e3)
                if suffix == "":
                    row["latency_n_min_fit"], row["latency_n_max"] = int(start), int(lat.n.max())
                    row["latency_gflops_max_n"] = float(lat.gflops_per_s.iloc[-1])
                    for mode, col in (("forward", "fwd_tokens_per_s_max_n"),
                                      ("forward+backward", "fwdbwd_tokens_per_s_max_n")):
                        m = t[t["mode"] == mode].sort_values("n")
                        row[col] = float(m.tokens_per_s.iloc[-1])
                    row["threads"] = int(t.threads.iloc[0])
                    row["hardware"] = str(t.hardware.iloc[0])
        if gradient is not None and len(gradient):
            for phase, suffix in (("init", ""), ("trained", "_trained")):
                g = gradient[(gradient.learner == pl.label) & (gradient.phase == phase)].sort_values("k")
                if not len(g):
                    continue
                s = profile_summary(g.G.to_numpy(), reach_threshold)
                row["gradient_reach" + suffix] = s["gradient_reach"]
                row["decay_rate" + suffix] = s["decay_rate"]
                if phase == "init":
                    row["receptive_field_measured"] = s["receptive_field_measured"]
                    row["receptive_field_bounded"] = s["receptive_field_bounded"]
                    row["n_ref"] = int(g.n.iloc[0])
                else:
                    row["trained_accuracy"] = float(g.test_accuracy.iloc[0])
                    row["trained_distance"] = int(g.distance.iloc[0])
                    row["trained_steps"] = int(g.train_steps.iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


# -- running a suite's probes --------------------------------------------------------------------------------
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


TABLE1_COMPACT_COLUMNS = ("learner", "complexity", "seq. ops", "path", "FLOPs~n^", "FLOPs~d^", "latency~n^",
                          "grad reach", "RF decl/meas", "decades/step")


def table1_compact(table: pd.DataFrame) -> list[list[str]]:
    """The measured Table 1 as rows of strings under TABLE1_COMPACT_COLUMNS: theory next to each measured
    exponent ("1.41 (2)": measured, theory), gradient reach at init / after training, receptive field
    declared / measured. Shared by the console table and the report."""

    def num(v: Any, fmt: str = "{:.2f}") -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)

    rows = []
    for _, r in table.iterrows():
        n_ref = int(r.n_ref) if not pd.isna(r.n_ref) else None
        reach = "-" if pd.isna(r.gradient_reach) else str(int(r.gradient_reach))
        if not pd.isna(r.get("gradient_reach_trained", float("nan"))):
            reach += f" / {int(r.gradient_reach_trained)}"
        declared = "∞" if pd.isna(r.receptive_field_declared) else str(int(r.receptive_field_declared))
        if pd.isna(r.receptive_field_measured):
            measured = "-"
        elif r.receptive_field_bounded in (False, "False"):
            measured = f"≥{n_ref}"
        else:
            measured = str(int(r.receptive_field_measured))
        rows.append([str(r.learner), str(r.theory_complexity), str(r.theory_sequential_ops),
                     str(r.theory_max_path_length),
                     f"{num(r.flops_slope_n)} ({num(r.theory_slope_n, '{:g}')})",
                     f"{num(r.flops_slope_d)} ({num(r.theory_slope_d, '{:g}')})",
                     num(r.latency_slope_n), reach, f"{declared}/{measured}", num(r.decay_rate, "{:.3f}")])
    return rows


def table1_rich(table: pd.DataFrame) -> Any:
    """The measured Table 1 as a rich Table (see table1_compact)."""
    from rich.markup import escape
    from rich.table import Table

    out = Table(title="Table 1, measured (Vaswani et al. 2017): theory | measured")
    for i, col in enumerate(TABLE1_COMPACT_COLUMNS):
        out.add_column(col, justify="left" if i < 4 else "right")
    for row in table1_compact(table):
        out.add_row(escape(row[0]), *row[1:])
    return out


def run_probes(suite: Any, folder: Path, console: Any) -> dict[str, Any]:
    """Run the suite's probes over its learners; write folder/probes/*.csv, env.json and folder/table1.csv.

    A probe whose CSV and configuration file already exist with the same configuration (options, learners,
    widths, hardware, threads) is reused, not measured again. Prints Table 1 on ``console`` and returns
    {"table1": DataFrame, "paths": {name: Path}, "seconds": {probe: float}, "reused": [probe names]}.
    """
    from rich.console import Console

    from harness.store import environment

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
        cached = _cached(probe_dir, name, config)
        if cached is not None:
            frames[name] = cached
            reused.append(name)
            log(f"probe {name}: reused {probe_dir / (name + '.csv')} (same configuration)")
            continue
        t0 = time.perf_counter()
        if name == "gradient":
            frame = measure_gradient(suite, opts, log)
        elif name == "throughput":
            frame = measure_throughput(learners, opts, log, max_len=max_len, flop_cache=flop_cache)
        else:
            frame = sweep_flops(learners, opts, max_len=max_len, flop_cache=flop_cache)
        seconds[name] = time.perf_counter() - t0
        _store(probe_dir, name, config, frame, seconds[name])
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
    wide = console if console.is_terminal else Console(file=console.file, width=200, highlight=False)
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
