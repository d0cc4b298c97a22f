"""Figures and a generated reading of the probes (harness.measure.probes): what the report shows under "Table 1".

``probe_figures(folder, fig_dir)`` draws from ``folder/probes/*.csv`` only (no model is run) and returns
[{"key", "title", "path_png", "path_svg", "caption"}] for the figures it could draw:

- ``probe-gradient``: log10 G(k) against k, one line per learner, at initialisation and after training;
  k where G(k) is exactly 0 (no path at all) are drawn as crosses on the floor of the panel.
- ``probe-flops``: FLOPs per sequence against n (at d_model) and against d (at fixed n), log-log.
- ``probe-throughput`` (and ``probe-throughput-cuda`` where a GPU was measured): tokens/s of forward and of
  forward+backward at fixed tokens per batch, and batch-1 latency, against n; bars span the quartiles.

``table1_reading(table1)`` turns ``table1.csv`` into short sentences, one per agreement or difference
between the measurements and Table 1, each computed from the numbers in the table (a number that is
missing silences its sentence; nothing is asserted that the table does not show).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.report.plots import Style, save_figure

matplotlib.use("Agg")

THEME = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.85),
         "svg.hashsalt": "reach", "svg.fonttype": "path", "axes.titlesize": 11, "axes.titleweight": "bold"}


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    path = Path(folder) / "probes" / f"{name}.csv"
    if not path.exists():
        return None
    frame = pd.read_csv(path)
    return frame if len(frame) else None


def _style(*frames: pd.DataFrame | None) -> Style:
    families: dict[str, str] = {}
    for f in frames:
        if f is not None:
            families.update(dict(zip(f.learner, f.family)))
    return Style(families)


def _legend(fig: Figure, handles: list[Line2D]) -> None:
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, max(len(handles), 1)), frameon=False)


def _line(ax: Any, style: Style, label: str, x: Any, y: Any, **kw: Any) -> None:
    ax.plot(x, y, color=style.colour(label), linestyle=style.linestyle(label), marker=style.marker(label),
            markersize=4, linewidth=1.6, **kw)


# -- figures -------------------------------------------------------------------------------------------------
def gradient_figure(grad: pd.DataFrame, style: Style) -> Figure:
    """log10 G(k) against k; one panel per phase (init, trained); exact zeros as crosses on the floor."""
    phases = [p for p in ("init", "trained") if p in set(grad.phase)]
    labels = style.ordered(grad.learner.unique())
    positive = grad.G[grad.G > 0]
    with_zeros = [lab for lab in labels if (grad[grad.learner == lab].G == 0).any()]
    # one row of crosses per learner that has exact zeros, stacked from the floor up (a factor 3 apart)
    floor = 10 ** math.floor(math.log10(positive.min())) / 10 ** (1 + 0.5 * len(with_zeros)) if len(positive) \
        else 1e-12
    with matplotlib.rc_context(THEME):
        fig = Figure(figsize=(5.6 * len(phases), 4.0 + 0.3 * math.ceil((len(labels) + 1) / 4)),
                     layout="constrained")
        axes = fig.subplots(1, len(phases), squeeze=False).ravel()
        for ax, phase in zip(axes, phases):
            g = grad[grad.phase == phase]
            for lab in labels:
                d = g[g.learner == lab].sort_values("k")
                if not len(d):
                    continue
                pos = d[d.G > 0]
                ax.plot(pos.k, pos.G, color=style.colour(lab), linestyle=style.linestyle(lab), linewidth=1.5)
                zero = d[d.G == 0]
                if len(zero):  # no path at all: log G = -inf, drawn on the floor
                    row = floor * 1.8 * 3.0 ** with_zeros.index(lab)
                    ax.scatter(zero.k, np.full(len(zero), row), marker="x", s=9, linewidths=0.8,
                               color=style.colour(lab))
            ax.set_yscale("log")
            ax.set_ylim(bottom=floor)
            ax.set_xlabel("k (steps back from the last position t = n-1)")
            ax.set_ylabel("G(k) = mean ||∂h_t/∂x_{t-k}||_F")
            extra = ""
            if phase == "trained" and "distance" in g and len(g):
                extra = f" on lag {int(g.distance.iloc[0])}"
            ax.set_title(f"after training{extra}" if phase == "trained" else "at initialisation")
        handles = style.handles(labels) + [Line2D([], [], color="#444444", marker="x", linestyle="",
                                                  label="G(k) = 0 exactly (no path)")]
        _legend(fig, handles)
    return fig


def flops_figure(flops: pd.DataFrame, style: Style) -> Figure:
    """Forward FLOPs of one sequence against n (at d_model) and against d (at fixed n), log-log."""
    f = flops[flops["pass"] == "forward"]
    labels = style.ordered(f.learner.unique())
    sweeps = [s for s in ("n", "d") if s in set(f.sweep)]
    with matplotlib.rc_context(THEME):
        fig = Figure(figsize=(5.4 * len(sweeps), 4.0 + 0.3 * math.ceil(len(labels) / 4)), layout="constrained")
        axes = fig.subplots(1, len(sweeps), squeeze=False).ravel()
        for ax, sweep in zip(axes, sweeps):
            s = f[f.sweep == sweep]
            for lab in labels:
                d = s[s.learner == lab].sort_values(sweep)
                _line(ax, style, lab, d[sweep], d.flops)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ticks = sorted(s[sweep].unique())
            ax.set_xticks(ticks, [str(int(t)) for t in ticks])
            ax.minorticks_off()
            ax.set_ylabel("FLOPs per sequence (forward)")
            if sweep == "n":
                ax.set_xlabel("sequence length n")
                ax.set_title(f"against n (d = {', '.join(str(int(v)) for v in sorted(s.d.unique()))})")
            else:
                ax.set_xlabel("width d")
                ax.set_title(f"against d (n = {int(s.n.iloc[0])})")
        _legend(fig, style.handles(labels))
    return fig


def throughput_figure(thr: pd.DataFrame, style: Style) -> Figure:
    """Tokens/s forward, tokens/s forward+backward, batch-1 latency against n; bars from q25 to q75."""
    labels = style.ordered(thr.learner.unique())
    panels = [("forward", "tokens_per_s", "tokens/s, forward"),
              ("forward+backward", "tokens_per_s", "tokens/s, forward+backward"),
              ("latency", "median_s", "batch-1 forward latency (s)")]
    with matplotlib.rc_context(THEME):
        fig = Figure(figsize=(15.5, 4.2 + 0.3 * math.ceil(len(labels) / 4)), layout="constrained")
        axes = fig.subplots(1, 3).ravel()
        for ax, (mode, col, ylabel) in zip(axes, panels):
            m = thr[thr["mode"] == mode]
            for lab in labels:
                d = m[m.learner == lab].sort_values("n")
                if not len(d):
                    continue
                lo, hi = (d.tokens_per_s_q25, d.tokens_per_s_q75) if col == "tokens_per_s" else (d.q25_s, d.q75_s)
                _line(ax, style, lab, d.n, d[col])
                ax.vlines(d.n, lo, hi, color=style.colour(lab), linewidth=1.0, alpha=0.7)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ticks = sorted(m.n.unique())
            ax.set_xticks(ticks, [str(int(t)) for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel("sequence length n")
            ax.set_ylabel(ylabel)
            tokens = int(m.tokens.max()) if mode != "latency" and len(m) else 0
            ax.set_title(f"{mode} ({tokens} tokens per batch)" if tokens else "latency (batch 1)")
        _legend(fig, style.handles(labels))
    return fig


def probe_figures(folder: Path, fig_dir: Path) -> list[dict[str, Any]]:
    """Draw every probe figure the CSVs under ``folder/probes`` allow; PNG and SVG into ``fig_dir``.

    Returns [{"key", "title", "path_png", "path_svg", "caption"}], in reading order; [] when no probe ran.
    """
    folder, fig_dir = Path(folder), Path(fig_dir)
    grad, flops, thr = _read(folder, "gradient"), _read(folder, "flops"), _read(folder, "throughput")
    style = _style(grad, flops, thr)
    out: list[dict[str, Any]] = []

    def add(key: str, fig: Figure, title: str, caption: str) -> None:
        png, svg = save_figure(fig, fig_dir, key)
        out.append({"key": key, "title": title, "path_png": png, "path_svg": svg, "caption": caption})

    if grad is not None:
        first = grad.iloc[0]
        how = ("exact Jacobian rows" if int(first.projections) == 0
               else f"{int(first.projections)} random projections per sequence")
        trained = ""
        if "trained" in set(grad.phase):
            t = grad[grad.phase == "trained"]
            trained = (f" Right: the same learners after at most {int(t.train_steps.max())} training steps on lag "
                       f"{int(t.distance.iloc[0])} (at length n).")
        add("probe-gradient", gradient_figure(grad, style), "Gradient path length: log G(k) against k",
            f"G(k) = mean over {int(first.batch)} sequences of the Frobenius norm of ∂h_t/∂x_(t-k) at the last "
            f"position t = n-1 (n = {int(first.n)}, d = {int(first.d_model)}, float64, {how}), at "
            f"initialisation (left).{trained} Crosses on the floor mark k where G(k) is exactly 0: the output "
            f"has no path from that input (outside a bounded receptive field). A straight falling line on this "
            f"log scale is geometric decay; a flat one is a constant path length.")
    if flops is not None:
        f = flops[flops["pass"] == "forward"]
        add("probe-flops", flops_figure(flops, style), "FLOPs against n and d",
            f"Forward FLOPs of one sequence counted by torch's FlopCounterMode (matrix products only, "
            f"2 per multiply-add; fused CPU LSTM and SDPA kernels counted as harness.measure.flops explains; masks not "
            f"discounted). Left: over n = {int(f.n.min())}..{int(f.n.max())} at each learner's d_model; right: "
            f"over d at n = {int(f[f.sweep == 'd'].n.iloc[0]) if (f.sweep == 'd').any() else '-'}. On log-log "
            f"axes the slope is the exponent of Table 1's complexity column.")
    if thr is not None:
        for device in sorted(thr.device.unique()):
            t = thr[thr.device == device]
            key = "probe-throughput" if device == "cpu" else f"probe-throughput-{device}"
            threads = ", ".join(str(int(v)) for v in sorted(t.threads.unique()))
            add(key, throughput_figure(t, style), f"Throughput and latency against n ({device})",
                f"Measured on {t.hardware.iloc[0]} ({device}, {threads} torch thread(s)): median of "
                f"{int(t.repeats.max())} calls after {int(t.warmup.max())} warm-up call(s), bars from the lower to "
                f"the upper quartile. Tokens per batch are fixed, so batch = tokens / n. Batch-1 latency is the "
                f"cost of one sequence, where sequential operations cannot be hidden by batching. Wall-clock "
                f"figures depend on the machine and its load: compare learners within this figure only.")
    return out


# -- generated reading of Table 1 ----------------------------------------------------------------------------
def _ok(*values: Any) -> bool:
    return all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values)


def _names(rows: pd.DataFrame) -> str:
    return ", ".join(str(v) for v in rows.learner)


def table1_reading(table1: pd.DataFrame) -> list[str]:
    """Short sentences reading each agreement and difference between the measured Table 1 and the theory.

    Every number in a sentence comes from ``table1`` (the columns build_table1 writes); rows or columns that
    are missing or NaN simply produce no sentence.
    """
    t = table1.copy()
    out: list[str] = []
    col = t.get

    # FLOPs against n
    if col("flops_slope_n") is not None and col("theory_slope_n") is not None:
        f = t.dropna(subset=["flops_slope_n", "theory_slope_n"])
        agree = f[(f.flops_slope_n - f.theory_slope_n).abs() <= 0.1]
        if len(agree):
            exps = sorted({f"n^{v:.2f}" for v in agree.flops_slope_n})
            out.append(f"FLOPs grow as {' / '.join(exps)} for {_names(agree)}, the exponent of n in their Table 1 "
                       f"complexity.")
        for _, r in f[(f.theory_slope_n - f.flops_slope_n) > 0.1].iterrows():
            s = (f"{r.learner}: FLOPs grow as n^{r.flops_slope_n:.2f} over n = {r.flops_n_min:.0f}.."
                 f"{r.flops_n_max:.0f}, not n^{r.theory_slope_n:g}: Table 1 counts the attention operation alone, "
                 f"but each layer also has projections and an MLP linear in n")
            if _ok(r.get("flops_crossover_n")):
                s += (f"; fitting a·n + b·n² puts the crossover, where the quadratic term overtakes, at "
                      f"n ≈ {r.flops_crossover_n:.0f} (d = {r.d_model:.0f})")
            if _ok(r.get("flops_slope_n_top")):
                s += f", and between the last two lengths the exponent is already {r.flops_slope_n_top:.2f}"
            if _ok(r.get("attention_share_max_n")):
                s += f" (attention is {r.attention_share_max_n:.0%} of the FLOPs at n = {r.flops_n_max:.0f})"
            out.append(s + ".")
    # FLOPs against d
    if col("flops_slope_d") is not None:
        f = t.dropna(subset=["flops_slope_d", "theory_slope_d"])
        for _, r in f[(f.flops_slope_d - f.theory_slope_d) > 0.1].iterrows():
            out.append(f"{r.learner}: FLOPs grow as d^{r.flops_slope_d:.2f} at n = {r.flops_length_at:.0f}, not "
                       f"d^{r.theory_slope_d:g}: the {r.theory_complexity} of Table 1 is the attention core; the "
                       f"query/key/value/output projections and the MLP cost O(n·d²) and dominate once d is large "
                       f"against n.")
    # attention counted without mask discount
    if col("attention_share_max_n") is not None:
        att = t[(t.family == "attention") & (t.attention_share_max_n > 0)].dropna(subset=["flops_per_token_max_n"])
        for _, r in att.iterrows():
            keys = r.flops_per_token_max_n * r.attention_share_max_n / (4 * r.n_layers * r.d_model)
            if _ok(r.get("window")):
                out.append(f"{r.learner}: the counter charges {keys:.0f} keys per query for a window of "
                           f"{r.window:.0f}: the chunked kernel scores blocks of 2·window keys and masks the rest, "
                           f"so FLOPs are linear in n (n^{r.flops_slope_n:.2f}) as O(r·n·d) says, with the constant "
                           f"doubled.")
            else:
                out.append(f"{r.learner}: causal masking is not discounted: the counter charges {keys:.0f} keys per "
                           f"query at n = {r.flops_n_max:.0f}, all n, while a causal query sees (n+1)/2 on average, "
                           f"so the attention core ({r.attention_share_max_n:.0%} of the FLOPs there) is counted "
                           f"about 2x.")
    # fused LSTM
    if col("flops_method") is not None:
        for _, r in t[t.flops_method.astype(str).str.contains("oneDNN", na=False)].iterrows():
            s = (f"{r.learner}: FlopCounterMode counts 0 for the fused oneDNN kernel torch runs on CPU; its FLOPs "
                 f"were counted on the unfused path (the same gate equations: n^{r.flops_slope_n:.2f}, "
                 f"d^{r.flops_slope_d:.2f})")
            others = t[(t.family == r.family) & (t.learner != r.learner)].dropna(subset=["latency_gflops_max_n"])
            if _ok(r.get("latency_gflops_max_n")) and len(others):
                s += (f", so they describe the equations, not the kernel: at batch 1 and n = {r.latency_n_max:.0f} the "
                      f"fused kernel runs at {r.latency_gflops_max_n:.1f} GFLOP/s against "
                      + ", ".join(f"{o.latency_gflops_max_n:.1f} for {o.learner}" for _, o in others.iterrows()))
            out.append(s + ".")
    # latency and sequential operations
    if col("latency_slope_n") is not None:
        lat = t.dropna(subset=["latency_slope_n"])
        rec = lat[lat.family == "recurrent"]
        threads = ", ".join(str(int(v)) for v in sorted(t.threads.dropna().unique())) if "threads" in t else "?"
        linear = rec[rec.latency_slope_n >= 0.85]
        if len(linear):
            out.append(f"Batch-1 latency of {_names(linear)} grows as n^{linear.latency_slope_n.min():.2f} to "
                       f"n^{linear.latency_slope_n.max():.2f}, about linearly, as O(n) sequential operations say: "
                       f"their steps cannot be batched away.")
        for _, r in rec[rec.latency_slope_n < 0.85].iterrows():
            out.append(f"{r.learner}: batch-1 latency grows only as n^{r.latency_slope_n:.2f} over n = "
                       f"{r.latency_n_min_fit:.0f}..{r.latency_n_max:.0f}, below the linear growth its O(n) "
                       f"sequential steps imply: per-call overheads still weigh, or the timing was disturbed "
                       f"(see the quartiles in throughput.csv).")
        par = lat[lat.family != "recurrent"]
        if len(par):
            out.append(f"The O(1)-sequential learners do not show flat latency on {threads} CPU thread(s): latency "
                       f"grows as n^{par.latency_slope_n.min():.2f} to n^{par.latency_slope_n.max():.2f} "
                       f"({_names(par)}), because one thread executes the parallel work one operation after another; "
                       f"O(1) sequential operations pay off only with idle parallel hardware (a GPU).")
            low = par[par.latency_slope_n < 0.85]
            if len(low):
                out.append(f"Latency grows slower than n for {_names(low)} (n^{low.latency_slope_n.min():.2f} to "
                           f"n^{low.latency_slope_n.max():.2f} over n = {low.latency_n_min_fit.min():.0f}.."
                           f"{low.latency_n_max.max():.0f}): at these sizes fixed per-call costs still weigh "
                           f"against the work itself.")
        if "latency_gflops_max_n" in t:
            g = t.dropna(subset=["latency_gflops_max_n"])
            rec, par = g[g.family == "recurrent"], g[g.family != "recurrent"]
            if len(rec) and len(par):
                slow = rec.loc[rec.latency_gflops_max_n.idxmin()]
                fast = par.loc[par.latency_gflops_max_n.idxmax()]
                out.append(f"At batch 1 and n = {slow.latency_n_max:.0f}, {slow.learner} computes at "
                           f"{slow.latency_gflops_max_n:.1f} GFLOP/s against {fast.latency_gflops_max_n:.1f} for "
                           f"{fast.learner}: its n steps run one after another, each a matrix-vector product too "
                           f"small to keep the core busy, so per-step costs add up n times; that is what O(n) "
                           f"sequential operations cost on a CPU.")
        if col("latency_slope_n_cuda") is not None:
            cu = t.dropna(subset=["latency_slope_n_cuda"])
            if len(cu):
                out.append("On the GPU, batch-1 latency grows as " + ", ".join(
                    f"n^{r.latency_slope_n_cuda:.2f} ({r.learner})" for _, r in cu.iterrows()) + ".")
    # gradient path length
    if col("receptive_field_measured") is not None:
        g = t.dropna(subset=["receptive_field_measured"])
        bounded = g.dropna(subset=["receptive_field_declared"])
        inside = bounded[bounded.receptive_field_declared <= bounded.n_ref]
        match = inside[inside.receptive_field_measured == inside.receptive_field_declared]
        if len(match):
            out.append("G(k) is exactly 0 for every k at or beyond the declared receptive field and positive inside "
                       "it, so the measured field equals the declared one: " + ", ".join(
                           f"{r.learner} ({r.receptive_field_declared:.0f})" for _, r in match.iterrows()) + ".")
        for _, r in inside[inside.receptive_field_measured != inside.receptive_field_declared].iterrows():
            out.append(f"{r.learner}: the measured receptive field ({r.receptive_field_measured:.0f}) differs from "
                       f"the declared one ({r.receptive_field_declared:.0f}): the learner's receptive_field() is "
                       f"wrong or a path was cut.")
        for _, r in bounded[bounded.receptive_field_declared > bounded.n_ref].iterrows():
            out.append(f"{r.learner}: its declared receptive field ({r.receptive_field_declared:.0f}) is longer than "
                       f"the probed length n = {r.n_ref:.0f}, so G(k) > 0 for every k, as it should; its gradient "
                       f"reach is {r.gradient_reach:.0f}.")
    if col("decay_rate") is not None:
        g = t.dropna(subset=["decay_rate", "gradient_reach"])
        for _, r in g[g.family == "recurrent"].iterrows():
            s = (f"{r.learner}: G(k) decays geometrically at initialisation, {r.decay_rate:.3f} decades per step "
                 f"(x{10 ** -r.decay_rate:.2f} per step back), so it falls 1000-fold within {r.gradient_reach:.0f} "
                 f"steps although every input is connected (path length O(n))")
            if _ok(r.get("decay_rate_trained"), r.get("gradient_reach_trained")):
                s += (f"; after training on lag {r.trained_distance:.0f} (test accuracy {r.trained_accuracy:.2f}) "
                      f"{r.decay_rate_trained:.3f} decades per step, reach {r.gradient_reach_trained:.0f}")
            out.append(s + ".")
        flat = g[(g.family == "attention") & (g.decay_rate.abs() < 0.01)]
        full = flat[flat.gradient_reach >= flat.n_ref - 1]
        if len(full):
            out.append(f"Attention's G(k) does not decay with k (|decay| < 0.01 decades per step) and reaches every "
                       f"one of the n = {full.n_ref.max():.0f} positions for {_names(full)}: one layer connects "
                       f"any two positions, Table 1's O(1) path length.")
        for _, r in flat[flat.gradient_reach < flat.n_ref - 1].iterrows():
            if _ok(r.get("receptive_field_declared")):
                out.append(f"{r.learner}: G(k) is flat ({r.decay_rate:+.3f} decades per step) up to its receptive "
                           f"field of {r.receptive_field_declared:.0f} and exactly 0 beyond: restricted attention "
                           f"needs O(n/r) layers to connect everything, here {r.path_length_at_n:.0f} for "
                           f"n = {r.n_ref:.0f}, and has {r.n_layers:.0f}.")
    return out
