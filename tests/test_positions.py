"""The position schemes of the transformer, each pinned by its defining property (equations: learners/attention.py).

- ALiBi: the bias is -m_h·(t - s), linear in the distance, with slopes 2^(-8h/H); it has no parameter.
- relative and ALiBi (and rotary) logits are shift-equivariant: a_ts depends on the positions through t - s only;
  absolute schemes (sinusoidal, learned) are not.
- relative: offsets past max_offset share the last bias (Shaw et al.'s clipping), so any length runs.
- none: no position parameter, and one layer's output at the last position ignores the order of the earlier ones.
- learned: not defined beyond its table (ContextLengthError, a ValueError).
"""

from __future__ import annotations

import math

import pytest
import torch

from learners import ContextLengthError, LearnerOptionError
from learners.attention import LocalAttention, SelfAttention, Transformer, alibi_slopes, rotary, sinusoidal

D, HEADS = 16, 4
SHIFT_INVARIANT = ("relative", "alibi", "rotary", "none")


def attention_of(positions: str, max_offset: int | None = None, seed: int = 0) -> tuple[Transformer, SelfAttention]:
    """A one-layer float64 transformer and its attention; a relative bias gets random values (zero at init would
    make every relative property trivially true)."""
    torch.manual_seed(seed)
    opts = {"max_offset": max_offset} if max_offset is not None else {}
    m = Transformer(D, 1, max_len=64, heads=HEADS, positions=positions, **opts).double().eval()
    attn = m.blocks[0].attn
    if attn.relative is not None:
        with torch.no_grad():
            attn.relative.normal_()
    return m, attn


def first_logits(m: Transformer, x: torch.Tensor) -> torch.Tensor:
    """The first layer's attention logits of transformer ``m`` on input x [B, L, D], positions as forward adds them."""
    L, positions = x.shape[1], m.options["positions"]
    rope = None
    if positions == "sinusoidal":
        x = x + sinusoidal(L, D, x.device, x.dtype)
    elif positions == "learned":
        x = x + m.position(torch.arange(L))
    elif positions == "rotary":
        rope = rotary(L, D // HEADS, x.device, x.dtype)
    block = m.blocks[0]
    return block.attn.logits(block.ln1(x), rope)


def test_alibi_slopes_are_the_geometric_sequence_from_2_to_the_minus_8_over_h():
    assert alibi_slopes(8).tolist() == [2.0 ** -i for i in range(1, 9)]  # Press et al.: 1/2 ... 1/256
    assert alibi_slopes(4).tolist() == [2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8]
    for h in (1, 2, 3, 5, 12):
        m = alibi_slopes(h)
        first = 2.0 ** (-8.0 / h)
        assert math.isclose(m[0].item(), first, rel_tol=1e-12)
        assert torch.allclose(m[1:] / m[:-1], torch.full((h - 1,), first, dtype=torch.float64), rtol=1e-12)


def test_alibi_bias_is_linear_in_the_distance():
    _, attn = attention_of("alibi")
    offset = torch.arange(50)
    b = attn.offset_bias(offset, torch.float64)  # [H, 50]
    slopes = alibi_slopes(HEADS).float().double()
    torch.testing.assert_close(b, -slopes[:, None] * offset, rtol=0, atol=0)
    assert torch.equal(b[:, 2:] - 2 * b[:, 1:-1] + b[:, :-2], torch.zeros(HEADS, 48, dtype=torch.float64))
    # in the logits themselves: a_ts - q_t·k_s/√d_head = -m_h (t - s) wherever s <= t
    x = torch.randn(2, 12, D, dtype=torch.float64)
    q, k, _ = attn.project(x, None)
    content = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
    t = torch.arange(12)
    distance = (t[:, None] - t[None, :]).double()
    allowed = distance >= 0
    got = (attn.logits(x) - content)[..., allowed]
    torch.testing.assert_close(got, (-slopes[:, None, None] * distance)[:, allowed].expand_as(got))


@pytest.mark.parametrize("positions", ["relative", "alibi", "rotary", "none", "sinusoidal", "learned"])
def test_logits_are_shift_equivariant_exactly_for_the_relative_schemes(positions):
    m, _ = attention_of(positions, max_offset=5 if positions == "relative" else None)  # clipping inside the window
    L, shift = 12, 7
    x = torch.randn(2, L + shift, D, dtype=torch.float64)
    with torch.no_grad():
        whole = first_logits(m, x)[:, :, shift:, shift:]  # positions shift..shift+L-1 ...
        alone = first_logits(m, x[:, shift:])  # ... and the same inputs at positions 0..L-1
    allowed = torch.ones(L, L, dtype=torch.bool).tril()
    if positions in SHIFT_INVARIANT:
        torch.testing.assert_close(whole[..., allowed], alone[..., allowed], rtol=1e-10, atol=1e-10)
    else:  # absolute positions: the same pair of inputs scores differently elsewhere
        assert (whole[..., allowed] - alone[..., allowed]).abs().max() > 1e-3


@pytest.mark.parametrize("positions", ["sinusoidal", "learned", "rotary", "relative", "alibi", "none"])
def test_logits_are_what_forward_weighs(positions):
    m, attn = attention_of(positions)
    x = torch.randn(2, 10, D, dtype=torch.float64)
    rope = rotary(10, D // HEADS, x.device, x.dtype) if positions == "rotary" else None
    _, _, v = attn.project(x, rope)
    y = torch.softmax(attn.logits(x, rope), dim=-1) @ v  # [B, H, L, dh]
    torch.testing.assert_close(attn.out(y.transpose(1, 2).reshape(2, 10, D)), attn(x, rope))


def test_relative_offsets_past_max_offset_share_the_last_bias():
    _, attn = attention_of("relative", max_offset=3)
    assert attn.relative.shape == (HEADS, 4)  # offsets 0, 1, 2, 3
    b = attn.offset_bias(torch.arange(40), torch.float64)
    torch.testing.assert_close(b[:, :4], attn.relative.detach())
    assert torch.equal(b[:, 3:], attn.relative.detach()[:, 3:4].expand(HEADS, 37))


def test_relative_runs_past_its_table_and_past_max_len():
    torch.manual_seed(0)
    m = Transformer(D, 2, max_len=8, heads=HEADS, positions="relative")
    assert m.blocks[0].attn.relative.shape == (HEADS, 8)  # default K = max_len - 1
    y = m(torch.randn(2, 64, D))  # 8x its max_len: clipped, not refused
    assert y.shape == (2, 64, D) and torch.isfinite(y).all()


def test_learned_positions_are_not_defined_past_their_table():
    m = Transformer(D, 1, max_len=10, heads=HEADS, positions="learned")
    m(torch.zeros(1, 10, D))
    with pytest.raises(ContextLengthError, match="max_len=10"):
        m(torch.zeros(1, 11, D))
    assert issubclass(ContextLengthError, ValueError)


@pytest.mark.parametrize("positions", ["none", "alibi", "sinusoidal", "rotary"])
def test_schemes_without_a_position_parameter(positions):
    def names(p: str) -> dict[str, tuple[int, ...]]:
        return {n: tuple(t.shape) for n, t in Transformer(D, 2, heads=HEADS, positions=p).state_dict().items()}

    plain = names(positions)
    assert not [n for n in plain if "position" in n or "relative" in n or "slopes" in n]
    assert plain == names("none")  # the same parameters, and nothing saved beside them
    assert set(names("learned")) - set(plain) == {"position.weight"}
    assert set(names("relative")) - set(plain) == {"blocks.0.attn.relative", "blocks.1.attn.relative"}


def test_none_ignores_the_order_of_earlier_positions_in_one_layer():
    torch.manual_seed(0)
    m = Transformer(D, 1, heads=HEADS, positions="none").double().eval()
    x = torch.randn(3, 9, D, dtype=torch.float64)
    shuffled = torch.cat([x[:, torch.randperm(8)], x[:, 8:]], dim=1)  # the last position stays last
    with torch.no_grad():
        torch.testing.assert_close(m(shuffled)[:, -1], m(x)[:, -1])
        assert (m(shuffled)[:, :-1] - m(x)[:, :-1]).abs().max() > 1e-3  # earlier outputs do move
    m_abs = Transformer(D, 1, heads=HEADS, positions="sinusoidal").double().eval()
    with torch.no_grad():
        assert (m_abs(shuffled)[:, -1] - m_abs(x)[:, -1]).abs().max() > 1e-3


@pytest.mark.parametrize("length", [5, 40])  # the dense block and the chunked layout (window 8)
def test_local_alibi_is_full_alibi_restricted_to_the_band(length):
    torch.manual_seed(0)
    local = SelfAttention(D, HEADS, 0.0, 8, 0, alibi=True).double()
    full = SelfAttention(D, HEADS, 0.0, None, 0, alibi=True).double()
    full.load_state_dict(local.state_dict())
    x = torch.randn(2, length, D, dtype=torch.float64)
    t = torch.arange(length)
    outside = (t[:, None] - t[None, :]) >= 8
    _, _, v = full.project(x, None)
    y = torch.softmax(full.logits(x).masked_fill(outside, float("-inf")), dim=-1) @ v
    torch.testing.assert_close(local(x), full.out(y.transpose(1, 2).reshape(2, length, D)))


@pytest.mark.parametrize("options", [{"max_offset": 4}, {"positions": "alibi", "max_offset": 4},
                                     {"positions": "relative", "max_offset": 0},
                                     {"positions": "relative", "max_offset": True},
                                     {"positions": "relative", "max_offset": 2.0}])
def test_max_offset_is_an_int_for_relative_positions_only(options):
    with pytest.raises(LearnerOptionError, match="max_offset"):
        Transformer(D, 1, heads=HEADS, **options)
    with pytest.raises(LearnerOptionError, match="max_offset"):
        LocalAttention(D, 1, heads=HEADS, **options)
