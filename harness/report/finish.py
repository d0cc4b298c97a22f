"""What happens after a sweep's runs: the runs table, the probes, the report, and the summary on the console."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from harness.config.plan import Cell
from harness.config.suites import Suite
from harness.measure.probes import run_probes
from harness.report.analysis import reach_summary
from harness.report.calibration import calibrate
from harness.report.html import build_report
from harness.run.escalation import boundaries
from harness.run.sweep import SweepResult
from harness.store.record import Outcome, RunRecord
from harness.store.table import runs_frame, write_tables
from harness.text import MISSING, console

SUMMARY_OUTCOMES = (Outcome.SOLVED, Outcome.UNSOLVED, Outcome.SKIPPED, Outcome.DIVERGED, Outcome.ERROR)


def summary_table(records: list[RunRecord], plan: list[Cell] | None = None,
                  escalate: dict[str, int] | None = None, calibrated: Sequence[str] = ()) -> Table:
    """Reach per learner x task configuration, as the report computes it ("64 (2/2)": the reach and the seeds that
    solved it; on a load ladder, the capacity), and the first failed rung after budget escalation ("· 128 ↑ 4×:
    2/3": solved by a majority with 4x the steps; "·" alone when it stayed failed)."""
    summary = reach_summary(runs_frame(records, plan))
    after = {}
    if plan is not None and escalate:
        for b in boundaries(plan, {r.id: r for r in records}, escalate, calibrated):
            if b.complete:
                after[(b.task, b.learner)] = f" · {b.rung} {'↑' if b.solved_by_escalation else '✗'} " \
                                              f"{b.factor}×: {b.solved}/{b.n}"
    tasks = sorted(summary.task.unique()) if len(summary) else []
    table = Table(title="reach: largest distance up to which every distance is solved by a majority of seeds (a load "
                        "ladder: capacity, the same along the load)")
    table.add_column("learner")
    for task in tasks:
        table.add_column(escape(str(task)), justify="right")
    for label, rows in summary.groupby("label", sort=True):
        cells = {r.task: (f"{r.reach} ({r.solved_at_reach}/{r.seeds})" if r.reach else MISSING)
                 + after.get((r.task, label), "") for r in rows.itertuples()}
        table.add_row(escape(str(label)), *[cells.get(t, "") for t in tasks])
    return table


def calibration_table(records: list[RunRecord], keys: list[str]) -> Table:
    """The calibration's candidates per learner, scored on validation only; the choice marked ✓."""
    table = Table(title=f"calibration: {', '.join(keys)} chosen on validation streams (final validation accuracy, "
                        f"mean over tasks and seeds; ties: fewer steps to the threshold)")
    for col, just in (("learner", "left"), ("candidate", "left"), ("val accuracy", "right"),
                      ("steps to threshold", "right"), ("reached", "right"), ("runs", "right"), ("", "left")):
        table.add_column(col, justify=just)
    for c in calibrate(records, keys):
        table.add_row(escape(c.learner), escape(c.label), f"{c.val_accuracy:.3f}", f"{c.val_steps:.0f}",
                      str(c.reached), str(c.runs), "✓ chosen" if c.chosen else "")
    return table


def finish_sweep(suite: Suite, result: SweepResult, report: bool = True, workers: int = 1) -> int:
    """Write runs.csv/parquet, run the suite's probes (the flops and gradient probes on ``workers`` processes),
    build the report (unless ``report`` is False) and print the reach table and counts. Returns the exit code
    of the sweep (0)."""
    folder, records = result.folder, result.records  # this suite's runs, as stored (resumed ones included)
    write_tables(folder, records)
    out = console()
    if suite.probes:
        run_probes(suite, folder, out, workers=workers)
    if report:
        out.print(f"report: {build_report(folder)}")
    if records:  # a probes-only suite (table1) has no runs to tabulate
        out.print(summary_table(records, suite.plan(), suite.escalate, suite.calibrate))
    if records and suite.calibrate:
        out.print(calibration_table(records, suite.calibrate))
    parts = ", ".join(f"{result.counts.get(k, 0)} {k}" for k in SUMMARY_OUTCOMES)
    out.print(f"{len(records)} runs ({parts}) in {result.seconds:.0f} s; {result.resumed} resumed from an earlier "
              f"session")
    out.print(f"results: {folder}")
    return 0
