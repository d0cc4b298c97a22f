"""Recurrent learners: the Elman RNN, the LSTM and the GRU, as torch's fused multi-layer modules.

Layer l carries a state through time; its input at step t is the layer below, x_t for the first layer:

    rnn   h_t = tanh(W x_t + U h_{t-1} + b)
    lstm  i, f, o = σ(W x_t + U h_{t-1} + b),  g = tanh(W_g x_t + U_g h_{t-1} + b_g)
          c_t = f ⊙ c_{t-1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
          b_f = forget_bias at initialisation (default 1; torch's own init leaves it about 0): the forget gate
          starts open, σ(1) ≈ 0.73 at zero input, so c_t keeps more of c_{t-1} from the first step
          (Gers et al. 2000; Jozefowicz et al. 2015; Keras unit_forget_bias=True)
    gru   r, z = σ(W x_t + U h_{t-1} + b),  m = tanh(W_m x_t + r ⊙ (U_m h_{t-1} + b_m))
          h_t = (1 - z) ⊙ m + z ⊙ h_{t-1}

The output at t is the top layer's h_t: causal by construction, and every earlier input can reach it, but
only through t - s applications of the recurrence (Table 1: O(n) sequential operations and path length).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from learners.base import Learner


class Recurrent(Learner):
    """A stack of ``n_layers`` recurrent layers of width d_model; the output is the top layer's state.

    Options: ``dropout`` (float in [0, 1), default 0.0) between layers, as torch applies it (so it has no
    effect when n_layers == 1). Subclasses name the torch module in ``cell``.
    """

    family = "recurrent"
    theory = {"complexity": "O(n·d²)", "sequential_ops": "O(n)", "max_path_length": "O(n)"}
    OPTIONS = {"dropout": 0.0}
    cell: ClassVar[type[nn.RNNBase]]
    cell_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, d_model: int, n_layers: int, max_len: int = 1024, **options: Any) -> None:
        super().__init__(d_model, n_layers, max_len, **options)
        dropout = self.options["dropout"]
        self.require("dropout", 0.0 <= dropout < 1.0, "in [0, 1)")
        self.rnn = self.cell(self.d_model, self.d_model, num_layers=self.n_layers, batch_first=True,
                             dropout=dropout, **self.cell_options)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, L, d_model] -> the top layer's states h_1..h_L, [B, L, d_model]; the initial state is zero."""
        y, _ = self.rnn(x)
        return y

    def max_path_length(self, n: int) -> int:
        """Crossings from input 0 to output n-1: into the first layer, n-1 steps along it, n_layers-1 layers up."""
        return n + self.n_layers - 1

    def sequential_ops(self, n: int) -> int:
        """Steps that run one after another as torch computes them: n time steps in each of n_layers layers."""
        return n * self.n_layers

    def receptive_field(self, n: int) -> int | None:
        """Unbounded: the state carries every earlier input (though its gradient may vanish)."""
        return None


class RNN(Recurrent):
    name = "rnn"
    summary = "Elman RNN (tanh), torch nn.RNN"
    cell = nn.RNN
    cell_options = {"nonlinearity": "tanh"}


class LSTM(Recurrent):
    """torch's nn.LSTM with the forget-gate bias set after torch's initialisation.

    Options: those of Recurrent, plus ``forget_bias`` (finite float, default 1.0). torch splits each layer's
    bias into b_ih and b_hh, gates in the order i, f, g, o (slices of d_model); the forget slice is set to
    b_ih[f] = forget_bias, b_hh[f] = 0 in every layer, so the gate's bias b_f = b_ih[f] + b_hh[f] starts at
    forget_bias. torch's own initialisation gives it U(-1/√d, 1/√d) twice, about 0 on average; 0.0 gives
    exactly 0.
    """

    name = "lstm"
    summary = "long short-term memory (Hochreiter & Schmidhuber 1997), torch nn.LSTM; forget-gate bias 1"
    cell = nn.LSTM
    OPTIONS = {**Recurrent.OPTIONS, "forget_bias": 1.0}

    def __init__(self, d_model: int, n_layers: int, max_len: int = 1024, **options: Any) -> None:
        super().__init__(d_model, n_layers, max_len, **options)
        forget_bias = self.options["forget_bias"]
        self.require("forget_bias", math.isfinite(forget_bias), "a finite float")
        forget = slice(self.d_model, 2 * self.d_model)  # gates i, f, g, o
        with torch.no_grad():
            for layer in range(self.n_layers):
                getattr(self.rnn, f"bias_ih_l{layer}")[forget] = forget_bias
                getattr(self.rnn, f"bias_hh_l{layer}")[forget] = 0.0


class GRU(Recurrent):
    name = "gru"
    summary = "gated recurrent unit (Cho et al. 2014), torch nn.GRU"
    cell = nn.GRU
