"""Each task's rule (``Task.rule``, the plain-Python reference of its layout) on samples broken on purpose: one
problem at a time, so that every condition of the rule is seen to fire alone and to say exactly what is wrong.
(tests/test_tasks.py checks that the rule passes every sample the tasks draw; here it must fail the right ones.)"""

import dataclasses

import pytest
import torch

from tasks import Adding, Copy, Hold, Induction, Lag, Recall, Sample, SelectiveCopy


def draw(task, seed=0):
    return task.sample(1, torch.Generator().manual_seed(seed)).samples()[0]


def edit(sample, **changes):
    """A copy of ``sample`` with {position: value} changes per field (inputs, targets, mask, distance, loss_mask)."""
    fields = {f.name: list(getattr(sample, f.name)) for f in dataclasses.fields(sample)}
    for name, positions in changes.items():
        for t, v in positions.items():
            fields[name][t] = v
    return Sample(**fields)


def test_lag_rule():
    task = Lag(distance=2, vocab=4, scored=3)  # L = 5, scored 2..4
    s = draw(task)
    x = s.inputs
    assert task.rule(s) == []
    assert task.rule(edit(s, inputs={0: 7})) == ["input 0 is 7, outside [0, 4)", f"target at 2 is {x[0]}, expected 7"]
    assert task.rule(edit(s, targets={3: (x[1] + 1) % 4})) == [f"target at 3 is {(x[1] + 1) % 4}, expected {x[1]}"]
    assert task.rule(edit(s, distance={4: 1})) == ["dependency (t - distance) at 4 is 3, expected 2"]
    assert task.rule(edit(s, mask={1: True}, loss_mask={1: True})) == [
        "scored positions are [1, 2, 3, 4], expected [2, 3, 4]"]
    assert task.rule(edit(s, loss_mask={0: True})) == ["loss positions are [0, 2, 3, 4], expected the scored ones"]


def test_copy_rule():
    task = Copy(distance=3, n_symbols=2, alphabet=4)  # L = 7, answers at 5, 6; blank 4, delimiter 5
    s = draw(task)
    x = s.inputs
    assert task.rule(s) == []
    assert task.rule(edit(s, inputs={0: 9})) == ["symbol 0 is 9, outside [0, 4)", f"target at 5 is {x[0]}, expected 9"]
    assert task.rule(edit(s, inputs={2: 0})) == ["input at 2 is 0, expected 4"]
    assert task.rule(edit(s, inputs={4: 4})) == ["input at 4 is 4, expected 5"]  # the delimiter
    assert task.rule(edit(s, targets={1: 0})) == ["target at 1 is 0, expected 4"]
    assert task.rule(edit(s, distance={6: 4})) == ["dependency (t - distance) at 6 is 2, expected 1"]
    assert task.rule(edit(s, loss_mask={0: False})) == [
        "loss positions are [1, 2, 3, 4, 5, 6], expected every position"]


def test_hold_rule():
    task = Hold(distance=4, n_items=2, alphabet=4)  # L = 6, answers at 4, 5; blank 4, cue 5
    s = draw(task)
    x = s.inputs
    assert task.rule(s) == []
    assert task.rule(edit(s, inputs={1: 8})) == ["item 1 is 8, outside [0, 4)", f"target at 5 is {x[1]}, expected 8"]
    assert task.rule(edit(s, inputs={2: 0, 5: 4})) == ["input at 2 is 0, expected 4", "input at 5 is 4, expected 5"]
    assert task.rule(edit(s, targets={4: (x[0] + 1) % 4})) == [f"target at 4 is {(x[0] + 1) % 4}, expected {x[0]}"]
    assert task.rule(edit(s, distance={4: 3})) == ["dependency (t - distance) at 4 is 1, expected 0"]
    assert task.rule(edit(s, mask={5: False}, loss_mask={5: False})) == ["scored positions are [4], expected [4, 5]"]


def test_induction_rule():
    task = Induction(distance=3, vocab=4, prefix=3)  # trigger 4; the first trigger in [0, 3), the second 3 later
    s = draw(task)
    x = s.inputs
    first, second = [t for t, v in enumerate(x) if v == 4]
    assert task.rule(s) == []
    expected = "expected two, 3 apart, the first in [0, 3)"
    other = next(t for t in range(len(x)) if t not in (first, second))
    assert task.rule(edit(s, inputs={other: 4})) == [f"triggers at {sorted([first, second, other])}, {expected}"]
    assert task.rule(edit(s, inputs={second: 0})) == [f"triggers at [{first}], {expected}"]
    moved = edit(s, inputs={second: 0, second - 1: 4})  # two triggers, 2 apart
    assert task.rule(moved) == [f"triggers at [{first}, {second - 1}], {expected}"]
    wrong = (x[first + 1] + 1) % 4
    assert task.rule(edit(s, targets={second: wrong})) == [f"target at {second} is {wrong}, expected {x[first + 1]}"]
    assert task.rule(edit(s, distance={second: 2})) == [
        f"dependency (t - distance) at {second} is {second - 2}, expected {first}"]


def test_induction_rule_with_a_range_of_gaps():
    task = Induction(distance=6, vocab=4, prefix=3, min_gap=2)
    s = draw(task)
    x = s.inputs
    first, second = [t for t, v in enumerate(x) if v == 4]
    assert task.rule(s) == [] and 2 <= second - first <= 6
    assert (first, second) == (0, 3) and len(x) == 9  # seed 0
    far = edit(s, inputs={3: 0, 7: 4}, mask={3: False, 7: True}, loss_mask={3: False, 7: True})  # 7 apart
    assert task.rule(far) == ["triggers at [0, 7], expected two, 2 to 6 apart, the first in [0, 3)"]
    near = edit(s, inputs={3: 0, 1: 4}, mask={3: False, 1: True}, loss_mask={3: False, 1: True})  # 1 apart
    assert task.rule(near) == ["triggers at [0, 1], expected two, 2 to 6 apart, the first in [0, 3)"]
    assert task.rule(edit(s, distance={second: second - first - 1})) == [
        f"dependency (t - distance) at {second} is {first + 1}, expected {first}"]
    assert task.rule(edit(s, mask={second: False}, loss_mask={second: False})) == [
        f"scored positions are [], expected [{second}]"]


def test_induction_rule_the_first_trigger_must_lie_in_the_prefix():
    wide = Induction(distance=3, vocab=4, prefix=4)
    s = next(s for s in (draw(wide, seed) for seed in range(200)) if s.inputs.index(4) == 3)
    assert wide.rule(s) == []
    assert Induction(distance=3, vocab=4, prefix=3).rule(s) == [
        "triggers at [3, 6], expected two, 3 apart, the first in [0, 3)"]
    assert Induction(distance=3, vocab=4, prefix=5).rule(s) == []  # a longer prefix admits it


def test_selective_copy_rule():
    task = SelectiveCopy(distance=6, n_data=2, vocab=4)  # noise 4, marker 5; outputs at 6, 7
    s = draw(task)
    x = s.inputs
    data = [p for p in range(6) if x[p] != 4]
    noise = next(p for p in range(6) if x[p] == 4)
    assert task.rule(s) == []
    assert task.rule(edit(s, inputs={noise: 0})) == ["3 data tokens among the noise, expected 2"]
    assert task.rule(edit(s, inputs={data[0]: 4})) == ["1 data tokens among the noise, expected 2"]
    assert task.rule(edit(s, inputs={data[1]: 5})) == ["data token 1 is 5, outside [0, 4)",
                                                       f"target at 7 is {x[data[1]]}, expected 5"]
    assert task.rule(edit(s, inputs={6: 0})) == ["input at 6 is 0, expected 5"]
    wrong = (x[data[0]] + 1) % 4
    assert task.rule(edit(s, targets={6: wrong})) == [f"target at 6 is {wrong}, expected {x[data[0]]}"]
    assert task.rule(edit(s, distance={7: 7 - data[0]})) == [
        f"dependency (t - distance) at 7 is {data[0]}, expected {data[1]}"]
    assert task.rule(edit(s, mask={7: False}, loss_mask={7: False})) == ["scored positions are [6], expected [6, 7]"]


def test_recall_rule():
    task = Recall(distance=8, n_pairs=2, vocab=8)  # keys in [0, 4), values in [4, 8), filler 8; queries after 4
    s = draw(task)
    x = s.inputs
    keys, values = x[0:4:2], x[1:4:2]
    queries = [t for t in range(4, len(x)) if x[t] != 8]
    asked = [x[t] for t in queries]
    q0 = next(t for t in queries if x[t] == keys[0])  # the query of key 0
    assert task.rule(s) == []
    assert task.rule(edit(s, inputs={1: 1})) == ["value 0 is 1, outside [4, 8)", f"target at {q0} is {values[0]}, "
                                                                                  f"expected 1"]
    assert task.rule(edit(s, inputs={3: 8})) == ["value 1 is 8, outside [4, 8)",
                                                 f"target at {next(t for t in queries if t != q0)} is {values[1]}, "
                                                 f"expected 8"]
    other = next(k for k in range(4) if k not in keys)
    bad_key = edit(s, inputs={0: 5})
    assert task.rule(bad_key) == ["key 0 is 5, outside [0, 4)",
                                  f"queries ask {asked}, not each key of {[5, keys[1]]} once"]
    twice = [keys[0], keys[0]]
    assert task.rule(edit(s, inputs={2: keys[0]})) == [f"keys {twice} are not distinct",
                                                       f"queries ask {asked}, not each key of {twice} once"]
    renamed = edit(s, inputs={0: other, q0: other})  # key 0 renamed consistently: still a valid sample
    assert task.rule(renamed) == []
    wrong = 4 + (values[0] - 3) % 4  # another value
    assert task.rule(edit(s, targets={q0: wrong})) == [f"target at {q0} is {wrong}, expected {values[0]}"]
    assert task.rule(edit(s, distance={q0: q0 - 2})) == [f"dependency (t - distance) at {q0} is 2, expected 0"]
    assert task.rule(edit(s, mask={q0: False}, loss_mask={q0: False}))[0].startswith("scored positions are ")


def test_recall_checks_the_order_of_the_queries_from_two_pairs_on():
    def names(n_pairs):
        return [s.name for s in Recall(distance=8, n_pairs=n_pairs, vocab=8).spread()]

    assert names(1) == ["queried key position", "query offset bin"]
    assert names(2) == names(3) == ["queried key position", "query offset bin", "key 1 asked before key 0"]


def test_adding_rule():
    task = Adding(distance=6)  # halves [0, 3) and [3, 6); the answer at 5
    s = draw(task)
    marked = [t for t, (_, m) in enumerate(s.inputs) if m == 1]
    first, second = marked
    values = [v for v, _ in s.inputs]
    assert task.rule(s) == []
    unmarked = next(t for t in range(6) if t not in marked)
    assert task.rule(edit(s, inputs={unmarked: [1.5, 0.0]})) == [f"value {unmarked} is 1.5, outside [0, 1)"]
    assert task.rule(edit(s, inputs={unmarked: [-0.5, 0.0]})) == [f"value {unmarked} is -0.5, outside [0, 1)"]
    assert task.rule(edit(s, inputs={unmarked: [0.0, 0.0]})) == []  # 0 is inside [0, 1)
    assert task.rule(edit(s, inputs={unmarked: [1.0, 0.0]})) == [f"value {unmarked} is 1.0, outside [0, 1)"]  # 1 is not

    def markers(*at, value=1.0):
        return edit(s, inputs={t: [values[t], value if t in at else 0.0] for t in range(6)})

    expected = "expected two 1s, one in [0, 3) and one in [3, 6)"
    assert task.rule(markers(0, 1, 4)) == [f"markers [1.0, 1.0, 1.0] at [0, 1, 4], {expected}"]
    assert task.rule(markers(0, 1)) == [f"markers [1.0, 1.0] at [0, 1], {expected}"]  # both in the first half
    assert task.rule(markers(3, 4)) == [f"markers [1.0, 1.0] at [3, 4], {expected}"]  # both in the second half
    assert task.rule(markers(0, 3, value=2.0)) == [f"markers [2.0, 2.0] at [0, 3], {expected}"]
    total = values[2] + values[3]
    at_edges = edit(markers(2, 3), targets={5: total}, distance={5: 3})  # the last of the first half, the first of
    assert task.rule(at_edges) == []                                      # the second: valid
    wrong = s.targets[5] + 0.5
    assert task.rule(edit(s, targets={5: wrong})) == [
        f"target {wrong} is not the sum of the marked values, {values[first] + values[second]}"]
    assert task.rule(edit(s, targets={5: s.targets[5] + 1e-7})) == []  # float32 rounding is tolerated
    assert task.rule(edit(s, distance={5: 5 - second})) == [f"dependency (t - distance) at 5 is {second}, "
                                                             f"expected {first}"]
    assert task.rule(edit(s, mask={4: True}, loss_mask={4: True})) == ["scored positions are [4, 5], expected [5]"]


@pytest.mark.parametrize("task", [Lag(distance=2), Copy(distance=2), Hold(distance=3), Adding(distance=4),
                                  SelectiveCopy(distance=8, n_data=2), Recall(distance=8, n_pairs=2),
                                  Induction(distance=3)], ids=lambda t: t.name)
def test_rules_pass_many_samples(task):
    batch = task.sample(64, torch.Generator().manual_seed(1))
    assert [p for s in batch.samples() for p in task.rule(s)] == []
