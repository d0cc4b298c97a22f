"""Sweep progress: a live rich display on a terminal, one plain line per event otherwise (CI logs)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from harness.store.record import Outcome, RunRecord


def describe(record: RunRecord) -> str:
    """One line: the outcome, steps, test accuracy and seconds of a finished run."""
    outcome = record.outcome
    if outcome in (Outcome.SOLVED, Outcome.UNSOLVED):
        steps = f" at step {record.steps_to_solve}" if outcome is Outcome.SOLVED else f" ({record.steps_run} steps)"
        return f"{outcome}{steps}, test accuracy {record.test_accuracy:.3f}, {record.wall_seconds:.1f} s"
    if outcome is Outcome.ERROR:
        return f"error: {record.error}"
    return f"{outcome}: {record.stop_reason}"


class SweepProgress:
    """Callable passed to ``run_suite``: receives ("start"|"added"|"submitted"|"finished"|"skipped", **info);
    "added" is a run that budget escalation adds to the plan (an extra seed, or a continuation)."""

    def __init__(self, stream=None, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.console = Console(file=self.stream, force_terminal=self.live or None, highlight=False)
        self.running: dict[str, str] = {}
        self.total = self.done = 0
        self.t0 = time.perf_counter()
        self._progress: Progress | None = None
        self._task = None

    def __call__(self, event: str, **info: Any) -> None:
        getattr(self, f"on_{event}")(**info)

    def on_start(self, total: int, done: int) -> None:
        self.total, self.done = total, done
        if done:
            self.console.print(f"resuming: {done} of {total} runs already finished")
        if self.live:
            self._progress = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                      TextColumn("{task.description}"), console=self.console, transient=False)
            self._progress.start()
            self._task = self._progress.add_task("", total=total, completed=done)

    @staticmethod
    def _name(spec) -> str:
        params = ",".join(f"{k}={v}" for k, v in sorted(spec.task_params.items()))
        task = f"{spec.task}[{params}]" if params else spec.task
        more = f" continued to {spec.steps} steps" if spec.continues else ""
        return f"{spec.label} {task} d={spec.distance} s={spec.seed}{more}"

    def on_added(self, spec, stage: str) -> None:
        self.total += 1
        if self._progress is not None:
            self._progress.update(self._task, total=self.total)

    def _refresh(self) -> None:
        if self._progress is not None:
            now = ", ".join(list(self.running.values())[:3])
            self._progress.update(self._task, completed=self.done, description=f"running: {now}" if now else "")

    def on_submitted(self, spec) -> None:
        self.running[spec.id] = self._name(spec)
        self._refresh()

    def _line(self, spec, record) -> None:
        msg = f"[{self.done}/{self.total}] {self._name(spec)}: {describe(record)}"
        if self._progress is not None:
            self._progress.console.print(msg, markup=False)
        else:
            print(msg, file=self.stream, flush=True)

    def on_finished(self, spec, record) -> None:
        self.running.pop(spec.id, None)
        self.done += 1
        self._line(spec, record)
        self._refresh()

    def on_skipped(self, spec, record) -> None:
        self.done += 1
        if not self.live:
            self._line(spec, record)
        self._refresh()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
