"""Attention learners: causal self-attention in pre-norm transformer blocks (Vaswani et al. 2017).

    x <- x + Attn(LN(x)),   x <- x + MLP(LN(x)),   output LN(x)
    Attn: q, k, v = x W_q, x W_k, x W_v, split into heads of width d_head = d_model / heads
          a_ts = q_t · k_s / √d_head + b(t - s),   y_t = Σ_{s allowed} softmax_s(a_ts) v_s,   output y W_o
    MLP:  W_2 GELU(W_1 x + b_1) + b_2, hidden width 4·d_model

- ``transformer``: s is allowed when s <= t. Any input reaches any later output in one layer (path length 1).
- ``local-attention``: s is allowed when 0 <= t - s < window: restricted self-attention (Table 1, row 4), a
  path of O(n/r) layers, computed in O(window·n·d) time and memory.

Positions (option ``positions``), each by its equation (b = 0 unless the scheme sets it):

- "sinusoidal": x_t <- x_t + PE_t below the first block, PE[t, 2i] = sin(t / 10000^(2i/d)),
  PE[t, 2i+1] = cos(t / 10000^(2i/d)) (Vaswani et al. 2017). Defined at every t, but unseen past training.
- "learned": x_t <- x_t + P_t, P a learned [max_len, d] table: not defined for t >= max_len (the forward raises
  ContextLengthError).
- "rotary": q_t <- R(t)·q_t and k_s <- R(s)·k_s in every layer, R(t) turning pair (i, i + d_head/2) by the angle
  t·θ_i, θ_i = 10000^(-2i/d_head) (Su et al. 2021), so q_t · k_s = q R(s - t) k depends on t - s only.
- "relative": b_h(t - s) = w_h[min(t - s, K)], a learned scalar per head, layer and offset, zero at
  initialisation (Shaw et al. 2018; Music Transformer, Huang et al. 2019); offsets past K = ``max_offset`` share
  w_h[K] (Shaw et al.'s clipping), so it runs at any length. K defaults to max_len - 1 (local: window - 1).
- "alibi": b_h(t - s) = -m_h·(t - s), m_h = 2^(-8h/H) for heads h = 1..H: a fixed geometric sequence whose
  first term and ratio are 2^(-8/H) (Press et al. 2022, "Train Short, Test Long"); no parameter, no embedding.
- "none": no position signal beyond what the causal mask implies (NoPE, Kazemnejad et al. 2023).

Relative and ALiBi logits are shift-equivariant: a_ts depends on the positions through t - s only (rotary too).

Memory of the relative term. Shaw et al. give each offset a vector a_(t-s) in R^d_head added to the keys; written
out per pair that is an [L, L, d_head] tensor, O(L²·D), which the Music Transformer's "skewing" avoids: it
computes Q·E_rᵀ ([L, L] per head, like the logits themselves) from one [L, d_head] table E_r, O(L·D) beyond the
logits. The bias here is a scalar per head and offset, so no per-pair vector is ever formed: the relative term is
a gather of H·(K+1) parameters into an [H, L, L] mask shared by the whole batch, the size of one sequence's
logits, with no factor D at all. It therefore meets the bound without skewing; what it gives up is Shaw et al.'s
content-dependent term q_t·a_(t-s) (position enters as a bias, as in T5), which the claims about relative
attention tested here (shift-equivariance, no cap on the length) do not need.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from learners.base import ContextLengthError, Learner

POSITIONS = ("sinusoidal", "learned", "rotary", "relative", "alibi", "none")
# Local attention scores all L keys per query (one masked L x L block) up to L = DENSE_WINDOWS·window, and
# chunks of window queries against 2·window keys beyond. The dense block skips the chunks' padding and key
# copies. Measured on the attention core alone (forward+backward, one CPU thread, window 16, batch 32, 4 heads
# of 16): dense faster up to L = 48 (by about 40% at 40), level at 56, slower from 64;
# tests/benchmarks/test_bench_attention.py times both layouts in the whole learner.
DENSE_WINDOWS = 3


@functools.lru_cache(maxsize=32)
def sinusoidal(length: int, d_model: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """[length, d_model]: PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)).

    Computed in float64, then cast; cached per arguments and shared, so never write to it.
    """
    with torch.inference_mode(False):  # built under inference mode, a table could not serve training later
        t = torch.arange(length, dtype=torch.float64, device=device)[:, None]
        angle = t * 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64, device=device) / d_model)
        pe = torch.zeros(length, d_model, dtype=torch.float64, device=device)
        pe[:, 0::2] = torch.sin(angle)
        pe[:, 1::2] = torch.cos(angle)[:, : d_model // 2]
        return pe.to(dtype)


@functools.lru_cache(maxsize=32)
def rotary(length: int, d_head: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """cos θ and ±sin θ, [length, d_head], for the angles θ = t·10000^(-2i/d_head) that rotate pair
    (i, i + d_head/2): the sine is negated in the first half, which is where ``rotate`` needs -sin θ.

    Computed in float64, then cast; cached per arguments and shared, so never write to them.
    """
    with torch.inference_mode(False):
        t = torch.arange(length, dtype=torch.float64, device=device)[:, None]
        angle = t * 10000.0 ** (-torch.arange(0, d_head, 2, dtype=torch.float64, device=device) / d_head)
        cos, sin = torch.cat([angle, angle], dim=-1).cos(), torch.cat([-angle.sin(), angle.sin()], dim=-1)
        return cos.to(dtype), sin.to(dtype)


def rotate(x: Tensor, cos: Tensor, signed_sin: Tensor) -> Tensor:
    """Rotary position embedding of x [..., L, d_head]: q_t · k_s then depends on t - s only through angles.

    Pair (x1_i, x2_i) becomes (x1_i cos θ - x2_i sin θ, x2_i cos θ + x1_i sin θ); ``rotary`` gives the tables.
    """
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([x2, x1], dim=-1) * signed_sin


def alibi_slopes(heads: int) -> Tensor:
    """ALiBi's slopes m_h = 2^(-8h/H), h = 1..H, [heads], float64 (8 heads: 1/2, 1/4, ..., 1/256; 4 heads: 1/4 ...
    1/256). The same geometric rule for every H (Press et al. interleave two such sequences when H is not a power
    of 2; reach's learners default to 4 heads)."""
    return 2.0 ** (-8.0 * torch.arange(1, heads + 1, dtype=torch.float64) / heads)


class SelfAttention(nn.Module):
    """Multi-head causal self-attention, [B, L, D] -> [B, L, D].

    ``window`` None attends to every s <= t, through F.scaled_dot_product_attention; an int attends to
    0 <= t - s < window, in banded blocks (``attend_local``). ``offsets`` > 0 adds the learned relative bias
    b[head, min(t - s, offsets - 1)]; ``alibi`` adds ALiBi's fixed -m_h·(t - s) instead.
    """

    def __init__(self, d_model: int, heads: int, dropout: float, window: int | None, offsets: int,
                 alibi: bool = False) -> None:
        super().__init__()
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.heads, self.dropout, self.window = heads, dropout, window
        self.relative = nn.Parameter(torch.zeros(heads, offsets)) if offsets else None
        # a buffer, not a parameter (ALiBi learns nothing about positions), and not saved: it follows from heads
        self.register_buffer("slopes", alibi_slopes(heads).float() if alibi else None, persistent=False)

    def project(self, x: Tensor, rope: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor, Tensor]:
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # [B, H, L, dh]
        if rope is not None:
            q, k = rotate(q, *rope), rotate(k, *rope)
        return q, k, v

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        B, L, D = x.shape
        q, k, v = self.project(x, rope)
        y = self.attend(q, k, v) if self.window is None else self.attend_local(q, k, v)
        return self.out(y.transpose(1, 2).reshape(B, L, D))

    def logits(self, x: Tensor, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """The logits a_ts = q_t · k_s / √d_head + b(t - s) of full causal attention, [B, H, L, L], -inf where
        s > t: what the softmax of ``forward`` weighs, written out (for tests and inspection)."""
        q, k, _ = self.project(x, rope)
        t = torch.arange(x.shape[1], device=x.device)
        offset = t[:, None] - t[None, :]
        a = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        b = self.offset_bias(offset, a.dtype)
        return (a if b is None else a + b).masked_fill(offset < 0, float("-inf"))

    def offset_bias(self, offset: Tensor, dtype: torch.dtype) -> Tensor | None:
        """b(t - s) per head, [heads, *offset.shape], or None when the scheme adds none: the learned relative
        bias w_h[min(t - s, K)] (offsets past the table's last share it), or ALiBi's -m_h·(t - s). Negative
        offsets (keys after the query, masked anyway) read offset 0."""
        if self.relative is not None:
            return self.relative[:, offset.clamp(0, self.relative.shape[1] - 1)].to(dtype)
        if self.slopes is not None:
            return -self.slopes.to(dtype).view(-1, *(1,) * offset.dim()) * offset.clamp(min=0).to(dtype)
        return None

    def bias(self, offset: Tensor, allowed: Tensor, dtype: torch.dtype) -> Tensor | None:
        """Float mask [heads, *offset.shape]: the offset bias where allowed, -inf elsewhere (None: no bias)."""
        b = self.offset_bias(offset, dtype)
        return None if b is None else b.masked_fill(~allowed, float("-inf"))

    def sdpa(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        p = self.dropout if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None, dropout_p=p)

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Full causal attention, [B, H, L, dh] each -> [B, H, L, dh]."""
        if self.relative is None and self.slopes is None:
            return self.sdpa(q, k, v, None)
        t = torch.arange(q.shape[2], device=q.device)
        offset = t[:, None] - t[None, :]
        # [1, H, L, L]: given a 4-d mask CPU SDPA keeps its fused kernel; a 3-d [H, L, L] one sends it down the
        # math path, 4x slower at L = 1024 without gradients (no difference when training at L = 64)
        return self.sdpa(q, k, v, self.bias(offset, offset >= 0, q.dtype)[None])

    def attend_local(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Attention to 0 <= t - s < window, in O(L·window) time and memory; [B, H, L, dh] -> [B, H, L, dh].

        Up to L = DENSE_WINDOWS·window, every query scores all L keys and the band is masked. Beyond, the
        sequence is cut into C chunks of w = window positions; chunk c's queries need keys from chunks c-1 and
        c only, so each chunk scores a block of 2w keys (w zero keys stand before position 0, masked). Either
        way a query scores at most DENSE_WINDOWS·w keys: O(L·window). The scores are written out (batched
        matmuls, softmax) rather than passed to SDPA: given a mask and inputs that need gradients, CPU SDPA
        takes its math path anyway, and adds checks for fully masked rows that cost about as much as the
        softmax.
        """
        B, H, L, dh = q.shape
        w = self.window
        q = q * dh ** -0.5
        if L <= DENSE_WINDOWS * w:
            offset, mask = band(L, w, False, q.device, q.dtype)  # [L, L]
            return self.weigh(q @ k.transpose(-1, -2), offset, mask) @ v
        C = -(-L // w)
        q = F.pad(q, (0, 0, 0, C * w - L)).view(B, H, C, w, dh)
        k, v = (F.pad(z, (0, 0, w, C * w - L)) for z in (k, v))  # [B, H, (C+1)·w, dh]
        k, v = (torch.cat([z[:, :, :-w].view(B, H, C, w, dh), z[:, :, w:].view(B, H, C, w, dh)], dim=3)
                for z in (k, v))  # [B, H, C, 2w, dh]: chunk c-1's keys, then chunk c's
        offset, mask = band(L, w, True, q.device, q.dtype)  # [C, w, 2w]
        y = self.weigh(q @ k.transpose(-1, -2), offset, mask) @ v  # [B, H, C, w, dh]
        return y.view(B, H, C * w, dh)[:, :, :L]

    def weigh(self, scores: Tensor, offset: Tensor, mask: Tensor) -> Tensor:
        """Attention weights from scaled scores [B, H, *offset.shape]: add the band's mask (0 inside, -inf
        outside) and b(t - s), softmax, dropout.

        ``scores`` is overwritten: a fresh product that autograd does not keep. The mask is added rather than
        filled in, since an addition passes the gradient through untouched (the softmax already gives masked
        scores zero gradient), where masked_fill would cost another pass over the scores backward.
        """
        b = self.offset_bias(offset, scores.dtype)
        if b is not None:
            mask = mask + b  # [H, *offset.shape]
        scores += mask
        return F.dropout(torch.softmax(scores, dim=-1), self.dropout, self.training)


@functools.lru_cache(maxsize=64)
def band(length: int, window: int, chunked: bool, device: torch.device,
         dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Offsets t - s of local attention's score layout, and its additive mask: 0 inside the band
    0 <= t - s < window, -inf outside it and on padding keys (s < 0).

    Not chunked: queries t and keys s both 0..length-1, [length, length]. Chunked: C = ceil(length / window)
    blocks [C, w, 2w], block c holding queries t = c·w + i and keys s = (c-1)·w + j. Cached and shared (read
    them, never write): they depend on the shapes only.
    """
    with torch.inference_mode(False):  # built under inference mode, a table could not serve training later
        if chunked:
            c = torch.arange(-(-length // window), device=device)[:, None, None]
            t = c * window + torch.arange(window, device=device)[:, None]  # [C, w, 1]
            s = (c - 1) * window + torch.arange(2 * window, device=device)  # [C, 1, 2w]
        else:
            t = s = torch.arange(length, device=device)
            t, s = t[:, None], s[None, :]
        offset = t - s
        outside = (offset < 0) | (offset >= window) | (s < 0)
        return offset, torch.zeros(outside.shape, dtype=dtype, device=device).masked_fill_(outside, float("-inf"))


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model: int, heads: int, dropout: float, window: int | None, offsets: int,
                 alibi: bool = False) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, heads, dropout, window, offsets, alibi)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None) -> Tensor:
        x = x + self.drop(self.attn(self.ln1(x), rope))
        return x + self.drop(self.mlp(self.ln2(x)))


class Transformer(Learner):
    """Decoder-only transformer: ``n_layers`` pre-norm blocks of causal self-attention, then a LayerNorm.

    Options: ``heads`` (int dividing d_model, default 4), ``positions`` (one of POSITIONS, default
    "sinusoidal"; "rotary" needs an even d_model/heads; "learned" holds max_len positions and rejects longer
    inputs with ContextLengthError; "relative" holds offsets 0..K per head and layer, longer offsets share the
    last; "alibi" adds fixed slopes), ``max_offset`` (K, an int >= 1, with "relative" only; default max_len - 1),
    ``dropout`` (float in [0, 1), default 0.0; on attention weights and both residual branches).
    """

    name = "transformer"
    family = "attention"
    summary = "causal self-attention transformer (pre-norm); positions sinusoidal|learned|rotary|relative|none"
    theory = {"complexity": "O(n²·d)", "sequential_ops": "O(1)", "max_path_length": "O(1)"}
    OPTIONS = {"heads": 4, "positions": "sinusoidal", "max_offset": None, "dropout": 0.0}

    def __init__(self, d_model: int, n_layers: int, max_len: int = 1024, **options: Any) -> None:
        super().__init__(d_model, n_layers, max_len, **options)
        heads, positions, dropout = self.options["heads"], self.options["positions"], self.options["dropout"]
        self.require("heads", heads >= 1 and self.d_model % heads == 0, f"an int >= 1 dividing d_model={d_model}")
        self.require("positions", positions in POSITIONS, "one of " + ", ".join(POSITIONS))
        self.require("positions", positions != "rotary" or (self.d_model // heads) % 2 == 0,
                     f"other than 'rotary' when d_model/heads = {self.d_model // heads} is odd")
        self.require("dropout", 0.0 <= dropout < 1.0, "in [0, 1)")
        self.window = self.options.get("window")  # None: full causal attention; LocalAttention sets one
        if self.window is not None:
            self.require("window", self.window >= 2, "an int >= 2")
        max_offset = self.options["max_offset"]
        self.require("max_offset", max_offset is None or (type(max_offset) is int and max_offset >= 1),
                     "an int >= 1 (or left out)")
        self.require("max_offset", max_offset is None or positions == "relative", "left out unless positions is "
                     f"'relative' (it clips the relative offsets; positions is {positions!r})")
        if max_offset is None:
            max_offset = (self.window or self.max_len) - 1
        offsets = max_offset + 1 if positions == "relative" else 0
        self.position = nn.Embedding(self.max_len, self.d_model) if positions == "learned" else None
        self.blocks = nn.ModuleList(Block(self.d_model, heads, dropout, self.window, offsets, positions == "alibi")
                                    for _ in range(self.n_layers))
        self.norm = nn.LayerNorm(self.d_model)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, L, d_model] -> [B, L, d_model]. With learned positions, L must be <= max_len (else
        ContextLengthError: the table has no position beyond it)."""
        L, positions = x.shape[1], self.options["positions"]
        rope = None
        if positions == "sinusoidal":
            x = x + sinusoidal(L, self.d_model, x.device, x.dtype)
        elif positions == "learned":
            if L > self.max_len:
                raise ContextLengthError(f"{self.name}: length {L} exceeds max_len={self.max_len} of learned "
                                         f"positions")
            x = x + self.position(torch.arange(L, device=x.device))
        elif positions == "rotary":
            rope = rotary(L, self.d_model // self.options["heads"], x.device, x.dtype)
        for block in self.blocks:
            x = block(x, rope)
        return self.norm(x)

    def max_path_length(self, n: int) -> int:
        """One attention layer connects any input to any later output."""
        return 1

    def sequential_ops(self, n: int) -> int:
        """The blocks, applied one after another; each is parallel over all n positions."""
        return self.n_layers

    def receptive_field(self, n: int) -> int | None:
        """Unbounded: every earlier position."""
        return None


class LocalAttention(Transformer):
    """The transformer with each position attending only to the ``window`` positions ending at itself.

    Options: those of the transformer, plus ``window`` (int >= 2, default 16). With positions "relative"
    the bias has ``window`` offsets per head and layer (``max_offset`` may clip them sooner).
    """

    name = "local-attention"
    summary = "restricted self-attention: each position attends to the previous `window` positions"
    theory = {"complexity": "O(r·n·d)", "sequential_ops": "O(1)", "max_path_length": "O(n/r)"}
    OPTIONS = {**Transformer.OPTIONS, "window": 16}

    def max_path_length(self, n: int) -> int:
        """Layers needed to connect input 0 to output n-1, ceil((n-1)/(window-1)) (at least 1): Table 1's O(n/r).

        This is the depth needed; when n exceeds this network's receptive field there is no path at all.
        """
        return max(1, -(-(n - 1) // (self.window - 1)))

    def receptive_field(self, n: int) -> int:
        """n_layers·(window-1) + 1 positions, whatever n."""
        return self.n_layers * (self.window - 1) + 1
