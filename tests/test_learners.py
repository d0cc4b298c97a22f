"""Contract tests for every registered learner (learners/checks.py), plus learner-specific facts.

A new learner is covered the moment it is added to ``LEARNERS``. Options in SMALL keep every receptive field
shorter than the checks' sequence, so "exactly zero beyond the receptive field" is really tested.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from learners import FAMILIES, LEARNERS, LearnerOptionError, attention, checks
from learners.attention import POSITIONS, LocalAttention, SelfAttention, Transformer, rotary, rotate
from learners.checks import CHECKS, LENGTH, SIZE, build, check_learner
from learners.conv import CNN, TCN
from learners.linear_recurrent import LRU, Mamba
from learners.recurrent import LSTM, RNN

SMALL: dict[str, dict] = {"cnn": {"kernel_size": 3}, "tcn": {"kernel_size": 2, "levels": 2},
                          "local-attention": {"window": 4}}
CASES = [(name, SMALL.get(name, {})) for name in LEARNERS]
CASES += [("transformer", {"positions": p}) for p in POSITIONS if p != Transformer.OPTIONS["positions"]]
CASES += [("local-attention", {"window": 4, "positions": p}) for p in ("learned", "rotary", "relative", "alibi")]
CASES += [("transformer", {"positions": "relative", "max_offset": 3}),  # offsets past 3 share the last bias
          ("local-attention", {"window": 4, "positions": "relative", "max_offset": 2})]
CASES += [("local-attention", {"window": 5, "positions": "relative"}),  # LENGTH not a multiple of window
          ("tcn", {"kernel_size": 3, "levels": 1}), ("lstm", {"dropout": 0.1}),
          ("lru", {"chunk": 5}), ("mamba", {"chunk": 5}),  # six chunks of the checked sequence, the last padded
          ("lru", {"state": 3, "r_min": 0.0, "r_max": 1.0, "max_phase": 6.283}), ("mamba", {"state": 3, "expand": 1,
                                                                                             "conv": 1, "dt_rank": 2})]
IDS = [name + "".join(f"-{k}={v}" for k, v in opts.items()) for name, opts in CASES]


@pytest.mark.parametrize("check_fn", CHECKS, ids=[c.__name__ for c in CHECKS])
@pytest.mark.parametrize(("name", "options"), CASES, ids=IDS)
def test_contract(name, options, check_fn):
    check_fn(LEARNERS[name], **options)  # each check raises AssertionError naming what broke


@pytest.mark.parametrize("name", LEARNERS)
def test_check_learner_passes_with_default_options(name):
    check_learner(LEARNERS[name])


@pytest.mark.parametrize(("name", "options"), [c for c in CASES if c[0] in SMALL], ids=lambda c: str(c))
def test_small_receptive_fields_are_shorter_than_the_checked_sequence(name, options):
    assert build(LEARNERS[name], **options).receptive_field(LENGTH) < LENGTH


def test_registry():
    assert list(LEARNERS) == ["rnn", "lstm", "gru", "cnn", "tcn", "transformer", "local-attention", "lru", "mamba"]
    assert {cls.family for cls in LEARNERS.values()} == set(FAMILIES)


def test_receptive_field_formulas():
    assert CNN(8, 3, kernel_size=5).receptive_field(100) == 3 * 4 + 1
    assert TCN(8, 2, kernel_size=3, levels=3).receptive_field(100) == 2 * 2 * 7 + 1
    assert LocalAttention(8, 3, heads=2, window=6).receptive_field(100) == 3 * 5 + 1
    assert Transformer(8, 2, heads=2).receptive_field(100) is None
    assert RNN(8, 2).receptive_field(100) is None
    assert LRU(8, 2).receptive_field(100) is None and Mamba(8, 2).receptive_field(100) is None


def test_tcn_default_levels_cover_max_len():
    for max_len, k, levels in ((1024, 2, 10), (1025, 2, 11), (64, 3, 6), (63, 3, 5), (1, 2, 1)):
        tcn = TCN(8, 1, max_len=max_len, kernel_size=k)
        assert tcn.n_levels == levels
        assert tcn.receptive_field(max_len) >= max_len
        assert len(tcn.blocks) == levels


def test_path_lengths_and_sequential_ops():
    assert RNN(8, 2).max_path_length(100) == 101 and LSTM(8, 3).sequential_ops(100) == 300
    assert CNN(8, 2, kernel_size=4).max_path_length(1024) == 341 and CNN(8, 2).sequential_ops(10**6) == 2
    assert TCN(8, 1, kernel_size=2).max_path_length(1024) == 10
    assert TCN(8, 1, kernel_size=2).max_path_length(1025) == 11
    assert TCN(8, 2, kernel_size=2, levels=3).sequential_ops(10**6) == 6
    assert Transformer(8, 2, heads=2).max_path_length(10**6) == 1
    assert LocalAttention(8, 2, heads=2, window=16).max_path_length(1024) == 69  # ceil(1023 / 15)
    assert LocalAttention(8, 2, heads=2).sequential_ops(10**6) == 2
    assert LRU(8, 3).max_path_length(100) == 102 and Mamba(8, 2).max_path_length(1) == 2
    # chunked scan, c = 16: 16 in-chunk steps, ceil(log2(n/16)) doubling steps, 1 propagation step, per layer
    assert LRU(8, 2).sequential_ops(256) == 2 * (16 + 4 + 1) and Mamba(8, 1).sequential_ops(16) == 16
    assert Mamba(8, 1, chunk=4).sequential_ops(4096) == 4 + 10 + 1 and LRU(8, 1).sequential_ops(1) == 1


BAD = [("rnn", {"dropout": 1.0}, "dropout"), ("gru", {"dropout": -0.1}, "dropout"),
       ("cnn", {"kernel_size": 1}, "kernel_size"), ("tcn", {"kernel_size": 1}, "kernel_size"),
       ("tcn", {"levels": 0}, "levels"), ("tcn", {"levels": 2.0}, "levels"), ("tcn", {"levels": True}, "levels"),
       ("transformer", {"heads": 3}, "heads"), ("transformer", {"heads": 0}, "heads"),
       ("transformer", {"positions": "absolute"}, "positions"), ("transformer", {"dropout": 2}, "dropout"),
       ("transformer", {"heads": True}, "heads"), ("local-attention", {"window": 1}, "window"),
       ("transformer", {"window": 4}, "window"), ("lstm", {"hidden": 32}, "hidden"),
       ("lru", {"r_min": 0.999, "r_max": 0.9}, "r_min"), ("lru", {"r_max": 1.5}, "r_max"),
       ("lru", {"r_min": -0.1}, "r_min"), ("lru", {"max_phase": 0.0}, "max_phase"), ("lru", {"state": 0}, "state"),
       ("lru", {"chunk": 0}, "chunk"), ("mamba", {"state": 0}, "state"), ("mamba", {"expand": 0}, "expand"),
       ("mamba", {"conv": 0}, "conv"), ("mamba", {"dt_rank": 0}, "dt_rank"), ("mamba", {"dt_rank": True}, "dt_rank"),
       ("mamba", {"dt_rank": 2.0}, "dt_rank"), ("mamba", {"chunk": -1}, "chunk")]


@pytest.mark.parametrize(("name", "options", "culprit"), BAD, ids=[f"{n}-{c}" for n, _, c in BAD])
def test_bad_option_values_are_rejected_by_name(name, options, culprit):
    with pytest.raises(LearnerOptionError, match=culprit):
        LEARNERS[name](**SIZE, **options)


def test_rotary_needs_an_even_head_width():
    with pytest.raises(LearnerOptionError, match="positions"):
        Transformer(12, 1, heads=4, positions="rotary")
    Transformer(12, 1, heads=3, positions="rotary")


def test_learned_positions_reject_sequences_longer_than_max_len():
    m = Transformer(8, 1, max_len=10, heads=2, positions="learned")
    m(torch.zeros(1, 10, 8))
    with pytest.raises(ValueError, match="max_len"):
        m(torch.zeros(1, 11, 8))


def naive_local_attention(q, k, v, window, relative):
    """The definition, written out: full L x L scores, the band 0 <= t - s < window chosen pair by pair."""
    L, dh = q.shape[2], q.shape[3]
    allowed = torch.tensor([[0 <= t - s < window for s in range(L)] for t in range(L)])
    offset = torch.tensor([[min(max(t - s, 0), window - 1) for s in range(L)] for t in range(L)])
    scores = q @ k.transpose(-1, -2) / dh ** 0.5
    if relative is not None:
        scores = scores + relative[:, offset]
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1) @ v


LOCAL_LENGTHS = [1, 5, 8, 9, 24, 25, 30, 64, 67]  # window 8: below, at, just past it, either side of 3·window


@pytest.mark.parametrize("dense_windows", [attention.DENSE_WINDOWS, 0], ids=["as-dispatched", "chunked-only"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("relative", [False, True], ids=["no-bias", "relative-bias"])
@pytest.mark.parametrize("length", LOCAL_LENGTHS)
def test_local_attention_equals_the_naive_band_attention(length, relative, dtype, dense_windows, monkeypatch):
    monkeypatch.setattr(attention, "DENSE_WINDOWS", dense_windows)  # 0: the chunked layout at every length
    torch.manual_seed(0)
    window, heads = 8, 2
    attn = SelfAttention(16, heads, 0.0, window, window if relative else 0).to(dtype)
    if relative:
        torch.nn.init.normal_(attn.relative)
    q, k, v = (z.requires_grad_() for z in torch.randn(3, 2, heads, length, 8, dtype=dtype))
    grad_out = torch.randn(2, heads, length, 8, dtype=dtype)
    inputs = [q, k, v] + ([attn.relative] if relative else [])
    y = attn.attend_local(q, k, v)
    grads = torch.autograd.grad(y, inputs, grad_out)
    y_ref = naive_local_attention(q, k, v, window, attn.relative)
    grads_ref = torch.autograd.grad(y_ref, inputs, grad_out)
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 1e-10}
    torch.testing.assert_close(y, y_ref, **tol)
    for name, g, g_ref in zip(["q", "k", "v", "relative"], grads, grads_ref):
        torch.testing.assert_close(g, g_ref, **tol, msg=lambda m, name=name: f"gradient of {name}: {m}")


@pytest.mark.parametrize("length", [5, 40])  # both layouts
def test_local_attention_drops_attention_weights_in_training_only(length):
    torch.manual_seed(0)
    attn = SelfAttention(16, 2, 0.5, 8, 0)
    q, k, v = torch.randn(3, 2, 2, length, 8)
    clean = SelfAttention(16, 2, 0.0, 8, 0).attend_local(q, k, v)
    torch.testing.assert_close(attn.eval().attend_local(q, k, v), clean)
    assert not torch.allclose(attn.train().attend_local(q, k, v), clean)


def test_local_attention_within_the_window_is_full_causal_attention():
    torch.manual_seed(0)
    local, full = LocalAttention(16, 2, heads=2, window=16), Transformer(16, 2, heads=2)
    full.load_state_dict(local.state_dict())
    x = torch.randn(3, 16, 16)
    torch.testing.assert_close(local(x), full(x), atol=1e-6, rtol=1e-5)


def test_rotate_is_the_rotation_of_each_pair_bitwise():
    x = torch.randn(2, 3, 10, 8)
    cos, signed_sin = rotary(10, 8, x.device, x.dtype)
    f64 = torch.float64
    angle = torch.arange(10, dtype=f64)[:, None] * 10000.0 ** (-torch.arange(0, 8, 2, dtype=f64) / 8)
    c, s = angle.cos().float(), angle.sin().float()
    x1, x2 = x.chunk(2, dim=-1)
    assert torch.equal(rotate(x, cos, signed_sin), torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1))


@pytest.mark.parametrize(("cls", "options"), [(Transformer, {"positions": "sinusoidal"}),
                                              (Transformer, {"positions": "rotary"}),
                                              (LocalAttention, {"window": 4, "positions": "rotary"})])
def test_cached_tables_first_built_under_inference_mode_still_train(cls, options):
    for table in (attention.sinusoidal, attention.rotary, attention.band):
        table.cache_clear()
    m = cls(16, 1, heads=2, **options)
    x = torch.randn(2, 13, 16)
    with torch.inference_mode():
        expected = m(x)
    y = m(x)
    assert torch.equal(y, expected)
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_relative_bias_shifts_attention_logits():
    torch.manual_seed(0)
    m = Transformer(8, 1, heads=2, positions="relative").double()
    attn = m.blocks[0].attn
    with torch.no_grad():
        attn.relative[:, 3] = 1e4  # every head attends (almost) only to offset 3 where it exists
    q, k, v = torch.randn(3, 1, 2, 10, 4, dtype=torch.float64)
    y = attn.attend(q, k, v)
    torch.testing.assert_close(y[:, :, 3:], v[:, :, :-3])


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, -2.5])
def test_lstm_forget_bias_sets_the_forget_slice_of_every_layer(forget_bias):
    d, layers = 8, 3
    torch.manual_seed(0)
    torch_init = torch.nn.LSTM(d, d, num_layers=layers, batch_first=True)
    torch.manual_seed(0)
    m = LSTM(d, layers, forget_bias=forget_bias)
    forget = slice(d, 2 * d)  # torch's gate order: i, f, g, o
    for layer in range(layers):
        for kind in ("ih", "hh"):
            bias, untouched = getattr(m.rnn, f"bias_{kind}_l{layer}"), getattr(torch_init, f"bias_{kind}_l{layer}")
            assert torch.equal(bias[forget], torch.full((d,), forget_bias if kind == "ih" else 0.0))
            others = torch.ones(4 * d, dtype=torch.bool)
            others[forget] = False
            assert torch.equal(bias[others], untouched[others]), f"layer {layer} b_{kind}: other gates changed"
        b_f = getattr(m.rnn, f"bias_ih_l{layer}")[forget] + getattr(m.rnn, f"bias_hh_l{layer}")[forget]
        assert torch.equal(b_f, torch.full((d,), forget_bias)), f"layer {layer}: b_ih[f] + b_hh[f] = {b_f}"
    weights = {k: v for k, v in torch_init.state_dict().items() if k.startswith("weight")}
    assert all(torch.equal(m.rnn.state_dict()[k], v) for k, v in weights.items())


def test_lstm_forget_bias_defaults_to_one_and_opens_the_forget_gate():
    m = LSTM(8, 1)
    assert m.options["forget_bias"] == 1.0
    assert torch.equal(m.rnn.bias_ih_l0[8:16] + m.rnn.bias_hh_l0[8:16], torch.ones(8))
    assert LSTM(8, 1, forget_bias=2).options["forget_bias"] == 2.0  # an int is taken as the float


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "1.0", True, None])
def test_lstm_forget_bias_must_be_a_finite_float(value):
    with pytest.raises(LearnerOptionError, match="forget_bias"):
        LSTM(**SIZE, forget_bias=value)


def test_parameter_counts_grow_with_width():
    for cls in LEARNERS.values():
        small = sum(p.numel() for p in cls(16, 2, max_len=32).parameters())
        large = sum(p.numel() for p in cls(32, 2, max_len=32).parameters())
        assert 0 < small < large, cls.name


class Peeking(CNN):
    name = "peeking"

    def forward(self, x):
        return super().forward(x + F.pad(x[:, 1:], (0, 0, 0, 1)))  # sees one position ahead


class Understated(CNN):
    name = "understated"

    def receptive_field(self, n):
        return super().receptive_field(n) - 1


class Overstated(CNN):
    name = "overstated"

    def receptive_field(self, n):
        return super().receptive_field(n) + 1


class Noisy(CNN):
    name = "noisy"

    def forward(self, x):
        return super().forward(x) + 1e-3 * torch.rand_like(x)


class FrozenAndBuffers(CNN):
    """Holds a frozen parameter and buffers, as fixed tables and third-party mixers do."""

    name = "frozen-and-buffers"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, self.d_model), requires_grad=False)
        self.register_buffer("offset", torch.linspace(-0.1, 0.1, self.d_model))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        return super().forward(x * self.scale + self.offset)


class UnusedParameter(CNN):
    name = "unused-parameter"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spare = nn.Parameter(torch.zeros(3))  # trainable, but forward never reads it


class AllFrozen(CNN):
    name = "all-frozen"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requires_grad_(False)


def test_frozen_parameters_and_buffers_pass_every_check():
    check_learner(FrozenAndBuffers, kernel_size=3)
    m = build(FrozenAndBuffers, kernel_size=3)
    m(checks.sample(LENGTH)).sum().backward()
    assert m.scale.grad is None and {name for name, _ in m.named_buffers()} == {"offset", "calls"}


@pytest.mark.parametrize(("cls", "message"), [(UnusedParameter, "parameter spare gets no gradient"),
                                              (AllFrozen, "no trainable parameter")])
def test_gradient_check_still_catches_untrained_parameters(cls, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_gradients(cls, kernel_size=3)


@pytest.mark.parametrize(("cls", "check", "message"), [
    (Peeking, "check_causal", "not causal"), (Understated, "check_receptive_field", "depends on input"),
    (Overstated, "check_receptive_field", "does not depend"), (Noisy, "check_deterministic", "different outputs"),
], ids=["peeking", "understated", "overstated", "noisy"])
def test_checks_catch_broken_learners(cls, check, message):
    with pytest.raises(AssertionError, match=message):
        getattr(checks, check)(cls, kernel_size=3)
    with pytest.raises(AssertionError):
        check_learner(cls, kernel_size=3)
