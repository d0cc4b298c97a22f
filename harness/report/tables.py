"""The report's tables as template rows: the reach table, per-distance grids, every run, budgets per learner,
common settings and provenance."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

import pandas as pd

from harness.report import analysis
from harness.report.load import Loaded
from harness.report.structure import Structure
from harness.store.provenance import now_iso
from harness.store.record import NOT_RUN, Outcome, RunRecord
from harness.text import MISSING, fmt, fmt_int, fmt_rate, fmt_seconds, fmt_values

ROUTINE_STOPS = ("step budget", "validation accuracy reached the threshold")


# -- tables -----------------------------------------------------------------------------------------------------
def opt_int(value: Any) -> int | None:
    """An int, or None for None/NaN/pd.NA (nullable integer columns)."""
    return None if value is None or pd.isna(value) else int(value)


def reach_text(row: Any) -> str:
    """'64 (2/2)': the reach with the seeds that solved it, or 'none'."""
    return f"{row.reach} ({row.solved_at_reach}/{row.seeds})" if row.reach else "none"


def escalation_note(e: Any) -> str | None:
    """'↑ 256 with 4× steps (2/3)': the first failed rung as budget escalation left it, when escalation ran."""
    if e is None or not e.escalated or not e.complete:
        return None
    unit = (" item" if e.rung == 1 else " items") if e.axis == "load" else ""
    factor = e.escalated_steps // max(e.base_steps, 1)
    mark = "↑" if e.solved * 2 > e.n else "·"
    return f"{mark} {e.rung}{unit} with {factor}× steps: {e.solved}/{e.n}"


def reach_grid(summary: pd.DataFrame, order: list[str], structure: Structure, axis: str,
               evidence: dict[tuple[str, str], Any] | None = None) -> dict[str, Any] | None:
    """The reach table (``axis`` "distance") or the capacity table ("load"): rows grouped by family (in ``order``),
    one cell per task configuration, with what backs the number: rungs tested, where the ladder was pruned, rungs
    where the seeds split, rungs solved beyond a failure, and the first failed rung after budget escalation
    (``evidence``: harness.report.evidence by (task, label); "↑" when escalation solved it). None when the sweep
    has no such ladder."""
    evidence = evidence or {}
    summary = summary[summary.axis == axis]
    if summary.empty:
        return None
    tasks = sorted(summary.task.unique())
    unit = "load" if axis == "load" else "distance"
    rows, family = [], None
    for label in order:
        if label not in set(summary.label):
            continue
        fam = structure.family.get(label, "other")
        if fam != family:
            rows.append({"group": fam})
            family = fam
        cells = []
        for task in tasks:
            m = summary[(summary.task == task) & (summary.label == label)]
            if m.empty:
                cells.append({"text": "", "notes": [], "title": "not in this sweep", "shade": None, "cls": "empty",
                              "against": False})
                continue
            row = m.iloc[0]
            pruned, failed = opt_int(row.pruned_from), opt_int(row.first_failed)
            notes = []
            if row.max_tested:
                notes.append(f"tested ≤ {row.max_tested}")
            if row.split:
                notes.append("seeds split at " + ", ".join(str(v) for v in row.split))
            if row.solved_beyond:
                notes.append("⚠ solved " + ", ".join(str(v) for v in row.solved_beyond) + " beyond the failure")
            if pruned is not None:
                notes.append(f"✂ pruned from {pruned}")
            if note := escalation_note(evidence.get((task, label))):
                notes.append(note)
            if row.pending:
                notes.append(f"{row.pending} pending")
            top = max(int(row.max_planned), 2)
            shade = math.log2(max(row.reach, 1)) / math.log2(top) if row.reach else 0.0
            title = (f"{label} on {task}: {'capacity' if axis == 'load' else 'reach'} {row.reach or 'none'}; "
                     f"{row.seeds} seed(s); largest {unit} tested {row.max_tested}; first failed {unit} "
                     f"{failed if failed is not None else MISSING}")
            cells.append({"text": reach_text(row), "notes": notes, "title": title,
                          "shade": round(0.10 + 0.42 * shade, 3) if row.reach else None,
                          "cls": "solved" if row.reach else "none", "against": bool(row.solved_beyond)})
        rows.append({"group": None, "label": label, "family": fam, "cells": cells})
    return {"tasks": tasks, "rows": rows, "axis": axis}


def rung_grids(cells: pd.DataFrame, order: list[str]) -> list[dict[str, Any]]:
    """One compact grid per task configuration: a row per learner, a column per rung, each cell 'solved/seeds ·
    mean accuracy' (minimum and maximum over seeds in its title)."""
    grids = []
    for task, tc in cells.groupby("task", sort=True):
        rungs = sorted(tc.rung.unique())
        rows = []
        for label in order:
            lc = tc[tc.label == label]
            if lc.empty:
                continue
            row_cells = []
            for d in rungs:
                c = lc[lc.rung == d]
                if c.empty:
                    row_cells.append({"text": "", "cls": "empty", "title": "not planned"})
                    continue
                c = c.iloc[0]
                if c.status == "skipped":
                    text, title = "✂", "not run: a smaller rung was not solved by a majority (ladder pruned)"
                elif c.status == "pending":
                    text, title = "…", "not finished: the sweep was interrupted"
                else:
                    acc = "" if math.isnan(c.acc_mean) else f" {c.acc_mean:.2f}"
                    text = f"{c.solved}/{c.seeds}{acc}"
                    extra = [f"{c[k]} {k}" for k in ("diverged", "error", "skipped", "pending") if c[k]]
                    title = (f"{c.solved} of {c.seeds} seeds solved; mean test accuracy {fmt(c.acc_mean)} "
                             f"(min {fmt(c.acc_min)}, max {fmt(c.acc_max)})")
                    title += f"; {', '.join(extra)}" if extra else ""
                row_cells.append({"text": text, "cls": c.status, "title": title})
            rows.append({"label": label, "cells": row_cells})
        grids.append({"task": task, "axis": str(tc.axis.iloc[0]), "rungs": [int(d) for d in rungs], "rows": rows})
    return grids


def runs_rows(frame: pd.DataFrame, order: list[str]) -> list[dict[str, Any]]:
    """Every planned run (each task configuration it belongs to), for the sortable, filterable runs table."""
    rank = {lab: i for i, lab in enumerate(order)}
    f = frame.assign(_rank=frame.label.map(rank).fillna(len(rank)))
    f = f.sort_values(["task", "_rank", "rung", "seed"], kind="stable")
    rows = []
    for row in f.itertuples():
        if isinstance(row.error, str) and row.error:
            note = row.error
        elif row.stop_reason in ROUTINE_STOPS or not isinstance(row.stop_reason, str):
            note = ""  # the outcome column says it already
        elif row.outcome == Outcome.SKIPPED:
            note = "not run: " + row.stop_reason
        else:
            note = row.stop_reason
        rows.append({
            "id": row.id, "task": row.task, "label": row.label, "distance": int(row.distance),
            "load": opt_int(row.load), "seed": int(row.seed), "outcome": row.outcome,
            "acc": fmt(_num(row.test_accuracy)), "acc_sort": _num(row.test_accuracy),
            "base": fmt(_num(row.baseline_accuracy)), "exact": fmt(_num(row.test_exact_match)),
            "steps": fmt_int(_num(row.steps_run)), "to_solve": fmt_int(_num(row.steps_to_solve)),
            "time": fmt_seconds(_num(row.wall_seconds)), "time_sort": _num(row.wall_seconds),
            "params": fmt_int(_num(row.params)), "rate": fmt_rate(_num(row.tokens_per_s)),
            "note": str(note or "")[:400],
        })
    return rows


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def budgets_table(records: list[RunRecord], order: list[str], structure: Structure) -> list[dict[str, Any]]:
    """Per label: what every fairness rule is about: width, depth, parameters, optimiser and budget."""
    by_label: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.outcome not in NOT_RUN:
            by_label[r.label].append(r)
    rows = []
    for label in order:
        rs = by_label.get(label)
        if not rs:
            continue
        specs = [r.spec for r in rs]
        params = [r.params for r in rs if r.params]
        lparams = [r.learner_params for r in rs if r.learner_params]
        opts = structure.options.get(label) or (specs[0].get("learner_options") or {})
        theory = structure.theory.get(label, {})
        rows.append({
            "label": label, "family": structure.family.get(label, "other"),
            "d_model": fmt_values([r.d_model or r.spec.get("d_model") for r in rs]),
            "n_layers": fmt_values([s.get("n_layers") for s in specs]),
            "learner_params": (f"{min(lparams):,}–{max(lparams):,}" if lparams and min(lparams) != max(lparams)
                               else f"{lparams[0]:,}" if lparams else MISSING),
            "params": f"{min(params):,}–{max(params):,}" if params and min(params) != max(params)
            else f"{params[0]:,}" if params else MISSING,
            "lr": fmt_values([s.get("lr") for s in specs]), "steps": fmt_values([s.get("steps") for s in specs]),
            "batch": fmt_values([s.get("batch_size") for s in specs]),
            "schedule": fmt_values([s.get("schedule") for s in specs]),
            # dropout 0 is every learner's default and says nothing about reach
            "options": ", ".join(f"{k}={v}" for k, v in sorted(opts.items()) if not (k == "dropout" and not v))
            or MISSING,
            "theory_path": theory.get("max_path_length", MISSING), "theory_cost": theory.get("complexity", MISSING),
            "theory_seq": theory.get("sequential_ops", MISSING),
        })
    return rows


def common_settings(records: list[RunRecord]) -> list[tuple[str, str]]:
    """(setting, its values over the runs that ran) for the budget and evaluation settings."""
    specs = [r.spec for r in records if r.outcome not in NOT_RUN]
    if not specs:
        return []
    keys = [("steps", "step budget"), ("max_seconds", "time budget (s)"), ("batch_size", "batch (sequences/step)"),
            ("schedule", "learning-rate schedule"), ("warmup_steps", "warm-up steps"),
            ("weight_decay", "weight decay (AdamW)"), ("grad_clip", "gradient clipping (norm)"),
            ("eval_every", "validation every (steps)"), ("val_batches", "validation batches"),
            ("test_batches", "test batches"), ("solve_threshold", "solved threshold"),
            ("param_budget", "parameter budget"), ("device", "device")]
    return [(name, fmt_values([s.get(k) for s in specs])) for k, name in keys]


# -- provenance -------------------------------------------------------------------------------------------------
def _parse_time(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None


def sessions_rows(env: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for s in env.get("sessions", []) or []:
        start, end = _parse_time(s.get("start")), _parse_time(s.get("end"))
        seconds = s.get("seconds")
        if seconds is None and start and end:
            seconds = (end - start).total_seconds()
        rows.append({"command": str(s.get("command", "")), "start": str(s.get("start") or MISSING),
                     "end": str(s.get("end")) if s.get("end") else "— (no end: interrupted or still running)",
                     "duration": fmt_seconds(seconds), "executor": str(s.get("executor", MISSING)),
                     "workers": str(s.get("workers", MISSING)), "resumed": str(s.get("resumed_runs", 0)),
                     "interrupted": not s.get("end")})
    return rows


def provenance(loaded: Loaded, frame: pd.DataFrame) -> dict[str, Any]:
    env = loaded.env
    commit = env.get("git_commit")
    items = [
        ("suite", str(loaded.suite.get("name") or env.get("suite") or MISSING)),
        ("results folder", str(loaded.folder.resolve())),
        ("git commit", (str(commit) + ("  (uncommitted changes in the working tree)" if str(commit).endswith("+dirty")
                                       else "")) if commit else "— (not a git checkout)"),
        ("platform", str(env.get("platform", MISSING))),
        ("CPU", str(env.get("cpu", MISSING))),
        # the instruction set torch's CPU kernels use: with the CPU, torch build and threads, what decides the bits
        ("torch CPU kernels", str(env.get("cpu_capability") or MISSING)),
        ("cores", str(env.get("cores", MISSING))),
        ("torch threads per run", str(env.get("torch_threads_per_run", MISSING))),
        ("GPU", str(env.get("cuda") or "none")),
        ("report generated", now_iso()),
    ]
    versions = [(str(k), str(v)) for k, v in (env.get("versions") or {}).items()]
    problems = []
    for r in loaded.records:
        if r.outcome in (Outcome.ERROR, Outcome.DIVERGED):
            problems.append({"outcome": str(r.outcome), "run": f"{r.label} on {r.task} at distance {r.distance}, "
                                                                f"seed {r.seed}",
                             "id": r.id, "message": str(r.error or r.stop_reason or ""),
                             "traceback": str(r.traceback or "")[-3000:]})
    sessions = sessions_rows(env)
    total = sum(_num(s.get("seconds")) or 0.0 for s in env.get("sessions", []) or [])
    return {"facts": items, "versions": versions, "sessions": sessions, "problems": problems,
            "counts": analysis.outcome_counts(frame),
            "total_seconds": fmt_seconds(total) if total else MISSING, "notes": list(loaded.notes),
            "outside": loaded.outside, "time": time_breakdown(frame)}


def time_breakdown(frame: pd.DataFrame) -> dict[str, Any]:
    """Where the sweep's time went: run seconds (wall-clock of each run, summed) per learner and per task
    configuration, largest first, with their shares; the grid learner × task in ``cells``."""
    runs = frame.drop_duplicates(["id", "task"]).assign(seconds=pd.to_numeric(frame.wall_seconds, errors="coerce"))
    runs = runs.dropna(subset=["seconds"])
    total = float(runs.drop_duplicates("id").seconds.sum())
    if not total:
        return {"total": MISSING, "learners": [], "tasks": [], "cells": {}}
    per = runs.drop_duplicates("id")
    by_label = per.groupby("label").seconds.agg(["sum", "count"]).sort_values("sum", ascending=False)
    by_task = runs.groupby("task").seconds.agg(["sum", "count"]).sort_values("sum", ascending=False)
    grid = runs.groupby(["label", "task"]).seconds.sum()
    return {"total": fmt_seconds(total),
            "learners": [(lab, fmt_seconds(r["sum"]), f"{r['sum'] / total:.0%}", int(r["count"]))
                         for lab, r in by_label.iterrows()],
            "tasks": [(t, fmt_seconds(r["sum"]), int(r["count"])) for t, r in by_task.iterrows()],
            "cells": {f"{lab}|{t}": fmt_seconds(v) for (lab, t), v in grid.items()}}
