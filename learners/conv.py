"""Convolutional learners: causal 1-D convolutions in pre-norm residual blocks.

A block with kernel size k and dilation δ maps h [B, L, D] to

    h_t <- h_t + GELU(b + Σ_{j=0..k-1} W_j · LN(h)_{t - j·δ})        (positions before 0 read as zeros)

so output t sees inputs t - (k-1)·δ .. t only, and a stack of blocks adds up their reaches:
receptive field = 1 + Σ_blocks (k-1)·δ. A final LayerNorm closes the stack, as in the transformer, so that
the head sees a normalised stream whichever learner it sits on.

- ``cnn``: contiguous kernels (δ = 1); connecting n positions takes O(n/k) layers (Vaswani et al. 2017, §4).
- ``tcn``: dilations 1, 2, 4, ... (Bai, Kolter & Koltun 2018); connecting n positions takes O(log_k n) layers.

Each layer is parallel over positions, so the sequential operations are the layers themselves: O(1) in n.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from learners.base import Learner


class CausalConv(nn.Module):
    """One residual level, h + GELU(conv(LN(h))), made causal by (k-1)·dilation zeros on the left."""

    def __init__(self, d_model: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.conv = nn.Conv1d(d_model, d_model, kernel_size, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.left = (kernel_size - 1) * dilation

    def forward(self, h: Tensor) -> Tensor:
        z = F.pad(self.norm(h).transpose(1, 2), (self.left, 0))  # [B, D, left + L]
        return h + self.drop(F.gelu(self.conv(z).transpose(1, 2)))


class ConvStack(Learner):
    """Shared body: CausalConv levels with the given dilations, then a LayerNorm. Subclasses pick dilations."""

    family = "convolutional"

    def build(self, dilations: list[int]) -> None:
        k, dropout = self.options["kernel_size"], self.options["dropout"]
        self.require("kernel_size", k >= 2, "an int >= 2")
        self.require("dropout", 0.0 <= dropout < 1.0, "in [0, 1)")
        self.blocks = nn.ModuleList(CausalConv(self.d_model, k, d, dropout) for d in dilations)
        self.norm = nn.LayerNorm(self.d_model)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, L, d_model] -> [B, L, d_model]; output t depends on x[t - receptive_field + 1 .. t]."""
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def sequential_ops(self, n: int) -> int:
        """The conv layers, applied one after another; each is parallel over all n positions."""
        return len(self.blocks)


class CNN(ConvStack):
    """``n_layers`` causal convolutions with contiguous kernels.

    Options: ``kernel_size`` (int >= 2, default 4), ``dropout`` (float in [0, 1), default 0.0).
    """

    name = "cnn"
    summary = "causal convolutions with contiguous kernels; depth sets the receptive field"
    theory = {"complexity": "O(k·n·d²)", "sequential_ops": "O(1)", "max_path_length": "O(n/k)"}
    OPTIONS = {"kernel_size": 4, "dropout": 0.0}

    def __init__(self, d_model: int, n_layers: int, max_len: int = 1024, **options: Any) -> None:
        super().__init__(d_model, n_layers, max_len, **options)
        self.build([1] * self.n_layers)

    def receptive_field(self, n: int) -> int:
        """n_layers·(k-1) + 1 positions, whatever n."""
        return self.n_layers * (self.options["kernel_size"] - 1) + 1

    def max_path_length(self, n: int) -> int:
        """Layers needed to connect input 0 to output n-1, ceil((n-1)/(k-1)) (at least 1): Table 1's O(n/k).

        This is the depth a contiguous stack would need; when n exceeds this network's receptive field there
        is no path at all, which the receptive field reports.
        """
        k = self.options["kernel_size"]
        return max(1, -(-(n - 1) // (k - 1)))


class TCN(ConvStack):
    """Temporal convolutional network: dilated causal convolutions with residual connections (Bai et al. 2018).

    Each of the ``n_layers`` layers is one dilated stack of ``levels`` residual levels with dilations
    1, 2, 4, ..., 2^(levels-1); each level is one convolution (Bai et al. use two, with weight norm, per
    residual block; one keeps the receptive field formula plain). By default ``levels`` is the smallest
    number whose stack alone covers max_len, (k-1)·(2^levels - 1) + 1 >= max_len, as Bai et al. choose the
    depth so that the receptive field covers the sequence; the value used is in ``self.n_levels``.

    Options: ``kernel_size`` (int >= 2, default 2), ``levels`` (int >= 1 or None, default None),
    ``dropout`` (float in [0, 1), default 0.0).
    """

    name = "tcn"
    summary = "temporal convolutional network: dilated causal convolutions, dilation 2^i (Bai et al. 2018)"
    theory = {"complexity": "O(k·n·d²)", "sequential_ops": "O(1)", "max_path_length": "O(log_k n)"}
    OPTIONS = {"kernel_size": 2, "levels": None, "dropout": 0.0}

    def __init__(self, d_model: int, n_layers: int, max_len: int = 1024, **options: Any) -> None:
        super().__init__(d_model, n_layers, max_len, **options)
        levels, k = self.options["levels"], self.options["kernel_size"]
        self.require("levels", levels is None or (type(levels) is int and levels >= 1), "None or an int >= 1")
        self.require("kernel_size", k >= 2, "an int >= 2")
        self.n_levels = levels if levels is not None else levels_to_connect(self.max_len, k)
        self.build([2**i for i in range(self.n_levels)] * self.n_layers)

    def receptive_field(self, n: int) -> int:
        """n_layers·(k-1)·(2^levels - 1) + 1 positions, whatever n."""
        return self.n_layers * (self.options["kernel_size"] - 1) * (2**self.n_levels - 1) + 1

    def max_path_length(self, n: int) -> int:
        """Dilated levels needed to connect input 0 to output n-1, ceil(log2(1 + (n-1)/(k-1))) (at least 1).

        Table 1's O(log_k n) for dilations 2^i. Like the cnn's, this is the depth needed; a network whose
        receptive field is shorter than n has no path from input 0 to output n-1.
        """
        return levels_to_connect(n, self.options["kernel_size"])


def levels_to_connect(n: int, kernel_size: int) -> int:
    """The fewest levels m >= 1 with dilations 1, 2, ..., 2^(m-1) whose reach (k-1)·(2^m - 1) is >= n - 1."""
    m = 1
    while (kernel_size - 1) * (2**m - 1) < n - 1:
        m += 1
    return m
