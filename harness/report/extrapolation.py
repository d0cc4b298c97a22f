"""Train short, test long, in the report: per-length accuracy with the seed spread, the largest ratio of test to
training length that each learner keeps, and the comparison with Gu & Dao 2023's Table 11 (harness.run.extrapolate
measures; templates/extrapolation.j2 writes the sentences from the facts computed here).

- **ratio**: test length ÷ training length, the factor f of Task.scaled (every length of the task × f).
- **keeps level a up to f**: at every tested ratio up to f a majority of seeds (more than half) score ≥ a, as reach is
  defined along distances. A ratio where the learner is *not defined* (learned positions past their table) is not
  kept; a seed without a score counts against the majority.
- **agreement with Table 11**, ratio by ratio: the mean over seeds and the published accuracy fall into the same band —
  kept (≥ 0.9), at chance (≤ twice chance, 2/vocab) or between.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.config.spec import make_task
from harness.report.load import Loaded
from harness.report.structure import Structure
from harness.store.record import TRAINED

KEEP_LEVELS = (0.99, 0.5)
KEPT_BAND = 0.9  # a published or measured accuracy at or above this "keeps" the task
# Gu & Dao 2023, Appendix Table 11: induction heads, 2 layers, vocabulary 16, trained at length 256; accuracy at
# 2x, 4x and 16x the training length (attention was tested to 2^14, Mamba to 2^20)
TABLE11 = {"MHA-Abs": {2: 0.586, 4: 0.266, 16: 0.098}, "MHA-RoPE": {2: 0.836, 4: 0.313, 16: 0.086},
           "MHA-xPos": {2: 0.996, 4: 0.676, 16: 0.070}, "H3": {2: 0.809, 4: 0.395, 16: 0.148},
           "Mamba": {2: 1.0, 4: 1.0, 16: 1.0}}
TABLE11_SETTINGS = {"train_length": 256, "vocab": 16, "layers": 2, "top": 2 ** 20 // 256,
                    "attention_top": 2 ** 14 // 256}
TABLE11_RATIOS = (2, 4, 16)
# reach's learners that stand for a row of Table 11: (learner, positions option or None) -> row
COUNTERPARTS = {("transformer", "sinusoidal"): "MHA-Abs", ("transformer", "learned"): "MHA-Abs",
                ("transformer", "rotary"): "MHA-RoPE", ("mamba", None): "Mamba"}
TABLE11_FAMILY = {"MHA-Abs": "attention", "MHA-RoPE": "attention", "MHA-xPos": "attention", "H3": "linear-recurrent",
                  "Mamba": "linear-recurrent"}
NOT_IMPLEMENTED = ("MHA-xPos", "H3")  # rows of Table 11 with no learner in reach
FAMILIES = ("recurrent", "linear-recurrent", "convolutional", "attention")
COLUMNS = ["id", "task", "task_name", "label", "seed", "factor", "seq_len", "distance", "accuracy", "not_defined"]


def length_frame(loaded: Loaded, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, task configuration, ratio) of every trained run that was scored at longer lengths.

    ``frame`` is the report's runs frame (harness.store.table.runs_frame), whose ``task`` is the configuration's label.
    ``accuracy`` is NaN where the learner is not defined at that length (``not_defined`` gives the reason)."""
    records = {r.id: r for r in loaded.records}
    rows = []
    for row in frame.drop_duplicates(["id", "task"]).itertuples():
        r = records.get(row.id)
        if r is None or r.outcome not in TRAINED or not r.extrapolation:
            continue
        for e in r.extrapolation:
            rows.append({"id": r.id, "task": row.task, "task_name": r.task, "label": row.label, "seed": r.seed,
                         "factor": int(e["factor"]), "seq_len": int(e["seq_len"]), "distance": int(e["distance"]),
                         "accuracy": float("nan") if e.get("accuracy") is None else float(e["accuracy"]),
                         "not_defined": e.get("not_defined")})
    return pd.DataFrame(rows, columns=COLUMNS)


def level_column(level: float) -> str:
    """The column of length_cells counting the seeds that score at least ``level`` (0.99: "at_least_99")."""
    return f"at_least_{round(level * 100)}"


def length_cells(lengths: pd.DataFrame) -> pd.DataFrame:
    """Per (task, label, factor): seeds (of the configuration), scored (seeds with an accuracy), not_defined (seeds
    where it is not), mean, min, max, at_least_<100·a> (seeds scoring >= a for each KEEP_LEVELS a), the first
    reason."""
    out = []
    for (task, label), g in lengths.groupby(["task", "label"], sort=True):
        seeds = int(g.seed.nunique())
        for factor, gf in g.groupby("factor", sort=True):
            acc = gf.accuracy.dropna()
            reasons = gf.not_defined.dropna()
            row = {"task": task, "label": label, "factor": int(factor), "seq_len": int(gf.seq_len.iloc[0]),
                   "seeds": seeds, "scored": len(acc), "not_defined": len(reasons),
                   "reason": str(reasons.iloc[0]) if len(reasons) else None,
                   "mean": float(acc.mean()) if len(acc) else float("nan"),
                   "min": float(acc.min()) if len(acc) else float("nan"),
                   "max": float(acc.max()) if len(acc) else float("nan")}
            for level in KEEP_LEVELS:
                row[level_column(level)] = int((acc >= level).sum())
            out.append(row)
    return pd.DataFrame(out)


def kept(cells: pd.DataFrame, level: float) -> dict[tuple[str, str], int]:
    """(task, label) -> the largest ratio f such that at every tested ratio up to f a majority of seeds score >=
    ``level``; 0 when not even the training length (1x) is kept."""
    out = {}
    for (task, label), g in cells.groupby(["task", "label"], sort=True):
        best = 0
        for row in g.sort_values("factor").itertuples():
            if getattr(row, level_column(level)) * 2 <= row.seeds:
                break
            best = int(row.factor)
        out[(task, label)] = best
    return out


def _band(value: float, chance: float) -> str:
    return "kept" if value >= KEPT_BAND else "chance" if value <= 2 * chance else "between"


def _at(cells: pd.DataFrame, label: str, factor: int) -> float | None:
    """The mean over seeds of one learner at one ratio in ``cells`` of one task (None: no score there)."""
    hit = cells[(cells.label == label) & (cells.factor == factor)]
    return None if hit.empty or pd.isna(hit["mean"].iloc[0]) else float(hit["mean"].iloc[0])


def _ratio(f: int) -> str:
    return f"{f}×"


def tables(cells: pd.DataFrame, order: list[str]) -> list[dict[str, Any]]:
    """One table per task configuration: a row per learner, a cell per ratio ("0.98 (0.95–1.00)", or "not defined"),
    then the largest ratio kept at each of KEEP_LEVELS."""
    keeps = {level: kept(cells, level) for level in KEEP_LEVELS}
    out = []
    for task, g in cells.groupby("task", sort=True):
        factors = sorted(int(f) for f in g.factor.unique())
        lengths = {int(r.factor): int(r.seq_len) for r in g.drop_duplicates("factor").itertuples()}
        rows = []
        for label in [lab for lab in order if lab in set(g.label)]:
            gl = g[g.label == label].set_index("factor")
            row_cells = []
            for f in factors:
                if f not in gl.index:
                    row_cells.append({"text": "—", "cls": "", "title": "no score"})
                    continue
                c = gl.loc[f]
                if c.scored == 0:
                    row_cells.append({"text": "not defined", "cls": "skipped", "title": c.reason or ""})
                    continue
                spread = f" ({c['min']:.2f}–{c['max']:.2f})" if c.scored > 1 else ""
                nd = f"; not defined for {c.not_defined} seed(s)" if c.not_defined else ""
                row_cells.append({"text": f"{c['mean']:.2f}{spread}", "cls": "solved" if c["mean"] >= 0.99 else "",
                                  "title": f"mean over {c.scored} seed(s), lowest–highest{nd}"})
            rows.append({"label": label, "cells": row_cells,
                         "kept": [_ratio(keeps[level][(task, label)]) if keeps[level][(task, label)] else "none"
                                  for level in KEEP_LEVELS],
                         "top": [keeps[level][(task, label)] == factors[-1] for level in KEEP_LEVELS]})
        out.append({"task": task, "factors": [_ratio(f) for f in factors], "lengths": [lengths[f] for f in factors],
                    "levels": list(KEEP_LEVELS), "rows": rows})
    return out


def published(cells: pd.DataFrame, lengths: pd.DataFrame, loaded: Loaded, structure: Structure,
              order: list[str]) -> list[dict[str, Any]]:
    """Facts for the sentences beside Table 11, one set per induction configuration: per family, each learner that
    stands for a row of the table (its means at 2x, 4x and 16x, the published ones, the ratios whose bands agree)
    and the others (their means and how far they keep 0.99 and 0.5), the rows with no learner here; and the
    settings that differ from Gu & Dao's."""
    records = {r.id: r for r in loaded.records}
    keeps = {level: kept(cells, level) for level in KEEP_LEVELS}
    out = []
    for task in sorted(lengths[lengths.task_name == "induction"].task.unique()):
        runs = [records[i] for i in lengths[lengths.task == task].id.unique()]
        spec = runs[0].spec
        task_obj = make_task(spec["task"], spec["distance"], dict(spec.get("task_params") or {}), spec.get("seq_len"))
        chance = 1.0 / task_obj.vocab
        g = cells[cells.task == task]
        ratios = [f for f in TABLE11_RATIOS if f in set(g.factor)]
        families = []
        for family in FAMILIES:
            labels = [lab for lab in order if lab in set(g.label) and structure.family.get(lab) == family]
            rows_here = [row for row, fam in TABLE11_FAMILY.items() if fam == family]
            if not labels:
                continue
            pairs, others = [], []
            for lab in labels:
                learner = structure.specs.get(lab, {}).get("learner")
                row = COUNTERPARTS.get((learner, structure.options.get(lab, {}).get("positions")))
                ours = {f: _at(g, lab, f) for f in ratios}
                facts = {"label": lab, "ours": [(f, ours[f]) for f in ratios],
                         "kept99": keeps[0.99].get((task, lab), 0), "kept50": keeps[0.5].get((task, lab), 0),
                         "not_defined": [int(r.factor) for r in g[(g.label == lab) & (g.scored == 0)].itertuples()]}
                if row is None:
                    others.append(facts)
                    continue
                agree = [f for f in ratios if ours[f] is not None
                         and _band(ours[f], chance) == _band(TABLE11[row][f], chance)]
                pairs.append({**facts, "row": row, "theirs": [(f, TABLE11[row][f]) for f in ratios], "agree": agree,
                              "disagree": [f for f in ratios if f not in agree and ours[f] is not None],
                              "defined": any(ours[f] is not None for f in ratios)})
            matched = {p["row"] for p in pairs}
            families.append({"family": family, "pairs": pairs, "others": others,
                             "absent": [row for row in rows_here if row not in matched and row not in NOT_IMPLEMENTED],
                             "missing": [row for row in rows_here if row in NOT_IMPLEMENTED]})
        settings = {"train_length": task_obj.seq_len, "top": int(g.factor.max()), "vocab": task_obj.vocab,
                    "gaps": (task_obj.gaps.start, task_obj.gaps.stop - 1), "prefix": task_obj.prefix,
                    "d_model": sorted({int(r.d_model or r.spec.get("d_model") or 0) for r in runs}),
                    "layers": sorted({int(r.spec.get("n_layers") or 0) for r in runs}),
                    "steps": sorted({int(r.spec.get("steps") or 0) for r in runs}),
                    "batch": sorted({int(r.spec.get("batch_size") or 0) for r in runs}),
                    "seeds": int(g.seeds.max()), "theirs": TABLE11_SETTINGS, "chance": chance, "band": KEPT_BAND,
                    "ratios": ratios}
        out.append({"task": task, "families": families, "settings": settings})
    return out


def section(loaded: Loaded, frame: pd.DataFrame, structure: Structure, order: list[str]) -> dict[str, Any] | None:
    """The report's "Train short, test long" section, or None when no run was scored at longer lengths."""
    lengths = length_frame(loaded, frame)
    if lengths.empty:
        return None
    cells = length_cells(lengths)
    train = {t: int(g[g.factor == 1].seq_len.iloc[0]) if (g.factor == 1).any() else None
             for t, g in lengths.groupby("task", sort=True)}
    return {"lengths": lengths, "cells": cells, "tables": tables(cells, order),
            "published": published(cells, lengths, loaded, structure, order),
            "protocol": {"tasks": sorted(train.items()), "factors": sorted(int(f) for f in lengths.factor.unique()),
                         "levels": list(KEEP_LEVELS),
                         "not_defined": sorted({lab for lab in lengths[lengths.not_defined.notna()].label})}}
