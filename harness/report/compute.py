"""Reach against training compute: how far back each learner reaches for a given number of training FLOPs, so
learners are compared at equal compute as well as at equal steps.

A run's training compute is its steps times ``flops_per_step``, the FLOPs of one training step at its length
(forward and backward of one batch, counted by harness.run.flopcount when it trained). For each rung of a ladder,
the compute *to solve* it is the compute at which a majority of its seeds had solved it: each seed's steps to solve
x FLOPs per step, the (n // 2 + 1)-th smallest over its n seeds (infinite when fewer solved). At a ladder's first
failed rung the seeds are those budget escalation left there (extra seeds included) and a continued run's steps
to solve count from its first step, so escalation moves the rung's compute from infinite to what the longer run
needed. The reach at compute C is then the largest rung r such that every rung up to r was solved within C;
it is exact up to the compute the first failed rung was given (``spent``), a lower bound beyond it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.config.plan import Cell
from harness.run.escalation import Boundary, ladders
from harness.store.record import Outcome, RunRecord

MAX_LEVELS = 6  # compute levels (powers of ten) in the table


@dataclass(frozen=True)
class RungCompute:
    """One rung of one ladder: seeds, how many solved, the compute to solve it (a majority), the most spent."""

    task: str
    label: str
    axis: str
    rung: int
    seeds: int
    solved: int
    to_solve: float  # FLOPs at which a majority had solved it (math.inf: no majority)
    spent: float  # the largest training compute a run of the rung got
    flops_per_step: float
    top: int = 0  # the ladder's largest planned rung


def _majority_compute(costs: list[float]) -> float:
    k = len(costs) // 2 + 1
    ordered = sorted(costs)
    return ordered[k - 1] if len(ordered) >= k else math.inf


def rung_compute(cells: list[Cell], records: dict[str, RunRecord], bounds: list[Boundary]) -> list[RungCompute]:
    """Every rung that ran, with its compute, up to each ladder's first failed rung (the rungs above it were
    skipped); rungs whose runs have no ``flops_per_step`` (folders written before it existed) are left out."""
    at = {(b.task, b.learner): b for b in bounds}
    out = []
    for (task, label), rungs in ladders(cells).items():
        b = at.get((task, label))
        for rung in sorted(rungs):
            if b is not None and rung > b.rung:
                break
            if b is not None and rung == b.rung:
                runs = [s.final for s in b.seeds]
            else:
                runs = [records.get(c.spec.id) for c in rungs[rung]]
            runs = [r for r in runs if r is not None and r.outcome is not Outcome.SKIPPED]
            fps = [r.flops_per_step for r in runs if r.flops_per_step]
            if not runs or len(fps) < len(runs):
                break
            costs = [(r.steps_to_solve or r.steps_run or 0) * r.flops_per_step if r.outcome is Outcome.SOLVED
                     else math.inf for r in runs]
            out.append(RungCompute(task, label, rungs[rung][0].axis, rung, len(runs),
                                   sum(r.outcome is Outcome.SOLVED for r in runs), _majority_compute(costs),
                                   max((r.steps_run or 0) * r.flops_per_step for r in runs), max(fps),
                                   max(rungs)))
    return out


def reach_at(rungs: list[RungCompute], compute: float) -> tuple[int, bool]:
    """(reach within ``compute`` FLOPs, exact) for one ladder's rungs: exact unless ``compute`` exceeds what its
    first unsolved rung was given, or every tried rung was solved below the ladder's top (the next rung was never
    tried): then the reach is a lower bound."""
    reach = 0
    for r in sorted(rungs, key=lambda r: r.rung):
        if r.to_solve <= compute:
            reach = r.rung
            continue
        return reach, compute <= r.spent
    return reach, not rungs or reach == max(r.top for r in rungs)


def compute_table(rungs: list[RungCompute], order: list[str]) -> list[dict]:
    """Rows for the report: per ladder and learner, the compute to solve each rung and the reach at each power of
    ten from the smallest compute that solved a rung to the largest any run of the ladder was given (at most
    MAX_LEVELS of them, evenly thinned)."""
    out = []
    for task in sorted({r.task for r in rungs}):
        mine = [r for r in rungs if r.task == task]
        top = max(r.spent for r in mine)
        low = min(r.to_solve for r in mine if math.isfinite(r.to_solve)) if any(
            math.isfinite(r.to_solve) for r in mine) else top
        first, last = math.floor(math.log10(max(low, 1.0))), math.ceil(math.log10(max(top, 1.0)))
        exponents = list(range(first, max(last, first) + 1))
        step = max(1, math.ceil(len(exponents) / MAX_LEVELS))
        levels = [10.0 ** k for k in exponents[::step]]
        for label in [lab for lab in order if any(r.label == lab for r in mine)]:
            lr = sorted((r for r in mine if r.label == label), key=lambda r: r.rung)
            out.append({"task": task, "label": label, "axis": lr[0].axis, "levels": levels,
                        "rungs": [{"rung": r.rung, "to_solve": r.to_solve, "solved": r.solved, "seeds": r.seeds,
                                   "spent": r.spent} for r in lr],
                        "reach": [reach_at(lr, c) for c in levels]})
    return out
