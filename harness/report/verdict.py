"""The verdict: which limit binds each learner, with the numbers that show it — the first thing the report says.

Each learner's standing on the main study's two ladders — the *constant-load ladder* (the distance ladder whose
every run holds one item, distance its only difficulty) and the *load ladder* (a task configuration whose axis is
the load, capacity its only difficulty) — and, at each ladder's first failed rung, the limit the evidence there
supports (harness.report.evidence: receptive field, the training budget, seed-dependent optimisation, gradient
decay along the path, capacity of a fixed-size state, or undetermined at this budget). A learner that solves every
rung of a ladder meets no limit within it. Nothing here reads a learner's family to decide a limit: the family
only groups the sentences. Without the two ladders (a suite of other tasks) the verdict says so and the report falls
back on its per-task findings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from harness.config.plan import DISTANCE, LOAD
from harness.report.evidence import GRADIENT_FLOOR, NONE, UNDETERMINED, LadderEvidence
from harness.report.structure import Structure

FAMILY_ORDER = ("recurrent", "linear-recurrent", "convolutional", "attention", "other")


@dataclass(frozen=True)
class LearnerLimit:
    """One learner configuration's standing on the two ladders, and the limit each one shows."""

    label: str
    family: str
    path: str  # Table 1's maximum path length, e.g. "O(n)"
    reach: int | None  # on the constant-load ladder (None: not on it)
    top: int | None  # the ladder's largest distance
    first_failed: int | None
    capacity: int | None  # on the load ladder
    max_load: int | None
    load_distance: int | None
    split: list[int] = field(default_factory=list)  # rungs where the seeds disagreed, up to the first failure
    distance: LadderEvidence | None = None  # the evidence at the constant-load ladder's first failed rung
    load: LadderEvidence | None = None  # ... and at the load ladder's
    load_failed: int | None = None

    @property
    def distance_limit(self) -> str | None:
        """The limit on the constant-load ladder (None: not on it)."""
        return _limit(self.reach, self.first_failed, self.distance)

    @property
    def load_limit(self) -> str | None:
        return _limit(self.capacity, self.load_failed, self.load)


def _limit(reach: int | None, failed: int | None, evidence: LadderEvidence | None) -> str | None:
    if reach is None:
        return None
    if failed is None:
        return NONE
    return evidence.limit if evidence is not None else UNDETERMINED


@dataclass(frozen=True)
class FamilyVerdict:
    """The learners of one family (Table 1's row) with their limits."""

    family: str
    path: str
    learners: list[LearnerLimit]
    floor: float = GRADIENT_FLOOR  # the gradient ratio below which decay can be named


@dataclass(frozen=True)
class Verdict:
    ladder: str | None  # the constant-load ladder's task configuration
    load_ladder: str | None
    families: list[FamilyVerdict]
    learners: list[LearnerLimit]
    floor: float = GRADIENT_FLOOR


def constant_load_ladder(frame: pd.DataFrame) -> str | None:
    """The distance ladder (three rungs or more) whose every run holds one item: distance its only difficulty."""
    for task, g in frame[frame.axis == DISTANCE].groupby("task", sort=True):
        loads = g["load"].dropna().unique()
        if len(loads) == 1 and int(loads[0]) == 1 and g.rung.nunique() >= 3:
            return task
    return None


def load_ladder(frame: pd.DataFrame) -> str | None:
    tasks = sorted(frame[frame.axis == LOAD].task.unique())
    return tasks[0] if tasks else None


def _int(value: object) -> int | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value) \
        else int(value)


def learner_limit(label: str, structure: Structure, reach: pd.Series | None, capacity: pd.Series | None,
                  evidence: dict[tuple[str, str], LadderEvidence], ladder: str | None,
                  loads: str | None) -> LearnerLimit:
    """One learner's standing from its rows of reach_summary on the two ladders (either may be None) and the
    evidence at their first failed rungs."""
    return LearnerLimit(
        label=label, family=structure.family.get(label, "other"),
        path=structure.theory.get(label, {}).get("max_path_length", "?"),
        reach=_int(reach.reach) if reach is not None else None,
        top=_int(reach.max_planned) if reach is not None else None,
        first_failed=_int(reach.first_failed) if reach is not None else None,
        capacity=_int(capacity.reach) if capacity is not None else None,
        max_load=_int(capacity.max_planned) if capacity is not None else None,
        load_distance=_int(capacity.distance) if capacity is not None else None,
        split=list(reach.split) if reach is not None else [],
        distance=evidence.get((ladder, label)) if reach is not None else None,
        load=evidence.get((loads, label)) if capacity is not None else None,
        load_failed=_int(capacity.first_failed) if capacity is not None else None)


def verdict(frame: pd.DataFrame, summary: pd.DataFrame, structure: Structure, order: list[str],
            evidence: dict[tuple[str, str], LadderEvidence]) -> Verdict:
    """The verdict of a sweep: ``summary`` is reach_summary of ``frame``; ``evidence`` maps (task configuration,
    learner label) to the evidence at that ladder's first failed rung (harness.report.evidence)."""
    ladder, loads = constant_load_ladder(frame), load_ladder(frame)
    if ladder is None and loads is None:
        return Verdict(None, None, [], [])
    by = summary.set_index(["task", "label"])
    if loads is not None:  # the load ladder's distance, for the sentence
        by_load = summary[summary.task == loads].assign(distance=int(frame[frame.task == loads].distance.iloc[0]))
        by_load = by_load.set_index("label")
    learners = []
    for label in order:
        reach = by.loc[(ladder, label)] if ladder is not None and (ladder, label) in by.index else None
        capacity = by_load.loc[label] if loads is not None and label in by_load.index else None
        if reach is None and capacity is None:
            continue
        learners.append(learner_limit(label, structure, reach, capacity, evidence, ladder, loads))
    families = []
    for family in FAMILY_ORDER:
        members = [x for x in learners if x.family == family]
        if members:
            families.append(FamilyVerdict(family, " and ".join(sorted({x.path for x in members})), members))
    return Verdict(ladder, loads, families, learners)
