"""Linear recurrences on a parallel scan: the LRU (Orvieto et al. 2023) and Mamba's selective SSM (Gu & Dao 2023).

Each layer carries a diagonal linear state through time,

    h_t = a_t ⊙ h_{t-1} + b_t,        h_{-1} = 0,

with no nonlinearity between steps, so the recurrence is associative and a scan computes all n states in
fewer than n dependent steps (REFERENCES.md, "Linear recurrences on a parallel scan"):

    lru    a_t = λ = exp(-exp(ν) + iθ)      (complex, one per state, the same at every step)
           b_t = γ ⊙ (B x_t),  γ = sqrt(1 - |λ|²),      y_t = Re(C h_t) + D ⊙ x_t
    mamba  a_t = exp(Δ_t A),  A = -exp(A_log)   (real, per channel and state, chosen by the input through Δ_t)
           b_t = (Δ_t u_t) B_t,                          y_t = C_t · h_t + D ⊙ u_t

The scan (learners/scan.py: :func:`parallel_scan`, the chunked three-phase scan in O(c + log(n/c)) dependent
steps, and its sequential reference) computes all n states in fewer than n dependent steps.

Every earlier input reaches the output through the states in between, so the path is O(n) as for an RNN, but
along a linear path with a per-step gain a_t instead of a squashing nonlinearity.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from learners.base import Learner
from learners.scan import ChunkedScan, chunked, scan_chunks, scan_depth, scan_flops, sequential_scan, unchunked

# -- the learners' common declarations ------------------------------------------------------------------------


class LinearRecurrent(Learner):
    """Shared body: ``n_layers`` pre-norm residual blocks around a diagonal linear recurrence, a final norm.

    ``scan`` ("parallel" or "sequential", an attribute, not an option) picks the chunked scan or the reference
    loop; both compute the same function (the tests compare them). Subclasses build ``self.blocks``.
    """

    family = "linear-recurrent"
    theory = {"complexity": "O(n·d·N)", "sequential_ops": "O(c + log(n/c))", "max_path_length": "O(n)"}
    scan = "parallel"

    def validate_common(self) -> None:
        chunk, state = self.options["chunk"], self.options["state"]
        self.require("chunk", chunk >= 1, "an int >= 1")
        self.require("state", state >= 1, "an int >= 1")

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, L, d_model] -> [B, L, d_model]; output t depends on x_0..x_t through the states."""
        chunk = self.options["chunk"] if self.scan == "parallel" else None  # None: the sequential reference
        for block in self.blocks:
            x = x + block(x, chunk)
        return self.norm(x)

    def max_path_length(self, n: int) -> int:
        """Crossings from input 0 to output n-1: into the first layer, n-1 steps along its state, n_layers-1 up.
        A scan shortens the computation's depth, not this path: every state in between is on it."""
        return n + self.n_layers - 1

    def sequential_ops(self, n: int) -> int:
        """Dependent steps of the chunked scan (:func:`scan_depth`) in each of n_layers layers; everything else
        in a layer is parallel over positions."""
        return scan_depth(n, self.options["chunk"]) * self.n_layers

    def receptive_field(self, n: int) -> int | None:
        """Unbounded: the state carries every earlier input (scaled by the gains in between)."""
        return None

    def uncounted_flops(self, batch: int, n: int) -> int:  # pragma: no cover - abstract
        """Forward FLOPs (2 per multiply-add) that torch's FlopCounterMode does not count, for a batch of
        sequences of n positions: add them to its count for the forward total."""
        raise NotImplementedError


# -- LRU ------------------------------------------------------------------------------------------------------


class LRULayer(nn.Module):
    """One LRU (Orvieto et al. 2023, §3 and Appendix A): x [B, L, H] -> y [B, L, H] through N complex states.

    Parameters are real: λ = exp(-exp(ν_log) + i·exp(θ_log)), γ = exp(γ_log), B = B_re + i·B_im [N, H],
    C = C_re + i·C_im [H, N], D [H]. Ring initialisation: |λ|² uniform on [r_min², r_max²] (uniform on the
    ring's area), phase uniform on [0, max_phase]; γ starts at sqrt(1 - |λ|²), so that a white input keeps
    the state's variance whatever |λ| (the normalisation that lets |λ| near 1 train); B ~ N(0, 1/(2H)) per
    part (Glorot for a complex matrix), C ~ N(0, 1/N) per part, D ~ N(0, 1).
    """

    def __init__(self, d_model: int, state: int, r_min: float, r_max: float, max_phase: float) -> None:
        super().__init__()
        u1, u2 = torch.rand(state), torch.rand(state)
        self.nu_log = nn.Parameter(torch.log(-0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)))
        self.theta_log = nn.Parameter(torch.log(max_phase * u2))
        modulus = torch.exp(-torch.exp(self.nu_log.detach()))
        self.gamma_log = nn.Parameter(torch.log(torch.sqrt(1 - modulus**2)))
        self.B_re = nn.Parameter(torch.randn(state, d_model) / math.sqrt(2 * d_model))
        self.B_im = nn.Parameter(torch.randn(state, d_model) / math.sqrt(2 * d_model))
        self.C_re = nn.Parameter(torch.randn(d_model, state) / math.sqrt(state))
        self.C_im = nn.Parameter(torch.randn(d_model, state) / math.sqrt(state))
        self.D = nn.Parameter(torch.randn(d_model))

    def recurrence(self) -> tuple[Tensor, Tensor, Tensor]:
        """λ [N] (complex); W_B [2N, H] and W_C [H, 2N], real, such that x @ W_Bᵀ read as N complex numbers is
        γ ⊙ (B x), and h read as 2N reals, @ W_Cᵀ, is Re(C h). Real matrices: the FLOP counter sees them."""
        lam = torch.polar(torch.exp(-torch.exp(self.nu_log)), torch.exp(self.theta_log))
        gamma = torch.exp(self.gamma_log)[:, None]
        w_b = torch.stack([gamma * self.B_re, gamma * self.B_im], dim=1).flatten(0, 1)  # rows re_0, im_0, re_1..
        w_c = torch.stack([self.C_re, -self.C_im], dim=2).flatten(1, 2)  # Re(C h) = C_re h_re - C_im h_im
        return lam, w_b, w_c

    def forward(self, x: Tensor, chunk: int | None) -> Tensor:
        """x: [B, L, H] -> y [B, L, H]; ``chunk`` None runs the sequential reference scan."""
        lam, w_b, w_c = self.recurrence()
        n = x.shape[1]
        if chunk is None:
            h = sequential_scan(lam[None, None], torch.view_as_complex(F.linear(x, w_b).unflatten(-1, (-1, 2))))
            return F.linear(torch.view_as_real(h).flatten(-2), w_c) + self.D * x
        xc = chunked(x, min(chunk, n))  # [c, K, B, H]; zero padding gives b = 0 there (no bias)
        b = torch.view_as_complex(F.linear(xc, w_b).unflatten(-1, (-1, 2)))  # [c, K, B, N]
        h = ChunkedScan.apply(lam[None, None, None], b)
        return unchunked(F.linear(torch.view_as_real(h).flatten(-2), w_c), n) + self.D * x


class LRUBlock(nn.Module):
    """The paper's layer (Figure 1, pre-norm): LN -> LRU -> GELU -> GLU (W_1 z ⊙ σ(W_2 z)); the caller adds x."""

    def __init__(self, d_model: int, lru: LRULayer) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.lru = lru
        self.glu = nn.Linear(d_model, 2 * d_model)

    def forward(self, x: Tensor, chunk: int | None) -> Tensor:
        value, gate = self.glu(F.gelu(self.lru(self.norm(x), chunk))).chunk(2, dim=-1)
        return value * torch.sigmoid(gate)


class LRU(LinearRecurrent):
    """Deep LRU: ``n_layers`` pre-norm LRU blocks (LN, LRU, GELU, GLU, skip), then a LayerNorm.

    Options: ``state`` N (complex states per layer, default 64), ``r_min`` and ``r_max`` (0 <= r_min < r_max <= 1,
    default 0.9 and 0.999), ``max_phase`` (in (0, 2π], default π/10), ``chunk`` (scan chunk c, default 16).

    r_min, r_max and max_phase are the paper's long-range settings (§3.3, its LRA runs): |λ| on the ring
    [0.9, 0.999], so that from the first step the states remember over 10 to 1000 steps (1/(1 - |λ|)), and
    phases in [0, π/10], the narrow range it needed on its longest tasks, where fast-rotating states would
    average out what slow ones must keep (the paper's code defaults, [0, 1] and 2π, are for short tasks).
    N = 64 is our choice, not the paper's (its LRA models hold a few hundred states at widths of a few
    hundred): as wide as the study's d_model, it gives lru the parameters of gru (50k at d_model 64, 2 layers)
    and a training step a third of N = 256's (149k parameters; tests/benchmarks/linear_recurrent_speed.py).
    """

    name = "lru"
    summary = "linear recurrent unit (Orvieto et al. 2023): complex diagonal recurrence, ring init, parallel scan"
    OPTIONS = {"state": 64, "r_min": 0.9, "r_max": 0.999, "max_phase": math.pi / 10, "chunk": 16}

    def __init__(self, d_model: int, n_layers: int, max_len: int = 1024, **options: Any) -> None:
        super().__init__(d_model, n_layers, max_len, **options)
        self.validate_common()
        r_min, r_max, max_phase = self.options["r_min"], self.options["r_max"], self.options["max_phase"]
        self.require("r_min", 0.0 <= r_min < r_max, f"in [0, r_max={r_max})")
        self.require("r_max", r_min < r_max <= 1.0, f"in (r_min={r_min}, 1]")
        self.require("max_phase", 0.0 < max_phase <= 2 * math.pi, "in (0, 2π]")
        self.blocks = nn.ModuleList(
            LRUBlock(self.d_model, LRULayer(self.d_model, self.options["state"], r_min, r_max, max_phase))
            for _ in range(self.n_layers))
        self.norm = nn.LayerNorm(self.d_model)

    def uncounted_flops(self, batch: int, n: int) -> int:
        """Forward FLOPs FlopCounterMode does not see: the complex scan over batch·N states per layer, as
        :func:`scan_flops` counts it (λ is time-invariant: its running products are N per step). The B and C
        projections are real matrix products, which the counter counts; γ is folded into B once per forward."""
        N = self.options["state"]
        return self.n_layers * scan_flops(n, self.options["chunk"], batch * N, invariant=N, complex_=True)


# -- Mamba ----------------------------------------------------------------------------------------------------


def selective_scan_reference(u: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """S6 by the definition, with the sequential scan: u, dt [Bt, n, D]; A [D, N]; B, C [Bt, n, N] -> y [Bt, n, D].

    Ā_t = exp(Δ_t A), B̄_t u_t = Δ_t u_t B_t (zero-order hold for A, Euler for B, as in the paper),
    h_t = Ā_t ⊙ h_{t-1} + B̄_t u_t over [D, N] states, y_t = Σ_n C_t[n] h_t[:, n].
    """
    dA = torch.exp(dt[..., None] * A)  # [Bt, n, D, N]
    h = sequential_scan(dA, (dt * u)[..., None] * B[:, :, None, :])
    return torch.einsum("btdn,btn->btd", h, C)


SCAN_BLOCK = 2**19  # state elements per batch block on a CPU (measured: 2^18 to 2^21 alike, whole batch slower)


def batch_blocks(batch: int, states_per_row: int, cuda: bool) -> list[slice]:
    """Slices of the batch holding about SCAN_BLOCK state elements each; the whole batch on a GPU."""
    rows = batch if cuda else max(1, SCAN_BLOCK // states_per_row)
    return [slice(r, r + rows) for r in range(0, batch, rows)]


class SelectiveScan(torch.autograd.Function):
    """:func:`selective_scan_reference` on the chunked scan, one batch block at a time, so that the [D, N]-wide
    temporaries (Ā, B̄u, the scan's products) of one block, not of the whole batch, are in flight: on a CPU they
    stay in cache. The forward keeps each block's states h for the backward (cheaper here than recomputing
    them, as Gu & Dao's kernel does), which runs the adjoint scan block by block.

    In chunk layout [c, K, b, N, D], where one scan step is one contiguous slab:
        Ā = exp(Δ A),  x = (Δu) B,  h = scan(Ā, x),  y = C h
    and backward, with G_t = dL/dh_t = C_t dL/dy_t + Ā_{t+1} G_{t+1} (a reverse scan):
        dL/dC = h dL/dy,  dL/dB = G (Δu),  dL/d(Δu) = B G,  dL/d(ΔA) = G ⊙ Ā ⊙ h_{t-1} = G ⊙ (h - x).
    """

    @staticmethod
    def forward(ctx: Any, u: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk: int) -> Tensor:
        n, c = u.shape[1], min(chunk, u.shape[1])
        At = A.t()  # [N, D]
        dt_c, dtu_c = chunked(dt, c).unsqueeze(-2), chunked(dt * u, c).unsqueeze(-2)  # [c, K, Bt, 1, D]
        B_c, C_c = chunked(B, c).unsqueeze(-1), chunked(C, c).unsqueeze(-2)  # [c, K, Bt, N, 1], [c, K, Bt, 1, N]
        y, states = torch.empty_like(dtu_c), []
        for rows in batch_blocks(u.shape[0], dt_c.shape[0] * dt_c.shape[1] * A.numel(), u.is_cuda):
            x = dtu_c[:, :, rows] * B_c[:, :, rows]  # [c, K, b, N, D]
            h = scan_chunks(torch.mul(dt_c[:, :, rows], At).exp_(), x, out=x)
            y[:, :, rows] = torch.matmul(C_c[:, :, rows], h)
            states.append(h)
        ctx.save_for_backward(u, dt, A, B, C, *states)
        ctx.chunk = chunk
        return unchunked(y.squeeze(-2), n)

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, None]:
        u, dt, A, B, C, *states = ctx.saved_tensors
        n, c = u.shape[1], min(ctx.chunk, u.shape[1])
        At = A.t()
        dt_c, u_c = chunked(dt, c).unsqueeze(-2), chunked(u, c).unsqueeze(-2)  # [c, K, Bt, 1, D]
        dt_next = chunked(torch.cat([dt[:, 1:], torch.zeros_like(dt[:, :1])], 1), c).unsqueeze(-2)  # Δ_{t+1}
        B_c, C_c = chunked(B, c).unsqueeze(-1), chunked(C, c).unsqueeze(-2)
        gy = chunked(grad_y, c).unsqueeze(-2)  # [c, K, Bt, 1, D]
        dtu = dt_c * u_c
        grad_dtu, grad_dt = torch.empty_like(dtu), torch.empty_like(dtu)
        grad_B, grad_C, grad_At = torch.empty_like(B_c), torch.empty_like(C_c).transpose(-1, -2), torch.zeros_like(At)
        blocks = batch_blocks(u.shape[0], dt_c.shape[0] * dt_c.shape[1] * A.numel(), u.is_cuda)
        for rows, h in zip(blocks, states):
            G = C_c[:, :, rows].transpose(-1, -2) * gy[:, :, rows]  # dL/dh_t through y_t, [c, K, b, N, D]
            scan_chunks(torch.mul(dt_next[:, :, rows], At).exp_(), G, reverse=True, out=G)  # .. and through h_{t+1}
            grad_C[:, :, rows] = torch.matmul(h, gy[:, :, rows].transpose(-1, -2))
            grad_B[:, :, rows] = torch.matmul(G, dtu[:, :, rows].transpose(-1, -2))
            grad_dtu[:, :, rows] = torch.matmul(B_c[:, :, rows].transpose(-1, -2), G)
            grad_z = G.mul_(torch.addcmul(h, dtu[:, :, rows], B_c[:, :, rows], value=-1))  # dL/d(ΔA)
            grad_At += (grad_z * dt_c[:, :, rows]).sum((0, 1, 2))
            grad_dt[:, :, rows] = grad_z.mul_(At).sum(-2, keepdim=True)
        grad_dt.addcmul_(grad_dtu, u_c)
        grad_u = grad_dtu.mul_(dt_c)
        return (unchunked(grad_u.squeeze(-2), n), unchunked(grad_dt.squeeze(-2), n), grad_At.t(),
                unchunked(grad_B.squeeze(-1), n), unchunked(grad_C.squeeze(-1), n), None)


def selective_scan_flops(batch: int, n: int, channels: int, state: int, chunk: int) -> int:
    """Forward FLOPs of :class:`SelectiveScan` that FlopCounterMode misses: Δ·u (n·D per row), then per state
    element of the padded length: Δ·A (1), exp (counted as 1), (Δu)·B (1), and the real scan
    (:func:`scan_flops`). The read-out C·h is a matrix product, which the counter counts."""
    c = min(chunk, n)
    padded = -(-n // c) * c
    states = batch * channels * state
    return batch * n * channels + 3 * padded * states + scan_flops(n, chunk, states)


def causal_depthwise_conv(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """y_t = bias + Σ_j weight[j] ⊙ x_{t-k+1+j} per channel, zeros before position 0: x [B, L, E], weight [k, E].

    The depthwise Conv1d of the paper as k multiply-adds in the [B, L, E] layout (no transposes). Not
    nn.Conv1d: FlopCounterMode's convolution_backward formula ignores groups (torch 2.13) and would charge
    this conv's backward E times over; these multiply-adds are counted in :meth:`Mamba.uncounted_flops`.
    """
    k, L = weight.shape[0], x.shape[1]
    padded = F.pad(x, (0, 0, k - 1, 0))  # [B, k - 1 + L, E]
    y = bias
    for j in range(k):
        y = torch.addcmul(y, padded[:, j:j + L], weight[j])
    return y


class MambaMixer(nn.Module):
    """Mamba's block body (Gu & Dao 2023, Figure 3 and §3.4), [B, L, d] -> [B, L, d], with E = expand·d:

        x, z = in_proj(u)                               two [B, L, E]
        x = SiLU(causal depthwise conv_k(x))
        Δ, B, C = x_proj(x) split (dt_rank, N, N);   Δ = softplus(dt_proj(Δ))      [B, L, E], [B, L, N] twice
        y = S6(x; Δ, A = -exp(A_log), B, C) + D ⊙ x
        out_proj(y ⊙ SiLU(z))

    Initialisation as the paper's code: A_log = log(1..N) in every channel (S4D-real), D = 1, dt_proj's bias
    the inverse softplus of Δ ~ log-uniform on [0.001, 0.1] (floor 1e-4), its weight uniform ±dt_rank^-1/2.
    """

    def __init__(self, d_model: int, state: int, expand: int, conv: int, dt_rank: int) -> None:
        super().__init__()
        inner = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * inner, bias=False)
        bound = conv**-0.5  # nn.Conv1d's default initialisation for this shape
        self.conv_weight = nn.Parameter(torch.empty(conv, inner).uniform_(-bound, bound))  # [k, E]
        self.conv_bias = nn.Parameter(torch.empty(inner).uniform_(-bound, bound))
        self.x_proj = nn.Linear(inner, dt_rank + 2 * state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, inner)
        self.out_proj = nn.Linear(inner, d_model, bias=False)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, state + 1, dtype=torch.float32)).repeat(inner, 1))
        self.D = nn.Parameter(torch.ones(inner))
        self.split = (dt_rank, state, state)
        with torch.no_grad():
            nn.init.uniform_(self.dt_proj.weight, -dt_rank**-0.5, dt_rank**-0.5)
            dt = torch.exp(torch.rand(inner) * (math.log(0.1) - math.log(0.001)) + math.log(0.001)).clamp(min=1e-4)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus(bias) = dt

    def forward(self, u: Tensor, chunk: int | None) -> Tensor:
        """u: [B, L, d] -> [B, L, d]; ``chunk`` None runs the reference selective scan."""
        x, z = self.in_proj(u).chunk(2, dim=-1)  # [B, L, E] each
        x = F.silu(causal_depthwise_conv(x, self.conv_weight, self.conv_bias))
        dt, B, C = self.x_proj(x).split(self.split, dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # [B, L, E]
        A = -torch.exp(self.A_log)  # [E, N]
        if chunk is None:
            y = selective_scan_reference(x, dt, A, B, C)
        else:
            y = SelectiveScan.apply(x, dt, A, B.contiguous(), C.contiguous(), chunk)
        return self.out_proj((y + self.D * x) * F.silu(z))


class MambaBlock(nn.Module):
    """Pre-norm residual block as in the paper's language model: RMSNorm -> mixer; the caller adds x."""

    def __init__(self, d_model: int, mixer: MambaMixer) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(d_model, eps=1e-5)
        self.mixer = mixer

    def forward(self, x: Tensor, chunk: int | None) -> Tensor:
        return self.mixer(self.norm(x), chunk)


class Mamba(LinearRecurrent):
    """Mamba: ``n_layers`` pre-norm residual blocks of the selective SSM, then an RMSNorm.

    Options: ``state`` N (default 16), ``expand`` (inner width = expand·d_model, default 2), ``conv`` (causal
    depthwise kernel, default 4), ``dt_rank`` (None: ceil(d_model/16), as the paper), ``chunk`` (scan chunk c,
    default 16). The defaults are the paper's.
    """

    name = "mamba"
    summary = "Mamba (Gu & Dao 2023): selective SSM (S6) with input-dependent Δ, B, C, on a parallel scan"
    OPTIONS = {"state": 16, "expand": 2, "conv": 4, "dt_rank": None, "chunk": 16}

    def __init__(self, d_model: int, n_layers: int, max_len: int = 1024, **options: Any) -> None:
        super().__init__(d_model, n_layers, max_len, **options)
        self.validate_common()
        expand, conv, dt_rank = self.options["expand"], self.options["conv"], self.options["dt_rank"]
        self.require("expand", expand >= 1, "an int >= 1")
        self.require("conv", conv >= 1, "an int >= 1")
        self.require("dt_rank", dt_rank is None or (type(dt_rank) is int and dt_rank >= 1), "None or an int >= 1")
        self.dt_rank = dt_rank or -(-self.d_model // 16)
        self.blocks = nn.ModuleList(
            MambaBlock(self.d_model, MambaMixer(self.d_model, self.options["state"], expand, conv, self.dt_rank))
            for _ in range(self.n_layers))
        self.norm = nn.RMSNorm(self.d_model, eps=1e-5)

    def uncounted_flops(self, batch: int, n: int) -> int:
        """Forward FLOPs FlopCounterMode does not see, per layer: the causal conv's k multiply-adds per channel
        and position (2·k·E·n·batch), and the selective scan's element-wise work (:func:`selective_scan_flops`)."""
        inner, k = self.options["expand"] * self.d_model, self.options["conv"]
        scan = selective_scan_flops(batch, n, inner, self.options["state"], self.options["chunk"])
        return self.n_layers * (2 * k * inner * n * batch + scan)
