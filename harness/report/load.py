"""Loading a results folder for the report: its run records (the suite's planned runs without a record become
"pending" records), the resolved suite, env.json and the probes' table1.csv, with what could not be read noted."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.config.plan import Cell
from harness.config.suites import Suite
from harness.errors import ReachError
from harness.run.escalation import escalation_cells
from harness.store.folder import RUNS, read_runs
from harness.store.record import RunRecord


# -- loading ------------------------------------------------------------------------------------------------------
@dataclass
class Loaded:
    """What a results folder holds, normalised. ``records`` are the suite's finished runs (skipped included);
    ``pending`` are pseudo-records (outcome "pending") for the suite's runs that have no record yet; ``escalated``
    the finished runs of budget escalation (harness.run.escalation), apart: tables and reach read the base grid."""

    folder: Path
    records: list[RunRecord] = field(default_factory=list)
    pending: list[RunRecord] = field(default_factory=list)
    outside: int = 0  # records of runs.jsonl that are not part of suite.toml (an earlier session's settings)
    suite: dict[str, Any] = field(default_factory=dict)
    suite_obj: Suite | None = None
    plan: list[Cell] | None = None  # the suite's cells, when suite.toml could be resolved
    escalations: list[Cell] = field(default_factory=list)  # extra seeds and continuations its records call for
    escalated: list[RunRecord] = field(default_factory=list)  # their finished records
    notes: list[str] = field(default_factory=list)  # problems met while reading, shown in provenance
    env: dict[str, Any] = field(default_factory=dict)
    table1: pd.DataFrame | None = None


def load_folder(folder: Path) -> Loaded:
    """Read a results folder; raises ReachError when it is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReachError(f"{folder} is not a folder; pass a results folder, e.g. results/long-range-<timestamp>")
    has_runs, has_table1 = (folder / RUNS).exists(), (folder / "table1.csv").exists()
    if not has_runs and not has_table1:
        raise ReachError(f"{folder} is not a results folder (no runs.jsonl or table1.csv); pass the folder a "
                         f"sweep wrote, e.g. results/long-range-<timestamp>")
    out = Loaded(folder=folder)
    records = read_runs(folder) if has_runs else []
    suite_path = folder / "suite.toml"
    if suite_path.exists():
        try:
            out.suite = tomllib.loads(suite_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError) as exc:
            out.notes.append(f"suite.toml could not be read ({exc}); the report covers every stored run")
    if out.suite:
        try:
            out.suite_obj = Suite.from_dict(out.suite, where=f"{suite_path}")
        except ReachError as exc:
            out.notes.append(f"suite.toml could not be resolved ({exc}); planned runs are unknown, the report "
                             f"covers every stored run")
    if out.suite_obj is not None:
        out.plan = out.suite_obj.plan()
    if out.suite_obj is not None and has_runs:  # also when no run finished yet: all of them are pending
        specs = out.suite_obj.specs()
        planned = {s.id for s in specs}
        done = {r.id for r in records}
        out.outside = sum(1 for r in records if r.id not in planned)
        # the plan's labels, not the stored ones: a folder written before a relabelling reads as today
        labels = {c.spec.id: c.learner for c in out.plan}
        by_id = {r.id: r for r in records}
        out.escalations = escalation_cells(out.plan, by_id, out.suite_obj.escalate, out.suite_obj.calibrate)
        labels.update({c.spec.id: c.learner for c in out.escalations})
        extra = {c.spec.id for c in out.escalations} - planned
        out.escalated = [dataclasses.replace(by_id[i], label=labels[i]) for i in sorted(extra) if i in by_id]
        out.outside -= len(out.escalated)
        records = [dataclasses.replace(r, label=labels[r.id]) for r in records if r.id in planned]
        out.pending = [RunRecord.pending(s) for s in specs if s.id not in done]
    out.records = records
    env_path = folder / "env.json"
    if env_path.exists():
        try:
            out.env = json.loads(env_path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            out.notes.append(f"env.json could not be read ({exc})")
    else:
        out.notes.append("env.json is missing: versions, hardware and sessions were not recorded")
    if has_table1:
        try:
            out.table1 = pd.read_csv(folder / "table1.csv")
        except (ValueError, OSError) as exc:
            out.notes.append(f"table1.csv could not be read ({exc})")
    return out


def folder_plan(folder: Path) -> list[Cell] | None:
    """The plan of the suite a results folder ran (its suite.toml), or None when there is none to read."""
    try:
        data = tomllib.loads((Path(folder) / "suite.toml").read_text(encoding="utf-8"))
        return Suite.from_dict(data, where=f"{folder}/suite.toml").plan()
    except (OSError, tomllib.TOMLDecodeError, ReachError):
        return None
