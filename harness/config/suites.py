"""Suites: a named grid of RunSpecs plus the probes it wants.

Built-in suites are written in the same schema as users' TOML files and go through the same loader, so
there is one path from a suite description to specs. The schema (every table rejects unknown keys):

    name = "my-suite"
    description = "what it is for"
    seeds = [0, 1]
    prune = true                 # skip larger distances once a learner failed a distance in every seed
    [defaults]                   # any RunSpec field (d_model, n_layers, steps, lr, batch_size, ...)
    steps = 600
    [[learners]]                 # name plus any RunSpec field; options = learner options
    name = "transformer"
    options = { positions = "rotary" }
    lr = 1e-3
    [[tasks]]                    # name, distances, params = task parameters, plus any RunSpec field
    name = "lag"
    distances = [4, 8, 16]
    [probes.gradient]            # optional: probe name -> its options (see harness.config.probes)

Precedence for a RunSpec field: defaults < task entry < learner entry.
"""

from __future__ import annotations

import copy
import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from harness.config.builtin import BUILTIN_SUITES
from harness.config.probes import validate_probes
from harness.config.spec import RunSpec
from harness.errors import ReachError
from harness.text import did_you_mean

SUITE_KEYS = ("name", "description", "seeds", "prune", "defaults", "learners", "tasks", "probes")
SPEC_FIELDS = tuple(f for f in RunSpec.field_names() if f not in ("task", "learner", "distance", "seed",
                                                                  "task_params", "learner_options"))
LEARNER_KEYS = ("name", "options") + SPEC_FIELDS
TASK_KEYS = ("name", "distances", "params") + SPEC_FIELDS


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
            d = entry.get("distances")
            if not (isinstance(d, list) and d and all(isinstance(x, int) and x >= 1 for x in d)):
                raise ReachError(f"{where} tasks[{i}] ({entry['name']}): 'distances' must be a non-empty list "
                                 f"of integers >= 1")
        probes = data.get("probes", {})
        if isinstance(probes, list):
            probes = {p: {} for p in probes}
        validate_probes(probes, where)
        if not learners and probes == {}:
            raise ReachError(f"{where}: the suite has no learners")
        suite = cls(name=name, description=data.get("description", ""), seeds=seeds,
                    prune=bool(data.get("prune", True)), defaults=defaults, learners=learners, tasks=tasks,
                    probes=probes)
        suite.specs()  # validate every spec now, before anything runs
        return suite

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "description": self.description, "seeds": self.seeds, "prune": self.prune,
               "defaults": self.defaults, "learners": self.learners, "tasks": self.tasks}
        if self.probes:
            out["probes"] = self.probes
        return out

    def to_toml(self) -> str:
        return tomli_w.dumps(_drop_none(self.to_dict()))

    def specs(self) -> list[RunSpec]:
        """Every run of the grid, ordered task, learner, distance, seed."""
        out = []
        for t, lrn in itertools.product(self.tasks, self.learners):
            for distance, seed in itertools.product(sorted(t["distances"]), self.seeds):
                fields = dict(self.defaults)
                fields.update({k: v for k, v in t.items() if k not in ("name", "distances", "params")})
                fields.update({k: v for k, v in lrn.items() if k not in ("name", "options")})
                fields.update(task=t["name"], distance=distance, learner=lrn["name"], seed=seed,
                              task_params=dict(t.get("params", {})), learner_options=dict(lrn.get("options", {})))
                where = f"suite '{self.name}' ({lrn['name']} on {t['name']} at distance {distance})"
                try:
                    out.append(RunSpec.from_dict(fields, where=where))
                except ReachError as exc:
                    raise ReachError(f"{where}: {exc}") from None
        return out

    def override(self, *, seeds: list[int] | None = None, learners: list[str] | None = None,
                 tasks: list[str] | None = None, distances: list[int] | None = None,
                 steps: int | None = None, prune: bool | None = None) -> Suite:
        """A copy with command-line overrides applied (names filter the suite's own entries)."""
        data = copy.deepcopy(self.to_dict())
        if seeds is not None:
            data["seeds"] = seeds
        if learners is not None:
            known = {entry["name"] for entry in data["learners"]}
            keep = [e for e in data["learners"] if e["name"] in learners]
            extra = [n for n in learners if n not in known]
            data["learners"] = keep + [{"name": n} for n in extra]
        if tasks is not None:
            known_t = {entry["name"]: entry for entry in data["tasks"]}
            missing = [n for n in tasks if n not in known_t]
            if missing and distances is None:
                raise ReachError(f"task(s) {', '.join(missing)} are not in suite '{self.name}'; "
                                 f"add --distances to say which distances to run")
            data["tasks"] = [known_t.get(n, {"name": n, "distances": distances}) for n in tasks]
        if distances is not None:
            for entry in data["tasks"]:
                entry["distances"] = list(distances)
        if steps is not None:
            data["defaults"]["steps"] = steps
            for entry in data["tasks"] + data["learners"]:
                entry.pop("steps", None)
        if prune is not None:
            data["prune"] = prune
        return Suite.from_dict(data, where=f"suite '{self.name}' with overrides")


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
