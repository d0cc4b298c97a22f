"""Figures of the probes (harness.measure.probes): what the report shows under "Table 1".

``probe_figures(folder, fig_dir)`` draws from ``folder/probes/*.csv`` only (no model is run) and returns
[{"key", "title", "path_png", "path_svg", "facts"}] for the figures it could draw:

- ``probe-gradient``: log10 G(k) against k, one line per learner, at initialisation and after training;
  k where G(k) is exactly 0 (no path at all) are drawn as crosses on the floor of the panel.
- ``probe-flops``: FLOPs per sequence against n (at d_model) and against d (at fixed n), log-log.
- ``probe-throughput`` (and ``probe-throughput-cuda`` where a GPU was measured): tokens/s of forward and of
  forward+backward at fixed tokens per batch, and batch-1 latency, against n; bars span the quartiles.

What the measurements say against Table 1 is harness.report.probe_findings; captions are templates/captions.j2.
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

    Returns [{"key", "title", "path_png", "path_svg", "facts"}], in reading order ([] when no probe ran); the
    caption is written from the facts by templates/captions.j2 (the macro named like the key).
    """
    folder, fig_dir = Path(folder), Path(fig_dir)
    grad, flops, thr = _read(folder, "gradient"), _read(folder, "flops"), _read(folder, "throughput")
    style = _style(grad, flops, thr)
    out: list[dict[str, Any]] = []

    def add(key: str, fig: Figure, title: str, facts: dict[str, Any]) -> None:
        png, svg = save_figure(fig, fig_dir, key)
        out.append({"key": key, "title": title, "path_png": png, "path_svg": svg, "facts": facts})

    if grad is not None:
        first = grad.iloc[0]
        t = grad[grad.phase == "trained"]
        add("probe-gradient", gradient_figure(grad, style), "Gradient path length: log G(k) against k",
            {"batch": int(first.batch), "n": int(first.n), "d": int(first.d_model),
             "projections": int(first.projections), "trained_steps": int(t.train_steps.max()) if len(t) else None,
             "trained_distance": int(t.distance.iloc[0]) if len(t) else None})
    if flops is not None:
        f = flops[flops["pass"] == "forward"]
        add("probe-flops", flops_figure(flops, style), "FLOPs against n and d",
            {"n_min": int(f.n.min()), "n_max": int(f.n.max()),
             "n_at": int(f[f.sweep == "d"].n.iloc[0]) if (f.sweep == "d").any() else None})
    if thr is not None:
        for device in sorted(thr.device.unique()):
            t = thr[thr.device == device]
            key = "probe-throughput" if device == "cpu" else f"probe-throughput-{device}"
            add(key, throughput_figure(t, style), f"Throughput and latency against n ({device})",
                {"hardware": str(t.hardware.iloc[0]), "device": device,
                 "threads": sorted(int(v) for v in t.threads.unique()), "repeats": int(t.repeats.max()),
                 "warmup": int(t.warmup.max())})
    return out
