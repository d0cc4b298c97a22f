"""The parallel scan of a diagonal linear recurrence, h_t = a_t ⊙ h_{t-1} + b_t (h_{-1} = 0), along dim 1: the
chunked three-phase scan the linear-recurrent learners (learners/linear_recurrent.py) run on, its sequential
reference, its depth and its FLOPs.

The scan (:func:`parallel_scan`) cuts the sequence into chunks of c positions and works in three phases:
every chunk scans itself from a zero state (c steps, all chunks at once), the chunks' end states are combined
by a doubling scan (ceil(log2(n/c)) steps), and one last step adds each chunk's incoming state. That is
Blelloch's scan-then-propagate with one processor per chunk: O(c + log(n/c)) dependent steps and about three
times the work of the sequential loop. Only products of a's are formed, never quotients or exponentials of
sums, so the states stay as accurate in fp32 at n = 4096 as the sequential loop's (tests/test_linear_recurrent.py).
On a CPU (one core per worker) work, not depth, sets the time, and chunks of 8, 16 and 32 train alike
(tests/benchmarks/linear_recurrent_speed.py); c = 16 keeps the doubling's extra work small up to n = 4096
(under half a multiply-add and half a multiply per state and position) at 25 dependent steps there. On a
GPU each step is a few kernels over the whole batch: there fewer steps, not less work, is what counts.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def sequential_scan(a: Tensor, b: Tensor) -> Tensor:
    """The reference: h_t = a_t ⊙ h_{t-1} + b_t, h_{-1} = 0, one step after another along dim 1.

    b: [B, n, *S]; a broadcastable to b with time dim n or 1 (a time-invariant a). Returns h like b.
    """
    h, states = None, []
    for t in range(b.shape[1]):
        h = b[:, t] if h is None else a[:, t if a.shape[1] > 1 else 0] * h + b[:, t]
        states.append(h)
    return torch.stack(states, dim=1)


def chunked(x: Tensor, c: int) -> Tensor:
    """[B, n, *S] -> [c, K, B, *S], K = ceil(n/c): position t = k·c + i at [i, k], zero-padded past n."""
    B, n = x.shape[:2]
    K = -(-n // c)
    if K * c > n:
        x = torch.cat([x, x.new_zeros(B, K * c - n, *x.shape[2:])], dim=1)
    return x.reshape(B, K, c, *x.shape[2:]).permute(2, 1, 0, *range(3, x.dim() + 1)).contiguous()


def unchunked(x: Tensor, n: int) -> Tensor:
    """The inverse of :func:`chunked`: [c, K, B, *S] -> [B, n, *S]."""
    c, K, B = x.shape[:3]
    return x.permute(2, 1, 0, *range(3, x.dim())).reshape(B, K * c, *x.shape[3:])[:, :n]


def scan_chunks(a: Tensor, b: Tensor, reverse: bool = False, out: Tensor | None = None) -> Tensor:
    """The three-phase scan on chunked tensors, without autograd (it writes in place).

    b: [c, K, *S] as made by :func:`chunked`; a: [c, K, *S'] or [1, 1, *S'] (time-invariant), broadcastable to b.
    Forward: h_t = a_t h_{t-1} + b_t from h_{-1} = 0. Reverse: h_t = a_t h_{t+1} + b_t from zero past the end
    (the adjoint of the forward scan runs this way). Returns h [c, K, *S], written into ``out`` (b itself is
    allowed) or a new tensor.
    """
    c, K = b.shape[:2]
    assert a.shape[:2] in ((c, K), (1, 1)), f"a has positions {tuple(a.shape[:2])}, b has {(c, K)}"
    h = torch.empty_like(b) if out is None else out
    first, last = (c - 1, 0) if reverse else (0, c - 1)
    # Phase 1: each chunk from a zero state; P[i] = product of the a's from the chunk's entry up to i, which is
    # how much of the state entering the chunk survives at i. (Views are made once: indexing in the loop costs.)
    P = a.new_empty((c, *a.shape[1:]))
    hs, bs, Ps = h.unbind(0), b.unbind(0), P.unbind(0)
    gains = a.unbind(0) if a.shape[0] == c else [a[0]] * c
    if h is not b:
        hs[first].copy_(bs[first])
    Ps[first].copy_(gains[first])
    for i in range(c - 2, -1, -1) if reverse else range(1, c):
        j = i + 1 if reverse else i - 1
        torch.addcmul(bs[i], gains[i], hs[j], out=hs[i])
        torch.mul(gains[i], Ps[j], out=Ps[i])
    if K == 1:
        return h
    # Phase 2: E[k] = the state leaving chunk k, from all chunks before it: a doubling scan over the chunks,
    # where chunk k carries (Q[k], E[k]) = (its total gain, its own end state).
    E = h[last].clone()  # [K, *S]
    Q = P[last].expand(K, *P.shape[2:]).clone()  # [K, *S']
    s = 1
    while s < K:
        later, earlier = (slice(None, -s), slice(s, None)) if reverse else (slice(s, None), slice(None, -s))
        E[later] = torch.addcmul(E[later], Q[later], E[earlier])
        if 2 * s < K:  # the last level's gains are never read
            Q[later] = Q[later] * Q[earlier]
        s *= 2
    # Phase 3: add the state entering each chunk, decayed to every position.
    receiving, sending = (slice(None, -1), slice(1, None)) if reverse else (slice(1, None), slice(None, -1))
    h[:, receiving].addcmul_(P[:, receiving] if P.shape[1] == K else P, E[sending])
    return h


def scan_depth(n: int, chunk: int) -> int:
    """Dependent steps of :func:`scan_chunks` over n positions: c in phase 1 (the first only copies), then
    ceil(log2 K) doubling steps and one propagation step when there are K > 1 chunks; c = min(chunk, n)."""
    c = min(chunk, n)
    K = -(-n // c)
    return c + ((K - 1).bit_length() + 1 if K > 1 else 0)


def scan_flops(n: int, chunk: int, state: int, invariant: int | None = None, complex_: bool = False) -> int:
    """Forward FLOPs of :func:`scan_chunks` over n positions, padded to whole chunks as it computes them.

    ``state``: elements of b per position (batch included). a is time-varying of b's shape, or, when
    ``invariant`` is given, time-invariant with that many elements. A real multiply is 1 FLOP and a
    multiply-add 2; complex ones are 6 and 8 (4 real multiplies and 2 or 4 real adds). Copies are free.

    Per chunk position after the first (phase 1): a multiply-add per state element and a multiply per gain
    element (K·state of them, or ``invariant``); per doubling step s = 1, 2, 4, .. < K: (K - s) multiply-adds
    per state element, and (K - s) multiplies per gain element except at the last step; phase 3: one multiply-add
    per state element of chunks 2..K. The sequential loop would take (n - 1)·state multiply-adds.
    """
    c = min(chunk, n)
    K = -(-n // c)
    mul, fma = (6, 8) if complex_ else (1, 2)
    gain = state if invariant is None else invariant
    own = (c - 1) * (fma * K * state + mul * (K * state if invariant is None else invariant))  # h and P
    if K == 1:
        return own
    doubling, s = 0, 1
    while s < K:
        doubling += fma * (K - s) * state + (mul * (K - s) * gain if 2 * s < K else 0)
        s *= 2
    return own + doubling + fma * (K - 1) * c * state


def _shifted(x: Tensor, step: int) -> Tensor:
    """x_{t+step} at t (step = ±1) in chunk layout [c, K, ...], zero where t + step falls outside."""
    out = torch.empty_like(x)
    if step == 1:
        out[:-1], out[-1, :-1], out[-1, -1] = x[1:], x[0, 1:], 0
    else:
        out[1:], out[0, 1:], out[0, 0] = x[:-1], x[-1, :-1], 0
    return out


class ChunkedScan(torch.autograd.Function):
    """h = scan_chunks(a, b) with its adjoint: the gradient of a linear recurrence is a linear recurrence run
    backwards, G_t = dL/dh_t + conj(a_{t+1}) G_{t+1}; then dL/db_t = G_t and dL/da_t = G_t conj(h_{t-1})
    (torch's convention for complex gradients). Saves a and h; no graph of per-step operations."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor) -> Tensor:
        h = scan_chunks(a, b)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor) -> tuple[Tensor | None, Tensor]:
        a, h = ctx.saved_tensors
        a_next = _shifted(a, 1) if a.shape[:2] == h.shape[:2] else a  # a time-invariant a is its own successor
        G = scan_chunks(a_next.conj(), grad_h.contiguous(), reverse=True)
        grad_a = (G * _shifted(h, -1).conj()).sum_to_size(a.shape) if ctx.needs_input_grad[0] else None
        return grad_a, G


def parallel_scan(a: Tensor, b: Tensor, chunk: int = 16) -> Tensor:
    """h_t = a_t ⊙ h_{t-1} + b_t, h_{-1} = 0, along dim 1, by the three-phase chunked scan; differentiable.

    b: [B, n, *S] (real or complex); a broadcastable to b with time dim n or 1 (time-invariant). Returns h like
    b, equal to :func:`sequential_scan` up to rounding.
    """
    c = min(chunk, b.shape[1])
    a = chunked(a, c) if a.shape[1] > 1 else a.transpose(0, 1).unsqueeze(0)  # [c, K, ...] or [1, 1, ...]
    return unchunked(ChunkedScan.apply(a, chunked(b, c)), b.shape[1])
