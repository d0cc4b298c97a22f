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

from pathlib import Path

import jinja2
from matplotlib.colors import to_hex

from harness.config.builtin import BUILTIN_SUITES
from harness.errors import ReachError
from harness.report import analysis
from harness.report.figures import RUN_FIGURES, embed, make_figures, probes_section
from harness.report.findings import headline_findings, threats
from harness.report.load import load_folder
from harness.report.plots import Style
from harness.report.structure import Structure
from harness.report.tables import budgets_table, common_settings, distance_grids, provenance, reach_grid, runs_rows
from harness.store.folder import write_atomic
from harness.store.provenance import now_iso
from harness.store.table import runs_frame

TEMPLATES = Path(__file__).resolve().parent / "templates"


MAX_HTML_BYTES = 8_000_000  # the file must stay small enough to mail or attach; figures are the bulk


SECTIONS = [("findings", "Headline findings"), ("reach", "Reach"), ("accuracy", "Accuracy vs distance"),
            ("steps", "Steps to solve"), ("curves", "Learning curves"), ("breakdown", "Per-position distance"),
            ("probes", "Probes and Table 1"), ("runs", "All runs"), ("definitions", "Definitions and fairness"),
            ("threats", "Threats to validity"), ("provenance", "Provenance")]


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
    folder = Path(folder)
    loaded = load_folder(folder)
    all_records = loaded.records + loaded.pending
    frame = runs_frame(all_records)
    frame["threads"] = [r.threads for r in all_records]
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
    builtin = bool(loaded.suite.get("name")) and loaded.suite["name"] in BUILTIN_SUITES
    counts = analysis.outcome_counts(frame)
    sessions = loaded.env.get("sessions") or []
    interrupted = bool(loaded.pending) or bool(sessions and not sessions[-1].get("end"))

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
