"""What happens after a sweep's runs: tables, probes, report, and the summary printed to the console."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.analysis import reach_summary, runs_frame
from harness.store import read_runs


def write_tables(folder: Path, records: list[dict[str, Any]] | None = None) -> Path:
    """runs.csv (always) and runs.parquet (when pyarrow is present), rebuilt from runs.jsonl."""
    records = read_runs(folder) if records is None else records
    frame = runs_frame(records)
    frame.to_csv(folder / "runs.csv", index=False)
    try:
        frame.to_parquet(folder / "runs.parquet", index=False)
    except ImportError:
        pass
    return folder / "runs.csv"


def summary_table(records: list[dict[str, Any]]) -> Table:
    """Reach per learner x task, as the report computes it ("64 (2/2)": distance, seeds that solved it)."""
    summary = reach_summary(runs_frame(records))
    tasks = sorted(summary.task.unique()) if len(summary) else []
    table = Table(title="reach: largest distance solved in most seeds")
    table.add_column("learner")
    for task in tasks:
        table.add_column(escape(str(task)), justify="right")
    for label, rows in summary.groupby("label", sort=True):
        cells = {r.task: (f"{r.reach} ({r.solved_at_reach}/{r.seeds})" if r.reach else "-")
                 for r in rows.itertuples()}
        table.add_row(escape(str(label)), *[cells.get(t, "") for t in tasks])
    return table


def finish_sweep(suite: Any, result: dict[str, Any], report: bool = True) -> int:
    folder: Path = result["folder"]
    records = result["records"]  # this suite's runs, as stored (resumed ones included)
    write_tables(folder, records)
    # a pipe or CI log gets no terminal width; 80 columns would cut the learner labels
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    if suite.probes:
        from harness.probes import run_probes

        run_probes(suite, folder, console)
    if report:
        from harness.report import build_report

        console.print(f"report: {build_report(folder)}")
    if records:  # a probes-only suite (table1) has no runs to tabulate
        console.print(summary_table(records))
    counts = result["counts"]
    parts = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("solved", "unsolved", "skipped", "diverged", "error"))
    console.print(f"{len(records)} runs ({parts}) in {result['seconds']:.0f} s; "
                  f"{result['resumed']} resumed from an earlier session")
    console.print(f"results: {folder}")
    return 0
