"""Common checks every task must pass, after scikit-learn's ``check_estimator`` (the twin of learners/checks.py).

``check_task(MyTask, **params)`` runs them all at distances 4, 16 and 40 (pass ``distances=(...)`` or one
``distance=...`` when the task needs others); each ``check_*`` function can also run alone and raises
AssertionError saying what broke. ``params`` are the task's own parameters (everything but the distance).
Use it in your own tests for a task reach does not ship::

    from tasks.checks import check_task
    def test_my_task():
        check_task(MyTask, vocab=32)

What is checked: the declarations (name, summary, kind, a frozen dataclass whose first field is
``distance``, vocabulary xor features, output size, baseline), batch shapes and dtypes, value ranges
(tokens inside the vocabulary, class targets inside the output size), the mask/distance contract (distance
> 0 exactly at scored positions, every dependency inside the sequence, loss positions cover the scored
ones), determinism under the generator passed in, no use of the global RNG, and parameter validation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

import torch

from tasks.base import Batch, Task, TaskParameterError

DISTANCES = (4, 16, 40)
BATCH = 64
KINDS = ("classification", "regression")


def build(cls: type[Task], distance: int, **params: Any) -> Task:
    """``cls.from_params(distance=distance, **params)``; a parameter error becomes an AssertionError that
    says which distance and parameters the task refused (pass others to check_task)."""
    try:
        return cls.from_params(distance=distance, **params)
    except TaskParameterError as exc:
        raise AssertionError(f"{cls.__name__}: cannot build at distance {distance} with {params} ({exc}); "
                             f"pass distances=... or parameters valid there") from None


def sample(task: Task, batch_size: int = BATCH, seed: int = 0) -> Batch:
    return task.sample(batch_size, torch.Generator().manual_seed(seed))


def same(a: Batch, b: Batch) -> bool:
    return all(torch.equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(Batch))


def check_declarations(cls: type[Task], distance: int, **params: Any) -> None:
    """name, summary, kind; a frozen dataclass whose first field is distance; vocab xor features; output size;
    the baseline; from_params round trip; length_param consistent with seq_len."""
    label = cls.name or cls.__name__
    assert cls.name, f"{cls.__name__}: set the class attribute 'name'"
    assert cls.summary and "\n" not in cls.summary, f"{label}: 'summary' must be one non-empty line"
    assert cls.kind in KINDS, f"{label}: kind {cls.kind!r} is not one of {KINDS}"
    assert dataclasses.is_dataclass(cls), f"{label}: a task must be a @dataclass(frozen=True)"
    assert dataclasses.fields(cls)[0].name == "distance", f"{label}: the first field must be 'distance'"
    task = build(cls, distance, **params)
    try:
        task.distance = distance + 1  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError(f"{label}: task objects must be immutable (@dataclass(frozen=True))")
    assert type(task.seq_len) is int and task.seq_len >= task.distance, \
        f"{label}: seq_len {task.seq_len!r} must be an int >= distance {task.distance}"
    if task.kind == "regression":
        assert task.output_size == 1, f"{label}: a regression task has output_size 1, got {task.output_size}"
        assert task.tolerance > 0, f"{label}: a regression task needs a tolerance > 0 (what counts as correct)"
    else:
        assert type(task.output_size) is int and task.output_size >= 2, \
            f"{label}: a classification task needs output_size >= 2, got {task.output_size!r}"
    assert (task.input_vocab is None) != (task.n_features is None), \
        f"{label}: declare exactly one of input_vocab (token inputs) and n_features (float inputs)"
    base = task.baseline()
    assert isinstance(base, dict) and set(base) == {"accuracy", "loss"}, \
        f"{label}: baseline() must return {{'accuracy': ..., 'loss': ...}}, got {base!r}"
    assert 0 <= base["accuracy"] <= 1 and math.isfinite(base["loss"]) and base["loss"] >= 0, \
        f"{label}: baseline accuracy must be in [0, 1] and loss finite and >= 0, got {base}"
    assert cls.from_params(**task.params()) == task, f"{label}: from_params(**task.params()) is not the same task"
    if cls.length_param is not None:
        assert cls.length_param in task.params(), f"{label}: length_param '{cls.length_param}' is not a field"
        assert task.seq_len == task.distance + task.params()[cls.length_param], \
            f"{label}: with length_param '{cls.length_param}', seq_len must be distance + {cls.length_param}"


def check_shapes_and_dtypes(cls: type[Task], distance: int, **params: Any) -> None:
    """inputs [B, L] long (or [B, L, F] float32), targets [B, L] long (float32 for regression), mask, loss_mask
    bool and distance long [B, L]; every sequence has a scored position."""
    task = build(cls, distance, **params)
    label = cls.name
    b = sample(task, batch_size=5)
    shape = (5, task.seq_len)
    assert isinstance(b, Batch), f"{label}: sample() must return a tasks.Batch, got {type(b).__name__}"
    if task.n_features:
        assert tuple(b.inputs.shape) == (*shape, task.n_features) and b.inputs.dtype == torch.float32, \
            f"{label}: inputs are {tuple(b.inputs.shape)} {b.inputs.dtype}, expected {(*shape, task.n_features)} " \
            f"float32"
    else:
        assert tuple(b.inputs.shape) == shape and b.inputs.dtype == torch.long, \
            f"{label}: inputs are {tuple(b.inputs.shape)} {b.inputs.dtype}, expected {shape} int64"
    want = torch.float32 if task.kind == "regression" else torch.long
    assert tuple(b.targets.shape) == shape and b.targets.dtype == want, \
        f"{label}: targets are {tuple(b.targets.shape)} {b.targets.dtype}, expected {shape} {want}"
    for name, dtype in (("mask", torch.bool), ("loss_mask", torch.bool), ("distance", torch.long)):
        t = getattr(b, name)
        assert tuple(t.shape) == shape and t.dtype == dtype, \
            f"{label}: {name} is {tuple(t.shape)} {t.dtype}, expected {shape} {dtype}"
    assert b.mask.any(dim=1).all(), f"{label}: every sequence needs at least one scored position"


def check_values_and_distance(cls: type[Task], distance: int, **params: Any) -> None:
    """Tokens inside the vocabulary, class targets inside the output size, finite values; distance > 0 exactly
    at scored positions (0 elsewhere), every dependency inside the sequence (distance <= position), and the
    loss positions cover the scored ones."""
    task = build(cls, distance, **params)
    label = cls.name
    b = sample(task, batch_size=BATCH)
    if task.input_vocab is not None:
        lo, hi = int(b.inputs.min()), int(b.inputs.max())
        assert lo >= 0 and hi < task.input_vocab, \
            f"{label}: input tokens span [{lo}, {hi}], outside [0, input_vocab={task.input_vocab})"
    else:
        assert torch.isfinite(b.inputs).all(), f"{label}: non-finite input features"
    if task.kind == "classification":
        lo, hi = int(b.targets.min()), int(b.targets.max())
        assert lo >= 0 and hi < task.output_size, \
            f"{label}: targets span [{lo}, {hi}], outside [0, output_size={task.output_size})"
    else:
        assert torch.isfinite(b.targets).all(), f"{label}: non-finite regression targets"
    assert torch.equal(b.distance > 0, b.mask), f"{label}: distance must be > 0 exactly at scored (mask) positions"
    assert (b.distance[~b.mask] == 0).all(), f"{label}: distance must be 0 at unscored positions"
    positions = torch.arange(task.seq_len).expand_as(b.mask)
    assert (b.distance[b.mask] <= positions[b.mask]).all(), \
        f"{label}: a scored position's distance points before the start of the sequence"
    assert (b.loss_mask | ~b.mask).all(), f"{label}: every scored position must also be a loss position"


def check_deterministic(cls: type[Task], distance: int, **params: Any) -> None:
    """The same generator seed gives the same batch; another seed gives another batch."""
    task = build(cls, distance, **params)
    assert same(sample(task, seed=3), sample(task, seed=3)), \
        f"{cls.name}: two samples from generators with the same seed differ (global RNG or other state used?)"
    assert not same(sample(task, seed=3), sample(task, seed=4)), \
        f"{cls.name}: samples from generators with different seeds are identical (is the generator used?)"


def check_no_global_rng(cls: type[Task], distance: int, **params: Any) -> None:
    """Sampling reads only the generator passed in: the global RNG neither changes the batch nor is advanced."""
    task = build(cls, distance, **params)
    state = torch.get_rng_state()
    try:
        torch.manual_seed(0)
        a = sample(task, seed=7)
        torch.manual_seed(1)
        b = sample(task, seed=7)
        assert same(a, b), f"{cls.name}: the batch depends on the global RNG (torch.manual_seed changed it)"
        before = torch.get_rng_state()
        sample(task, seed=7)
        assert torch.equal(before, torch.get_rng_state()), f"{cls.name}: sample() advanced the global RNG"
    finally:
        torch.set_rng_state(state)


def check_rejects_bad_parameters(cls: type[Task], distance: int, **params: Any) -> None:
    """An unknown parameter, distance 0 and batch_size 0 raise TaskParameterError naming the culprit."""
    cases = [("distanse", lambda: cls.from_params(distanse=distance, **params)),
             ("distance", lambda: cls.from_params(distance=0, **params)),
             ("batch_size", lambda: build(cls, distance, **params).sample(0, torch.Generator()))]
    for culprit, call in cases:
        try:
            call()
        except TaskParameterError as exc:
            assert culprit in str(exc), f"{cls.name}: the error for a bad '{culprit}' does not name it: {exc}"
        else:
            raise AssertionError(f"{cls.name}: accepted a bad '{culprit}' without a TaskParameterError")


CHECKS = (check_declarations, check_shapes_and_dtypes, check_values_and_distance, check_deterministic,
          check_no_global_rng, check_rejects_bad_parameters)


def check_task(cls: type[Task], *, distances: Iterable[int] = DISTANCES, **params: Any) -> None:
    """Run every check on ``cls`` built with ``params`` at each of ``distances`` (``distance=k`` as a keyword
    checks that one distance); raises AssertionError at the first failure."""
    if "distance" in params:
        distances = (params.pop("distance"),)
    for distance in distances:
        for check in CHECKS:
            check(cls, distance, **params)
