"""The noise floor: how many cells of a suite flip by noise alone, and what the gate says about it.

``python run.py noise-floor`` reads two results folders of the same suite run by the same code — with disjoint seeds
(the spread a fresh seed brings), or with the same seeds on another machine or torch build (the spread of the
floating-point kernels alone) — and counts what differs between them: cells are matched by (task configuration,
learner configuration, rung) and seeds by their *position* in each folder's suite seeds (the first seed of A with the
first of B, ...), so 0, 1 against 2, 3 pairs 0 with 2 and 1 with 3. Every difference is noise, so every regression
``compare`` reports between the two (in either direction) is a false alarm: the floor a gate's thresholds and seeds
must clear.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.errors import ReachError
from harness.report.analysis import reach_table
from harness.report.compare import check_alpha, folder_env, load_runs, results_folder, suite_seeds
from harness.report.compare_runs import Comparison, base_runs, cells, compare_results
from harness.report.load import folder_plan
from harness.report.noise import ALPHA, machine_differences, wilson
from harness.store.record import RAN, Outcome
from harness.store.table import runs_frame
from harness.text import MISSING, fmt
from harness.text import console as make_console

KEY = ["task", "label", "axis", "rung"]
MAX_SLOWDOWN = 25.0  # compare's default, for the throughput false alarms the floor counts beside accuracy


@dataclass
class Side:
    """One results folder, read for the noise floor: its base runs (harness.report.compare_runs.base_runs) as a runs
    frame with each run's seed position, its seeds, suite name and env.json."""

    folder: Path
    suite: str
    seeds: list[int]
    frame: pd.DataFrame
    records: list[Any]
    plan: Any
    env: dict[str, Any]


@dataclass
class NoiseFloor:
    """What differs between two runs of the same code, and what compare says about it (facts; printed by
    :func:`print_noise_floor`)."""

    a: Side
    b: Side
    max_accuracy_drop: float
    alpha: float
    machines: list[tuple[str, Any, Any]]
    cells: int = 0  # cells (task, learner, rung) that ran on both sides
    pairs: int = 0  # (cell, seed position) pairs that ran on both sides
    flips: pd.DataFrame = field(default_factory=pd.DataFrame)  # the pairs solved on one side only
    majority: int = 0  # cells solved by a majority of seeds on one side only
    accuracy: list[str] = field(default_factory=list)  # cells whose mean accuracy differs by more than the drop
    ladders: int = 0  # (task, learner) ladders compared
    reach: list[str] = field(default_factory=list)  # "lru on hold: 128 → 256" for each ladder whose reach differs
    gate: dict[tuple[str, str], Comparison] = field(default_factory=dict)  # (strict|noise-aware, A → B|B → A)


def _suite_name(folder: Path, env: dict[str, Any]) -> str:
    try:
        name = tomllib.loads((folder / "suite.toml").read_text(encoding="utf-8")).get("name")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        name = None
    return str(name or env.get("suite") or MISSING)


def read_side(path: str | Path, role: str) -> Side:
    """A results folder for the noise floor; ReachError (naming ``role``) when it is not one."""
    folder = results_folder(Path(path), role)
    env = folder_env(folder)
    plan = folder_plan(folder)
    records = load_runs(folder, role)
    seeds = suite_seeds(folder) or sorted({r.seed for r in records})
    records = base_runs(records, seeds)
    frame = runs_frame(records, plan)
    frame["position"] = [seeds.index(int(s)) for s in frame.seed]  # base_runs kept only these seeds
    return Side(folder=folder, suite=_suite_name(folder, env), seeds=seeds, frame=frame, records=records, plan=plan,
                env=env)


def noise_floor(a: Side, b: Side, max_accuracy_drop: float = 0.02, alpha: float = ALPHA) -> NoiseFloor:
    """Count what differs between two runs of one suite by the same code (see the module docstring)."""
    check_alpha(alpha)
    if a.suite != b.suite:
        raise ReachError(f"A '{a.folder}' ran suite '{a.suite}' and B '{b.folder}' suite '{b.suite}': a noise floor "
                         f"compares two runs of the same suite; pass two folders of one suite")
    if len(a.seeds) != len(b.seeds):
        raise ReachError(f"A '{a.folder}' has {len(a.seeds)} seed(s) ({fmt_seeds(a.seeds)}) and B '{b.folder}' "
                         f"{len(b.seeds)} ({fmt_seeds(b.seeds)}): seeds are paired by position, so run both with as "
                         f"many seeds (python run.py --suite {a.suite} --seeds ...)")
    out = NoiseFloor(a=a, b=b, max_accuracy_drop=max_accuracy_drop, alpha=alpha,
                     machines=machine_differences(a.env, b.env)[0])
    for strict, mode in ((True, "strict"), (False, "noise-aware")):
        for (x, y), direction in (((a, b), "A → B"), ((b, a), "B → A")):
            out.gate[(mode, direction)] = compare_results(
                x.records, y.records, max_accuracy_drop, MAX_SLOWDOWN, env_base=x.env, env_new=y.env, plan_base=x.plan,
                plan_new=y.plan, strict=strict, alpha=alpha)
    ran_a, ran_b = a.frame[a.frame.outcome.isin(RAN)], b.frame[b.frame.outcome.isin(RAN)]
    pairs = ran_a.merge(ran_b, on=KEY + ["position"], suffixes=("_a", "_b"))
    out.pairs = len(pairs)
    flipped = pairs[(pairs.outcome_a == Outcome.SOLVED) != (pairs.outcome_b == Outcome.SOLVED)]
    out.flips = flipped[KEY + ["seed_a", "seed_b", "outcome_a", "outcome_b", "test_accuracy_a", "test_accuracy_b"]]
    both = cells(a.frame).merge(cells(b.frame), on=["task", "label", "rung", "axis"], suffixes=("_a", "_b"))
    both = both[(both.ran_a > 0) & (both.ran_b > 0)]
    out.cells = len(both)
    out.majority = int(((both.solved_a * 2 > both.ran_a) != (both.solved_b * 2 > both.ran_b)).sum())
    moved = both[(both.acc_mean_a - both.acc_mean_b).abs() > max_accuracy_drop]
    out.accuracy = [f"{r.label} on {r.task} at {r.axis} {r.rung}: {r.acc_mean_a:.3f} → {r.acc_mean_b:.3f}"
                    for r in moved.itertuples()]
    common = both[["task", "label", "rung"]]
    ra = reach_table(a.frame.merge(common, on=["task", "label", "rung"]))
    rb = reach_table(b.frame.merge(common, on=["task", "label", "rung"]))
    reach = ra.merge(rb, on=["task", "label"], suffixes=("_a", "_b"))
    out.ladders = len(reach)
    out.reach = [f"{r.label} on {r.task}: {r.reach_a or MISSING} → {r.reach_b or MISSING}"
                 for r in reach.itertuples() if r.reach_a != r.reach_b]
    return out


def fmt_seeds(seeds: list[int]) -> str:
    return ", ".join(str(s) for s in seeds)


def _of(count: int, total: int) -> str:
    lo, hi = wilson(count, total)
    share = f"{100 * count / total:.1f}%; 95% Wilson interval {100 * lo:.1f}–{100 * hi:.1f}%" if total else MISSING
    return f"{count} of {total} ({share})"


# pragma: no mutate start
def print_noise_floor(nf: NoiseFloor, console: Console | None = None) -> None:
    """The noise floor on the console: the pairs that flipped, the counts, and the gate's false alarms."""
    console = console or make_console()

    def say(text: str) -> None:
        console.print(escape(text), soft_wrap=True)

    a, b = nf.a, nf.b
    paired = ", ".join(f"{x}↔{y}" for x, y in zip(a.seeds, b.seeds))
    say(f"noise floor of suite '{a.suite}': A {a.folder} (seeds {fmt_seeds(a.seeds)}) against B {b.folder} (seeds "
        f"{fmt_seeds(b.seeds)}), seeds paired by position ({paired}); the same code, so every difference is noise")
    if nf.machines:
        say("machines differ: " + "; ".join(f"{name} '{x}' → '{y}'" for name, x, y in nf.machines))
    else:
        say("machines: the same CPU, torch CPU kernels, torch build and threads (as far as env.json says): "
            + ("disjoint seeds measure the spread a fresh seed brings" if not set(a.seeds) & set(b.seeds)
               else "the same seeds should agree to the bit; any difference is the executor's or the machine's"))
    if len(nf.flips):
        t = Table()
        for col, just in (("task", "left"), ("learner", "left"), ("rung", "right"), ("seeds A → B", "right"),
                          ("A", "left"), ("B", "left")):
            t.add_column(col, justify=just)
        for r in nf.flips.itertuples():
            t.add_row(escape(str(r.task)), escape(str(r.label)), f"{r.axis} {r.rung}", f"{r.seed_a} → {r.seed_b}",
                      f"{r.outcome_a} {fmt(r.test_accuracy_a)}", f"{r.outcome_b} {fmt(r.test_accuracy_b)}")
        console.print("\n[bold]seed pairs solved on one side only[/]")
        console.print(t)
    say(f"cells compared: {nf.cells} (task configuration × learner configuration × rung, run on both sides)")
    say(f"seed pairs solved on one side only (flips): {_of(len(nf.flips), nf.pairs)}")
    say(f"cells solved by a majority of seeds on one side only: {_of(nf.majority, nf.cells)}")
    say(f"cells whose mean test accuracy differs by more than {nf.max_accuracy_drop:g}: "
        f"{_of(len(nf.accuracy), nf.cells)}" + (f" ({'; '.join(nf.accuracy)})" if nf.accuracy else ""))
    say(f"reach or capacity that differs: {len(nf.reach)} of {nf.ladders} ladder(s)"
        + (f" ({'; '.join(nf.reach)})" if nf.reach else ""))
    say(f"what compare says about these two runs of the same code (each regression is a false alarm; "
        f"--max-accuracy-drop {nf.max_accuracy_drop:g}, --alpha {nf.alpha:g}):")
    for (mode, direction), result in nf.gate.items():
        alarms = [line for line in result.regressions if line not in result.slower]
        code = 1 if result.regressions else 0
        noise = "" if mode == "strict" else f", {len(result.within_noise)} change(s) judged within noise"
        say(f"  {mode}, {direction}: {len(alarms)} accuracy, reach or raise regression(s){noise}; "
            f"{len(result.slower)} learner(s) slower by more than {MAX_SLOWDOWN:g}%; exit {code}")
        if mode != "strict":
            for line in alarms:
                say(f"    - false alarm: {line}")
    if any(result.slower for result in nf.gate.values()):
        say("throughput of short sweep runs is coarse on a shared machine: gate speed on the benchmark suite, "
            "measured beside the base in the same job")
    if len(a.seeds) == 1:
        say("with one seed a side there is no spread to judge a change against: the noise-aware gate fails on every "
            "change beyond the threshold, as --strict does; gate on two or more seeds")
# pragma: no mutate end


def run_noise_floor(base: str, other: str, max_accuracy_drop: float = 0.02, alpha: float = ALPHA,
                    console: Console | None = None) -> NoiseFloor:
    """Read two results folders, measure and print their noise floor; ReachError on bad input."""
    nf = noise_floor(read_side(base, "A (--base)"), read_side(other, "B (--other)"), max_accuracy_drop, alpha)
    print_noise_floor(nf, console)
    return nf

