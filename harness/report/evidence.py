"""The evidence at each ladder's first failed rung, and the limit it supports — never the learner's family.

For each ladder (task configuration x learner configuration) whose first failed rung r* is known, the report keeps,
per seed (the suite's seeds and any extra seed, harness.run.escalation): the base-budget run, its continuation to the
escalated budget, the final validation curve's **end state**, and the trained model's **gradient ratio**
G(d)/G(1) (harness.run.train.distance_gradient); per ladder, the learner's **receptive field** at r*. The limit:

- **receptive field** — r* lies beyond the field (a hold answer d back needs d + 1 positions): exact, whatever the
  runs show (and escalation must not solve it);
- **seed-dependent optimisation** — some seeds solved r*, the others stay flat (their curves at chance or on a
  plateau, not rising); also when the seeds added at r* make a majority solve it at the base budget, whatever the
  others do: the base budget sufficed, the seeds decided;
- **the training budget** — escalation solved r*: a majority of its seeds solved it within the escalated budget,
  where the base budget left it short of a majority;
- **gradient decay along the path** — (distance ladder, or a load ladder failing at its smallest load) escalation
  ran and failed, every seed's curve is flat at chance, and every seed's trained G(d)/G(1) is below GRADIENT_FLOOR;
- **capacity of a fixed-size state** — (a load ladder above its smallest load) escalation ran and failed and no
  seed's curve is still rising;
- otherwise **undetermined at this budget** (escalation failed but a curve still rises, or the gradient still
  reaches back, or escalation did not run, or runs are missing).

Curve end states, from the last half of a run's validation curve (at least two evaluations), with s = the
standard error of a validation accuracy at chance, sqrt(p(1 - p) / m) for chance p and m scored validation answers:
*at chance* when the last accuracy is at most p + 2s; *rising* when the least-squares line through the last half
gains more than 2 s' over it (s' the same error at the half's mean accuracy); *plateau* otherwise. A change smaller
than the validation set's own sampling error is not counted as a rise.

GRADIENT_FLOOR = 1e-3: the threshold the gradient probe already uses for "gradient reach" (three decades below
the strongest earlier position, harness.measure.probes). Adam rescales each parameter's update, so a small
gradient is not by itself too small to learn from; what a ratio below 1e-3 says is that the distant position's
share of the gradient is under a thousandth of the adjacent one's, below the noise of a 16-sequence batch's
gradient (relative error about 1/sqrt(16) = 0.25) by more than two decades. Above the floor the gradient still
carries the dependency back, and a failure there is not the path's; the runs cannot then name the cause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from harness.config.plan import EXTRA_SEED, LOAD
from harness.report.structure import Structure
from harness.run.escalation import Boundary, SeedAtBoundary
from harness.store.record import Outcome, RunRecord

FIELD, BUDGET, SEEDS, DECAY, CAPACITY, UNDETERMINED, NONE = (
    "receptive field", "the training budget", "seed-dependent optimisation", "gradient decay along the path",
    "capacity of a fixed-size state", "undetermined at this budget", "none within the ladder")
LIMITS = (FIELD, BUDGET, SEEDS, DECAY, CAPACITY, UNDETERMINED, NONE)
AT_CHANCE, PLATEAU, RISING = "at chance", "plateau", "still rising"
GRADIENT_FLOOR = 1e-3
SE_MULTIPLE = 2.0  # curve states: changes within 2 standard errors of a validation accuracy are noise


def scored_per_validation(record: RunRecord) -> int:
    """Answers scored in one validation pass: the test stream's count per sequence, times the validation set's
    sequences (val_batches x batch_size)."""
    spec = record.spec
    test_total = sum(int(t) for _, t in (record.test_by_distance or {}).values())
    per_sequence = test_total / max(int(spec.get("test_batches") or 1) * int(spec.get("batch_size") or 1), 1)
    return max(int(round(per_sequence * int(spec.get("val_batches") or 1) * int(spec.get("batch_size") or 1))), 1)


def _se(p: float, m: int) -> float:
    p = min(max(p, 0.0), 1.0)
    return math.sqrt(max(p * (1 - p), 1e-12) / m)


def curve_state(record: RunRecord) -> str | None:
    """AT_CHANCE, RISING or PLATEAU for a run's validation curve (module docstring); None without a curve."""
    curve = record.curve or []
    if not curve or record.baseline_accuracy is None:
        return None
    acc = np.array([float(p["val_accuracy"]) for p in curve])
    steps = np.array([float(p["step"]) for p in curve])
    chance, m = float(record.baseline_accuracy), scored_per_validation(record)
    if acc[-1] <= chance + SE_MULTIPLE * _se(chance, m):
        return AT_CHANCE
    half = max(2, len(acc) // 2)
    if len(acc) >= 2:
        a, s = acc[-half:], steps[-half:]
        slope = float(np.polyfit(s, a, 1)[0]) if len(a) >= 2 and s[-1] > s[0] else 0.0
        if slope * (s[-1] - s[0]) > SE_MULTIPLE * _se(float(a.mean()), m):
            return RISING
    return PLATEAU


@dataclass(frozen=True)
class SeedEvidence:
    """One seed at a first failed rung: how its base run ended, how its last run ended, and why."""

    seed: int
    extra: bool  # a seed escalation added
    base_outcome: str | None
    outcome: str | None  # of its last run (the continuation when there is one)
    steps_run: int | None
    steps_to_solve: int | None
    val_accuracy: float | None  # the last validation accuracy
    curve: str | None  # AT_CHANCE / PLATEAU / RISING (unsolved last runs only)
    gradient_ratio: float | None  # trained G(d)/G(1) of the last run (unsolved runs only)
    escalated: bool  # its base run failed and was continued

    @classmethod
    def of(cls, s: SeedAtBoundary) -> SeedEvidence:
        last = s.final
        unsolved = last is not None and last.outcome is not Outcome.SOLVED
        curve = last.curve if last is not None else None
        return cls(seed=s.seed, extra=s.stage == EXTRA_SEED, base_outcome=str(s.base.outcome) if s.base else None,
                   outcome=str(last.outcome) if last else None, steps_run=last.steps_run if last else None,
                   steps_to_solve=last.steps_to_solve if last else None,
                   val_accuracy=float(curve[-1]["val_accuracy"]) if curve else None,
                   curve=curve_state(last) if unsolved else None,
                   gradient_ratio=(last.gradient or {}).get("ratio") if unsolved else None,
                   escalated=s.escalated is not None)

    @property
    def solved(self) -> bool:
        return self.outcome == Outcome.SOLVED


@dataclass(frozen=True)
class LadderEvidence:
    """A ladder's first failed rung, what was found there, and the limit it supports (LIMITS)."""

    task: str
    label: str
    axis: str
    rung: int
    distance: int
    span: int  # the longest dependency its runs must bridge (hold: the distance)
    field: int | None  # the learner's receptive field there (None: unbounded)
    base_steps: int
    escalated_steps: int  # = base_steps without escalation
    seeds: list[SeedEvidence] = field(default_factory=list)
    first_rung: bool = False  # r* is the ladder's smallest rung
    complete: bool = True
    limit: str = UNDETERMINED

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def solved(self) -> int:
        return sum(s.solved for s in self.seeds)

    @property
    def solved_base(self) -> int:
        return sum(s.base_outcome == Outcome.SOLVED for s in self.seeds if not s.extra)

    @property
    def solved_at_base_all(self) -> int:
        """Seeds, the added ones included, that solved the rung within the base budget."""
        return sum(s.base_outcome == Outcome.SOLVED for s in self.seeds)

    @property
    def n_base(self) -> int:
        return sum(not s.extra for s in self.seeds)

    @property
    def escalated(self) -> bool:
        return self.escalated_steps > self.base_steps

    @property
    def failed(self) -> list[SeedEvidence]:
        return [s for s in self.seeds if not s.solved]

    @property
    def beyond_field(self) -> bool:
        return self.field is not None and self.span + 1 > self.field


def limit_of(e: LadderEvidence) -> str:
    """The limit the evidence of one ladder supports (module docstring)."""
    if e.beyond_field:
        return FIELD
    if not e.complete or not e.seeds:
        return UNDETERMINED
    failed = e.failed
    if e.solved_at_base_all * 2 > e.n:  # the added seeds solved it at the base budget: seeds, not budget
        return SEEDS
    if e.escalated and e.solved * 2 > e.n:
        return BUDGET
    if 0 < e.solved and all(s.curve in (AT_CHANCE, PLATEAU) for s in failed):
        return SEEDS
    if not e.escalated or e.solved:
        return UNDETERMINED
    if e.axis == LOAD and not e.first_rung:
        return CAPACITY if all(s.curve in (AT_CHANCE, PLATEAU) for s in failed) else UNDETERMINED
    if all(s.curve == AT_CHANCE for s in failed) and all(
            s.gradient_ratio is not None and s.gradient_ratio < GRADIENT_FLOOR for s in failed):
        return DECAY
    return UNDETERMINED


def ladder_evidence(boundary: Boundary, structure: Structure, first_rung: int) -> LadderEvidence:
    """The evidence of one ladder's boundary, with its limit."""
    any_run = next((s.base for s in boundary.seeds if s.base is not None), None)
    distance = any_run.distance if any_run is not None else boundary.rung
    # the longest dependency a run must bridge (copy: delay + symbols), else the distance itself
    span = max([distance, *(int(k) for k in (any_run.test_by_distance or {}))]) if any_run is not None else distance
    _, rf, bounded = structure.at(any_run, span) if any_run is not None else (None, None, False)
    e = LadderEvidence(task=boundary.task, label=boundary.learner, axis=boundary.axis, rung=boundary.rung,
                       distance=distance, span=span, field=rf if bounded else None, base_steps=boundary.base_steps,
                       escalated_steps=boundary.escalated_steps,
                       seeds=[SeedEvidence.of(s) for s in boundary.seeds], first_rung=boundary.rung == first_rung,
                       complete=boundary.complete)
    return LadderEvidence(**{**e.__dict__, "limit": limit_of(e)})
