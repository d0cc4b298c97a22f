"""The speed-regression suite (pytest-benchmark).

    python -m pytest tests/benchmarks --benchmark-only                  # measure, print the tables
    python -m pytest tests/benchmarks --benchmark-only --benchmark-autosave      # save a baseline
    python -m pytest tests/benchmarks --benchmark-only --benchmark-compare --benchmark-compare-fail=median:25%

In the ordinary test run (pyproject's addopts pass --benchmark-disable) each benchmark body runs once, as a
smoke test of the benchmark code; the ratio probes (harness overhead, generator vs learner), which need
interleaved repeats to mean anything, are skipped there and say so. tests/conftest.py lets --benchmark-only
override that --benchmark-disable.

Figures the probes compute (ratios, tokens/s) are printed in a "reach benchmark figures" section at the end
of the run and stored in each benchmark's extra_info (so --benchmark-json / --benchmark-autosave keep them).
"""

from __future__ import annotations

import pytest

FIGURES: list[str] = []


@pytest.fixture
def figures() -> list[str]:
    """Lines to print in the terminal summary (pytest captures a test's own stdout)."""
    return FIGURES


@pytest.fixture
def measured(benchmark):
    """The benchmark fixture, for probes that only mean something when timed: skipped when benchmarks are
    disabled. (It must depend on ``benchmark`` by name: --benchmark-only skips tests that do not.)"""
    if benchmark.disabled:
        benchmark.skipped = True  # pytest-benchmark's own flag: no "fixture was not used" warning
        pytest.skip("a timing probe (interleaved repeats, medians); runs with pytest tests/benchmarks "
                    "--benchmark-only")
    return benchmark


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("reach benchmark figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
