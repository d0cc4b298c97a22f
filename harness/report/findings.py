"""Findings: what the results say, each a short statement with its evidence, set beside Table 1's theory.

A finding is computed from the records and the learners' declared structure, never asserted: a number that
is missing silences its sentence.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pandas as pd

from harness.report import analysis
from harness.report.load import Loaded
from harness.report.structure import Structure, span_of
from harness.store.record import OUTCOMES, Outcome, RunRecord
from harness.text import fmt_rate, fmt_values, join_names

AT_BASELINE = 0.02  # an unsolved run within this much accuracy of the memoryless baseline learned nothing usable


ABSOLUTE_POSITIONS = ("sinusoidal", "learned")


RELATIVE_POSITIONS = ("relative", "rotary")


def reach_text(row: Any) -> str:
    """'64 (2/2)': the reach with the seeds that solved it, or 'none'."""
    if row.reach:
        return f"{row.reach} ({row.solved_at_reach}/{row.seeds})"
    return "none"


# -- findings -------------------------------------------------------------------------------------------------
def finding(text: str, href: str, link: str, kind: str = "fact", details: list[str] | None = None) -> dict[str, Any]:
    return {"text": text, "href": href, "link": link, "kind": kind, "details": details or []}


def task_reach_sentences(summary: pd.DataFrame, order: list[str]) -> list[dict[str, Any]]:
    out = []
    for task, g in summary.groupby("task", sort=True):
        g = g.set_index("label").loc[[lab for lab in order if lab in set(g.label)]].reset_index()
        tested = [int(d) for d in g.max_tested if d]
        span = f"tested up to distance {max(tested)}" if tested else "nothing trained yet"
        ranked = g[g.reach > 0].sort_values("reach", ascending=False, kind="stable")
        parts = []
        for i, row in enumerate(ranked.itertuples()):
            parts.append(f"{row.label} {'reaches ' if i == 0 else ''}{row.reach} ({row.solved_at_reach}/{row.seeds}"
                         f"{' seeds' if i == 0 else ''})")
        none = [row.label for row in g.itertuples() if row.reach == 0 and row.max_tested > 0]
        text = f"{task} ({span}): " + ("; ".join(parts) if parts else "no learner solved any tested distance")
        if parts and none:
            text += f"; no tested distance solved by {join_names(none)}"
        out.append(finding(text + ".", "#reach", "reach table"))
    return out


def theory_sentences(cells: pd.DataFrame, frame: pd.DataFrame, records: list[RunRecord],
                     structure: Structure) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Findings that set the results beside Table 1's path-length argument (shorter maximum paths between
    positions make long-range dependencies easier to learn), and receptive-field caps that bind in this sweep.

    A contradiction: learner A fails a distance (no majority of seeds, although its receptive field covers the
    dependency) that a learner B with a longer maximum path length solves. Reported once per learner, at its
    shortest such distance, grouped by (task, distance)."""
    spans = span_of(records)
    rep: dict[tuple[str, str, int], RunRecord] = {}
    for r in records:
        rep.setdefault((r.task, r.label, r.distance), r)
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    consistent_tasks, tasks_with = [], []
    cap_values: dict[str, int] = {}
    cap_binds: dict[str, list[str]] = defaultdict(list)
    cap_broken: dict[str, list[str]] = defaultdict(list)
    for task, tc in cells.groupby("task", sort=True):
        found = False
        for label, lc in tc.groupby("label", sort=True):
            for row in lc[(lc.ran > 0) & ~lc.majority].sort_values("distance").itertuples():
                r = rep.get((task, label, row.distance))
                span = spans.get((task, row.distance), row.distance)
                path_a, rf_a, bounded_a = structure.at(r, span) if r is not None else (None, None, False)
                if path_a is None or (bounded_a and rf_a is not None and rf_a < span + 1):
                    continue  # unknown, or cannot see that far by construction (a cap, reported below)
                winners = {}
                for other in tc[(tc.distance == row.distance) & tc.majority].itertuples():
                    ro = rep.get((task, other.label, row.distance))
                    path_b = structure.at(ro, span)[0] if ro is not None else None
                    if path_b is not None and path_b > path_a:
                        winners[other.label] = path_b
                if winners:
                    g = groups.setdefault((task, int(row.distance)), {"losers": [], "winners": {}})
                    acc = "" if math.isnan(row.acc_mean) else f", accuracy {row.acc_mean:.2f}"
                    g["losers"].append(f"{label} (path {path_a}; {row.solved}/{row.seeds} seeds{acc})")
                    g["winners"].update(winners)
                    found = True
                    break  # its shortest failing distance says it; longer ones repeat it
        if (tc.ran > 0).any():
            (tasks_with if found else consistent_tasks).append(task)
        for label, lc in tc.groupby("label", sort=True):
            for row in lc[lc.ran > 0].itertuples():
                r = rep.get((task, label, row.distance))
                span = spans.get((task, row.distance), row.distance)
                _, rf, bounded = structure.at(r, span) if r is not None else (None, None, False)
                if not bounded or rf is None:
                    continue
                cap_values[label] = min(rf, cap_values.get(label, rf))
                if rf < span + 1:
                    cap_binds[label].append(f"{task} {row.distance}")
                    if row.majority:
                        cap_broken[label].append(f"{task} at distance {row.distance} (a dependency of {span} steps)")
    findings = []
    if groups:
        details = []
        for (task, distance), g in sorted(groups.items()):
            wins = join_names([f"{lab} (path {p})" for lab, p in sorted(g["winners"].items(), key=lambda kv: kv[1])])
            verb = "fails" if len(g["losers"]) == 1 else "fail"
            details.append(f"{task} at distance {distance}: {join_names(g['losers'])} {verb}, while {wins} "
                           f"solve{'s' if len(g['winners']) == 1 else ''} it.")
        if consistent_tasks:
            details.append(f"No such case on {join_names(consistent_tasks)}.")
        findings.append(finding(
            f"Results against the path-length argument on {len(tasks_with)} of "
            f"{len(tasks_with) + len(consistent_tasks)} task(s): learners with a shorter maximum path (Table 1; "
            f"path lengths below are at the failing distance) failed distances that learners with longer paths "
            f"solved. Within these budgets, path length is not what decides reach there.", "#fig-accuracy",
            "figure: accuracy vs distance", "contradiction", details))
    elif consistent_tasks:
        findings.append(finding(
            f"No result contradicts the path-length ordering on {join_names(consistent_tasks)}: no learner failed a "
            f"distance that a learner with a longer maximum path length solved.", "#fig-accuracy",
            "figure: accuracy vs distance"))
    summary = analysis.reach_summary(frame)
    caps = []
    for label, rf in sorted(cap_values.items()):
        if not cap_binds[label]:
            continue  # the field covers every dependency tested here: no cap in this sweep
        reach = {row.task: row.reach for row in summary[summary.label == label].itertuples()}
        reached = ", ".join(f"{t} {v or 'none'}" for t, v in sorted(reach.items()))
        text = (f"{label} sees {rf} positions (receptive field): by construction it cannot bridge a dependency "
                f"longer than {rf - 1} steps, whatever the budget; this caps it on {join_names(cap_binds[label][:4])}"
                f"{' and more' if len(cap_binds[label]) > 4 else ''} (measured reach: {reached}).")
        kind = "fact"
        if cap_broken[label]:
            text += (" Yet it solved " + join_names(cap_broken[label]) + ", beyond its receptive field: check the "
                     "learner's receptive_field() or the task's distances.")
            kind = "contradiction"
        caps.append(finding(text, "#structure", "structure per learner", kind))
    return findings, caps


def position_kind(options: dict[str, Any]) -> str | None:
    pos = options.get("positions")
    if pos in ABSOLUTE_POSITIONS:
        return "absolute"
    if pos in RELATIVE_POSITIONS:
        return "relative"
    return None


def transformer_limit(summary: pd.DataFrame, structure: Structure) -> dict[str, Any] | None:
    """Which limit applies to the transformer: compare absolute- and relative-position transformers task by task.

    Both have path length O(1) (every position attends to every earlier one in one layer), so a difference in
    reach between them is the cost of finding the position, not of path length."""
    kinds = {}
    for label, opts in structure.options.items():
        spec = structure.specs.get(label, {})
        if spec.get("learner") == "transformer":
            kind = position_kind(opts)
            if kind:
                kinds[label] = kind
    if "absolute" not in kinds.values() or "relative" not in kinds.values():
        return None
    details, rel_better, abs_better, same = [], [], [], []
    for task, g in summary.groupby("task", sort=True):
        g = g[g.label.isin(kinds) & (g.max_tested > 0)]
        absolute = g[g.label.map(kinds) == "absolute"].sort_values("reach", ascending=False)
        relative = g[g.label.map(kinds) == "relative"].sort_values("reach", ascending=False)
        if absolute.empty or relative.empty:
            continue
        a, r = absolute.iloc[0], relative.iloc[0]
        pair = f"{r.label} {reach_text(r)} against {a.label} {reach_text(a)}"
        if r.reach > a.reach:
            rel_better.append(task)
            details.append(f"{task}: {pair}: relative positions reach further.")
        elif a.reach > r.reach:
            abs_better.append(task)
            details.append(f"{task}: {pair}: absolute positions reach further.")
        else:
            same.append(task)
            top = max(int(a.max_tested), int(r.max_tested))
            if a.reach and a.reach >= top:
                where = "both solve every tested distance, so neither limit shows within this ladder"
            elif not a.reach:
                where = ("neither solves any tested distance; with path length 1 for both and no difference between "
                         "the encodings, what limits them here is the training budget, not the architecture")
            else:
                where = ("both stop at the same rung; neither path length (1 for both) nor the kind of position "
                         "encoding separates them there")
            details.append(f"{task}: {pair}: {where}.")
    if not details:
        return None
    n = len(rel_better) + len(abs_better) + len(same)
    rel_labels = join_names(sorted({lab for lab, k in kinds.items() if k == "relative"}))
    if rel_better and not abs_better:
        text = (f"Which limit applies to the transformer: finding the position. With relative positions "
                f"({rel_labels}) it reaches further on {len(rel_better)} of {n} task(s) ({join_names(rel_better)}); "
                f"both variants have maximum path length 1, so there the absolute-position transformer is limited "
                f"by locating the position, not by path length.")
        kind = "fact"
    elif abs_better and not rel_better:
        text = (f"Which limit applies to the transformer: not finding the position. The absolute-position "
                f"transformer reaches further than the relative one on {len(abs_better)} of {n} task(s) "
                f"({join_names(abs_better)}); with path length 1 for both, the gap is in the encoding's fit to the "
                f"task, not path length.")
        kind = "contradiction"
    elif not rel_better and not abs_better:
        text = (f"Which limit applies to the transformer: neither path length nor position finding separates the "
                f"absolute and relative transformers; they reach the same distance on all {n} task(s).")
        kind = "fact"
    else:
        text = (f"Which limit applies to the transformer: it depends on the task. Relative positions reach further "
                f"on {join_names(rel_better)}, absolute ones on {join_names(abs_better)}; path length is 1 for both.")
        kind = "contradiction"
    return finding(text, "#reach", "reach table", kind, details)


def headline_findings(loaded: Loaded, frame: pd.DataFrame, structure: Structure, order: list[str],
                      probe_readings: list[str]) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = []
    counts = analysis.outcome_counts(frame)
    real = len(loaded.records)
    if loaded.pending:
        findings.append(finding(
            f"This sweep is incomplete: {real} of {len(frame)} planned runs have a result (skipped ones included), "
            f"{len(loaded.pending)} have none yet. Pending runs count as not solved; re-run the sweep's command "
            f"to finish it, then `python run.py report` again.", "#provenance", "sessions", "warning"))
    if not len(frame):
        findings.append(finding("No training runs in this folder (probes only).", "#probes", "probes"))
    else:
        summary = analysis.reach_summary(frame)
        cells = analysis.distance_cells(frame)
        findings.extend(task_reach_sentences(summary, order))
        limit = transformer_limit(summary, structure)
        if limit:
            findings.append(limit)
        contradictions, caps = theory_sentences(cells, frame, loaded.records, structure)
        findings.extend(contradictions)
        findings.extend(caps)
        trained = frame[frame.outcome.isin([Outcome.UNSOLVED, Outcome.DIVERGED])].copy()
        if len(trained):
            acc = pd.to_numeric(trained.test_accuracy, errors="coerce")
            base = pd.to_numeric(trained.baseline_accuracy, errors="coerce")
            at_base = int(((acc - base) <= AT_BASELINE).sum())
            findings.append(finding(
                f"Of {len(trained)} runs that did not solve their distance, {at_base} ended at most {AT_BASELINE} "
                f"above the memoryless baseline, or below it (nothing usable learned about the dependency), and "
                f"{len(trained) - at_base} clearly above it (partial learning: a larger budget might solve them).",
                "#fig-accuracy", "figure: accuracy vs distance"))
        speed = frame[frame.outcome.isin([Outcome.SOLVED, Outcome.UNSOLVED])].copy()
        speed["tokens_per_s"] = pd.to_numeric(speed.tokens_per_s, errors="coerce")
        med = speed.dropna(subset=["tokens_per_s"]).groupby("label").tokens_per_s.median().sort_values(ascending=False)
        if len(med) >= 2:
            threads = sorted({int(t) for t in pd.to_numeric(frame.threads, errors="coerce").dropna()})
            per_run = f" with {threads[0]} thread(s) per run" if len(threads) == 1 else ""
            findings.append(finding(
                f"Training throughput (median over its runs, tokens/s): fastest {med.index[0]} "
                f"{fmt_rate(med.iloc[0])}, slowest {med.index[-1]} {fmt_rate(med.iloc[-1])} "
                f"({med.iloc[0] / med.iloc[-1]:.1f}x apart){per_run}; timed inside the sweep with workers running "
                f"side by side, so compare ratios, not absolute numbers.", "#runs", "all runs"))
        parts = ", ".join(f"{counts[k]} {k}" for k in OUTCOMES if counts[k])
        findings.append(finding(f"{len(frame)} runs: {parts}.", "#runs", "all runs",
                                "warning" if counts["error"] or counts["diverged"] else "fact"))
    for text in probe_readings:
        findings.append(finding(text, "#probes", "Table 1, measured"))
    return findings


def test_sizes(records: list[RunRecord]) -> tuple[int, int] | None:
    """(smallest, largest) number of scored test positions behind one run's accuracy; None without any."""
    totals = [sum(v[1] for v in r.test_by_distance.values()) for r in records if r.test_by_distance]
    return (min(totals), max(totals)) if totals else None


def threats(loaded: Loaded, frame: pd.DataFrame, structure: Structure, budgets: list[dict[str, Any]]) -> list[str]:
    out = []
    steps = sorted({r.spec.get("steps") for r in loaded.records} - {None})
    trained = frame[frame.outcome.isin([Outcome.UNSOLVED, Outcome.DIVERGED])]
    partial = 0
    if len(trained):
        gap = pd.to_numeric(trained.test_accuracy, errors="coerce") - pd.to_numeric(trained.baseline_accuracy,
                                                                                 errors="coerce")
        partial = int((gap > AT_BASELINE).sum())
    out.append(f"Budgets shape the numbers: every run had a fixed step budget ({fmt_values(steps)} steps). Reach is "
               f"what a learner solves within it, not what it could ever solve; {partial} unsolved run(s) ended above "
               f"the memoryless baseline and might be solved with more steps.")
    out.append("Learning rates were set once per learner (see Definitions), not tuned per task or distance; a "
               "learner whose rate suits short distances is disadvantaged at long ones.")
    labels_with_pos = [b["label"] for b in budgets if "positions=" in b["options"]]
    if labels_with_pos:
        out.append("Position encodings shape the attention learners' numbers: absolute positions must be located "
                   "by matching content to position, relative ones give the offset directly; the same architecture "
                   "can look limited or not depending on this choice (" + join_names(labels_with_pos) + ").")
    spans = span_of(loaded.records)
    bounded: dict[str, int] = {}
    lparams: dict[str, int] = {}
    for r in loaded.records:
        if not r.trained:
            continue
        label = r.label
        if r.learner_params:
            lparams[label] = max(lparams.get(label, 0), int(r.learner_params))
        span = spans.get((r.task, r.distance), r.distance)
        _, rf, is_bounded = structure.at(r, span)
        if is_bounded and rf is not None and rf < span + 1:
            bounded[label] = rf
    if bounded:
        out.append("Fixed-depth convolutions and windowed attention cannot exceed their receptive field, whatever they "
                   "learn: " + join_names([f"{lab} ({rf} positions)" for lab, rf in sorted(bounded.items())])
                   + " met dependencies longer than that here, so their reach is capped by construction; a deeper "
                     "stack (or a wider window) would move the cap.")
    widths = sorted({b["d_model"] for b in budgets})
    if lparams:
        lo, hi = min(lparams, key=lparams.get), max(lparams, key=lparams.get)
        out.append(f"Equal width is not equal capacity: d_model {join_names(widths)}, but the learners' own parameters "
                   f"range from {lparams[lo]:,} ({lo}) to {lparams[hi]:,} ({hi}); the table in Definitions lists "
                   f"them all.")
    seeds = sorted({int(s) for s in frame.seed.unique()}) if len(frame) else []
    if seeds:
        out.append(f"Seeds: {len(seeds)} ({', '.join(map(str, seeds))}); a majority needs {len(seeds) // 2 + 1} of "
                   f"them. With few seeds one unlucky initialisation moves a reach by a rung.")
    out.append("Reach is the largest tested distance: the true limit lies between it and the next rung of the ladder. "
               "Pruning assumes difficulty grows with distance: after a learner failed a distance in every seed, "
               "longer distances were not run (marked ✂ / 'not run').")
    sizes = test_sizes(loaded.records)
    if sizes:
        out.append(f"Each test accuracy rests on {sizes[0]:,}–{sizes[1]:,} scored positions: at the 0.99 threshold "
                   f"that is a binomial standard error of about {math.sqrt(0.99 * 0.01 / max(sizes[0], 1)):.4f} at "
                   f"the smallest size, so runs just below or above the threshold are within noise.")
    out.append("The tasks are synthetic: solving them is necessary for long-range modelling, not sufficient; and "
               "tokens/s were timed inside the sweep, with workers sharing the machine, so compare ratios within this "
               "report, not absolute numbers across machines.")
    if loaded.pending:
        out.append(f"The sweep is incomplete ({len(loaded.pending)} runs pending): reaches may rise when it finishes.")
    return out
