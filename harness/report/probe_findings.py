"""Findings from the probes: Table 1 of Vaswani et al. read against what was measured (table1.csv).

Each function returns typed facts (harness.report.findings.Finding) for one agreement or difference between the
measured Table 1 and the theory; templates/findings.j2 writes the sentences. A number that is missing or NaN in
table1.csv silences its finding.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.report.findings import AGAINST, Finding

PARALLEL = ("convolutional", "attention")  # O(1) sequential operations in Table 1
SCANNED = ("linear-recurrent",)  # O(c + log(n/c)) on a chunked scan


def _ok(*values: Any) -> bool:
    return all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values)


def _names(rows: pd.DataFrame) -> list[str]:
    return [str(v) for v in rows.learner]


def _rows(t: pd.DataFrame, *cols: str) -> pd.DataFrame:
    return t.dropna(subset=[c for c in cols if c in t]) if all(c in t for c in cols) else t.iloc[0:0]


def flops(t: pd.DataFrame) -> list[Finding]:
    out = []
    f = _rows(t, "flops_slope_n", "theory_slope_n")
    agree = f[(f.flops_slope_n - f.theory_slope_n).abs() <= 0.1]
    if len(agree):
        out.append(Finding("cost", "flops_agree", {"learners": _names(agree),
                                                    "exponents": sorted({round(v, 2) for v in agree.flops_slope_n})}))
    for _, r in f[(f.theory_slope_n - f.flops_slope_n) > 0.1].iterrows():
        out.append(Finding("cost", "flops_below", {
            "learner": r.learner, "slope": r.flops_slope_n, "theory": r.theory_slope_n, "n_min": r.flops_n_min,
            "n_max": r.flops_n_max, "d": r.d_model,
            "crossover": r.get("flops_crossover_n") if _ok(r.get("flops_crossover_n")) else None,
            "top": r.get("flops_slope_n_top") if _ok(r.get("flops_slope_n_top")) else None,
            "share": r.get("attention_share_max_n") if _ok(r.get("attention_share_max_n")) else None}))
    for _, r in _rows(t, "flops_slope_d", "theory_slope_d").query("flops_slope_d - theory_slope_d > 0.1").iterrows():
        out.append(Finding("cost", "flops_d_above", {"learner": r.learner, "slope": r.flops_slope_d,
                                                      "theory": r.theory_slope_d, "n": r.flops_length_at,
                                                      "complexity": r.theory_complexity}))
    att = _rows(t, "attention_share_max_n", "flops_per_token_max_n")
    for _, r in att[(att.family == "attention") & (att.attention_share_max_n > 0)].iterrows():
        keys = r.flops_per_token_max_n * r.attention_share_max_n / (4 * r.n_layers * r.d_model)
        out.append(Finding("cost", "mask_cost", {"learner": r.learner, "keys": keys, "n": r.flops_n_max,
                                                  "window": r.window if _ok(r.get("window")) else None,
                                                  "slope": r.flops_slope_n, "share": r.attention_share_max_n}))
    if "flops_method" in t:
        for _, r in t[t.flops_method.astype(str).str.contains("oneDNN", na=False)].iterrows():
            others = _rows(t, "latency_gflops_max_n")
            others = others[(others.family == r.family) & (others.learner != r.learner)]
            out.append(Finding("cost", "fused_lstm", {
                "learner": r.learner, "slope_n": r.flops_slope_n, "slope_d": r.flops_slope_d, "n": r.latency_n_max,
                "gflops": r.latency_gflops_max_n if _ok(r.get("latency_gflops_max_n")) else None,
                "others": [(o.learner, o.latency_gflops_max_n) for _, o in others.iterrows()]}))
    for _, r in t[t.family.isin(SCANNED)].iterrows() if "flops_method" in t else []:
        if _ok(r.get("flops_slope_n")):
            out.append(Finding("cost", "scan_flops", {"learner": r.learner, "slope_n": r.flops_slope_n,
                                                      "slope_d": r.get("flops_slope_d")}))
    return out


def latency(t: pd.DataFrame) -> list[Finding]:
    out = []
    lat = _rows(t, "latency_slope_n")
    threads = sorted({int(v) for v in t.threads.dropna()}) if "threads" in t else []
    rec = lat[lat.family == "recurrent"]
    linear = rec[rec.latency_slope_n >= 0.85]
    if len(linear):
        out.append(Finding("cost", "latency_recurrent", {"learners": _names(linear),
                                                          "lo": linear.latency_slope_n.min(),
                                                          "hi": linear.latency_slope_n.max()}))
    for _, r in rec[rec.latency_slope_n < 0.85].iterrows():
        out.append(Finding("cost", "latency_recurrent_low", {"learner": r.learner, "slope": r.latency_slope_n,
                                                              "n_min": r.latency_n_min_fit, "n_max": r.latency_n_max}))
    scanned = lat[lat.family.isin(SCANNED)]
    if len(scanned):
        out.append(Finding("cost", "latency_scan", {"learners": _names(scanned), "lo": scanned.latency_slope_n.min(),
                                                     "hi": scanned.latency_slope_n.max(), "threads": threads,
                                                     "seq": sorted(set(scanned.theory_sequential_ops))}))
    par = lat[lat.family.isin(PARALLEL)]
    if len(par):
        out.append(Finding("cost", "latency_parallel", {"learners": _names(par), "lo": par.latency_slope_n.min(),
                                                         "hi": par.latency_slope_n.max(), "threads": threads}))
    g = _rows(t, "latency_gflops_max_n")
    rec, fast = g[g.family == "recurrent"], g[g.family != "recurrent"]
    if len(rec) and len(fast):
        slow, quick = rec.loc[rec.latency_gflops_max_n.idxmin()], fast.loc[fast.latency_gflops_max_n.idxmax()]
        out.append(Finding("cost", "gflops_contrast", {"slow": slow.learner,
                                                        "slow_gflops": slow.latency_gflops_max_n,
                                                        "fast": quick.learner,
                                                        "fast_gflops": quick.latency_gflops_max_n,
                                                        "n": slow.latency_n_max}))
    cu = _rows(t, "latency_slope_n_cuda")
    if len(cu):
        out.append(Finding("cost", "latency_cuda", {"pairs": [(r.learner, r.latency_slope_n_cuda)
                                                              for _, r in cu.iterrows()]}))
    return out


def gradients(t: pd.DataFrame) -> list[Finding]:
    out = []
    g = _rows(t, "receptive_field_measured")
    bounded = _rows(g, "receptive_field_declared")
    inside = bounded[bounded.receptive_field_declared <= bounded.n_ref]
    match = inside[inside.receptive_field_measured == inside.receptive_field_declared]
    if len(match):
        out.append(Finding("field", "rf_match", {"pairs": [(r.learner, int(r.receptive_field_declared))
                                                           for _, r in match.iterrows()]}))
    for _, r in inside[inside.receptive_field_measured != inside.receptive_field_declared].iterrows():
        out.append(Finding("field", "rf_mismatch", {"learner": r.learner, "measured": int(r.receptive_field_measured),
                                                    "declared": int(r.receptive_field_declared)}, AGAINST))
    for _, r in bounded[bounded.receptive_field_declared > bounded.n_ref].iterrows():
        out.append(Finding("field", "rf_beyond", {"learner": r.learner, "declared": int(r.receptive_field_declared),
                                                  "n": int(r.n_ref), "reach": r.gradient_reach}))
    d = _rows(t, "decay_rate", "gradient_reach")
    decaying = d[d.family.isin(("recurrent",) + SCANNED)]
    for _, r in decaying.iterrows():
        trained = _ok(r.get("decay_rate_trained"), r.get("gradient_reach_trained"))
        out.append(Finding("path", "decay", {
            "learner": r.learner, "family": r.family, "rate": r.decay_rate, "factor": 10 ** -r.decay_rate,
            "reach": r.gradient_reach, "trained": trained,
            "rate_trained": r.get("decay_rate_trained") if trained else None,
            "reach_trained": r.get("gradient_reach_trained") if trained else None,
            "distance": r.get("trained_distance"), "accuracy": r.get("trained_accuracy")}))
    flat = d[(d.family == "attention") & (d.decay_rate.abs() < 0.01)]
    full = flat[flat.gradient_reach >= flat.n_ref - 1]
    if len(full):
        out.append(Finding("path", "attention_flat", {"learners": _names(full), "n": int(full.n_ref.max())}))
    for _, r in flat[flat.gradient_reach < flat.n_ref - 1].iterrows():
        if _ok(r.get("receptive_field_declared")):
            out.append(Finding("path", "local_flat", {"learner": r.learner, "rate": r.decay_rate,
                                                      "field": r.receptive_field_declared, "n": r.n_ref,
                                                      "path": r.path_length_at_n, "layers": r.n_layers}))
    return out


def table1_findings(table1: pd.DataFrame | None) -> list[Finding]:
    """Every finding the measured Table 1 supports, in theme order (path, field, cost)."""
    if table1 is None or not len(table1) or "family" not in table1:
        return []
    t = table1.copy()
    return gradients(t) + flops(t) + latency(t)


