"""Aggregation behind the report (harness.report.analysis) on small hand-built run records."""

import math

import pandas as pd
import pytest

from harness.report.analysis import (
    distance_cells,
    log2_bin,
    mixed_distance_tasks,
    outcome_counts,
    pick_curve_distance,
    position_breakdown,
    reach_summary,
    reach_table,
)
from harness.store.record import OUTCOMES, RunRecord
from harness.store.table import runs_frame


def rec(distance, seed, outcome, acc=None, *, task="lag", learner="lstm", options=None, by=None):
    """A run record like those train and the ladder write (only the fields analysis reads)."""
    options = options or {}
    label = learner + (f"[{','.join(f'{k}={v}' for k, v in sorted(options.items()))}]" if options else "")
    spec = {"task": task, "distance": distance, "learner": learner, "seed": seed, "learner_options": options,
            "n_layers": 2, "lr": 1e-3, "steps": 100, "solve_threshold": 0.99, "d_model": 16}
    record = {"id": f"{task}-{label}-{distance}-{seed}", "spec": spec, "label": label, "outcome": outcome,
              "stop_reason": "x", "error": "boom" if outcome == "error" else None}
    if outcome in ("solved", "unsolved", "diverged"):
        record.update(test_accuracy=acc if acc is not None else (1.0 if outcome == "solved" else 0.3),
                      baseline_accuracy=0.0625, test_by_distance=by or {str(distance): [10, 10]})
    return RunRecord.from_json(record)


def summary_row(records, task="lag", label="lstm"):
    table = reach_summary(runs_frame(records))
    row = table[(table.task == task) & (table.label == label)]
    assert len(row) == 1
    return row.iloc[0]


def test_reach_needs_a_majority_of_seeds():
    records = [rec(4, s, "solved") for s in (0, 1, 2)]
    records += [rec(8, 0, "solved"), rec(8, 1, "solved"), rec(8, 2, "unsolved")]
    records += [rec(16, 0, "solved"), rec(16, 1, "unsolved"), rec(16, 2, "unsolved")]
    row = summary_row(records)
    assert (row.reach, row.solved_at_reach, row.seeds) == (8, 2, 3)
    assert row.first_failed == 16 and row.max_tested == 16
    assert pd.isna(row.pruned_from)


def test_even_split_is_not_a_majority():
    records = [rec(4, 0, "solved"), rec(4, 1, "unsolved")]
    row = summary_row(records)
    assert row.reach == 0 and row.solved_at_reach == 0 and row.first_failed == 4


def test_missing_seed_counts_as_not_solved():
    # seed 1 has no record at distance 8 (interrupted sweep): 1 of 2 seeds is not a majority
    records = [rec(4, 0, "solved"), rec(4, 1, "solved"), rec(8, 0, "solved")]
    row = summary_row(records)
    assert row.reach == 4 and row.seeds == 2
    cells = distance_cells(runs_frame(records))
    at8 = cells[cells.distance == 8].iloc[0]
    assert at8.status == "partial" and at8.ran == 1 and not at8.majority
    # the compact table used by the console and compare follows the same rule
    table = reach_table(runs_frame(records))
    assert int(table.reach.iloc[0]) == 4 and table.solved_by_distance.iloc[0] == "4:2/2 8:1/2"


def test_pending_rows_are_counted_but_not_run():
    records = [rec(4, 0, "solved"), rec(4, 1, "solved"), rec(8, 0, "solved"), rec(8, 1, "pending")]
    row = summary_row(records)
    assert row.reach == 4 and row.pending == 1
    cells = distance_cells(runs_frame(records))
    at8 = cells[cells.distance == 8].iloc[0]
    assert (at8.solved, at8.pending, at8.ran, at8.status) == (1, 1, 1, "partial")


@pytest.mark.parametrize("bad", ["diverged", "error"])
def test_diverged_and_error_runs_are_failures(bad):
    records = [rec(4, 0, "solved"), rec(4, 1, bad), rec(4, 2, "solved"), rec(8, 0, "solved"), rec(8, 1, bad),
               rec(8, 2, bad)]
    row = summary_row(records)
    assert row.reach == 4 and row.first_failed == 8
    cells = distance_cells(runs_frame(records))
    at8 = cells[cells.distance == 8].iloc[0]
    assert at8[bad] == 2 and at8.ran == 3 and at8.status == "failed"


def test_error_runs_have_no_accuracy_in_the_spread():
    records = [rec(4, 0, "unsolved", 0.5), rec(4, 1, "error")]
    at4 = distance_cells(runs_frame(records)).iloc[0]
    assert at4.acc_mean == pytest.approx(0.5) and at4.acc_min == at4.acc_max == pytest.approx(0.5)


def test_skipped_runs_are_not_failures_at_their_distance():
    records = [rec(4, s, "solved") for s in (0, 1)] + [rec(8, s, "unsolved", 0.2) for s in (0, 1)]
    records += [rec(16, s, "skipped") for s in (0, 1)] + [rec(32, s, "skipped") for s in (0, 1)]
    cells = distance_cells(runs_frame(records))
    at16 = cells[cells.distance == 16].iloc[0]
    assert at16.status == "skipped"
    assert (at16.ran, at16.unsolved, at16.error, at16.diverged, at16.skipped) == (0, 0, 0, 0, 2)
    assert math.isnan(at16.acc_mean)
    row = summary_row(records)
    assert row.reach == 4 and row.first_failed == 8 and row.pruned_from == 16
    assert row.max_tested == 8 and row.max_planned == 32
    # the mean over seeds ignores skipped rows instead of counting them as zeros
    assert cells[cells.distance == 8].iloc[0].acc_mean == pytest.approx(0.2)


def test_reach_is_the_largest_solved_distance_even_after_a_failure():
    records = [rec(4, 0, "solved"), rec(8, 0, "unsolved"), rec(16, 0, "solved")]
    row = summary_row(records)
    assert row.reach == 16 and row.first_failed == 8


def test_groups_are_per_task_and_label():
    records = [rec(4, 0, "solved"), rec(4, 0, "unsolved", learner="transformer", options={"positions": "learned"}),
               rec(16, 0, "solved", task="copy")]
    table = reach_summary(runs_frame(records))
    got = {(r.task, r.label): r.reach for r in table.itertuples()}
    assert got == {("copy", "lstm"): 16, ("lag", "lstm"): 4, ("lag", "transformer[positions=learned]"): 0}


def test_outcome_counts_has_every_outcome():
    counts = outcome_counts(runs_frame([rec(4, 0, "solved"), rec(8, 0, "skipped"), rec(8, 1, "skipped")]))
    assert set(counts) == set(OUTCOMES)
    assert counts["solved"] == 1 and counts["skipped"] == 2 and counts["error"] == 0


@pytest.mark.parametrize("distance, lower", [(1, 1), (2, 2), (3, 2), (4, 4), (7, 4), (8, 8), (1000, 512), (0, 0)])
def test_log2_bin(distance, lower):
    assert log2_bin(distance) == lower


def test_position_breakdown_bins_and_pools_seeds():
    by0 = {"3": [1, 2], "5": [3, 4], "6": [1, 4], "9": [2, 2]}
    by1 = {"2": [0, 2], "4": [4, 4], "12": [0, 2]}
    records = [rec(16, 0, "unsolved", task="recall", by=by0), rec(16, 1, "unsolved", task="recall", by=by1),
               rec(16, 2, "error", task="recall"), rec(16, 3, "skipped", task="recall"),
               rec(4, 0, "solved")]  # lag: one distance per run, not a mixed task
    assert mixed_distance_tasks(records) == ["recall"]
    table = position_breakdown(records)
    assert set(table.task) == {"recall"}
    got = {int(r.bin): (r.correct, r.total, r.seeds, r.bin_hi) for r in table.itertuples()}
    assert got == {2: (1, 4, 2, 4), 4: (8, 12, 2, 8), 8: (2, 4, 2, 16)}
    acc = dict(zip(table["bin"], table.accuracy))
    assert acc[4] == pytest.approx(8 / 12)


def test_position_breakdown_is_empty_without_mixed_tasks():
    table = position_breakdown([rec(4, 0, "solved")])
    assert table.empty and "accuracy" in table.columns


def test_pick_curve_distance_prefers_disagreement():
    records = []
    for label_opts, outcomes in [({}, ("solved", "solved", "unsolved")),
                                 ({"positions": "learned"}, ("solved", "unsolved", "unsolved"))]:
        learner = "transformer" if label_opts else "lstm"
        for d, outcome in zip((4, 8, 16), outcomes):
            records.append(rec(d, 0, outcome, learner=learner, options=label_opts))
    assert pick_curve_distance(distance_cells(runs_frame(records))) == 8


def test_pick_curve_distance_skips_distances_most_learners_did_not_run():
    records = [rec(4, 0, "solved"), rec(4, 0, "solved", learner="gru"), rec(4, 0, "unsolved", learner="rnn"),
               rec(8, 0, "unsolved"), rec(8, 0, "skipped", learner="gru"), rec(8, 0, "skipped", learner="rnn")]
    assert pick_curve_distance(distance_cells(runs_frame(records))) == 4
    assert pick_curve_distance(distance_cells(runs_frame([rec(4, 0, "skipped")]))) is None


def test_runs_frame_accepts_pending_and_skipped_rows():
    frame = runs_frame([rec(4, 0, "pending"), rec(8, 0, "skipped"), rec(2, 0, "solved")])
    assert list(frame.outcome) == ["pending", "skipped", "solved"]
    assert frame.test_accuracy.isna().sum() == 2
