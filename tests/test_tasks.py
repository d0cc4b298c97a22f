"""Contract tests for every registered task (in the spirit of scikit-learn's check_estimator).

A new task is covered the moment it is added to ``TASKS``; task-specific checks below verify that each target
really is determined by the input ``distance`` positions back.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from tasks import TASKS, Batch, Task, TaskParameterError
from tasks.base import MAX_SIZE

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


# -- baselines ---------------------------------------------------------------------------------------------------

def memoryless_estimate(task: Task, n: int = 8192) -> dict[str, float]:
    """Score of the best position-aware predictor that ignores the inputs, estimated by Monte Carlo.

    Per position, the class frequencies of batch A give a majority guess (accuracy, scored on an independent
    batch B) and a distribution whose plug-in entropy estimates the cross-entropy over loss positions.
    """
    a, b = sample(task, n, seed=11), sample(task, n, seed=12)
    size, length = task.output_size, task.seq_len

    def counts(batch: Batch, where: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(length).expand(n, length)
        flat = (pos * size + batch.targets)[where]
        return torch.bincount(flat, minlength=length * size).view(length, size).double()

    majority = counts(a, a.mask).argmax(dim=1)
    pos = torch.arange(length).expand(n, length)
    accuracy = (b.targets == majority[pos])[b.mask].double().mean().item()
    c = counts(a, a.loss_mask)
    p = c / c.sum(dim=1, keepdim=True).clamp(min=1)
    entropy = -(p * p.clamp(min=1e-300).log()).sum(dim=1)
    loss = ((c.sum(dim=1) * entropy).sum() / c.sum()).item()
    return {"accuracy": accuracy, "loss": loss}


@pytest.mark.parametrize("name", [n for n in TASKS if TASKS[n].kind == "classification"])
@pytest.mark.parametrize("distance", (4, 40))
def test_classification_baseline_matches_monte_carlo(name, distance):
    task = make(name, distance)
    expected, measured = task.baseline(), memoryless_estimate(task)
    assert measured["accuracy"] == pytest.approx(expected["accuracy"], abs=0.015)
    assert measured["loss"] == pytest.approx(expected["loss"], rel=0.03, abs=0.005)


def test_copy_baseline_is_reference_formula():
    for t in (1, 100, 1000):
        assert TASKS["copy"](distance=t).baseline()["loss"] == pytest.approx(10 * math.log(8) / (t + 20))
    assert TASKS["copy"](distance=1000).baseline()["loss"] == pytest.approx(0.0204, abs=1e-4)
    assert TASKS["copy"](distance=1000).baseline()["accuracy"] == 1 / 8


@pytest.mark.parametrize("distance", (4, 40))
def test_adding_baseline_matches_monte_carlo(distance):
    task = make("adding", distance)
    b = sample(task, 20000)
    error = b.targets[b.mask] - 1.0
    base = task.baseline()
    assert base["loss"] == pytest.approx(1 / 6) and base["accuracy"] == pytest.approx(0.0784)
    assert (error ** 2).mean().item() == pytest.approx(base["loss"], abs=0.01)
    assert (error.abs() < task.tolerance).double().mean().item() == pytest.approx(base["accuracy"], abs=0.01)


# -- validation --------------------------------------------------------------------------------------------------

COMMON_BAD = [(0, "distance"), (-3, "distance"), (4.5, "distance"), ("8", "distance"), (True, "distance"),
              (MAX_SIZE + 1, "distance")]
SPECIFIC_BAD = [
    ("lag", {"distance": 4, "vocab": 1}, "vocab"),
    ("lag", {"distance": 4, "scored": 0}, "scored"),
    ("copy", {"distance": 4, "n_symbols": 0}, "n_symbols"),
    ("copy", {"distance": 4, "alphabet": 1}, "alphabet"),
    ("adding", {"distance": 1}, "distance"),
    ("selective-copy", {"distance": 7, "n_data": 8}, "distance"),
    ("selective-copy", {"distance": 8, "n_data": 0}, "n_data"),
    ("selective-copy", {"distance": 8, "vocab": 1}, "vocab"),
    ("recall", {"distance": 7, "n_pairs": 8}, "distance"),
    ("recall", {"distance": 40, "vocab": 63}, "vocab"),
    ("recall", {"distance": 40, "n_pairs": 33, "vocab": 64}, "n_pairs"),
    ("recall", {"distance": 40, "alpha": 0.0}, "alpha"),
    ("recall", {"distance": 40, "alpha": 1.5}, "alpha"),
    ("recall", {"distance": 40, "alpha": float("nan")}, "alpha"),
    ("recall", {"distance": 40, "alpha": "0.1"}, "alpha"),
    ("induction", {"distance": 1}, "distance"),
    ("induction", {"distance": 4, "prefix": 0}, "prefix"),
]


@pytest.mark.parametrize("name", list(TASKS))
@pytest.mark.parametrize(("value", "param"), COMMON_BAD)
def test_rejects_bad_distance(name, value, param):
    with pytest.raises(TaskParameterError, match=param):
        TASKS[name].from_params(distance=value, **PARAMS.get(name, {}))


@pytest.mark.parametrize(("name", "params", "param"), SPECIFIC_BAD, ids=[f"{n}-{p}" for n, _, p in SPECIFIC_BAD])
def test_rejects_bad_parameter(name, params, param):
    with pytest.raises(TaskParameterError, match=param):
        TASKS[name].from_params(**params)


@pytest.mark.parametrize("name", list(TASKS))
def test_from_params_rejects_unknown_and_missing_keys(name):
    with pytest.raises(TaskParameterError, match="distanse"):
        TASKS[name].from_params(distanse=16)
    with pytest.raises(TaskParameterError, match="distance"):
        TASKS[name].from_params()
    with pytest.raises(TaskParameterError, match="batch_size"):
        make(name, 16).sample(0, torch.Generator())


# -- scale -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(TASKS))
def test_large_batch(name):
    task = make(name, 1000)
    b = sample(task, batch_size=256)
    assert b.mask.shape == (256, task.seq_len) and task.seq_len >= 1000
