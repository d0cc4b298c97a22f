"""The verdict names the limit that binds each learner, told apart by the constant-load and load ladders; the report
puts it on its first screen. Records are constructed, so every limit is known in advance."""

import json
import re

import pytest

from harness.config.suites import Suite
from harness.report.analysis import reach_summary
from harness.report.html import build_report
from harness.report.structure import Structure
from harness.report.verdict import BUDGET, CAPACITY, DECAY, FIELD, NONE, POSITION, verdict
from harness.store.record import RunRecord
from harness.store.table import runs_frame

TINY = {"d_model": 8, "n_layers": 2, "steps": 10, "eval_every": 5, "batch_size": 4, "val_batches": 1,
        "test_batches": 1}
SUITE = {"name": "verdict-test", "seeds": [0, 1], "prune": True, "defaults": TINY,
         "learners": [{"name": "gru"}, {"name": "rnn"}, {"name": "cnn", "options": {"kernel_size": 2}},
                      {"name": "transformer", "options": {"positions": "sinusoidal"}},
                      {"name": "transformer", "options": {"positions": "rotary"}}, {"name": "tcn"}],
         "tasks": [{"name": "hold", "distances": [2, 4, 8]}, {"name": "hold", "distances": [8], "loads": [1, 2, 4]}]}
# learner -> (largest distance solved with one item, largest load solved at distance 8)
TRUTH = {"gru": (8, 2), "rnn": (2, 0), "cnn": (2, 0), "transformer": {"sinusoidal": (2, 0), "rotary": (8, 4)},
         "tcn": (4, 0)}


def truth(spec):
    t = TRUTH[spec.learner]
    return t[spec.learner_options["positions"]] if isinstance(t, dict) else t


def record(spec, solved):
    return RunRecord.from_json({
        "id": spec.id, "spec": spec.to_dict(), "label": spec.label, "outcome": "solved" if solved else "unsolved",
        "test_accuracy": 1.0 if solved else 0.3, "test_loss": 0.1, "test_exact_match": 1.0 if solved else 0.0,
        "test_by_distance": {str(spec.distance): [8 if solved else 2, 8]}, "baseline_accuracy": 0.125,
        "baseline_loss": 2.08, "steps_run": 10, "steps_to_solve": 5 if solved else None, "d_model": 8,
        "params": 1000, "learner_params": 800, "seq_len": spec.task_obj.seq_len, "load": spec.task_obj.load,
        "tokens_per_s": 1000.0, "train_seconds": 1.0, "wall_seconds": 1.2, "threads": 1, "device": "cpu",
        "curve": [{"step": 5, "train_loss": 1.0, "val_accuracy": 1.0 if solved else 0.3, "val_loss": 0.5}]})


@pytest.fixture(scope="module")
def study():
    suite = Suite.from_dict(SUITE, where="test")
    records = []
    for spec in suite.specs():
        reach, cap = truth(spec)
        load = spec.task_obj.load
        solved = spec.distance <= reach if load == 1 else load <= cap
        records.append(record(spec, solved))
    return suite, records


def test_each_limit_is_named(study):
    suite, records = study
    frame = runs_frame(records, suite.plan())
    summary = reach_summary(frame)
    structure = Structure(records)
    labels = sorted(frame.label.unique())
    fields = {lab: (3 if lab == "cnn" else None) for lab in labels}  # cnn: 2 layers of kernel 2 see 3 positions
    v = verdict(frame, summary, structure, labels, fields)
    assert v.ladder == "hold" and v.load_ladder == "hold[distance=8]"
    limits = {x.label: x.limit for x in v.learners}
    assert limits == {"gru": CAPACITY, "rnn": DECAY, "cnn": FIELD, "transformer[positions=sinusoidal]": POSITION,
                      "transformer[positions=rotary]": NONE, "tcn": BUDGET}
    gru = next(x for x in v.learners if x.label == "gru")
    assert (gru.reach, gru.top, gru.capacity, gru.max_load, gru.load_distance) == (8, 8, 2, 4, 8)
    assert [f.family for f in v.families] == ["recurrent", "convolutional", "attention"]


def test_the_first_screen_says_it(study, tmp_path):
    suite, records = study
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "runs.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    (folder / "suite.toml").write_text(suite.to_toml())
    html = build_report(folder).read_text()
    answer = html[html.index('<section id="answer">'):html.index('<section id="findings">')]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer))
    assert "gru 8 (all), 2 of 4 items: no distance stops it; the capacity of a fixed-size state binds" in text
    assert "rnn 2, none of 4 items: gradient decay along the O(n) path binds" in text
    assert "cnn 2, none of 4 items: its receptive field binds (3 positions" in text
    assert "transformer[positions=sinusoidal] 2, none of 4 items: finding the position binds" in text
    assert "transformer[positions=rotary] 8 (all), all of 4 items: no limit shows" in text
    assert "tcn 4, none of 4 items: the training budget binds" in text
    assert "Budgets shape every number" in text
    assert '<figure id="fig-summary">' in answer
    md = (folder / "summary.md").read_text()
    assert "**Recurrent** (path O(n))" in md and "### Capacity" in md
    assert re.search(r"^\| gru \| 2 \(2/2\)", md[md.index("### Capacity"):], re.M)
