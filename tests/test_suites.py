"""Suites: every built-in loads through the TOML path, round-trips, and keeps the promises the README makes."""

import re
import tomllib

import pytest

from harness.config.builtin import BUILTIN_SUITES
from harness.config.suites import Suite, load_suite
from harness.errors import ReachError
from learners import LEARNERS
from learners.attention import POSITIONS


@pytest.mark.parametrize("name", list(BUILTIN_SUITES))
def test_builtin_suite_loads_and_round_trips_through_toml(name, tmp_path):
    suite = load_suite(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(suite.to_toml())
    again = load_suite(str(path))
    assert [s.id for s in again.specs()] == [s.id for s in suite.specs()]
    assert tomllib.loads(path.read_text())["name"] == name


def test_smoke_and_long_range_cover_every_learner():
    for name in ("smoke", "long-range"):
        suite = load_suite(name)
        assert {entry["name"] for entry in suite.learners} == set(LEARNERS), name
    long_range = load_suite("long-range")
    assert {t["name"] for t in long_range.tasks} == {"hold"}
    assert {t["name"] for t in load_suite("selection").tasks} == {"selective-copy"}
    cells = long_range.plan()
    # the constant-load ladder: one item over a doubling distance to at least 256; the load ladder: 1..16 items
    one_item = sorted({c.rung for c in cells if c.task == "hold"})
    assert all(c.spec.task_obj.load == 1 for c in cells if c.task == "hold")
    assert one_item[-1] >= 256 and all(b == 2 * a for a, b in zip(one_item, one_item[1:]))
    assert sorted({c.rung for c in cells if c.axis == "load"}) == [1, 2, 4, 8, 16]
    assert len({c.spec.distance for c in cells if c.axis == "load"}) == 1
    assert len(long_range.seeds) >= 2 and long_range.prune and long_range.probes
    # validation and test streams as large as at 32 sequences per batch
    specs = long_range.specs()
    assert {(s.batch_size * s.val_batches, s.batch_size * s.test_batches) for s in specs} == {(128, 256)}
    # full and local attention with the same positions: they differ in their window alone
    positions = {e.get("options", {}).get("positions") for e in long_range.learners
                 if e["name"] in ("transformer", "local-attention")}
    assert positions == {"rotary"}
    for name in ("copy", "selection", "recall"):  # position schemes are compared where the data move
        topic = {e.get("options", {}).get("positions") for e in load_suite(name).learners if e["name"] == "transformer"}
        assert {"sinusoidal", "rotary", "relative"} <= topic, name


def test_extrapolation_covers_every_learner_and_position_scheme():
    suite = load_suite("extrapolation")
    assert {entry["name"] for entry in suite.learners} == set(LEARNERS)
    schemes = {e["options"]["positions"] for e in suite.learners if e["name"] == "transformer"}
    assert schemes == set(POSITIONS)
    assert [e["lr"] for e in suite.learners if e.get("options", {}).get("positions") == "alibi"] == \
        [e["lr"] for e in suite.learners if e["name"] == "transformer" and e["options"]["positions"] == "rotary"]
    specs = suite.specs()
    assert len(suite.seeds) == 3 and len(specs) == 3 * 2 * len(suite.learners)
    assert {s.schedule for s in specs} == {"constant"}
    assert {tuple(s.length_factors) for s in specs} == {(1, 2, 4, 8, 16)}
    tasks = {s.task: s.task_obj for s in specs}
    assert tasks["induction"].vocab == 16 and tasks["induction"].seq_len == 32 and tasks["induction"].min_gap == 2
    assert tasks["hold"].load == 1 and tasks["hold"].scaled(16).load == 1 and tasks["hold"].scaled(16).distance == 512


def test_overrides_filter_and_replace():
    suite = load_suite("long-range").override(seeds=[3], learners=["tcn"], tasks=["lag"], distances=[4, 8],
                                              steps=10)
    specs = suite.specs()
    assert {(s.learner, s.task, s.distance, s.seed, s.steps) for s in specs} == {
        ("tcn", "lag", 4, 3, 10), ("tcn", "lag", 8, 3, 10)}
    with pytest.raises(ReachError, match=re.escape("task(s) adding are not in suite 'long-range'; add --distances")):
        load_suite("long-range").override(tasks=["adding"])


@pytest.mark.parametrize("data,message", [
    ({"name": "x", "learnerz": []}, "test: unknown key 'learnerz' (did you mean 'learners'?)"),
    ({"name": "x", "learners": [{"name": "tcn", "lrr": 1}], "tasks": [{"name": "lag", "distances": [4]}]},
     "test learners[0]: unknown key 'lrr' (did you mean 'lr'?)"),
    ({"name": "x", "learners": [{"name": "tcn"}], "tasks": [{"name": "lag", "distances": []}]},
     "test tasks[0] (lag): 'distances' must be a non-empty list of integers >= 1"),
    ({"name": "x", "learners": [{"name": "tcn"}], "tasks": [{"name": "lag", "distances": [4]}],
      "probes": {"gradiant": {}}}, "test: unknown probe 'gradiant' (did you mean 'gradient'?)"),
    ({"name": "x", "seeds": [-1], "learners": [{"name": "tcn"}]},
     "test: 'seeds' must be a non-empty list of integers >= 0"),
])
def test_malformed_suites_are_rejected_naming_the_problem(data, message):
    with pytest.raises(ReachError, match=f"^{re.escape(message)}"):
        Suite.from_dict(data, where="test")
