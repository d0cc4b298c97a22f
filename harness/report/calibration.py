"""Calibration: settings chosen on validation streams, never on test numbers.

A suite that names ``calibrate = ["lr", ...]`` runs, for each learner, candidate configurations that differ only
in those settings (learner options or RunSpec fields). Settings that differ between a learner's entries but are not
calibrated (the built-in ``calibrate`` suite's ``schedule``) split the learner into groups, each with its own
choice: the suite compares them and the study picks one (README: "Calibration").
Each candidate is scored on the *validation* stream alone:
its final validation accuracy (the last point of its learning curve), averaged over the suite's runs (tasks,
distances and seeds),
ties broken by the mean step at which validation first reached the threshold (the budget when it never did).
Candidates whose accuracy lies within TIE_SE binomial standard errors of the best one's (over the best candidate's m
scored validation answers, at the Agresti-Coull-style estimate (c + 1) / (m + 2) so that a perfect score keeps an
error) are tied: 0.9995 against 1.000 on a thousand answers is noise, and
the step count then decides. The chosen candidate comes first; test accuracy is never read here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness.report.evidence import scored_per_validation
from harness.store.record import TRAINED, RunRecord

TIE_SE = 2.0  # validation accuracies closer than this many standard errors are tied


@dataclass(frozen=True)
class Candidate:
    """One candidate configuration of a learner, scored on validation."""

    learner: str  # the group: the learner's name and the settings that are not calibrated
    label: str
    settings: dict[str, Any]  # the calibrated settings' values
    val_accuracy: float  # mean final validation accuracy over tasks and seeds
    val_steps: float  # mean first step with validation accuracy >= threshold (the step budget when never)
    runs: int
    chosen: bool = False
    reached: int = 0  # runs whose validation accuracy reached the threshold within the budget
    answers: int = 0  # scored validation answers over its runs (one final evaluation each)


def _value(r: RunRecord, key: str) -> Any:
    options = r.spec.get("learner_options") or {}
    return options[key] if key in options else r.spec.get(key)


# RunSpec fields that say where a run sits in the grid, not how its learner is set up
GRID_FIELDS = ("task", "distance", "seed", "task_params", "learner_options", "label", "threads", "continues")


def calibrate(records: list[RunRecord], keys: list[str]) -> list[Candidate]:
    """Candidates per learner group, the chosen one marked, ordered group then best first. A group is a learner
    with its options and spec fields that are not calibrated, where they differ between its runs."""
    records = [r for r in records if r.outcome in TRAINED and r.curve]
    varied: dict[str, set[str]] = defaultdict(set)  # per learner: spec fields that differ between its runs
    for name in {r.learner for r in records}:
        mine = [r.spec for r in records if r.learner == name]
        varied[name] = {k for k in mine[0] if k not in GRID_FIELDS and k not in keys
                        and len({repr(s.get(k)) for s in mine}) > 1}
    groups: dict[str, dict[str, list[RunRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        fixed = {k: v for k, v in sorted((r.spec.get("learner_options") or {}).items()) if k not in keys}
        fixed.update({k: r.spec.get(k) for k in sorted(varied[r.learner])})
        group = r.learner + (f"[{','.join(f'{k}={v}' for k, v in fixed.items())}]" if fixed else "")
        groups[group][r.label].append(r)
    out = []
    for group in sorted(groups):
        cands = []
        for label, rs in groups[group].items():
            acc = sum(float(r.curve[-1]["val_accuracy"]) for r in rs) / len(rs)
            steps = sum(float(r.val_steps_to_threshold or r.spec.get("steps", 0)) for r in rs) / len(rs)
            reached = sum(r.val_steps_to_threshold is not None for r in rs)
            cands.append(Candidate(group, label, {k: _value(rs[0], k) for k in keys}, acc, steps, len(rs),
                                   reached=reached, answers=sum(scored_per_validation(r) for r in rs)))
        best = max(cands, key=lambda c: c.val_accuracy)
        m = max(best.answers, 1)
        p = (best.val_accuracy * m + 1) / (m + 2)
        tolerance = TIE_SE * math.sqrt(p * (1 - p) / m)
        chosen = min((c for c in cands if best.val_accuracy - c.val_accuracy <= tolerance),
                     key=lambda c: (c.val_steps, c.label))
        rest = sorted((c for c in cands if c is not chosen), key=lambda c: (-c.val_accuracy, c.val_steps, c.label))
        out += [Candidate(**{**c.__dict__, "chosen": c is chosen}) for c in [chosen, *rest]]
    return out
