"""The README's catalogue and commands stay true to the code."""

import re
from pathlib import Path

from learners import LEARNERS
from tasks import TASKS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def table_rows(heading: str) -> dict[str, list[str]]:
    section = README.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([^`]+)`", cells[0]) if cells else None
        if match:
            rows[match.group(1)] = cells[1:]
    return rows


def test_learner_catalogue_matches_registry():
    rows = table_rows("Learners")
    assert set(rows) == set(LEARNERS)
    for name, cells in rows.items():
        assert cells[0] == LEARNERS[name].family, name
        assert cells[1] == LEARNERS[name].theory["max_path_length"], name


def test_task_catalogue_matches_registry():
    rows = table_rows("Tasks")
    assert set(rows) == set(TASKS)
    for name, cells in rows.items():
        assert cells[0] == TASKS[name].kind, name


def test_first_screen_has_the_two_commands():
    first_screen = "\n".join(README.splitlines()[:40])
    assert "pip install -r requirements.txt && python run.py --suite long-range" in first_screen
    assert "pip install -r requirements-dev.txt && python -m pytest" in first_screen
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "pip install -r requirements-dev.txt && python -m pytest" in ci


def test_requirements_pin_cpu_torch():
    req = (Path(__file__).resolve().parent.parent / "requirements.txt").read_text()
    assert "torch==2.13.0" in req.split()
