"""FLOP counting: every learner counts more than 0, counts match the analytic formulas, slopes in n and d."""

import pytest
import torch

from harness.measure.flops import (
    analytic_forward_flops,
    attention_core_flops,
    count_flops,
    count_flops_by_op,
    sweep_flops,
)
from harness.measure.probe_learners import ProbeLearner
from harness.measure.table1 import loglog_slope
from learners import LEARNERS

D, LAYERS, N, BATCH = 16, 2, 12, 2
CASES = [("rnn", {}), ("lstm", {}), ("gru", {}), ("cnn", {}), ("tcn", {}), ("tcn", {"levels": 2}),
         ("transformer", {}), ("transformer", {"positions": "relative"}), ("transformer", {"positions": "rotary"}),
         ("local-attention", {"window": 4}), ("local-attention", {"window": 4, "positions": "relative"}),
         ("local-attention", {"window": 8}), ("lru", {}), ("mamba", {}), ("mamba", {"expand": 1, "state": 8})]


def build(name, options, d=D, max_len=64):
    torch.manual_seed(0)
    return LEARNERS[name](d_model=d, n_layers=LAYERS, max_len=max_len, **options).eval()


def inputs(n=N, d=D, batch=BATCH):
    return torch.randn(batch, n, d, generator=torch.Generator().manual_seed(0))


def test_every_registered_learner_counts_more_than_zero_forward_and_backward():
    for name, cls in LEARNERS.items():
        torch.manual_seed(0)
        m = cls(d_model=D, n_layers=LAYERS, max_len=64).eval()
        fwd, both = count_flops(m, inputs()), count_flops(m, inputs(), backward=True)
        assert fwd > 0, f"{name}: FlopCounterMode counted 0 forward FLOPs"
        # backward: input and weight gradients, about 2 forward passes more
        assert 2.5 * fwd <= both <= 3.5 * fwd, f"{name}: forward+backward {both} against forward {fwd}"


@pytest.mark.parametrize("name,options", [
    pytest.param(n, o, id=f"{n}{o or ''}") for n, o in CASES])
def test_counted_forward_flops_match_the_analytic_formula(name, options):
    m = build(name, options)
    expected = analytic_forward_flops(m, BATCH, N)
    assert expected is not None
    assert count_flops(m, inputs()) == pytest.approx(expected, rel=1e-9)


def test_fused_lstm_and_cpu_sdpa_are_counted_through_their_workarounds():
    lstm = build("lstm", {})
    by_op = count_flops_by_op(lstm, inputs())
    assert set(by_op) <= {"mm", "addmm"} and sum(by_op.values()) > 0  # unfused path: gate matmuls
    # 4 gates against the Elman RNN's 1, same shapes
    assert sum(by_op.values()) == 4 * count_flops(build("rnn", {}), inputs())
    att = build("transformer", {})
    by_op = count_flops_by_op(att, inputs())
    assert by_op.get("_scaled_dot_product_flash_attention_for_cpu", 0) == 2 * LAYERS * BATCH * 2 * N * N * D
    assert attention_core_flops(by_op) == 2 * LAYERS * BATCH * 2 * N * N * D


def test_counting_leaves_gradients_and_mode_alone():
    m = build("gru", {}).train()
    count_flops(m, inputs(), backward=True)
    assert all(p.grad is None for p in m.parameters())
    assert m.training


def test_flops_scale_quadratically_in_n_for_attention_and_linearly_for_recurrence():
    # d small against n, so the n² attention term dominates the transformer's n·d² projections
    att = ProbeLearner("transformer[heads=1]", "transformer", {"heads": 1}, 8, 1, {"name": "transformer"})
    lstm = ProbeLearner("lstm", "lstm", {}, 8, 1, {"name": "lstm"})
    frame = sweep_flops([att, lstm], {"lengths": [128, 256, 512], "widths": [8, 16, 32], "length_at": 32,
                                      "backward": False})
    fwd = frame[frame["pass"] == "forward"]

    def slope(label, sweep):
        f = fwd[(fwd.learner == label) & (fwd.sweep == sweep)].sort_values(sweep)
        return loglog_slope(f[sweep], f.flops)

    assert 1.75 < slope("transformer[heads=1]", "n") < 2.0  # 1536·n + 32·n²: 1.79 at 128..256, 1.88 at 256..512
    assert slope("lstm", "n") == pytest.approx(1.0, abs=1e-9)
    assert slope("lstm", "d") == pytest.approx(2.0, abs=1e-9)
    # at n = 32 the projections (24·n·d²) dominate the attention core (4·n²·d) once d > n/6
    assert 1.5 < slope("transformer[heads=1]", "d") < 2.0
