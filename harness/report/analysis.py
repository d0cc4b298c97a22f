"""Aggregations over run records (pandas). Definitions used everywhere (and printed in the report):

- accuracy: token-level micro accuracy over the task's scored positions, on the test stream.
- solved: test accuracy >= the spec's solve_threshold (0.99 by default).
- reach: the largest tested distance d such that every tested distance up to d is solved by a majority (more
  than half) of the seeds; on a load ladder the same rule over loads gives the capacity.
"""

from __future__ import annotations

import pandas as pd

from harness.config.plan import DISTANCE, Cell
from harness.store.record import OUTCOMES, TRAINED, Outcome, RunRecord


def reach_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (task, label): reach, seeds, max_tested, and "solved_by_rung" ("4:2/2 8:1/2"), compact for consoles
    and compare. Same rule as :func:`reach_summary` (a seed without a result counts as unsolved)."""
    summary = reach_summary(frame)
    cells = rung_cells(frame)
    ran = cells[cells.ran > 0]
    detail = {key: " ".join(f"{r.rung}:{r.solved}/{r.seeds}" for r in g.itertuples())
              for key, g in ran.groupby(["task", "label"], sort=True)}
    out = summary[["task", "label", "axis", "reach", "seeds", "max_tested"]].copy()
    out["solved_by_rung"] = [detail.get((t, lab), "") for t, lab in zip(out.task, out.label)]
    return out


def outcome_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Number of runs per outcome, every outcome of OUTCOMES present (0 when absent)."""
    counts = frame.outcome.value_counts().to_dict() if len(frame) else {}
    return {str(k): int(counts.get(k, 0)) for k in OUTCOMES}


def rung_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, label, rung): how its seeds fared. A rung is a distance, or a load on a load ladder
    (``axis`` says which; the frame's ``rung`` column, see harness.store.table).

    The denominator ``seeds`` is the number of distinct seeds of the (task, label) group over all its rungs
    (skipped and pending rows included), so a seed that never finished counts as not solved, and a rung is
    *solved* when ``solved * 2 > seeds``. Skipped runs (the ladder was pruned: a smaller rung was not solved by
    a majority) are counted apart, never as failures at their own rung.

    Columns: task, label, axis, rung, distance, load, seeds, ran (runs with a record that trained: solved,
    unsolved, diverged, error), solved, unsolved, diverged, error, skipped, pending, majority (bool), split
    (bool: some seeds solved, some did not), status (one of "solved", "failed", "skipped", "pending", "partial":
    some seeds not run and no majority), acc_mean, acc_min, acc_max (test accuracy over runs that trained and
    have one; NaN when none).
    """
    columns = ["task", "label", "axis", "rung", "distance", "load", "seeds", "ran", "solved", "unsolved",
               "diverged", "error", "skipped", "pending", "majority", "split", "status", "acc_mean", "acc_min",
               "acc_max"]
    rows = []
    for (task, label), g in frame.groupby(["task", "label"], sort=True):
        n_seeds = int(g.seed.nunique())
        for rung, gd in g.groupby("rung", sort=True):
            c = gd.outcome.value_counts().to_dict()
            counts = {str(k): int(c.get(k, 0)) for k in OUTCOMES}
            ran = sum(counts[k] for k in (Outcome.SOLVED, Outcome.UNSOLVED, Outcome.DIVERGED, Outcome.ERROR))
            acc = pd.to_numeric(gd[gd.outcome.isin(TRAINED)].test_accuracy, errors="coerce").dropna()
            majority = counts["solved"] * 2 > n_seeds
            if majority:
                status = "solved"
            elif ran == 0:
                status = "pending" if counts["pending"] else "skipped"
            elif ran < n_seeds:
                status = "partial"
            else:
                status = "failed"
            loads = gd["load"].dropna() if "load" in gd else []
            rows.append({"task": task, "label": label, "axis": str(gd.axis.iloc[0]), "rung": int(rung),
                         "distance": int(gd.distance.iloc[0]), "load": int(loads.iloc[0]) if len(loads) else None,
                         "seeds": n_seeds, "ran": ran, **counts, "majority": majority,
                         "split": 0 < counts["solved"] < n_seeds, "status": status,
                         "acc_mean": float(acc.mean()) if len(acc) else float("nan"),
                         "acc_min": float(acc.min()) if len(acc) else float("nan"),
                         "acc_max": float(acc.max()) if len(acc) else float("nan")})
    return pd.DataFrame(rows, columns=columns).astype({"load": "Int64"})


def reach_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (task, label): the reach and what backs it. Built on :func:`rung_cells` (same seed rule).

    reach: the largest tested rung r such that every tested rung up to r is solved by a majority of seeds (0 when
    the first tested rung is not): a rung solved beyond the first failure does not extend it, so one lucky seed
    past a failed rung cannot carry the reach over it. On a load ladder this is the capacity.

    Columns: task, label, axis, reach, solved_at_reach (seeds that solved it), seeds, max_tested (largest rung
    with a run that trained, 0 when none), max_planned, first_failed (smallest rung that was run and not solved by
    a majority, or pd.NA), solved_beyond (rungs above first_failed that a majority solved anyway: against the
    ladder's premise that difficulty grows along it), split (rungs up to the first failure where the seeds
    disagreed, e.g. [16] for 1/2 at 16), pruned_from (smallest rung recorded as skipped, or pd.NA), pending
    (planned runs with no record yet).
    """
    columns = ["task", "label", "axis", "reach", "solved_at_reach", "seeds", "max_tested", "max_planned",
               "first_failed", "solved_beyond", "split", "pruned_from", "pending"]
    cells = rung_cells(frame)
    rows = []
    for (task, label), g in cells.groupby(["task", "label"], sort=True):
        tested = g[g.ran > 0].sort_values("rung")
        failed = tested[~tested.majority]
        first_failed = int(failed.rung.min()) if len(failed) else None
        chain = tested if first_failed is None else tested[tested.rung < first_failed]
        reach = int(chain.rung.max()) if len(chain) else 0
        at_reach = int(chain[chain.rung == reach].solved.iloc[0]) if len(chain) else 0
        beyond = [int(r) for r in tested[tested.majority].rung if first_failed is not None and r > first_failed]
        upto = tested if first_failed is None else tested[tested.rung <= first_failed]
        skipped = g[g.skipped > 0]
        rows.append({"task": task, "label": label, "axis": str(g.axis.iloc[0]), "reach": reach,
                     "solved_at_reach": at_reach, "seeds": int(g.seeds.iloc[0]),
                     "max_tested": int(tested.rung.max()) if len(tested) else 0, "max_planned": int(g.rung.max()),
                     "first_failed": first_failed, "solved_beyond": beyond,
                     "split": [int(r) for r in upto[upto.split].rung],
                     "pruned_from": int(skipped.rung.min()) if len(skipped) else None,
                     "pending": int(g.pending.sum())})
    out = pd.DataFrame(rows, columns=columns)
    # integers or missing (pd.NA), never floats: "pruned from 8", not "8.0" or "nan"
    return out.astype({"first_failed": "Int64", "pruned_from": "Int64"})


def log2_bin(distance: int) -> int:
    """Lower edge of the log2 bin [2^i, 2^(i+1)) holding ``distance`` (>= 1); 0 for distances below 1."""
    d = int(distance)
    return 1 << (d.bit_length() - 1) if d >= 1 else 0


def configurations(records: list[RunRecord], plan: list[Cell] | None) -> dict[str, list[str]]:
    """Run id -> the task configurations (labels) of the distance ladders it belongs to: from the plan, or the
    task's name without one."""
    if plan is None:
        return {r.id: [r.task] for r in records}
    out: dict[str, list[str]] = {}
    for cell in plan:
        if cell.axis == DISTANCE:
            out.setdefault(cell.spec.id, []).append(cell.task)
    return out


def mixed_distance_tasks(records: list[RunRecord], plan: list[Cell] | None = None) -> list[str]:
    """Task configurations whose scored positions carry more than one dependency distance within a run (recall,
    selective-copy): only for those is a per-position breakdown informative. Sorted by label."""
    of = configurations(records, plan)
    tasks = {t for r in records if len(r.test_by_distance or {}) > 1 for t in of.get(r.id, [])}
    return sorted(tasks)


def position_breakdown(records: list[RunRecord], plan: list[Cell] | None = None,
                       tasks: list[str] | None = None) -> pd.DataFrame:
    """Test accuracy by per-position dependency distance, pooled into log2 bins.

    From each record's ``test_by_distance`` ({"distance": [correct, total]}), for the runs that trained
    (solved, unsolved, diverged) of the task configurations ``tasks`` (default: :func:`mixed_distance_tasks`).
    Correct and total are summed over the positions of a bin and over seeds (micro accuracy), per (task, label,
    run distance).

    Columns: task, label, distance (the run's distance parameter), bin (lower edge), bin_hi (exclusive upper
    edge), correct, total, accuracy, seeds.
    """
    tasks = mixed_distance_tasks(records, plan) if tasks is None else tasks
    of = configurations(records, plan)
    rows = []
    for r in records:
        if r.outcome not in TRAINED:
            continue
        for task in of.get(r.id, []):
            if task not in tasks:
                continue
            for key, (correct, total) in (r.test_by_distance or {}).items():
                rows.append({"task": task, "label": r.label, "distance": r.distance, "seed": r.seed,
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


def pick_curve_rung(cells: pd.DataFrame) -> int | None:
    """For one task's :func:`rung_cells`: the rung whose learning curves tell most, i.e. where the learners that
    trained there disagree most (max of min(#solved, #failed) labels), among rungs where at least half of the
    labels trained; ties go to the larger rung. None when nothing trained."""
    labels = cells.label.nunique()
    best, best_key = None, None
    for distance, g in cells.groupby("rung", sort=True):
        trained = g[g.ran > 0]
        if len(trained) * 2 < labels or not len(trained):
            continue
        solved = int(trained.majority.sum())
        key = (min(solved, len(trained) - solved), len(trained), distance)
        if best_key is None or key > best_key:
            best, best_key = int(distance), key
    return best
