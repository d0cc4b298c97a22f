"""Jacobian norms of a learner: G(k) = mean ||∂h_t/∂x_{t-k}||_F, the gradient path length (definitions:
harness.measure.probes). It lives here so that a training run can record, for its trained model, how much of the
gradient reaches back its own distance (harness.run.train); the gradient probe (harness.measure.gradient) builds
on it."""

from __future__ import annotations

import numpy as np
import torch


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
