"""Calibration: settings chosen on validation streams, never on test numbers.

A suite that names ``calibrate = ["lr", ...]`` runs, for each learner, candidate configurations that differ only
in those settings (learner options or RunSpec fields). Each candidate is scored on the *validation* stream alone:
its final validation accuracy (the last point of its learning curve), averaged over the suite's runs (tasks,
distances and seeds),
ties broken by the mean step at which validation first reached the threshold (the budget when it never did).
The best candidate of each learner is the choice; test accuracy is never read here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness.store.record import TRAINED, RunRecord


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


def _value(r: RunRecord, key: str) -> Any:
    options = r.spec.get("learner_options") or {}
    return options[key] if key in options else r.spec.get(key)


def calibrate(records: list[RunRecord], keys: list[str]) -> list[Candidate]:
    """Candidates per learner, the chosen one marked, ordered learner then best first."""
    groups: dict[str, dict[str, list[RunRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.outcome not in TRAINED or not r.curve:
            continue
        fixed = {k: v for k, v in sorted((r.spec.get("learner_options") or {}).items()) if k not in keys}
        group = r.learner + (f"[{','.join(f'{k}={v}' for k, v in fixed.items())}]" if fixed else "")
        groups[group][r.label].append(r)
    out = []
    for group in sorted(groups):
        cands = []
        for label, rs in groups[group].items():
            acc = sum(float(r.curve[-1]["val_accuracy"]) for r in rs) / len(rs)
            steps = sum(float(r.val_steps_to_threshold or r.spec.get("steps", 0)) for r in rs) / len(rs)
            cands.append(Candidate(group, label, {k: _value(rs[0], k) for k in keys}, acc, steps, len(rs)))
        cands.sort(key=lambda c: (-round(c.val_accuracy, 4), c.val_steps, c.label))
        out += [Candidate(**{**c.__dict__, "chosen": i == 0}) for i, c in enumerate(cands)]
    return out
