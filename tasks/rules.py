"""The plain-Python side of a task: one sample as lists (Sample), where dependencies may lie (Spread), and the
small helpers task rules are written with.

A task's ``rule(sample)`` is a reference implementation of its documented layout, read by a person and run by
``tasks.checks.check_rule``: plain lists and loops, no tensors, so it can be checked against the docstring line by
line (the vectorised ``sample`` is what it checks). The rule helpers (scored_as, mismatches, outside) return the
problems they find, an empty list when all is well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One sequence of a :class:`Batch` as plain Python lists, so that a task's rule reads without torch.

    inputs:    L token ids, or L lists of F floats.
    targets:   L class ids, or L floats.
    mask:      L bools, the scored positions.
    distance:  L ints, the dependency distance of each scored position (0 where unscored).
    loss_mask: L bools, the loss positions.
    """

    inputs: list
    targets: list
    mask: list[bool]
    distance: list[int]
    loss_mask: list[bool]

    def scored(self) -> list[int]:
        """The scored positions t, in increasing order."""
        return [t for t, m in enumerate(self.mask) if m]

    def dependencies(self) -> dict[int, int]:
        """{t: t - distance[t]} over the scored positions t, in increasing t: where each answer's dependency lies
        according to the distances the task reports."""
        return {t: t - self.distance[t] for t in self.scored()}

    def sources(self) -> list[int]:
        """The values of ``dependencies()``: the source position of every scored position, in increasing t."""
        return list(self.dependencies().values())


@dataclass(frozen=True)
class Spread:
    """Where one quantity of a task's dependencies may lie, as the task documents it (for ``check_spread``).

    name:    what the quantity is, said in failure messages (e.g. "source position bin").
    values:  its values in one sample, read from the sample's plain lists (like ``Task.rule``).
    support: the documented values: across samples every one occurs, and no other ever does.
    p_min:   a lower bound, derived in the task's docstring, on the probability that one sample shows any given
             value of ``support`` (1 where every sample shows them all). The check draws enough samples for a
             correct task to miss a value with probability < 1e-9, so a small bound costs samples: bin a wide
             range (``bin_of``) rather than declare each position.
    """

    name: str
    values: Callable[[Sample], Iterable[int]]
    support: range
    p_min: float


def scored_as(sample: Sample, expected: Iterable[int], loss_everywhere: bool = False) -> list[str]:
    """For a rule: a problem unless the scored positions are exactly ``expected`` and the loss positions are the
    scored ones (or, with ``loss_everywhere``, every position)."""
    expected = list(expected)
    if sample.scored() != expected:
        return [f"scored positions are {sample.scored()}, expected {expected}"]
    if sample.loss_mask != ([True] * len(sample.mask) if loss_everywhere else sample.mask):
        return [f"loss positions are {[t for t, m in enumerate(sample.loss_mask) if m]}, expected "
                + ("every position" if loss_everywhere else "the scored ones")]
    return []


def mismatches(what: str, got: list | dict, want: dict[int, Any]) -> list[str]:
    """For a rule: one problem per position t of ``want`` where got[t] != want[t]."""
    return [f"{what} at {t} is {got[t]}, expected {v}" for t, v in want.items() if got[t] != v]


def outside(what: str, values: list, size: int) -> list[str]:
    """For a rule: one problem per value outside [0, size)."""
    return [f"{what} {i} is {v}, outside [0, {size})" for i, v in enumerate(values) if not 0 <= v < size]


def n_bins(size: int, most: int = 16) -> int:
    """How many bins ``bin_of`` splits a range of ``size`` values into: ``most``, or one per value if fewer."""
    return min(size, most)


def bin_of(value: int, size: int, most: int = 16) -> int:
    """The bin of ``value`` in [0, size) split into n_bins(size, most) contiguous bins of size // bins or
    size // bins + 1 values each."""
    return value * n_bins(size, most) // size
