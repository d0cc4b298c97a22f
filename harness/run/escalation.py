"""Budget escalation: at each ladder's first failed rung, the failed runs go on to a larger budget, and seeds are
added where the seeds disagree — so that a reach, and the limit the report names, belong to the learner rather
than to the budget.

A suite's ``[escalate]`` table (``factor`` F, ``seeds`` S; harness.config.suites) asks for it. For each ladder
(task configuration x learner configuration, harness.config.plan) whose *first failed rung* r* is decided — the
smallest rung whose runs have all finished without a majority of seeds solving it, the rung the ladder prunes at —
it plans, as cells of their own:

- **extra seeds** (stage EXTRA_SEED): where the seeds disagree at r* (some solved, at the base budget or after
  escalation, and some did not), seeds beyond the suite's (max + 1, max + 2, …) until r* has S seeds, each an
  ordinary run at the base budget;
- **escalations** (stage ESCALATED): every run at r* — base or extra seed — that ended unsolved is continued from
  its last state to F x its steps (``RunSpec.continues`` = its id). Under the constant schedule the continuation
  takes exactly the steps a fresh run of F x the steps would, so it costs only the extra steps. A diverged run is
  not continued (its state is not finite), nor one that raised.

Only r* escalates: the rungs below it are solved, those above it skipped. Nor does a rung whose longest dependency
lies beyond the learner's receptive field (a bounded field of f positions cannot answer d back when d + 1 > f): no
budget can solve it, and the report names the field, exactly, as the limit. Whether escalation solves r* is the
evidence the verdict needs (harness.report.evidence): a reach that a larger budget extends was the budget's.
The plan is a function of the suite's cells and the finished records only, so the sweep (which runs it) and the
report (which reads it) derive the same cells, and an interrupted sweep resumes to the same result.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.config.plan import BASE, ESCALATED, EXTRA_SEED, Cell
from harness.config.registry import learner_class
from harness.errors import ReachError
from harness.store.record import Outcome, RunRecord


def ladders(cells: list[Cell]) -> dict[tuple[str, str], dict[int, list[Cell]]]:
    """The suite's base cells by (task configuration, learner configuration), then by rung."""
    out: dict[tuple[str, str], dict[int, list[Cell]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        if cell.stage == BASE:
            out[(cell.task, cell.learner)][cell.rung].append(cell)
    return out


def _first_failure(rungs: dict[int, list[Cell]], done: dict[str, RunRecord]) -> tuple[bool, int | None]:
    """(whether the ladder is decided, its first failed rung: the smallest rung all of whose runs finished and
    fewer than a majority solved, None when every rung was solved). Undecided while a rung up to the first failed
    one still runs."""
    for rung in sorted(rungs):
        cells = rungs[rung]
        if any(c.spec.id not in done for c in cells):
            return False, None
        if sum(done[c.spec.id].outcome is Outcome.SOLVED for c in cells) * 2 <= len(cells):
            return True, rung
    return True, None


def first_failed_rung(rungs: dict[int, list[Cell]], done: dict[str, RunRecord]) -> int | None:
    """The smallest rung all of whose runs finished and fewer than a majority solved; None while undecided (a
    smaller rung still runs) or when every rung was solved."""
    return _first_failure(rungs, done)[1]


def escalated(cell: Cell, factor: int) -> Cell:
    """The cell that continues ``cell``'s run to ``factor`` x its steps."""
    spec = cell.spec.replace(steps=cell.spec.steps * factor, continues=cell.spec.id)
    return dataclasses.replace(cell, spec=spec, stage=ESCALATED, parent=cell.spec.id)


def escalation_cells(cells: list[Cell], done: dict[str, RunRecord], escalate: dict[str, int] | None,
                     calibrate: Sequence[str] = ()) -> list[Cell]:
    """The extra-seed and escalated cells that ``done`` (finished records by id) calls for, ladder by ladder (see
    the module docstring). A run that two ladders share appears under each; the caller runs it once. With
    ``calibrate`` (the suite's calibrated settings), only the chosen one of sibling ladders escalates
    (:func:`chosen_among_siblings`)."""
    if not escalate:
        return []
    factor, want = escalate["factor"], escalate["seeds"]
    top_seed = max((c.seed for c in cells), default=-1)
    out: list[Cell] = []
    all_ladders = ladders(cells)
    for key, rungs in all_ladders.items():
        rung = first_failed_rung(rungs, done)
        if rung is None:
            continue
        at = list(rungs[rung])
        if beyond_field(at[0], done[at[0].spec.id]) or not chosen_among_siblings(key, all_ladders, done, calibrate):
            continue
        if _disagree(at, done, factor) and len(at) < want:
            at += [dataclasses.replace(at[0], seed=seed, spec=at[0].spec.replace(seed=seed), stage=EXTRA_SEED)
                   for seed in range(top_seed + 1, top_seed + 1 + want - len(at))]
        out += [c for c in at if c.stage == EXTRA_SEED]
        out += [escalated(c, factor) for c in at
                if c.spec.id in done and done[c.spec.id].outcome is Outcome.UNSOLVED]
    return out


def sibling_key(cell: Cell, calibrate: Sequence[str]) -> str:
    """What a ladder is apart from its calibrated settings: ladders of one task configuration whose learner
    configurations differ only in ``calibrate`` (lr, a learner option such as forget_bias) are siblings, the
    candidates a calibrated choice picks from."""
    spec = {k: v for k, v in cell.spec.to_dict().items()
            if k not in ("seed", "distance", "task_params", "label", "continues", *calibrate)}
    spec["learner_options"] = {k: v for k, v in cell.spec.learner_options.items() if k not in calibrate}
    return json.dumps([cell.task, spec], sort_keys=True, default=str)


def _standing(rungs: dict[int, list[Cell]], done: dict[str, RunRecord]) -> tuple[int, float, float] | None:
    """How far a ladder got, for choosing among siblings: (its first failed rung, or a rung past its last when it
    solved every one; the mean final validation accuracy there; minus the mean steps validation took to reach the
    threshold there), larger is better; None while undecided (a rung below the first failed one still runs)."""
    decided, rung = _first_failure(rungs, done)
    if not decided:
        return None
    if rung is None:
        return max(rungs) + 1, 1.0, 0.0
    runs = [done[c.spec.id] for c in rungs[rung]]
    curves = [r for r in runs if r.curve]
    acc = sum(float(r.curve[-1].get("val_accuracy") or 0.0) for r in curves) / max(len(curves), 1)
    steps = sum(float(r.val_steps_to_threshold or r.steps_run or 0) for r in runs) / len(runs)
    return rung, acc, -steps


def chosen_among_siblings(key: tuple[str, str], all_ladders: dict[tuple[str, str], dict[int, list[Cell]]],
                          done: dict[str, RunRecord], calibrate: Sequence[str]) -> bool:
    """Whether ladder ``key`` is the one of its siblings (:func:`sibling_key`) that budget escalation continues.

    Where a suite calibrates a setting (``calibrate = ["lr"]``), its report stands one candidate for the learner —
    the one with the best final validation accuracy, as harness.report.calibration chooses — and more budget for
    the others would be spent on runs no finding reads. So only the sibling that got furthest escalates: the
    largest first failed rung (a sibling that solved this ladder's first failed rung beats it), then the best mean
    final validation accuracy there, then the fewest steps to the threshold, then the label; and none while a
    sibling is undecided. Validation streams only: test numbers are never read."""
    if not calibrate:
        return True
    rungs = all_ladders[key]
    mine = sibling_key(next(iter(rungs.values()))[0], calibrate)
    ranked = []
    for other, other_rungs in all_ladders.items():
        if other == key or sibling_key(next(iter(other_rungs.values()))[0], calibrate) == mine:
            standing = _standing(other_rungs, done)
            if standing is None:
                return False
            rung, acc, minus_steps = standing
            ranked.append(((-rung, -acc, -minus_steps, other[1]), other))
    return min(ranked)[1] == key  # the label breaks a full tie, the smaller first


def beyond_field(cell: Cell, record: RunRecord) -> bool:
    """Whether the run's longest dependency (the largest per-position distance it scored, else its distance) lies
    beyond its learner's receptive field, built as the run built it."""
    span = max([cell.spec.distance, *(int(k) for k in (record.test_by_distance or {}))])
    field = _field(cell.spec.learner, json.dumps(cell.spec.learner_options, sort_keys=True), cell.spec.d_model,
                   cell.spec.n_layers, cell.spec.task_obj.seq_len, span + 1)
    return field is not None and span + 1 > field


@functools.lru_cache(maxsize=512)
def _field(learner: str, options: str, d_model: int, n_layers: int, seq_len: int, n: int) -> int | None:
    try:
        built = learner_class(learner)(d_model=d_model, n_layers=n_layers, max_len=seq_len, **json.loads(options))
        return built.receptive_field(n)
    except (ReachError, ValueError, TypeError, NotImplementedError):
        return None  # a learner that cannot be built or does not say: escalate it


def _disagree(cells: list[Cell], done: dict[str, RunRecord], factor: int) -> bool:
    """Whether the seeds of a first failed rung disagree: one of them solved it, at the base budget or escalated
    (that some seed failed it at the base budget is what makes it the first failed rung)."""
    for c in cells:
        more = done.get(escalated(c, factor).spec.id)
        if done[c.spec.id].outcome is Outcome.SOLVED or (more is not None and more.outcome is Outcome.SOLVED):
            return True
    return False


# -- what escalation found, per ladder ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SeedAtBoundary:
    """One seed at a ladder's first failed rung: its base-budget run and, when that failed, its continuation."""

    seed: int
    stage: str  # BASE or EXTRA_SEED
    base: RunRecord | None  # None: an extra seed not run yet
    escalated: RunRecord | None  # None: not continued (solved at the base budget, diverged, raised, or pending)

    @property
    def final(self) -> RunRecord | None:
        """The seed's last word: its continuation when there is one, else its base run."""
        return self.escalated or self.base

    @property
    def solved(self) -> bool:
        return self.final is not None and self.final.outcome is Outcome.SOLVED

    @property
    def solved_at_base(self) -> bool:
        return self.base is not None and self.base.outcome is Outcome.SOLVED

    @property
    def pending(self) -> bool:
        """Not finished: no base run yet, or an unsolved base run whose continuation has not finished."""
        return self.base is None or (self.base.outcome is Outcome.UNSOLVED and self.escalated is None)


@dataclass(frozen=True)
class Boundary:
    """A ladder's first failed rung and what budget escalation found there (``factor`` 1: no escalation)."""

    task: str
    learner: str
    axis: str
    rung: int
    base_steps: int
    factor: int
    seeds: list[SeedAtBoundary] = field(default_factory=list)

    @property
    def escalated_steps(self) -> int:
        return self.base_steps * self.factor

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def solved_base(self) -> int:
        return sum(s.solved_at_base for s in self.seeds if s.stage == BASE)

    @property
    def solved(self) -> int:
        """Seeds that solved the rung within the escalated budget (base-budget solves included)."""
        return sum(s.solved for s in self.seeds)

    @property
    def solved_by_escalation(self) -> bool:
        """A majority of the rung's seeds solved it within the escalated budget."""
        return self.factor > 1 and self.solved * 2 > self.n

    @property
    def complete(self) -> bool:
        return not any(s.pending for s in self.seeds)


def boundaries(cells: list[Cell], records: dict[str, RunRecord], escalate: dict[str, int] | None,
               calibrate: Sequence[str] = ()) -> list[Boundary]:
    """Every ladder's first failed rung with its seeds' runs (base, extra seeds, continuations), from the suite's
    cells and the finished records by id; ordered as the ladders first appear in ``cells``."""
    factor = escalate["factor"] if escalate else 1
    extra = escalation_cells(cells, records, escalate, calibrate)
    out = []
    all_ladders = ladders(cells)
    for (task, learner), rungs in all_ladders.items():
        rung = first_failed_rung(rungs, records)
        if rung is None:
            continue
        at = rungs[rung] + [c for c in extra if (c.task, c.learner, c.rung, c.stage) == (task, learner, rung,
                                                                                         EXTRA_SEED)]
        # no escalation beyond the field, nor for a sibling the calibrated choice passed over
        kept = not beyond_field(at[0], records[at[0].spec.id]) and chosen_among_siblings(
            (task, learner), all_ladders, records, calibrate)
        here = factor if kept else 1
        seeds = []
        for c in sorted(at, key=lambda c: c.seed):
            more = records.get(escalated(c, here).spec.id) if here > 1 else None
            seeds.append(SeedAtBoundary(c.seed, c.stage, records.get(c.spec.id), more))
        out.append(Boundary(task, learner, at[0].axis, rung, at[0].spec.steps, here, seeds))
    return out
