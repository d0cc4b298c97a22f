"""The report of a results folder: ``report.html`` (one self-contained file), ``summary.md`` and figures.

``build_report(folder)`` reads stored results only (``runs.jsonl``, ``suite.toml``, ``env.json``, and the
probes' ``table1.csv`` / ``probes/`` when present) and writes

- ``report.html``: headline findings, reach table, figures (inline base64 PNG), all runs, definitions and
  fairness rules, threats to validity, provenance. No script, stylesheet or image is fetched from anywhere:
  the file opens offline. Jinja2 autoescaping escapes every string that comes from a config or a result.
- ``summary.md``: the reach table, the findings, counts and provenance, for CI logs and pull requests.
- ``figures/<key>.png`` and ``figures/<key>.svg``: each figure on its own, for papers.

It works for a finished sweep, an interrupted one (runs of the suite that have no record yet are shown as
"pending", and count as not solved), and a probes-only folder (``table1.csv`` but no ``runs.jsonl``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from harness import analysis
from harness.errors import ReachError
from harness.store import now_iso, read_runs, write_atomic

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_HTML_BYTES = 8_000_000  # the file must stay small enough to mail or attach; figures are the bulk
ROUTINE_STOPS = ("step budget", "validation accuracy reached the threshold")
AT_BASELINE = 0.02  # an unsolved run within this much accuracy of the memoryless baseline learned nothing usable
ABSOLUTE_POSITIONS = ("sinusoidal", "learned")
RELATIVE_POSITIONS = ("relative", "rotary")
SECTIONS = [("findings", "Headline findings"), ("reach", "Reach"), ("accuracy", "Accuracy vs distance"),
            ("steps", "Steps to solve"), ("curves", "Learning curves"), ("breakdown", "Per-position distance"),
            ("probes", "Probes and Table 1"), ("runs", "All runs"), ("definitions", "Definitions and fairness"),
            ("threats", "Threats to validity"), ("provenance", "Provenance")]
RUN_FIGURES = ("accuracy_vs_distance", "steps_to_solve", "learning_curves", "accuracy_by_position_distance")
PAPER_TABLE1 = [  # Vaswani et al. 2017, Table 1
    ("self-attention", "O(n²·d)", "O(1)", "O(1)"),
    ("recurrent", "O(n·d²)", "O(n)", "O(n)"),
    ("convolutional", "O(k·n·d²)", "O(1)", "O(log_k n)"),
    ("self-attention (restricted)", "O(r·n·d)", "O(1)", "O(n/r)"),
]


# -- loading ------------------------------------------------------------------------------------------------------
@dataclass
class Loaded:
    """What a results folder holds, normalised. ``records`` are the suite's finished runs (skipped included);
    ``pending`` are pseudo-records (outcome "pending") for the suite's runs that have no record yet."""

    folder: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    outside: int = 0  # records of runs.jsonl that are not part of suite.toml (an earlier session's settings)
    suite: dict[str, Any] = field(default_factory=dict)
    suite_obj: Any = None
    notes: list[str] = field(default_factory=list)  # problems met while reading, shown in provenance
    env: dict[str, Any] = field(default_factory=dict)
    table1: pd.DataFrame | None = None


def load_folder(folder: Path) -> Loaded:
    """Read a results folder; raises ReachError when it is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReachError(f"{folder} is not a folder; pass a results folder, e.g. results/long-range-<timestamp>")
    has_runs, has_table1 = (folder / "runs.jsonl").exists(), (folder / "table1.csv").exists()
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
        from harness.suites import Suite

        try:
            out.suite_obj = Suite.from_dict(out.suite, where=f"{suite_path}")
        except ReachError as exc:
            out.notes.append(f"suite.toml could not be resolved ({exc}); planned runs are unknown, the report "
                             f"covers every stored run")
    if out.suite_obj is not None and has_runs:  # also when no run finished yet: all of them are pending
        specs = out.suite_obj.specs()
        planned = {s.id for s in specs}
        done = {r["id"] for r in records}
        out.outside = sum(1 for r in records if r["id"] not in planned)
        records = [r for r in records if r["id"] in planned]
        out.pending = [{"id": s.id, "spec": s.to_dict(), "label": s.label, "outcome": "pending",
                        "stop_reason": "not finished: the sweep was interrupted before this run ended", "error": None}
                       for s in specs if s.id not in done]
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


# -- learner structure (theory beside measurement) ------------------------------------------------------------
class Structure:
    """Family, Table 1 row, path length and receptive field of each learner label, from the learner classes.

    Path length and receptive field are asked of a learner built as the run built it (same width, depth,
    options and max_len = the run's sequence length), since some depend on max_len (the TCN's levels)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        from harness.registry import learner_class

        self.family: dict[str, str] = {}
        self.theory: dict[str, dict[str, str]] = {}
        self.options: dict[str, dict[str, Any]] = {}
        self.specs: dict[str, dict[str, Any]] = {}
        self._cache: dict[tuple, Any] = {}
        for r in records:
            spec = r.get("spec", {})
            label = r.get("label") or spec.get("learner")
            if label in self.family or not spec.get("learner"):
                continue
            try:
                cls = learner_class(spec["learner"])
                self.family[label] = cls.family
                self.theory[label] = dict(cls.theory)
                self.options[label] = cls.resolve_options(dict(spec.get("learner_options") or {}))
            except (ReachError, ValueError, TypeError):
                self.family[label] = "other"
            self.specs[label] = spec

    def _learner(self, label: str, spec: dict[str, Any], d_model: int | None, seq_len: int) -> Any:
        from harness.registry import learner_class

        key = (label, d_model, spec.get("n_layers"), seq_len)
        if key not in self._cache:
            try:
                cls = learner_class(spec["learner"])
                self._cache[key] = cls(d_model=int(d_model or spec.get("d_model") or 64),
                                       n_layers=int(spec.get("n_layers") or 2), max_len=int(seq_len),
                                       **dict(spec.get("learner_options") or {}))
            except (ReachError, ValueError, TypeError, RuntimeError):
                self._cache[key] = None
        return self._cache[key]

    def at(self, record: dict[str, Any], span: int) -> tuple[int | None, int | None, bool]:
        """(max path length across ``span`` + 1 positions, receptive field, whether the field is bounded) for the
        learner of ``record``; (None, None, False) when the learner cannot be built here."""
        spec = record.get("spec", {})
        label = record.get("label") or spec.get("learner")
        seq_len = record.get("seq_len") or (span + 1)
        learner = self._learner(label, spec, record.get("d_model"), max(int(seq_len), span + 1))
        if learner is None:
            return None, None, False
        try:
            n = span + 1
            rf = learner.receptive_field(n)
            return int(learner.max_path_length(n)), (None if rf is None else int(rf)), rf is not None
        except (NotImplementedError, ValueError, TypeError):
            return None, None, False


# -- formatting -------------------------------------------------------------------------------------------------
def fmt_num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def fmt_int(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{int(value):,}"


def fmt_rate(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value / 1000:,.1f}k" if value >= 1000 else f"{value:,.0f}"


def fmt_seconds(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    value = float(value)
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.2f} h"


def join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def reach_text(row: Any) -> str:
    """'64 (2/2)': the reach with the seeds that solved it, or 'none'."""
    if row.reach:
        return f"{row.reach} ({row.solved_at_reach}/{row.seeds})"
    return "none"


def span_of(records: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
    """(task, distance) -> the longest dependency a run of it must bridge: the largest per-position distance in
    its test breakdown (copy: delay + symbols), else the distance parameter."""
    spans: dict[tuple[str, int], int] = {}
    for r in records:
        spec = r.get("spec", {})
        key = (spec.get("task"), int(spec.get("distance", 0)))
        by = [int(k) for k in (r.get("test_by_distance") or {})]
        spans[key] = max([spans.get(key, key[1]), *by])
    return spans


# -- findings -------------------------------------------------------------------------------------------------
def finding(text: str, href: str, link: str, kind: str = "fact", details: list[str] | None = None) -> dict[str, Any]:
    return {"text": text, "href": href, "link": link, "kind": kind, "details": details or []}


def task_reach_sentences(summary: pd.DataFrame, order: list[str]) -> list[dict[str, Any]]:
    out = []
    for task, g in summary.groupby("task", sort=True):
        g = g.set_index("label").loc[[lab for lab in order if lab in set(g.label)]].reset_index()
        tested = [int(d) for d in g.max_tested if d]
        span = f"tested up to distance {max(tested)}" if tested else "nothing trained yet"
        ranked = g[g.reach > 0].sort_values("reach", ascending=False, kind="stable")
        parts = []
        for i, row in enumerate(ranked.itertuples()):
            parts.append(f"{row.label} {'reaches ' if i == 0 else ''}{row.reach} ({row.solved_at_reach}/{row.seeds}"
                         f"{' seeds' if i == 0 else ''})")
        none = [row.label for row in g.itertuples() if row.reach == 0 and row.max_tested > 0]
        text = f"{task} ({span}): " + ("; ".join(parts) if parts else "no learner solved any tested distance")
        if parts and none:
            text += f"; no tested distance solved by {join_names(none)}"
        out.append(finding(text + ".", "#reach", "reach table"))
    return out


def theory_sentences(cells: pd.DataFrame, frame: pd.DataFrame, records: list[dict[str, Any]],
                     structure: Structure) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Findings that set the results beside Table 1's path-length argument (shorter maximum paths between
    positions make long-range dependencies easier to learn), and receptive-field caps that bind in this sweep.

    A contradiction: learner A fails a distance (no majority of seeds, although its receptive field covers the
    dependency) that a learner B with a longer maximum path length solves. Reported once per learner, at its
    shortest such distance, grouped by (task, distance)."""
    spans = span_of(records)
    rep: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in records:
        spec = r.get("spec", {})
        rep.setdefault((spec.get("task"), r.get("label") or spec.get("learner"), int(spec.get("distance", 0))), r)
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    consistent_tasks, tasks_with = [], []
    cap_values: dict[str, int] = {}
    cap_binds: dict[str, list[str]] = defaultdict(list)
    cap_broken: dict[str, list[str]] = defaultdict(list)
    for task, tc in cells.groupby("task", sort=True):
        found = False
        for label, lc in tc.groupby("label", sort=True):
            for row in lc[(lc.ran > 0) & ~lc.majority].sort_values("distance").itertuples():
                r = rep.get((task, label, row.distance))
                span = spans.get((task, row.distance), row.distance)
                path_a, rf_a, bounded_a = structure.at(r, span) if r is not None else (None, None, False)
                if path_a is None or (bounded_a and rf_a is not None and rf_a < span + 1):
                    continue  # unknown, or cannot see that far by construction (a cap, reported below)
                winners = {}
                for other in tc[(tc.distance == row.distance) & tc.majority].itertuples():
                    ro = rep.get((task, other.label, row.distance))
                    path_b = structure.at(ro, span)[0] if ro is not None else None
                    if path_b is not None and path_b > path_a:
                        winners[other.label] = path_b
                if winners:
                    g = groups.setdefault((task, int(row.distance)), {"losers": [], "winners": {}})
                    acc = "" if math.isnan(row.acc_mean) else f", accuracy {row.acc_mean:.2f}"
                    g["losers"].append(f"{label} (path {path_a}; {row.solved}/{row.seeds} seeds{acc})")
                    g["winners"].update(winners)
                    found = True
                    break  # its shortest failing distance says it; longer ones repeat it
        if (tc.ran > 0).any():
            (tasks_with if found else consistent_tasks).append(task)
        for label, lc in tc.groupby("label", sort=True):
            for row in lc[lc.ran > 0].itertuples():
                r = rep.get((task, label, row.distance))
                span = spans.get((task, row.distance), row.distance)
                _, rf, bounded = structure.at(r, span) if r is not None else (None, None, False)
                if not bounded or rf is None:
                    continue
                cap_values[label] = min(rf, cap_values.get(label, rf))
                if rf < span + 1:
                    cap_binds[label].append(f"{task} {row.distance}")
                    if row.majority:
                        cap_broken[label].append(f"{task} at distance {row.distance} (a dependency of {span} steps)")
    findings = []
    if groups:
        details = []
        for (task, distance), g in sorted(groups.items()):
            wins = join_names([f"{lab} (path {p})" for lab, p in sorted(g["winners"].items(), key=lambda kv: kv[1])])
            verb = "fails" if len(g["losers"]) == 1 else "fail"
            details.append(f"{task} at distance {distance}: {join_names(g['losers'])} {verb}, while {wins} "
                           f"solve{'s' if len(g['winners']) == 1 else ''} it.")
        if consistent_tasks:
            details.append(f"No such case on {join_names(consistent_tasks)}.")
        findings.append(finding(
            f"Results against the path-length argument on {len(tasks_with)} of "
            f"{len(tasks_with) + len(consistent_tasks)} task(s): learners with a shorter maximum path (Table 1; "
            f"path lengths below are at the failing distance) failed distances that learners with longer paths "
            f"solved. Within these budgets, path length is not what decides reach there.", "#fig-accuracy",
            "figure: accuracy vs distance", "contradiction", details))
    elif consistent_tasks:
        findings.append(finding(
            f"No result contradicts the path-length ordering on {join_names(consistent_tasks)}: no learner failed a "
            f"distance that a learner with a longer maximum path length solved.", "#fig-accuracy",
            "figure: accuracy vs distance"))
    summary = analysis.reach_summary(frame)
    caps = []
    for label, rf in sorted(cap_values.items()):
        if not cap_binds[label]:
            continue  # the field covers every dependency tested here: no cap in this sweep
        reach = {row.task: row.reach for row in summary[summary.label == label].itertuples()}
        reached = ", ".join(f"{t} {v or 'none'}" for t, v in sorted(reach.items()))
        text = (f"{label} sees {rf} positions (receptive field): by construction it cannot bridge a dependency "
                f"longer than {rf - 1} steps, whatever the budget; this caps it on {join_names(cap_binds[label][:4])}"
                f"{' and more' if len(cap_binds[label]) > 4 else ''} (measured reach: {reached}).")
        kind = "fact"
        if cap_broken[label]:
            text += (" Yet it solved " + join_names(cap_broken[label]) + ", beyond its receptive field: check the "
                     "learner's receptive_field() or the task's distances.")
            kind = "contradiction"
        caps.append(finding(text, "#structure", "structure per learner", kind))
    return findings, caps


def position_kind(options: dict[str, Any]) -> str | None:
    pos = options.get("positions")
    if pos in ABSOLUTE_POSITIONS:
        return "absolute"
    if pos in RELATIVE_POSITIONS:
        return "relative"
    return None


def transformer_limit(summary: pd.DataFrame, structure: Structure) -> dict[str, Any] | None:
    """Which limit applies to the transformer: compare absolute- and relative-position transformers task by task.

    Both have path length O(1) (every position attends to every earlier one in one layer), so a difference in
    reach between them is the cost of finding the position, not of path length."""
    kinds = {}
    for label, opts in structure.options.items():
        spec = structure.specs.get(label, {})
        if spec.get("learner") == "transformer":
            kind = position_kind(opts)
            if kind:
                kinds[label] = kind
    if "absolute" not in kinds.values() or "relative" not in kinds.values():
        return None
    details, rel_better, abs_better, same = [], [], [], []
    for task, g in summary.groupby("task", sort=True):
        g = g[g.label.isin(kinds) & (g.max_tested > 0)]
        absolute = g[g.label.map(kinds) == "absolute"].sort_values("reach", ascending=False)
        relative = g[g.label.map(kinds) == "relative"].sort_values("reach", ascending=False)
        if absolute.empty or relative.empty:
            continue
        a, r = absolute.iloc[0], relative.iloc[0]
        pair = f"{r.label} {reach_text(r)} against {a.label} {reach_text(a)}"
        if r.reach > a.reach:
            rel_better.append(task)
            details.append(f"{task}: {pair}: relative positions reach further.")
        elif a.reach > r.reach:
            abs_better.append(task)
            details.append(f"{task}: {pair}: absolute positions reach further.")
        else:
            same.append(task)
            top = max(int(a.max_tested), int(r.max_tested))
            if a.reach and a.reach >= top:
                where = "both solve every tested distance, so neither limit shows within this ladder"
            elif not a.reach:
                where = ("neither solves any tested distance; with path length 1 for both and no difference between "
                         "the encodings, what limits them here is the training budget, not the architecture")
            else:
                where = ("both stop at the same rung; neither path length (1 for both) nor the kind of position "
                         "encoding separates them there")
            details.append(f"{task}: {pair}: {where}.")
    if not details:
        return None
    n = len(rel_better) + len(abs_better) + len(same)
    rel_labels = join_names(sorted({lab for lab, k in kinds.items() if k == "relative"}))
    if rel_better and not abs_better:
        text = (f"Which limit applies to the transformer: finding the position. With relative positions "
                f"({rel_labels}) it reaches further on {len(rel_better)} of {n} task(s) ({join_names(rel_better)}); "
                f"both variants have maximum path length 1, so there the absolute-position transformer is limited "
                f"by locating the position, not by path length.")
        kind = "fact"
    elif abs_better and not rel_better:
        text = (f"Which limit applies to the transformer: not finding the position. The absolute-position "
                f"transformer reaches further than the relative one on {len(abs_better)} of {n} task(s) "
                f"({join_names(abs_better)}); with path length 1 for both, the gap is in the encoding's fit to the "
                f"task, not path length.")
        kind = "contradiction"
    elif not rel_better and not abs_better:
        text = (f"Which limit applies to the transformer: neither path length nor position finding separates the "
                f"absolute and relative transformers; they reach the same distance on all {n} task(s).")
        kind = "fact"
    else:
        text = (f"Which limit applies to the transformer: it depends on the task. Relative positions reach further "
                f"on {join_names(rel_better)}, absolute ones on {join_names(abs_better)}; path length is 1 for both.")
        kind = "contradiction"
    return finding(text, "#reach", "reach table", kind, details)


def headline_findings(loaded: Loaded, frame: pd.DataFrame, structure: Structure, order: list[str],
                      probe_readings: list[str]) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = []
    counts = analysis.outcome_counts(frame)
    real = len(loaded.records)
    if loaded.pending:
        findings.append(finding(
            f"This sweep is incomplete: {real} of {len(frame)} planned runs have a result (skipped ones included), "
            f"{len(loaded.pending)} have none yet. Pending runs count as not solved; re-run the sweep's command "
            f"to finish it, then `python run.py report` again.", "#provenance", "sessions", "warning"))
    if not len(frame):
        findings.append(finding("No training runs in this folder (probes only).", "#probes", "probes"))
    else:
        summary = analysis.reach_summary(frame)
        cells = analysis.distance_cells(frame)
        findings.extend(task_reach_sentences(summary, order))
        limit = transformer_limit(summary, structure)
        if limit:
            findings.append(limit)
        contradictions, caps = theory_sentences(cells, frame, loaded.records, structure)
        findings.extend(contradictions)
        findings.extend(caps)
        trained = frame[frame.outcome.isin(["unsolved", "diverged"])].copy()
        if len(trained):
            acc = pd.to_numeric(trained.test_accuracy, errors="coerce")
            base = pd.to_numeric(trained.baseline_accuracy, errors="coerce")
            at_base = int(((acc - base) <= AT_BASELINE).sum())
            findings.append(finding(
                f"Of {len(trained)} runs that did not solve their distance, {at_base} ended at most {AT_BASELINE} "
                f"above the memoryless baseline, or below it (nothing usable learned about the dependency), and "
                f"{len(trained) - at_base} clearly above it (partial learning: a larger budget might solve them).",
                "#fig-accuracy", "figure: accuracy vs distance"))
        speed = frame[frame.outcome.isin(["solved", "unsolved"])].copy()
        speed["tokens_per_s"] = pd.to_numeric(speed.tokens_per_s, errors="coerce")
        med = speed.dropna(subset=["tokens_per_s"]).groupby("label").tokens_per_s.median().sort_values(ascending=False)
        if len(med) >= 2:
            threads = sorted({int(t) for t in pd.to_numeric(frame.threads, errors="coerce").dropna()})
            per_run = f" with {threads[0]} thread(s) per run" if len(threads) == 1 else ""
            findings.append(finding(
                f"Training throughput (median over its runs, tokens/s): fastest {med.index[0]} "
                f"{fmt_rate(med.iloc[0])}, slowest {med.index[-1]} {fmt_rate(med.iloc[-1])} "
                f"({med.iloc[0] / med.iloc[-1]:.1f}x apart){per_run}; timed inside the sweep with workers running "
                f"side by side, so compare ratios, not absolute numbers.", "#runs", "all runs"))
        parts = ", ".join(f"{counts[k]} {k}" for k in analysis.OUTCOMES if counts[k])
        findings.append(finding(f"{len(frame)} runs: {parts}.", "#runs", "all runs",
                                "warning" if counts["error"] or counts["diverged"] else "fact"))
    for text in probe_readings:
        findings.append(finding(text, "#probes", "Table 1, measured"))
    return findings


# -- tables -----------------------------------------------------------------------------------------------------
def opt_int(value: Any) -> int | None:
    """An int, or None for None/NaN/pd.NA (nullable integer columns)."""
    return None if value is None or pd.isna(value) else int(value)


def reach_grid(summary: pd.DataFrame, order: list[str], structure: Structure) -> dict[str, Any]:
    """The reach table: rows grouped by family (in ``order``), one cell per task."""
    tasks = sorted(summary.task.unique())
    rows = []
    family = None
    for label in order:
        fam = structure.family.get(label, "other")
        if fam != family:
            rows.append({"group": fam})
            family = fam
        cells = []
        for task in tasks:
            m = summary[(summary.task == task) & (summary.label == label)]
            if m.empty:
                cells.append({"text": "", "notes": [], "title": "not in this sweep", "shade": None, "cls": "empty"})
                continue
            row = m.iloc[0]
            pruned, failed = opt_int(row.pruned_from), opt_int(row.first_failed)
            notes = []
            if row.max_tested:
                notes.append(f"tested ≤ {row.max_tested}")
            if pruned is not None:
                notes.append(f"✂ pruned from {pruned}")
            if row.pending:
                notes.append(f"{row.pending} pending")
            top = max(int(row.max_planned), 2)
            shade = math.log2(max(row.reach, 1)) / math.log2(top) if row.reach else 0.0
            title = (f"{label} on {task}: reach {row.reach or 'none'}; {row.seeds} seed(s); largest distance tested "
                     f"{row.max_tested}; first failed distance {failed if failed is not None else '—'}")
            cells.append({"text": reach_text(row), "notes": notes, "title": title,
                          "shade": round(0.10 + 0.42 * shade, 3) if row.reach else None,
                          "cls": "solved" if row.reach else "none"})
        rows.append({"group": None, "label": label, "family": fam, "cells": cells})
    return {"tasks": tasks, "rows": rows}


def distance_grids(cells: pd.DataFrame, order: list[str]) -> list[dict[str, Any]]:
    grids = []
    for task, tc in cells.groupby("task", sort=True):
        distances = sorted(tc.distance.unique())
        rows = []
        for label in order:
            lc = tc[tc.label == label]
            if lc.empty:
                continue
            row_cells = []
            for d in distances:
                c = lc[lc.distance == d]
                if c.empty:
                    row_cells.append({"text": "", "cls": "empty", "title": "not planned"})
                    continue
                c = c.iloc[0]
                if c.status == "skipped":
                    text, title = "not run", "not run: failed at a shorter distance in every seed (ladder pruned)"
                elif c.status == "pending":
                    text, title = "pending", "not finished: the sweep was interrupted"
                else:
                    acc = "" if math.isnan(c.acc_mean) else f" · {c.acc_mean:.2f}"
                    text = f"{c.solved}/{c.seeds}{acc}"
                    extra = []
                    for k in ("diverged", "error", "skipped", "pending"):
                        if c[k]:
                            extra.append(f"{c[k]} {k}")
                    title = (f"{c.solved} of {c.seeds} seeds solved; mean test accuracy "
                             f"{fmt_num(c.acc_mean)} (min {fmt_num(c.acc_min)}, max {fmt_num(c.acc_max)})"
                             + (f"; {', '.join(extra)}" if extra else ""))
                row_cells.append({"text": text, "cls": c.status, "title": title})
            rows.append({"label": label, "cells": row_cells})
        grids.append({"task": task, "distances": [int(d) for d in distances], "rows": rows})
    return grids


def runs_rows(frame: pd.DataFrame, order: list[str]) -> list[dict[str, Any]]:
    rank = {lab: i for i, lab in enumerate(order)}
    f = frame.assign(_rank=frame.label.map(rank).fillna(len(rank)))
    f = f.sort_values(["task", "_rank", "distance", "seed"], kind="stable")
    rows = []
    for row in f.itertuples():
        if isinstance(row.error, str) and row.error:
            note = row.error
        elif row.stop_reason in ROUTINE_STOPS or not isinstance(row.stop_reason, str):
            note = ""  # the outcome column says it already
        elif row.outcome == "skipped":
            note = "not run: " + row.stop_reason.replace(" in every seed", "")
        else:
            note = row.stop_reason
        rows.append({
            "id": row.id, "task": row.task, "label": row.label, "distance": int(row.distance), "seed": int(row.seed),
            "outcome": row.outcome, "acc": fmt_num(_num(row.test_accuracy)),
            "base": fmt_num(_num(row.baseline_accuracy)), "exact": fmt_num(_num(row.test_exact_match)),
            "steps": fmt_int(_num(row.steps_run)), "to_solve": fmt_int(_num(row.steps_to_solve)),
            "time": fmt_seconds(_num(row.wall_seconds)), "params": fmt_int(_num(row.params)),
            "rate": fmt_rate(_num(row.tokens_per_s)), "note": str(note or "")[:400],
        })
    return rows


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _distinct(values: list[Any]) -> str:
    seen = []
    for v in values:
        if v is not None and v not in seen:
            seen.append(v)
    if not seen:
        return "—"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen) and len(seen) > 2:
        return f"{min(seen):g}–{max(seen):g}"
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in seen)


def budgets_table(records: list[dict[str, Any]], order: list[str], structure: Structure) -> list[dict[str, Any]]:
    """Per label: what every fairness rule is about: width, depth, parameters, optimiser and budget."""
    by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("outcome") in ("skipped", "pending"):
            continue
        by_label[r.get("label") or r["spec"]["learner"]].append(r)
    rows = []
    for label in order:
        rs = by_label.get(label)
        if not rs:
            continue
        specs = [r["spec"] for r in rs]
        params = [r["params"] for r in rs if r.get("params")]
        lparams = [r["learner_params"] for r in rs if r.get("learner_params")]
        opts = structure.options.get(label) or (specs[0].get("learner_options") or {})
        theory = structure.theory.get(label, {})
        rows.append({
            "label": label, "family": structure.family.get(label, "other"),
            "d_model": _distinct([r.get("d_model") or r["spec"].get("d_model") for r in rs]),
            "n_layers": _distinct([s.get("n_layers") for s in specs]),
            "learner_params": (f"{min(lparams):,}–{max(lparams):,}" if lparams and min(lparams) != max(lparams)
                               else f"{lparams[0]:,}" if lparams else "—"),
            "params": f"{min(params):,}–{max(params):,}" if params and min(params) != max(params)
            else f"{params[0]:,}" if params else "—",
            "lr": _distinct([s.get("lr") for s in specs]), "steps": _distinct([s.get("steps") for s in specs]),
            "batch": _distinct([s.get("batch_size") for s in specs]),
            "schedule": _distinct([s.get("schedule") for s in specs]),
            # dropout 0 is every learner's default and says nothing about reach
            "options": ", ".join(f"{k}={v}" for k, v in sorted(opts.items()) if not (k == "dropout" and not v))
            or "—",
            "theory_path": theory.get("max_path_length", "—"), "theory_cost": theory.get("complexity", "—"),
            "theory_seq": theory.get("sequential_ops", "—"),
        })
    return rows


def common_settings(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    specs = [r["spec"] for r in records if r.get("outcome") not in ("skipped", "pending")]
    if not specs:
        return []
    keys = [("steps", "step budget"), ("max_seconds", "time budget (s)"), ("batch_size", "batch (sequences/step)"),
            ("schedule", "learning-rate schedule"), ("warmup_steps", "warm-up steps"),
            ("weight_decay", "weight decay (AdamW)"), ("grad_clip", "gradient clipping (norm)"),
            ("eval_every", "validation every (steps)"), ("val_batches", "validation batches"),
            ("test_batches", "test batches"), ("solve_threshold", "solved threshold"),
            ("param_budget", "parameter budget"), ("device", "device")]
    return [(name, _distinct([s.get(k) for s in specs])) for k, name in keys]


def test_sizes(records: list[dict[str, Any]]) -> tuple[int, int] | None:
    totals = [sum(v[1] for v in (r.get("test_by_distance") or {}).values()) for r in records
              if r.get("test_by_distance")]
    return (min(totals), max(totals)) if totals else None


def threats(loaded: Loaded, frame: pd.DataFrame, structure: Structure, budgets: list[dict[str, Any]]) -> list[str]:
    out = []
    steps = sorted({r["spec"].get("steps") for r in loaded.records if r.get("spec")} - {None})
    trained = frame[frame.outcome.isin(["unsolved", "diverged"])]
    partial = 0
    if len(trained):
        gap = pd.to_numeric(trained.test_accuracy, errors="coerce") - pd.to_numeric(trained.baseline_accuracy,
                                                                                 errors="coerce")
        partial = int((gap > AT_BASELINE).sum())
    out.append(f"Budgets shape the numbers: every run had a fixed step budget ({_distinct(steps)} steps). Reach is "
               f"what a learner solves within it, not what it could ever solve; {partial} unsolved run(s) ended above "
               f"the memoryless baseline and might be solved with more steps.")
    out.append("Learning rates were set once per learner (see Definitions), not tuned per task or distance; a "
               "learner whose rate suits short distances is disadvantaged at long ones.")
    labels_with_pos = [b["label"] for b in budgets if "positions=" in b["options"]]
    if labels_with_pos:
        out.append("Position encodings shape the attention learners' numbers: absolute positions must be located "
                   "by matching content to position, relative ones give the offset directly; the same architecture "
                   "can look limited or not depending on this choice (" + join_names(labels_with_pos) + ").")
    spans = span_of(loaded.records)
    bounded: dict[str, int] = {}
    lparams: dict[str, int] = {}
    for r in loaded.records:
        if r.get("outcome") not in ("solved", "unsolved", "diverged"):
            continue
        label, spec = r.get("label") or r["spec"]["learner"], r["spec"]
        if r.get("learner_params"):
            lparams[label] = max(lparams.get(label, 0), int(r["learner_params"]))
        span = spans.get((spec["task"], int(spec["distance"])), int(spec["distance"]))
        _, rf, is_bounded = structure.at(r, span)
        if is_bounded and rf is not None and rf < span + 1:
            bounded[label] = rf
    if bounded:
        out.append("Fixed-depth convolutions and windowed attention cannot exceed their receptive field, whatever they "
                   "learn: " + join_names([f"{lab} ({rf} positions)" for lab, rf in sorted(bounded.items())])
                   + " met dependencies longer than that here, so their reach is capped by construction; a deeper "
                     "stack (or a wider window) would move the cap.")
    widths = sorted({b["d_model"] for b in budgets})
    if lparams:
        lo, hi = min(lparams, key=lparams.get), max(lparams, key=lparams.get)
        out.append(f"Equal width is not equal capacity: d_model {join_names(widths)}, but the learners' own parameters "
                   f"range from {lparams[lo]:,} ({lo}) to {lparams[hi]:,} ({hi}); the table in Definitions lists "
                   f"them all.")
    seeds = sorted({int(s) for s in frame.seed.unique()}) if len(frame) else []
    if seeds:
        out.append(f"Seeds: {len(seeds)} ({', '.join(map(str, seeds))}); a majority needs {len(seeds) // 2 + 1} of "
                   f"them. With few seeds one unlucky initialisation moves a reach by a rung.")
    out.append("Reach is the largest tested distance: the true limit lies between it and the next rung of the ladder. "
               "Pruning assumes difficulty grows with distance: after a learner failed a distance in every seed, "
               "longer distances were not run (marked ✂ / 'not run').")
    sizes = test_sizes(loaded.records)
    if sizes:
        out.append(f"Each test accuracy rests on {sizes[0]:,}–{sizes[1]:,} scored positions: at the 0.99 threshold "
                   f"that is a binomial standard error of about {math.sqrt(0.99 * 0.01 / max(sizes[0], 1)):.4f} at "
                   f"the smallest size, so runs just below or above the threshold are within noise.")
    out.append("The tasks are synthetic: solving them is necessary for long-range modelling, not sufficient; and "
               "tokens/s were timed inside the sweep, with workers sharing the machine, so compare ratios within this "
               "report, not absolute numbers across machines.")
    if loaded.pending:
        out.append(f"The sweep is incomplete ({len(loaded.pending)} runs pending): reaches may rise when it finishes.")
    return out


# -- provenance -------------------------------------------------------------------------------------------------
def _parse_time(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None


def sessions_rows(env: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for s in env.get("sessions", []) or []:
        start, end = _parse_time(s.get("start")), _parse_time(s.get("end"))
        seconds = s.get("seconds")
        if seconds is None and start and end:
            seconds = (end - start).total_seconds()
        rows.append({"command": str(s.get("command", "")), "start": str(s.get("start") or "—"),
                     "end": str(s.get("end")) if s.get("end") else "— (no end: interrupted or still running)",
                     "duration": fmt_seconds(seconds), "executor": str(s.get("executor", "—")),
                     "workers": str(s.get("workers", "—")), "resumed": str(s.get("resumed_runs", 0)),
                     "interrupted": not s.get("end")})
    return rows


def provenance(loaded: Loaded, frame: pd.DataFrame) -> dict[str, Any]:
    env = loaded.env
    commit = env.get("git_commit")
    items = [
        ("suite", str(loaded.suite.get("name") or env.get("suite") or "—")),
        ("results folder", str(loaded.folder.resolve())),
        ("git commit", (str(commit) + ("  (uncommitted changes in the working tree)" if str(commit).endswith("+dirty")
                                       else "")) if commit else "— (not a git checkout)"),
        ("platform", str(env.get("platform", "—"))),
        ("CPU", str(env.get("cpu", "—"))),
        ("cores", str(env.get("cores", "—"))),
        ("torch threads per run", str(env.get("torch_threads_per_run", "—"))),
        ("GPU", str(env.get("cuda") or "none")),
        ("report generated", now_iso()),
    ]
    versions = [(str(k), str(v)) for k, v in (env.get("versions") or {}).items()]
    problems = []
    for r in loaded.records:
        if r.get("outcome") in ("error", "diverged"):
            spec = r.get("spec", {})
            problems.append({"outcome": r["outcome"], "run": f"{r.get('label')} on {spec.get('task')} at distance "
                                                             f"{spec.get('distance')}, seed {spec.get('seed')}",
                             "id": r["id"], "message": str(r.get("error") or r.get("stop_reason") or ""),
                             "traceback": str(r.get("traceback") or "")[-3000:]})
    sessions = sessions_rows(env)
    total = sum(_num(s.get("seconds")) or 0.0 for s in env.get("sessions", []) or [])
    return {"facts": items, "versions": versions, "sessions": sessions, "problems": problems,
            "counts": analysis.outcome_counts(frame) if len(frame) else {k: 0 for k in analysis.OUTCOMES},
            "total_seconds": fmt_seconds(total) if total else "—", "notes": list(loaded.notes),
            "outside": loaded.outside}


# -- probes -----------------------------------------------------------------------------------------------------
def probes_section(loaded: Loaded, fig_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """(section context, probe figure dicts, Table-1 reading sentences)."""
    section: dict[str, Any] = {"present": loaded.table1 is not None, "table1": None, "note": None,
                               "paper": PAPER_TABLE1}
    if loaded.table1 is None:
        section["note"] = ("No probes ran for this folder (no table1.csv). Suites with a [probes] table measure "
                           "gradient path length, FLOPs and throughput and fill this section.")
        return section, [], []
    # one column per learner, one row per measure: table1.csv has dozens of measures and a handful of learners;
    # measures that are empty for every learner (e.g. CUDA timings without a GPU) are left out
    t1 = loaded.table1.dropna(axis=1, how="all")
    key = "learner" if "learner" in t1.columns else t1.columns[0]
    section["table1"] = {"columns": ["measure"] + [str(v) for v in t1[key]],
                         "rows": [[str(col)] + [_cell(v) for v in t1[col]] for col in t1.columns if col != key]}
    from harness.probes import TABLE1_COMPACT_COLUMNS, table1_compact

    try:
        section["compact"] = {"columns": list(TABLE1_COMPACT_COLUMNS), "rows": table1_compact(t1)}
    except (AttributeError, KeyError):  # a table1.csv from elsewhere without the probes' columns
        section["compact"] = None
    figures: list[dict[str, Any]] = []
    readings: list[str] = []
    try:
        from harness import probe_plots
    except ImportError as exc:
        section["note"] = f"Probe figures could not be drawn: harness.probe_plots is not importable ({exc})."
        return section, figures, readings
    figures = list(probe_plots.probe_figures(loaded.folder, fig_dir))
    readings = [str(s) for s in probe_plots.table1_reading(t1)]
    return section, figures, readings


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


# -- figures ----------------------------------------------------------------------------------------------------
def task_baselines(records: list[dict[str, Any]]) -> dict[tuple[str, int], float]:
    """(task, distance) -> memoryless baseline accuracy, from the records or, for runs without one (skipped,
    pending, errors), from the task itself, so the baseline is drawn across every distance of the ladder."""
    from harness.spec import make_task

    out: dict[tuple[str, int], float] = {}
    todo = []
    for r in records:
        spec = r.get("spec", {})
        key = (spec.get("task"), int(spec.get("distance", 0)))
        if r.get("baseline_accuracy") is not None:
            out.setdefault(key, float(r["baseline_accuracy"]))
        else:
            todo.append((key, spec))
    for key, spec in todo:
        if key in out:
            continue
        try:
            task = make_task(spec["task"], key[1], dict(spec.get("task_params") or {}), spec.get("seq_len"))
            out[key] = float(task.baseline()["accuracy"])
        except (ReachError, ValueError, TypeError, KeyError, NotImplementedError):
            pass  # a task that cannot be rebuilt here: its baseline is drawn where runs recorded it
    return out


def embed(path_png: Path) -> str:
    return base64.b64encode(Path(path_png).read_bytes()).decode("ascii")


def make_figures(loaded: Loaded, frame: pd.DataFrame, cells: pd.DataFrame, style: Any,
                 fig_dir: Path) -> dict[str, dict[str, Any]]:
    """key -> {key, title, b64, caption, png, svg} for every figure that has data; a note instead where not."""
    from harness import plots

    out: dict[str, dict[str, Any]] = {}
    records = loaded.records
    threshold = float(frame.solve_threshold.dropna().iloc[0]) if len(frame) and frame.solve_threshold.notna().any() \
        else 0.99

    def keep(key: str, fig: Any, title: str, caption: str) -> None:
        if fig is None:
            return
        png, svg = plots.save_figure(fig, fig_dir, key)
        out[key] = {"key": key, "title": title, "b64": embed(png), "caption": caption, "png": png.name,
                    "svg": svg.name}

    not_run = []
    for task, tc in cells.groupby("task", sort=True):
        pruned = [f"{row.label} from {row.distance}" for row in tc[tc.status == "skipped"].groupby("label").first()
                  .reset_index().itertuples()]
        if pruned:
            not_run.append(f"{task}: {', '.join(pruned)}")
    errors = int((frame.outcome == "error").sum())
    cap = ("Test accuracy (token-level, on the held-out test stream) against the dependency distance, log2 axis. "
           "Line: mean over seeds; band: lowest to highest seed; dots: single seeds. Grey dashed: the task's "
           "memoryless baseline; green: the solved threshold. Runs that were not run are absent, not zeros")
    cap += (" — not run (failed at a shorter distance in every seed): " + "; ".join(not_run) + "." if not_run else ".")
    if errors:
        cap += f" {errors} run(s) ended in an error and have no accuracy (see Provenance)."
    keep("accuracy_vs_distance", plots.accuracy_figure(frame, style, task_baselines(records + loaded.pending),
                                                       threshold), "Accuracy against distance", cap)
    keep("steps_to_solve", plots.steps_figure(frame, style), "Steps to solve against distance",
         "Training steps until the validation accuracy first reached the threshold (evaluated every eval_every "
         "steps), per seed (dots) and mean over solved seeds (line). Crosses: runs that trained but did not solve, "
         "drawn at their step budget. Not-run distances are absent.")
    picks = {}
    for task, tc in cells.groupby("task", sort=True):
        d = analysis.pick_curve_distance(tc)
        if d is not None:
            picks[task] = d
    keep("learning_curves", plots.curves_figure(records, picks, style, threshold), "Learning curves",
         "Validation accuracy against training step for one run per learner (its lowest seed) at the distance of each "
         "task where the learners disagree most: " + ", ".join(f"{t} {d}" for t, d in sorted(picks.items()))
         + ". Curves end early where the run reached the threshold (early stopping on validation).")
    mixed = analysis.mixed_distance_tasks(records)
    table = analysis.position_breakdown(records, mixed)
    panels = []
    for task in mixed:
        t = table[table.task == task]
        n_bins = t.groupby("distance")["bin"].nunique()
        # a run distance whose positions all fall into one log2 bin shows a single point: prefer the others
        ran = sorted(int(d) for d, n in n_bins.items() if n > 1) or sorted(int(d) for d in n_bins.index)[-1:]
        if ran:
            panels.extend((task, d) for d in sorted({ran[0], ran[len(ran) // 2], ran[-1]}))
    baselines = {}
    for task in mixed:
        b = pd.to_numeric(frame[frame.task == task].baseline_accuracy, errors="coerce").dropna()
        if len(b):
            baselines[task] = float(b.mean())
    keep("accuracy_by_position_distance", plots.breakdown_figure(table, panels, style, baselines),
         "Accuracy by per-position distance",
         "For tasks whose scored positions mix dependency distances (" + join_names(mixed) + "): test accuracy of "
         "the positions whose own distance falls in each log2 bin [2^i, 2^(i+1)), pooled over seeds, for the "
         "shortest, a middle and the longest distance parameter that ran (one row per task). A flat line means "
         "distance within a sequence does not matter; a falling one shows where the learner loses the dependency.")
    return out


# -- assembly ---------------------------------------------------------------------------------------------------
def environment_for_templates() -> tuple[jinja2.Environment, jinja2.Environment]:
    html = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    md = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False,
                            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    md.filters["md"] = lambda s: str(s).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
    return html, md


def build_report(folder: Path) -> Path:
    """Write ``folder/report.html``, ``folder/summary.md`` and ``folder/figures/*.{png,svg}`` from stored
    results; return the report's path. Raises ReachError when ``folder`` is not a results folder."""
    from harness.plots import Style

    folder = Path(folder)
    loaded = load_folder(folder)
    all_records = loaded.records + loaded.pending
    frame = analysis.runs_frame(all_records) if all_records else analysis.runs_frame([])
    if "threads" not in frame:
        frame["threads"] = [r.get("threads") for r in all_records]
    structure = Structure(all_records)
    style = Style({lab: structure.family.get(lab, "other") for lab in frame.label.unique()})
    order = style.ordered(frame.label.unique())
    fig_dir = folder / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)

    cells = analysis.distance_cells(frame) if len(frame) else analysis.distance_cells(frame.iloc[0:0])
    summary = analysis.reach_summary(frame) if len(frame) else None
    figures = make_figures(loaded, frame, cells, style, fig_dir) if len(frame) else {}
    probes, probe_figs, readings = probes_section(loaded, fig_dir)
    number = 0
    for key in RUN_FIGURES:
        if key not in figures:  # a figure an earlier build drew but this one has no data for: not left behind
            for suffix in (".png", ".svg"):
                (fig_dir / f"{key}{suffix}").unlink(missing_ok=True)
    for key in RUN_FIGURES:
        if key in figures:
            number += 1
            figures[key]["number"] = number
    probe_figures = []
    for f in probe_figs:
        number += 1
        png = Path(f["path_png"])
        probe_figures.append({"key": str(f["key"]), "title": str(f["title"]), "caption": str(f.get("caption", "")),
                              "b64": embed(png), "png": png.name, "svg": Path(f["path_svg"]).name, "number": number})
    findings = headline_findings(loaded, frame, structure, order, readings)
    budgets = budgets_table(all_records, order, structure)
    suite_name = str(loaded.suite.get("name") or loaded.env.get("suite") or folder.name)
    builtin = False
    if loaded.suite.get("name"):
        from harness.builtin_suites import BUILTIN_SUITES

        builtin = loaded.suite["name"] in BUILTIN_SUITES
    counts = analysis.outcome_counts(frame) if len(frame) else {k: 0 for k in analysis.OUTCOMES}
    sessions = loaded.env.get("sessions") or []
    interrupted = bool(loaded.pending) or bool(sessions and not sessions[-1].get("end"))
    from matplotlib.colors import to_hex

    context = {
        "colors": {lab: to_hex(style.colour(lab)) for lab in order},
        "suite_name": suite_name, "description": str(loaded.suite.get("description", "")),
        "generated": now_iso(), "sections": SECTIONS, "findings": findings, "counts": counts,
        "n_runs": len(frame), "interrupted": interrupted, "pending": len(loaded.pending),
        "reach": reach_grid(summary, order, structure) if summary is not None else None,
        "grids": distance_grids(cells, order) if len(frame) else [],
        "figures": figures, "probes": probes, "probe_figures": probe_figures,
        "mixed_tasks": analysis.mixed_distance_tasks(loaded.records),
        "runs": runs_rows(frame, order) if len(frame) else [],
        "budgets": budgets, "settings": common_settings(all_records),
        "seeds": sorted({int(s) for s in frame.seed.unique()}) if len(frame) else [],
        "prune": loaded.suite.get("prune"), "builtin": builtin,
        "threshold": float(frame.solve_threshold.dropna().iloc[0]) if len(frame) and frame.solve_threshold.notna()
        .any() else 0.99,
        "threats": threats(loaded, frame, structure, budgets) if len(frame) else [
            "No training runs: only the probes' measurements are reported; they depend on the machine and threads "
            "recorded in Provenance."],
        "provenance": provenance(loaded, frame),
        "suite_toml": (folder / "suite.toml").read_text(encoding="utf-8") if (folder / "suite.toml").exists() else "",
    }
    html_env, md_env = environment_for_templates()
    html = html_env.get_template("report.html.j2").render(**context)
    if len(html.encode()) > MAX_HTML_BYTES:
        raise ReachError(f"report for {folder} would be {len(html.encode()) / 1e6:.1f} MB (limit "
                         f"{MAX_HTML_BYTES / 1e6:.0f} MB); this is a bug in the report's figure sizes, please file it")
    target = folder / "report.html"
    write_atomic(target, html)
    write_atomic(folder / "summary.md", md_env.get_template("summary.md.j2").render(**context))
    return target

