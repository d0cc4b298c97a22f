"""The regression gate: ``python run.py compare BASE NEW`` exits 1 when NEW is worse than BASE.

BASE and NEW are both results folders (holding ``runs.jsonl``) or both pytest-benchmark JSON files
(``--benchmark-json FILE``, or the files ``--benchmark-autosave`` writes under ``.benchmarks/``).

Results folders. Runs are matched by cell = (task configuration, learner configuration, rung), where a rung is a
distance (or a load, on a load ladder) and configurations are read from each folder's suite.toml (labels as the
report shows them; without suite.toml, the task's name and the distance); accuracy is compared on the cells
where both sides have runs that trained (solved, unsolved or diverged). NEW regressed when

- the mean test accuracy over seeds of a cell dropped by more than ``max_accuracy_drop`` (absolute, default
  0.02), or a cell whose BASE runs all trained has runs that raised in NEW;
- the reach (or capacity) of a (task, learner) fell, computed on the rungs both sides planned (so a suite that
  grew or shrank does not count as a change);
- a learner's training throughput fell by more than ``max_slowdown`` percent: slowdown = median over its
  common cells of (BASE tokens/s ÷ NEW tokens/s) − 1, i.e. how much longer a token takes. A median over
  cells, not one cell, because a single short run's tokens/s is noisy on a shared machine. Each learner's
  change relative to the median of the other learners is printed beside it (not gated): when every learner
  moved together, the machine's speed changed, not the code, and a note says so. Short sweep runs measure
  throughput coarsely (on a loaded 2-core machine two sweeps minutes apart differed by 2.4x for unchanged
  code); the benchmark suite's JSON is the steadier speed gate.

Steps to solve (mean over solved seeds) are shown beside accuracy but do not gate: early stopping on a
50-step validation grid makes them coarse.

Benchmark JSON files. Benchmarks are matched by full name; NEW regressed when a benchmark's median time grew
by more than ``max_slowdown`` percent (new median ÷ base median − 1). Tokens/s from ``extra_info`` is shown
when the benchmark stored it.

Exit codes: 0 no regression beyond the thresholds, 1 regression (each one printed with its reason), and
ReachError (exit 2 from the CLI) on bad input: a missing path, a folder without runs.jsonl, a folder
compared with a JSON file, or two sides with nothing in common (the message says what each side holds).

Timing figures drift between machines and over hours on shared ones: measure BASE and NEW in the same job
on the same machine (the README's CI section does so); compare notes when env.json says otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.config.plan import LOAD, Cell
from harness.errors import ReachError
from harness.report.analysis import reach_table
from harness.report.literature import compare_claims
from harness.report.load import folder_plan
from harness.store.folder import RUNS, read_runs
from harness.store.record import TRAINED, Outcome, RunRecord
from harness.store.table import runs_frame
from harness.text import MISSING, fmt, fmt_duration
from harness.text import console as make_console

# Rows of the per-distance table printed in full up to this many; beyond, only changed rows are printed.
FULL_TABLE_ROWS = 40


@dataclass
class Comparison:
    """What compare found: (heading, rich table) pairs to print, regressions (each one line, with its reason),
    and notes."""

    tables: list[tuple[str, Table]] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# Mutation testing (README, "Contributing") covers the verdicts of compare_results and run_compare; reading the
# inputs, formatting table cells and the benchmark JSON comparison are left out of it.
# pragma: no mutate start
# -- input ------------------------------------------------------------------------------------------------------

def _kind(path: Path, role: str) -> str:
    if not path.exists():
        raise ReachError(f"{role} '{path}' does not exist; pass a results folder (with runs.jsonl) or a "
                         f"pytest-benchmark JSON file")
    if path.is_dir():
        if not (path / RUNS).exists():
            raise ReachError(f"{role} '{path}' is a folder without {RUNS}, so not a results folder; pass the "
                             f"folder a sweep wrote (e.g. results/smoke-<timestamp>)")
        return "results"
    return "benchmarks"


def _load_benchmarks(path: Path, role: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReachError(f"{role} '{path}' is neither a results folder nor a readable pytest-benchmark JSON "
                         f"file ({type(exc).__name__}); pass one of those") from None
    benches = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benches, list) or not all(
            isinstance(b, dict) and isinstance(b.get("stats"), dict) and "median" in b["stats"] for b in benches):
        raise ReachError(f"{role} '{path}' is JSON but not pytest-benchmark output (no 'benchmarks' list with "
                         f"stats); write one with pytest tests/benchmarks --benchmark-only --benchmark-json FILE")
    if not benches:
        raise ReachError(f"{role} '{path}' holds no benchmarks (was the run made with --benchmark-disable?); "
                         f"run pytest tests/benchmarks --benchmark-only --benchmark-json FILE")
    return data


def _load_runs(path: Path, role: str) -> list[RunRecord]:
    records = read_runs(path)
    if not records:
        raise ReachError(f"{role} '{path}' has no finished runs in {RUNS}; let its sweep finish (re-run the "
                         f"same command to resume) before comparing")
    return records


def _env(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "env.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


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


def _status(bad: bool) -> str:
    return "[bold red]REGRESSED[/]" if bad else "ok"


def _add_row(table: Table, cells: tuple[Any, ...], bad: bool) -> None:
    """A row of plain text (labels such as 'transformer[positions=rotary]' are not rich markup) plus a status."""
    table.add_row(*(escape(str(c)) for c in cells), _status(bad))


# pragma: no mutate end
# -- results folders ---------------------------------------------------------------------------------------------

def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (task, label, rung): seeds that trained, accuracy mean/min/max over them, solved count, mean
    steps to solve over solved seeds, median tokens/s, and the counts of runs that raised or were skipped."""
    rows = []
    for (task, label, rung), g in frame.groupby(["task", "label", "rung"], sort=True):
        ran = g[g.outcome.isin(TRAINED)]
        acc = pd.to_numeric(ran.test_accuracy, errors="coerce").dropna()
        solved = ran[ran.outcome == Outcome.SOLVED]
        steps = pd.to_numeric(solved.steps_to_solve, errors="coerce").dropna()
        tps = pd.to_numeric(ran.tokens_per_s, errors="coerce").dropna()
        rows.append({"task": task, "label": label, "rung": int(rung), "axis": str(g.axis.iloc[0]), "trained": len(ran),
                     "seeds": sorted(int(s) for s in g.seed), "acc_mean": float(acc.mean()) if len(acc) else math.nan,
                     "acc_min": float(acc.min()) if len(acc) else math.nan,
                     "acc_max": float(acc.max()) if len(acc) else math.nan,
                     "solved": len(solved), "steps": float(steps.mean()) if len(steps) else math.nan,
                     "tokens_per_s": float(tps.median()) if len(tps) else math.nan,
                     "error": int((g.outcome == Outcome.ERROR).sum()),
                     "skipped": int((g.outcome == Outcome.SKIPPED).sum())})
    return pd.DataFrame(rows, columns=["task", "label", "rung", "axis", "trained", "seeds", "acc_mean", "acc_min",
                                       "acc_max", "solved", "steps", "tokens_per_s", "error", "skipped"])


def _describe(frame: pd.DataFrame) -> str:
    tasks = ", ".join(sorted(frame.task.unique()))
    labels = ", ".join(sorted(frame.label.unique()))
    return f"tasks {{{tasks}}}, learners {{{labels}}}"


def compare_results(base: list[RunRecord], new: list[RunRecord], max_accuracy_drop: float = 0.02,
                    max_slowdown: float = 25.0, env_base: dict | None = None, env_new: dict | None = None,
                    plan_base: list[Cell] | None = None, plan_new: list[Cell] | None = None) -> Comparison:
    """Compare two lists of run records, each grouped by its suite's plan when given (see the module docstring
    for the rules)."""
    out = Comparison()
    fb, fn = runs_frame(base, plan_base), runs_frame(new, plan_new)
    cb, cn = cells(fb), cells(fn)
    key = ["task", "label", "rung"]
    both = cb.merge(cn, on=key + ["axis"], suffixes=("_b", "_n"))
    if both.empty:
        raise ReachError(f"BASE and NEW have no (task, learner, distance) in common, so nothing can be compared: "
                         f"BASE has {_describe(fb)}, NEW has {_describe(fn)}; compare two runs of the same suite")
    _notes_results(out, cb, cn, both, env_base or {}, env_new or {})
    _note_spec_changes(out, base, new, fb, fn, both)

    # reach, on the rungs both sides planned
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
    for r in reach.itertuples():
        bad = r.reach_n < r.reach_b
        if bad:
            what = "capacity" if r.axis_b == LOAD else "reach"
            out.regressions.append(f"{what} of {r.label} on {r.task} fell from {r.reach_b} to {r.reach_n}")
        detail = r.solved_by_rung_b if r.solved_by_rung_b == r.solved_by_rung_n \
            else f"{r.solved_by_rung_b} → {r.solved_by_rung_n}"
        _add_row(t, (r.task, r.label, r.reach_b or MISSING, r.reach_n or MISSING, detail), bad)
    out.tables.append((heading, t))

    # accuracy per distance
    heading = (f"test accuracy per distance (or load): mean [min–max] over seeds (fails if it drops by more than "
               f"{max_accuracy_drop:g}); steps to solve: mean over solved seeds")
    t = Table()
    for col, just in (("task", "left"), ("learner", "left"), ("rung", "right"), ("BASE", "right"),
                      ("NEW", "right"), ("Δ", "right"), ("steps BASE → NEW", "right"), ("", "left")):
        t.add_column(col, justify=just)
    rows, unchanged = [], 0
    for r in both.itertuples():
        delta = r.acc_mean_n - r.acc_mean_b
        reasons = []
        if r.trained_b and not math.isnan(r.acc_mean_b):
            if r.trained_n == 0 or math.isnan(r.acc_mean_n):
                if r.error_n:
                    reasons.append(f"all {r.error_n} run(s) raised in NEW")
            elif delta < -max_accuracy_drop:
                reasons.append(f"mean test accuracy fell {r.acc_mean_b:.3f} → {r.acc_mean_n:.3f} "
                               f"({delta:+.3f}, more than {max_accuracy_drop:g})")
            if r.error_n > r.error_b and r.trained_n:
                reasons.append(f"{r.error_n - r.error_b} more run(s) raised in NEW")
        for reason in reasons:
            out.regressions.append(f"{r.label} on {r.task} at {r.axis} {r.rung}: {reason}")
        steps_b, steps_n = _steps(r.steps_b, r.solved_b, r.trained_b), _steps(r.steps_n, r.solved_n, r.trained_n)
        acc_b = _acc(r.acc_mean_b, r.acc_min_b, r.acc_max_b, r.trained_b, r.error_b, r.skipped_b)
        acc_n = _acc(r.acc_mean_n, r.acc_min_n, r.acc_max_n, r.trained_n, r.error_n, r.skipped_n)
        same = acc_b == acc_n and steps_b == steps_n and not reasons
        unchanged += same
        rows.append((same, bool(reasons), (r.task, r.label, r.rung, acc_b, acc_n,
                                           MISSING if math.isnan(delta) else f"{delta:+.3f}",
                                           steps_b if steps_b == steps_n else f"{steps_b} → {steps_n}")))
    show_all = len(rows) <= FULL_TABLE_ROWS
    for same, bad, row in rows:
        if show_all or not same:
            _add_row(t, row, bad)
    if not show_all and unchanged:
        t.caption = f"{unchanged} unchanged cell(s) not shown"
    out.tables.append((heading, t))

    # throughput per learner
    tp = both.dropna(subset=["tokens_per_s_b", "tokens_per_s_n"])
    tp = tp[(tp.tokens_per_s_b > 0) & (tp.tokens_per_s_n > 0)]
    if len(tp):
        heading = (f"training throughput per learner: tokens/s, median over common cells (fails if slower by "
                   f"more than {max_slowdown:g}%)")
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
            if bad:
                out.regressions.append(f"{label}: training throughput {slowdown:.0f}% slower (median over "
                                       f"{len(g)} cell(s)), more than {max_slowdown:g}%")
            _add_row(t, (label, len(g), fmt(g.tokens_per_s_b.median(), ",.0f"), fmt(g.tokens_per_s_n.median(), ",.0f"),
                         f"{slowdown:+.1f}%", relative), bad)
        values = list(ratios.values())
        if len(values) >= 2 and (min(values) > 1.10 or max(values) < 1 / 1.10):
            out.notes.append(f"the throughput of every learner moved the same way (time per token "
                             f"{100 * (min(values) - 1):+.0f}% to {100 * (max(values) - 1):+.0f}%, median "
                             f"{100 * (drift - 1):+.0f}%): likely the machine (load, CPU, threads), not the code; "
                             f"run BASE and NEW in the same job, or gate speed on the benchmark suite, whose "
                             f"calibrated rounds are steadier; 'vs the other learners' shows each learner's change "
                             f"net of it")
        out.tables.append((heading, t))
    claims = compare_claims(base, new, plan_base, plan_new, (env_base or {}).get("suite"), (env_new or {}).get("suite"))
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
    cpu_b, cpu_n = env_b.get("cpu"), env_n.get("cpu")
    if cpu_b and cpu_n and cpu_b != cpu_n:
        out.notes.append(f"different machines (BASE cpu '{cpu_b}', NEW '{cpu_n}'): throughput is not comparable; "
                         f"measure both in the same CI job")


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


# pragma: no mutate start
# -- benchmark JSON ----------------------------------------------------------------------------------------------

def compare_benchmarks(base: dict[str, Any], new: dict[str, Any], max_slowdown: float = 25.0) -> Comparison:
    """Compare two pytest-benchmark JSON documents by median time per benchmark (full name)."""
    out = Comparison()
    b = {x.get("fullname") or x.get("name"): x for x in base["benchmarks"]}
    n = {x.get("fullname") or x.get("name"): x for x in new["benchmarks"]}
    names = [k for k in b if k in n]
    if not names:
        raise ReachError(f"BASE and NEW share no benchmark name (BASE has {len(b)}, e.g. '{next(iter(b))}'; "
                         f"NEW has {len(n)}, e.g. '{next(iter(n))}'); compare two runs of the same benchmark suite")
    if len(b) > len(names):
        out.notes.append(f"{len(b) - len(names)} benchmark(s) only in BASE are not compared (removed or renamed?)")
    if len(n) > len(names):
        out.notes.append(f"{len(n) - len(names)} benchmark(s) only in NEW are not compared")
    cpu_b = (base.get("machine_info") or {}).get("cpu", {}).get("brand_raw")
    cpu_n = (new.get("machine_info") or {}).get("cpu", {}).get("brand_raw")
    if cpu_b and cpu_n and cpu_b != cpu_n:
        out.notes.append(f"different machines (BASE '{cpu_b}', NEW '{cpu_n}'): timings are not comparable; "
                         f"measure both in the same CI job")
    heading = f"benchmarks: median time per call (fails if slower by more than {max_slowdown:g}%)"
    t = Table()
    for col, just in (("group", "left"), ("benchmark", "left"), ("BASE", "right"), ("NEW", "right"),
                      ("change", "right"), ("tokens/s BASE → NEW", "right"), ("", "left")):
        t.add_column(col, justify=just)
    names.sort(key=lambda k: (str(b[k].get("group") or ""), k))
    for name in names:
        mb, mn = float(b[name]["stats"]["median"]), float(n[name]["stats"]["median"])
        change = 100.0 * (mn / mb - 1.0) if mb > 0 else 0.0
        bad = change > max_slowdown
        short = b[name].get("name") or name
        if bad:
            out.regressions.append(f"{name}: median {fmt_duration(mb)} → {fmt_duration(mn)} ({change:+.0f}%, slower by "
                                   f"more than {max_slowdown:g}%)")
        tb = (b[name].get("extra_info") or {}).get("tokens_per_s")
        tn = (n[name].get("extra_info") or {}).get("tokens_per_s")
        rate = "" if tb is None and tn is None else f"{fmt(tb, ',.0f')} → {fmt(tn, ',.0f')}"
        _add_row(t, (b[name].get("group") or "", short, fmt_duration(mb), fmt_duration(mn), f"{change:+.1f}%", rate),
                 bad)
    out.tables.append((heading, t))
    return out


# pragma: no mutate end
# -- entry point -------------------------------------------------------------------------------------------------

def _check_threshold(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ReachError(f"--{name} must be a finite number >= 0, got {value!r}")


def run_compare(base: str, new: str, max_accuracy_drop: float = 0.02, max_slowdown: float = 25.0,
                console: Console | None = None) -> int:
    """Compare BASE with NEW, print what changed, and return 1 when NEW regressed beyond the thresholds, else 0.

    ``max_accuracy_drop`` is absolute (0.02 = two points of accuracy); ``max_slowdown`` is in percent.
    Raises ReachError on bad input (see the module docstring).
    """
    _check_threshold("max-accuracy-drop", max_accuracy_drop)
    _check_threshold("max-slowdown", max_slowdown)
    pb, pn = Path(base), Path(new)
    kb, kn = _kind(pb, "BASE"), _kind(pn, "NEW")
    if kb != kn:
        what = {"results": "a results folder", "benchmarks": "a benchmark JSON file"}
        raise ReachError(f"cannot compare {what[kb]} (BASE '{pb}') with {what[kn]} (NEW '{pn}'); pass two results "
                         f"folders or two pytest-benchmark JSON files")
    if kb == "results":
        result = compare_results(_load_runs(pb, "BASE"), _load_runs(pn, "NEW"), max_accuracy_drop, max_slowdown,
                                 _env(pb), _env(pn), folder_plan(pb), folder_plan(pn))
    else:
        result = compare_benchmarks(_load_benchmarks(pb, "BASE"), _load_benchmarks(pn, "NEW"), max_slowdown)
    console = console or make_console()
    console.print(escape(f"compare: BASE {pb}  →  NEW {pn}"), soft_wrap=True)
    for heading, table in result.tables:
        # a heading line, not a table title: rich wraps titles to the table's (narrow) width
        console.print(f"\n[bold]{escape(heading)}[/]", soft_wrap=True)
        console.print(table)
    for note in result.notes:
        console.print(f"note: {escape(note)}", soft_wrap=True)
    if result.regressions:
        console.print(f"[bold red]REGRESSION[/]: NEW is worse than BASE in {len(result.regressions)} way(s):")
        for line in result.regressions:
            console.print(f"  - {escape(line)}", soft_wrap=True)
        return 1
    if kb == "results":
        console.print(f"no regression: accuracy within {max_accuracy_drop:g}, reach kept, no run raising, no "
                      f"slowdown beyond {max_slowdown:g}%")
    else:
        console.print(f"no regression: no benchmark's median slower by more than {max_slowdown:g}%")
    return 0
