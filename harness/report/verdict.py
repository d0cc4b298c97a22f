"""The verdict: which limit binds each learner, with the numbers that show it — the first thing the report says.

A learner meets one of four limits on the way back (the issue's and the lecture's list), told apart by the two
ladders of the main study:

- **receptive field** — its field is bounded (cnn, local attention) and it fails at the first distance beyond it;
- **finding the position** — attention with absolute positions (path length 1) fails inside its field;
- **gradient decay along the path** — a recurrent net (path O(n)) fails inside its unbounded field; for a linear
  recurrence the decay is along a linear path (gains a_t, no squashing);
- **capacity of a fixed-size state** — it reaches the top of the one-item distance ladder, but at a fixed distance
  it holds fewer items than the load ladder asks.

Anything else that stops a learner inside its field, with no structural reason, is named **the training budget**.
The ladders are recognised in the plan: the *constant-load ladder* is the distance ladder whose every run holds one
item (the lowest constant load), the *load ladder* a task configuration whose axis is the load. Without them (a
suite of other tasks) the verdict says so and the report falls back on its per-task findings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from harness.config.plan import DISTANCE, LOAD
from harness.report.structure import Structure

FIELD, POSITION, DECAY, LINEAR_DECAY, CAPACITY, BUDGET, NONE = (
    "receptive field", "finding the position", "gradient decay along the path", "decay along the linear path",
    "capacity of a fixed-size state", "the training budget", "none within the ladder")
FAMILY_ORDER = ("recurrent", "linear-recurrent", "convolutional", "attention", "other")
ABSOLUTE_POSITIONS = ("sinusoidal", "learned")


@dataclass(frozen=True)
class LearnerLimit:
    """One learner configuration's standing on the two ladders."""

    label: str
    family: str
    path: str  # Table 1's maximum path length, e.g. "O(n)"
    limit: str
    reach: int | None  # on the constant-load ladder (None: not on it)
    top: int | None  # the ladder's largest distance
    first_failed: int | None
    field: int | None  # receptive field (None: unbounded)
    capacity: int | None  # on the load ladder
    max_load: int | None
    load_distance: int | None
    split: list[int] = field(default_factory=list)  # rungs where the seeds disagreed, up to the first failure


@dataclass(frozen=True)
class FamilyVerdict:
    """The learners of one family, grouped by the limit that binds them."""

    family: str
    path: str
    groups: list[tuple[str, list[LearnerLimit]]]


@dataclass(frozen=True)
class Verdict:
    ladder: str | None  # the constant-load ladder's task configuration
    load_ladder: str | None
    families: list[FamilyVerdict]
    learners: list[LearnerLimit]


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
                  field_at: int | None) -> LearnerLimit:
    """The limit of one learner from its rows of reach_summary on the two ladders (either may be None)."""
    family = structure.family.get(label, "other")
    theory = structure.theory.get(label, {})
    options = structure.options.get(label, {})
    r = _int(reach.reach) if reach is not None else None
    top = _int(reach.max_planned) if reach is not None else None
    failed = _int(reach.first_failed) if reach is not None else None
    cap = _int(capacity.reach) if capacity is not None else None
    max_load = _int(capacity.max_planned) if capacity is not None else None
    if reach is None:
        limit = BUDGET
    elif failed is None and r == top:
        limit = CAPACITY if cap is not None and max_load is not None and cap < max_load \
            and family in ("recurrent", "linear-recurrent") else NONE
    elif field_at is not None and failed is not None and failed + 1 > field_at:
        limit = FIELD  # the first failure lies beyond what the learner can see
    elif family == "recurrent":
        limit = DECAY
    elif family == "linear-recurrent":
        limit = LINEAR_DECAY
    elif family == "attention" and options.get("positions") in ABSOLUTE_POSITIONS:
        limit = POSITION
    else:
        limit = BUDGET
    return LearnerLimit(label=label, family=family, path=theory.get("max_path_length", "?"), limit=limit, reach=r,
                        top=top, first_failed=failed, field=field_at, capacity=cap, max_load=max_load,
                        load_distance=_int(capacity.distance) if capacity is not None else None,
                        split=list(reach.split) if reach is not None else [])


def verdict(frame: pd.DataFrame, summary: pd.DataFrame, structure: Structure, order: list[str],
            fields: dict[str, int | None]) -> Verdict:
    """The verdict of a sweep: ``summary`` is reach_summary of ``frame``; ``fields`` maps a learner label to its
    receptive field (None: unbounded)."""
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
        learners.append(learner_limit(label, structure, reach, capacity, fields.get(label)))
    families = []
    for family in FAMILY_ORDER:
        members = [x for x in learners if x.family == family]
        if not members:
            continue
        groups: dict[str, list[LearnerLimit]] = {}
        for x in members:
            groups.setdefault(x.limit, []).append(x)
        paths = sorted({x.path for x in members})
        families.append(FamilyVerdict(family, " and ".join(paths), list(groups.items())))
    return Verdict(ladder, loads, families, learners)
