"""Aggregations over run records (pandas). Definitions used everywhere (and printed in the report):

- accuracy: token-level micro accuracy over the task's scored positions, on the test stream.
- solved: test accuracy >= the spec's solve_threshold (0.99 by default).
- reach: the largest tested distance that a learner solves in a majority (more than half) of its seeds.
"""

from __future__ import annotations

import pandas as pd

from harness.store.record import OUTCOMES, TRAINED, Outcome, RunRecord


def reach_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (task, label): reach, seeds, max_tested, and "solved_by_distance" ("4:2/2 8:1/2"), compact for
    consoles and compare. Same rule as :func:`reach_summary` (a seed without a result counts as unsolved)."""
    summary = reach_summary(frame)
    cells = distance_cells(frame)
    ran = cells[cells.ran > 0]
    detail = {key: " ".join(f"{r.distance}:{r.solved}/{r.seeds}" for r in g.itertuples())
              for key, g in ran.groupby(["task", "label"], sort=True)}
    out = summary[["task", "label", "reach", "seeds", "max_tested"]].copy()
    out["solved_by_distance"] = [detail.get((t, lab), "") for t, lab in zip(out.task, out.label)]
    return out


def outcome_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Number of runs per outcome, every outcome of OUTCOMES present (0 when absent)."""
    counts = frame.outcome.value_counts().to_dict() if len(frame) else {}
    return {str(k): int(counts.get(k, 0)) for k in OUTCOMES}


def distance_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, label, distance): how its seeds fared.

    The denominator ``seeds`` is the number of distinct seeds of the (task, label) group over all its
    distances (skipped and pending rows included), so a seed that never finished counts as not solved, and a
    distance is *solved* when ``solved * 2 > seeds``. Skipped runs (the ladder was pruned: the learner failed
    a shorter distance in every seed) are counted apart, never as failures at their own distance.

    Columns: task, label, distance, seeds, ran (runs with a record that trained: solved, unsolved, diverged,
    error), solved, unsolved, diverged, error, skipped, pending, majority (bool), status (one of "solved",
    "failed", "skipped", "pending", "partial": some seeds not run and no majority), acc_mean, acc_min,
    acc_max (test accuracy over runs that trained and have one; NaN when none).
    """
    columns = ["task", "label", "distance", "seeds", "ran", "solved", "unsolved", "diverged", "error", "skipped",
               "pending", "majority", "status", "acc_mean", "acc_min", "acc_max"]
    rows = []
    for (task, label), g in frame.groupby(["task", "label"], sort=True):
        n_seeds = int(g.seed.nunique())
        for distance, gd in g.groupby("distance", sort=True):
            c = gd.outcome.value_counts().to_dict()
            counts = {str(k): int(c.get(k, 0)) for k in OUTCOMES}
            ran = sum(counts[k] for k in (Outcome.SOLVED, Outcome.UNSOLVED, Outcome.DIVERGED, Outcome.ERROR))
            acc = pd.to_numeric(gd[gd.outcome.isin(TRAINED)].test_accuracy,
                                errors="coerce").dropna()
            majority = counts["solved"] * 2 > n_seeds
            if majority:
                status = "solved"
            elif ran == 0:
                status = "pending" if counts["pending"] else "skipped"
            elif ran < n_seeds:
                status = "partial"
            else:
                status = "failed"
            rows.append({"task": task, "label": label, "distance": int(distance), "seeds": n_seeds, "ran": ran,
                         **counts, "majority": majority, "status": status,
                         "acc_mean": float(acc.mean()) if len(acc) else float("nan"),
                         "acc_min": float(acc.min()) if len(acc) else float("nan"),
                         "acc_max": float(acc.max()) if len(acc) else float("nan")})
    return pd.DataFrame(rows, columns=columns)


def reach_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (task, label): the reach and what backs it. Built on :func:`distance_cells` (same seed rule).

    Columns: task, label, reach (largest distance solved in a majority of seeds, 0 when none),
    solved_at_reach (seeds that solved it), seeds, max_tested (largest distance with a run that trained,
    0 when none), max_planned (largest distance in the group), first_failed (smallest distance that was run
    and not solved by a majority, or pd.NA), pruned_from (smallest distance recorded as skipped, or pd.NA),
    pending (planned runs with no record yet).
    """
    columns = ["task", "label", "reach", "solved_at_reach", "seeds", "max_tested", "max_planned", "first_failed",
               "pruned_from", "pending"]
    cells = distance_cells(frame)
    rows = []
    for (task, label), g in cells.groupby(["task", "label"], sort=True):
        solved = g[g.majority]
        reach = int(solved.distance.max()) if len(solved) else 0
        at_reach = int(solved[solved.distance == reach].solved.iloc[0]) if len(solved) else 0
        tested = g[g.ran > 0]
        failed = g[(g.ran > 0) & ~g.majority]
        skipped = g[g.skipped > 0]
        rows.append({"task": task, "label": label, "reach": reach, "solved_at_reach": at_reach,
                     "seeds": int(g.seeds.iloc[0]), "max_tested": int(tested.distance.max()) if len(tested) else 0,
                     "max_planned": int(g.distance.max()),
                     "first_failed": int(failed.distance.min()) if len(failed) else None,
                     "pruned_from": int(skipped.distance.min()) if len(skipped) else None,
                     "pending": int(g.pending.sum())})
    out = pd.DataFrame(rows, columns=columns)
    # integers or missing (pd.NA), never floats: "pruned from 8", not "8.0" or "nan"
    return out.astype({"first_failed": "Int64", "pruned_from": "Int64"})


def log2_bin(distance: int) -> int:
    """Lower edge of the log2 bin [2^i, 2^(i+1)) holding ``distance`` (>= 1); 0 for distances below 1."""
    d = int(distance)
    return 1 << (d.bit_length() - 1) if d >= 1 else 0


def mixed_distance_tasks(records: list[RunRecord]) -> list[str]:
    """Tasks whose scored positions carry more than one dependency distance within a run (recall,
    selective-copy): only for those is a per-position breakdown informative. Sorted by name."""
    tasks = set()
    for r in records:
        if len(r.test_by_distance or {}) > 1:
            tasks.add(r.task)
    return sorted(t for t in tasks if t)


def position_breakdown(records: list[RunRecord], tasks: list[str] | None = None) -> pd.DataFrame:
    """Test accuracy by per-position dependency distance, pooled into log2 bins.

    From each record's ``test_by_distance`` ({"distance": [correct, total]}), for the runs that trained
    (solved, unsolved, diverged) of ``tasks`` (default: :func:`mixed_distance_tasks`). Correct and total
    are summed over the positions of a bin and over seeds (micro accuracy), per (task, label, run distance).

    Columns: task, label, distance (the run's distance parameter), bin (lower edge), bin_hi (exclusive upper
    edge), correct, total, accuracy, seeds.
    """
    tasks = mixed_distance_tasks(records) if tasks is None else tasks
    rows = []
    for r in records:
        if r.task not in tasks or r.outcome not in TRAINED:
            continue
        for key, (correct, total) in (r.test_by_distance or {}).items():
            rows.append({"task": r.task, "label": r.label, "distance": r.distance, "seed": r.seed,
                         "bin": log2_bin(int(key)), "correct": int(correct), "total": int(total)})
    columns = ["task", "label", "distance", "bin", "bin_hi", "correct", "total", "accuracy", "seeds"]
    if not rows:
        return pd.DataFrame(columns=columns)
    raw = pd.DataFrame(rows)
    out = raw.groupby(["task", "label", "distance", "bin"], sort=True).agg(
        correct=("correct", "sum"), total=("total", "sum"), seeds=("seed", "nunique")).reset_index()
    out["bin_hi"] = (out["bin"] * 2).clip(lower=1)
    out["accuracy"] = out.correct / out.total.where(out.total > 0)
    return out[columns]


def pick_curve_distance(cells: pd.DataFrame) -> int | None:
    """For one task's :func:`distance_cells`: the distance whose learning curves tell most, i.e. where the
    learners that trained there disagree most (max of min(#solved, #failed) labels), among distances where
    at least half of the labels trained; ties go to the larger distance. None when nothing trained."""
    labels = cells.label.nunique()
    best, best_key = None, None
    for distance, g in cells.groupby("distance", sort=True):
        trained = g[g.ran > 0]
        if len(trained) * 2 < labels or not len(trained):
            continue
        solved = int(trained.majority.sum())
        key = (min(solved, len(trained) - solved), len(trained), distance)
        if best_key is None or key > best_key:
            best, best_key = int(distance), key
    return best
