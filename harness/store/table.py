"""The runs table: one flat row per run (spec fields lifted), the shape pandas users and the report read; written
beside runs.jsonl as ``runs.csv`` and ``runs.parquet``, rebuilt from it whenever asked.

With a suite's plan (harness.config.plan) the rows are the plan's cells that have a record: ``task`` is then the
task configuration's label, ``axis`` what its ladder varies and ``rung`` the run's place on it, and a run that two
configurations plan appears once under each. Without a plan (a folder with no suite.toml), one row per record,
``task`` the task's name and the rung its distance.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pandas as pd

from harness.config.plan import DISTANCE, Cell
from harness.config.spec import make_task
from harness.errors import ReachError
from harness.store.folder import read_runs
from harness.store.record import RunRecord

COLUMNS = ["id", "task", "task_name", "axis", "rung", "label", "learner", "distance", "load", "seed", "outcome",
           "test_accuracy", "test_loss", "test_exact_match", "baseline_accuracy", "baseline_loss", "steps_run",
           "steps_to_solve", "params", "d_model", "n_layers", "seq_len", "tokens_per_s", "train_seconds",
           "wall_seconds", "lr", "steps", "solve_threshold", "stop_reason", "error"]
SPEC_COLUMNS = ("learner", "distance", "seed", "n_layers", "lr", "steps", "solve_threshold")


@cache
def _load(task: str, distance: int, params_json: str, seq_len: int | None) -> int | None:
    try:
        return make_task(task, distance, json.loads(params_json), seq_len).load
    except (ReachError, NotImplementedError, ValueError, TypeError):
        return None


def load_of(r: RunRecord) -> int | None:
    """The memory load of a run: recorded, or (records older than the field, skipped runs) from its task."""
    if r.load is not None:
        return r.load
    params = json.dumps(r.spec.get("task_params") or {}, sort_keys=True)
    return _load(r.task, r.distance, params, r.spec.get("seq_len"))


def _row(r: RunRecord, task: str, axis: str, rung: int, label: str) -> dict:
    row = {c: getattr(r, c, None) for c in COLUMNS}
    for key in SPEC_COLUMNS:
        row[key] = r.spec.get(key)
    row.update(task=task, task_name=r.task, axis=axis, rung=rung, label=label, outcome=str(r.outcome),
               load=load_of(r))
    if row["d_model"] is None:
        row["d_model"] = r.spec.get("d_model")
    return row


def runs_frame(records: list[RunRecord], plan: list[Cell] | None = None) -> pd.DataFrame:
    """One row per run record, or per planned cell that has a record (see the module docstring)."""
    if plan is None:
        rows = [_row(r, r.task, DISTANCE, r.distance, r.label) for r in records]
    else:  # the plan's labels, not the records': a folder written before a relabelling reads as today
        by_id = {r.id: r for r in records}
        rows = [_row(by_id[c.spec.id], c.task, c.axis, c.rung, c.learner) for c in plan if c.spec.id in by_id]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("distance", "seed", "rung"):
        frame[c] = frame[c].astype("int64")
    frame["load"] = frame["load"].astype("Int64")
    return frame


def write_tables(folder: Path, records: list[RunRecord] | None = None) -> Path:
    """runs.csv (always) and runs.parquet (when pyarrow is present), one row per record, rebuilt from runs.jsonl."""
    records = read_runs(folder) if records is None else records
    frame = runs_frame(records)
    frame.to_csv(folder / "runs.csv", index=False)
    try:
        frame.to_parquet(folder / "runs.parquet", index=False)
    except ImportError:
        pass
    return folder / "runs.csv"
