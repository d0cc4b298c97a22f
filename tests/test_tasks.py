"""Contract tests for every registered task (in the spirit of scikit-learn's check_estimator).

A new task is covered the moment it is added to ``TASKS``; task-specific checks below verify that each target
really is determined by the input ``distance`` positions back.
"""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import TASKS, Adding, Batch, Copy, Hold, Induction, Lag, Recall, SelectiveCopy, Task, TaskParameterError
from tasks.base import MAX_SIZE
from tasks.checks import (
    check_declarations,
    check_deterministic,
    check_rule,
    check_shapes_and_dtypes,
    check_spread,
    check_task,
    check_values_and_distance,
)

DISTANCES = (4, 16, 40)
# Parameters that make each task valid at every distance in DISTANCES.
PARAMS: dict[str, dict] = {"selective-copy": {"n_data": 4}, "recall": {"n_pairs": 4}}
CASES = [(name, d) for name in TASKS for d in DISTANCES]
IDS = [f"{name}-{d}" for name, d in CASES]


def make(name: str, distance: int, **params) -> Task:
    return TASKS[name](distance=distance, **{**PARAMS.get(name, {}), **params})


def sample(task: Task, batch_size: int = 64, seed: int = 0) -> Batch:
    return task.sample(batch_size, torch.Generator().manual_seed(seed))


def same(a: Batch, b: Batch) -> bool:
    return all(torch.equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(Batch))


# -- the interface -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(TASKS))
def test_declares_interface(name):
    cls = TASKS[name]
    assert cls.name == name
    assert cls.summary and "\n" not in cls.summary
    assert cls.kind in ("classification", "regression")
    assert dataclasses.fields(cls)[0].name == "distance"
    task = make(name, 16)
    assert task.seq_len >= task.distance
    if task.kind == "regression":
        assert task.output_size == 1 and task.tolerance > 0
    else:
        assert task.output_size >= 2
    assert (task.input_vocab is None) != (task.n_features is None)
    base = task.baseline()
    assert set(base) == {"accuracy", "loss"} and 0 < base["accuracy"] < 1 and base["loss"] > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.distance = 3
    assert TASKS[name].from_params(**task.params()) == task
    if cls.length_param is not None:
        assert task.seq_len == task.distance + task.params()[cls.length_param]


@pytest.mark.parametrize(("name", "distance"), CASES, ids=IDS)
def test_shapes_and_dtypes(name, distance):
    task = make(name, distance)
    b = sample(task, batch_size=5)
    shape = (5, task.seq_len)
    if task.n_features:
        assert b.inputs.shape == (*shape, task.n_features) and b.inputs.dtype == torch.float32
    else:
        assert b.inputs.shape == shape and b.inputs.dtype == torch.long
    assert b.targets.shape == shape
    assert b.targets.dtype == (torch.float32 if task.kind == "regression" else torch.long)
    assert b.mask.shape == b.loss_mask.shape == b.distance.shape == shape
    assert b.mask.dtype == b.loss_mask.dtype == torch.bool and b.distance.dtype == torch.long
    assert b.mask.any(dim=1).all(), "every sequence has a scored position"


@pytest.mark.parametrize(("name", "distance"), CASES, ids=IDS)
def test_value_ranges_and_distance(name, distance):
    task = make(name, distance)
    b = sample(task, batch_size=128)
    if task.input_vocab is not None:
        assert b.inputs.min() >= 0 and b.inputs.max() < task.input_vocab
    if task.kind == "classification":
        assert b.targets.min() >= 0 and b.targets.max() < task.output_size
        assert (b.targets[~b.mask & ~b.loss_mask] == 0).all(), "unscored targets are filled with 0"
    assert torch.equal(b.distance > 0, b.mask), "distance > 0 exactly at scored positions"
    assert (b.distance[~b.mask] == 0).all()
    positions = torch.arange(task.seq_len).expand_as(b.mask)
    assert (b.distance[b.mask] <= positions[b.mask]).all(), "a dependency lies inside the sequence"
    assert (b.loss_mask | ~b.mask).all(), "scored positions are also loss positions"


def look_back(b: Batch, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, positions - distance + offset) at every scored position: where each answer's source lies."""
    rows, cols = b.mask.nonzero(as_tuple=True)
    return rows, cols - b.distance[rows, cols] + offset


@pytest.mark.parametrize("distance", DISTANCES)
def test_lag_dependency(distance):
    task = make("lag", distance, vocab=5, scored=7)
    b = sample(task)
    assert torch.equal(b.targets[:, distance:], b.inputs[:, :-distance])
    assert b.mask[:, distance:].all() and not b.mask[:, :distance].any()
    assert (b.distance[b.mask] == distance).all()
    rows, src = look_back(b)
    assert torch.equal(b.inputs[rows, src], b.targets[b.mask])


@pytest.mark.parametrize("distance", DISTANCES)
def test_copy_dependency(distance):
    task = make("copy", distance, n_symbols=3, alphabet=5)
    b = sample(task)
    n, answer = 3, distance + 3
    assert task.seq_len == distance + 2 * n
    assert (b.inputs[:, :n] < 5).all()
    assert (b.inputs[:, n:] == task.blank).sum(dim=1).eq(distance - 1 + n).all()
    assert (b.inputs[:, answer - 1] == task.delimiter).all()
    assert (b.targets[:, :answer] == task.blank).all()
    assert torch.equal(b.targets[:, answer:], b.inputs[:, :n])
    assert b.mask[:, answer:].all() and not b.mask[:, :answer].any() and b.loss_mask.all()
    assert (b.distance[b.mask] == answer).all()
    rows, src = look_back(b)
    assert torch.equal(b.inputs[rows, src], b.targets[b.mask])


@pytest.mark.parametrize("distance", (2, 3, *DISTANCES))
def test_adding_dependency(distance):
    task = make("adding", distance)
    b = sample(task, batch_size=256)
    values, markers = b.inputs[..., 0], b.inputs[..., 1]
    half = distance // 2
    assert ((values >= 0) & (values < 1)).all()
    assert (markers[:, :half].sum(dim=1) == 1).all() and (markers[:, half:].sum(dim=1) == 1).all()
    assert ((markers == 0) | (markers == 1)).all()
    torch.testing.assert_close(b.targets[:, -1], (values * markers).sum(dim=1))
    assert (b.targets[:, :-1] == 0).all()
    assert b.mask[:, -1].all() and b.mask.sum() == 256
    first = markers.argmax(dim=1)
    assert torch.equal(b.distance[:, -1], distance - 1 - first)
    rows, src = look_back(b)
    assert (markers[rows, src] == 1).all()


@pytest.mark.parametrize("distance", DISTANCES)
def test_selective_copy_dependency(distance):
    task = make("selective-copy", distance, n_data=4, vocab=6)
    b = sample(task)
    region = b.inputs[:, :distance]
    is_data = region != task.noise
    assert (is_data.sum(dim=1) == 4).all()
    assert (b.inputs[:, distance:] == task.marker).all()
    # the data tokens in order of position are the targets
    assert torch.equal(region[is_data].view(-1, 4), b.targets[:, distance:])
    assert b.mask[:, distance:].all() and not b.mask[:, :distance].any()
    assert torch.equal(b.mask, b.loss_mask)
    rows, src = look_back(b)
    assert (src < distance).all()
    assert torch.equal(b.inputs[rows, src], b.targets[b.mask])
    assert is_data[rows, src].all()


@pytest.mark.parametrize("distance", DISTANCES)
def test_recall_dependency(distance):
    task = make("recall", distance, n_pairs=4, vocab=16)
    b = sample(task, batch_size=256)
    kv = b.inputs[:, :8]
    keys, values = kv[:, 0::2], kv[:, 1::2]
    assert (keys < 8).all() and (values >= 8).all() and (values < 16).all()
    assert (keys.sort(dim=1).values.diff(dim=1) > 0).all(), "keys are distinct"
    queries = b.inputs[:, 8:]
    assert (b.mask[:, :8] == 0).all() and (b.mask.sum(dim=1) == 4).all()
    assert torch.equal(queries != task.filler, b.mask[:, 8:]), "queries exactly at scored positions"
    assert torch.equal(queries[b.mask[:, 8:]].view(-1, 4).sort(dim=1).values, keys.sort(dim=1).values), \
        "each key is queried exactly once"
    rows, src = look_back(b)
    assert (src < 8).all() and (src % 2 == 0).all()
    assert torch.equal(b.inputs[rows, src], b.inputs[b.mask]), "distance points at the queried key"
    assert torch.equal(b.inputs[rows, src + 1], b.targets[b.mask]), "the target is the value after it"
    assert (b.targets[b.mask] >= 8).all()


def test_recall_gaps_follow_power_law():
    task = make("recall", 64, n_pairs=1, vocab=8, alpha=0.5)
    b = sample(task, batch_size=20000)
    offsets = b.mask[:, 2:].float().argmax(dim=1)
    weights = torch.arange(1, 65, dtype=torch.float64) ** -0.5
    expected = weights / weights.sum()
    observed = torch.bincount(offsets, minlength=64).double() / 20000
    assert (observed - expected).abs().max() < 0.01
    # alpha = 1 is uniform
    b = sample(make("recall", 8, n_pairs=1, vocab=8, alpha=1.0), batch_size=16000)
    freq = torch.bincount(b.mask[:, 2:].float().argmax(dim=1), minlength=8) / 16000
    assert (freq - 1 / 8).abs().max() < 0.02


@pytest.mark.parametrize("distance", (2, *DISTANCES))
def test_induction_dependency(distance):
    task = make("induction", distance, vocab=4, prefix=5)
    b = sample(task, batch_size=256)
    trigger = b.inputs == task.trigger
    assert (trigger.sum(dim=1) == 2).all(), "the trigger occurs exactly twice"
    assert torch.equal(trigger & b.mask, b.mask), "the second trigger is the scored position"
    assert (b.mask.sum(dim=1) == 1).all() and (b.distance[b.mask] == distance).all()
    rows, src = look_back(b)
    assert (src < 5).all()
    assert (b.inputs[rows, src] == task.trigger).all()
    assert torch.equal(b.inputs[rows, src + 1], b.targets[b.mask])


def test_induction_gaps_are_uniform_from_min_gap_to_distance():
    task = make("induction", 12, vocab=4, prefix=5, min_gap=3)
    b = sample(task, batch_size=4000)
    gaps = b.distance[b.mask]
    counts = torch.bincount(gaps, minlength=13)[3:]
    assert gaps.min() == 3 and gaps.max() == 12 and (counts - 400).abs().max() < 80  # 10 gaps, 400 each
    rows, src = look_back(b)
    assert (b.inputs[rows, src] == task.trigger).all() and (b.inputs[rows, src + gaps] == task.trigger).all()
    assert torch.equal(b.inputs[rows, src + 1], b.targets[b.mask])
    assert sample(make("induction", 12, vocab=4, prefix=5), batch_size=64).distance.max() == 12  # fixed gap
    with pytest.raises(TaskParameterError, match="min_gap must be 0"):
        make("induction", 12, min_gap=1)
    with pytest.raises(TaskParameterError, match=r"min_gap must be in \[0, 12\]"):
        make("induction", 12, min_gap=13)


@pytest.mark.parametrize(("distance", "n_items"), [(1, 1), (4, 1), (4, 4), (40, 1), (40, 16)])
def test_hold_dependency(distance, n_items):
    task = make("hold", distance, n_items=n_items, alphabet=5)
    b = sample(task, batch_size=256)
    assert task.seq_len == distance + n_items and task.load == n_items
    assert (b.inputs[:, :n_items] < 5).all()
    assert (b.inputs[:, n_items:distance] == task.blank).all() and (b.inputs[:, distance:] == task.cue).all()
    assert torch.equal(b.targets[:, distance:], b.inputs[:, :n_items])
    assert b.mask[:, distance:].all() and not b.mask[:, :distance].any() and torch.equal(b.mask, b.loss_mask)
    assert (b.distance[b.mask] == distance).all(), "every answer lies exactly `distance` after its item"
    rows, src = look_back(b)
    assert torch.equal(b.inputs[rows, src], b.targets[b.mask])


def test_hold_answers_are_uniform_symbols():
    b = sample(make("hold", 8, n_items=2, alphabet=4), batch_size=8000)
    freq = torch.bincount(b.targets[b.mask], minlength=4) / b.mask.sum()
    assert (freq - 0.25).abs().max() < 0.02


@pytest.mark.parametrize(("name", "params", "load"), [
    ("copy", {"n_symbols": 3}, 3), ("copy", {}, 10), ("selective-copy", {"n_data": 5}, 5),
    ("recall", {"n_pairs": 6}, 6), ("lag", {}, 16), ("adding", {}, 2), ("induction", {}, 1), ("hold", {}, 1),
    ("hold", {"n_items": 8}, 8),
])
def test_load_is_the_items_held_across_the_gap(name, params, load):
    task = TASKS[name](distance=16, **params)
    assert type(task.load) is int and task.load == load


# -- determinism -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "distance"), CASES, ids=IDS)
def test_deterministic_under_generator(name, distance):
    task = make(name, distance)
    assert same(sample(task, seed=3), sample(task, seed=3))
    assert not same(sample(task, seed=3), sample(task, seed=4))


@pytest.mark.parametrize("name", list(TASKS))
def test_no_global_rng(name):
    task = make(name, 16)
    torch.manual_seed(0)
    a = sample(task, seed=7)
    torch.manual_seed(1)
    b = sample(task, seed=7)
    assert same(a, b)
    state = torch.get_rng_state()
    sample(task, seed=7)
    assert torch.equal(state, torch.get_rng_state()), "sampling must not touch the global RNG"


@pytest.mark.parametrize("name", list(TASKS))
def test_batches_live_on_the_generators_device_whatever_the_default(name):
    """A GPU run samples with a CUDA generator; every tensor must follow it, never torch's default device. Here
    the default is the meta device, so a tensor created without the generator's device would land there."""
    task = make(name, 16)
    expected = sample(task, batch_size=5, seed=2)
    with torch.device("meta"):
        batch = sample(task, batch_size=5, seed=2)
    for f in dataclasses.fields(batch):
        assert getattr(batch, f.name).device == torch.device("cpu"), f.name
    assert same(batch, expected)


# -- baselines ---------------------------------------------------------------------------------------------------

def test_copy_baseline_is_reference_formula():
    for t in (1, 100, 1000):
        assert TASKS["copy"](distance=t).baseline()["loss"] == pytest.approx(10 * math.log(8) / (t + 20))
    assert TASKS["copy"](distance=1000).baseline()["loss"] == pytest.approx(0.0204, abs=1e-4)
    assert TASKS["copy"](distance=1000).baseline()["accuracy"] == 1 / 8


def test_adding_baseline_is_reference_values():
    base = TASKS["adding"](distance=600).baseline()
    assert base["loss"] == pytest.approx(1 / 6) and base["accuracy"] == pytest.approx(0.0784)


# -- validation --------------------------------------------------------------------------------------------------

COMMON_BAD = [(0, "distance"), (-3, "distance"), (4.5, "distance"), ("8", "distance"), (True, "distance"),
              (MAX_SIZE + 1, "distance")]
SPECIFIC_BAD = [  # (task, parameters, the message after "task '<name>': ")
    ("lag", {"distance": 4, "vocab": 1}, "vocab must be in [2, 65536], got 1"),
    ("lag", {"distance": 4, "scored": 0}, "scored must be in [1, 65536], got 0"),
    ("copy", {"distance": 4, "n_symbols": 0}, "n_symbols must be in [1, 65536], got 0"),
    ("copy", {"distance": 4, "alphabet": 1}, "alphabet must be in [2, 65536], got 1"),
    ("adding", {"distance": 1}, "distance must be in [2, 65536], got 1"),
    ("selective-copy", {"distance": 7, "n_data": 8}, "distance must be in [8, 65536], got 7"),
    ("selective-copy", {"distance": 8, "n_data": 0}, "n_data must be in [1, 65536], got 0"),
    ("selective-copy", {"distance": 8, "vocab": 1}, "vocab must be in [2, 65536], got 1"),
    ("recall", {"distance": 7, "n_pairs": 8}, "distance must be in [8, 65536], got 7"),
    ("recall", {"distance": 40, "vocab": 63}, "vocab must be even (keys and values split it), got 63"),
    ("recall", {"distance": 40, "n_pairs": 33, "vocab": 64}, "n_pairs must be in [1, 32], got 33"),
    ("recall", {"distance": 40, "alpha": 0.0}, "alpha must be in (0, 1], got 0.0"),
    ("recall", {"distance": 40, "alpha": 1.5}, "alpha must be in (0, 1], got 1.5"),
    ("recall", {"distance": 40, "alpha": float("nan")}, "alpha must be a finite number, got nan"),
    ("recall", {"distance": 40, "alpha": "0.1"}, "alpha must be a finite number, got '0.1'"),
    ("induction", {"distance": 1}, "distance must be in [2, 65536], got 1"),
    ("induction", {"distance": 4, "prefix": 0}, "prefix must be in [1, 65536], got 0"),
    ("hold", {"distance": 3, "n_items": 4}, "distance must be in [4, 65536], got 3"),
    ("hold", {"distance": 4, "n_items": 0}, "n_items must be in [1, 65536], got 0"),
    ("hold", {"distance": 4, "alphabet": 1}, "alphabet must be in [2, 65536], got 1"),
]


@pytest.mark.parametrize("name", list(TASKS))
@pytest.mark.parametrize(("value", "param"), COMMON_BAD)
def test_rejects_bad_distance(name, value, param):
    # the message names the task and the parameter at fault (a bare "distance" would match any message that
    # lists the valid keys)
    with pytest.raises(TaskParameterError, match=rf"^task '{name}': {param} must be (an integer|in \[\d+, 65536\]), "
                                                 rf"got {re.escape(repr(value))}$"):
        TASKS[name].from_params(distance=value, **PARAMS.get(name, {}))


@pytest.mark.parametrize(("name", "params", "message"), SPECIFIC_BAD,
                         ids=[f"{n}-{m.split()[0]}-{i}" for i, (n, _, m) in enumerate(SPECIFIC_BAD)])
def test_rejects_bad_parameter(name, params, message):
    with pytest.raises(TaskParameterError, match=f"^{re.escape(f'task {name!r}: {message}')}$"):
        TASKS[name].from_params(**params)


@pytest.mark.parametrize("name", list(TASKS))
def test_from_params_rejects_unknown_and_missing_keys(name):
    valid = ", ".join(f.name for f in dataclasses.fields(TASKS[name]))
    with pytest.raises(TaskParameterError, match=re.escape(f"task '{name}' has no parameter 'distanse' (did you mean "
                                                           f"'distance'?); valid: {valid}")):
        TASKS[name].from_params(distanse=16)
    with pytest.raises(TaskParameterError, match=re.escape(f"task '{name}' needs parameter(s): distance")):
        TASKS[name].from_params()
    with pytest.raises(TaskParameterError, match=re.escape(f"task '{name}': batch_size must be in [1, inf], got 0")):
        make(name, 16).sample(0, torch.Generator())


BOUNDS = [  # (task, parameter, lowest valid value, highest valid value, the other parameters)
    ("lag", "distance", 1, MAX_SIZE, {}), ("lag", "vocab", 2, MAX_SIZE, {"distance": 4}),
    ("lag", "scored", 1, MAX_SIZE, {"distance": 4}),
    ("copy", "distance", 1, MAX_SIZE, {}), ("copy", "n_symbols", 1, MAX_SIZE, {"distance": 4}),
    ("copy", "alphabet", 2, MAX_SIZE, {"distance": 4}),
    ("hold", "n_items", 1, MAX_SIZE, {"distance": MAX_SIZE}), ("hold", "distance", 3, MAX_SIZE, {"n_items": 3}),
    ("hold", "alphabet", 2, MAX_SIZE, {"distance": 4}),
    ("adding", "distance", 2, MAX_SIZE, {}),
    ("selective-copy", "n_data", 1, MAX_SIZE, {"distance": MAX_SIZE}),
    ("selective-copy", "distance", 5, MAX_SIZE, {"n_data": 5}),
    ("selective-copy", "vocab", 2, MAX_SIZE, {"distance": 8, "n_data": 4}),
    ("recall", "vocab", 4, MAX_SIZE, {"distance": 40, "n_pairs": 2}),
    ("recall", "n_pairs", 1, 32, {"distance": 40, "vocab": 64}),  # at most vocab / 2 keys
    ("recall", "distance", 6, MAX_SIZE, {"n_pairs": 6}),
    ("induction", "distance", 2, MAX_SIZE, {}), ("induction", "vocab", 2, MAX_SIZE, {"distance": 4}),
    ("induction", "prefix", 1, MAX_SIZE, {"distance": 4}),
]


@pytest.mark.parametrize(("name", "param", "low", "high", "others"), BOUNDS,
                         ids=[f"{n}-{p}" for n, p, *_ in BOUNDS])
def test_every_size_parameter_has_the_documented_bounds(name, param, low, high, others):
    cls = TASKS[name]
    assert getattr(cls(**{"distance": 16, **others, param: low}), param) == low
    assert getattr(cls(**{"distance": 16, **others, param: high}), param) == high
    for bad in (low - 1, high + 1):
        with pytest.raises(TaskParameterError, match=re.escape(f"task '{name}': {param} must be in [{low}, {high}], "
                                                               f"got {bad}")):
            cls(**{"distance": 16, **others, param: bad})


@pytest.mark.parametrize("name", list(TASKS))
def test_a_batch_of_one(name):
    task = make(name, 16)
    one = sample(task, batch_size=1)
    assert one.inputs.shape[0] == 1 and task.rule(one.samples()[0]) == []


SPREADS = {  # task -> (parameters, [(name, support, p_min)]) as the tasks' docstrings derive them
    "lag": ({"distance": 40}, [("source position", range(32), 1.0)]),
    "copy": ({"distance": 40, "n_symbols": 3}, [("source position", range(3), 1.0)]),
    "hold": ({"distance": 40, "n_items": 2}, [("source position", range(2), 1.0)]),
    # halves of 20 positions in 16 bins: at least 20 // 16 = 1 position per bin
    "adding": ({"distance": 40}, [("first marker bin", range(16), 1 / 20), ("second marker bin", range(16), 1 / 20)]),
    "selective-copy": ({"distance": 40, "n_data": 4}, [("source position bin", range(16), 0.18549375000000012)]),
    "recall": ({"distance": 40, "n_pairs": 4}, [("queried key position", range(0, 8, 2), 1.0),
                                                ("query offset bin", range(16), 0.04747231339986824),
                                                ("key 1 asked before key 0", range(2), 0.43501710526513887)]),
    # the first trigger is uniform on a prefix of 20 positions in 16 bins
    "induction": ({"distance": 40, "prefix": 20}, [("first trigger bin", range(16), 1 / 20)]),
}


@pytest.mark.parametrize("name", list(TASKS))
def test_spread_declarations(name):
    params, expected = SPREADS[name]
    got = [(s.name, s.support, s.p_min) for s in TASKS[name](**params).spread()]
    assert [(n, r) for n, r, _ in got] == [(n, r) for n, r, _ in expected]
    assert [p for *_, p in got] == pytest.approx([p for *_, p in expected], rel=1e-12)


# -- scale -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(TASKS))
def test_large_batch(name):
    task = make(name, 1000)
    b = sample(task, batch_size=256)
    assert b.mask.shape == (256, task.seq_len) and task.seq_len >= 1000


# -- the science checks (tasks.checks): every task passes them, every planted bug fails them -------------------------

@pytest.mark.parametrize("name", list(TASKS))
def test_builtin_tasks_pass_check_task(name):
    check_task(TASKS[name], **PARAMS.get(name, {}))


def test_builtin_tasks_pass_the_rule_at_the_fields_settings():
    """Zoology's MQAR at vocabulary 8,192 (keys by rejection) and Mamba's selective copying at length 4,096."""
    check_rule(TASKS["recall"], 224, n_pairs=16, vocab=8192)
    check_rule(TASKS["recall"], 384, n_pairs=64, vocab=8192)
    check_rule(TASKS["selective-copy"], 4080, n_data=16, vocab=16)


def rows_of(b: Batch) -> torch.Tensor:
    return torch.arange(b.mask.shape[0])


@dataclasses.dataclass(frozen=True)
class InductionTriggerAtZero(Induction):
    """The first trigger always at position 0: each sequence rolled left to its first trigger."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        first = (b.inputs == self.trigger).long().argmax(dim=1, keepdim=True)
        index = (torch.arange(self.seq_len) + first) % self.seq_len
        return Batch(*(t.gather(1, index) for t in (b.inputs, b.targets, b.mask, b.distance, b.loss_mask)))


@dataclasses.dataclass(frozen=True)
class InductionAnswerTwoAfter(Induction):
    """The answer is the token two after the first trigger, not the one right after it."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        first = (b.inputs == self.trigger).long().argmax(dim=1)
        targets = b.targets.clone()
        targets[b.mask] = b.inputs[rows_of(b), first + 2]
        return dataclasses.replace(b, targets=targets)


@dataclasses.dataclass(frozen=True)
class SelectiveCopyDataUpFront(SelectiveCopy):
    """The data tokens always in the first n positions of the noise region."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        d, n = self.distance, self.n_data
        inputs, distance = b.inputs.clone(), b.distance.clone()
        inputs[:, :d] = self.noise
        inputs[:, :n] = b.targets[:, d:]
        distance[:, d:] = d
        return dataclasses.replace(b, inputs=inputs, distance=distance)


@dataclasses.dataclass(frozen=True)
class SelectiveCopyReversed(SelectiveCopy):
    """The data reproduced last to first."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        d, targets, distance = self.distance, b.targets.clone(), b.distance.clone()
        targets[:, d:] = b.targets[:, d:].flip(1)
        sources = torch.arange(d, self.seq_len) - b.distance[:, d:]
        distance[:, d:] = torch.arange(d, self.seq_len) - sources.flip(1)
        return dataclasses.replace(b, targets=targets, distance=distance)


@dataclasses.dataclass(frozen=True)
class AddingFirstMarkerAtZero(Adding):
    """The first marker always at position 0, so the distance is always T - 1."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        half, inputs, distance = self.distance // 2, b.inputs.clone(), b.distance.clone()
        first = b.inputs[:, :half, 1].argmax(dim=1)
        inputs[:, 0, 0] = b.inputs[rows_of(b), first, 0]  # the marked value moves with its marker: same sum
        inputs[:, :half, 1] = 0
        inputs[:, 0, 1] = 1
        distance[:, -1] = self.distance - 1
        return dataclasses.replace(b, inputs=inputs, distance=distance)


@dataclasses.dataclass(frozen=True)
class AddingTCNTypo(Adding):
    """The TCN paper's baseline MSE typo, 0.1767 for 1/6."""

    def baseline(self):
        return {**super().baseline(), "loss": 0.1767}


@dataclasses.dataclass(frozen=True)
class RecallInKeyOrder(Recall):
    """The queries in key order: key i asked at the i-th query position."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        n = self.n_pairs
        queries = b.mask.nonzero()[:, 1].view(batch_size, n)  # increasing positions in each row
        inputs = b.inputs.clone().scatter_(1, queries, b.inputs[:, 0:2 * n:2])
        targets = b.targets.clone().scatter_(1, queries, b.inputs[:, 1:2 * n:2])
        distance = b.distance.clone().scatter_(1, queries, queries - 2 * torch.arange(n))
        return dataclasses.replace(b, inputs=inputs, targets=targets, distance=distance)


@dataclasses.dataclass(frozen=True)
class RecallAnswersTheKeysMirror(Recall):
    """The answer is key + V/2 (a value-looking token), not the value paired with the key."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return dataclasses.replace(b, targets=torch.where(b.mask, b.inputs + self.vocab // 2, b.targets))


@dataclasses.dataclass(frozen=True)
class RecallBaselineOverWholeVocab(Recall):
    """Chance taken over the whole vocabulary, not the V/2 values."""

    def baseline(self):
        return {"accuracy": 1 / self.vocab, "loss": math.log(self.vocab)}


@dataclasses.dataclass(frozen=True)
class LagBaselineOneTooMany(Lag):
    """Chance as 1/(V+1): the bug the old 0.015 tolerance let through at V = 16."""

    def baseline(self):
        return {"accuracy": 1 / (self.vocab + 1), "loss": math.log(self.vocab)}


@dataclasses.dataclass(frozen=True)
class LagLossOneTooMany(Lag):
    def baseline(self):
        return {"accuracy": 1 / self.vocab, "loss": math.log(self.vocab + 1)}


@dataclasses.dataclass(frozen=True)
class LagWrongDistanceAtTheEnd(Lag):
    """One position's distance off by one: the last."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        distance = b.distance.clone()
        distance[:, -1] += 1
        return dataclasses.replace(b, distance=distance)


@dataclasses.dataclass(frozen=True)
class LagWithoutLoad(Lag):
    load = 0


@dataclasses.dataclass(frozen=True)
class CopyReversed(Copy):
    """The symbols reproduced last to first (targets only: the distances still say first to first)."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        answer, targets = self.distance + self.n_symbols, b.targets.clone()
        targets[:, answer:] = b.targets[:, answer:].flip(1)
        return dataclasses.replace(b, targets=targets)


@dataclasses.dataclass(frozen=True)
class CopyLossOverAnswersOnly(Copy):
    """The reference loss covers all T + 2n positions, not the n answers."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return dataclasses.replace(b, loss_mask=b.mask.clone())


@dataclasses.dataclass(frozen=True)
class HoldOneStepShort(Hold):
    """The distance reported one short at every answer."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return dataclasses.replace(b, distance=b.distance - b.mask.long())


@dataclasses.dataclass(frozen=True)
class HoldBaselineWithBlank(Hold):
    """Chance counted over the alphabet plus the blank."""

    def baseline(self):
        return {"accuracy": 1 / (self.alphabet + 1), "loss": math.log(self.alphabet + 1)}


SPREAD = "do not spread over their documented range"
RULE = "breaks the task's rule"
MUTANTS = [
    (InductionTriggerAtZero, 16, {}, f"{SPREAD}: first trigger bin never took"),
    (InductionAnswerTwoAfter, 16, {}, f"{RULE}: target at"),
    (SelectiveCopyDataUpFront, 16, {"n_data": 4}, f"{SPREAD}: source position bin never took"),
    (SelectiveCopyReversed, 16, {"n_data": 4}, f"{RULE}: target at"),
    (AddingFirstMarkerAtZero, 16, {}, f"{SPREAD}: first marker bin never took"),
    (AddingTCNTypo, 16, {}, r"baseline loss \(MSE\) is declared 0.1767"),
    (RecallInKeyOrder, 16, {"n_pairs": 4}, f"{SPREAD}: key 1 asked before key 0 never took"),
    (RecallAnswersTheKeysMirror, 16, {"n_pairs": 4}, f"{RULE}: target at"),
    (RecallBaselineOverWholeVocab, 16, {"n_pairs": 4}, "baseline accuracy is declared 0.015625"),
    (LagBaselineOneTooMany, 16, {}, "baseline accuracy is declared 0.058824"),
    (LagLossOneTooMany, 16, {}, r"baseline loss \(cross-entropy\) is declared 2.8332"),
    (LagWrongDistanceAtTheEnd, 16, {}, rf"{RULE}: dependency \(t - distance\) at 47 is 30, expected 31"),
    (LagWithoutLoad, 16, {}, "load .* must be an int >= 1"),
    (CopyReversed, 16, {"n_symbols": 4}, f"{RULE}: target at 20"),
    (CopyLossOverAnswersOnly, 16, {}, f"{RULE}: loss positions are"),
    (HoldOneStepShort, 16, {"n_items": 2}, rf"{RULE}: dependency \(t - distance\) at 16 is 1, expected 0"),
    (HoldBaselineWithBlank, 16, {}, "baseline accuracy is declared 0.11111"),
]


@pytest.mark.parametrize(("cls", "distance", "params", "message"), MUTANTS, ids=[m[0].__name__ for m in MUTANTS])
def test_check_task_catches_planted_bugs(cls, distance, params, message):
    # the task each mutant breaks passes check_task (test_builtin_tasks_pass_check_task)
    with pytest.raises(AssertionError, match=message):
        check_task(cls, distance=distance, **params)


# -- property-based: every task over its valid parameters follows its rule and the contract -------------------------

def up_to(low: int, span: int) -> st.SearchStrategy[int]:
    return st.integers(low, low + span)


# Each task's parameters over their valid ranges, kept small so that each property runs in a few seconds.
VALID_PARAMS: dict[str, st.SearchStrategy[dict]] = {
    "lag": st.fixed_dictionaries({"distance": up_to(1, 24), "vocab": up_to(2, 40), "scored": up_to(1, 12)}),
    "copy": st.fixed_dictionaries({"distance": up_to(1, 24), "n_symbols": up_to(1, 8), "alphabet": up_to(2, 10)}),
    "hold": up_to(1, 8).flatmap(lambda n: st.fixed_dictionaries(
        {"distance": up_to(n, 24), "n_items": st.just(n), "alphabet": up_to(2, 10)})),
    "adding": st.fixed_dictionaries({"distance": up_to(2, 48)}),
    # distances up to n + 64 reach distinct_uniform's rejection path (distance >= 32 n) for n = 1 and 2
    "selective-copy": up_to(1, 7).flatmap(lambda n: st.fixed_dictionaries(
        {"distance": up_to(n, 64), "n_data": st.just(n), "vocab": up_to(2, 10)})),
    # vocabularies up to 8,192 reach the rejection path for the keys (V/2 >= 32 n)
    "recall": up_to(1, 7).flatmap(lambda n: st.fixed_dictionaries(
        {"distance": up_to(n, 48), "n_pairs": st.just(n), "vocab": st.integers(max(2, n), 4096).map(lambda h: 2 * h),
         "alpha": st.floats(0.01, 1.0)})),
    "induction": up_to(2, 30).flatmap(lambda d: st.fixed_dictionaries(
        {"distance": st.just(d), "vocab": up_to(2, 10), "prefix": up_to(1, 11),
         "min_gap": st.just(0) | st.integers(2, d)})),
}
CONTRACT_AND_RULE = (check_declarations, check_shapes_and_dtypes, check_values_and_distance, check_deterministic,
                     check_rule, check_spread)


def test_every_task_has_a_parameter_strategy():
    assert set(VALID_PARAMS) == set(TASKS)


def rule_and_contract_hold(cls: type[Task], strategy: st.SearchStrategy[dict]) -> int:
    """Run the contract and rule checks on ``cls`` for parameters drawn from ``strategy`` (hypothesis shrinks a
    failure to its smallest parameters, and a failing check raises); the number of parameter sets checked."""
    checked = []

    @settings(max_examples=40, deadline=None, database=None)
    @given(strategy)
    def holds(params):
        params = dict(params)
        distance = params.pop("distance")
        for check in CONTRACT_AND_RULE:
            check(cls, distance, **params)
        checked.append(distance)

    holds()
    return len(checked)


@pytest.mark.parametrize("name", list(TASKS))
def test_rule_and_contract_hold_over_valid_parameters(name):
    # every check passed on every drawn parameter set (a failing one raises), and parameters were drawn
    assert rule_and_contract_hold(TASKS[name], VALID_PARAMS[name]) >= 10


@dataclasses.dataclass(frozen=True)
class SelectiveCopyWithReplacement(SelectiveCopy):
    """Data positions drawn with replacement: two data tokens can land on one position."""

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        d, n = self.distance, self.n_data
        positions = torch.randint(0, d, (batch_size, n), generator=generator).sort(dim=1).values
        inputs = torch.full_like(b.inputs, self.noise).scatter_(1, positions, b.targets[:, d:])
        inputs[:, d:] = self.marker
        distance = b.distance.clone()
        distance[:, d:] = torch.arange(d, self.seq_len) - positions
        return dataclasses.replace(b, inputs=inputs, distance=distance)


def test_the_property_finds_a_bug_at_some_parameters():
    with pytest.raises(AssertionError, match="data tokens among the noise"):
        rule_and_contract_hold(SelectiveCopyWithReplacement, VALID_PARAMS["selective-copy"])
