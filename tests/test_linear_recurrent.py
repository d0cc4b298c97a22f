"""The parallel scan (learners/scan.py) and the two linear-recurrent learners (learners/linear_recurrent.py).

The contract checks (tests/test_learners.py) cover shapes, causality, determinism, receptive field, gradients
and options for lru and mamba; here: the scan against the sequential reference, its accuracy in fp32 at
n = 4096, the hand-written backward passes, the learners' two scan paths, initialisation, and FLOP formulas.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import learners.linear_recurrent as lr
from learners import LEARNERS
from learners.linear_recurrent import LRU, Mamba, SelectiveScan, selective_scan_flops, selective_scan_reference
from learners.scan import (
    ChunkedScan,
    chunked,
    parallel_scan,
    scan_chunks,
    scan_depth,
    scan_flops,
    sequential_scan,
    unchunked,
)

LENGTHS = [1, 2, 3, 7, 8, 9, 16, 17, 33, 100]


def gains_and_inputs(n, complex_, invariant, seed=0, batch=2, state=3):
    """float64 (or complex128) a with |a| <= 1, time-varying [batch, n, state] or time-invariant [1, 1, state],
    and b ~ N(0, 1) [batch, n, state]."""
    g = torch.Generator().manual_seed(seed)
    shape = (1, 1, state) if invariant else (batch, n, state)
    modulus = torch.rand(shape, generator=g, dtype=torch.float64)
    if complex_:
        a = torch.polar(modulus, 2 * math.pi * torch.rand(shape, generator=g, dtype=torch.float64))
        b = torch.randn(batch, n, state, generator=g, dtype=torch.complex128)
    else:
        a = modulus * torch.sign(torch.randn(shape, generator=g, dtype=torch.float64))
        b = torch.randn(batch, n, state, generator=g, dtype=torch.float64)
    return a, b


# -- the scan -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("chunk", [1, 4, 16])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("invariant", [False, True], ids=["varying", "invariant"])
def test_parallel_scan_equals_the_sequential_reference(n, chunk, complex_, invariant):
    a, b = gains_and_inputs(n, complex_, invariant)
    torch.testing.assert_close(parallel_scan(a, b, chunk), sequential_scan(a, b), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n", [1, 5, 13])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("invariant", [False, True], ids=["varying", "invariant"])
def test_the_adjoint_scan_is_the_gradient(n, complex_, invariant):
    a, b = gains_and_inputs(n, complex_, invariant)
    a, b = a.requires_grad_(), b.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: parallel_scan(a, b, chunk=4), (a, b))


@pytest.mark.parametrize("n", [1, 11, 16])
def test_reverse_scan_runs_the_recurrence_backwards(n):
    """reverse=True computes h_t = a_t h_{t+1} + b_t: the forward recurrence on the time-reversed sequence."""
    a, b = gains_and_inputs(n, False, False)
    back = unchunked(scan_chunks(chunked(a, 4), chunked(b, 4), reverse=True), n)
    torch.testing.assert_close(back, sequential_scan(a.flip(1), b.flip(1)).flip(1))


@pytest.mark.parametrize("modulus", [0.999, 0.5, "mixed"])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_fp32_scan_stays_accurate_at_n_4096(modulus, complex_):
    """fp32 against fp64 over 4096 steps: the worst error, relative to the largest state, within 5e-5 and within
    1.5x that of the fp32 sequential loop (measured: 1e-7 at |a| = 0.5, 7e-6 to 3e-5 with |a| up to 0.9999,
    the same as the loop's): the chunked scan adds no error of its own."""
    n, state = 4096, 8
    g = torch.Generator().manual_seed(0)
    r = (torch.full((state,), modulus, dtype=torch.float64) if modulus != "mixed"
         else torch.linspace(0.0, 0.9999, state, dtype=torch.float64))
    a = torch.polar(r, torch.rand(state, generator=g, dtype=torch.float64)) if complex_ else r
    b = torch.randn(2, n, state, generator=g, dtype=a.dtype)
    a = a.expand(2, n, state)
    exact = sequential_scan(a, b)
    a32, b32 = (a.to(torch.complex64), b.to(torch.complex64)) if complex_ else (a.float(), b.float())
    parallel = parallel_scan(a32, b32, chunk=16).to(exact.dtype)
    sequential = sequential_scan(a32, b32).to(exact.dtype)
    scale = exact.abs().max()
    err, err_seq = (parallel - exact).abs().max() / scale, (sequential - exact).abs().max() / scale
    assert err <= 5e-5 and err <= 1.5 * err_seq + 1e-6, (err.item(), err_seq.item())


def test_tiny_and_zero_gains_give_no_overflow():
    """Gains as small as exp(-ΔA) gets (and exactly 0): products underflow to 0, nothing is divided."""
    a = torch.tensor([0.0, 1e-30, 1e-10, 0.3], dtype=torch.float32).repeat(3, 40, 1)
    b = torch.randn(3, 40, 4, generator=torch.Generator().manual_seed(0))
    h = parallel_scan(a, b, chunk=8)
    assert torch.isfinite(h).all()
    torch.testing.assert_close(h, sequential_scan(a, b))


def test_scan_depth_counts_the_dependent_steps():
    assert [scan_depth(n, 16) for n in (1, 2, 16, 17, 32, 33, 256, 4096)] == [1, 2, 16, 18, 18, 19, 21, 25]
    assert scan_depth(4096, 1) == 1 + 12 + 1 and scan_depth(4096, 4096) == 4096


# -- the learners ---------------------------------------------------------------------------------------------
def both_scans(name, n, chunk, batch=3, d_model=16, **options):
    """Outputs and gradients (input, then every parameter) of one fp64 learner with the chunked scan and with
    the sequential reference."""
    torch.manual_seed(0)
    m = LEARNERS[name](d_model, 2, chunk=chunk, **options).double()
    x = torch.randn(batch, n, d_model, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x.requires_grad_()
    w = torch.randn(batch, n, d_model, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    out = []
    for scan in ("parallel", "sequential"):
        m.scan = scan
        y = m(x)
        grads = torch.autograd.grad((y * w).sum(), [x, *m.parameters()], allow_unused=True)
        out.append((y, [torch.zeros_like(p) if g is None else g for p, g in zip([x, *m.parameters()], grads)]))
    return out


@pytest.mark.parametrize("name", ["lru", "mamba"])
@pytest.mark.parametrize(("n", "chunk"), [(1, 16), (5, 16), (24, 16), (37, 4), (40, 8)])
def test_learner_with_the_parallel_scan_equals_the_sequential_reference(name, n, chunk):
    (y, grads), (y_ref, grads_ref) = both_scans(name, n, chunk)
    torch.testing.assert_close(y, y_ref, rtol=1e-6, atol=1e-6)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=1e-6, atol=1e-6)


def test_mamba_batch_blocks_agree_with_one_block(monkeypatch):
    monkeypatch.setattr(lr, "SCAN_BLOCK", 1)  # one batch row per block
    (y, grads), (y_ref, grads_ref) = both_scans("mamba", 21, 4, batch=5)
    torch.testing.assert_close(y, y_ref)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref)


def test_selective_scan_gradcheck(monkeypatch):
    monkeypatch.setattr(lr, "SCAN_BLOCK", 40)  # several batch blocks
    g = torch.Generator().manual_seed(0)
    Bt, n, D, N = 3, 9, 2, 3
    u, B, C = (torch.randn(Bt, n, k, dtype=torch.float64, generator=g) for k in (D, N, N))
    dt = torch.rand(Bt, n, D, dtype=torch.float64, generator=g)
    A = -torch.rand(D, N, dtype=torch.float64, generator=g) * 3
    inputs = tuple(t.requires_grad_() for t in (u, dt, A, B, C))
    assert torch.autograd.gradcheck(lambda *t: SelectiveScan.apply(*t, 4), inputs)
    torch.testing.assert_close(SelectiveScan.apply(*inputs, 4), selective_scan_reference(*inputs))


def test_lru_ring_initialisation():
    torch.manual_seed(0)
    m = LRU(8, 1, state=512, r_min=0.4, r_max=0.8, max_phase=1.0)
    layer = m.blocks[0].lru
    lam, _, _ = layer.recurrence()
    assert lam.abs().min() >= 0.4 - 1e-6 and lam.abs().max() <= 0.8 + 1e-6
    assert lam.angle().min() >= 0 and lam.angle().max() <= 1.0 + 1e-6
    # |λ|² is uniform on [r_min², r_max²]: its mean is the midpoint
    assert (lam.abs() ** 2).mean().item() == pytest.approx((0.16 + 0.64) / 2, abs=0.03)
    torch.testing.assert_close(torch.exp(layer.gamma_log), torch.sqrt(1 - lam.abs() ** 2))
    assert all(p.dtype == torch.float32 and not p.is_complex() for p in m.parameters())
    assert all(p.dtype == torch.float64 for p in m.double().parameters())


def test_lru_normalisation_keeps_the_state_variance_of_a_white_input():
    """γ = sqrt(1 - |λ|²) cancels the 1/(1 - |λ|²) gain of the recurrence: under a unit white input each state's
    variance is Σ_i |B_ji|², whatever |λ_j| (here 0.9 to 0.99, a gain of 5 to 50 without γ)."""
    torch.manual_seed(0)
    layer = LRU(4, 1, state=3, r_min=0.9, r_max=0.99).blocks[0].lru
    lam, w_b, _ = layer.recurrence()
    x = torch.randn(128, 2000, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        b = torch.view_as_complex(torch.nn.functional.linear(x, w_b).unflatten(-1, (-1, 2)))
        variance = (parallel_scan(lam[None, None], b)[:, 1000:].abs() ** 2).mean((0, 1))
        expected = (layer.B_re**2 + layer.B_im**2).sum(1)
    torch.testing.assert_close(variance, expected, rtol=0.1, atol=0)


def test_mamba_initialisation_follows_the_paper():
    torch.manual_seed(0)
    m = Mamba(32, 1)
    mixer = m.blocks[0].mixer
    assert m.dt_rank == 2 and mixer.x_proj.out_features == 2 + 2 * 16 and mixer.in_proj.out_features == 2 * 64
    torch.testing.assert_close(-torch.exp(mixer.A_log), -torch.arange(1.0, 17.0).repeat(64, 1))
    dt = torch.nn.functional.softplus(mixer.dt_proj.bias)
    assert dt.min() >= 1e-3 * 0.999 and dt.max() <= 0.1 * 1.001
    assert torch.equal(mixer.D, torch.ones(64)) and mixer.conv_weight.shape == (4, 64)
    assert mixer.conv_weight.abs().max() <= 0.5 and mixer.conv_bias.abs().max() <= 0.5  # nn.Conv1d's ±1/sqrt(k)


def test_causal_depthwise_conv_is_conv1d_with_left_padding():
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(2, 9, 5, generator=g), torch.randn(3, 5, generator=g), torch.randn(5, generator=g)
    conv = torch.nn.functional.conv1d(torch.nn.functional.pad(x.transpose(1, 2), (2, 0)), w.t()[:, None], b,
                                      groups=5)
    torch.testing.assert_close(lr.causal_depthwise_conv(x, w, b), conv.transpose(1, 2))


def test_options_reach_the_modules():
    m = Mamba(16, 1, state=4, expand=3, conv=2, dt_rank=5)
    mixer = m.blocks[0].mixer
    assert mixer.A_log.shape == (48, 4) and mixer.conv_weight.shape == (2, 48) and mixer.dt_proj.in_features == 5
    assert LRU(16, 1, state=7).blocks[0].lru.nu_log.shape == (7,)


# -- FLOPs ----------------------------------------------------------------------------------------------------
class ElementwiseFlops(TorchDispatchMode):
    """FLOPs of element-wise arithmetic by output size: mul 1, add/sub 1, addcmul 2, exp 1 (complex: mul 6,
    add 2, addcmul 8), the convention of lr.scan_flops. Matrix products are left to FlopCounterMode; any
    other arithmetic op is an error, so that nothing is missed."""

    FREE = {"copy_", "clone", "empty", "empty_like", "new_empty", "zeros_like", "zeros", "new_zeros", "cat",
            "expand", "view", "unsqueeze", "squeeze", "permute", "transpose", "t", "reshape", "_unsafe_view",
            "select", "slice", "unbind", "split", "split_with_sizes", "as_strided", "detach", "alias", "fill_",
            "_to_copy", "lift_fresh", "view_as_real", "view_as_complex", "_conj", "resolve_conj", "constant_pad_nd"}
    COST = {"mul": (1, 6), "mul_": (1, 6), "add": (1, 2), "add_": (1, 2), "sub": (1, 2), "sub_": (1, 2),
            "addcmul": (2, 8), "addcmul_": (2, 8), "exp": (1, None), "exp_": (1, None)}
    MATMUL = {"bmm", "mm", "matmul"}

    def __init__(self):
        super().__init__()
        self.flops, self.ops = 0, Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.__name__.split(".")[0]
        if name in self.COST:
            real, cplx = self.COST[name]
            result = out if isinstance(out, torch.Tensor) else args[0]
            self.flops += result.numel() * (cplx if result.is_complex() else real)
            self.ops[name] += 1
        elif name not in self.FREE and name not in self.MATMUL:
            raise AssertionError(f"uncounted op {name}")
        return out


def counted(fn, *args):
    with torch.no_grad(), ElementwiseFlops() as mode:
        fn(*args)
    return mode.flops


def test_scan_flops_by_hand_for_n_8():
    """n = 8, chunk 4, one real state, time-varying gains: K = 2 chunks.
    Phase 1: 3 steps x 2 chunks x (h: multiply-add 2 + P: multiply 1) = 18; phase 2: one doubling step, 1 chunk
    x multiply-add 2 (its gain update is skipped: last step) = 2; phase 3: chunk 2's 4 positions x 2 = 8. 28
    FLOPs, against 7 x 2 = 14 for the sequential loop."""
    a, b = gains_and_inputs(8, False, False, batch=1, state=1)
    assert scan_flops(8, 4, 1) == 28
    assert counted(scan_chunks, chunked(a, 4), chunked(b, 4)) == 28


@pytest.mark.parametrize("n", [1, 5, 8, 16, 17, 64, 100])
@pytest.mark.parametrize("chunk", [1, 4, 16])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("invariant", [False, True], ids=["varying", "invariant"])
def test_scan_flops_formula_counts_what_the_scan_computes(n, chunk, complex_, invariant):
    a, b = gains_and_inputs(n, complex_, invariant, batch=2, state=3)
    c = min(chunk, n)
    a_c = chunked(a, c) if not invariant else a.transpose(0, 1).unsqueeze(0)
    expected = scan_flops(n, chunk, 2 * 3, invariant=3 if invariant else None, complex_=complex_)
    assert counted(scan_chunks, a_c, chunked(b, c)) == expected
    assert counted(scan_chunks, a_c, chunked(b, c), True) == expected  # reverse: the same work
    with FlopCounterMode(display=False) as fc:
        scan_chunks(a_c, chunked(b, c))
    assert fc.get_total_flops() == 0  # nothing in the scan is a matrix product: FlopCounterMode misses it all


@pytest.mark.parametrize(("n", "chunk"), [(1, 16), (8, 4), (21, 4), (64, 16)])
def test_selective_scan_flops_formula(monkeypatch, n, chunk):
    monkeypatch.setattr(lr, "SCAN_BLOCK", 50)  # several batch blocks: the count does not depend on them
    g = torch.Generator().manual_seed(0)
    Bt, D, N = 3, 4, 5
    u, dt, B, C = (torch.randn(Bt, n, k, generator=g) for k in (D, D, N, N))
    A = -torch.rand(D, N, generator=g)
    assert counted(SelectiveScan.apply, u, dt.abs(), A, B, C, chunk) == selective_scan_flops(Bt, n, D, N, chunk)
    with FlopCounterMode(display=False) as fc:
        SelectiveScan.apply(u, dt.abs(), A, B, C, chunk)
    padded = -(-n // min(chunk, n)) * min(chunk, n)
    assert fc.get_total_flops() == 2 * Bt * padded * D * N  # the read-out C·h, a batched matrix product


@pytest.mark.parametrize("name", ["lru", "mamba"])
def test_learner_uncounted_flops_are_what_the_counter_misses(monkeypatch, name):
    """uncounted_flops(batch, n) = the element-wise FLOPs of a forward's scans (and Mamba's convs), counted by
    instrumenting them; and FlopCounterMode counts none of that work (its total is the same without it)."""
    seen = []

    def instrumented(fn):
        def run(*args, **kwargs):
            with ElementwiseFlops() as mode:
                out = fn(*args, **kwargs)
            seen.append(mode.flops)
            return out
        return run

    for cls in (ChunkedScan, SelectiveScan):
        monkeypatch.setattr(cls, "forward", staticmethod(instrumented(cls.forward)))
    monkeypatch.setattr(lr, "causal_depthwise_conv", instrumented(lr.causal_depthwise_conv))
    torch.manual_seed(0)
    m = LEARNERS[name](16, 3, chunk=4).eval()
    with torch.no_grad():
        m(torch.randn(2, 13, 16))
    assert len(seen) == (3 if name == "lru" else 6) and sum(seen) == m.uncounted_flops(2, 13) > 0
