"""Findings: what the results say, as typed facts. Python computes them; templates/findings.j2 writes the sentences.

A finding is a :class:`Finding`: a theme, a key (the macro of findings.j2 that writes it), its facts (numbers and
names, nothing pre-written) and a kind — a plain fact, a result *against* the theory the report sets beside it, or
a warning about the sweep itself. Learners that share a finding are named together in one finding. Every number
comes from the records; a number that is missing silences its finding instead of being guessed.

Themes, in reading order: reach per task, path length and gradients, receptive fields, positions, memory load and
capacity, cost and parallelism, and the sweep itself.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.config.plan import DISTANCE, LOAD
from harness.report.structure import Structure
from harness.report.verdict import Verdict
from harness.store.record import OUTCOMES, Outcome, RunRecord

FACT, AGAINST, WARNING = "fact", "against", "warning"
THEMES = {"reach": "Reach per task", "path": "Path length and gradients", "field": "Receptive fields",
          "positions": "Positions", "capacity": "Memory load and capacity", "cost": "Cost and parallelism",
          "sweep": "The sweep itself"}
AT_BASELINE = 0.02  # an unsolved run within this much accuracy of the memoryless baseline learned nothing usable
RELATIVE_POSITIONS = ("relative", "rotary", "alibi")  # logits that depend on t - s only

ABSOLUTE_POSITIONS = ("sinusoidal", "learned")  # positions added to the input once, not offsets


@dataclass(frozen=True)
class Finding:
    theme: str  # a key of THEMES
    key: str  # the macro of templates/findings.j2 that writes the sentence
    facts: dict[str, Any]
    kind: str = FACT  # FACT, AGAINST (a result against the theory beside it) or WARNING
    details: list[dict[str, Any]] = field(default_factory=list)  # folded derivations, each {key, facts}


def _group(pairs: list[tuple[str, Any]]) -> list[tuple[Any, list[str]]]:
    """[(label, value)] -> [(value, [labels])] in first-seen order: learners with the same value named once."""
    out: dict[Any, list[str]] = {}
    for label, value in pairs:
        out.setdefault(value, []).append(label)
    return list(out.items())


# -- reach per task -------------------------------------------------------------------------------------------
def task_reach(summary: pd.DataFrame, order: list[str]) -> list[Finding]:
    """One finding per task configuration: learners grouped by reach (or capacity), best first."""
    out = []
    for task, g in summary.groupby("task", sort=True):
        g = g.set_index("label").reindex([lab for lab in order if lab in set(g.label)])
        tested = [int(v) for v in g.max_tested if v]
        ranked = g[g.reach > 0].sort_values("reach", ascending=False, kind="stable")
        groups = [(int(v), names) for v, names in _group([(lab, int(r)) for lab, r in ranked.reach.items()])]
        none = [lab for lab, row in g.iterrows() if row.reach == 0 and row.max_tested > 0]
        out.append(Finding("reach", "task_reach", {"task": task, "axis": str(g.axis.iloc[0]),
                                                    "top": max(tested) if tested else 0, "groups": groups,
                                                    "none": none}))
    return out


# -- path length ----------------------------------------------------------------------------------------------
def path_and_fields(cells: pd.DataFrame, records: dict[tuple[str, str, int], RunRecord],
                    structure: Structure, summary: pd.DataFrame) -> list[Finding]:
    """Results set beside Table 1's path-length argument (shorter maximum paths make long-range dependencies
    easier to learn), and receptive fields that cap a learner in this sweep.

    Against the argument: learner A fails a distance (no majority of seeds) although its receptive field covers the
    dependency, while a learner B with a longer maximum path solves it. Reported once per learner, at its shortest
    such distance, grouped by (task, distance). ``records``: (task, label, rung) -> a representative record."""
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    consistent, with_cases = [], []
    field_of: dict[str, int] = {}
    binds: dict[str, list[str]] = defaultdict(list)
    broken: dict[str, list[str]] = defaultdict(list)
    for task, tc in cells[cells.axis == DISTANCE].groupby("task", sort=True):
        found = False
        for label, lc in tc.groupby("label", sort=True):
            for row in lc[(lc.ran > 0) & ~lc.majority].sort_values("rung").itertuples():
                r = records.get((task, label, row.rung))
                span = _span(r, row.rung)
                path_a, rf_a, bounded_a = structure.at(r, span) if r is not None else (None, None, False)
                if path_a is None or (bounded_a and rf_a is not None and rf_a < span + 1):
                    continue  # unknown, or beyond its field by construction: a cap, below
                winners = {}
                for other in tc[(tc.rung == row.rung) & tc.majority].itertuples():
                    ro = records.get((task, other.label, row.rung))
                    path_b = structure.at(ro, span)[0] if ro is not None else None
                    if path_b is not None and path_b > path_a:
                        winners[other.label] = path_b
                if winners:
                    g = groups.setdefault((task, int(row.rung)), {"losers": [], "winners": {}})
                    g["losers"].append({"label": label, "path": path_a, "solved": row.solved, "seeds": row.seeds,
                                        "accuracy": None if math.isnan(row.acc_mean) else row.acc_mean})
                    g["winners"].update(winners)
                    found = True
                    break  # its shortest failing distance says it; longer ones repeat it
        if (tc.ran > 0).any():
            (with_cases if found else consistent).append(task)
        for label, lc in tc.groupby("label", sort=True):
            for row in lc[lc.ran > 0].itertuples():
                r = records.get((task, label, row.rung))
                span = _span(r, row.rung)
                _, rf, bounded = structure.at(r, span) if r is not None else (None, None, False)
                if not bounded or rf is None:
                    continue
                field_of[label] = min(rf, field_of.get(label, rf))
                if rf < span + 1:
                    binds[label].append(f"{task} {row.rung}")
                    if row.majority:
                        broken[label].append({"task": task, "distance": int(row.rung), "span": span})
    out = []
    if groups:
        details = [{"key": "path_case", "facts": {"task": t, "distance": d, "losers": g["losers"],
                                                  "winners": sorted(g["winners"].items(), key=lambda kv: kv[1])}}
                   for (t, d), g in sorted(groups.items())]
        out.append(Finding("path", "path_against", {"tasks": with_cases, "of": len(with_cases) + len(consistent),
                                                    "consistent": consistent}, AGAINST, details))
    elif consistent:
        out.append(Finding("path", "path_consistent", {"tasks": consistent}))
    for row in summary.itertuples():
        if row.solved_beyond:
            out.append(Finding("path", "solved_beyond", {"label": row.label, "task": row.task, "axis": row.axis,
                                                         "failed": int(row.first_failed),
                                                         "beyond": list(row.solved_beyond)}, AGAINST))
    capped = [(label, field_of[label]) for label in sorted(binds)]
    for rf, labels in _group(capped):
        reached = {lab: {t: int(v) for t, v in summary[summary.label == lab][["task", "reach"]].values}
                   for lab in labels}
        out.append(Finding("field", "field_cap", {"labels": labels, "field": rf, "reached": reached,
                                                  "where": sorted({w for lab in labels for w in binds[lab]})}))
    for label, cases in sorted(broken.items()):
        out.append(Finding("field", "field_broken", {"label": label, "field": field_of[label], "cases": cases},
                           AGAINST))
    return out


def _span(record: RunRecord | None, distance: int) -> int:
    """The longest dependency a run must bridge: its largest per-position distance, else the distance."""
    by = [int(k) for k in ((record.test_by_distance or {}) if record is not None else {})]
    return max([distance, *by])


# -- positions ------------------------------------------------------------------------------------------------
def positions(summary: pd.DataFrame, structure: Structure) -> list[Finding]:
    """Absolute against relative positions in the transformers of the sweep, task by task. Both have path length 1
    (every position attends to every earlier one in one layer), so a difference in reach is the cost of finding
    the position, not of path length."""
    kinds = {}
    for label, opts in structure.options.items():
        if structure.specs.get(label, {}).get("learner") == "transformer":
            pos = opts.get("positions")
            if pos in ABSOLUTE_POSITIONS or pos in RELATIVE_POSITIONS:
                kinds[label] = "absolute" if pos in ABSOLUTE_POSITIONS else "relative"
    if set(kinds.values()) != {"absolute", "relative"}:
        return []
    cases = []
    distance = summary[summary.axis == DISTANCE]
    for task, g in distance[distance.label.isin(kinds) & (distance.max_tested > 0)].groupby("task", sort=True):
        best = {k: g[g.label.map(kinds) == k].sort_values("reach", ascending=False) for k in ("absolute", "relative")}
        if best["absolute"].empty or best["relative"].empty:
            continue
        a, r = best["absolute"].iloc[0], best["relative"].iloc[0]
        winner = "relative" if r.reach > a.reach else "absolute" if a.reach > r.reach else "same"
        cases.append({"task": task, "winner": winner, "relative": r.label, "relative_reach": int(r.reach),
                      "absolute": a.label, "absolute_reach": int(a.reach), "top": int(max(a.max_tested, r.max_tested))})
    if not cases:
        return []
    rel = [c["task"] for c in cases if c["winner"] == "relative"]
    ab = [c["task"] for c in cases if c["winner"] == "absolute"]
    kind = AGAINST if ab else FACT
    return [Finding("positions", "positions", {"relative_tasks": rel, "absolute_tasks": ab, "n": len(cases),
                                               "relative": sorted(k for k, v in kinds.items() if v == "relative"),
                                               "absolute": sorted(k for k, v in kinds.items() if v == "absolute")},
                    kind, [{"key": "positions_case", "facts": c} for c in cases])]


# -- memory load and capacity ----------------------------------------------------------------------------------
def capacity(summary: pd.DataFrame, frame: pd.DataFrame, verdict: Verdict, order: list[str],
             structure: Structure) -> list[Finding]:
    """The load ladder (capacity at a fixed distance, learners grouped by it), and the selection claim: Gu & Dao
    report that input-dependent Δ, B, C (mamba) solve selective copying where time-invariant recurrences (lru) do
    not — held against this sweep when both ran it."""
    out = []
    for task, g in summary[summary.axis == LOAD].groupby("task", sort=True):
        distance = int(frame[frame.task == task].distance.iloc[0])
        g = g.set_index("label").reindex([lab for lab in order if lab in set(g.label)])
        groups = _group([(lab, int(row.reach)) for lab, row in g.iterrows() if row.max_tested > 0])
        groups.sort(key=lambda kv: -kv[0])
        out.append(Finding("capacity", "capacity", {"task": task, "distance": distance,
                                                    "top": int(g.max_planned.max()), "groups": groups,
                                                    "state": [lab for lab in g.index
                                                              if structure.family.get(lab) in ("recurrent",
                                                                                               "linear-recurrent")]}))
    by_name = {structure.specs.get(lab, {}).get("learner"): lab for lab in order}
    if "mamba" in by_name and "lru" in by_name:
        for task, g in summary[(summary.axis == DISTANCE)].groupby("task", sort=True):
            if not frame[frame.task == task].task_name.eq("selective-copy").all():
                continue
            g = g.set_index("label")
            if by_name["mamba"] not in g.index or by_name["lru"] not in g.index:
                continue
            m, lr = g.loc[by_name["mamba"]], g.loc[by_name["lru"]]
            holds = int(m.reach) > int(lr.reach)
            out.append(Finding("capacity", "selection", {"task": task, "mamba": by_name["mamba"],
                                                         "lru": by_name["lru"],
                                                         "mamba_reach": int(m.reach), "lru_reach": int(lr.reach),
                                                         "top": int(max(m.max_tested, lr.max_tested)),
                                                         "holds": holds}, FACT if holds else AGAINST))
    return out


# -- the sweep itself -----------------------------------------------------------------------------------------
def sweep(frame: pd.DataFrame, pending: int, real: int) -> list[Finding]:
    """Counts, runs that learned nothing against partial learning, throughput in the sweep, incompleteness."""
    out = []
    if pending:
        out.append(Finding("sweep", "incomplete", {"done": real, "planned": len(frame), "pending": pending}, WARNING))
    if not len(frame):
        return out + [Finding("sweep", "no_runs", {})]
    trained = frame[frame.outcome.isin([Outcome.UNSOLVED, Outcome.DIVERGED])]
    if len(trained):
        gap = pd.to_numeric(trained.test_accuracy, errors="coerce") - pd.to_numeric(trained.baseline_accuracy,
                                                                                 errors="coerce")
        at_base = int((gap <= AT_BASELINE).sum())
        out.append(Finding("sweep", "unsolved", {"n": len(trained), "at_base": at_base,
                                                 "partial": len(trained) - at_base, "margin": AT_BASELINE}))
    speed = frame[frame.outcome.isin([Outcome.SOLVED, Outcome.UNSOLVED])].drop_duplicates("id")
    rate = pd.to_numeric(speed.tokens_per_s, errors="coerce")
    med = rate.groupby(speed.label).median().dropna().sort_values(ascending=False)
    if len(med) >= 2:
        threads = sorted({int(t) for t in pd.to_numeric(frame.threads, errors="coerce").dropna()})
        out.append(Finding("cost", "throughput", {"fastest": med.index[0], "fast": float(med.iloc[0]),
                                                  "slowest": med.index[-1], "slow": float(med.iloc[-1]),
                                                  "threads": threads[0] if len(threads) == 1 else None}))
    counts = frame.drop_duplicates("id").outcome.value_counts().to_dict()
    counts = {str(k): int(counts.get(k, 0)) for k in OUTCOMES}
    out.append(Finding("sweep", "counts", {"n": sum(counts.values()), "counts": counts},
                       WARNING if counts["error"] or counts["diverged"] else FACT))
    return out


# -- threats to validity ----------------------------------------------------------------------------------------
def threats(records: list[RunRecord], frame: pd.DataFrame, structure: Structure, budgets: list[dict[str, Any]],
            pending: int) -> list[tuple[str, dict[str, Any]]]:
    """(key, facts) per threat to validity that applies; templates/threats.j2 writes them."""
    if not len(frame):
        return [("probes_only", {})]
    out: list[tuple[str, dict[str, Any]]] = []
    trained = frame[frame.outcome.isin([Outcome.UNSOLVED, Outcome.DIVERGED])].drop_duplicates("id")
    gap = pd.to_numeric(trained.test_accuracy, errors="coerce") - pd.to_numeric(trained.baseline_accuracy,
                                                                             errors="coerce")
    out.append(("budget", {"steps": sorted({r.spec.get("steps") for r in records} - {None}),
                           "partial": int((gap > AT_BASELINE).sum())}))
    out.append(("learning_rates", {}))
    with_pos = [b["label"] for b in budgets if "positions=" in b["options"]]
    if with_pos:
        out.append(("positions", {"labels": with_pos}))
    bounded: dict[str, int] = {}
    for r in records:
        if r.trained:
            span = _span(r, r.distance)
            _, rf, is_bounded = structure.at(r, span)
            if is_bounded and rf is not None and rf < span + 1:
                bounded[r.label] = rf
    if bounded:
        out.append(("fields", {"pairs": sorted(bounded.items())}))
    lparams = {}
    for r in records:
        if r.learner_params:
            lparams[r.label] = max(lparams.get(r.label, 0), int(r.learner_params))
    if lparams:
        lo, hi = min(lparams, key=lparams.get), max(lparams, key=lparams.get)
        out.append(("capacity", {"widths": sorted({b["d_model"] for b in budgets}), "lo": lo, "lo_params": lparams[lo],
                                 "hi": hi, "hi_params": lparams[hi]}))
    seeds = sorted({int(s) for s in frame.seed.unique()})
    out.append(("seeds", {"seeds": seeds, "majority": len(seeds) // 2 + 1}))
    out.append(("ladder", {}))
    totals = [sum(v[1] for v in r.test_by_distance.values()) for r in records if r.test_by_distance]
    if totals:
        out.append(("test_size", {"lo": min(totals), "hi": max(totals),
                                  "se": math.sqrt(0.99 * 0.01 / max(min(totals), 1))}))
    out.append(("synthetic", {}))
    if pending:
        out.append(("incomplete", {"pending": pending}))
    return out
