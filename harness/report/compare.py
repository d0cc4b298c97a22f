"""The regression gate: ``python run.py compare BASE NEW`` exits 1 when NEW is worse than BASE.

BASE and NEW are both results folders (holding ``runs.jsonl``) or both pytest-benchmark JSON files
(``--benchmark-json FILE``, or the files ``--benchmark-autosave`` writes under ``.benchmarks/``).

Results folders: harness.report.compare_runs holds the rules (accuracy, reach and capacity, runs that raise,
throughput), by default judged against each cell's own noise (harness.report.noise), exactly with ``--strict``.

Benchmark JSON files. Benchmarks are matched by full name; NEW regressed when a benchmark's median time grew
by more than ``max_slowdown`` percent (new median ÷ base median − 1). Tokens/s from ``extra_info`` is shown
when the benchmark stored it.

Exit codes: 0 no regression beyond the thresholds, 1 regression (each one printed with its reason), and
ReachError (exit 2 from the CLI) on bad input: a missing path, a folder without runs.jsonl, a folder
compared with a JSON file, or two sides with nothing in common (the message says what each side holds).

Timing figures drift between machines and over hours on shared ones: measure BASE and NEW in the same job
on the same machine (the README's CI section does so); compare says at the top when env.json says otherwise.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.errors import ReachError
from harness.report.compare_runs import Comparison, add_row, compare_results
from harness.report.load import folder_plan
from harness.report.noise import ALPHA
from harness.store.folder import RUNS, read_runs
from harness.store.record import RunRecord
from harness.text import console as make_console
from harness.text import fmt, fmt_duration

# Mutation testing (README, "Contributing") covers the verdicts of compare_runs and run_compare; reading the
# inputs and the benchmark JSON comparison are left out of it.
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


def load_runs(path: Path, role: str) -> list[RunRecord]:
    records = read_runs(path)
    if not records:
        raise ReachError(f"{role} '{path}' has no finished runs in {RUNS}; let its sweep finish (re-run the "
                         f"same command to resume) before comparing")
    return records


def suite_seeds(folder: Path) -> list[int] | None:
    """The ``seeds`` of a results folder's suite.toml, or None when it has none to read."""
    try:
        seeds = tomllib.loads((Path(folder) / "suite.toml").read_text(encoding="utf-8")).get("seeds")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return [int(s) for s in seeds] if isinstance(seeds, list) else None


def folder_env(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "env.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


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
        add_row(t, (b[name].get("group") or "", short, fmt_duration(mb), fmt_duration(mn), f"{change:+.1f}%", rate),
                 bad)
    out.tables.append((heading, t))
    return out


# pragma: no mutate end
# -- entry point -------------------------------------------------------------------------------------------------

def _check_threshold(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ReachError(f"--{name} must be a finite number >= 0, got {value!r}")


def check_alpha(value: float) -> None:
    """The level of the noise tests: a number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ReachError(f"--alpha must be a number between 0 and 1 (exclusive), e.g. 0.05, got {value!r}")


def results_folder(path: Path, role: str) -> Path:
    """``path`` when it is a results folder (with runs.jsonl); else ReachError naming ``role`` and the fix."""
    if _kind(path, role) != "results":
        raise ReachError(f"{role} '{path}' is a file, not a results folder; pass the folder a sweep wrote (e.g. "
                         f"results/smoke-<timestamp>)")
    return path


def run_compare(base: str, new: str, max_accuracy_drop: float = 0.02, max_slowdown: float = 25.0,
                console: Console | None = None, strict: bool = False, alpha: float = ALPHA) -> int:
    """Compare BASE with NEW, print what changed, and return 1 when NEW regressed beyond the thresholds, else 0.

    ``max_accuracy_drop`` is absolute (0.02 = two points of accuracy); ``max_slowdown`` is in percent; ``alpha`` is
    the level of the noise tests, ``strict`` compares exactly (one machine). Raises ReachError on bad input (see the
    module docstring).
    """
    _check_threshold("max-accuracy-drop", max_accuracy_drop)
    _check_threshold("max-slowdown", max_slowdown)
    check_alpha(alpha)
    pb, pn = Path(base), Path(new)
    kb, kn = _kind(pb, "BASE"), _kind(pn, "NEW")
    if kb != kn:
        what = {"results": "a results folder", "benchmarks": "a benchmark JSON file"}
        raise ReachError(f"cannot compare {what[kb]} (BASE '{pb}') with {what[kn]} (NEW '{pn}'); pass two results "
                         f"folders or two pytest-benchmark JSON files")
    if kb == "results":
        result = compare_results(load_runs(pb, "BASE"), load_runs(pn, "NEW"), max_accuracy_drop, max_slowdown,
                                 folder_env(pb), folder_env(pn), folder_plan(pb), folder_plan(pn), strict=strict,
                                 alpha=alpha, seeds_base=suite_seeds(pb), seeds_new=suite_seeds(pn))
    else:
        result = compare_benchmarks(_load_benchmarks(pb, "BASE"), _load_benchmarks(pn, "NEW"), max_slowdown)
    console = console or make_console()
    console.print(escape(f"compare: BASE {pb}  →  NEW {pn}"), soft_wrap=True)
    for line in result.header:
        console.print(escape(line), soft_wrap=True)
    for heading, table in result.tables:
        # a heading line, not a table title: rich wraps titles to the table's (narrow) width
        console.print(f"\n[bold]{escape(heading)}[/]", soft_wrap=True)
        console.print(table)
    for note in result.notes:
        console.print(f"note: {escape(note)}", soft_wrap=True)
    for title, lines in (("within noise (not regressions)", result.within_noise),
                         ("better beyond noise", result.gains)):
        if lines:
            console.print(f"{title}: {len(lines)} change(s):")
            for line in lines:
                console.print(f"  - {escape(line)}", soft_wrap=True)
    if result.regressions:
        console.print(f"[bold red]REGRESSION[/]: NEW is worse than BASE in {len(result.regressions)} way(s):")
        for line in result.regressions:
            console.print(f"  - {escape(line)}", soft_wrap=True)
        return 1
    if kb == "benchmarks":
        console.print(f"no regression: no benchmark's median slower by more than {max_slowdown:g}%")
    elif strict:
        console.print(f"no regression: accuracy within {max_accuracy_drop:g}, reach kept, no run raising, no "
                      f"slowdown beyond {max_slowdown:g}%")
    else:
        speed = (f"no slowdown beyond {max_slowdown:g}%" if result.throughput_gated
                 else "throughput not gated (different machines)")
        noise = f" ({len(result.within_noise)} change(s) within noise)" if result.within_noise else ""
        console.print(f"no regression beyond noise: accuracy within {max_accuracy_drop:g} or within its seeds' "
                      f"spread, reach kept or within noise{noise}, no run raising, {speed}", soft_wrap=True)
    return 0
