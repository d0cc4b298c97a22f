"""Configuration identity and ladders (harness.config.plan): runs group by the whole configuration, never by name
alone; labels show only what differs; load ladders vary the load at one distance; a run two ladders plan runs
once; the ladder prunes along loads as along distances."""

import pytest

from harness.config.plan import DISTANCE, LOAD
from harness.config.suites import Suite
from harness.errors import ReachError
from harness.report.analysis import reach_summary
from harness.run.executors import InProcessExecutor
from harness.run.sweep import Ladder, run_suite
from harness.store.record import RunRecord
from harness.store.table import runs_frame

TINY = {"d_model": 8, "n_layers": 1, "steps": 4, "eval_every": 2, "batch_size": 4, "val_batches": 1,
        "test_batches": 1}


def suite(learners, tasks, **extra):
    return Suite.from_dict({"name": "plan-test", "seeds": [0], "defaults": TINY, "learners": learners,
                            "tasks": tasks, **extra}, where="test")


def test_labels_show_only_what_differs_within_a_name():
    s = suite([{"name": "lstm", "lr": 0.01}, {"name": "lstm", "lr": 0.003}, {"name": "gru"},
               {"name": "transformer", "options": {"positions": "rotary"}}],
              [{"name": "copy", "distances": [4], "params": {"n_symbols": 1}},
               {"name": "copy", "distances": [4], "params": {"n_symbols": 2}}, {"name": "lag", "distances": [4]}])
    cells = s.plan()
    assert sorted({c.learner for c in cells}) == ["gru", "lstm[lr=0.003]", "lstm[lr=0.01]", "transformer"]
    assert sorted({c.task for c in cells}) == ["copy[n_symbols=1]", "copy[n_symbols=2]", "lag"]
    assert {c.spec.label for c in cells if c.spec.learner == "lstm"} == {"lstm[lr=0.003]", "lstm[lr=0.01]"}


def test_a_setting_left_at_the_default_differs_from_one_set_explicitly():
    s = suite([{"name": "lstm"}, {"name": "lstm", "lr": 0.01}], [{"name": "lag", "distances": [4]}],)
    assert sorted({c.learner for c in s.plan()}) == ["lstm[lr=0.003]", "lstm[lr=0.01]"]


def test_explicit_labels_win_and_must_be_unique():
    s = suite([{"name": "lstm", "label": "baseline lstm"}, {"name": "lstm", "lr": 0.01}],
              [{"name": "lag", "distances": [4], "label": "lag-16"}])
    assert {c.learner for c in s.plan()} == {"baseline lstm", "lstm[lr=0.01]"}
    assert {c.task for c in s.plan()} == {"lag-16"}
    with pytest.raises(ReachError, match="same configuration"):
        suite([{"name": "lstm", "label": "x"}, {"name": "gru", "label": "x"}], [{"name": "lag", "distances": [4]}])


def test_two_identical_entries_are_refused():
    with pytest.raises(ReachError, match=r"learners\[0\] and learners\[1\] are the same configuration"):
        suite([{"name": "lstm", "lr": 0.01}, {"name": "lstm", "lr": 0.01}], [{"name": "lag", "distances": [4]}])


def test_labels_do_not_change_run_ids():
    alone = suite([{"name": "lstm", "lr": 0.01}], [{"name": "lag", "distances": [4]}])
    paired = suite([{"name": "lstm", "lr": 0.01}, {"name": "gru"}], [{"name": "lag", "distances": [4]}])
    a = next(c.spec for c in alone.plan())
    b = next(c.spec for c in paired.plan() if c.spec.learner == "lstm")
    assert a.id == b.id and a.label == "lstm" and b.label == "lstm"


def test_load_ladder_varies_the_load_at_one_distance():
    s = suite([{"name": "gru"}], [{"name": "hold", "distances": [4, 8, 16]},
                                  {"name": "hold", "distances": [16], "loads": [1, 2, 4]}])
    cells = s.plan()
    ladder = [c for c in cells if c.axis == LOAD]
    assert {c.task for c in ladder} == {"hold[distance=16]"}
    assert [(c.rung, c.spec.distance, c.spec.task_obj.load) for c in ladder] == [(1, 16, 1), (2, 16, 2), (4, 16, 4)]
    assert {c.task for c in cells if c.axis == DISTANCE} == {"hold"}
    # hold with one item at 16 is on both ladders: one run
    assert len(cells) == 6 and len(s.specs()) == 5


@pytest.mark.parametrize(("entry", "message"), [
    ({"name": "lag", "distances": [8], "loads": [1, 2]}, "no load parameter"),
    ({"name": "hold", "distances": [8, 16], "loads": [1, 2]}, "one fixed distance"),
    ({"name": "hold", "distances": [8], "loads": []}, "'loads' must be a non-empty list"),
    ({"name": "hold", "distances": [8], "loads": [1], "params": {"n_items": 2}}, "drop it from params"),
    ({"name": "hold", "distances": [4], "loads": [1, 8]}, r"at load 8.*distance must be in \[8"),  # 8 items, gap 4
])
def test_bad_load_ladders_are_refused(entry, message):
    with pytest.raises(ReachError, match=message):
        suite([{"name": "gru"}], [entry])


def fake(spec, outcome):
    return RunRecord.from_json({"id": spec.id, "spec": spec.to_dict(), "outcome": outcome})


def test_ladder_prunes_along_the_load_and_keeps_a_shared_run():
    s = suite([{"name": "gru"}], [{"name": "hold", "distances": [8, 16]},
                                  {"name": "hold", "distances": [8], "loads": [1, 2, 4]}])
    cells = s.plan()
    ladder = Ladder(cells, prune=True)
    ready, skip = ladder.plan({}, set())
    # both ladders start with hold(8, 1 item): one run
    assert [(r.distance, r.task_obj.load) for r in ready] == [(8, 1)] and not skip
    done = {ready[0].id: fake(ready[0], "solved")}
    ready, skip = ladder.plan(done, set())
    assert sorted((r.distance, r.task_obj.load) for r in ready) == [(8, 2), (16, 1)]
    two = next(r for r in ready if r.task_obj.load == 2)
    done[two.id] = fake(two, "unsolved")
    ready, skip = ladder.plan(done, {r.id for r in ready if r.id != two.id})
    assert ready == [] and [(s.task_obj.load, axis, at) for s, axis, at in skip] == [(4, LOAD, 2)]
    assert RunRecord.skipped(skip[0][0], 2, LOAD).stop_reason == "failed at a smaller load (2) in every seed"


def test_a_sweep_with_two_lrs_and_two_loads_yields_two_rows_and_two_columns(tmp_path):
    """The issue's done-when: lstm at two learning rates, copy at two values of n_symbols."""
    s = suite([{"name": "lstm", "lr": 0.01}, {"name": "lstm", "lr": 0.003}],
              [{"name": "copy", "distances": [2], "params": {"n_symbols": 1}},
               {"name": "copy", "distances": [2], "params": {"n_symbols": 2}}])
    result = run_suite(s, tmp_path / "out", InProcessExecutor(), "pytest")
    assert len(result.records) == 4
    table = reach_summary(runs_frame(result.records, s.plan()))
    assert sorted(set(table.label)) == ["lstm[lr=0.003]", "lstm[lr=0.01]"]
    assert sorted(set(table.task)) == ["copy[n_symbols=1]", "copy[n_symbols=2]"]
    assert len(table) == 4
    # without the plan (no suite.toml), the same records group by name: the merge the labels prevent
    assert len(reach_summary(runs_frame(result.records))) == 2


def test_runs_frame_counts_a_shared_run_in_both_configurations():
    s = suite([{"name": "gru"}], [{"name": "hold", "distances": [8]}, {"name": "hold", "distances": [8],
                                                                       "loads": [1, 2]}])
    records = [fake(spec, "solved") for spec in s.specs()]
    frame = runs_frame(records, s.plan())
    assert sorted(zip(frame.task, frame.axis, frame.rung, frame.load)) == [
        ("hold", DISTANCE, 8, 1), ("hold[distance=8]", LOAD, 1, 1), ("hold[distance=8]", LOAD, 2, 2)]
    summary = reach_summary(frame).set_index("task")
    assert summary.loc["hold[distance=8]", "reach"] == 2 and summary.loc["hold", "reach"] == 8
