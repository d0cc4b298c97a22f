"""The report in a real browser: Debian's chromium, driven by Playwright, opens a report built from a real
(reduced) smoke sweep over a file:// URL. No network: the page must render from the file alone.

Without /usr/bin/chromium the test is skipped, unless REACH_REQUIRE_BROWSER=1 (CI), where it fails.
The full-page screenshot lands in test-artifacts/report.png (git-ignored) for a person to look at.
"""

import copy
import os
from pathlib import Path

import pytest

from harness.config.builtin import BUILTIN_SUITES
from harness.config.suites import Suite
from harness.report.finish import finish_sweep
from harness.report.html import SECTIONS
from harness.run.executors import InProcessExecutor
from harness.run.sweep import run_suite

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]

pytestmark = pytest.mark.slow


def require_browser():
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the python package playwright is not installed"
    if reason:
        if os.environ.get("REACH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required (REACH_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """A report of a real sweep: the smoke suite with one learner per family (both transformers, so the
    position-encoding comparison is drawn) and a short budget."""
    data = copy.deepcopy(BUILTIN_SUITES["smoke"])
    data["learners"] = [entry for entry in data["learners"] if entry["name"] in ("lstm", "tcn", "transformer")]
    data["defaults"].update(steps=20, eval_every=10)
    data["prune"] = True  # some runs skipped: the runs table collapses them
    suite = Suite.from_dict(data, where="browser test suite")
    out = tmp_path_factory.mktemp("browser") / "smoke"
    result = run_suite(suite, out, InProcessExecutor(), "pytest tests/test_report_browser.py")
    assert len(result.records) == len(suite.specs())
    finish_sweep(suite, result)  # what every sweep does at its end: tables, report
    return out / "report.html", len({cell.learner for cell in suite.plan()})


def test_report_renders_in_chromium(smoke_report):
    """At 1280x900: no sideways scroll, the summary figure on the first screen, the runs filter narrows the rows and
    sorting reorders them, no console error, nothing fetched; screenshots of the first screen and the whole page,
    and a PDF as printing makes it."""
    require_browser()
    from playwright.sync_api import sync_playwright

    report, n_labels = smoke_report
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
                    if msg.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("request", lambda req: requests.append(req.url))
            page.goto(report.resolve().as_uri(), wait_until="load")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-first-screen.png"))
            widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            summary = page.evaluate("""() => { const r = document.querySelector('#fig-summary img')
                .getBoundingClientRect(); return {top: r.top, bottom: r.bottom, width: r.width}; }""")
            verdict = page.inner_text("section#answer .verdict")
            images = page.evaluate("""() => Array.from(document.images).map(
                img => ({alt: img.alt, complete: img.complete, width: img.naturalWidth}))""")
            ids = page.evaluate("() => Array.from(document.querySelectorAll('section[id]')).map(s => s.id)")
            toc = page.evaluate("() => Array.from(document.querySelectorAll('nav.toc a')).map(a => a.hash)")
            reach_rows = page.locator("table.reach").first.locator("tbody tr:not(.group)").count()
            visible = "#runs-table tbody tr:not(.hidden)"
            all_rows = page.locator("#runs-table tbody tr").count()
            shown = page.locator(visible).count()
            page.check("#show-skipped")
            with_skipped = page.locator(visible).count()
            page.select_option("#run-filters select[data-col='label']", "tcn")
            one_learner = page.locator(visible).count()
            labels = set(page.locator(f"{visible} td.lab").all_inner_texts())
            page.click("#runs-table th:nth-child(7)")  # test accuracy, ascending
            accs = [float(t) for t in page.locator(f"{visible} td:nth-child(7)").all_inner_texts() if t != "—"]
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            page.emulate_media(media="print")
            page.pdf(path=str(ARTIFACTS / "report.pdf"), format="A4", print_background=True)
            print_nav = page.evaluate("() => getComputedStyle(document.querySelector('nav.toc')).display")
        finally:
            browser.close()
    assert problems == []
    assert widths[0] <= widths[1], f"sideways scroll: content {widths[0]} px wide in a {widths[1]} px window"
    assert 0 <= summary["top"] < 900 and summary["width"] > 300, summary  # the study's figure on the first screen
    assert "Budgets shape every number" in verdict and "what limits it" in verdict
    alts = " ".join(img["alt"] for img in images)
    assert "Accuracy against distance" in alts and "Learning curves" in alts, images
    assert all(img["complete"] and img["width"] > 0 for img in images), images
    assert ids == [section for section, _ in SECTIONS]
    assert toc == [f"#{section}" for section, _ in SECTIONS]
    assert reach_rows == n_labels
    assert shown < with_skipped <= all_rows  # skipped runs start collapsed
    assert 0 < one_learner < with_skipped and labels == {"tcn"}
    assert accs == sorted(accs) and len(accs) >= 2
    assert all(url.startswith(("file://", "data:")) for url in requests), requests
    assert (ARTIFACTS / "report-first-screen.png").stat().st_size > 20_000
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000
    # printable: the navigation is left out of print, and the PDF holds the figures
    assert print_nav == "none" and (ARTIFACTS / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert (ARTIFACTS / "report.pdf").stat().st_size > 100_000
