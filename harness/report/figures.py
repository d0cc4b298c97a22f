"""The report's figures: the study at a glance, accuracy against distance and against load, steps to solve,
learning curves, the per-position breakdown, and the probes' figures; each saved as PNG and SVG and embedded in
report.html as base64. Captions are written from each figure's facts by templates/captions.j2."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.config.spec import make_task
from harness.errors import ReachError
from harness.measure.table1 import TABLE1_COMPACT_COLUMNS, table1_compact
from harness.report import analysis, extrapolation, plots, probe_plots
from harness.report.extrapolation_plot import extrapolation_figure
from harness.report.load import Loaded
from harness.store.record import Outcome, RunRecord
from harness.text import MISSING

RUN_FIGURES = ("summary", "accuracy_vs_distance", "capacity_vs_load", "steps_to_solve", "learning_curves",
               "accuracy_by_position_distance", "reach_vs_compute", "extrapolation")
TITLES = {"summary": "The study at a glance: reach per learner and task",
          "accuracy_vs_distance": "Accuracy against distance", "capacity_vs_load": "Capacity: accuracy against load",
          "steps_to_solve": "Steps to solve against distance", "learning_curves": "Learning curves",
          "accuracy_by_position_distance": "Accuracy by per-position distance",
          "reach_vs_compute": "Reach against training compute",
          "extrapolation": "Train short, test long: accuracy against test length ÷ training length"}

PAPER_TABLE1 = [  # Vaswani et al. 2017, Table 1, and the row reach adds (not in the paper)
    ("self-attention", "O(n²·d)", "O(1)", "O(1)", True),
    ("recurrent", "O(n·d²)", "O(n)", "O(n)", True),
    ("convolutional", "O(k·n·d²)", "O(1)", "O(log_k n)", True),
    ("self-attention (restricted)", "O(r·n·d)", "O(1)", "O(n/r)", True),
    ("linear recurrence (parallel scan)", "O(n·d·N)", "O(c + log(n/c))", "O(n)", False),
]


# -- probes -----------------------------------------------------------------------------------------------------
def probes_section(loaded: Loaded, fig_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(section context, probe figure dicts)."""
    section: dict[str, Any] = {"present": loaded.table1 is not None, "table1": None, "note": None,
                               "paper": PAPER_TABLE1}
    if loaded.table1 is None:
        section["note"] = ("No probes ran for this folder (no table1.csv). Suites with a [probes] table measure "
                           "gradient path length, FLOPs and throughput and fill this section.")
        return section, []
    # one column per learner, one row per measure: table1.csv has dozens of measures and a handful of learners;
    # measures that are empty for every learner (e.g. CUDA timings without a GPU) are left out
    t1 = loaded.table1.dropna(axis=1, how="all")
    key = "learner" if "learner" in t1.columns else t1.columns[0]
    section["table1"] = {"columns": ["measure"] + [str(v) for v in t1[key]],
                         "rows": [[str(col)] + [_cell(v) for v in t1[col]] for col in t1.columns if col != key]}
    try:
        section["compact"] = {"columns": list(TABLE1_COMPACT_COLUMNS), "rows": table1_compact(t1)}
    except (AttributeError, KeyError):  # a table1.csv from elsewhere without the probes' columns
        section["compact"] = None
    return section, list(probe_plots.probe_figures(loaded.folder, fig_dir))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


# -- figures ----------------------------------------------------------------------------------------------------
def task_baselines(frame: pd.DataFrame, records: dict[str, RunRecord]) -> dict[tuple[str, int], float]:
    """(task configuration, rung) -> memoryless baseline accuracy, from the runs or, for runs without one
    (skipped, pending, errors), from the task itself, so the baseline is drawn across every distance."""
    out: dict[tuple[str, int], float] = {}
    for row in frame.itertuples():
        key = (row.task, int(row.rung))
        if key in out:
            continue
        if row.baseline_accuracy is not None and not pd.isna(row.baseline_accuracy):
            out[key] = float(row.baseline_accuracy)
            continue
        spec = records[row.id].spec
        try:
            task = make_task(spec["task"], spec["distance"], dict(spec.get("task_params") or {}), spec.get("seq_len"))
            out[key] = float(task.baseline()["accuracy"])
        except (ReachError, ValueError, TypeError, KeyError, NotImplementedError):
            pass  # a task that cannot be rebuilt here: its baseline is drawn where runs recorded it
    return out


def embed(path_png: Path) -> str:
    return base64.b64encode(Path(path_png).read_bytes()).decode("ascii")


def make_figures(loaded: Loaded, frame: pd.DataFrame, summary: pd.DataFrame, cells: pd.DataFrame,
                 style: plots.Style, order: list[str], paths: dict[str, str],
                 fig_dir: Path, compute: list[Any] | None = None) -> dict[str, dict[str, Any]]:
    """key -> {key, title, b64, facts, png, svg} for every figure that has data (captions: captions.j2);
    ``compute``: harness.report.compute.rung_compute of the sweep, for reach against training compute."""
    out: dict[str, dict[str, Any]] = {}
    records = {r.id: r for r in loaded.records + loaded.pending}
    threshold = float(frame.solve_threshold.dropna().iloc[0]) if frame.solve_threshold.notna().any() else 0.99
    dist = frame[frame.axis != "load"]

    def keep(key: str, fig: Any, facts: dict[str, Any] | None = None) -> None:
        if fig is None:
            return
        png, svg = plots.save_figure(fig, fig_dir, key)
        out[key] = {"key": key, "title": TITLES[key], "b64": embed(png), "facts": facts or {}, "png": png.name,
                    "svg": svg.name}

    keep("summary", plots.summary_figure(summary, plots.by_path(order, paths, style), paths))
    not_run = []
    for task, tc in cells[cells.axis != "load"].groupby("task", sort=True):
        pruned = [f"{row.label} from {row.rung}" for row in tc[tc.status == "skipped"].groupby("label").first()
                  .reset_index().itertuples()]
        if pruned:
            not_run.append(f"{task}: {', '.join(pruned)}")
    keep("accuracy_vs_distance", plots.accuracy_figure(dist, style, task_baselines(dist, records), threshold),
         {"not_run": not_run, "errors": int((dist.drop_duplicates("id").outcome == Outcome.ERROR).sum())})
    loads = frame[frame.axis == "load"]
    keep("capacity_vs_load", plots.accuracy_figure(loads, style, task_baselines(loads, records), threshold, "load"),
         {"tasks": sorted(frame[frame.axis == "load"].task.unique())})
    keep("steps_to_solve", plots.steps_figure(dist, style))
    picks = {}
    for task, tc in cells[cells.axis != "load"].groupby("task", sort=True):
        d = analysis.pick_curve_rung(tc)
        if d is not None:
            picks[task] = d
    curve_records = _records_by_task(dist, records)
    keep("learning_curves", plots.curves_figure(curve_records, picks, style, threshold),
         {"picks": sorted(picks.items())})
    mixed = analysis.mixed_distance_tasks(loaded.records, loaded.plan)
    table = analysis.position_breakdown(loaded.records, loaded.plan, mixed)
    panels = []
    for task in mixed:
        t = table[table.task == task]
        n_bins = t.groupby("distance")["bin"].nunique()
        # a run distance whose positions all fall into one log2 bin shows a single point: prefer the others
        ran = sorted(int(d) for d, n in n_bins.items() if n > 1) or sorted(int(d) for d in n_bins.index)[-1:]
        if ran:
            panels.extend((task, d) for d in sorted({ran[0], ran[len(ran) // 2], ran[-1]}))
    baselines = {}
    for task in mixed:
        b = pd.to_numeric(frame[frame.task == task].baseline_accuracy, errors="coerce").dropna()
        if len(b):
            baselines[task] = float(b.mean())
    keep("accuracy_by_position_distance", plots.breakdown_figure(table, panels, style, baselines), {"tasks": mixed})
    if compute:
        keep("reach_vs_compute", plots.compute_figure(compute, style))
    cells = extrapolation.length_cells(extrapolation.length_frame(loaded, frame))
    if len(cells):
        chance = pd.to_numeric(frame.baseline_accuracy, errors="coerce").groupby(frame.task).mean().dropna().to_dict()
        keep("extrapolation", extrapolation_figure(cells, style, chance), {"not_defined": [
            f"{row.label} on {row.task} from {row.factor}×" for row in cells[cells.scored == 0]
            .sort_values("factor").groupby(["task", "label"]).first().reset_index().itertuples()]})
    return out


def _records_by_task(frame: pd.DataFrame, records: dict[str, RunRecord]) -> list[RunRecord]:
    """The frame's runs as records whose spec names their task configuration (the curves figure groups by it)."""
    out = []
    for row in frame.drop_duplicates(["id", "task"]).itertuples():
        r = records[row.id]
        out.append(RunRecord(**{**r.__dict__, "spec": {**r.spec, "task": row.task}}))
    return out
