"""Aggregations over run records (pandas). Definitions used everywhere (and printed in the report):

- accuracy: token-level micro accuracy over the task's scored positions, on the test stream.
- solved: test accuracy >= the spec's solve_threshold (0.99 by default).
- reach: the largest tested distance that a learner solves in a majority (more than half) of its seeds.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

COLUMNS = ["id", "task", "label", "learner", "distance", "seed", "outcome", "test_accuracy", "test_loss",
           "test_exact_match", "baseline_accuracy", "baseline_loss", "steps_run", "steps_to_solve", "params",
           "d_model", "n_layers", "seq_len", "tokens_per_s", "train_seconds", "wall_seconds", "lr", "steps",
           "solve_threshold", "stop_reason", "error"]


def runs_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run record, flat columns (spec fields lifted), ready for groupby."""
    rows = []
    for r in records:
        spec = r.get("spec", {})
        row = {c: r.get(c) for c in COLUMNS}
        for key in ("task", "learner", "distance", "seed", "n_layers", "lr", "steps", "solve_threshold"):
            row[key] = spec.get(key)
        row["label"] = r.get("label") or spec.get("learner")
        if row["d_model"] is None:
            row["d_model"] = spec.get("d_model")
        rows.append(row)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("distance", "seed"):
        frame[c] = frame[c].astype("int64")
    return frame


def reach_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (task, label): reach (0 when no distance was solved), seeds, and the per-distance solved counts."""
    rows = []
    for (task, label), g in frame.groupby(["task", "label"], sort=True):
        ran = g[g.outcome != "skipped"]
        best, detail = 0, []
        for distance, gd in ran.groupby("distance"):
            n = gd.seed.nunique()
            solved = int((gd.outcome == "solved").sum())
            detail.append(f"{distance}:{solved}/{n}")
            if solved * 2 > n:
                best = max(best, int(distance))
        rows.append({"task": task, "label": label, "reach": best, "seeds": int(g.seed.nunique()),
                     "max_tested": int(ran.distance.max()) if len(ran) else 0,
                     "solved_by_distance": " ".join(detail)})
    return pd.DataFrame(rows, columns=["task", "label", "reach", "seeds", "max_tested", "solved_by_distance"])


def reach_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """label x task matrix of reach."""
    table = reach_table(frame)
    if table.empty:
        return pd.DataFrame()
    return table.pivot(index="label", columns="task", values="reach").fillna(0).astype(int)
