"""Run a suite: schedule its specs on an executor, store every finished run, resume, prune, summarise.

Reach search (pruning). Within one (task configuration, learner configuration) the rungs — distances, or loads
for a load ladder — run as a ladder, smallest first, all seeds of a rung together. Once a rung is not solved by a
majority of its seeds (the rest unsolved, diverged or failed with an error), reach is decided — it is the largest
rung up to which every rung was solved by a majority — so the larger rungs of that ladder are recorded as
"skipped" (not solved by a majority at a shorter distance, or a smaller load), not run.
``prune = false`` (``--no-prune``) runs them all. Decisions are recomputed from stored runs on resume, so
an interrupted sweep resumes to the same result.

Budget escalation (a suite's ``[escalate]``, harness.run.escalation). Once a ladder's first failed rung is decided,
its extra seeds and the continuations of its unsolved runs join the queue; a continuation starts from the last state
of the run it continues, which the driver keeps in the results folder's ``checkpoints/`` (workers write nothing and
get it with the spec). Escalated runs are records of their own, stored, resumed and summarised like any other.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.plan import Cell
from harness.config.spec import RunSpec
from harness.config.suites import Suite
from harness.run.escalation import escalation_cells
from harness.run.executors import Executor
from harness.store.folder import ResultsFolder
from harness.store.provenance import environment, now_iso
from harness.store.record import Outcome, RunRecord


class Ladder:
    """Decides, from finished records, which specs run next and which are skipped.

    A ladder is one (task configuration, learner configuration) of the plan, its rungs the distances (or loads)
    of that task configuration. A run that two ladders plan (see harness.config.plan) runs when either needs
    it, and is skipped only when every ladder holding it has pruned it."""

    def __init__(self, cells: list[Cell], prune: bool) -> None:
        self.prune = prune
        self.rungs: dict[tuple[str, str], dict[int, list[Cell]]] = defaultdict(lambda: defaultdict(list))
        for cell in cells:
            self.rungs[(cell.task, cell.learner)][cell.rung].append(cell)

    def plan(self, done: dict[str, RunRecord],
             in_flight: set[str]) -> tuple[list[RunSpec], list[tuple[RunSpec, str, int]]]:
        """(specs ready to run now, (spec, axis, failed rung) triples to record as skipped)."""
        ready: dict[str, RunSpec] = {}
        waiting: set[str] = set()
        pruned: dict[str, tuple[RunSpec, str, int]] = {}
        for rungs in self.rungs.values():
            failed_at = None
            for rung in sorted(rungs):
                cells = rungs[rung]
                if failed_at is not None:
                    pruned.update((c.spec.id, (c.spec, c.axis, failed_at)) for c in cells if c.spec.id not in done)
                    continue
                pending = [c for c in cells if c.spec.id not in done]
                if pending:
                    ready.update((c.spec.id, c.spec) for c in pending if c.spec.id not in in_flight)
                    if self.prune:  # the next rung waits for this one
                        waiting.update(c.spec.id for r in sorted(rungs) if r > rung for c in rungs[r])
                        break
                    continue
                if self.prune and sum(done[c.spec.id].outcome == Outcome.SOLVED for c in cells) * 2 <= len(cells):
                    failed_at = rung  # no majority solved it: no larger rung can change the reach
        skip = [p for sid, p in pruned.items() if sid not in ready and sid not in waiting and sid not in in_flight]
        return list(ready.values()), skip


@dataclass
class SweepResult:
    """What ``run_suite`` returns: this suite's records (resumed ones included), counts per outcome, seconds
    of this session, how many runs an earlier session had finished, and the folder."""

    records: list[RunRecord]
    counts: dict[str, int]
    seconds: float
    resumed: int
    folder: Path


def run_suite(suite: Suite, out: Path, executor: Executor, command: str,
              progress: Callable[..., Any] | None = None) -> SweepResult:  # pragma: no mutate block
    """Run (or resume) ``suite`` into ``out`` on ``executor``; ``progress`` (if given) is called with
    ("start" | "submitted" | "finished" | "skipped", **info) as the sweep goes."""
    specs = suite.specs()
    cells = suite.plan()
    wanted = {s.id for s in specs}
    with ResultsFolder(out) as folder:
        # every stored run that trained or raised (escalations are found by id as their ladders call for them)
        done: dict[str, RunRecord] = {r.id: r for r in folder.existing if r.outcome is not Outcome.SKIPPED}
        earlier = set(done)
        resumed = len(wanted & earlier)
        folder.write_text("suite.toml", suite.to_toml())
        env_path = folder.path / "env.json"
        env = json.loads(env_path.read_text()) if env_path.exists() else {}
        sessions = env.get("sessions", [])
        session = {"command": command, "start": now_iso(), "end": None, "executor": executor.name,
                   "workers": executor.workers, "resumed_runs": resumed}
        sessions.append(session)
        env = {"suite": suite.name, **environment(threads=specs[0].threads if specs else 1), "sessions": sessions}
        folder.write_text("env.json", json.dumps(env, indent=2))

        ladder = Ladder(cells, suite.prune)
        skipped: dict[str, RunRecord] = {}
        escalations: dict[str, RunSpec] = {}  # extra seeds and continuations, as their ladders call for them
        futures: dict[cf.Future, RunSpec] = {}
        t0 = time.perf_counter()
        if progress:
            progress("start", total=len(specs), done=resumed)
        try:
            while True:
                in_flight = {s.id for s in futures.values()}
                ready, skip = ladder.plan(done, in_flight)
                for spec, axis, failed_at in skip:
                    if spec.id not in skipped:
                        skipped[spec.id] = RunRecord.skipped(spec, failed_at, axis)
                        if progress:
                            progress("skipped", spec=spec, record=skipped[spec.id])
                for cell in escalation_cells(cells, done, suite.escalate, suite.calibrate):
                    if cell.spec.id not in escalations:
                        escalations[cell.spec.id] = cell.spec
                        if cell.spec.id not in done and progress:
                            progress("added", spec=cell.spec, stage=cell.stage)
                    if cell.spec.id not in done and cell.spec.id not in in_flight and cell.spec not in ready:
                        ready.append(cell.spec)
                for spec in ready:
                    resume = folder.checkpoint(spec.continues) if spec.continues else None
                    futures[executor.submit(spec, resume)] = spec
                    if progress:
                        progress("submitted", spec=spec)
                if not futures:
                    break
                finished, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    spec = futures.pop(fut)
                    record = fut.result()
                    if record.checkpoint is not None:  # kept before the record, so a record implies its state
                        folder.save_checkpoint(record.id, record.checkpoint)
                        record.checkpoint = None
                    folder.append(record)
                    done[spec.id] = record
                    if progress:
                        progress("finished", spec=spec, record=record)
        finally:
            if futures:  # interrupted: what is running now is lost and re-run on resume; nothing else is
                executor.abort()
        # skipped records are appended once, so the table shows them; they are recomputed on resume
        present = {r.id for r in folder.existing if r.outcome is Outcome.SKIPPED}
        for record in skipped.values():
            if record.id not in present:
                folder.append(record)
        records = [done.get(s.id) or skipped.get(s.id) for s in specs]
        records += [done.get(sid) for sid in escalations if sid not in wanted]
        records = [r for r in records if r is not None]
        resumed = sum(r.id in earlier for r in records if r.outcome is not Outcome.SKIPPED)
        session["end"] = now_iso()
        session["seconds"] = round(time.perf_counter() - t0, 2)
        folder.write_text("env.json", json.dumps(env, indent=2))
        counts: dict[str, int] = defaultdict(int)
        for r in records:
            counts[str(r.outcome)] += 1
        return SweepResult(records, dict(counts), time.perf_counter() - t0, resumed, folder.path)
