"""The report's figures: accuracy against distance, steps to solve, learning curves, the per-position breakdown,
and the probes' figures, each saved as PNG and SVG and embedded in report.html as base64."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.config.spec import make_task
from harness.errors import ReachError
from harness.measure.table1 import TABLE1_COMPACT_COLUMNS, table1_compact
from harness.report import analysis, plots, probe_plots
from harness.report.load import Loaded
from harness.store.record import Outcome, RunRecord
from harness.text import MISSING, join_names

RUN_FIGURES = ("accuracy_vs_distance", "steps_to_solve", "learning_curves", "accuracy_by_position_distance")


PAPER_TABLE1 = [  # Vaswani et al. 2017, Table 1
    ("self-attention", "O(n²·d)", "O(1)", "O(1)"),
    ("recurrent", "O(n·d²)", "O(n)", "O(n)"),
    ("convolutional", "O(k·n·d²)", "O(1)", "O(log_k n)"),
    ("self-attention (restricted)", "O(r·n·d)", "O(1)", "O(n/r)"),
]


# -- probes -----------------------------------------------------------------------------------------------------
def probes_section(loaded: Loaded, fig_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """(section context, probe figure dicts, Table-1 reading sentences)."""
    section: dict[str, Any] = {"present": loaded.table1 is not None, "table1": None, "note": None,
                               "paper": PAPER_TABLE1}
    if loaded.table1 is None:
        section["note"] = ("No probes ran for this folder (no table1.csv). Suites with a [probes] table measure "
                           "gradient path length, FLOPs and throughput and fill this section.")
        return section, [], []
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
    figures = list(probe_plots.probe_figures(loaded.folder, fig_dir))
    readings = [str(s) for s in probe_plots.table1_reading(t1)]
    return section, figures, readings


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


# -- figures ----------------------------------------------------------------------------------------------------
def task_baselines(records: list[RunRecord]) -> dict[tuple[str, int], float]:
    """(task, distance) -> memoryless baseline accuracy, from the records or, for runs without one (skipped,
    pending, errors), from the task itself, so the baseline is drawn across every distance of the ladder."""
    out: dict[tuple[str, int], float] = {}
    todo = []
    for r in records:
        key = (r.task, r.distance)
        if r.baseline_accuracy is not None:
            out.setdefault(key, float(r.baseline_accuracy))
        else:
            todo.append((key, r.spec))
    for key, spec in todo:
        if key in out:
            continue
        try:
            task = make_task(spec["task"], key[1], dict(spec.get("task_params") or {}), spec.get("seq_len"))
            out[key] = float(task.baseline()["accuracy"])
        except (ReachError, ValueError, TypeError, KeyError, NotImplementedError):
            pass  # a task that cannot be rebuilt here: its baseline is drawn where runs recorded it
    return out


def embed(path_png: Path) -> str:
    return base64.b64encode(Path(path_png).read_bytes()).decode("ascii")


def make_figures(loaded: Loaded, frame: pd.DataFrame, cells: pd.DataFrame, style: Any,
                 fig_dir: Path) -> dict[str, dict[str, Any]]:
    """key -> {key, title, b64, caption, png, svg} for every figure that has data; a note instead where not."""
    out: dict[str, dict[str, Any]] = {}
    records = loaded.records
    threshold = float(frame.solve_threshold.dropna().iloc[0]) if len(frame) and frame.solve_threshold.notna().any() \
        else 0.99

    def keep(key: str, fig: Any, title: str, caption: str) -> None:
        if fig is None:
            return
        png, svg = plots.save_figure(fig, fig_dir, key)
        out[key] = {"key": key, "title": title, "b64": embed(png), "caption": caption, "png": png.name,
                    "svg": svg.name}

    not_run = []
    for task, tc in cells.groupby("task", sort=True):
        pruned = [f"{row.label} from {row.distance}" for row in tc[tc.status == "skipped"].groupby("label").first()
                  .reset_index().itertuples()]
        if pruned:
            not_run.append(f"{task}: {', '.join(pruned)}")
    errors = int((frame.outcome == Outcome.ERROR).sum())
    cap = ("Test accuracy (token-level, on the held-out test stream) against the dependency distance, log2 axis. "
           "Line: mean over seeds; band: lowest to highest seed; dots: single seeds. Grey dashed: the task's "
           "memoryless baseline; green: the solved threshold. Runs that were not run are absent, not zeros")
    cap += (" — not run (failed at a shorter distance in every seed): " + "; ".join(not_run) + "." if not_run else ".")
    if errors:
        cap += f" {errors} run(s) ended in an error and have no accuracy (see Provenance)."
    keep("accuracy_vs_distance", plots.accuracy_figure(frame, style, task_baselines(records + loaded.pending),
                                                       threshold), "Accuracy against distance", cap)
    keep("steps_to_solve", plots.steps_figure(frame, style), "Steps to solve against distance",
         "Training steps until the validation accuracy first reached the threshold (evaluated every eval_every "
         "steps), per seed (dots) and mean over solved seeds (line). Crosses: runs that trained but did not solve, "
         "drawn at their step budget. Not-run distances are absent.")
    picks = {}
    for task, tc in cells.groupby("task", sort=True):
        d = analysis.pick_curve_distance(tc)
        if d is not None:
            picks[task] = d
    keep("learning_curves", plots.curves_figure(records, picks, style, threshold), "Learning curves",
         "Validation accuracy against training step for one run per learner (its lowest seed) at the distance of each "
         "task where the learners disagree most: " + ", ".join(f"{t} {d}" for t, d in sorted(picks.items()))
         + ". Curves end early where the run reached the threshold (early stopping on validation).")
    mixed = analysis.mixed_distance_tasks(records)
    table = analysis.position_breakdown(records, mixed)
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
    keep("accuracy_by_position_distance", plots.breakdown_figure(table, panels, style, baselines),
         "Accuracy by per-position distance",
         "For tasks whose scored positions mix dependency distances (" + join_names(mixed) + "): test accuracy of "
         "the positions whose own distance falls in each log2 bin [2^i, 2^(i+1)), pooled over seeds, for the "
         "shortest, a middle and the longest distance parameter that ran (one row per task). A flat line means "
         "distance within a sequence does not matter; a falling one shows where the learner loses the dependency.")
    return out
