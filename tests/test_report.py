"""The report: built from stored results only, self-contained, escaped, and robust to interrupted and
probes-only folders. Records are real (a few tiny runs of harness.run.train) or derived from real ones."""

import copy
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

import harness.report.figures
from harness.config.suites import Suite
from harness.errors import ReachError
from harness.report.analysis import reach_summary
from harness.report.html import MAX_HTML_BYTES, SECTIONS, build_report
from harness.report.load import folder_plan
from harness.run.train import train
from harness.run.worker import execute
from harness.store.folder import read_runs
from harness.store.provenance import environment
from harness.store.record import RunRecord
from harness.store.table import runs_frame

ROOT = Path(__file__).resolve().parent.parent
TINY = {"d_model": 8, "n_layers": 1, "steps": 10, "eval_every": 5, "batch_size": 4, "val_batches": 1,
        "test_batches": 1, "warmup_steps": 0}
SUITE = {
    "name": "report-test",
    "description": "hand-built folder for the report tests",
    "seeds": [0, 1],
    "prune": True,
    "defaults": TINY,
    "learners": [{"name": "tcn"}, {"name": "gru"}, {"name": "transformer", "options": {"positions": "relative"}},
                 {"name": "transformer", "options": {"positions": "sinusoidal"}}],
    "tasks": [{"name": "lag", "distances": [2, 4, 8]},
              {"name": "recall", "distances": [8], "params": {"n_pairs": 2, "vocab": 8}}],
}
# (task, label) -> outcome per (distance, seed); "-" means skipped (pruned), "E" error, "D" diverged
PLAN = {
    ("lag", "tcn"): {2: "SS", 4: "SS", 8: "SS"},
    ("lag", "gru"): {2: "SS", 4: "UU", 8: "--"},
    ("lag", "transformer[positions=relative]"): {2: "SS", 4: "SU", 8: "UU"},
    ("lag", "transformer[positions=sinusoidal]"): {2: "UD", 4: "--", 8: "--"},
    ("recall", "tcn"): {8: "SE"},
    ("recall", "gru"): {8: "UU"},
    ("recall", "transformer[positions=relative]"): {8: "UU"},
    ("recall", "transformer[positions=sinusoidal]"): {8: "UU"},
}


@pytest.fixture(scope="module")
def real_records():
    """One real tiny run per (task, label) at its shortest distance, seed 0."""
    suite = Suite.from_dict(SUITE, where="test suite")
    out = {}
    for spec in suite.specs():
        key = (spec.task, spec.label)
        if key not in out and spec.seed == 0:
            out[key] = train(spec)
    return out


def derive(template, spec, outcome):
    """A record for ``spec`` with the shape of a real one and the wanted outcome."""
    if outcome == "-":
        ran = [d for d, o in PLAN[(spec.task, spec.label)].items() if d < spec.distance and "-" not in o]
        return RunRecord.skipped(spec, failed_at=max(ran)).to_json()
    if outcome == "E":
        return RunRecord.failure(spec, RuntimeError("worker lost <b>twice</b>"), 0.5).to_json()
    r = copy.deepcopy(template.to_json())
    r["id"], r["spec"], r["label"] = spec.id, spec.to_dict(), spec.label
    if outcome == "S":
        r.update(outcome="solved", test_accuracy=1.0, test_exact_match=1.0, steps_to_solve=5,
                 stop_reason="validation accuracy reached the threshold")
        r["test_by_distance"] = {k: [v[1], v[1]] for k, v in r["test_by_distance"].items()}
        r["curve"] = r["curve"][:1]
        r["curve"][0]["val_accuracy"] = 1.0
    elif outcome == "U":
        r.update(outcome="unsolved", steps_to_solve=None, stop_reason="step budget")
    elif outcome == "D":
        r.update(outcome="diverged", steps_to_solve=None, stop_reason="non-finite loss at step 7")
    return r


def make_folder(path, real_records, *, drop=0, interrupted=False):
    """A results folder like a sweep writes: runs.jsonl, suite.toml, env.json."""
    suite = Suite.from_dict(SUITE, where="test suite")
    path.mkdir(parents=True, exist_ok=True)
    records = []
    for spec in suite.specs():
        outcomes = PLAN[(spec.task, spec.label)][spec.distance]
        records.append(derive(real_records[(spec.task, spec.label)], spec, outcomes[spec.seed]))
    if drop:
        records = records[:-drop]
    (path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (path / "suite.toml").write_text(suite.to_toml())
    session = {"command": "python run.py --suite report-test", "start": "2026-01-02T03:04:05+00:00",
               "end": None if interrupted else "2026-01-02T03:05:05+00:00", "executor": "in-process", "workers": 1,
               "resumed_runs": 0}
    if not interrupted:
        session["seconds"] = 60.0
    env = {"suite": suite.name, **environment(threads=1), "sessions": [session]}
    (path / "env.json").write_text(json.dumps(env))
    return path


@pytest.fixture(scope="module")
def built(real_records, tmp_path_factory):
    folder = make_folder(tmp_path_factory.mktemp("report") / "results", real_records)
    path = build_report(folder)
    return folder, path, path.read_text(encoding="utf-8")


def assert_self_contained(html):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I), "external reference"
    # one small inline script (the runs table's filter and sort), which fetches nothing
    assert re.findall(r"<script\b[^>]*>", html, re.I) == ["<script>"]
    script = html[html.index("<script>"):html.index("</script>")]
    assert not re.search(r"fetch\(|XMLHttpRequest|import\(|\.src\s*=|WebSocket", script)
    assert not re.search(r"<link\b", html, re.I)
    assert not re.search(r"@import|url\(", html, re.I)
    assert len(html.encode()) < MAX_HTML_BYTES


def test_report_has_every_section_and_embeds_its_figures(built):
    folder, path, html = built
    assert path == folder / "report.html"
    for section, _ in SECTIONS:
        assert f'<section id="{section}">' in html
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 4  # accuracy, steps, learning curves, per-position breakdown (recall mixes distances)
    for key in ("accuracy_vs_distance", "steps_to_solve", "learning_curves", "accuracy_by_position_distance"):
        png, svg = folder / "figures" / f"{key}.png", folder / "figures" / f"{key}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in svg.read_text()[:2000]
    assert_self_contained(html)


def test_report_states_the_numbers(built):
    _, _, html = built
    assert "lag (distances tested up to 8): tcn reaches 8; " in html
    assert "8 (2/2)" in html and "2 (2/2)" in html  # reach cells: tcn and gru on lag
    assert "✂ pruned from 8" in html  # gru failed 4 in both seeds
    assert "seeds split at 4" in html  # the relative transformer solved lag 4 in one seed of two
    assert "not run" in html
    # transformer limit: relative solves lag 2, sinusoidal solves nothing; both have path length 1
    assert "Finding the position limits the absolute-position transformer" in html
    # the sinusoidal transformer (path 1) fails lag 2 which gru (path 3) solves: said, not hidden
    assert "against theory" in html
    assert "learners with a shorter maximum path (Table 1) failed distances that learners with longer" in html
    assert "lag at distance 2: transformer[positions=sinusoidal] (path 1; 0/2 seeds" in html
    assert "1 diverged" in html and "1 error" in html and "6 skipped" in html
    assert "worker lost &lt;b&gt;twice&lt;/b&gt;" in html  # the error message, escaped
    assert "Threats to validity" in html and "Budgets shape the numbers" in html
    assert "O(n²·d)" in html  # the paper's Table 1 is always shown


def test_summary_markdown(built):
    folder, _, _ = built
    md = (folder / "summary.md").read_text()
    assert "## reach: suite `report-test`" in md
    assert re.search(r"^\| tcn \| 8 \(2/2\) \| none seeds split at 8 \|", md, re.M), md
    assert "tcn reaches 8" in md
    # the same order as the report: the question, the reach table, then the findings by theme
    assert md.index("How far back") < md.index("### Reach") < md.index("### Findings") < md.index("**Positions**")
    assert "git commit" in md and "python run.py --suite report-test" in md
    # the machine as compare reads it: the CPU and the instruction set of torch's CPU kernels
    env = json.loads((folder / "env.json").read_text())
    assert env["cpu_capability"] and f"- torch CPU kernels: {env['cpu_capability']}" in md


def test_interrupted_folder_builds(real_records, tmp_path):
    folder = make_folder(tmp_path / "cut", real_records, drop=9, interrupted=True)
    html = build_report(folder).read_text()
    assert "Incomplete sweep" in html
    assert "9 planned run(s) have no result yet" in html
    assert "no end: interrupted or still running" in html
    assert "pending" in html
    assert "Incomplete sweep" in (folder / "summary.md").read_text()
    assert_self_contained(html)


def test_sweep_interrupted_before_any_run_finished(real_records, tmp_path):
    folder = make_folder(tmp_path / "empty", real_records, drop=32, interrupted=True)
    assert (folder / "runs.jsonl").read_text() == ""
    html = build_report(folder).read_text()
    assert "32 planned run(s) have no result yet" in html
    assert '<span class="pill pending">32 pending</span>' in html
    assert html.count('<img src="data:') == 0 and "No run trained" in html


def test_rebuild_leaves_no_stale_figures(real_records, tmp_path):
    folder = make_folder(tmp_path / "stale", real_records)
    build_report(folder)
    assert (folder / "figures" / "steps_to_solve.svg").exists()
    make_folder(folder, real_records, drop=32, interrupted=True)  # same folder, now without any finished run
    build_report(folder)
    assert not list((folder / "figures").glob("steps_to_solve.*"))


def fake_probe_plots():
    module = types.ModuleType("harness.report.probe_plots")

    def probe_figures(folder, fig_dir):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(3, 2))
        fig.subplots().plot([1, 2, 4], [1, 0.5, 0.25])
        fig_dir.mkdir(parents=True, exist_ok=True)
        png, svg = fig_dir / "gradient.png", fig_dir / "gradient.svg"
        fig.savefig(png)
        fig.savefig(svg)
        return [{"key": "probe-flops", "title": "Gradient <i>reach</i>", "path_png": png, "path_svg": svg,
                 "facts": {"n_min": 64, "n_max": 1024, "n_at": 128}}]

    module.probe_figures = probe_figures
    return module


def test_probes_only_folder(tmp_path, monkeypatch):
    folder = tmp_path / "probes"
    (folder / "probes").mkdir(parents=True)
    (folder / "table1.csv").write_text("learner,flops_slope_n,latency_slope_n\ntransformer,1.98,1.1\nlstm,1.01,0.99\n")
    fake = fake_probe_plots()
    monkeypatch.setattr(harness.report.figures, "probe_plots", fake)
    html = build_report(folder).read_text()
    for section, _ in SECTIONS:
        assert f'<section id="{section}">' in html
    assert "over n = 64..1024 at each learner's d_model" in html  # the caption, written from the figure's facts
    assert "Gradient &lt;i&gt;reach&lt;/i&gt;" in html
    assert html.count('<img src="data:image/png;base64,') == 1
    assert '<td class="num">1.98</td>' in html and '<td class="lab">flops_slope_n</td>' in html
    assert "O(log_k n)" in html
    assert "No training runs" in html
    assert (folder / "summary.md").exists()
    assert_self_contained(html)


def test_not_a_results_folder(tmp_path):
    with pytest.raises(ReachError, match="not a results folder"):
        build_report(tmp_path)
    with pytest.raises(ReachError, match="is not a folder"):
        build_report(tmp_path / "missing")


def test_html_from_configs_and_results_is_escaped(tmp_path):
    """A suite name and a learner option carrying HTML reach the page as text, never as markup."""
    data = {"name": "<script>alert(1)</script>", "seeds": [0], "prune": False, "defaults": TINY,
            "learners": [{"name": "tcn"}, {"name": "transformer", "options": {"positions": "<b>bold</b>"}}],
            "tasks": [{"name": "lag", "distances": [2]}]}
    suite = Suite.from_dict(data, where="escape test")
    folder = tmp_path / "escape"
    folder.mkdir()
    records = [execute(spec.to_dict()) for spec in suite.specs()]  # the transformer run errors on the option
    assert [r.outcome for r in records][1] == "error"
    (folder / "runs.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    (folder / "suite.toml").write_text(suite.to_toml())
    html = build_report(folder).read_text()
    assert "<script>alert(1)</script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "positions=&lt;b&gt;bold&lt;/b&gt;" in html
    assert_self_contained(html)
    md = (folder / "summary.md").read_text()
    assert "<script>" not in md and "<b>" not in md


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env=env)


def test_cli_report_rebuilds_from_stored_results(real_records, tmp_path):
    folder = make_folder(tmp_path / "cli", real_records)
    proc = run_cli("report", str(folder))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"report: {folder / 'report.html'}"
    assert "tcn reaches 8; " in (folder / "report.html").read_text()
    # runs.csv: one row per stored record, with its numbers
    records = read_runs(folder)
    table = pd.read_csv(folder / "runs.csv").set_index("id")
    assert sorted(table.index) == sorted(r.id for r in records) and len(table) == 32
    for r in records:
        row = table.loc[r.id]
        assert (row.outcome, row.label, row.task, row.distance, row.seed) == (str(r.outcome), r.label, r.task,
                                                                              r.distance, r.seed)
        if r.test_accuracy is None:
            assert pd.isna(row.test_accuracy)
        else:
            assert row.test_accuracy == pytest.approx(r.test_accuracy, rel=1e-12)
    # summary.md names every learner, and each one's reach on a line with its label
    md = (folder / "summary.md").read_text()
    summary = reach_summary(runs_frame(records, folder_plan(folder)))
    assert sorted(summary.label.unique()) == sorted({r.label for r in records})
    assert dict(zip(zip(summary.task, summary.label), summary.reach)) == {
        ("lag", "tcn"): 8, ("lag", "gru"): 2, ("lag", "transformer[positions=relative]"): 2,
        ("lag", "transformer[positions=sinusoidal]"): 0, ("recall", "tcn"): 0, ("recall", "gru"): 0,
        ("recall", "transformer[positions=relative]"): 0, ("recall", "transformer[positions=sinusoidal]"): 0}
    for row in summary.itertuples():
        assert row.label in md
        if row.reach:
            assert re.search(rf"(?m)^.*{re.escape(row.label)}.*\b{row.reach}\b", md), (row.label, row.reach)


def test_cli_report_rejects_a_folder_without_results(tmp_path):
    proc = run_cli("report", str(tmp_path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a results folder" in lines[0] and "Traceback" not in proc.stderr
