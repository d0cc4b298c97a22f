"""The figure of train short, test long: accuracy against test length ÷ training length, per learner (log2 x), one
panel per task configuration (the tables of harness.report.extrapolation)."""

from __future__ import annotations

import math

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.report.plots import BASELINE_COLOR, Style, _grid, _legend, _log2_axis, _theme, mpl_text


def extrapolation_figure(cells: pd.DataFrame, style: Style, chance: dict[str, float],
                         levels: tuple[float, ...] = (0.99, 0.5)) -> Figure | None:
    """Mean accuracy over seeds against the ratio f (line), lowest to highest seed (band), per learner label; the
    training length is f = 1. Ratios where a learner is not defined are left out (never drawn as 0): its line ends
    there. ``cells``: harness.report.extrapolation.length_cells; ``chance``: task -> memoryless accuracy."""
    data = cells[cells.scored > 0]
    if data.empty:
        return None
    tasks = sorted(data.task.unique())
    labels = style.ordered(data.label.unique())
    with matplotlib.rc_context(_theme()):
        fig, axes = _grid(len(tasks), 2, legend_rows=math.ceil((len(labels) + 3) / 4))
        for ax, task in zip(axes, tasks):
            d = data[data.task == task]
            present = style.ordered(d.label.unique())
            for i, lab in enumerate(present):
                g = d[d.label == lab].sort_values("factor")
                x = g.factor * 2 ** (0.03 * (i - (len(present) - 1) / 2))  # nudged: equal values stay visible
                colour = style.colour(lab)
                ax.fill_between(x, g["min"], g["max"], color=colour, alpha=0.12, linewidth=0)
                ax.plot(x, g["mean"], color=colour, linestyle=style.linestyle(lab), marker=style.marker(lab),
                        markersize=5, linewidth=1.6)
            if task in chance:
                ax.axhline(chance[task], color=BASELINE_COLOR, linestyle=(0, (4, 3)), linewidth=1.3)
            for level in levels:
                ax.axhline(level, color="#2da44e", linewidth=0.8, alpha=0.6, linestyle="-" if level > 0.9 else ":")
            ax.set_ylim(-0.02, 1.04)
            _log2_axis(ax, cells[cells.task == task].factor.unique(), "test length ÷ training length (log2 scale)")
            ax.set_ylabel("test accuracy")
            train = cells[(cells.task == task) & (cells.factor == 1)].seq_len
            ax.set_title(mpl_text(f"{task}, trained at length {int(train.iloc[0])}" if len(train) else task))
        extra = [Line2D([], [], color=BASELINE_COLOR, linestyle=(0, (4, 3)), label="memoryless baseline (chance)")]
        extra += [Line2D([], [], color="#2da44e", linewidth=0.8, linestyle="-" if lv > 0.9 else ":", label=f"{lv:g}")
                  for lv in levels]
        _legend(fig, style.handles(labels) + extra)
    return fig
