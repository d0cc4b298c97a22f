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
    assert RunRecord.skipped(skip[0][0], 2, LOAD).stop_reason == "not solved by a majority at a smaller load (2)"


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


# -- the ladder's decisions, rung by rung (harness.run.sweep.Ladder) ----------------------------------------------

def cells_of(learner="rnn", task="lag", rungs=(4, 8, 16), seeds=(0, 1), axis=DISTANCE):
    """Cells of one ladder, given in a scrambled order (the ladder must sort its rungs)."""
    from harness.config.plan import Cell
    from harness.config.spec import RunSpec

    out = []
    for rung in sorted(rungs, key=lambda r: (r % 3, -r)):
        for seed in seeds:
            spec = RunSpec(task=task, distance=rung, learner=learner, seed=seed)
            out.append(Cell(task, axis, rung, learner, seed, spec))
    return out


def at(cells, rung, seed=None):
    return [c.spec for c in cells if c.rung == rung and (seed is None or c.seed == seed)]


def ids(specs):
    return sorted(s.id for s in specs)


def test_ladder_starts_with_the_smallest_rung_and_leaves_runs_in_flight_alone():
    cells = cells_of()
    ready, skip = Ladder(cells, prune=True).plan({}, set())
    assert ids(ready) == ids(at(cells, 4)) and skip == []
    running = at(cells, 4, seed=0)[0]
    ready, skip = Ladder(cells, prune=True).plan({}, {running.id})
    assert ids(ready) == ids(at(cells, 4, seed=1)) and skip == []
    # both seeds of 4 in flight: nothing to start, nothing to skip (the next rung waits)
    ready, skip = Ladder(cells, prune=True).plan({}, {s.id for s in at(cells, 4)})
    assert ready == [] and skip == []


@pytest.mark.parametrize("failures", [("unsolved", "unsolved"), ("diverged", "error"), ("error", "unsolved")])
def test_ladder_prunes_every_larger_rung_at_the_first_rung_failed_in_every_seed(failures):
    cells = cells_of(rungs=(4, 8, 16, 32))
    done = {s.id: fake(s, "solved") for s in at(cells, 4)}
    done.update({s.id: fake(s, outcome) for s, outcome in zip(at(cells, 8), failures)})
    ready, skip = Ladder(cells, prune=True).plan(done, set())
    assert ready == []
    assert sorted((s.distance, s.seed, axis, failed) for s, axis, failed in skip) == [
        (16, 0, DISTANCE, 8), (16, 1, DISTANCE, 8), (32, 0, DISTANCE, 8), (32, 1, DISTANCE, 8)]
    # without pruning the same failures stop nothing
    ready, skip = Ladder(cells, prune=False).plan(done, set())
    assert ids(ready) == ids(at(cells, 16) + at(cells, 32)) and skip == []


def test_ladder_waits_for_a_rung_still_running_and_stops_when_one_of_two_seeds_failed():
    cells = cells_of()
    done = {s.id: fake(s, "solved") for s in at(cells, 4)}
    done[at(cells, 8, seed=0)[0].id] = fake(at(cells, 8, seed=0)[0], "unsolved")
    in_flight = {at(cells, 8, seed=1)[0].id}
    ready, skip = Ladder(cells, prune=True).plan(done, in_flight)
    assert ready == [] and skip == []  # 8 is not decided while seed 1 runs
    done[at(cells, 8, seed=1)[0].id] = fake(at(cells, 8, seed=1)[0], "solved")
    ready, skip = Ladder(cells, prune=True).plan(done, set())  # 1 of 2 is no majority: the reach is 4
    assert ready == [] and sorted((s.distance, s.seed, failed) for s, _, failed in skip) == [(16, 0, 8), (16, 1, 8)]


def test_ladder_never_lists_finished_runs_and_prunes_only_what_is_left():
    cells = cells_of(rungs=(4, 8, 16))
    done = {s.id: fake(s, "unsolved") for s in at(cells, 4)}
    done[at(cells, 16, seed=1)[0].id] = fake(at(cells, 16, seed=1)[0], "solved")  # from an earlier session
    ready, skip = Ladder(cells, prune=True).plan(done, set())
    assert ready == []
    assert sorted((s.distance, s.seed, failed) for s, _, failed in skip) == [(8, 0, 4), (8, 1, 4), (16, 0, 4)]
    everything = {c.spec.id: fake(c.spec, "solved") for c in cells}
    assert Ladder(cells, prune=True).plan(everything, set()) == ([], [])
    assert Ladder(cells, prune=False).plan(everything, set()) == ([], [])


def test_ladder_without_pruning_starts_every_rung_at_once():
    cells = cells_of()
    ready, skip = Ladder(cells, prune=False).plan({}, {at(cells, 16, seed=0)[0].id})
    assert ids(ready) == ids([c.spec for c in cells if not (c.rung == 16 and c.seed == 0)]) and skip == []


def test_ladders_of_different_learners_and_tasks_are_independent():
    rnn, tcn = cells_of("rnn"), cells_of("tcn")
    copy = cells_of("rnn", task="copy", rungs=(4, 8))
    done = {s.id: fake(s, "unsolved") for s in at(rnn, 4)} | {s.id: fake(s, "solved") for s in at(tcn, 4)}
    ready, skip = Ladder(rnn + tcn + copy, prune=True).plan(done, set())
    assert ids(ready) == ids(at(tcn, 8) + at(copy, 4))
    assert ids(s for s, _, _ in skip) == ids(at(rnn, 8) + at(rnn, 16))


def test_a_run_two_ladders_share_is_skipped_only_when_both_pruned_it():
    from harness.config.plan import Cell

    distance = cells_of("gru", task="hold", rungs=(4, 8), seeds=(0,))
    shared = at(distance, 8)[0]
    # a load ladder at distance 8 whose load-1 rung is the distance ladder's rung 8
    load = [Cell("hold[distance=8]", LOAD, 1, "gru", 0, shared),
            Cell("hold[distance=8]", LOAD, 2, "gru", 0, shared.replace(task_params={"n_items": 2}))]
    ladder = Ladder(distance + load, prune=True)
    done = {at(distance, 4)[0].id: fake(at(distance, 4)[0], "unsolved")}
    ready, skip = ladder.plan(done, set())
    assert [s.id for s in ready] == [shared.id] and skip == []  # pruned by one ladder, first rung of the other
    ready, skip = ladder.plan(done, {shared.id})
    assert ready == [] and skip == []  # in flight: neither run nor skipped
    done[shared.id] = fake(shared, "unsolved")
    ready, skip = ladder.plan(done, set())
    assert ready == [] and [(s.id, axis, failed) for s, axis, failed in skip] == [(load[1].spec.id, LOAD, 1)]
    # a run that one ladder prunes and the other still waits for (its rung below is not done) is not skipped
    waiting = [Cell("hold[distance=8]", LOAD, 1, "gru", 0, shared.replace(seed=5)),
               Cell("hold[distance=8]", LOAD, 2, "gru", 0, at(distance, 8)[0])]
    ready, skip = Ladder(distance + waiting, prune=True).plan({at(distance, 4)[0].id: done[at(distance, 4)[0].id]},
                                                             set())
    assert [s.id for s in ready] == [shared.replace(seed=5).id] and skip == []
