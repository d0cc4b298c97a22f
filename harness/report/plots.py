"""Figures of a sweep (seaborn on matplotlib's object API: no pyplot state, no GUI backend).

Every function takes tables from :mod:`harness.report.analysis` (or run records) and returns a matplotlib
``Figure``, or None when there is nothing to draw. :func:`save_figure` writes a figure as PNG (for the
report, embedded as base64) and as SVG (for papers). Colours, line styles and markers are fixed per learner
label across all figures: colour per label, line style and marker per family (recurrent solid/circle, linear
recurrent dash-dot/plus, convolutional dashed/square, attention dotted/triangle), so the figures also read in black
and white.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullLocator

from harness.store.record import TRAINED, Outcome, RunRecord
from harness.text import MISSING

FAMILY_ORDER = ("recurrent", "linear-recurrent", "convolutional", "attention", "other")
FAMILY_DASH = {"recurrent": "", "linear-recurrent": (3, 1, 1, 1), "convolutional": (5, 2), "attention": (1.5, 1.5),
               "other": (6, 2, 1, 2)}
FAMILY_LINESTYLE = {fam: (0, dash) if dash else "-" for fam, dash in FAMILY_DASH.items()}
FAMILY_MARKER = {"recurrent": "o", "linear-recurrent": "P", "convolutional": "s", "attention": "^", "other": "D"}
BASELINE_COLOR = "#555555"
PNG_DPI = 110
RC = {
    "svg.hashsalt": "reach",  # stable ids inside SVG files: rebuilding a report gives the same files
    "svg.fonttype": "path",
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
}


class Style:
    """The fixed look of each learner label: colour, family line style and marker, plot order."""

    def __init__(self, families: dict[str, str]) -> None:
        """``families``: label -> family ("recurrent" | "convolutional" | "attention"; anything else: other)."""
        self.families = {k: (v if v in FAMILY_ORDER else "other") for k, v in families.items()}
        self.order = sorted(self.families, key=lambda lab: (FAMILY_ORDER.index(self.families[lab]), lab))
        colours = sns.color_palette("tab10", 10) + sns.color_palette("husl", max(len(self.order) - 10, 1))
        self.colours = {lab: colours[i] for i, lab in enumerate(self.order)}

    def family(self, label: str) -> str:
        return self.families.get(label, "other")

    def colour(self, label: str) -> Any:
        return self.colours.get(label, (0.3, 0.3, 0.3))

    def linestyle(self, label: str) -> Any:
        return FAMILY_LINESTYLE[self.family(label)]

    def marker(self, label: str) -> str:
        return FAMILY_MARKER[self.family(label)]

    def ordered(self, labels: Iterable[str]) -> list[str]:
        present = set(labels)
        return [lab for lab in self.order if lab in present] + sorted(present - set(self.order))

    def handles(self, labels: Iterable[str]) -> list[Line2D]:
        return [Line2D([], [], color=self.colour(lab), linestyle=self.linestyle(lab), marker=self.marker(lab),
                       markersize=5, linewidth=1.8, label=mpl_text(lab)) for lab in self.ordered(labels)]


def mpl_text(text: Any) -> str:
    """A string matplotlib draws literally: '$' would start mathtext (and a parse error)."""
    return str(text).replace("$", r"\$")


def save_figure(fig: Figure, fig_dir: Path, key: str) -> tuple[Path, Path]:
    """Write ``fig_dir/key.png`` (PNG_DPI) and ``fig_dir/key.svg``; returns both paths."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    png, svg = fig_dir / f"{key}.png", fig_dir / f"{key}.svg"
    with matplotlib.rc_context(RC):
        fig.savefig(png, dpi=PNG_DPI, bbox_inches="tight", metadata={"Software": None})
        fig.savefig(svg, bbox_inches="tight", metadata={"Date": None})
    return png, svg


def _theme() -> dict[str, Any]:
    return {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.85), **RC}


def _grid(n_panels: int, ncols: int, panel_w: float = 5.2, panel_h: float = 3.3,
          legend_rows: int = 1) -> tuple[Figure, list[Any]]:
    ncols = max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(panel_w * ncols, panel_h * nrows + 0.35 * legend_rows + 0.2), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _log2_axis(ax: Any, values: Iterable[float], label: str) -> None:
    ticks = sorted({float(v) for v in values if v and v > 0})
    ax.set_xscale("log", base=2)
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{int(t)}" if float(t).is_integer() else f"{t:g}" for t in ticks])
        lo, hi = min(ticks), max(ticks)
        ax.set_xlim(lo / 1.3, hi * 1.3)
    ax.set_xlabel(label)


def _legend(fig: Figure, handles: list[Line2D], ncol: int = 4) -> None:
    fig.legend(handles=handles, loc="outside lower center", ncol=min(ncol, max(len(handles), 1)), frameon=False)


def _baseline(ax: Any, base: pd.Series) -> None:
    """Memoryless baseline against distance: a horizontal line when it does not depend on distance."""
    if not len(base):
        return
    if float(base.max() - base.min()) < 1e-9:
        ax.axhline(float(base.iloc[0]), color=BASELINE_COLOR, linestyle=(0, (4, 3)), linewidth=1.3)
    else:
        ax.plot(base.index, base.values, color=BASELINE_COLOR, linestyle=(0, (4, 3)), linewidth=1.3)


AXIS_LABELS = {"distance": "distance (log2 scale)", "load": "load: items held at once (log2 scale)"}


def accuracy_figure(frame: pd.DataFrame, style: Style, baselines: dict[tuple[str, int], float] | None = None,
                    threshold: float = 0.99, axis: str = "distance") -> Figure | None:
    """Test accuracy against the rung — the distance, or on a load ladder (``axis`` "load") the load at its fixed
    distance: one panel per task configuration, one line per learner label (mean over seeds, band from the lowest
    to the highest seed, one point per seed), the memoryless baseline in grey. Labels are nudged sideways by at
    most a tenth of an octave so that equal values stay distinguishable.

    ``frame`` is :func:`harness.store.table.runs_frame` output for one axis; only runs that trained and have an
    accuracy are drawn. Skipped and pending runs are not drawn at all (never as zeros); error runs have no
    accuracy. ``baselines``: (task, rung) -> memoryless accuracy (default: the frame's baseline_accuracy column).
    """
    data = frame[frame.outcome.isin(TRAINED)].copy()
    data["test_accuracy"] = pd.to_numeric(data.test_accuracy, errors="coerce")
    data = data.dropna(subset=["test_accuracy"])
    if data.empty:
        return None
    tasks = sorted(data.task.unique())
    labels = style.ordered(data.label.unique())
    with matplotlib.rc_context(_theme()):
        fig, axes = _grid(len(tasks), 2, legend_rows=math.ceil((len(labels) + 2) / 4))
        for ax, task in zip(axes, tasks):
            present = style.ordered(data[data.task == task].label.unique())
            # nudge each label sideways by a few hundredths of an octave: learners that all sit at 1.0 stay
            # visible as a row of distinct markers instead of one
            nudge = {lab: 2 ** (0.035 * (i - (len(present) - 1) / 2)) for i, lab in enumerate(present)}
            d = data[data.task == task].copy()
            d["x"] = d.rung * d.label.map(nudge)
            sns.lineplot(data=d, x="x", y="test_accuracy", hue="label", hue_order=present,
                         palette={lab: style.colour(lab) for lab in present}, style="label", style_order=present,
                         dashes={lab: FAMILY_DASH[style.family(lab)] for lab in present},
                         markers={lab: style.marker(lab) for lab in present}, markersize=6,
                         estimator="mean", errorbar=("pi", 100), err_kws={"alpha": 0.12}, ax=ax, legend=False)
            sns.scatterplot(data=d, x="x", y="test_accuracy", hue="label", hue_order=present,
                            palette={lab: style.colour(lab) for lab in present}, s=14, alpha=0.55,
                            linewidth=0, ax=ax, legend=False)
            if baselines is not None:
                base = pd.Series({d: v for (t, d), v in baselines.items() if t == task}, dtype=float).sort_index()
            else:
                base = frame[(frame.task == task) & frame.baseline_accuracy.notna()]
                base = pd.to_numeric(base.baseline_accuracy).groupby(base.rung).mean()
            _baseline(ax, base)
            ax.axhline(threshold, color="#2da44e", linewidth=0.8, alpha=0.6)
            ax.set_ylim(-0.02, 1.04)
            _log2_axis(ax, frame[frame.task == task].rung.unique(), AXIS_LABELS[axis])
            ax.set_ylabel("test accuracy")
            at = f": distance {int(d.distance.iloc[0])}" if axis == "load" and "distance=" not in task else ""
            ax.set_title(mpl_text(task + at))
        extra = [Line2D([], [], color=BASELINE_COLOR, linestyle=(0, (4, 3)), label="memoryless baseline"),
                 Line2D([], [], color="#2da44e", linewidth=0.8, label=f"solved threshold ({threshold:g})")]
        _legend(fig, style.handles(labels) + extra)
    return fig


def steps_figure(frame: pd.DataFrame, style: Style) -> Figure | None:
    """Steps to solve against distance: solved runs as points (one per seed) joined by the mean over solved
    seeds; runs that trained but did not solve as crosses drawn at their step budget. Points are nudged
    sideways per label so that equal values stay visible."""
    data = frame[frame.outcome.isin(TRAINED)].copy()
    if data.empty or not (data.outcome == Outcome.SOLVED).any():
        return None
    tasks = sorted(data.task.unique())
    labels = style.ordered(data.label.unique())
    with matplotlib.rc_context(_theme()):
        fig, axes = _grid(len(tasks), 2, legend_rows=math.ceil((len(labels) + 1) / 4))
        for ax, task in zip(axes, tasks):
            d = data[data.task == task]
            present = style.ordered(d.label.unique())
            budget = float(pd.to_numeric(d.steps, errors="coerce").max())
            for i, lab in enumerate(present):
                nudge = 2 ** (0.07 * (i - (len(present) - 1) / 2))
                g = d[d.label == lab]
                solved = g[g.outcome == Outcome.SOLVED].dropna(subset=["steps_to_solve"])
                if len(solved):
                    mean = solved.groupby("distance").steps_to_solve.mean()
                    ax.plot(mean.index * nudge, mean.values, color=style.colour(lab), linestyle=style.linestyle(lab),
                            marker=style.marker(lab), markersize=5, linewidth=1.6)
                    ax.scatter(solved.distance * nudge, solved.steps_to_solve, color=style.colour(lab), s=12,
                               alpha=0.6, linewidths=0)
                failed = g[g.outcome != Outcome.SOLVED]
                if len(failed):
                    ax.scatter(failed.distance * nudge, pd.to_numeric(failed.steps, errors="coerce"),
                               color=style.colour(lab), marker="x", s=28, linewidths=1.2)
            ax.axhline(budget, color=BASELINE_COLOR, linestyle=":", linewidth=1)
            ax.set_ylim(0, budget * 1.08)
            _log2_axis(ax, frame[frame.task == task].distance.unique(), "distance (log2 scale)")
            ax.set_ylabel("steps to solve")
            ax.set_title(mpl_text(task))
        extra = [Line2D([], [], color=BASELINE_COLOR, marker="x", linestyle=":", label="not solved (at its budget)")]
        _legend(fig, style.handles(labels) + extra)
    return fig


def curves_figure(records: list[RunRecord], picks: dict[str, int], style: Style,
                  threshold: float = 0.99) -> Figure | None:
    """Validation accuracy against training step for representative runs: per task in ``picks`` (task ->
    distance), one curve per learner label, its lowest seed that trained. The memoryless baseline is grey."""
    panels = []
    for task, distance in sorted(picks.items()):
        chosen: dict[str, RunRecord] = {}
        for r in records:
            if r.task != task or r.distance != distance or not r.curve:
                continue
            lab = r.label
            if lab not in chosen or r.seed < chosen[lab].seed:
                chosen[lab] = r
        if chosen:
            panels.append((task, distance, chosen))
    if not panels:
        return None
    labels = style.ordered({lab for _, _, chosen in panels for lab in chosen})
    with matplotlib.rc_context(_theme()):
        fig, axes = _grid(len(panels), 2, legend_rows=math.ceil((len(labels) + 2) / 4))
        for ax, (task, distance, chosen) in zip(axes, panels):
            for lab in style.ordered(chosen):
                curve = pd.DataFrame(chosen[lab].curve)
                ax.plot(curve.step, curve.val_accuracy, color=style.colour(lab), linestyle=style.linestyle(lab),
                        marker=style.marker(lab), markersize=3.5, linewidth=1.6)
            bases = [r.baseline_accuracy for r in chosen.values() if r.baseline_accuracy is not None]
            if bases:
                ax.axhline(sum(bases) / len(bases), color=BASELINE_COLOR, linestyle=(0, (4, 3)), linewidth=1.3)
            ax.axhline(threshold, color="#2da44e", linewidth=0.8, alpha=0.6)
            ax.set_ylim(-0.02, 1.04)
            ax.set_xlim(left=0)
            ax.set_xlabel("training step")
            ax.set_ylabel("validation accuracy")
            ax.set_title(mpl_text(f"{task}, distance {distance}"))
        extra = [Line2D([], [], color=BASELINE_COLOR, linestyle=(0, (4, 3)), label="memoryless baseline"),
                 Line2D([], [], color="#2da44e", linewidth=0.8, label=f"solved threshold ({threshold:g})")]
        _legend(fig, style.handles(labels) + extra)
    return fig


def breakdown_figure(table: pd.DataFrame, panels: list[tuple[str, int]], style: Style,
                     baselines: dict[str, float]) -> Figure | None:
    """Test accuracy against per-position dependency distance (log2 bins), one panel per (task, run
    distance) in ``panels``, one line per learner label; seeds pooled (micro accuracy). ``table`` is
    :func:`harness.report.analysis.position_breakdown` output; ``baselines``: task -> memoryless accuracy."""
    panels = [(t, d) for t, d in panels if len(table[(table.task == t) & (table.distance == d)])]
    if not panels:
        return None
    labels = style.ordered(table[table.task.isin([t for t, _ in panels])].label.unique())
    tasks = list(dict.fromkeys(t for t, _ in panels))
    ncols = max(sum(1 for t, _ in panels if t == task) for task in tasks)
    with matplotlib.rc_context(_theme()):
        legend_rows = math.ceil((len(labels) + 1) / 4)
        fig = Figure(figsize=(max(4.3 * ncols, 8.5), 3.1 * len(tasks) + 0.35 * legend_rows + 0.2), layout="constrained")
        grid = fig.subplots(len(tasks), ncols, squeeze=False)
        axes = []
        for i, task in enumerate(tasks):  # one row per task, its run distances left to right
            row = [d for t, d in panels if t == task]
            axes.extend(grid[i][: len(row)])
            for ax in grid[i][len(row):]:
                ax.set_visible(False)
        for ax, (task, distance) in zip(axes, panels):
            d = table[(table.task == task) & (table.distance == distance)]
            for lab in style.ordered(d.label.unique()):
                g = d[d.label == lab].sort_values("bin")
                ax.plot(g["bin"].clip(lower=1), g.accuracy, color=style.colour(lab), linestyle=style.linestyle(lab),
                        marker=style.marker(lab), markersize=4, linewidth=1.6)
            if task in baselines:
                ax.axhline(baselines[task], color=BASELINE_COLOR, linestyle=(0, (4, 3)), linewidth=1.3)
            ax.set_ylim(-0.02, 1.04)
            bins = sorted(d["bin"].clip(lower=1).unique())
            _log2_axis(ax, bins, "per-position distance (log2 bin lower edge)")
            ax.set_ylabel("test accuracy")
            ax.set_title(mpl_text(f"{task}, run distance {distance}"))
        extra = [Line2D([], [], color=BASELINE_COLOR, linestyle=(0, (4, 3)), label="memoryless baseline")]
        _legend(fig, style.handles(labels) + extra)
    return fig


# Table 1's maximum path lengths, shortest first: the order of the summary's rows
PATH_ORDER = ("O(1)", "O(log_k n)", "O(n/r)", "O(n/k)", "O(n)")


def by_path(labels: Iterable[str], paths: dict[str, str], style: Style) -> list[str]:
    """Labels ordered by their learners' maximum path length (Table 1), then family and name."""
    rank = {p: i for i, p in enumerate(PATH_ORDER)}
    ordered = style.ordered(labels)
    return sorted(ordered, key=lambda lab: (rank.get(paths.get(lab, ""), len(rank)), ordered.index(lab)))


def summary_figure(summary: pd.DataFrame, labels: list[str], paths: dict[str, str]) -> Figure | None:
    """The whole study in one picture: reach per learner (rows, shortest maximum path first) and task configuration
    (columns: distance ladders, then load ladders as capacity), shaded by the fraction of the ladder reached on a
    log2 scale and annotated with the value ('—': none)."""
    if summary.empty or not (summary.max_tested > 0).any():  # nothing ran yet: nothing to summarise
        return None
    cols = sorted(summary[summary.axis != "load"].task.unique()) + sorted(summary[summary.axis == "load"].task.unique())
    grid = summary.set_index(["label", "task"])
    shade = pd.DataFrame(index=labels, columns=cols, dtype=float)
    text = pd.DataFrame("", index=labels, columns=cols)
    for lab in labels:
        for task in cols:
            if (lab, task) not in grid.index:
                text.loc[lab, task] = ""
                continue
            row = grid.loc[(lab, task)]
            top = max(int(row.max_planned), 2)
            shade.loc[lab, task] = math.log2(max(int(row.reach), 1)) / math.log2(top) if row.reach else 0.0
            text.loc[lab, task] = str(int(row.reach)) if row.reach else MISSING
    headers = [f"{t}\n(capacity)" if t in set(summary[summary.axis == "load"].task) else t for t in cols]
    with matplotlib.rc_context(_theme()):
        fig = Figure(figsize=(1.25 * len(cols) + 2.6, 0.36 * len(labels) + 1.3), layout="constrained")
        ax = fig.subplots()
        sns.heatmap(shade.astype(float), ax=ax, cmap="Greens", vmin=0, vmax=1.15, annot=text.values, fmt="",
                    cbar=False, linewidths=0.8, linecolor="white", annot_kws={"fontsize": 9})
        ax.set_xticks([i + 0.5 for i in range(len(cols))], [mpl_text(h) for h in headers], rotation=0, fontsize=8.5)
        ax.set_yticks([i + 0.5 for i in range(len(labels))],
                      [mpl_text(f"{lab}  {paths.get(lab, '')}") for lab in labels], rotation=0, fontsize=8.5)
        ax.xaxis.tick_top()
        ax.set_xlabel("")
        ax.set_ylabel("")
    return fig


def compute_figure(rungs: list[Any], style: Style) -> Figure | None:
    """Reach against training compute (harness.report.compute): per ladder, a step line per learner — the reach
    within C training FLOPs rises to rung r once every rung up to r was solved by a majority within C — ending
    (open circle) at the compute its first unsolved rung was given; beyond it the reach is a lower bound."""
    tasks = sorted({r.task for r in rungs if math.isfinite(r.to_solve)})
    if not tasks:
        return None
    labels = style.ordered({r.label for r in rungs if r.task in tasks})
    with matplotlib.rc_context(_theme()):
        fig, axes = _grid(len(tasks), 2, legend_rows=math.ceil(len(labels) / 4))
        for ax, task in zip(axes, tasks):
            mine = [r for r in rungs if r.task == task]
            for lab in style.ordered({r.label for r in mine}):
                xs, ys, need = [], [], 0.0
                lr = sorted((r for r in mine if r.label == lab), key=lambda r: r.rung)
                for r in lr:
                    if not math.isfinite(r.to_solve):
                        break
                    need = max(need, r.to_solve)
                    xs.append(need)
                    ys.append(r.rung)
                if not xs:
                    continue
                end = max(r.spent for r in lr)
                colour = style.colour(lab)
                ax.step(xs + [end], ys + [ys[-1]], where="post", color=colour, linestyle=style.linestyle(lab),
                        linewidth=1.6)
                ax.scatter(xs, ys, color=colour, marker=style.marker(lab), s=22, zorder=3)
                ax.scatter([end], [ys[-1]], facecolors="white", edgecolors=colour, s=30, zorder=3)
            ax.set_xscale("log")
            ax.set_yscale("log", base=2)
            ticks = sorted({r.rung for r in mine})
            ax.yaxis.set_major_locator(FixedLocator(ticks))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.set_yticklabels([str(t) for t in ticks])
            ax.set_xlabel("training compute (FLOPs, log scale)")
            ax.set_ylabel("load reached" if mine[0].axis == "load" else "reach (distance)")
            ax.set_title(mpl_text(task))
        _legend(fig, style.handles(labels))
    return fig
