"""Comparing the runs of two results folders: the verdicts of ``python run.py compare BASE NEW`` on folders.

Runs are matched by cell = (task configuration, learner configuration, rung), where a rung is a
distance (or a load, on a load ladder) and configurations are read from each folder's suite.toml (labels as the
report shows them; without suite.toml, the task's name and the distance). Only each side's :func:`base_runs` are
judged: the suite's own seeds, no escalated runs. Accuracy is compared on the cells where both sides have runs that
trained (solved, unsolved or diverged).

Results reproduce to the bit only on the same CPU, torch build and thread count: elsewhere floating-point kernels
differ, and a cell on a learner's boundary (its seeds split) can flip with no change of code. So by default a change
counts only when it is larger than the cell's own noise (harness.report.noise): NEW regressed when

- the mean test accuracy over seeds of a cell dropped by more than ``max_accuracy_drop`` (absolute, default 0.02)
  *and* the drop is beyond noise: a one-sided exact permutation test of BASE's seeds against NEW's at p <=
  ``alpha`` (default 0.05), or, with too few seeds for any outcome to reach ``alpha`` (two a side: the least p is
  1/6), no NEW seed as good as any BASE seed; *and* not with every seed of both sides at chance (at most the
  memoryless baseline accuracy + 2 binomial standard errors of the run's test answers: a learner that learned
  nothing, whose score moves only with the test stream its seed drew);
- the reach (or capacity) of a (task, learner) fell, computed on the rungs both sides planned (so a suite that
  grew or shrank does not count as a change), *and* a rung the fall spans is solved by fewer seeds beyond noise by
  the same rule (Fisher's exact test on solved seeds): a fall confined to rungs where either side's seeds split is
  *within noise* at two seeds a side; a reach that grew is reported as a gain or within noise, never gated;
- a cell whose BASE runs all trained has runs that raised in NEW (never noise);
- a learner's training throughput fell by more than ``max_slowdown`` percent: slowdown = median over its
  common cells of (BASE tokens/s ÷ NEW tokens/s) − 1, i.e. how much longer a token takes. A median over
  cells, not one cell, because a single short run's tokens/s is noisy on a shared machine. Each learner's
  change relative to the median of the other learners is printed beside it (not gated): when every learner
  moved together, the machine's speed changed, not the code, and a note says so. Short sweep runs measure
  throughput coarsely (on a loaded 2-core machine two sweeps minutes apart differed by 2.4x for unchanged
  code); the benchmark suite's JSON is the steadier speed gate. When env.json says the two sides ran on different
  machines (CPU, torch build or threads), throughput is shown and not gated.

Every change within noise is listed with its evidence; the noise-aware gate fails on a subset of what ``strict``
fails on. ``strict`` (``--strict``) keeps the exact comparison, for two runs on one machine: any drop beyond the
threshold, any fall of reach, any run that raises, and throughput gated whatever env.json says.

Steps to solve (mean over solved seeds) are shown beside accuracy but do not gate: early stopping on a
50-step validation grid makes them coarse.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from rich.markup import escape
from rich.table import Table

from harness.config.plan import LOAD, Cell
from harness.errors import ReachError
from harness.report.analysis import reach_table
from harness.report.literature import compare_claims
from harness.report.noise import (
    ALPHA,
    CHANCE_Z,
    MACHINE,
    Evidence,
    accuracy_test,
    chance_top,
    least_p,
    machine_differences,
    solved_test,
)
from harness.store.record import TRAINED, Outcome, RunRecord
from harness.store.table import runs_frame
from harness.text import MISSING, fmt

# Rows of the per-distance table printed in full up to this many; beyond, only changed rows are printed.
FULL_TABLE_ROWS = 40


@dataclass
class Comparison:
    """What compare found: header lines (the machines, the rule), (heading, rich table) pairs to print, regressions
    (each one line, with its reason and evidence), changes judged within noise and gains beyond it (each one line,
    with its evidence), and notes."""

    tables: list[tuple[str, Table]] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    within_noise: list[str] = field(default_factory=list)
    gains: list[str] = field(default_factory=list)
    slower: list[str] = field(default_factory=list)  # the regressions that are throughput's (also in regressions)
    strict: bool = False
    throughput_gated: bool = True


# Mutation testing (README, "Contributing") covers the verdicts of compare_results; formatting table cells is left
# out of it.
# pragma: no mutate start
# -- formatting -------------------------------------------------------------------------------------------------

def _acc(mean: float, lo: float, hi: float, n: int, error: int = 0, skipped: int = 0) -> str:
    """'0.912 [0.880–0.944] (n=2)': mean over the seeds that trained, their range, how many."""
    if math.isnan(mean):
        return "raised" if error else "skipped" if skipped else MISSING
    if n <= 1 or hi - lo < 5e-4:
        return f"{mean:.3f}" + (f" (n={n})" if n > 1 else "")
    return f"{mean:.3f} [{lo:.3f}–{hi:.3f}] (n={n})"


def _steps(value: float, solved: int, n: int) -> str:
    return MISSING if solved == 0 or math.isnan(value) else f"{value:.0f}" + (f" ({solved}/{n})" if n > 1 else "")


# The status column of the tables (rich markup).
OK, REGRESSED, WITHIN_NOISE, BETTER, NOT_GATED = "ok", "[bold red]REGRESSED[/]", "within noise", "better", "not gated"


def add_row(table: Table, cells: tuple[Any, ...], status: bool | str) -> None:
    """A row of plain text (labels such as 'transformer[positions=rotary]' are not rich markup) plus a status
    (True: REGRESSED, False: ok, or one of the statuses above)."""
    status = (REGRESSED if status else OK) if isinstance(status, bool) else status
    table.add_row(*(escape(str(c)) for c in cells), status)


# pragma: no mutate end
# -- results folders ---------------------------------------------------------------------------------------------

def base_runs(records: list[RunRecord], seeds: Collection[int] | None) -> list[RunRecord]:
    """The runs compare judges: the suite's own design. Left out: an escalated run (its spec's ``continues`` names
    the failed run it continues at a larger step budget) and a run of a seed outside the suite's ``seeds`` (an
    extra seed at one rung), so that both sides are judged on the same seeds and budgets. ``seeds`` None (the folder
    has no suite.toml): every seed."""
    return [r for r in records if not r.spec.get("continues") and (seeds is None or r.seed in seeds)]


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (task, label, rung): seeds that trained, accuracy mean/min/max over them (and the values), solved count,
    runs that ran (trained or raised), mean steps to solve over solved seeds, median tokens/s, the counts of runs
    that raised or were skipped, and ``chance``: the highest accuracy still at chance for every one of its trained
    runs (:func:`harness.report.noise.chance_top`; NaN where a run does not say)."""
    rows = []
    for (task, label, rung), g in frame.groupby(["task", "label", "rung"], sort=True):
        ran = g[g.outcome.isin(TRAINED)]
        acc = pd.to_numeric(ran.test_accuracy, errors="coerce").dropna()
        solved = ran[ran.outcome == Outcome.SOLVED]
        steps = pd.to_numeric(solved.steps_to_solve, errors="coerce").dropna()
        tps = pd.to_numeric(ran.tokens_per_s, errors="coerce").dropna()
        error = int((g.outcome == Outcome.ERROR).sum())
        chance = pd.to_numeric(ran.chance_top, errors="coerce") if "chance_top" in ran else pd.Series(dtype=float)
        rows.append({"task": task, "label": label, "rung": int(rung), "axis": str(g.axis.iloc[0]), "trained": len(ran),
                     "seeds": sorted(int(s) for s in g.seed), "acc_mean": float(acc.mean()) if len(acc) else math.nan,
                     "acc_min": float(acc.min()) if len(acc) else math.nan,
                     "acc_max": float(acc.max()) if len(acc) else math.nan,
                     "acc_values": [float(a) for a in acc],
                     "solved": len(solved), "ran": len(ran) + error,
                     "steps": float(steps.mean()) if len(steps) else math.nan,
                     "tokens_per_s": float(tps.median()) if len(tps) else math.nan,
                     "error": error, "skipped": int((g.outcome == Outcome.SKIPPED).sum()),
                     "chance": float(chance.min()) if chance.notna().all() and len(chance) else math.nan})
    return pd.DataFrame(rows, columns=["task", "label", "rung", "axis", "trained", "seeds", "acc_mean", "acc_min",
                                       "acc_max", "acc_values", "solved", "ran", "steps", "tokens_per_s", "error",
                                       "skipped", "chance"])


def _describe(frame: pd.DataFrame) -> str:
    tasks = ", ".join(sorted(frame.task.unique()))
    labels = ", ".join(sorted(frame.label.unique()))
    return f"tasks {{{tasks}}}, learners {{{labels}}}"


# -- the header: machines and rule ------------------------------------------------------------------

def _header(env_b: dict, env_n: dict, strict: bool, alpha: float, drop: float, seeds: tuple[int, int]) -> list[str]:
    differ, known = machine_differences(env_b, env_n)
    if differ:
        what = "; ".join(f"{name} '{b}' → '{n}'" for name, b, n in differ)
        line = (f"different machines ({what}): results reproduce to the bit only on the same CPU, torch build and "
                f"threads, so here only within noise; ")
        line += ("--strict compares accuracy exactly anyway (expect false alarms near a learner's limit), and "
                 "throughput is not comparable" if strict else
                 "accuracy and reach are judged by the noise-aware rule, and throughput is not comparable (not gated)")
    elif known:
        get = dict(MACHINE)
        line = (f"same machine (CPU '{get['CPU'](env_b)}', torch {fmt_value(get['torch'](env_b))}, "
                f"{fmt_value(get['threads per run'](env_b))} thread(s) per run): the same code reproduces to the bit "
                f"here; --strict fails on any change beyond the thresholds")
    else:
        line = ("machines unknown (env.json names no CPU on one side): results reproduce to the bit only on the same "
                "CPU, torch build and threads")
    if strict:
        rule = (f"rule: strict (--strict): a fall of mean test accuracy by more than {drop:g}, any fall of reach or "
                f"capacity, and a run that now raises are regressions")
    else:
        least = least_p(*seeds)
        few = (f"with {_seeds(*seeds)}, as here, no outcome reaches {alpha:g} (the least p is {fmt_p(least)}), so "
               if least > alpha else "where the seeds are too few for any outcome to reach it, ")
        rule = (f"rule: noise-aware: a cell is worse only beyond its seeds' own spread, by a one-sided exact "
                f"permutation test of BASE's seeds against NEW's (Fisher's exact test for solved seeds) at p ≤ "
                f"{alpha:g}; {few}the most extreme outcome counts: no NEW seed as good as any BASE seed. Accuracy "
                f"must also fall by more than {drop:g}, and not with every seed of both sides at chance (the "
                f"memoryless baseline + {CHANCE_Z:g} binomial standard errors); a reach or capacity must fall at a "
                f"rung worse by that test, and a run that now raises is never noise; --strict compares exactly")
    return [line, rule]


def fmt_value(value: Any) -> str:
    return MISSING if value is None else str(value)


# -- verdicts ----------------------------------------------------------------------------------------------------

def fmt_p(p: float) -> str:
    """A p-value: as the fraction it is when it is one over a whole number ('1/6'), else to 2 digits ('0.024')."""
    inverse = 1.0 / p if p > 0 else math.inf
    return f"1/{round(inverse)}" if math.isfinite(inverse) and abs(inverse - round(inverse)) < 1e-9 else f"{p:.2g}"


def _seeds(runs_base: int, runs_new: int) -> str:
    if runs_base == runs_new:
        return f"{runs_base} seed{'s' if runs_base != 1 else ''} a side"
    return f"{runs_base} and {runs_new} seeds"


def _evidence(test: Evidence, worse: str = "NEW", better: str = "BASE") -> str:
    """The reason a test gives, in words: why a side is (or is not) worse beyond noise."""
    least = f"the least p {_seeds(test.runs_base, test.runs_new)} allow"
    if test.beyond and test.apart and test.least > test.alpha:
        return f"no {worse} seed as good as any {better} seed: p = {fmt_p(test.p)}, {least}"
    if test.beyond:
        return f"p = {fmt_p(test.p)} ≤ {test.alpha:g}"
    bound = f"{fmt_p(test.least)}, {least}" if test.least > test.alpha else f"{test.alpha:g}"
    return f"p = {fmt_p(test.p)} > {bound}: the two sides' seeds overlap"


def _rung_evidence(row: Any, test: Evidence, worse: str, better: str) -> str:
    return (f"at {row.axis} {row.rung} {row.solved_b}/{row.ran_b} seeds solved in BASE, {row.solved_n}/{row.ran_n} "
            f"in NEW ({_evidence(test, worse, better)})")


def _span_evidence(tests: list[tuple[Any, Evidence]], worse: str, better: str) -> str:
    if not tests:
        return "no rung the change spans ran on both sides"
    return "; ".join(_rung_evidence(row, test, worse, better) for row, test in tests)


def _reach(out: Comparison, fb: pd.DataFrame, fn: pd.DataFrame, both: pd.DataFrame, strict: bool,
           alpha: float) -> None:
    """The reach table and its verdicts, on the rungs both sides planned."""
    key = ["task", "label", "rung"]
    common = both[key]
    rb = reach_table(fb.merge(common, on=key))
    rn = reach_table(fn.merge(common, on=key))
    reach = rb.merge(rn, on=["task", "label"], suffixes=("_b", "_n"))
    heading = ("reach: largest distance (capacity: largest load) up to which every rung is solved in a majority of "
               "seeds (on the rungs both sides planned)")
    t = Table()
    for col, just in (("task", "left"), ("learner", "left"), ("BASE", "right"), ("NEW", "right"),
                      ("solved per rung, BASE → NEW", "left"), ("", "left")):
        t.add_column(col, justify=just)
    rungs = {k: g.sort_values("rung") for k, g in both.groupby(["task", "label"], sort=True)}
    for r in reach.itertuples():
        what = "capacity" if r.axis_b == LOAD else "reach"
        status = OK
        ladder = rungs[(r.task, r.label)]
        if r.reach_n < r.reach_b:
            text = f"{what} of {r.label} on {r.task} fell from {r.reach_b} to {r.reach_n}"
            span = ladder[(ladder.rung > r.reach_n) & (ladder.rung <= r.reach_b) & (ladder.ran_n > 0)]
            tests = [(row, solved_test(row.solved_b, row.ran_b, row.solved_n, row.ran_n, alpha))
                     for row in span.itertuples()]
            hit = [(row, test) for row, test in tests if test.beyond]
            if strict:
                out.regressions.append(text)
                status = REGRESSED
            elif hit:
                out.regressions.append(f"{text}: {_rung_evidence(*hit[0], 'NEW', 'BASE')}")
                status = REGRESSED
            else:
                out.within_noise.append(f"{text}, within noise: " + _span_evidence(tests, "NEW", "BASE"))
                status = WITHIN_NOISE
        elif r.reach_n > r.reach_b and not strict:
            text = f"{what} of {r.label} on {r.task} grew from {r.reach_b} to {r.reach_n}"
            span = ladder[(ladder.rung > r.reach_b) & (ladder.rung <= r.reach_n) & (ladder.ran_b > 0)]
            tests = [(row, solved_test(row.solved_n, row.ran_n, row.solved_b, row.ran_b, alpha))
                     for row in span.itertuples()]
            hit = [(row, test) for row, test in tests if test.beyond]
            if hit:
                out.gains.append(f"{text}: {_rung_evidence(*hit[0], 'BASE', 'NEW')}")
                status = BETTER
            else:
                out.within_noise.append(f"{text}, within noise: " + _span_evidence(tests, "BASE", "NEW"))
                status = WITHIN_NOISE
        detail = r.solved_by_rung_b if r.solved_by_rung_b == r.solved_by_rung_n \
            else f"{r.solved_by_rung_b} → {r.solved_by_rung_n}"
        add_row(t, (r.task, r.label, r.reach_b or MISSING, r.reach_n or MISSING, detail), status)
    out.tables.append((heading, t))


def _accuracy(out: Comparison, both: pd.DataFrame, drop: float, strict: bool, alpha: float) -> None:
    """The per-rung accuracy table and its verdicts (a fall beyond the threshold, runs that now raise)."""
    beyond = "" if strict else " and beyond its seeds' spread"
    heading = (f"test accuracy per distance (or load): mean [min–max] over seeds (fails if it drops by more than "
               f"{drop:g}{beyond}); steps to solve: mean over solved seeds")
    t = Table()
    for col, just in (("task", "left"), ("learner", "left"), ("rung", "right"), ("BASE", "right"),
                      ("NEW", "right"), ("Δ", "right"), ("steps BASE → NEW", "right"), ("", "left")):
        t.add_column(col, justify=just)
    rows, unchanged = [], 0
    for r in both.itertuples():
        delta = r.acc_mean_n - r.acc_mean_b
        reasons, noise = [], []
        if r.trained_b and not math.isnan(r.acc_mean_b):
            if r.trained_n == 0 or math.isnan(r.acc_mean_n):
                if r.error_n:
                    reasons.append(f"all {r.error_n} run(s) raised in NEW")
            elif delta < -drop:
                fell = (f"mean test accuracy fell {r.acc_mean_b:.3f} → {r.acc_mean_n:.3f} ({delta:+.3f}, more than "
                        f"{drop:g})")
                test = accuracy_test(r.acc_values_b, r.acc_values_n, alpha)
                chance = min(r.chance_b, r.chance_n)  # NaN (no comparison holds) where a side does not say
                if strict:
                    reasons.append(fell)
                elif max(r.acc_values_b + r.acc_values_n) <= chance:
                    noise.append(f"{fell}, within noise: every seed of both sides at chance (≤ {chance:.3f}, the "
                                 f"memoryless baseline + {CHANCE_Z:g} binomial standard errors of its test answers)")
                elif test.beyond:
                    reasons.append(f"{fell}, {_evidence(test)}")
                else:
                    noise.append(f"{fell}, within noise: {_evidence(test)} (BASE {_span(r.acc_values_b)}, NEW "
                                 f"{_span(r.acc_values_n)})")
            if r.error_n > r.error_b and r.trained_n:
                reasons.append(f"{r.error_n - r.error_b} more run(s) raised in NEW")
        where = f"{r.label} on {r.task} at {r.axis} {r.rung}"
        out.regressions.extend(f"{where}: {reason}" for reason in reasons)
        out.within_noise.extend(f"{where}: {line}" for line in noise)
        steps_b, steps_n = _steps(r.steps_b, r.solved_b, r.trained_b), _steps(r.steps_n, r.solved_n, r.trained_n)
        acc_b = _acc(r.acc_mean_b, r.acc_min_b, r.acc_max_b, r.trained_b, r.error_b, r.skipped_b)
        acc_n = _acc(r.acc_mean_n, r.acc_min_n, r.acc_max_n, r.trained_n, r.error_n, r.skipped_n)
        same = acc_b == acc_n and steps_b == steps_n and not reasons and not noise
        unchanged += same
        status = REGRESSED if reasons else WITHIN_NOISE if noise else OK
        rows.append((same, status, (r.task, r.label, r.rung, acc_b, acc_n,
                                    MISSING if math.isnan(delta) else f"{delta:+.3f}",
                                    steps_b if steps_b == steps_n else f"{steps_b} → {steps_n}")))
    show_all = len(rows) <= FULL_TABLE_ROWS
    for same, status, row in rows:
        if show_all or not same:
            add_row(t, row, status)
    if not show_all and unchanged:
        t.caption = f"{unchanged} unchanged cell(s) not shown"
    out.tables.append((heading, t))


def _span(values: list[float]) -> str:
    lo, hi = f"{min(values):.3f}", f"{max(values):.3f}"
    return lo if lo == hi else f"{lo}–{hi}"


def _throughput(out: Comparison, both: pd.DataFrame, max_slowdown: float, gated: bool) -> None:
    """The per-learner throughput table, its verdicts (when ``gated``) and the note on a drift of every learner."""
    tp = both.dropna(subset=["tokens_per_s_b", "tokens_per_s_n"])
    tp = tp[(tp.tokens_per_s_b > 0) & (tp.tokens_per_s_n > 0)]
    if not len(tp):
        return
    gate = (f"fails if slower by more than {max_slowdown:g}%" if gated else
            "not gated: the two sides ran on different machines")
    heading = f"training throughput per learner: tokens/s, median over common cells ({gate})"
    t = Table()
    for col, just in (("learner", "left"), ("cells", "right"), ("BASE", "right"), ("NEW", "right"),
                      ("slowdown", "right"), ("vs the other learners", "right"), ("", "left")):
        t.add_column(col, justify=just)
    ratios = {label: float((g.tokens_per_s_b / g.tokens_per_s_n).median())
              for label, g in tp.groupby("label", sort=True)}
    drift = float(pd.Series(list(ratios.values())).median())
    for label, g in tp.groupby("label", sort=True):
        slowdown = 100.0 * (ratios[label] - 1.0)
        others = [r for k, r in ratios.items() if k != label]
        relative = (f"{100.0 * (ratios[label] / float(pd.Series(others).median()) - 1.0):+.1f}%" if others
                    else MISSING)
        bad = slowdown > max_slowdown
        if bad and gated:
            out.slower.append(f"{label}: training throughput {slowdown:.0f}% slower (median over {len(g)} cell(s)), "
                              f"more than {max_slowdown:g}%")
            out.regressions.append(out.slower[-1])
        add_row(t, (label, len(g), fmt(g.tokens_per_s_b.median(), ",.0f"), fmt(g.tokens_per_s_n.median(), ",.0f"),
                     f"{slowdown:+.1f}%", relative), (REGRESSED if gated else NOT_GATED) if bad else OK)
    values = list(ratios.values())
    if len(values) >= 2 and (min(values) > 1.10 or max(values) < 1 / 1.10):
        out.notes.append(f"the throughput of every learner moved the same way (time per token "
                         f"{100 * (min(values) - 1):+.0f}% to {100 * (max(values) - 1):+.0f}%, median "
                         f"{100 * (drift - 1):+.0f}%): likely the machine (load, CPU, threads), not the code; "
                         f"run BASE and NEW in the same job, or gate speed on the benchmark suite, whose "
                         f"calibrated rounds are steadier; 'vs the other learners' shows each learner's change "
                         f"net of it")
    out.tables.append((heading, t))


def compare_results(base: list[RunRecord], new: list[RunRecord], max_accuracy_drop: float = 0.02,
                    max_slowdown: float = 25.0, env_base: dict | None = None, env_new: dict | None = None,
                    plan_base: list[Cell] | None = None, plan_new: list[Cell] | None = None, strict: bool = False,
                    alpha: float = ALPHA, seeds_base: Collection[int] | None = None,
                    seeds_new: Collection[int] | None = None) -> Comparison:
    """Compare two lists of run records (their :func:`base_runs` for the suites' ``seeds_*``), each grouped by its
    suite's plan when given (see the module docstring for the rules; ``strict`` for today's exact ones)."""
    env_base, env_new = env_base or {}, env_new or {}
    out = Comparison(strict=strict)
    every_base, every_new = base, new  # the literature's claims read escalations too
    base, new = base_runs(base, seeds_base), base_runs(new, seeds_new)
    fb, fn = runs_frame(base, plan_base), runs_frame(new, plan_new)
    for frame, records in ((fb, base), (fn, new)):
        tops = {r.id: chance_top(r.baseline_accuracy, sum(t for _, t in (r.test_by_distance or {}).values()))
                for r in records}
        frame["chance_top"] = frame.id.map(tops) if len(frame) else pd.Series(dtype=float)
    cb, cn = cells(fb), cells(fn)
    key = ["task", "label", "rung"]
    both = cb.merge(cn, on=key + ["axis"], suffixes=("_b", "_n"))
    if both.empty:
        raise ReachError(f"BASE and NEW have no (task, learner, distance) in common, so nothing can be compared: "
                         f"BASE has {_describe(fb)}, NEW has {_describe(fn)}; compare two runs of the same suite")
    ran = both[(both.ran_b > 0) & (both.ran_n > 0)]  # the most common (BASE, NEW) seeds of a cell both sides ran
    sizes = ran[["ran_b", "ran_n"]].value_counts().index[0] if len(ran) else (1, 1)
    out.header = _header(env_base, env_new, strict, alpha, max_accuracy_drop, (int(sizes[0]), int(sizes[1])))
    _notes_results(out, cb, cn, both, env_base, env_new)
    _note_spec_changes(out, base, new, fb, fn, both)
    _reach(out, fb, fn, both, strict, alpha)
    _accuracy(out, both, max_accuracy_drop, strict, alpha)
    out.throughput_gated = strict or not machine_differences(env_base, env_new)[0]
    _throughput(out, both, max_slowdown, out.throughput_gated)
    claims = compare_claims(every_base, every_new, plan_base, plan_new, env_base.get("suite"), env_new.get("suite"))
    if claims is not None:  # the literature suite: a claim row that agreed and now disagrees is a regression
        out.tables.append(("literature: each claim's agreement (fails when a row that agreed now disagrees)",
                           claims[0]))
        out.regressions += claims[1]
    return out


def _notes_results(out: Comparison, cb: pd.DataFrame, cn: pd.DataFrame, both: pd.DataFrame,
                   env_b: dict, env_n: dict) -> None:
    only_b = len(cb) - len(both)
    only_n = len(cn) - len(both)
    if only_b:
        out.notes.append(f"{only_b} (task, learner, rung) cell(s) only in BASE are not compared")
    if only_n:
        out.notes.append(f"{only_n} (task, learner, rung) cell(s) only in NEW are not compared")
    if any(tuple(a) != tuple(b) for a, b in zip(both.seeds_b, both.seeds_n)):
        out.notes.append("the seeds differ between BASE and NEW in some cells: means are over different seeds")
    suite_b, suite_n = env_b.get("suite"), env_n.get("suite")
    if suite_b and suite_n and suite_b != suite_n:
        out.notes.append(f"different suites: BASE '{suite_b}', NEW '{suite_n}'; only their common cells are compared")


# Spec fields that say how or where a run executed, or which seed it is: not a change of configuration.
NOT_CONFIG = ("seed", "threads", "device", "label")


def _note_spec_changes(out: Comparison, base: list[RunRecord], new: list[RunRecord], fb: pd.DataFrame,
                       fn: pd.DataFrame, both: pd.DataFrame) -> None:
    """Say which RunSpec fields differ between BASE and NEW in common cells (e.g. a changed lr or budget)."""
    def by_cell(records: list[RunRecord], frame: pd.DataFrame) -> dict[tuple, dict[str, Any]]:
        spec = {r.id: r.spec for r in records}
        cells_: dict[tuple, dict[str, Any]] = {}
        for row in frame.itertuples():
            cells_.setdefault((row.task, row.label, row.rung), spec[row.id])
        return cells_

    sb, sn = by_cell(base, fb), by_cell(new, fn)
    changed: dict[str, set[str]] = {}
    for r in both.itertuples():
        a, b = sb.get((r.task, r.label, r.rung), {}), sn.get((r.task, r.label, r.rung), {})
        for name in sorted(set(a) | set(b)):
            if name not in NOT_CONFIG and a.get(name) != b.get(name):
                changed.setdefault(name, set()).add(f"{r.label} on {r.task}")
    for name, where in changed.items():
        listed = ", ".join(sorted(where)[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
        out.notes.append(f"run setting '{name}' differs between BASE and NEW ({listed})")


