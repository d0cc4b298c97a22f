"""Counting the FLOPs of a module's forward (and backward) pass with torch's FlopCounterMode, the gaps it leaves on
CPU closed: the fused oneDNN LSTM kernel (counted on the unfused path), CPU SDPA (torch's own SDPA formula), and the
element-wise scans of linear recurrences (a learner's ``uncounted_flops``). The rules and formulas are those of
harness.measure.flops, which builds the FLOPs probe on this; it lives here so that a training run can record the
FLOPs of one of its steps (harness.run.train) without importing the probes.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

aten = torch.ops.aten
SCAN_KEY = "elementwise scan (formula)"  # the by-op entry of the element-wise work the counter does not see

def _sdpa_cpu_flop(query_shape, key_shape, value_shape, *args: Any, out_shape=None, **kwargs: Any) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_cpu_backward_flop(grad_out_shape, query_shape, key_shape, value_shape, *args: Any, out_shape=None,
                            **kwargs: Any) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


CUSTOM_MAPPING: dict[Any, Any] = {}
if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
    CUSTOM_MAPPING[aten._scaled_dot_product_flash_attention_for_cpu] = _sdpa_cpu_flop
if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward"):
    CUSTOM_MAPPING[aten._scaled_dot_product_flash_attention_for_cpu_backward] = _sdpa_cpu_backward_flop

def count_flops_by_op(module: nn.Module, x: torch.Tensor, backward: bool = False) -> dict[str, int]:
    """FLOPs of ``module(x)`` (and of a backward pass from ``module(x).sum()`` when ``backward``), per aten op.

    Returns {op name: FLOPs}, e.g. {"addmm": ..., "_scaled_dot_product_flash_attention_for_cpu": ...}; the
    sum is :func:`count_flops`. Runs the module once (twice the work when ``backward``), in its current
    train/eval mode; parameters' ``.grad`` are left as they were.
    """
    counter = FlopCounterMode(display=False, custom_mapping=CUSTOM_MAPPING)
    saved = {p: p.grad for p in module.parameters()}
    with warnings.catch_warnings():
        # mkldnn.flags() warns about TF32 on Intel GPUs whenever it is entered; nothing to act on here
        warnings.simplefilter("ignore", UserWarning)
        with torch.backends.mkldnn.flags(enabled=False), torch.backends.cudnn.flags(enabled=False), counter:
            if backward:
                xin = x.detach().requires_grad_(x.is_floating_point())
                y = module(xin)
                y = y[0] if isinstance(y, tuple) else y
                y.sum().backward()
            else:
                with torch.no_grad():
                    module(x)
    for p, g in saved.items():
        p.grad = g
    out: dict[str, int] = defaultdict(int)
    for op, flops in counter.get_flop_counts().get("Global", {}).items():
        out[str(op).removeprefix("aten.")] += int(flops)
    learner = getattr(module, "learner", module)  # a SequenceModel's learner, or the learner itself
    if hasattr(learner, "uncounted_flops"):
        batch, n = x.shape[0], x.shape[1]
        out[SCAN_KEY] = learner.uncounted_flops(batch, n) * (3 if backward else 1)
    return dict(out)


def count_flops(module: nn.Module, x: torch.Tensor, backward: bool = False) -> int:
    """Total FLOPs (2 per multiply-add, matrix products only) of ``module(x)``, plus its backward if asked.

    ``x`` is the module's input (for a learner [B, n, d]). Fused LSTM kernels and CPU SDPA are counted as
    explained in the module docstring, so every learner in ``learners.LEARNERS`` counts more than 0.
    """
    return sum(count_flops_by_op(module, x, backward).values())
