"""Published claims set beside measurements: the typed claim, the evidence it is judged on, and its rules.

A :class:`Claim` is data — its source, the published figures and settings, the settings scaled to this machine,
the rule in words, and a ``judge``: a function of the measured :class:`Evidence` that returns one :class:`Row` per
learner group, with an :class:`Agreement` computed, never typed. The claims themselves live in
harness.report.literature; the sentences are written by templates/literature.j2 from each row's facts.

The rule of most claims (:func:`by_points`) reads the scaled setting as a sequence of points (a task configuration
and a rung each), easiest first, every point no harder than the published setting. A learner *passes* a point when
a majority of its seeds meet the claim's metric (e.g. MSE at most a tenth of the memoryless baseline). Then:

- published "solves": it must pass every point (agrees); failing one disagrees.
- published "fails": failing a point agrees (it fails even at a scaled-down setting); passing every point is *not
  comparable at this scale* (the published failure is at a harder setting), unless a point is as hard as the
  published setting (``Point.as_hard``), where a pass disagrees.
- a failure decides only where the measurement can: some other learner of the suite passes that setting (the same
  task at the same distance, in any task configuration; else the budget, not the architecture, may bind: not
  comparable), and the runs had at least the claim's ``min_budget`` training sequences (a claim that states the
  budget its source needed may drop the first condition: ``needs_passer = False``). A point without a trained run
  (pending, pruned, not in the suite) is not comparable.

Evidence. Primary cells are the suite's base runs: no ``spec["continues"]`` and a seed among the suite's seeds.
Escalated runs (a failed run continued to a multiple of its budget) and extra seeds are kept apart
(:func:`extensions`) and shown as "solved with more budget", never mixed into the rule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd

from harness.config.plan import Cell
from harness.errors import ReachError
from harness.store.record import TRAINED, Outcome, RunRecord
from harness.store.table import runs_frame

SOLVES, FAILS = "solves", "fails"
Z95 = 1.959963984540054  # two-sided 95% normal quantile


class Agreement(StrEnum):
    AGREES = "agrees"
    DISAGREES = "disagrees"
    NOT_COMPARABLE = "not comparable at this scale"


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a success rate k/n (95% by default): [0.44, 1] for 3 of 3, [0, 0.56] for 0 of 3."""
    if not (isinstance(k, int) and isinstance(n, int)) or n < 1 or not 0 <= k <= n:
        raise ReachError(f"a success rate needs 0 <= k <= n and n >= 1 (integers), got {k} of {n}")
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Point:
    """One scaled setting of a claim: a task configuration's label in the suite and its rung (distance or load)."""

    task: str
    rung: int
    setting: str  # how the paper would name it, e.g. "T = 100" or "(128, 8)"
    as_hard: bool = False  # at least as hard as the published setting: a pass there can refute a published failure


@dataclass(frozen=True)
class Group:
    """Learners the claim speaks of together, as reach's learner labels, with what the paper reports for them."""

    name: str
    learners: tuple[str, ...]
    expect: str  # SOLVES or FAILS: the published result, in kind
    published: str  # the published figure(s), as the paper gives them
    points: tuple[Point, ...] = ()  # where this group is measured, when not at the claim's points

    def __post_init__(self) -> None:
        if self.expect not in (SOLVES, FAILS) or not self.learners:
            raise ReachError(f"claim group {self.name!r}: expect must be {SOLVES!r} or {FAILS!r} with learners")


@dataclass(frozen=True)
class Metric:
    """What a seed must meet at a point: a column of the evidence against a cut (at most, or at least)."""

    column: str  # "loss_ratio" (test loss / memoryless baseline), "test_accuracy" or "solved" (0 or 1)
    cut: float
    at_most: bool  # True: pass when value <= cut (a loss), False: when value >= cut
    name: str  # e.g. "MSE / baseline"

    def passes(self, value: float) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value <= self.cut if self.at_most else value >= self.cut


@dataclass
class Evidence:
    """What the rules read. ``runs``: one row per primary cell (runs_frame's columns plus batch_size, loss_ratio,
    solved, sequences = steps to solve x batch size, val_final = the last validation accuracy of the curve and
    val_steps = the first step validation reached the threshold, else the steps run); ``extended``: escalations and
    extra seeds (:func:`extensions`); ``table1``: the probes' measured Table 1, or None."""

    runs: pd.DataFrame
    extended: pd.DataFrame
    table1: pd.DataFrame | None = None
    seeds: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """One claim x learner group: the computed agreement, the macro of literature.j2 that explains it, and facts."""

    claim: Claim
    group: Group
    agreement: Agreement
    reason: str
    facts: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    id: str
    title: str  # the claim in a line
    source: str
    published_settings: str
    scaled_settings: str  # what this suite runs instead, and why
    rule: str  # the agreement rule in words, fixed before the run
    differs: tuple[str, ...]  # how the scaled setting differs from the published one
    settle: str  # the run that would settle a disagreement
    groups: tuple[Group, ...]
    judge: Callable[[Claim, Evidence], list[Row]]
    points: tuple[Point, ...] = ()
    metric: Metric | None = None
    min_budget: int | None = None  # training sequences a run needs for its failure to count
    # a failure counts only where another learner passes the setting; a claim with a published budget (min_budget)
    # may say instead that the budget alone makes the setting decisive
    needs_passer: bool = True

    def rows(self, evidence: Evidence) -> list[Row]:
        return self.judge(self, evidence)


# -- evidence ------------------------------------------------------------------------------------------------------
def is_primary(record: RunRecord, seeds: list[int]) -> bool:
    """A base run of the suite: not an escalation (``continues`` unset) and one of the suite's own seeds."""
    return not record.spec.get("continues") and record.seed in seeds


def _params_key(r: RunRecord) -> tuple[str, int, str, str]:
    return r.task, r.distance, r.label, json.dumps(r.spec.get("task_params") or {}, sort_keys=True)


def extensions(records: list[RunRecord], runs: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    """Escalations (``spec["continues"]``: a failed run continued from its last state to more steps) and extra
    seeds (a seed outside the suite's), each mapped to the primary cell(s) it extends. Columns: task, label, rung,
    seed, kind ("escalated" or "extra seed"), outcome, steps, and the metrics a claim reads (test_accuracy,
    loss_ratio = test loss / memoryless baseline, solved), so that "with more budget" is judged by the claim's own
    metric."""
    ids = {r.id: r for r in records}
    cells: dict[tuple, dict[tuple[str, str, int], None]] = {}  # one entry per cell, whatever its seeds
    for row in runs.itertuples():
        if row.id in ids:
            cells.setdefault(_params_key(ids[row.id]), {})[(row.task, row.label, int(row.rung))] = None
    out = []
    for r in records:
        if is_primary(r, seeds) or r.outcome not in TRAINED:
            continue
        origin = ids.get(str(r.spec.get("continues"))) if r.spec.get("continues") else None
        for task, label, rung in cells.get(_params_key(origin or r), {}):
            base = r.baseline_loss
            out.append({"task": task, "label": label, "rung": rung, "seed": r.seed,
                        "kind": "escalated" if r.spec.get("continues") else "extra seed",
                        "outcome": str(r.outcome), "steps": r.spec.get("steps"),
                        "test_accuracy": r.test_accuracy,
                        "loss_ratio": r.test_loss / base if r.test_loss is not None and base else None,
                        "solved": float(r.outcome is Outcome.SOLVED)})
    return pd.DataFrame(out, columns=["task", "label", "rung", "seed", "kind", "outcome", "steps", "test_accuracy",
                                      "loss_ratio", "solved"])


def evidence(records: list[RunRecord], plan: list[Cell] | None, seeds: list[int],
             table1: pd.DataFrame | None = None) -> Evidence:
    """The evidence of a results folder's records (finished, skipped and pending ones) under its suite's plan."""
    primary = [r for r in records if is_primary(r, seeds)]
    runs = runs_frame(primary, plan)
    batch = {r.id: r.spec.get("batch_size") for r in primary}
    runs["batch_size"] = pd.to_numeric(runs.id.map(batch), errors="coerce")
    loss, base = pd.to_numeric(runs.test_loss, errors="coerce"), pd.to_numeric(runs.baseline_loss, errors="coerce")
    runs["loss_ratio"] = loss / base.where(base > 0)
    runs["solved"] = (runs.outcome == str(Outcome.SOLVED)).astype(float).where(runs.outcome.isin(TRAINED))
    runs["sequences"] = pd.to_numeric(runs.steps_to_solve, errors="coerce") * runs.batch_size
    final = {r.id: (r.curve[-1].get("val_accuracy") if r.curve else None) for r in primary}
    runs["val_final"] = pd.to_numeric(runs.id.map(final), errors="coerce")
    runs["val_steps"] = pd.to_numeric(runs.id.map({r.id: r.val_steps_to_threshold or r.steps_run for r in primary}),
                                      errors="coerce")
    return Evidence(runs, extensions(records, runs, seeds), table1, list(seeds))


# -- measuring a learner at a point --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measured:
    """One learner at one point: seeds (planned), how many trained, passed the metric and solved, the median of
    the metric over the seeds that trained, sequences to success of the solved ones, and the budget in sequences."""

    learner: str
    setting: str
    seeds: int
    trained: int
    passed: int
    figure: float
    loss: float  # median test loss (MSE or cross-entropy) over the seeds that trained
    solved: int
    sequences: tuple[int, ...]
    budget: int | None
    skipped: int
    params: int | None
    extended: int = 0  # escalated runs and extra seeds of this cell
    extended_solved: int = 0
    extended_passed: int = 0  # ... that meet the claim's metric
    extended_figure: float = float("nan")  # the metric's median over them

    @property
    def passes(self) -> bool:
        return self.trained > 0 and self.passed * 2 > self.seeds

    @property
    def median_sequences(self) -> float | None:
        """Median training sequences to success over the solved seeds (None when none solved)."""
        return float(pd.Series(self.sequences, dtype=float).median()) if self.sequences else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.solved, self.seeds) if self.seeds and self.trained else None


def measure(ev: Evidence, metric: Metric, learner: str, point: Point) -> Measured:
    runs = ev.runs
    group = runs[(runs.task == point.task) & (runs.label == learner)]
    cell = group[group.rung == point.rung]
    ran = cell[cell.outcome.isin(TRAINED)]
    values = pd.to_numeric(ran[metric.column], errors="coerce")
    solved = ran[ran.outcome == str(Outcome.SOLVED)]
    steps = pd.to_numeric(ran.steps, errors="coerce") * ran.batch_size
    params = pd.to_numeric(ran.params, errors="coerce").dropna()
    ext = ev.extended
    ext = ext[(ext.task == point.task) & (ext.label == learner) & (ext.rung == point.rung)]
    more = pd.to_numeric(ext[metric.column], errors="coerce")
    return Measured(learner=learner, setting=point.setting, seeds=int(group.seed.nunique()), trained=len(ran),
                    passed=int(sum(metric.passes(v) for v in values)),
                    figure=float(values.median()) if values.notna().any() else float("nan"),
                    loss=float(pd.to_numeric(ran.test_loss, errors="coerce").median()) if len(ran) else float("nan"),
                    solved=len(solved),
                    sequences=tuple(int(s) for s in solved.sequences.dropna()),
                    budget=int(steps.min()) if steps.notna().any() else None,
                    skipped=int((cell.outcome == str(Outcome.SKIPPED)).sum()),
                    params=int(params.median()) if len(params) else None, extended=len(ext),
                    extended_solved=int((ext.outcome == str(Outcome.SOLVED)).sum()),
                    extended_passed=int(sum(metric.passes(v) for v in more)),
                    extended_figure=float(more.median()) if more.notna().any() else float("nan"))


def passers(ev: Evidence, claim: Claim, point: Point, points: tuple[Point, ...]) -> list[str]:
    """Learners of the suite (not only the claim's) that pass the point's setting: the same task at the same
    distance, in any of the suite's task configurations (their budgets may differ), each learner at its chosen
    configuration (:func:`resolve`, over ``points``)."""
    runs = ev.runs
    here = runs[(runs.task == point.task) & (runs.rung == point.rung)]
    if not len(here):
        return []
    same = runs[(runs.task_name == here.task_name.iloc[0]) & (runs.distance == here.distance.iloc[0])]
    out = []
    for name in sorted(same.learner.unique()):
        for task, rung in sorted({(r.task, int(r.rung)) for r in same[same.learner == name].itertuples()}):
            at = Point(task, rung, point.setting)
            label = resolve(ev, name, points if task == point.task else (at,))[0]
            if measure(ev, claim.metric, label, at).passes and label not in out:
                out.append(label)
    return out


def resolve(ev: Evidence, learner: str, points: tuple[Point, ...]) -> tuple[str, list[dict[str, Any]]]:
    """The configuration (label) that stands for ``learner`` (a name or a label) on ``points``, and the candidates
    it was chosen from. Where a suite runs a learner at several settings (``calibrate = ["lr"]``), the choice is
    made as the calibration makes it: the best mean final *validation* accuracy over the points' runs, ties to
    fewer steps to the threshold; test numbers are never read."""
    runs = ev.runs[ev.runs.task.isin({p.task for p in points}) & ev.runs.rung.isin({p.rung for p in points})]
    labels = sorted(set(runs[(runs.label == learner) | (runs.learner == learner)].label))
    if len(labels) <= 1:
        return (labels[0] if labels else learner), []
    scored = []
    for lab in labels:
        ran = runs[(runs.label == lab) & runs.outcome.isin(TRAINED)]
        scored.append({"label": lab, "val_accuracy": float(ran.val_final.mean()) if len(ran) else float("nan"),
                       "val_steps": float(ran.val_steps.mean()) if len(ran) else float("nan"), "runs": len(ran)})
    best = max(scored, key=lambda c: (-1.0 if math.isnan(c["val_accuracy"]) else c["val_accuracy"],
                                      -(c["val_steps"] if not math.isnan(c["val_steps"]) else math.inf)))
    return best["label"], scored


# -- the rule over points ------------------------------------------------------------------------------------------
def judge_learner(claim: Claim, ev: Evidence, learner: str, expect: str) -> tuple[Agreement, str, dict[str, Any]]:
    """(agreement, reason, facts) for one learner of a claim read over its points (module docstring)."""
    assert claim.metric is not None
    points = next((g.points for g in claim.groups if learner in g.learners and g.points), claim.points)
    label, candidates = resolve(ev, learner, points)
    cells = [measure(ev, claim.metric, label, p) for p in points]
    facts: dict[str, Any] = {"learner": label, "cells": cells, "metric": claim.metric, "candidates": candidates}
    for point, m in zip(points, cells):
        facts.update(setting=point.setting, at=m)
        if m.trained == 0:
            return Agreement.NOT_COMPARABLE, "not_measured", facts
        if m.passes:
            continue
        others = [lab for lab in passers(ev, claim, point, points) if lab != label]
        facts.update(others=others, min_budget=claim.min_budget)
        if claim.min_budget and (m.budget or 0) < claim.min_budget:
            return Agreement.NOT_COMPARABLE, "budget", facts
        if not others and claim.needs_passer:
            return Agreement.NOT_COMPARABLE, "nothing_passes", facts
        return (Agreement.AGREES if expect == FAILS else Agreement.DISAGREES), "fails", facts
    if expect == SOLVES:
        return Agreement.AGREES, "passes", facts
    if any(p.as_hard for p in points):
        return Agreement.DISAGREES, "passes_as_hard", facts
    return Agreement.NOT_COMPARABLE, "passes_easier", facts


def combine(verdicts: list[Agreement]) -> Agreement:
    """A group agrees when every learner in it agrees, disagrees when any disagrees, else is not comparable."""
    if Agreement.DISAGREES in verdicts:
        return Agreement.DISAGREES
    if verdicts and all(v is Agreement.AGREES for v in verdicts):
        return Agreement.AGREES
    return Agreement.NOT_COMPARABLE


def by_points(claim: Claim, ev: Evidence) -> list[Row]:
    """The rule of the module docstring, one row per group; a group's reason is its first deciding learner's."""
    if claim.metric is None or not all(claim.points or g.points for g in claim.groups):
        raise ReachError(f"claim {claim.id}: a rule over points needs a metric and points for every group")
    rows = []
    for group in claim.groups:
        members = [(lab, *judge_learner(claim, ev, lab, group.expect)) for lab in group.learners]
        agreement = combine([a for _, a, _, _ in members])
        lead = next((m for m in members if m[1] is agreement), members[0])
        rows.append(Row(claim, group, agreement, lead[2],
                        {**lead[3], "members": [{"learner": lab, "agreement": a, "reason": r, **f}
                                                for lab, a, r, f in members]}))
    return rows


# -- the rule over Table 1 -----------------------------------------------------------------------------------------
def by_path_order(claim: Claim, ev: Evidence) -> list[Row]:
    """Groups in Table 1's order of maximum path length (shortest first): each group's largest gradient decay rate
    at initialisation (decades of G(k) per step back) must lie below the next group's smallest. A group agrees when
    its comparisons with its neighbours hold, disagrees when one fails, and is not comparable without the probes or
    with a neighbour unmeasured."""
    t = ev.table1
    measured: list[list[dict[str, Any]]] = []
    for group in claim.groups:
        found = []
        for lab in group.learners:  # a name stands for each of its configurations (their inits are the same)
            ok = t is not None and {"learner", "name", "decay_rate"} <= set(t.columns)
            r = t[((t.learner == lab) | (t.name == lab)) & t.decay_rate.notna()] if ok else []
            for _, row in r.iterrows() if len(r) else []:
                found.append({"learner": row.learner, "decay": float(row.decay_rate),
                              "reach": row.get("gradient_reach"), "n": row.get("n_ref"),
                              "flops_n": row.get("flops_slope_n"), "theory_n": row.get("theory_slope_n"),
                              "latency_n": row.get("latency_slope_n")})
        measured.append(found)
    rows = []
    for i, group in enumerate(claim.groups):
        facts: dict[str, Any] = {"learners": measured[i], "checks": []}
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(claim.groups)]
        if not measured[i] or any(not measured[j] for j in neighbours):
            rows.append(Row(claim, group, Agreement.NOT_COMPARABLE, "no_probe", facts))
            continue
        for j in neighbours:
            short, long_ = (j, i) if j < i else (i, j)
            hi, lo = max(m["decay"] for m in measured[short]), min(m["decay"] for m in measured[long_])
            facts["checks"].append({"shorter": claim.groups[short].name, "longer": claim.groups[long_].name,
                                    "hi": hi, "lo": lo, "holds": hi < lo})
        ok = all(c["holds"] for c in facts["checks"])
        rows.append(Row(claim, group, Agreement.AGREES if ok else Agreement.DISAGREES, "path_order", facts))
    return rows
