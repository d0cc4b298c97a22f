"""The report of a results folder: ``report.html`` (one self-contained file), ``summary.md`` and figures.

``build_report(folder)`` reads stored results only (``runs.jsonl``, ``suite.toml``, ``env.json``, and the probes'
``table1.csv`` / ``probes/`` when present) and writes

- ``report.html``: the question, the verdict and one figure of the whole study on the first screen; findings
  grouped by theme; the reach and capacity tables; figures (inline base64 PNG); per-rung grids; every run in a
  sortable, filterable table; Table 1 beside its measurement; definitions, threats to validity and provenance.
  No script, stylesheet or image is fetched from anywhere: the file opens offline. Jinja2 autoescaping escapes
  every string that comes from a config or a result.
- ``summary.md``: the same order — verdict, reach and capacity tables, grouped findings — for CI logs and PRs.
- ``figures/<key>.png`` and ``figures/<key>.svg``: each figure on its own, for papers.

Python computes facts; the templates (templates/*.j2) write every sentence. It works for a finished sweep, an
interrupted one (planned runs without a record are "pending" and count as not solved), and a probes-only folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup
from matplotlib.colors import to_hex

from harness.config.builtin import BUILTIN_SUITES
from harness.errors import ReachError
from harness.report import analysis, extrapolation, literature, probe_findings
from harness.report.calibration import calibrate
from harness.report.compute import RungCompute, compute_table, rung_compute
from harness.report.evidence import LadderEvidence, ladder_evidence
from harness.report.figures import RUN_FIGURES, embed, make_figures, probes_section
from harness.report.findings import THEMES, Finding, capacity, path_and_fields, positions, sweep, task_reach, threats
from harness.report.load import Loaded, load_folder
from harness.report.plots import Style
from harness.report.structure import Structure
from harness.report.tables import budgets_table, common_settings, provenance, reach_grid, rung_grids, runs_rows
from harness.report.verdict import verdict
from harness.run.escalation import boundaries
from harness.store.folder import write_atomic
from harness.store.provenance import now_iso
from harness.store.table import runs_frame
from harness.text import fmt, fmt_int, fmt_rate, join_names

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_HTML_BYTES = 8_000_000  # the file must stay small enough to mail or attach; figures are the bulk
SECTIONS = [("answer", "The answer"), ("findings", "Findings"), ("reach", "Reach and capacity"),
            ("figures", "Figures"), ("extrapolation", "Train short, test long"), ("grids", "Per distance and load"),
            ("probes", "Table 1, measured"), ("runs", "All runs"), ("definitions", "Definitions and fairness"),
            ("threats", "Threats to validity"), ("provenance", "Provenance")]


def environments() -> tuple[jinja2.Environment, jinja2.Environment]:
    """(HTML, Markdown) template environments, with the filters the templates use."""
    def env(autoescape: bool) -> jinja2.Environment:
        e = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=autoescape,
                               undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        e.filters["names"] = lambda xs: join_names([str(x) for x in xs])
        e.filters["num"] = lambda v, spec=".3f": fmt(v, spec)
        e.filters["rate"] = fmt_rate
        e.filters["int_"] = fmt_int
        e.globals["inf"] = math.inf
        return e

    html, md = env(True), env(False)
    md.filters["md"] = lambda s: str(s).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
    return html, md


def sentence(env: jinja2.Environment, template: str, key: str, facts: dict[str, Any]) -> str:
    """The sentence that macro ``key`` of ``template`` writes from ``facts``, whitespace folded."""
    if isinstance(facts, dict):  # attribute access only: a fact named like a dict method (keys, items) stays a fact
        facts = SimpleNamespace(**facts)
    text = getattr(env.get_template(template).module, key.replace("-", "_"))(facts)
    folded = " ".join(str(text).split())
    return Markup(folded) if isinstance(text, Markup) else folded


def themed(env: jinja2.Environment, findings: list[Finding]) -> list[dict[str, Any]]:
    """Findings grouped by theme (in THEMES order), each with its sentence and folded details."""
    out = []
    for theme, title in THEMES.items():
        items = [{"kind": f.kind, "text": sentence(env, "findings.j2", f.key, f.facts),
                  "details": [sentence(env, "findings.j2", d["key"], d["facts"]) for d in f.details]}
                 for f in findings if f.theme == theme]
        if items:  # against-theory first within a theme: they must stay prominent
            items.sort(key=lambda i: i["kind"] != "against")
            out.append({"id": theme, "title": title, "items": items})
    return out


def _first(frame: pd.DataFrame, column: str) -> Any:
    values = frame[column].dropna() if column in frame else []
    return values.iloc[0] if len(values) else None


def context(loaded: Loaded, fig_dir: Path) -> dict[str, Any]:
    """Everything the templates show, computed from the folder (figures are drawn into ``fig_dir``)."""
    all_records = loaded.records + loaded.pending
    frame = runs_frame(all_records, loaded.plan)
    frame["threads"] = frame.id.map({r.id: r.threads for r in all_records})
    structure = Structure(all_records)
    style = Style({lab: structure.family.get(lab, "other") for lab in frame.label.unique()})
    order = style.ordered(frame.label.unique())
    paths = {lab: structure.theory.get(lab, {}).get("max_path_length", "") for lab in order}
    cells = analysis.rung_cells(frame)
    summary = analysis.reach_summary(frame)
    by_cell = {(row.task, row.label, row.rung): row.id for row in frame.itertuples()}
    rec_of = {r.id: r for r in all_records}
    records = {key: rec_of[i] for key, i in by_cell.items()}
    evidence = boundary_evidence(loaded, structure)
    v = verdict(frame, summary, structure, order, evidence)
    compute = sweep_compute(loaded)
    findings = task_reach(summary, order) if len(frame) else []
    if len(frame):
        findings += path_and_fields(cells, records, structure, summary) + positions(summary, structure)
        findings += capacity(summary, frame, v, order, structure)
    findings += probe_findings.table1_findings(loaded.table1)
    findings += sweep(frame, len(loaded.pending), len(loaded.records))
    figures = make_figures(loaded, frame, summary, cells, style, order, paths, fig_dir, compute) if len(frame) else {}
    for key in RUN_FIGURES:  # a figure an earlier build drew but this one has no data for: not left behind
        if key not in figures:
            for suffix in (".png", ".svg"):
                (fig_dir / f"{key}{suffix}").unlink(missing_ok=True)
    probes, probe_figs = probes_section(loaded, fig_dir)
    budgets = budgets_table(all_records, order, structure)
    sessions = loaded.env.get("sessions") or []
    lengths = extrapolation.section(loaded, frame, structure, order) if len(frame) else None
    distance = int(frame[frame.task == v.load_ladder].distance.iloc[0]) if v.load_ladder else None
    lit = literature.section(loaded)  # the literature suite's claims beside its measurements; None for other suites
    return {
        "literature": lit, "sections": SECTIONS[:1] + [("literature", "The literature, reproduced")] * bool(lit)
        + SECTIONS[1:],
        "frame": frame, "order": order, "verdict": v, "load_distance": distance, "findings": findings,
        "figures": figures, "probe_figures": probe_figs, "probes": probes, "budgets": budgets,
        "colors": {lab: to_hex(style.colour(lab)) for lab in order},
        "suite_name": str(loaded.suite.get("name") or loaded.env.get("suite") or loaded.folder.name),
        "description": str(loaded.suite.get("description", "")), "generated": now_iso(),
        "extrapolation": lengths,
        "counts": analysis.outcome_counts(frame.drop_duplicates("id")), "n_runs": int(frame.id.nunique()),
        "interrupted": bool(loaded.pending) or bool(sessions and not sessions[-1].get("end")),
        "pending": len(loaded.pending),
        "compute": compute_table(compute, order),
        "reach": reach_grid(summary, order, structure, "distance", evidence),
        "capacity": reach_grid(summary, order, structure, "load", evidence),
        "grids": rung_grids(cells, order),
        "calibration": calibrate(loaded.records, loaded.suite_obj.calibrate)
        if loaded.suite_obj is not None and loaded.suite_obj.calibrate else [],
        "runs": runs_rows(frame, order), "settings": common_settings(all_records),
        "seeds": sorted({int(s) for s in frame.seed.unique()}),
        "prune": loaded.suite.get("prune"),
        "builtin": bool(loaded.suite.get("name")) and loaded.suite["name"] in BUILTIN_SUITES,
        "threshold": float(_first(frame, "solve_threshold") or 0.99),
        "budget": {"steps": ", ".join(str(int(s)) for s in sorted(frame.steps.dropna().unique())) or "—",
                   "batch": ", ".join(sorted({str(r.spec.get("batch_size")) for r in all_records})) or "—",
                   "d_model": ", ".join(sorted({str(r.spec.get("d_model")) for r in all_records})) or "—",
                   "layers": ", ".join(sorted({str(r.spec.get("n_layers")) for r in all_records})) or "—",
                   "seeds": int(frame.seed.nunique()),
                   "factor": (loaded.suite_obj.escalate or {}).get("factor") if loaded.suite_obj else None,
                   "escalate_seeds": (loaded.suite_obj.escalate or {}).get("seeds") if loaded.suite_obj else None,
                   "calibrated": bool(loaded.suite.get("name")) and loaded.suite["name"] in BUILTIN_SUITES},
        "threat_items": threats(loaded.records, frame, structure, budgets, len(loaded.pending)),
        "provenance": provenance(loaded, frame.drop_duplicates("id")),
        "suite_toml": (loaded.folder / "suite.toml").read_text(encoding="utf-8")
        if (loaded.folder / "suite.toml").exists() else "",
        "tasks": sorted(frame.task.unique()), "labels": order,
    }


def sweep_compute(loaded: Loaded) -> list[RungCompute]:
    """Every rung's training compute (harness.report.compute), escalated runs included; empty without a plan."""
    if loaded.plan is None:
        return []
    escalate = loaded.suite_obj.escalate if loaded.suite_obj is not None else None
    calibrated = loaded.suite_obj.calibrate if loaded.suite_obj is not None else []
    by_id = {r.id: r for r in loaded.records + loaded.escalated}
    return rung_compute(loaded.plan, by_id, boundaries(loaded.plan, by_id, escalate, calibrated))


def boundary_evidence(loaded: Loaded, structure: Structure) -> dict[tuple[str, str], LadderEvidence]:
    """(task configuration, learner label) -> the evidence at that ladder's first failed rung, escalation included
    (harness.report.evidence); empty without a plan."""
    if loaded.plan is None:
        return {}
    escalate = loaded.suite_obj.escalate if loaded.suite_obj is not None else None
    calibrated = loaded.suite_obj.calibrate if loaded.suite_obj is not None else []
    by_id = {r.id: r for r in loaded.records + loaded.escalated}
    first: dict[tuple[str, str], int] = {}
    for c in loaded.plan:
        first[(c.task, c.learner)] = min(first.get((c.task, c.learner), c.rung), c.rung)
    return {(b.task, b.learner): ladder_evidence(b, structure, first[(b.task, b.learner)])
            for b in boundaries(loaded.plan, by_id, escalate, calibrated)}


def render(ctx: dict[str, Any], env: jinja2.Environment, markdown: bool = False) -> dict[str, Any]:
    """The sentences of ``ctx`` for one environment: verdict, grouped findings, threats, captions."""
    v = ctx["verdict"]
    verdict_lines = []
    if v.families:
        verdict_lines.append(sentence(env, "verdict.j2", "reading", {"ladder": v.ladder, "load_ladder": v.load_ladder,
                                                                    "learners": v.learners,
                                                                    "distance": ctx["load_distance"]}))
        for fv in v.families:
            verdict_lines.append(sentence(env, "verdict.j2", "family_md" if markdown else "family", fv))
        verdict_lines.append(sentence(env, "verdict.j2", "budget", ctx["budget"]))
    elif ctx["n_runs"]:
        verdict_lines.append(sentence(env, "verdict.j2", "no_ladder", {}))
    captions = {key: sentence(env, "captions.j2", key, f["facts"]) for key, f in ctx["figures"].items()}
    captions.update({f["key"]: sentence(env, "captions.j2", f["key"], f["facts"]) for f in ctx["probe_figures"]})
    ext = ctx["extrapolation"]
    ext_lines = {} if ext is None else {
        "protocol": sentence(env, "extrapolation.j2", "protocol", ext["protocol"]),
        "published": [{"task": p["task"], "families": [sentence(env, "extrapolation.j2", "family", fam)
                                                       for fam in p["families"]],
                       "settings": sentence(env, "extrapolation.j2", "settings", p["settings"])}
                      for p in ext["published"]]}
    return {"verdict_lines": verdict_lines, "themes": themed(env, ctx["findings"]), "captions": captions,
            "threats": [sentence(env, "threats.j2", key, facts) for key, facts in ctx["threat_items"]],
            "extrapolation_text": ext_lines}


def build_report(folder: Path) -> Path:
    """Write ``folder/report.html``, ``folder/summary.md`` and ``folder/figures/*.{png,svg}`` from stored
    results; return the report's path. Raises ReachError when ``folder`` is not a results folder."""
    folder = Path(folder)
    loaded = load_folder(folder)
    fig_dir = folder / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    ctx = context(loaded, fig_dir)
    number = 0
    for key in RUN_FIGURES:
        if key in ctx["figures"]:
            number += 1
            ctx["figures"][key]["number"] = number
    for f in ctx["probe_figures"]:
        number += 1
        png = Path(f["path_png"])
        f.update(b64=embed(png), png=png.name, svg=Path(f["path_svg"]).name, number=number)
    html_env, md_env = environments()
    html = html_env.get_template("report.html.j2").render(**ctx, **render(ctx, html_env))
    if len(html.encode()) > MAX_HTML_BYTES:
        raise ReachError(f"report for {folder} would be {len(html.encode()) / 1e6:.1f} MB (limit "
                         f"{MAX_HTML_BYTES / 1e6:.0f} MB); this is a bug in the report's figure sizes, please file it")
    target = folder / "report.html"
    write_atomic(target, html)
    write_atomic(folder / "summary.md", md_env.get_template("summary.md.j2").render(**ctx, **render(ctx, md_env,
                                                                                                     markdown=True)))
    return target
