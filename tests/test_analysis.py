"""Aggregation behind the report (harness.report.analysis) on small hand-built run records."""

import math

import pandas as pd
import pytest

from harness.report.analysis import (
    log2_bin,
    mixed_distance_tasks,
    outcome_counts,
    pick_curve_rung,
    position_breakdown,
    reach_summary,
    reach_table,
    rung_cells,
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
    cells = rung_cells(runs_frame(records))
    at8 = cells[cells.rung == 8].iloc[0]
    assert at8.status == "partial" and at8.ran == 1 and not at8.majority
    # the compact table used by the console and compare follows the same rule
    table = reach_table(runs_frame(records))
    assert int(table.reach.iloc[0]) == 4 and table.solved_by_rung.iloc[0] == "4:2/2 8:1/2"


def test_pending_rows_are_counted_but_not_run():
    records = [rec(4, 0, "solved"), rec(4, 1, "solved"), rec(8, 0, "solved"), rec(8, 1, "pending")]
    row = summary_row(records)
    assert row.reach == 4 and row.pending == 1
    cells = rung_cells(runs_frame(records))
    at8 = cells[cells.rung == 8].iloc[0]
    assert (at8.solved, at8.pending, at8.ran, at8.status) == (1, 1, 1, "partial")


@pytest.mark.parametrize("bad", ["diverged", "error"])
def test_diverged_and_error_runs_are_failures(bad):
    records = [rec(4, 0, "solved"), rec(4, 1, bad), rec(4, 2, "solved"), rec(8, 0, "solved"), rec(8, 1, bad),
               rec(8, 2, bad)]
    row = summary_row(records)
    assert row.reach == 4 and row.first_failed == 8
    cells = rung_cells(runs_frame(records))
    at8 = cells[cells.rung == 8].iloc[0]
    assert at8[bad] == 2 and at8.ran == 3 and at8.status == "failed"


def test_error_runs_have_no_accuracy_in_the_spread():
    records = [rec(4, 0, "unsolved", 0.5), rec(4, 1, "error")]
    at4 = rung_cells(runs_frame(records)).iloc[0]
    assert at4.acc_mean == pytest.approx(0.5) and at4.acc_min == at4.acc_max == pytest.approx(0.5)


def test_skipped_runs_are_not_failures_at_their_distance():
    records = [rec(4, s, "solved") for s in (0, 1)] + [rec(8, s, "unsolved", 0.2) for s in (0, 1)]
    records += [rec(16, s, "skipped") for s in (0, 1)] + [rec(32, s, "skipped") for s in (0, 1)]
    cells = rung_cells(runs_frame(records))
    at16 = cells[cells.rung == 16].iloc[0]
    assert at16.status == "skipped"
    assert (at16.ran, at16.unsolved, at16.error, at16.diverged, at16.skipped) == (0, 0, 0, 0, 2)
    assert math.isnan(at16.acc_mean)
    row = summary_row(records)
    assert row.reach == 4 and row.first_failed == 8 and row.pruned_from == 16
    assert row.max_tested == 8 and row.max_planned == 32
    # the mean over seeds ignores skipped rows instead of counting them as zeros
    assert cells[cells.rung == 8].iloc[0].acc_mean == pytest.approx(0.2)


def test_reach_stops_at_the_first_failure_and_reports_what_lies_beyond():
    records = [rec(4, 0, "solved"), rec(8, 0, "unsolved"), rec(16, 0, "solved")]
    row = summary_row(records)
    assert row.reach == 4 and row.first_failed == 8
    assert row.solved_beyond == [16] and row.split == []


def test_a_split_rung_breaks_the_chain_and_is_named():
    # the rotary transformer's recall in the issue: 16 (2/2), 32 (1/2), 64 (2/2): reach 16, not 64
    records = [rec(16, s, "solved") for s in (0, 1)] + [rec(32, 0, "solved"), rec(32, 1, "unsolved")]
    records += [rec(64, s, "solved") for s in (0, 1)]
    row = summary_row(records)
    assert (row.reach, row.solved_at_reach, row.first_failed) == (16, 2, 32)
    assert row.solved_beyond == [64] and row.split == [32]


def test_split_seeds_below_the_reach_are_named():
    records = [rec(4, s, "solved") for s in (0, 1, 2)] + [rec(8, 0, "solved"), rec(8, 1, "solved"),
                                                          rec(8, 2, "unsolved")]
    row = summary_row(records)
    assert row.reach == 8 and row.solved_at_reach == 2 and row.split == [8] and row.solved_beyond == []


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


def test_pick_curve_rung_prefers_disagreement():
    records = []
    for label_opts, outcomes in [({}, ("solved", "solved", "unsolved")),
                                 ({"positions": "learned"}, ("solved", "unsolved", "unsolved"))]:
        learner = "transformer" if label_opts else "lstm"
        for d, outcome in zip((4, 8, 16), outcomes):
            records.append(rec(d, 0, outcome, learner=learner, options=label_opts))
    assert pick_curve_rung(rung_cells(runs_frame(records))) == 8


def test_pick_curve_rung_skips_distances_most_learners_did_not_run():
    records = [rec(4, 0, "solved"), rec(4, 0, "solved", learner="gru"), rec(4, 0, "unsolved", learner="rnn"),
               rec(8, 0, "unsolved"), rec(8, 0, "skipped", learner="gru"), rec(8, 0, "skipped", learner="rnn")]
    assert pick_curve_rung(rung_cells(runs_frame(records))) == 4
    assert pick_curve_rung(rung_cells(runs_frame([rec(4, 0, "skipped")]))) is None


def test_runs_frame_accepts_pending_and_skipped_rows():
    frame = runs_frame([rec(4, 0, "pending"), rec(8, 0, "skipped"), rec(2, 0, "solved")])
    assert list(frame.outcome) == ["pending", "skipped", "solved"]
    assert frame.test_accuracy.isna().sum() == 2


# -- every column of rung_cells, reach_summary and reach_table on one hand-built ladder ---------------------------

# seed -> (outcome, accuracy) per rung of one lstm ladder on lag; a seed missing from a rung has no record there
LADDER = {
    2: {0: ("solved", 1.0), 1: ("solved", 0.995), 2: ("solved", 1.0)},
    4: {0: ("solved", 1.0), 1: ("solved", 0.99), 2: ("unsolved", 0.5)},  # 2/3: a majority, split
    8: {0: ("solved", 0.991), 1: ("unsolved", 0.3), 2: ("diverged", 0.2)},  # 1/3: the first failure
    16: {0: ("solved", 1.0), 1: ("solved", 1.0), 2: ("error", None)},  # 2/3 again, beyond the failure
    32: {0: ("skipped", None), 1: ("skipped", None), 2: ("skipped", None)},
    64: {0: ("solved", 0.999), 2: ("pending", None)},  # one seed ran: partial
    128: {0: ("pending", None), 1: ("pending", None)},
}


def ladder_records():
    """The LADDER records, and a second learner that never trained (pruned from its first rung, where only one of
    its seeds has a record), in an order that is not sorted (the tables must sort)."""
    records = [rec(d, s, outcome, acc) for d, seeds in LADDER.items() for s, (outcome, acc) in seeds.items()]
    records += [rec(4, 0, "skipped", learner="gru")] + [rec(8, s, "skipped", learner="gru") for s in (0, 1)]
    return records[::-1]


def test_rung_cells_every_column():
    cells = rung_cells(runs_frame(ladder_records()))
    nan = float("nan")
    expected = pd.DataFrame([
        # task, label, axis, rung, distance, load, seeds, ran, solved, unsolved, diverged, error, skipped, pending,
        # majority, split, status, acc_mean, acc_min, acc_max
        ("lag", "gru", "distance", 4, 4, 4, 2, 0, 0, 0, 0, 0, 1, 0, False, False, "skipped", nan, nan, nan),
        ("lag", "gru", "distance", 8, 8, 8, 2, 0, 0, 0, 0, 0, 2, 0, False, False, "skipped", nan, nan, nan),
        ("lag", "lstm", "distance", 2, 2, 2, 3, 3, 3, 0, 0, 0, 0, 0, True, False, "solved", 2.995 / 3, 0.995, 1.0),
        ("lag", "lstm", "distance", 4, 4, 4, 3, 3, 2, 1, 0, 0, 0, 0, True, True, "solved", 2.49 / 3, 0.5, 1.0),
        ("lag", "lstm", "distance", 8, 8, 8, 3, 3, 1, 1, 1, 0, 0, 0, False, True, "failed", 1.491 / 3, 0.2, 0.991),
        ("lag", "lstm", "distance", 16, 16, 16, 3, 3, 2, 0, 0, 1, 0, 0, True, True, "solved", 1.0, 1.0, 1.0),
        ("lag", "lstm", "distance", 32, 32, 32, 3, 0, 0, 0, 0, 0, 3, 0, False, False, "skipped", nan, nan, nan),
        ("lag", "lstm", "distance", 64, 64, 64, 3, 1, 1, 0, 0, 0, 0, 1, False, True, "partial", 0.999, 0.999, 0.999),
        ("lag", "lstm", "distance", 128, 128, 128, 3, 0, 0, 0, 0, 0, 0, 2, False, False, "pending", nan, nan, nan),
    ], columns=["task", "label", "axis", "rung", "distance", "load", "seeds", "ran", "solved", "unsolved", "diverged",
                "error", "skipped", "pending", "majority", "split", "status", "acc_mean", "acc_min", "acc_max"])
    expected = expected.astype({"load": "Int64"})
    pd.testing.assert_frame_equal(cells.reset_index(drop=True), expected, check_dtype=False)
    assert str(cells.load.dtype) == "Int64"


def test_reach_summary_every_column():
    table = reach_summary(runs_frame(ladder_records())).set_index("label")
    lstm, gru = table.loc["lstm"], table.loc["gru"]
    assert list(table.columns) == ["task", "axis", "reach", "solved_at_reach", "seeds", "max_tested", "max_planned",
                                   "first_failed", "solved_beyond", "split", "pruned_from", "pending"]
    assert (lstm.task, lstm.axis, lstm.reach, lstm.solved_at_reach, lstm.seeds) == ("lag", "distance", 4, 2, 3)
    assert (lstm.max_tested, lstm.max_planned, lstm.first_failed, lstm.pruned_from, lstm.pending) == (64, 128, 8, 32, 3)
    assert lstm.solved_beyond == [16] and lstm.split == [4, 8]
    assert (gru.reach, gru.solved_at_reach, gru.seeds, gru.max_tested, gru.max_planned) == (0, 0, 2, 0, 8)
    assert pd.isna(gru.first_failed) and gru.pruned_from == 4 and gru.pending == 0
    assert gru.solved_beyond == [] and gru.split == []
    assert str(table.first_failed.dtype) == "Int64" and str(table.pruned_from.dtype) == "Int64"


def test_reach_table_every_column():
    table = reach_table(runs_frame(ladder_records()))
    assert list(table.columns) == ["task", "label", "axis", "reach", "seeds", "max_tested", "solved_by_rung"]
    rows = {r.label: r for r in table.itertuples()}
    assert rows["lstm"].solved_by_rung == "2:3/3 4:2/3 8:1/3 16:2/3 64:1/3"  # rungs where something ran
    assert rows["gru"].solved_by_rung == "" and rows["gru"].reach == 0
    lstm = rows["lstm"]
    assert (lstm.task, lstm.reach, lstm.seeds, lstm.max_tested, lstm.axis) == ("lag", 4, 3, 64, "distance")


def test_reach_is_the_last_rung_when_none_failed():
    records = [rec(d, s, "solved") for d in (4, 8, 16) for s in (0, 1)]
    row = summary_row(records)
    assert (row.reach, row.solved_at_reach, row.max_tested) == (16, 2, 16)
    assert pd.isna(row.first_failed) and row.solved_beyond == [] and row.split == []


def test_a_load_ladder_keeps_its_axis_and_loads():
    from harness.config.suites import Suite

    suite = Suite.from_dict({"name": "loads", "seeds": [0, 1], "defaults": {"steps": 1},
                             "learners": [{"name": "gru"}],
                             "tasks": [{"name": "hold", "distances": [8], "loads": [1, 2, 4]}]}, where="test")
    outcome = {(1, 0): "solved", (1, 1): "solved", (2, 0): "solved", (2, 1): "unsolved", (4, 0): "skipped",
               (4, 1): "skipped"}
    records = [RunRecord.from_json({"id": c.spec.id, "spec": c.spec.to_dict(), "label": c.learner,
                                    "outcome": outcome[(c.rung, c.seed)], "test_accuracy": 1.0})
               for c in suite.plan()]
    frame = runs_frame(records, suite.plan())
    cells = rung_cells(frame)
    assert list(zip(cells.axis, cells.rung, cells.distance, cells.load, cells.status)) == [
        ("load", 1, 8, 1, "solved"), ("load", 2, 8, 2, "failed"), ("load", 4, 8, 4, "skipped")]
    row = reach_summary(frame).iloc[0]
    assert (row.task, row.axis, row.reach, row.first_failed, row.pruned_from) == ("hold[distance=8]", "load", 1, 2, 4)


# -- configurations and the per-position breakdown with a suite's plan ------------------------------------------

def recall_suite():
    """Two recall configurations whose ladders share the run at 16 (an explicit label tells them apart), a second
    recall configuration, a load ladder of hold, and lag."""
    from harness.config.suites import Suite

    return Suite.from_dict({
        "name": "breakdown", "seeds": [0], "defaults": {"steps": 1}, "learners": [{"name": "gru"}],
        "tasks": [{"name": "recall", "distances": [8, 16], "params": {"n_pairs": 2}},
                  {"name": "recall", "distances": [16, 32], "params": {"n_pairs": 2}, "label": "recall-long"},
                  {"name": "recall", "distances": [16], "params": {"n_pairs": 4}},
                  {"name": "hold", "distances": [8], "loads": [1, 2]},
                  {"name": "lag", "distances": [4]}]}, where="test")


def planned(cell, outcome="unsolved", by=None):
    return RunRecord.from_json({"id": cell.spec.id, "spec": cell.spec.to_dict(), "label": cell.learner,
                                "outcome": outcome, "test_accuracy": 0.5, "test_by_distance": by or {"4": [1, 2]}})


def test_configurations_follow_the_plan_distance_ladders_only():
    from harness.report.analysis import configurations

    suite = recall_suite()
    plan = suite.plan()
    records = [planned(c) for c in plan]
    of = configurations(records, plan)
    by_spec = {}
    for c in plan:
        by_spec.setdefault(c.spec.id, set()).add((c.task, c.axis))
    for spec_id, entries in by_spec.items():
        assert sorted(of.get(spec_id, [])) == sorted(t for t, axis in entries if axis == "distance")
    shared = next(c.spec.id for c in plan if c.task == "recall-long" and c.rung == 16)
    assert of[shared] == ["recall[n_pairs=2]", "recall-long"]  # in the plan's order
    load_only = next(c.spec.id for c in plan if c.axis == "load" and c.rung == 2)
    assert load_only not in of
    assert configurations(records, None) == {r.id: [r.task] for r in records}


def test_position_breakdown_with_a_plan():
    suite = recall_suite()
    plan = suite.plan()
    cell = {(c.task, c.rung): c for c in plan}
    two = {"3": [1, 2], "9": [1, 1]}  # exactly two distances: mixed
    records = [
        planned(cell[("recall[n_pairs=2]", 8)], "error"),  # a run that did not train comes first
        planned(cell[("recall[n_pairs=2]", 16)], by={"9": [1, 1], "3": [1, 2], "0": [0, 1]}),  # the shared run
        planned(cell[("recall[n_pairs=4]", 16)], by=two),
        planned(cell[("lag", 4)], by={"4": [3, 4]}),
        RunRecord.from_json({"id": "not-planned", "spec": {"task": "recall", "distance": 64, "learner": "gru"},
                             "label": "gru", "outcome": "solved", "test_by_distance": {"3": [5, 5], "40": [5, 5]}}),
    ]
    assert mixed_distance_tasks(records, plan) == ["recall-long", "recall[n_pairs=2]", "recall[n_pairs=4]"]
    table = position_breakdown(records, plan)
    rows = [(r.task, r.distance, r.bin, r.bin_hi, r.correct, r.total, r.seeds) for r in table.itertuples()]
    assert rows == [("recall-long", 16, 0, 1, 0, 1, 1), ("recall-long", 16, 2, 4, 1, 2, 1),
                    ("recall-long", 16, 8, 16, 1, 1, 1),
                    ("recall[n_pairs=2]", 16, 0, 1, 0, 1, 1), ("recall[n_pairs=2]", 16, 2, 4, 1, 2, 1),
                    ("recall[n_pairs=2]", 16, 8, 16, 1, 1, 1),
                    ("recall[n_pairs=4]", 16, 2, 4, 1, 2, 1), ("recall[n_pairs=4]", 16, 8, 16, 1, 1, 1)]
    assert list(table.accuracy) == [0.0, 0.5, 1.0, 0.0, 0.5, 1.0, 0.5, 1.0]  # a bin of one position has a rate
    # asked for by name: one configuration of the shared run only, and lag although it is not mixed
    chosen = position_breakdown(records, plan, tasks=["recall-long", "lag"])
    assert sorted(set(chosen.task)) == ["lag", "recall-long"]
    assert list(chosen[chosen.task == "lag"].accuracy) == [0.75]
    assert position_breakdown(records, plan, tasks=[]).empty


def test_position_breakdown_rows_are_sorted_whatever_the_order_of_the_records():
    records = [rec(32, 0, "unsolved", task="recall", by={"20": [1, 2], "3": [2, 2]}),
               rec(16, 1, "unsolved", task="recall", by={"9": [0, 1], "2": [1, 1]}),
               rec(16, 0, "unsolved", task="recall", learner="gru", by={"5": [1, 1], "1": [0, 1]})]
    table = position_breakdown(records)
    assert [(r.label, r.distance, r.bin) for r in table.itertuples()] == [
        ("gru", 16, 1), ("gru", 16, 4), ("lstm", 16, 2), ("lstm", 16, 8), ("lstm", 32, 2), ("lstm", 32, 16)]


def curve_cells(rows):
    """Hand-made rung_cells rows: (label, rung, ran, majority)."""
    return pd.DataFrame(rows, columns=["label", "rung", "ran", "majority"])


def test_pick_curve_rung_needs_at_least_half_of_the_labels_to_have_trained():
    # four labels: at 2 all trained and all failed; at 4 exactly half trained and disagree: 4 is the rung
    four = [(lab, 2, 1, False) for lab in "abcd"] + [("a", 4, 1, True), ("b", 4, 1, False), ("c", 4, 0, False),
                                                    ("d", 4, 0, False)]
    assert pick_curve_rung(curve_cells(four)) == 4
    # five labels: two of five trained at 4, fewer than half; it does not count however much they disagree
    five = [(lab, 2, 1, False) for lab in "abcde"] + [("a", 4, 1, True), ("b", 4, 1, False), ("c", 4, 0, False),
                                                     ("d", 4, 0, False), ("e", 4, 0, False)]
    assert pick_curve_rung(curve_cells(five)) == 2
    # a rung too few trained at, below one that counts, is passed over, not the end of the search
    late = [("a", 1, 1, True)] + [(lab, 1, 0, False) for lab in "bcd"] + [(lab, 2, 1, lab == "a") for lab in "abcd"]
    assert pick_curve_rung(curve_cells(late)) == 2


def test_a_run_whose_load_is_unknown_has_no_load():
    # a task reach cannot build here (e.g. a plugin that is not installed): the load is missing, not an error
    cells = rung_cells(runs_frame([rec(4, 0, "solved", task="mypkg.tasks:Gone"), rec(4, 0, "solved")]))
    assert list(cells.task) == ["lag", "mypkg.tasks:Gone"] and cells.load.iloc[0] == 4 and pd.isna(cells.load.iloc[1])
