"""The Task interface: a validated, immutable parameter object that samples batches.

``TASKS[name](distance=..., **params)`` validates its parameters in ``__post_init__`` and raises
``TaskParameterError`` (a ValueError) naming the parameter and its allowed range. ``sample(batch_size,
generator)`` returns a :class:`Batch` built by vectorised torch code driven only by ``generator``: never the
global RNG, never a Python loop over positions.

A task states:

- ``kind``: "classification" (targets are class ids, scored by accuracy) or "regression" (float targets,
  scored by MSE; "accuracy" is then the fraction of scored positions with |error| < ``tolerance``).
- ``input_vocab`` (token inputs) or ``n_features`` (float inputs [B, L, F]); ``output_size``: number of
  classes, or 1 for regression.
- ``seq_len``: the length of every sequence it samples.
- ``baseline()``: the memoryless baseline, the best score of a predictor that ignores the dependency, as a
  dict {"accuracy": ..., "loss": ...} in the units the harness reports (accuracy over scored positions;
  loss = cross-entropy in nats per loss position, or MSE).
- ``load``: the memory load of its samples, the number of items (int >= 1) that must be held at once across the
  gap. Distance and load are the two axes of difficulty; a study that raises one holds the other fixed.
- ``rule(sample)``: the task's rule as a reference in plain Python, checking one :class:`Sample` (lists, not
  tensors): the layout, every scored target, and that the input each scored position t depends on lies exactly
  at t - distance[t]. Returns the problems found (empty when the sample follows the rule).
- ``spread()``: where its dependencies may lie, as :class:`Spread` declarations (e.g. the source positions over
  their documented range), each with a proven lower bound on how often a sample shows each value.
- ``scaled(factor)``: the same task with its sequence ``factor`` times as long and its load unchanged, for scoring
  a trained learner past its training length (the default stretches every length; a task overrides it where its
  length is free of its difficulty in another way, or raises TaskParameterError where it cannot scale).

``tasks.checks.check_task`` verifies all of these by sampling, with stated false-alarm rates.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from tasks.rules import Sample, Spread


class TaskParameterError(ValueError):
    """A task parameter that is unknown or outside its allowed range."""


# Upper bound on every size parameter (distances, vocabularies, counts): one sample stays small in memory, and a
# typo such as distance=10**9 fails at construction instead of exhausting memory in sample().
MAX_SIZE = 65536


@dataclass(frozen=True)
class Batch:
    """One sampled batch.

    inputs:    [B, L] long token ids, or [B, L, F] float features.
    targets:   [B, L] long class ids, or [B, L] float values.
    mask:      [B, L] bool, the scored positions (accuracy and test metrics are computed here only).
    distance:  [B, L] long, the dependency distance of each scored position (0 where unscored).
    loss_mask: [B, L] bool, the positions the training loss covers (the scored ones unless a task's
               reference loss covers more, e.g. the copy task's cross-entropy over all positions).
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    distance: torch.Tensor
    loss_mask: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device) for t in (self.inputs, self.targets, self.mask, self.distance, self.loss_mask)))

    def samples(self) -> list[Sample]:
        """The B sequences as plain-Python :class:`Sample` s (for ``Task.rule`` and ``Spread.values``)."""
        fields = [getattr(self, f.name).tolist() for f in dataclasses.fields(self)]
        return [Sample(*row) for row in zip(*fields)]


def check_range(task: str, name: str, value: Any, low: float | None = None, high: float | None = None,
                kind: type = int) -> None:
    """Raise TaskParameterError unless low <= value <= high (either bound may be None)."""
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TaskParameterError(f"task '{task}': {name} must be an integer, got {value!r}")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
        raise TaskParameterError(f"task '{task}': {name} must be a finite number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise TaskParameterError(f"task '{task}': {name} must be in [{lo}, {hi}], got {value}")


@dataclass(frozen=True)
class Task:
    """Base class; subclasses are frozen dataclasses whose first field is ``distance``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line for `run.py list`
    kind: ClassVar[str] = "classification"

    distance: int
    # regression: |error| below this counts as correct. Declared after `distance` so that a subclass may make it a
    # field with a default (adding does): dataclasses keep a ClassVar's place in the field order.
    tolerance: ClassVar[float] = 0.0

    @classmethod
    def from_params(cls, **params: Any) -> Task:
        """Construct from a dict; an unknown key raises TaskParameterError naming the nearest valid one."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in params:
            if key not in names:
                near = difflib.get_close_matches(key, names, n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                raise TaskParameterError(
                    f"task '{cls.name}' has no parameter '{key}'{hint}; valid: {', '.join(names)}"
                )
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in params
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise TaskParameterError(f"task '{cls.name}' needs parameter(s): {', '.join(missing)}")
        return cls(**params)

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # -- declared by subclasses ------------------------------------------------------------------------------
    input_vocab: ClassVar[int | None] = None  # overridden as a property where it depends on parameters
    n_features: ClassVar[int | None] = None
    # The parameter p with seq_len == distance + p, for tasks whose length is free (the harness's --seq-len
    # sets it); None where the length is fixed by the distance and the task's other parameters.
    length_param: ClassVar[str | None] = None
    # The parameter that sets the memory load (load == that parameter), for tasks whose load is free of the
    # distance; a suite's load ladder varies it. None where the load is fixed (adding, induction) or is the
    # distance itself (lag).
    load_param: ClassVar[str | None] = None

    @property
    def seq_len(self) -> int:
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        raise NotImplementedError

    def baseline(self) -> dict[str, float]:
        raise NotImplementedError

    @property
    def load(self) -> int:
        """Items that must be held at once across the gap (>= 1)."""
        raise NotImplementedError

    def rule(self, sample: Sample) -> list[str]:
        """The problems found in one sample (empty when it follows the task's documented rule)."""
        raise NotImplementedError

    def spread(self) -> list[Spread]:
        """Where the dependencies may lie (see :class:`Spread`)."""
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def scaled(self, factor: int) -> Task:
        """This task with its sequence ``factor`` times as long and the same load, vocabulary and outputs: what a
        model trained on this task is scored on ``factor`` times past its training length.

        Default: every length is stretched, the distance and (where the length is free) ``length_param`` both
        times ``factor``, every other parameter kept; so hold's distance grows with its length while its items
        stay, and induction's gap and prefix grow together. Raises TaskParameterError when factor is not an int
        >= 1, when a stretched parameter leaves its range, or when the load would change with the length (a
        task whose load is its distance must override this or cannot scale).
        """
        check_range(self.name, "factor", factor, 1, MAX_SIZE)
        changes = {"distance": self.distance * factor}
        if self.length_param is not None:
            changes[self.length_param] = getattr(self, self.length_param) * factor
        task = dataclasses.replace(self, **changes)
        try:
            same_load = task.load == self.load
        except NotImplementedError:
            raise TaskParameterError(f"task '{self.name}' cannot be scaled: it declares no load, so that the load "
                                     f"stays fixed cannot be checked") from None
        if not same_load:
            raise TaskParameterError(f"task '{self.name}' cannot be scaled: its load ({self.load}) would grow with "
                                     f"its length (to {task.load})")
        return task
