"""Suites: a named grid of RunSpecs plus the probes it wants.

Built-in suites are written in the same schema as users' TOML files and go through the same loader, so
there is one path from a suite description to specs. The schema (every table rejects unknown keys):

    name = "my-suite"
    description = "what it is for"
    seeds = [0, 1]
    prune = true                 # skip larger rungs once a majority of seeds failed a rung
    [defaults]                   # any RunSpec field (d_model, n_layers, steps, lr, batch_size, ...)
    steps = 600
    [[learners]]                 # name plus any RunSpec field; options = learner options; label = optional
    name = "transformer"
    options = { positions = "rotary" }
    lr = 1e-3
    [[tasks]]                    # name, distances, params = task parameters, plus any RunSpec field
    name = "hold"                # learners = ["lstm", "tcn"]: only these learner configurations run it
    distances = [4, 8, 16]       # a distance ladder ...
    [[tasks]]
    name = "hold"
    distances = [16]
    loads = [1, 2, 4, 8]         # ... or a load ladder at one distance (tasks with a load parameter)
    [probes.gradient]            # optional: probe name -> its options (see harness.config.probes)
    [escalate]                   # optional: budget escalation at each ladder's first failed rung
    factor = 4                   # the failed runs continue to factor x their steps (schedule "constant")
    seeds = 3                    # seeds added where the seeds disagree, up to this many at that rung

Precedence for a RunSpec field: defaults < task entry < learner entry. Each entry is one configuration; how
configurations are labelled and planned is harness.config.plan.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from harness.config.builtin import BUILTIN_SUITES
from harness.config.plan import Cell, check_ladder, plan
from harness.config.probes import validate_probes
from harness.config.spec import RunSpec
from harness.errors import ReachError
from harness.text import did_you_mean

SUITE_KEYS = ("name", "description", "seeds", "prune", "defaults", "learners", "tasks", "probes", "calibrate",
              "escalate")
ESCALATE_KEYS = ("factor", "seeds")
SPEC_FIELDS = tuple(f for f in RunSpec.field_names() if f not in ("task", "learner", "distance", "seed",
                                                                  "task_params", "learner_options", "label",
                                                                  "continues"))
LEARNER_KEYS = ("name", "options", "label") + SPEC_FIELDS
TASK_KEYS = ("name", "distances", "loads", "params", "label", "learners") + SPEC_FIELDS


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    if not isinstance(table, dict):
        raise ReachError(f"{where} must be a table, got {type(table).__name__}")
    for key in table:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            raise ReachError(f"{where}: unknown key '{key}'{hint}")


@dataclass
class Suite:
    name: str
    description: str
    seeds: list[int]
    prune: bool
    defaults: dict[str, Any]
    learners: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibrate: list[str] = field(default_factory=list)  # settings chosen on validation (harness.report.calibration)
    escalate: dict[str, int] | None = None  # {"factor": ..., "seeds": ...}: harness.run.escalation

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> Suite:
        data = copy.deepcopy(data)
        _check_keys(data, SUITE_KEYS, where)
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ReachError(f"{where}: 'name' must be a non-empty string")
        seeds = data.get("seeds", [0])
        if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds)):
            raise ReachError(f"{where}: 'seeds' must be a non-empty list of integers >= 0")
        defaults = data.get("defaults", {})
        _check_keys(defaults, SPEC_FIELDS, f"{where} [defaults]")
        learners = data.get("learners", [])
        tasks = data.get("tasks", [])
        if not isinstance(learners, list) or not isinstance(tasks, list):
            raise ReachError(f"{where}: 'learners' and 'tasks' must be arrays of tables ([[learners]])")
        for i, entry in enumerate(learners):
            _check_keys(entry, LEARNER_KEYS, f"{where} learners[{i}]")
            if "name" not in entry:
                raise ReachError(f"{where} learners[{i}]: missing 'name'")
        for i, entry in enumerate(tasks):
            _check_keys(entry, TASK_KEYS, f"{where} tasks[{i}]")
            if "name" not in entry:
                raise ReachError(f"{where} tasks[{i}]: missing 'name'")
            check_ladder(entry, f"{where} tasks[{i}]")
            wanted = entry.get("learners")
            if wanted is not None and not (isinstance(wanted, list) and wanted
                                           and all(isinstance(n, str) and n for n in wanted)):
                raise ReachError(f"{where} tasks[{i}]: 'learners' must be a non-empty list of learner labels or "
                                 f"names, e.g. [\"lstm\", \"tcn\"]")
        probes = data.get("probes", {})
        if isinstance(probes, list):
            probes = {p: {} for p in probes}
        validate_probes(probes, where)
        if not learners and probes == {}:
            raise ReachError(f"{where}: the suite has no learners")
        calibrate = data.get("calibrate", [])
        if not (isinstance(calibrate, list) and all(isinstance(k, str) and k for k in calibrate)):
            raise ReachError(f"{where}: 'calibrate' must be a list of setting names, e.g. [\"lr\"]")
        escalate = _escalate(data.get("escalate"), where)
        suite = cls(name=name, description=data.get("description", ""), seeds=seeds,
                    prune=bool(data.get("prune", True)), defaults=defaults, learners=learners, tasks=tasks,
                    probes=probes, calibrate=calibrate, escalate=escalate)
        try:
            cells = suite.plan()  # validate every configuration and spec now, before anything runs
        except ReachError as exc:
            raise ReachError(exc if str(exc).startswith(where) else f"{where}: {exc}") from None
        if escalate is not None:
            cosine = sorted({c.learner for c in cells if c.spec.schedule != "constant"})
            if cosine:
                raise ReachError(f"{where}: [escalate] continues failed runs to a larger budget, which needs "
                                 f"schedule = \"constant\" (a cosine schedule cannot be continued past its horizon); "
                                 f"{', '.join(cosine)} run with another schedule: set schedule = \"constant\" in "
                                 f"[defaults], or drop [escalate]")
        return suite

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "description": self.description, "seeds": self.seeds, "prune": self.prune,
               "defaults": self.defaults, "learners": self.learners, "tasks": self.tasks}
        if self.probes:
            out["probes"] = self.probes
        if self.calibrate:
            out["calibrate"] = self.calibrate
        if self.escalate:
            out["escalate"] = self.escalate
        return out

    def to_toml(self) -> str:
        return tomli_w.dumps(_drop_none(self.to_dict()))

    def plan(self) -> list[Cell]:
        """Every cell of the grid: (task configuration, learner configuration, rung, seed) and its spec."""
        return plan(self.name, self.seeds, self.defaults, self.learners, self.tasks)

    def specs(self) -> list[RunSpec]:
        """Every run of the grid once (two cells may plan the same run), ordered task, learner, rung, seed."""
        out: dict[str, RunSpec] = {}
        for cell in self.plan():
            out.setdefault(cell.spec.id, cell.spec)
        return list(out.values())

    def override(self, *, seeds: list[int] | None = None, learners: list[str] | None = None,
                 tasks: list[str] | None = None, distances: list[int] | None = None,
                 steps: int | None = None, prune: bool | None = None, device: str | None = None) -> Suite:
        """A copy with command-line overrides applied (names filter the suite's own entries)."""
        data = copy.deepcopy(self.to_dict())
        if seeds is not None:
            data["seeds"] = seeds
        if learners is not None:
            known = {entry["name"] for entry in data["learners"]}
            keep = [e for e in data["learners"] if e["name"] in learners]
            extra = [n for n in learners if n not in known]
            data["learners"] = keep + [{"name": n} for n in extra]
            for entry in data["tasks"]:  # a task that names its learners keeps those still in the suite
                if entry.get("learners"):
                    entry["learners"] = [n for n in entry["learners"] if n.split("[")[0] in learners]
            data["tasks"] = [e for e in data["tasks"] if e.get("learners") != []]
        if tasks is not None:
            known_t = {entry["name"] for entry in data["tasks"]}
            missing = [n for n in tasks if n not in known_t]
            if missing and distances is None:
                raise ReachError(f"task(s) {', '.join(missing)} are not in suite '{self.name}'; "
                                 f"add --distances to say which distances to run")
            data["tasks"] = [e for e in data["tasks"] if e["name"] in tasks] + \
                [{"name": n, "distances": distances} for n in missing]
        if distances is not None:  # a load ladder keeps its one distance: --distances sets distance ladders
            for entry in data["tasks"]:
                if not entry.get("loads"):
                    entry["distances"] = list(distances)
        if steps is not None:
            data["defaults"]["steps"] = steps
            for entry in data["tasks"] + data["learners"]:
                entry.pop("steps", None)
        if prune is not None:
            data["prune"] = prune
        if device is not None:  # every run of the suite on this device
            data["defaults"]["device"] = device
            for entry in data["tasks"] + data["learners"]:
                entry.pop("device", None)
        return Suite.from_dict(data, where=f"suite '{self.name}' with overrides")


def _escalate(table: Any, where: str) -> dict[str, int] | None:
    """The [escalate] table, validated, with its defaults filled in (None when the suite has none)."""
    if table is None:
        return None
    _check_keys(table, ESCALATE_KEYS, f"{where} [escalate]")
    out = {"factor": 4, "seeds": 3, **table}
    for key, low in (("factor", 2), ("seeds", 1)):
        value = out[key]
        if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= 100):
            raise ReachError(f"{where} [escalate]: '{key}' must be an integer from {low} to 100, got {value!r}")
    return out


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def load_suite(ref: str) -> Suite:
    """A built-in suite by name, or a TOML file by path."""
    if ref in BUILTIN_SUITES:
        return Suite.from_dict(BUILTIN_SUITES[ref], where=f"suite '{ref}'")
    path = Path(ref)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ReachError(f"cannot read suite file {path} ({exc.strerror})") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ReachError(f"suite file {path} is not valid TOML ({exc}); fix the syntax") from None
        data.setdefault("name", path.stem)
        return Suite.from_dict(data, where=f"suite file {path}")
    hint = did_you_mean(ref, BUILTIN_SUITES, "; did you mean '{}'?")
    raise ReachError(f"unknown suite '{ref}'{hint} (built-in: {', '.join(BUILTIN_SUITES)}; or a path to a "
                     f".toml file)")
