"""The plan of a suite: its configurations, their labels, and every (task, learner, rung, seed) cell with its spec.

Configuration identity. A learner configuration is one ``[[learners]]`` entry: its name, its options and every
RunSpec field it sets (lr, d_model, ...). A task configuration is one ``[[tasks]]`` entry: its name, its params,
the fields it sets, and its ladder. Everything that groups runs — the ladder and its pruning, reach, figures,
findings, ``compare`` — groups by configuration, never by name alone, so a learning-rate or load sweep in a suite
file stays apart.

Labels stay short: the name alone when the suite has one entry of that name, else the name plus, in brackets,
only what differs between the entries of that name (``lstm[lr=0.01]``, ``copy[n_symbols=1]``); an entry's own
``label = "..."`` names it explicitly. A load ladder is labelled with its fixed distance (``hold[distance=32]``).

Ladders. A task entry's ``distances`` is a distance ladder, its load fixed by its params. An entry with ``loads``
(and exactly one distance) is a load ladder: the task's load parameter (``Task.load_param``) takes each value at
that distance, so capacity is the only difficulty. A rung is a distance or a load; rungs run smallest first.
Two entries may plan the same run (a load ladder's load-1 rung can be a distance ladder's rung): it runs once
and counts in both.

Which learners run a task. By default every learner configuration runs every task configuration. A task entry's
``learners = ["lstm", "tcn"]`` names the learner configurations (by label or by name) that run it, for a suite
whose questions differ per task (the ``literature`` suite: the adding problem for the recurrent nets and the TCN,
selective copying for the linear recurrences); a name that matches no learner entry is an error.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from harness.config.registry import learner_class, task_class
from harness.config.spec import RunSpec
from harness.errors import ReachError

DISTANCE, LOAD = "distance", "load"
# A cell's stage: the suite's own grid, or budget escalation at a ladder's first failed rung (harness.run.escalation)
BASE, EXTRA_SEED, ESCALATED = "base", "extra seed", "escalated"
LEARNER_ENTRY_KEYS = ("name", "options", "label")  # keys of an entry that are not RunSpec fields
TASK_ENTRY_KEYS = ("name", "params", "distances", "loads", "label", "learners")
# RunSpec's own defaults, for settings neither the suite's [defaults] nor an entry sets
SPEC_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSpec) if f.default is not dataclasses.MISSING}


@dataclass(frozen=True)
class Cell:
    """One planned run as the suite sees it: which task configuration and learner configuration it belongs to,
    its rung on that configuration's ladder (a distance, or a load), its seed, and the spec that runs it.

    ``stage`` is BASE for the suite's grid; budget escalation adds EXTRA_SEED cells (a seed beyond the suite's, at
    the base budget) and ESCALATED cells (``parent``'s run continued to a larger budget)."""

    task: str  # the task configuration's label
    axis: str  # DISTANCE or LOAD: what the rungs of this task configuration vary
    rung: int
    learner: str  # the learner configuration's label
    seed: int
    spec: RunSpec
    stage: str = BASE
    parent: str | None = None  # ESCALATED: the id of the run it continues


def _identity(resolved: dict[str, Any], entry: dict[str, Any], defaults: dict[str, Any],
              skip: tuple[str, ...]) -> dict[str, Any]:
    """What makes an entry the configuration it is: its ``resolved`` options or params, then the RunSpec fields it
    sets (fields it does not set take the suite's defaults, so an lr set on one entry differs from the default on
    another)."""
    out = dict(sorted(resolved.items()))
    fields = {**SPEC_DEFAULTS, **defaults, **{k: v for k, v in entry.items() if k not in skip}}
    for k, v in sorted(fields.items()):
        out.setdefault(k, v)
    return out


def _labels(entries: list[dict[str, Any]], identities: list[dict[str, Any]], what: str,
            extra: list[str] | None = None) -> list[str]:
    """One short label per entry: an explicit label, else the name plus what differs within its name."""
    extra = extra or [""] * len(entries)
    labels = []
    for i, entry in enumerate(entries):
        if entry.get("label"):
            labels.append(str(entry["label"]))
            continue
        same = [j for j, e in enumerate(entries) if e["name"] == entry["name"] and extra[j] == extra[i]]
        keys = list(dict.fromkeys(k for j in same for k in identities[j]))  # options or params first, then fields
        differ = [k for k in keys if len({repr(identities[j].get(k)) for j in same}) > 1]
        parts = [extra[i]] if extra[i] else []
        parts += [f"{k}={identities[i].get(k)}" for k in differ]
        labels.append(entry["name"] + (f"[{','.join(parts)}]" if parts else ""))
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise ReachError(f"{what}[{seen[label]}] and {what}[{i}] are the same configuration ({label}); drop one, "
                             f"or give one a different setting or an explicit label = \"...\"")
        seen[label] = i
    return labels


def learner_labels(learners: list[dict[str, Any]], defaults: dict[str, Any]) -> list[str]:
    """The label of each ``[[learners]]`` entry (see the module docstring)."""
    identities = [_identity(learner_class(e["name"]).resolve_options(dict(e.get("options") or {})), e, defaults,
                            LEARNER_ENTRY_KEYS) for e in learners]
    return _labels(learners, identities, "learners")


def task_labels(tasks: list[dict[str, Any]], defaults: dict[str, Any]) -> list[str]:
    """The label of each ``[[tasks]]`` entry (see the module docstring); load ladders carry their distance."""
    def params(entry: dict[str, Any]) -> dict[str, Any]:
        """Every parameter but the distance (and a load ladder's load), defaults filled in."""
        cls, given = task_class(entry["name"]), dict(entry.get("params") or {})
        varied = ("distance", cls.load_param) if entry.get("loads") else ("distance",)
        return {f.name: given.get(f.name, None if f.default is dataclasses.MISSING else f.default)
                for f in dataclasses.fields(cls) if f.name not in varied}

    identities = [_identity(params(e), e, defaults, TASK_ENTRY_KEYS) for e in tasks]
    extra = [f"distance={e['distances'][0]}" if e.get("loads") else "" for e in tasks]
    return _labels(tasks, identities, "tasks", extra)


def axis_of(entry: dict[str, Any]) -> str:
    return LOAD if entry.get("loads") else DISTANCE


def check_ladder(entry: dict[str, Any], where: str) -> None:
    """A task entry's ladder is well formed: distances, and loads only for a task with a load parameter."""
    d = entry.get("distances")
    if not (isinstance(d, list) and d and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in d)):
        raise ReachError(f"{where} ({entry['name']}): 'distances' must be a non-empty list of integers >= 1")
    loads = entry.get("loads")
    if loads is None:
        return
    if not (isinstance(loads, list) and loads and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1
                                                      for x in loads)):
        raise ReachError(f"{where} ({entry['name']}): 'loads' must be a non-empty list of integers >= 1")
    if len(d) != 1:
        raise ReachError(f"{where} ({entry['name']}): a load ladder runs at one fixed distance; give 'distances' "
                         f"one value, got {d}")
    load_param = task_class(entry["name"]).load_param
    if load_param is None:
        raise ReachError(f"{where} ({entry['name']}): task '{entry['name']}' has no load parameter (its load is "
                         f"fixed or is its distance), so it cannot run a load ladder; drop 'loads'")
    if load_param in (entry.get("params") or {}):
        raise ReachError(f"{where} ({entry['name']}): 'loads' sets {load_param}; drop it from params")


def plan(name: str, seeds: list[int], defaults: dict[str, Any], learners: list[dict[str, Any]],
         tasks: list[dict[str, Any]]) -> list[Cell]:
    """Every cell of a suite, ordered task entry, learner entry, rung, seed. Precedence for a RunSpec field:
    defaults < task entry < learner entry. Raises ReachError naming the entry whose spec is invalid."""
    l_labels, t_labels = learner_labels(learners, defaults), task_labels(tasks, defaults)
    cells = []
    for t, t_label in zip(tasks, t_labels):
        for want in t.get("learners") or []:
            if not any(want in (lab, lrn["name"]) for lrn, lab in zip(learners, l_labels)):
                raise ReachError(f"suite '{name}' ({t_label}): learners names '{want}', which is no learner entry's "
                                 f"label or name (entries: {', '.join(l_labels)})")
    for (t, t_label), (lrn, l_label) in itertools.product(zip(tasks, t_labels), zip(learners, l_labels)):
        if t.get("learners") and l_label not in t["learners"] and lrn["name"] not in t["learners"]:
            continue
        axis = axis_of(t)
        rungs = sorted(t["loads"]) if axis == LOAD else sorted(t["distances"])
        cls = task_class(t["name"])
        load_param = cls.load_param
        default_load = next((f.default for f in dataclasses.fields(cls) if f.name == load_param), None)
        for rung, seed in itertools.product(rungs, seeds):
            distance = t["distances"][0] if axis == LOAD else rung
            params = dict(t.get("params") or {})
            if axis == LOAD and rung != default_load:  # at the default, the same spec as a distance ladder's
                params[load_param] = rung
            fields = dict(defaults)
            fields.update({k: v for k, v in t.items() if k not in TASK_ENTRY_KEYS})
            fields.update({k: v for k, v in lrn.items() if k not in LEARNER_ENTRY_KEYS})
            fields.update(task=t["name"], distance=distance, learner=lrn["name"], seed=seed, task_params=params,
                          learner_options=dict(lrn.get("options") or {}), label=l_label)
            where = f"suite '{name}' ({l_label} on {t_label} at {axis} {rung})"
            try:
                spec = RunSpec.from_dict(fields, where=where)
            except ReachError as exc:
                raise ReachError(f"{where}: {exc}") from None
            cells.append(Cell(t_label, axis, rung, l_label, seed, spec))
    return cells
