"""Table 1 of Vaswani et al. (2017), measured: one row per learner, its declared theory beside the exponents
fitted to the probes' measurements (definitions: harness.measure.probes), as a table and for the console."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table

from harness.measure.gradient import profile_summary
from harness.measure.probe_learners import ProbeLearner
from harness.text import MISSING, fmt

TABLE1_REQUIRED = ["learner", "family", "theory_complexity", "theory_sequential_ops", "theory_max_path_length",
                   "flops_slope_n", "flops_slope_d", "latency_slope_n", "gradient_reach"]


# -- fits ----------------------------------------------------------------------------------------------------
def loglog_slope(x: Any, y: Any) -> float:
    """Exponent b of y = a·x^b by least squares on (log x, log y); NaN with fewer than 2 positive points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or len(set(x[ok])) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def theory_exponents(complexity: str) -> tuple[float, float]:
    """(exponent of n, exponent of d) in a Table 1 complexity string such as 'O(n²·d)' or 'O(k·n·d²)'."""
    powers = {"": 1, "²": 2, "³": 3, "^2": 2, "^3": 3}
    found = {}
    for var in ("n", "d"):
        m = re.search(rf"(?<![a-z]){var}(²|³|\^2|\^3)?(?![a-z])", complexity)
        found[var] = float(powers[m.group(1) or ""]) if m else 0.0
    return found["n"], found["d"]


# -- Table 1 -------------------------------------------------------------------------------------------------
def quadratic_crossover(n: Any, flops: Any) -> float:
    """n at which the n² term of flops = a·n + b·n² (least squares, a, b >= 0) overtakes the linear one: a/b.

    NaN when the quadratic term is negligible (b·n_max below 1% of a) or the fit is not positive.
    """
    n, f = np.asarray(n, dtype=float), np.asarray(flops, dtype=float)
    if len(n) < 2:
        return float("nan")
    A = np.stack([n, n * n], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, f, rcond=None)
    if a <= 0 or b <= 0 or b * n.max() < 0.01 * a:
        return float("nan")
    return float(a / b)


def build_table1(learners: list[ProbeLearner], gradient: pd.DataFrame | None, throughput: pd.DataFrame | None,
                 flops: pd.DataFrame | None, reach_threshold: float = 1e-3, fit_from: int | None = None,
                 gradient_length: int | None = None) -> pd.DataFrame:
    """One row per learner label: theory (class attributes) beside the fitted measurements.

    Theory: theory_complexity, theory_sequential_ops, theory_max_path_length (the learner's ``theory``),
    theory_slope_n / theory_slope_d (the exponents of n and d in the complexity), and the declared
    path_length_at_n, sequential_ops_at_n, receptive_field_declared (NaN: unbounded), params, all for a
    learner built with max_len = n_ref (the gradient probe's length, else 128). Measured: flops_slope_n,
    flops_slope_n_top, flops_slope_d, flops_crossover_n (n where a·n + b·n² turns quadratic), attention_share_max_n,
    backward_ratio, latency_slope_n (and _cuda), latency_gflops_max_n (counted FLOPs / batch-1 latency at the
    largest n), tokens/s at the largest n, gradient_reach (init) and gradient_reach_trained,
    receptive_field_measured (+ receptive_field_bounded), decay_rate(_trained), trained_accuracy; plus the
    ladders' bounds, threads and hardware. Columns of a probe that did not run are NaN. Definitions: module
    docstring.
    """
    rows = []
    for pl in learners:
        cls = pl.cls
        theory = dict(cls.theory)
        tn, td = theory_exponents(theory.get("complexity", ""))
        n_ref = gradient_length or 128
        model = pl.build(max_len=n_ref)
        rf = model.receptive_field(n_ref)
        row: dict[str, Any] = {
            "learner": pl.label, "name": pl.name, "family": cls.family,
            "theory_complexity": theory.get("complexity"), "theory_sequential_ops": theory.get("sequential_ops"),
            "theory_max_path_length": theory.get("max_path_length"), "theory_slope_n": tn, "theory_slope_d": td,
            "d_model": pl.d_model, "n_layers": pl.n_layers,
            "params": sum(p.numel() for p in model.parameters()),
            "n_ref": n_ref, "path_length_at_n": model.max_path_length(n_ref),
            "sequential_ops_at_n": model.sequential_ops(n_ref),
            "receptive_field_declared": rf if rf is not None else float("nan"),
            "window": getattr(model, "window", None) or float("nan"),
        }
        for col in ("flops_n_min", "flops_n_max", "flops_length_at", "latency_n_min_fit", "latency_n_max",
                    "trained_distance", "trained_steps", "flops_slope_n", "flops_slope_n_top", "flops_slope_d",
                    "flops_per_token_max_n", "attention_share_max_n", "flops_crossover_n", "backward_ratio",
                    "latency_slope_n", "latency_ms_max_n", "latency_gflops_max_n", "fwd_tokens_per_s_max_n",
                    "fwdbwd_tokens_per_s_max_n", "threads", "hardware", "latency_slope_n_cuda",
                    "latency_ms_max_n_cuda", "gradient_reach", "gradient_reach_trained", "receptive_field_measured",
                    "receptive_field_bounded", "decay_rate", "decay_rate_trained", "trained_accuracy",
                    "flops_method"):
            row[col] = float("nan")
        if flops is not None and len(flops):
            f = flops[(flops.learner == pl.label) & (flops["pass"] == "forward")]
            fn, fd = f[f.sweep == "n"].sort_values("n"), f[f.sweep == "d"].sort_values("d")
            if len(fn):
                row["flops_n_min"], row["flops_n_max"] = int(fn.n.min()), int(fn.n.max())
                row["flops_slope_n"] = loglog_slope(fn.n, fn.flops)
                row["flops_slope_n_top"] = loglog_slope(fn.n.iloc[-2:], fn.flops.iloc[-2:])
                row["flops_per_token_max_n"] = float(fn.flops_per_token.iloc[-1])
                row["attention_share_max_n"] = float(fn.flops_attention.iloc[-1] / fn.flops.iloc[-1])
                row["flops_crossover_n"] = quadratic_crossover(fn.n, fn.flops)
                row["flops_method"] = str(fn.method.iloc[0])
                point = flops[(flops.learner == pl.label) & (flops.sweep == "point")].set_index("pass").flops
                if {"forward", "forward+backward"} <= set(point.index):
                    row["backward_ratio"] = float(point["forward+backward"] / point["forward"])
            if len(fd):
                row["flops_slope_d"] = loglog_slope(fd.d, fd.flops)
                row["flops_length_at"] = int(fd.n.iloc[0])
        if throughput is not None and len(throughput):
            for dev, suffix in (("cpu", ""), ("cuda", "_cuda")):
                t = throughput[(throughput.learner == pl.label) & (throughput.device == dev)]
                if not len(t):
                    continue
                lat = t[t["mode"] == "latency"].sort_values("n")
                ns = sorted(lat.n.unique())
                start = fit_from if fit_from is not None else ns[(len(ns) - 1) // 2]
                upper = lat[lat.n >= start]
                row["latency_slope_n" + suffix] = loglog_slope(upper.n, upper.min_s)
                row["latency_ms_max_n" + suffix] = float(lat.median_s.iloc[-1] * 1e3)
                if suffix == "":
                    row["latency_n_min_fit"], row["latency_n_max"] = int(start), int(lat.n.max())
                    row["latency_gflops_max_n"] = float(lat.gflops_per_s.iloc[-1])
                    for mode, col in (("forward", "fwd_tokens_per_s_max_n"),
                                      ("forward+backward", "fwdbwd_tokens_per_s_max_n")):
                        m = t[t["mode"] == mode].sort_values("n")
                        row[col] = float(m.tokens_per_s.iloc[-1])
                    row["threads"] = int(t.threads.iloc[0])
                    row["hardware"] = str(t.hardware.iloc[0])
        if gradient is not None and len(gradient):
            for phase, suffix in (("init", ""), ("trained", "_trained")):
                g = gradient[(gradient.learner == pl.label) & (gradient.phase == phase)].sort_values("k")
                if not len(g):
                    continue
                s = profile_summary(g.G.to_numpy(), reach_threshold)
                row["gradient_reach" + suffix] = s["gradient_reach"]
                row["decay_rate" + suffix] = s["decay_rate"]
                if phase == "init":
                    row["receptive_field_measured"] = s["receptive_field_measured"]
                    row["receptive_field_bounded"] = s["receptive_field_bounded"]
                    row["n_ref"] = int(g.n.iloc[0])
                else:
                    row["trained_accuracy"] = float(g.test_accuracy.iloc[0])
                    row["trained_distance"] = int(g.distance.iloc[0])
                    row["trained_steps"] = int(g.train_steps.iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


TABLE1_COMPACT_COLUMNS = ("learner", "complexity", "seq. ops", "path", "FLOPs~n^", "FLOPs~d^", "latency~n^",
                          "grad reach", "RF decl/meas", "decades/step")


def table1_compact(table: pd.DataFrame) -> list[list[str]]:
    """The measured Table 1 as rows of strings under TABLE1_COMPACT_COLUMNS: theory next to each measured
    exponent ("1.41 (2)": measured, theory), gradient reach at init / after training, receptive field
    declared / measured. Shared by the console table and the report."""
    rows = []
    for _, r in table.iterrows():
        n_ref = int(r.n_ref) if not pd.isna(r.n_ref) else None
        reach = MISSING if pd.isna(r.gradient_reach) else str(int(r.gradient_reach))
        if not pd.isna(r.get("gradient_reach_trained", float("nan"))):
            reach += f" / {int(r.gradient_reach_trained)}"
        declared = "∞" if pd.isna(r.receptive_field_declared) else str(int(r.receptive_field_declared))
        if pd.isna(r.receptive_field_measured):
            measured = MISSING
        elif r.receptive_field_bounded in (False, "False"):
            measured = f"≥{n_ref}"
        else:
            measured = str(int(r.receptive_field_measured))
        rows.append([str(r.learner), str(r.theory_complexity), str(r.theory_sequential_ops),
                     str(r.theory_max_path_length),
                     f"{fmt(r.flops_slope_n, '.2f')} ({fmt(r.theory_slope_n, 'g')})",
                     f"{fmt(r.flops_slope_d, '.2f')} ({fmt(r.theory_slope_d, 'g')})",
                     fmt(r.latency_slope_n, ".2f"), reach, f"{declared}/{measured}", fmt(r.decay_rate, ".3f")])
    return rows


def table1_rich(table: pd.DataFrame) -> Any:
    """The measured Table 1 as a rich Table (see table1_compact)."""
    out = Table(title="Table 1, measured (Vaswani et al. 2017): theory | measured")
    for i, col in enumerate(TABLE1_COMPACT_COLUMNS):
        out.add_column(col, justify="left" if i < 4 else "right")
    for row in table1_compact(table):
        out.add_row(escape(row[0]), *row[1:])
    return out
