"""Attention learners: causal self-attention in pre-norm transformer blocks (Vaswani et al. 2017).

    x <- x + Attn(LN(x)),   x <- x + MLP(LN(x)),   output LN(x)
    Attn: q, k, v = x W_q, x W_k, x W_v, split into heads of width d_head = d_model / heads
          a_ts = q_t · k_s / √d_head + b(t - s),   y_t = Σ_{s allowed} softmax_s(a_ts) v_s,   output y W_o
    MLP:  W_2 GELU(W_1 x + b_1) + b_2, hidden width 4·d_model

- ``transformer``: s is allowed when s <= t. Any input reaches any later output in one layer (path length 1).
- ``local-attention``: s is allowed when 0 <= t - s < window: restricted self-attention (Table 1, row 4), a
  path of O(n/r) layers, computed in O(window·n·d) time and memory.

Positions (option ``positions``): "sinusoidal" and "learned" are added to x once, below the first block;
"rotary" rotates q and k in every layer (Su et al. 2021); "relative" is a learned logit bias b(t - s) per
head, layer and offset (Shaw et al. 2018; Music Transformer, Huang et al. 2019), zero at initialisation;
"none" gives no position signal beyond what the causal mask implies. Without "relative", b = 0.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from learners.base import Learner

POSITIONS = ("sinusoidal", "learned", "rotary", "relative", "none")
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


class SelfAttention(nn.Module):
    """Multi-head causal self-attention, [B, L, D] -> [B, L, D].

    ``window`` None attends to every s <= t, through F.scaled_dot_product_attention; an int attends to
    0 <= t - s < window, in banded blocks (``attend_local``). ``offsets`` > 0 adds the learned relative bias
    b[head, min(t - s, offsets - 1)].
    """

    def __init__(self, d_model: int, heads: int, dropout: float, window: int | None, offsets: int) -> None:
        super().__init__()
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.heads, self.dropout, self.window = heads, dropout, window
        self.relative = nn.Parameter(torch.zeros(heads, offsets)) if offsets else None

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # [B, H, L, dh]
        if rope is not None:
            q, k = rotate(q, *rope), rotate(k, *rope)
        y = self.attend(q, k, v) if self.window is None else self.attend_local(q, k, v)
        return self.out(y.transpose(1, 2).reshape(B, L, D))

    def bias(self, offset: Tensor, allowed: Tensor) -> Tensor:
        """Float mask [heads, *offset.shape]: the relative bias where allowed, -inf elsewhere."""
        b = self.relative[:, offset.clamp(0, self.relative.shape[1] - 1)]
        return b.masked_fill(~allowed, float("-inf"))

    def sdpa(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        p = self.dropout if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None, dropout_p=p)

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Full causal attention, [B, H, L, dh] each -> [B, H, L, dh]."""
        if self.relative is None:
            return self.sdpa(q, k, v, None)
        t = torch.arange(q.shape[2], device=q.device)
        offset = t[:, None] - t[None, :]
        return self.sdpa(q, k, v, self.bias(offset, offset >= 0))

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
        if self.relative is not None:
            mask = mask + self.relative[:, offset.clamp(0, self.relative.shape[1] - 1)]  # [H, *offset.shape]
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

    def __init__(self, d_model: int, heads: int, dropout: float, window: int | None, offsets: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, heads, dropout, window, offsets)
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
    inputs; "relative" holds max_len offsets per head and layer, longer offsets share the last),
    ``dropout`` (float in [0, 1), default 0.0; on attention weights and both residual branches).
    """

    name = "transformer"
    family = "attention"
    summary = "causal self-attention transformer (pre-norm); positions sinusoidal|learned|rotary|relative|none"
    theory = {"complexity": "O(n²·d)", "sequential_ops": "O(1)", "max_path_length": "O(1)"}
    OPTIONS = {"heads": 4, "positions": "sinusoidal", "dropout": 0.0}

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
        offsets = (self.window or self.max_len) if positions == "relative" else 0
        self.position = nn.Embedding(self.max_len, self.d_model) if positions == "learned" else None
        self.blocks = nn.ModuleList(Block(self.d_model, heads, dropout, self.window, offsets)
                                    for _ in range(self.n_layers))
        self.norm = nn.LayerNorm(self.d_model)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, L, d_model] -> [B, L, d_model]. With learned positions, L must be <= max_len."""
        L, positions = x.shape[1], self.options["positions"]
        rope = None
        if positions == "sinusoidal":
            x = x + sinusoidal(L, self.d_model, x.device, x.dtype)
        elif positions == "learned":
            if L > self.max_len:
                raise ValueError(f"{self.name}: length {L} exceeds max_len={self.max_len} of learned positions")
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
    the bias has ``window`` offsets per head and layer.
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
