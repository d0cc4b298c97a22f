"""Probes: gradient path length, throughput, Table 1 assembly, validation, and run_probes end to end."""

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
from rich.console import Console

from harness.config.probes import validate_probes
from harness.config.suites import Suite, load_suite
from harness.errors import ReachError
from harness.measure.gradient import gradient_profile, profile_summary
from harness.measure.probe_learners import ProbeLearner
from harness.measure.probes import run_probes
from harness.measure.table1 import TABLE1_REQUIRED, loglog_slope, quadratic_crossover, theory_exponents
from harness.measure.throughput import measure_throughput, resolve_devices
from harness.report.html import environments, sentence
from harness.report.probe_findings import table1_findings
from harness.report.probe_plots import probe_figures
from learners import LEARNERS

D = 8


def learner(name, dtype=torch.float64, max_len=64, **options):
    torch.manual_seed(0)
    return LEARNERS[name](d_model=D, n_layers=2, max_len=max_len, **options).to(dtype).eval()


def x(n, batch=2, dtype=torch.float64):
    return torch.randn(batch, n, D, generator=torch.Generator().manual_seed(3), dtype=dtype)


# -- gradient path length -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,options", [("cnn", {"kernel_size": 3}), ("tcn", {"levels": 2}),
                                          ("local-attention", {"window": 4})])
@pytest.mark.parametrize("projections", [0, 4])
def test_gradient_is_exactly_zero_beyond_the_declared_receptive_field(name, options, projections):
    n = 24
    m = learner(name, **options)
    rf = m.receptive_field(n)
    assert rf is not None and rf < n - 4
    G = gradient_profile(m, x(n), projections, torch.Generator().manual_seed(0))
    assert (G[rf:] == 0).all(), f"{name}: G(k) non-zero beyond the receptive field {rf}: {G[rf:]}"
    assert (G[:rf] > 0).all(), f"{name}: G(k) zero inside the receptive field {rf}: {G[:rf]}"
    summary = profile_summary(G)
    assert summary["receptive_field_measured"] == rf and summary["receptive_field_bounded"]


def test_exact_gradient_profile_is_the_mean_frobenius_norm_of_the_jacobian_blocks():
    n, m = 6, learner("gru")
    inp = x(n, batch=3)
    G = gradient_profile(m, inp, projections=0)
    expected = np.zeros(n)
    for b in range(3):
        J = torch.autograd.functional.jacobian(lambda z: m(z[None])[0, -1], inp[b])  # [D, n, D]
        for k in range(n):
            expected[k] += J[:, n - 1 - k, :].norm().item() / 3
    np.testing.assert_allclose(G, expected, rtol=1e-10)
    # the random-projection estimate is unbiased for ||J||²; with 64 projections it lands close
    approx = gradient_profile(m, inp, projections=64, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(approx, expected, rtol=0.3)


def test_rnn_gradient_decays_geometrically_and_attention_does_not():
    n = 48
    rnn = profile_summary(gradient_profile(learner("rnn"), x(n)))
    G = gradient_profile(learner("rnn"), x(n))
    assert G[-1] < 1e-6 * G[1]
    assert rnn["decay_rate"] > 0.05 and rnn["gradient_reach"] < n - 1
    assert not rnn["receptive_field_bounded"]  # never exactly 0 in float64: connected, just vanishing
    att = profile_summary(gradient_profile(learner("transformer"), x(n)))
    assert abs(att["decay_rate"]) < 0.02
    assert att["gradient_reach"] == n - 1


def test_profile_summary_definitions_on_a_known_profile():
    G = np.array([5.0, 1.0, 0.1, 0.01, 0.001, 1e-4, 0.0, 0.0])
    s = profile_summary(G, reach_threshold=1e-3)
    assert s["receptive_field_measured"] == 6 and s["receptive_field_bounded"]
    assert s["gradient_reach"] == 4  # largest k >= 1 with G(k) >= 1e-3 · max_{j>=1} G(j) = 1e-3
    assert s["decay_rate"] == pytest.approx(1.0)  # fitted over k = 1..2 (half of the last positive k, 5)


# -- fits and theory ------------------------------------------------------------------------------------------
def test_fits_and_theory_exponents():
    xs = np.array([64, 128, 256])
    assert loglog_slope(xs, 3 * xs**2.0) == pytest.approx(2.0)
    assert np.isnan(loglog_slope([64], [1.0]))
    assert quadratic_crossover(xs, 1536 * xs + 32 * xs**2) == pytest.approx(48.0)
    assert np.isnan(quadratic_crossover(xs, 5 * xs))
    assert theory_exponents("O(n²·d)") == (2.0, 1.0)
    assert theory_exponents("O(n·d²)") == (1.0, 2.0)
    assert theory_exponents("O(k·n·d²)") == (1.0, 2.0)
    assert theory_exponents("O(r·n·d)") == (1.0, 1.0)


# -- throughput -----------------------------------------------------------------------------------------------
def test_throughput_returns_finite_positive_numbers_with_threads_recorded():
    before = torch.get_num_threads()
    pls = [ProbeLearner("rnn", "rnn", {}, D, 1, {"name": "rnn"}),
           ProbeLearner("cnn", "cnn", {}, D, 1, {"name": "cnn"})]
    frame = measure_throughput(pls, {"lengths": [8, 16], "tokens": 32, "warmup": 0, "repeats": 2, "threads": 1},
                               log=lambda msg: None)
    assert len(frame) == 2 * 2 * 3
    assert set(frame["mode"]) == {"forward", "forward+backward", "latency"}
    for col in ("median_s", "q25_s", "q75_s", "min_s", "tokens_per_s"):
        assert np.isfinite(frame[col]).all() and (frame[col] > 0).all(), col
    assert (frame.threads == 1).all() and (frame.hardware.str.len() > 0).all()
    assert (frame[frame["mode"] == "latency"].batch == 1).all()
    assert set(frame[frame["mode"] == "forward"].batch) == {4, 2}  # tokens // n
    fwd = frame[frame["mode"] != "forward+backward"]
    assert (fwd.flops > 0).all() and frame[frame["mode"] == "forward+backward"].flops.isna().all()
    assert torch.get_num_threads() == before


def test_cuda_device_is_refused_without_a_gpu_and_auto_falls_back():
    if torch.cuda.is_available():
        assert resolve_devices(["cuda"]) == [torch.device("cuda")]
    else:
        with pytest.raises(ReachError, match="cuda"):
            resolve_devices(["cuda"])
    assert resolve_devices(["auto"])[0].type == ("cuda" if torch.cuda.is_available() else "cpu")


# -- validation -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("probes,culprit", [
    ({"gradiant": {}}, "gradiant"),
    ({"gradient": {"lenght": 8}}, "lenght"),
    ({"gradient": {"length": 1}}, "length"),
    ({"gradient": {"length": 16, "distance": 16}}, "distance"),
    ({"throughput": {"lengths": [64, 32]}}, "lengths"),
    ({"throughput": {"devices": ["tpu"]}}, "devices"),
    ({"flops": {"backward": "yes"}}, "backward"),
    ({"flops": 3}, "flops"),
])
def test_validate_probes_rejects_unknown_names_options_and_values(probes, culprit):
    with pytest.raises(ReachError, match=culprit):
        validate_probes(probes, "suite 'x'")


def test_validate_probes_suggests_the_nearest_name():
    with pytest.raises(ReachError, match="did you mean 'gradient'"):
        validate_probes({"gradiant": {}}, "suite 'x'")


def test_table1_builtin_suite_loads_with_probes_and_no_runs():
    suite = load_suite("table1")
    assert suite.specs() == [] and set(suite.probes) == {"gradient", "throughput", "flops"}
    assert len(suite.learners) >= 7


# -- end to end -----------------------------------------------------------------------------------------------
TINY = {
    "name": "tiny-table1", "seeds": [0],
    "defaults": {"d_model": 8, "n_layers": 2, "batch_size": 4, "eval_every": 2, "val_batches": 1,
                 "test_batches": 1},
    "learners": [{"name": "rnn"}, {"name": "tcn", "options": {"levels": 2}},
                 {"name": "transformer", "options": {"heads": 2}}, {"name": "rnn", "lr": 1e-3}],
    "tasks": [],
    "probes": {"gradient": {"length": 16, "batch": 2, "projections": 0, "train_steps": 2, "distance": 2},
               "throughput": {"lengths": [8, 16], "tokens": 16, "warmup": 0, "repeats": 2},
               "flops": {"lengths": [8, 16, 32], "widths": [8, 16], "length_at": 16}},
}


def test_run_probes_end_to_end_writes_table1_and_reuses_measurements(tmp_path):
    suite = Suite.from_dict(TINY, "test")
    buf = io.StringIO()
    result = run_probes(suite, tmp_path, Console(file=buf, width=200))
    for name in ("gradient", "throughput", "flops"):
        assert json.loads((tmp_path / "probes" / f"{name}.json").read_text())["config"]["options"]
    labels = ["rnn", "tcn[levels=2]", "transformer[heads=2]"]
    flops = pd.read_csv(tmp_path / "probes" / "flops.csv")
    by_n = flops[flops.sweep == "n"]
    by_d = flops[flops.sweep == "d"]
    for label in labels:
        rows = by_n[by_n.learner == label].sort_values("n")
        assert list(rows.n) == [8, 16, 32] and list(rows.d) == [8, 8, 8] and (rows.flops > 0).all()
        assert list(rows.flops_per_token) == pytest.approx(list(rows.flops / rows.n))
        assert sorted(by_d[by_d.learner == label].d) == [8, 16] and set(by_d[by_d.learner == label].n) == {16}
    rnn = by_n[by_n.learner == "rnn"].set_index("n").flops
    assert rnn[32] / rnn[8] == pytest.approx(4.0, rel=0.01)  # one step per token: linear in n
    assert set(flops.learner) == set(labels)
    throughput = pd.read_csv(tmp_path / "probes" / "throughput.csv")
    assert set(throughput.learner) == set(labels) and set(throughput.n) == {8, 16}
    assert (throughput.repeats == 2).all() and (throughput.median_s > 0).all()
    assert list(throughput.tokens_per_s) == pytest.approx(list(throughput.tokens / throughput.median_s))
    env = json.loads((tmp_path / "probes" / "env.json").read_text())
    assert env["versions"]["torch"] and env["cpu"] and "probes" in env
    table = pd.read_csv(tmp_path / "table1.csv")
    assert set(TABLE1_REQUIRED) <= set(table.columns)
    assert list(table.learner) == ["rnn", "tcn[levels=2]", "transformer[heads=2]"]  # one row per label
    rows = table.set_index("learner")
    assert rows.loc["tcn[levels=2]", "receptive_field_measured"] == rows.loc["tcn[levels=2]",
                                                                             "receptive_field_declared"] == 7
    assert rows.loc["transformer[heads=2]", "theory_complexity"] == "O(n²·d)"
    assert rows.loc["rnn", "flops_slope_n"] == pytest.approx(1.0)
    assert rows.loc["transformer[heads=2]", "flops_slope_n"] > 1.05  # the n² term shows at d = 8
    assert rows.notna().loc[:, ["latency_slope_n", "gradient_reach", "gradient_reach_trained", "flops_slope_d"]].all(
        axis=None)
    grad = pd.read_csv(tmp_path / "probes" / "gradient.csv")
    assert set(grad.phase) == {"init", "trained"} and len(grad) == 3 * 2 * 16
    out = buf.getvalue()
    assert "Table 1" in out and "transformer[heads=2]" in out
    assert result["reused"] == []

    again = run_probes(suite, tmp_path, Console(file=io.StringIO(), width=200))
    assert sorted(again["reused"]) == ["flops", "gradient", "throughput"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "table1.csv"), table)

    changed = Suite.from_dict({**TINY, "probes": {**TINY["probes"], "flops": {"lengths": [8, 16], "widths": [8, 16],
                                                                              "length_at": 16}}}, "test")
    third = run_probes(changed, tmp_path, Console(file=io.StringIO(), width=200))
    assert "flops" not in third["reused"] and "gradient" in third["reused"]


def test_flops_and_gradient_probes_on_two_processes_give_the_serial_numbers(tmp_path):
    suite = Suite.from_dict({**TINY, "probes": {k: v for k, v in TINY["probes"].items() if k != "throughput"}},
                            "test")
    serial = run_probes(suite, tmp_path / "serial", Console(file=io.StringIO(), width=200))
    buf = io.StringIO()
    parallel = run_probes(suite, tmp_path / "parallel", Console(file=buf, width=200), workers=2)
    assert "flops and gradient: 3 learners on 2 processes" in buf.getvalue()
    assert buf.getvalue().count("gradient: trained") == 3  # each learner's training line, in learner order
    for name in ("flops", "gradient"):
        a = pd.read_csv(tmp_path / "serial" / "probes" / f"{name}.csv")
        b = pd.read_csv(tmp_path / "parallel" / "probes" / f"{name}.csv")
        pd.testing.assert_frame_equal(a, b)
        assert parallel["seconds"][name] > 0
    pd.testing.assert_frame_equal(serial["table1"], parallel["table1"])


def test_probe_figures_and_findings_from_a_probes_folder(tmp_path):
    suite = Suite.from_dict({**TINY, "learners": TINY["learners"][:3]}, "test")
    run_probes(suite, tmp_path, Console(file=io.StringIO(), width=200))
    figures = probe_figures(tmp_path, tmp_path / "figures")
    assert [f["key"] for f in figures] == ["probe-gradient", "probe-flops", "probe-throughput"]
    for f in figures:
        assert f["path_png"].stat().st_size > 1000 and f["path_svg"].exists() and f["facts"] and f["title"]
    findings = table1_findings(pd.read_csv(tmp_path / "table1.csv"))
    html, _ = environments()
    text = " ".join(str(sentence(html, "findings.j2", f.key, f.facts)) for f in findings)
    assert {f.key for f in findings} >= {"rf_match", "decay", "mask_cost"}
    assert "tcn[levels=2] (7)" in text  # the exact zero past the declared field
    assert "rnn: G(k) decays geometrically" in text
    assert "causal masking is not discounted" in text
    assert probe_figures(tmp_path / "nothing", tmp_path / "f2") == []


def test_probes_only_suite_runs_through_the_sweep_and_finish(tmp_path):
    from harness.report.finish import finish_sweep
    from harness.run.executors import InProcessExecutor
    from harness.run.sweep import run_suite

    data = {**TINY, "learners": [{"name": "cnn"}], "probes": {"flops": {"lengths": [8, 16], "widths": [8, 16],
                                                                        "length_at": 8}}}
    suite = Suite.from_dict(data, "test")
    result = run_suite(suite, tmp_path / "out", InProcessExecutor(), "test")
    assert result.records == []
    assert finish_sweep(suite, result, report=False) == 0
    table = pd.read_csv(tmp_path / "out" / "table1.csv")
    assert list(table.learner) == ["cnn"] and table.flops_slope_n.iloc[0] == pytest.approx(1.0, abs=0.05)
    flops = pd.read_csv(tmp_path / "out" / "probes" / "flops.csv")
    assert sorted(flops[flops.sweep == "n"].n) == [8, 16] and set(flops.learner) == {"cnn"}
