"""The runs table: one flat row per run record (spec fields lifted), the shape pandas users and the report
read; written beside runs.jsonl as ``runs.csv`` and ``runs.parquet``, rebuilt from it whenever asked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.store.folder import read_runs
from harness.store.record import RunRecord

COLUMNS = ["id", "task", "label", "learner", "distance", "seed", "outcome", "test_accuracy", "test_loss",
           "test_exact_match", "baseline_accuracy", "baseline_loss", "steps_run", "steps_to_solve", "params",
           "d_model", "n_layers", "seq_len", "tokens_per_s", "train_seconds", "wall_seconds", "lr", "steps",
           "solve_threshold", "stop_reason", "error"]
SPEC_COLUMNS = ("task", "learner", "distance", "seed", "n_layers", "lr", "steps", "solve_threshold")


def runs_frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per run record, flat columns (spec fields lifted), ready for groupby."""
    rows = []
    for r in records:
        row = {c: getattr(r, c, None) for c in COLUMNS}
        for key in SPEC_COLUMNS:
            row[key] = r.spec.get(key)
        row["label"] = r.label
        row["outcome"] = str(r.outcome)
        if row["d_model"] is None:
            row["d_model"] = r.spec.get("d_model")
        rows.append(row)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("distance", "seed"):
        frame[c] = frame[c].astype("int64")
    return frame


def write_tables(folder: Path, records: list[RunRecord] | None = None) -> Path:
    """runs.csv (always) and runs.parquet (when pyarrow is present), rebuilt from runs.jsonl."""
    records = read_runs(folder) if records is None else records
    frame = runs_frame(records)
    frame.to_csv(folder / "runs.csv", index=False)
    try:
        frame.to_parquet(folder / "runs.parquet", index=False)
    except ImportError:
        pass
    return folder / "runs.csv"
