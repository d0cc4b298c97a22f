"""What happens after a sweep's runs: tables, probes, report, and the summary printed to the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.analysis import reach_matrix, runs_frame
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
    matrix = reach_matrix(runs_frame(records))
    table = Table(title="reach: largest distance solved in a majority of seeds (0 = none)")
    table.add_column("learner")
    for task in matrix.columns:
        table.add_column(str(task), justify="right")
    for label, row in matrix.iterrows():
        table.add_row(str(label), *[str(v) if v else "-" for v in row.tolist()])
    return table


def finish_sweep(suite: Any, result: dict[str, Any], report: bool = True, workers: int = 1) -> int:
    folder: Path = result["folder"]
    records = read_runs(folder)
    wanted = {r["id"] for r in result["records"]}
    records = [r for r in records if r["id"] in wanted]
    write_tables(folder, records)
    console = Console(highlight=False)
    if suite.probes:
        from harness.probes import run_probes

        run_probes(suite, folder, console)
    if report:
        from harness.report import build_report

        console.print(f"report: {build_report(folder)}")
    console.print(summary_table(records))
    counts = result["counts"]
    parts = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("solved", "unsolved", "skipped", "diverged", "error"))
    console.print(f"{len(records)} runs ({parts}) in {result['seconds']:.0f} s; "
                  f"{result['resumed']} resumed from an earlier session")
    console.print(f"results: {folder}")
    return 0
