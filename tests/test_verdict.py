"""The verdict names each learner's limit from the evidence at its first failed rungs — the curve's end state, budget
escalation's outcome, the trained gradient ratio G(d)/G(1) and the receptive field — never from its family. Records
are constructed (escalations and extra seeds included, as harness.run.escalation plans them), so every limit is
known in advance."""

import dataclasses
import json
import re

import pytest

from harness.config.plan import BASE
from harness.config.suites import Suite
from harness.report.analysis import reach_summary
from harness.report.evidence import (
    AT_CHANCE,
    BUDGET,
    CAPACITY,
    DECAY,
    FIELD,
    GRADIENT_FLOOR,
    NONE,
    PLATEAU,
    RISING,
    SEEDS,
    UNDETERMINED,
    curve_state,
    ladder_evidence,
)
from harness.report.html import build_report
from harness.report.structure import Structure
from harness.report.verdict import verdict
from harness.run.escalation import boundaries, escalation_cells
from harness.store.record import RunRecord
from harness.store.table import runs_frame

STUDY = {"d_model": 8, "n_layers": 2, "steps": 20, "eval_every": 5, "batch_size": 16, "val_batches": 8,
         "test_batches": 4, "schedule": "constant"}
SUITE = {"name": "verdict-test", "seeds": [0, 1], "prune": True, "defaults": STUDY,
         "escalate": {"factor": 4, "seeds": 3},
         "learners": [{"name": "gru"}, {"name": "rnn"}, {"name": "lstm"}, {"name": "lru"},
                      {"name": "cnn", "options": {"kernel_size": 2}},
                      {"name": "transformer", "options": {"positions": "sinusoidal"}},
                      {"name": "transformer", "options": {"positions": "rotary"}}, {"name": "tcn"}],
         "tasks": [{"name": "hold", "distances": [2, 4, 8]}, {"name": "hold", "distances": [8], "loads": [1, 2, 4]}]}

CHANCE = [0.12, 0.13, 0.12, 0.14]
FLAT = [0.5, 0.6, 0.61, 0.6, 0.61, 0.6]
RISE = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
SOLVED = [0.5, 1.0]


def truth(label: str, load: int, distance: int, seed: int, escalated: bool) -> tuple[bool, list[float], float]:
    """(solved, validation curve, trained G ratio) of each run of the study."""
    sinus, rotary = "transformer[positions=sinusoidal]", "transformer[positions=rotary]"
    if label == "gru":  # every distance; items up to 2 of 4: a plateau at 4, escalated too
        return (True, SOLVED, 1.0) if load <= 2 else (False, FLAT, 0.3)
    if label == "rnn":  # distance 4 fails at 500 steps, escalation solves it; at 8 flat at chance, gradient gone
        if distance <= 2 or (distance == 4 and (escalated or seed == 2)):
            return True, SOLVED, 1.0
        return (False, RISE, 0.05) if distance == 4 else (False, CHANCE, 1e-9)
    if label == "lstm":  # fails at 2, flat at chance, but its gradient still reaches back
        return (True, SOLVED, 1.0) if distance < 2 else (False, CHANCE, 0.1)
    if label == "lru":  # at 4 the added seed solves at the base budget: seeds decided, escalation did not help
        if distance <= 2 or (distance == 4 and seed != 1):
            return True, SOLVED, 1.0
        return (False, RISE, 0.2) if distance == 4 else (False, CHANCE, 0.5)
    if label == "cnn":  # 2 layers of kernel 2 see 3 positions: 2 back is the last it can
        return (True, SOLVED, 1.0) if distance <= 2 else (False, CHANCE, 0.0)
    if label == sinus:  # attention flat at chance with a collapsed gradient: no excuse from its family
        return False, CHANCE, 1e-8
    if label == rotary:  # at 4 one seed solves, the others stay on a plateau
        if distance <= 2 or seed == 0:
            return True, SOLVED, 1.0
        return (False, FLAT, 0.5) if distance == 4 else (True, SOLVED, 1.0)
    if label == "tcn":  # at 8 still rising after escalation
        return (True, SOLVED, 1.0) if distance <= 4 or load > 1 else (False, RISE, 0.5)
    raise AssertionError(label)


def record(spec, solved: bool, curve: list[float], ratio: float) -> RunRecord:
    task = spec.task_obj
    answers = spec.test_batches * spec.batch_size * task.load
    steps = [spec.eval_every * (i + 1) for i in range(len(curve))]
    if not solved:  # an unsolved curve spans the whole budget
        steps = [round(spec.steps * (i + 1) / len(curve)) for i in range(len(curve))]
    return RunRecord.from_json({
        "id": spec.id, "spec": spec.to_dict(), "label": spec.label, "outcome": "solved" if solved else "unsolved",
        "test_accuracy": 1.0 if solved else curve[-1], "test_loss": 0.1, "test_exact_match": 1.0 if solved else 0.0,
        "test_by_distance": {str(spec.distance): [answers if solved else int(answers * curve[-1]), answers]},
        "baseline_accuracy": 0.125, "baseline_loss": 2.08, "steps_run": steps[-1],
        "steps_to_solve": steps[-1] if solved else None, "val_steps_to_threshold": steps[-1] if solved else None,
        "d_model": 8, "params": 1000, "learner_params": 800, "seq_len": task.seq_len, "load": task.load,
        "tokens_per_s": 1000.0, "train_seconds": 1.0, "wall_seconds": 1.2, "threads": 1, "device": "cpu",
        "flops_per_step": 1000.0 * task.seq_len, "steps_resumed": spec.steps // 4 if spec.continues else None,
        "gradient": None if solved else {"k": spec.distance, "G_k": ratio, "G_1": 1.0, "ratio": ratio},
        "curve": [{"step": s, "train_loss": 1.0, "val_accuracy": a, "val_loss": 0.5} for s, a in zip(steps, curve)]})


def run_study(suite: Suite) -> list[RunRecord]:
    """Every record the sweep would write: the base grid (pruned rungs skipped), then escalation to its fixpoint."""
    cells = suite.plan()
    done: dict[str, RunRecord] = {}
    for c in cells:
        if c.spec.id not in done:
            solved, curve, ratio = truth(c.learner, c.spec.task_obj.load, c.spec.distance, c.seed, False)
            done[c.spec.id] = record(c.spec, solved, curve, ratio)
    while True:
        new = [c for c in escalation_cells(cells, done, suite.escalate) if c.spec.id not in done]
        if not new:
            return list(done.values())
        for c in new:
            solved, curve, ratio = truth(c.learner, c.spec.task_obj.load, c.spec.distance, c.seed,
                                         c.spec.continues is not None)
            done[c.spec.id] = record(c.spec, solved, curve, ratio)


@pytest.fixture(scope="module")
def study():
    suite = Suite.from_dict(SUITE, where="test")
    return suite, run_study(suite)


def judge(suite, records, family_of=None):
    base_ids = {c.spec.id for c in suite.plan()}
    frame = runs_frame([r for r in records if r.id in base_ids], suite.plan())
    summary = reach_summary(frame)
    structure = Structure(records)
    if family_of:
        structure.family.update(family_of)
    first: dict[tuple[str, str], int] = {}
    for c in suite.plan():
        first[(c.task, c.learner)] = min(first.get((c.task, c.learner), c.rung), c.rung)
    by_id = {r.id: r for r in records}
    evidence = {(b.task, b.learner): ladder_evidence(b, structure, first[(b.task, b.learner)])
                for b in boundaries(suite.plan(), by_id, suite.escalate)}
    return verdict(frame, summary, structure, sorted(frame.label.unique()), evidence)


EXPECTED = {"gru": (NONE, CAPACITY), "rnn": (BUDGET, DECAY), "lstm": (UNDETERMINED, UNDETERMINED),
            "lru": (SEEDS, UNDETERMINED),
            "cnn": (FIELD, FIELD), "transformer[positions=sinusoidal]": (DECAY, DECAY),
            "transformer[positions=rotary]": (SEEDS, NONE), "tcn": (UNDETERMINED, UNDETERMINED)}


def test_each_limit_comes_from_the_evidence(study):
    suite, records = study
    v = judge(suite, records)
    assert v.ladder == "hold" and v.load_ladder == "hold[distance=8]"
    assert {x.label: (x.distance_limit, x.load_limit) for x in v.learners} == EXPECTED
    gru = next(x for x in v.learners if x.label == "gru")
    assert (gru.reach, gru.top, gru.capacity, gru.max_load, gru.load_distance) == (8, 8, 2, 4, 8)
    rnn = next(x for x in v.learners if x.label == "rnn")
    e = rnn.distance
    assert (e.rung, e.base_steps, e.escalated_steps, e.solved_base, e.n_base) == (4, 20, 80, 0, 2)
    assert e.n == 3 and e.solved == 3  # the seeds disagreed once escalation solved: a third seed joined
    rotary = next(x for x in v.learners if x.label == "transformer[positions=rotary]").distance
    assert (rotary.n, rotary.solved, [s.extra for s in rotary.seeds]) == (3, 1, [False, False, True])
    assert {s.curve for s in rotary.failed} == {PLATEAU}
    sinus = next(x for x in v.learners if x.label == "transformer[positions=sinusoidal]").distance
    assert all(s.gradient_ratio < GRADIENT_FLOOR and s.curve == AT_CHANCE for s in sinus.failed)


def test_the_family_decides_nothing(study):
    suite, records = study
    swapped = {"gru": "attention", "rnn": "attention", "lstm": "convolutional", "cnn": "recurrent",
               "transformer[positions=sinusoidal]": "recurrent", "transformer[positions=rotary]": "linear-recurrent",
               "tcn": "recurrent", "lru": "convolutional"}
    v = judge(suite, records, family_of=swapped)
    assert {x.label: (x.distance_limit, x.load_limit) for x in v.learners} == EXPECTED


def test_a_rung_only_escalation_solves_is_the_budget_not_the_path(study):
    """rnn at distance 4: 0 of 2 seeds by the base budget; continued to 4x the steps, both solve."""
    suite, records = study
    without = [r for r in records if not r.continues]  # the same sweep without its continuations
    v = judge(suite, without)
    rnn = next(x for x in v.learners if x.label == "rnn")
    assert rnn.distance_limit == UNDETERMINED  # still rising, and nothing escalated: no cause can be named
    assert judge(suite, records).learners[[x.label for x in v.learners].index("rnn")].distance_limit == BUDGET


def test_decay_needs_escalation_and_a_collapsed_gradient(study):
    suite, records = study
    sinus = "transformer[positions=sinusoidal]"
    raised = [dataclasses.replace(r, gradient={**r.gradient, "ratio": 10 * GRADIENT_FLOOR})
              if r.label == sinus and r.gradient else r for r in records]
    v = judge(suite, raised)
    assert next(x for x in v.learners if x.label == sinus).distance_limit == UNDETERMINED
    unescalated = Suite.from_dict({**SUITE, "escalate": None} | {"name": "no-escalation"}, where="test")
    data = unescalated.to_dict()
    assert "escalate" not in data
    v = judge(unescalated, [r for r in records if not r.continues and r.seed in (0, 1)])
    assert next(x for x in v.learners if x.label == sinus).distance_limit == UNDETERMINED


@pytest.mark.parametrize("curve, state", [(CHANCE, AT_CHANCE), (FLAT, PLATEAU), (RISE, RISING),
                                          ([0.12, 0.2, 0.4, 0.6], RISING), ([0.7, 0.69, 0.71, 0.7], PLATEAU)])
def test_curve_end_states(curve, state):
    spec = Suite.from_dict(SUITE, where="test").plan()[0].spec
    assert curve_state(record(spec, False, curve, 0.5)) == state


def test_the_first_screen_cites_the_numbers(study, tmp_path):
    suite, records = study
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "runs.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    (folder / "suite.toml").write_text(suite.to_toml())
    html = build_report(folder).read_text()
    answer = html[html.index('<section id="answer">'):html.index('<section id="findings">')]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer))
    assert "rnn reaches 2: the training budget (at 4: 0/2 by 20 steps (1/3 with the added seed), 3/3 by 80;" in text
    assert "lru reaches 2: seed-dependent optimisation (at 4: 1/2 by 20 steps (2/3 with the added seed)" in text
    assert "holds none of 4 items: gradient decay along the path (at 1 item: 0/2 by 20 steps, 0/2 by 80;" in text
    assert "gru reaches 8 (all): no limit within the ladder; holds 2 of 4 items: the capacity of a fixed-size " \
           "state (at 4 items: 0/2 by 20 steps, 0/2 by 80; seed 0 plateau at 0.60, G ratio 3e-01" in text
    assert "cnn reaches 2: its receptive field (3 positions; an answer 4 back needs 5)" in text
    assert "transformer[positions=sinusoidal] reaches none: gradient decay along the path" in text
    assert "every G ratio below 1e-03" in text
    assert "transformer[positions=rotary] reaches 2: seed-dependent optimisation (at 4: 1/2 by 20 steps (1/3 with " \
           "the added seed), 1/3 by 80; seed 0 solved at step" in text
    assert "lstm reaches none: undetermined at this budget (at 2: 0/2 by 20 steps, 0/2 by 80; seed 0 at chance " \
           "at 0.14, G ratio 1e-01" in text
    assert "tcn reaches 4: undetermined at this budget (at 8: 0/2 by 20 steps, 0/2 by 80; seed 0 still rising" in text
    assert "continued to 4× at each first failed rung" in text
    assert '<figure id="fig-summary">' in answer
    assert "gradient decay along the O(n) path" not in html and "family" not in text.lower()
    md = (folder / "summary.md").read_text()
    assert "**Recurrent** (path O(n))" in md and "### Capacity" in md
    assert "↑ 4 with 4× steps: 3/3" in md  # the reach table marks a rung solved only by escalation
    assert re.search(r"^\| gru \| 2 \(2/2\)", md[md.index("### Capacity"):], re.M)
    assert 'id="compute"' in html and "Reach against training compute" in html


def test_no_escalation_beyond_the_receptive_field(study):
    """No budget can solve a rung beyond a bounded field: cnn's failed rungs are not continued."""
    suite, records = study
    assert not any(r.continues for r in records if r.label == "cnn")
    assert any(r.continues for r in records if r.label == "rnn")


def test_base_grid_only_in_tables(study):
    """Escalated runs and extra seeds stay out of the reach rule: the reach is the base budget's."""
    suite, records = study
    assert any(r.continues for r in records) and any(r.seed == 2 for r in records)
    base = {c.spec.id for c in suite.plan() if c.stage == BASE}
    frame = runs_frame(records, suite.plan())
    assert set(frame.id) <= base
