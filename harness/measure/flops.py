"""FLOP counting for learners, with torch.utils.flop_counter.FlopCounterMode and the gaps it leaves filled.

What is counted. FlopCounterMode counts matrix products only: ``mm``, ``addmm``, ``bmm``, ``baddbmm``,
convolutions and the attention kernels it has a formula for, at 2 FLOPs per multiply-add (the bias of
``addmm``, element-wise ops, softmax, LayerNorm and activations are not counted). Masks are not discounted:
causal attention is charged for all n² query-key pairs, as the counter's own SDPA formula says.

Two gaps on CPU, and how they are closed here (REFERENCES.md, "PyTorch facts that bite"):

- ``nn.LSTM`` runs the fused oneDNN kernel ``aten.mkldnn_rnn_layer``, which has no formula: it counts 0.
  ``count_flops`` counts under ``torch.backends.mkldnn.flags(enabled=False)`` (and cuDNN off on a GPU), where
  torch runs the same recurrence as separate matrix products, which the counter sees. The count is that of
  the equations (4 gates), not of whatever the fused kernel does internally.
- CPU scaled-dot-product attention dispatches to ``aten._scaled_dot_product_flash_attention_for_cpu`` (and
  its ``_backward``), which have no formula either. ``CUSTOM_MAPPING`` registers torch's own SDPA formulas
  for them (``sdpa_flop_count``: 2·2·n_q·n_k·d per batch row, forward; ``sdpa_backward_flop_count``).
  Passing ``torch.utils.flop_counter.sdpa_flop`` itself fails (it is already shape-wrapped and gets the
  ``out_shape`` keyword twice), so thin wrappers call the counting helpers.

A third gap on any device: linear recurrences on a scan (lru, mamba) do their recurrence in element-wise
multiply-adds, which the counter does not see. A learner that declares ``uncounted_flops(batch, n)`` (the
forward FLOPs of that work, 2 per multiply-add; learners/linear_recurrent.py derives them and its tests check
them against a hand count) has them added as the entry ``SCAN_KEY``; for a backward pass, twice the forward's
(the adjoint scan runs the same recurrence backwards and forms the gradients of both of its inputs), an
estimate that METHOD_NOTE states.

``nn.RNN``, ``nn.GRU`` (matrix products per step), ``nn.Conv1d`` and masked attention that falls back to the
math path (``bmm``) are counted by the stock registry; tests/test_flops.py checks every learner counts more
than 0 and that each built-in learner matches the formulas below.

Analytic forward FLOPs per sequence of n tokens, width d, per layer (the tests' reference):

    rnn    2·n·(d·d + d·d)           = 4·n·d²      (input and recurrent matrix, one gate)
    lstm   4 gates                   = 16·n·d²
    gru    3 gates                   = 12·n·d²
    conv   2·n·k·d² per conv level   (cnn: n_layers levels; tcn: n_layers·levels levels)
    attn   qkv 6·n·d², out 2·n·d², MLP 16·n·d² = 24·n·d²;  QKᵀ and AV 2·2·n·n_k·d, n_k = n (full causal,
           and local-attention up to n = DENSE_WINDOWS·window, one masked n×n block) or 2·window keys per
           query in local-attention's chunked kernel beyond
    lru    matrix products n·(8·d·N + 4·d²) (B and C complex as real pairs, the GLU), plus its scan
    mamba  matrix products n·(4·d·E + 2·E·(r + 2N) + 2·r·E + 2·E·d) + Lp·2·N·E (E = expand·d, r = dt_rank,
           Lp = n padded to whole scan chunks), plus its conv and scan
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch
from torch import nn

from harness.config.probes import PROBES
from harness.measure.probe_learners import INPUT_SEED, ProbeLearner
from harness.run.flopcount import CUSTOM_MAPPING, SCAN_KEY, count_flops, count_flops_by_op
from learners.attention import DENSE_WINDOWS

__all__ = ["CUSTOM_MAPPING", "SCAN_KEY", "count_flops", "count_flops_by_op", "attention_core_flops",
           "analytic_forward_flops", "FlopCache", "sweep_flops", "METHOD_NOTE"]

# The ops that make up the attention core (scores and the weighted sum), as opposed to projections: used to
# split a learner's FLOPs into the part Table 1's complexity column describes and the rest.
ATTENTION_CORE_OPS = {"bmm", "baddbmm", "_scaled_dot_product_flash_attention_for_cpu",
                      "_scaled_dot_product_flash_attention_for_cpu_backward", "_scaled_dot_product_flash_attention",
                      "_scaled_dot_product_flash_attention_backward", "_scaled_dot_product_efficient_attention",
                      "_scaled_dot_product_efficient_attention_backward", "_scaled_dot_product_cudnn_attention",
                      "_scaled_dot_product_cudnn_attention_backward"}


METHOD_NOTE = {
    "lstm": "counted on the unfused path (the fused oneDNN LSTM kernel counts 0 on CPU)",
    "transformer": "CPU SDPA kernel counted with torch's SDPA formula (it has none by default); causal "
                   "mask not discounted",
    "local-attention": "masked attention counted as computed: n keys per query up to n = 3·window, 2·window "
                       "beyond",
    "lru": "matrix products counted; the complex scan added by formula (forward; backward estimated as 2x)",
    "mamba": "matrix products counted; conv and selective scan added by formula (forward; backward estimated "
             "as 2x)",
}


def attention_core_flops(by_op: dict[str, int]) -> int:
    """The part of a :func:`count_flops_by_op` result spent on attention scores and weighted sums."""
    return sum(v for k, v in by_op.items() if k in ATTENTION_CORE_OPS)


def analytic_forward_flops(learner: nn.Module, batch: int, n: int) -> int | None:
    """Forward FLOPs of a learner from the formulas in the module docstring; None for an unknown learner.

    Used by the tests to check what the counter reports; the probes report counted numbers, not these.
    """
    name = getattr(learner, "name", "")
    d, layers = learner.d_model, learner.n_layers
    gates = {"rnn": 1, "gru": 3, "lstm": 4}
    if name in gates:
        return batch * layers * gates[name] * 2 * n * 2 * d * d
    if name in ("cnn", "tcn"):
        k = learner.options["kernel_size"]
        return batch * len(learner.blocks) * 2 * n * k * d * d
    if name == "transformer":
        return batch * layers * (24 * n * d * d + 4 * n * n * d)
    if name == "local-attention":
        w = learner.window
        if n <= DENSE_WINDOWS * w:  # one masked n x n block: n keys per query
            return batch * layers * (24 * n * d * d + 4 * n * n * d)
        padded = -(-n // w) * w  # chunks of w queries (n padded up to whole chunks), 2w keys each
        return batch * layers * (24 * n * d * d + 4 * padded * 2 * w * d)
    if name == "lru":
        N = learner.options["state"]
        return batch * layers * n * (8 * d * N + 4 * d * d) + learner.uncounted_flops(batch, n)
    if name == "mamba":
        E, N, r = learner.options["expand"] * d, learner.options["state"], learner.dt_rank
        c = min(learner.options["chunk"], n)
        padded = -(-n // c) * c
        matmul = n * (4 * d * E + 2 * E * (r + 2 * N) + 2 * r * E + 2 * E * d) + padded * 2 * N * E
        return batch * layers * matmul + learner.uncounted_flops(batch, n)
    return None


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
        key = (pl.label, pl.n_layers, d, max_len, n, backward)
        if key not in self.counts:
            device = next(module.parameters()).device
            x = torch.randn(1, n, d, generator=torch.Generator().manual_seed(INPUT_SEED)).to(device)
            self.counts[key] = count_flops_by_op(module, x, backward=backward)
        return self.counts[key]

    def total(self, *args: Any, **kwargs: Any) -> int:
        return sum(self.by_op(*args, **kwargs).values())


# -- FLOPs ---------------------------------------------------------------------------------------------------
def sweep_flops(learners: list[ProbeLearner], opts: dict[str, Any], max_len: int | None = None,
                flop_cache: FlopCache | None = None) -> pd.DataFrame:
    """Counted FLOPs of one sequence (batch 1) over n at each learner's d_model and over d at ``length_at``.

    One row per (learner, sweep, n or d, pass): sweep "n" and "d" are forward passes; with ``backward`` one
    more row, sweep "point", pass "forward+backward", at (length_at, d_model). Columns flops,
    flops_attention (the attention core: scores and weighted sums), flops_per_token, method (how ops the
    stock counter misses were counted). Learners are built with ``max_len`` (default: the largest length).
    """
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
