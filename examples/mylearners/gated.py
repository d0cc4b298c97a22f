"""GatedConv: a gated depthwise causal convolution, the mixer of H3/Hyena-style models at its smallest.

Per layer, with LN a LayerNorm, W_v, W_g, W_o linear maps and conv_k a depthwise causal convolution of kernel
size k (each channel mixes its own last k positions):

    h <- h + W_o( conv_k(W_v LN(h)) * sigmoid(W_g LN(h)) )

so each layer reaches k - 1 positions further back: receptive field n_layers·(k-1) + 1, path length from
position 0 to n-1 about (n-1)/(k-1) layers (a contiguous convolution, Table 1's O(n/k) with depth grown to fit).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from learners import Learner


class GatedBlock(nn.Module):
    def __init__(self, d_model: int, kernel_size: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.value = nn.Linear(d_model, d_model)
        self.gate = nn.Linear(d_model, d_model)
        self.conv = nn.Conv1d(d_model, d_model, kernel_size, groups=d_model)  # depthwise
        self.out = nn.Linear(d_model, d_model)
        self.left = kernel_size - 1

    def forward(self, h: Tensor) -> Tensor:
        z = self.norm(h)
        v = F.pad(self.value(z).transpose(1, 2), (self.left, 0))  # [B, D, left + L]: causal
        mixed = self.conv(v).transpose(1, 2)
        return h + self.out(mixed * torch.sigmoid(self.gate(z)))


class GatedConv(Learner):
    """``n_layers`` gated depthwise causal convolutions. Options: ``kernel_size`` (int >= 2, default 4)."""

    name = "gated-conv"
    family = "convolutional"
    summary = "gated depthwise causal convolution (an example of a user's own learner)"
    theory = {"complexity": "O(k·n·d + n·d²)", "sequential_ops": "O(1)", "max_path_length": "O(n/k)"}
    OPTIONS = {"kernel_size": 4}

    def __init__(self, d_model: int, n_layers: int, max_len: int = 1024, **options: Any) -> None:
        super().__init__(d_model, n_layers, max_len, **options)
        k = self.options["kernel_size"]
        self.require("kernel_size", k >= 2, "an int >= 2")
        self.blocks = nn.ModuleList(GatedBlock(self.d_model, k) for _ in range(self.n_layers))
        self.norm = nn.LayerNorm(self.d_model)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, L, d_model] -> [B, L, d_model]; output t depends on x[t - receptive_field + 1 .. t]."""
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def receptive_field(self, n: int) -> int:
        return self.n_layers * (self.options["kernel_size"] - 1) + 1

    def max_path_length(self, n: int) -> int:
        """Layers an input at position 0 crosses to reach position n-1: ceil((n-1)/(k-1)), at least 1."""
        return max(1, math.ceil((n - 1) / (self.options["kernel_size"] - 1)))

    def sequential_ops(self, n: int) -> int:
        return self.n_layers
