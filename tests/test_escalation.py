"""Budget escalation: a continued run equals a fresh run of the larger budget bit for bit; the plan adds extra seeds
and continuations only where the first failed rung calls for them; a sweep runs, stores, links and resumes them."""

import dataclasses
import json

import pytest
import torch

from harness.config.plan import BASE, ESCALATED, EXTRA_SEED
from harness.config.spec import RunSpec
from harness.config.suites import Suite
from harness.errors import ReachError
from harness.run.escalation import boundaries, escalation_cells, first_failed_rung, ladders
from harness.run.executors import InProcessExecutor
from harness.run.flopcount import count_flops
from harness.run.model import build_model
from harness.run.sweep import run_suite
from harness.run.train import train
from harness.store.folder import read_runs
from harness.store.record import Outcome, RunRecord

BASE_SPEC = dict(task="hold", distance=12, learner="rnn", d_model=8, n_layers=1, steps=30, eval_every=10,
                 batch_size=8, val_batches=2, test_batches=2, schedule="constant", lr=1e-2)


def test_a_continued_run_is_the_longer_run():
    short = train(RunSpec(**BASE_SPEC))
    assert short.outcome is Outcome.UNSOLVED and short.checkpoint  # an unsolved run hands back its state
    longer = RunSpec(**{**BASE_SPEC, "steps": 90})
    continued = train(longer.replace(continues=short.id), resume=short.checkpoint)
    fresh = train(longer)
    assert continued.steps_resumed == 30 and continued.steps_run == fresh.steps_run == 90
    assert [p["val_accuracy"] for p in continued.curve] == [p["val_accuracy"] for p in fresh.curve]
    assert [p["train_loss"] for p in continued.curve] == [p["train_loss"] for p in fresh.curve]
    assert (continued.test_accuracy, continued.test_loss) == (fresh.test_accuracy, fresh.test_loss)
    assert continued.curve[:3] == short.curve  # it carries the curve of the run it continues
    assert "continued from step 30" in continued.stop_reason
    # without the saved state it trains from step 0, to the same numbers
    again = train(longer.replace(continues=short.id))
    assert again.test_loss == fresh.test_loss and "trained from step 0" in again.stop_reason
    assert again.steps_resumed is None


def test_a_checkpoint_must_belong_to_the_run_continued():
    short = train(RunSpec(**BASE_SPEC))
    other = RunSpec(**{**BASE_SPEC, "seed": 5, "steps": 60})
    with pytest.raises(ReachError, match="given to a run that continues"):
        train(other.replace(continues="0" * 12), resume=short.checkpoint)
    with pytest.raises(ReachError, match="cannot be read"):
        train(other.replace(continues=short.id), resume=b"not a checkpoint")
    with pytest.raises(ReachError, match="more than the"):
        train(RunSpec(**{**BASE_SPEC, "steps": 20, "continues": short.id}), resume=short.checkpoint)


def test_what_a_trained_run_records():
    short = train(RunSpec(**BASE_SPEC))
    task = RunSpec(**BASE_SPEC).task_obj
    model = build_model(task, "rnn", 8, 1, {})
    per_sequence = count_flops(model, task.sample(1, torch.Generator().manual_seed(0)).inputs, backward=True)
    assert short.flops_per_step == per_sequence * BASE_SPEC["batch_size"] > 0
    g = short.gradient
    assert g["k"] == 12 and g["G_1"] > 0 and g["ratio"] == pytest.approx(g["G_k"] / g["G_1"])
    solved = train(RunSpec(**{**BASE_SPEC, "distance": 2, "steps": 200}))
    assert solved.outcome is Outcome.SOLVED and solved.gradient is None and solved.checkpoint is None
    assert "checkpoint" not in json.dumps(short.to_json())  # state travels to the driver, never to runs.jsonl


def test_specs_and_suites_reject_an_escalation_that_cannot_continue():
    with pytest.raises(ReachError, match="continues needs schedule"):
        RunSpec(**{**BASE_SPEC, "schedule": "cosine", "continues": "a" * 12})
    with pytest.raises(ReachError, match="12-character id"):
        RunSpec(**{**BASE_SPEC, "continues": "run-1"})
    suite = {"name": "s", "seeds": [0], "defaults": {"steps": 10}, "learners": [{"name": "rnn"}],
             "tasks": [{"name": "hold", "distances": [4]}], "escalate": {"factor": 4}}
    with pytest.raises(ReachError, match=r"schedule = \"constant\".*rnn"):
        Suite.from_dict(suite, where="s")
    ok = {**suite, "defaults": {"steps": 10, "schedule": "constant"}}
    assert Suite.from_dict(ok, where="s").escalate == {"factor": 4, "seeds": 3}
    with pytest.raises(ReachError, match="unknown key 'factr'"):
        Suite.from_dict({**ok, "escalate": {"factr": 4}}, where="s")
    with pytest.raises(ReachError, match="'factor' must be an integer from 2"):
        Suite.from_dict({**ok, "escalate": {"factor": 1}}, where="s")


def test_ids_of_earlier_specs_stay_valid():
    """A field added later is left out of the id while unset: folders written before it resume as they were."""
    import hashlib

    spec = RunSpec(**BASE_SPEC)
    later = ("continues", "length_factors")  # unset here, so left out
    content = {k: v for k, v in spec.to_dict().items() if k not in ("threads", "label", *later)}
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    assert spec.id == hashlib.sha1(blob.encode()).hexdigest()[:12]
    assert spec.replace(continues=spec.id).id != spec.id


# -- the plan ------------------------------------------------------------------------------------------------------
PLAN_SUITE = {"name": "plan", "seeds": [0, 1], "defaults": {"steps": 10, "schedule": "constant", "d_model": 8},
              "escalate": {"factor": 3, "seeds": 3}, "learners": [{"name": "gru"}],
              "tasks": [{"name": "hold", "distances": [2, 4, 8]}]}


def fake(spec, outcome):
    return RunRecord(id=spec.id, spec=spec.to_dict(), label=spec.label, outcome=Outcome(outcome), steps_run=10)


def plan_with(outcomes):
    """cells, done: outcomes maps (distance, seed) -> outcome of the base run."""
    suite = Suite.from_dict(PLAN_SUITE, where="t")
    cells = suite.plan()
    done = {c.spec.id: fake(c.spec, outcomes[(c.rung, c.seed)]) for c in cells if (c.rung, c.seed) in outcomes}
    return suite, cells, done


def test_nothing_escalates_before_the_first_failure_is_decided_or_when_all_solve():
    suite, cells, done = plan_with({(2, 0): "solved", (2, 1): "solved", (4, 0): "unsolved"})
    assert escalation_cells(cells, done, suite.escalate) == []  # rung 4 is still running
    suite, cells, done = plan_with({(d, s): "solved" for d in (2, 4, 8) for s in (0, 1)})
    assert escalation_cells(cells, done, suite.escalate) == []
    assert escalation_cells(cells, done, None) == []


def test_both_failed_continue_and_no_seed_is_added():
    suite, cells, done = plan_with({(2, 0): "solved", (2, 1): "solved", (4, 0): "unsolved", (4, 1): "diverged"})
    assert first_failed_rung(next(iter(ladders(cells).values())), done) == 4
    new = escalation_cells(cells, done, suite.escalate)
    assert [(c.stage, c.rung, c.seed) for c in new] == [(ESCALATED, 4, 0)]  # a diverged run is not continued
    (cont,) = new
    parent = next(c for c in cells if (c.rung, c.seed) == (4, 0))
    assert cont.parent == parent.spec.id == cont.spec.continues and cont.spec.steps == 30


def test_a_split_rung_gets_a_third_seed_and_its_continuation():
    suite, cells, done = plan_with({(2, 0): "solved", (2, 1): "solved", (4, 0): "solved", (4, 1): "unsolved"})
    new = escalation_cells(cells, done, suite.escalate)
    assert sorted((c.stage, c.seed) for c in new) == [(ESCALATED, 1), (EXTRA_SEED, 2)]
    extra = next(c for c in new if c.stage == EXTRA_SEED)
    done[extra.spec.id] = fake(extra.spec, "unsolved")
    new = escalation_cells(cells, done, suite.escalate)
    assert sorted((c.stage, c.seed) for c in new) == [(ESCALATED, 1), (ESCALATED, 2), (EXTRA_SEED, 2)]
    for c in new:
        if c.stage == ESCALATED:
            done[c.spec.id] = fake(c.spec, "solved" if c.seed == 2 else "unsolved")
    (b,) = boundaries(cells, done, suite.escalate)
    assert (b.rung, b.n, b.solved_base, b.solved, b.solved_by_escalation, b.complete) == (4, 3, 1, 2, True, True)


def test_escalation_solving_one_of_two_adds_a_seed_afterwards():
    suite, cells, done = plan_with({(2, 0): "solved", (2, 1): "solved", (4, 0): "unsolved", (4, 1): "unsolved"})
    new = escalation_cells(cells, done, suite.escalate)
    assert {c.stage for c in new} == {ESCALATED}
    done.update({c.spec.id: fake(c.spec, "solved" if c.seed == 0 else "unsolved") for c in new})
    assert any(c.stage == EXTRA_SEED for c in escalation_cells(cells, done, suite.escalate))


# -- sibling candidates of a calibrated setting -----------------------------------------------------------------------
GRID_SUITE = {"name": "grid", "seeds": [0, 1], "calibrate": ["lr"],
              "defaults": {"steps": 10, "schedule": "constant", "d_model": 8},
              "escalate": {"factor": 3, "seeds": 3},
              "learners": [{"name": "gru", "lr": 1e-3}, {"name": "gru", "lr": 1e-2}, {"name": "lstm"}],
              "tasks": [{"name": "hold", "distances": [2, 4]}]}


def grid_with(outcomes, val):
    """outcomes: (lr or 'lstm', distance) -> outcome of both seeds; val: the same key -> final validation accuracy."""
    suite = Suite.from_dict(GRID_SUITE, where="t")
    cells = suite.plan()
    done = {}
    for c in cells:
        key = ("lstm" if c.spec.learner == "lstm" else c.spec.lr, c.rung)
        if key in outcomes:
            done[c.spec.id] = dataclasses.replace(fake(c.spec, outcomes[key]),
                                                  curve=[{"step": 10, "val_accuracy": val.get(key, 0.5)}])
    return suite, cells, done


def escalated_learners(suite, cells, done):
    return sorted({(c.spec.learner, c.spec.lr) for c in escalation_cells(cells, done, suite.escalate, suite.calibrate)
                   if c.stage == ESCALATED})


def test_only_the_calibrated_choice_among_siblings_escalates():
    both_fail = {(1e-3, 2): "solved", (1e-2, 2): "solved", (1e-3, 4): "unsolved", (1e-2, 4): "unsolved",
                 ("lstm", 2): "unsolved"}
    # the better final validation accuracy at the shared first failed rung is the one continued; the lstm, a
    # learner with no sibling, escalates as before
    suite, cells, done = grid_with(both_fail, {(1e-3, 4): 0.7, (1e-2, 4): 0.4})
    assert escalated_learners(suite, cells, done) == [("gru", 1e-3), ("lstm", 3e-3)]
    suite, cells, done = grid_with(both_fail, {(1e-3, 4): 0.4, (1e-2, 4): 0.7})
    assert escalated_learners(suite, cells, done) == [("gru", 1e-2), ("lstm", 3e-3)]
    # without the suite's calibrated settings, every ladder escalates (the main study's behaviour)
    assert len({(c.spec.learner, c.spec.lr) for c in escalation_cells(cells, done, suite.escalate)}) == 3
    # a sibling that failed a shorter rung loses to one that got further, whatever its accuracy
    suite, cells, done = grid_with({(1e-3, 2): "unsolved", (1e-2, 2): "solved", (1e-2, 4): "unsolved"},
                                   {(1e-3, 2): 0.9, (1e-2, 4): 0.3})
    assert ("gru", 1e-2) in escalated_learners(suite, cells, done)
    assert ("gru", 1e-3) not in escalated_learners(suite, cells, done)
    # a sibling that solved every rung stands for the learner: no other candidate escalates
    suite, cells, done = grid_with({(1e-3, 2): "solved", (1e-3, 4): "solved", (1e-2, 2): "unsolved"},
                                   {(1e-2, 2): 0.99})
    assert ("gru", 1e-2) not in escalated_learners(suite, cells, done)
    # nothing escalates among siblings while one of them is undecided (its rung 2 still runs); once it fails
    # there with a lower validation accuracy, the other goes on
    suite, cells, done = grid_with({(1e-2, 2): "unsolved"}, {(1e-2, 2): 0.6})
    assert ("gru", 1e-2) not in escalated_learners(suite, cells, done)
    suite, cells, done = grid_with({(1e-2, 2): "unsolved", (1e-3, 2): "unsolved"}, {(1e-2, 2): 0.6, (1e-3, 2): 0.5})
    assert [lr for name, lr in escalated_learners(suite, cells, done) if name == "gru"] == [1e-2]
    # the boundary of a passed-over sibling records no escalation (factor 1), the chosen one its factor
    suite, cells, done = grid_with(both_fail, {(1e-3, 4): 0.7, (1e-2, 4): 0.4})
    factors = {(b.learner, b.rung): b.factor for b in boundaries(cells, done, suite.escalate, suite.calibrate)}
    assert factors == {("gru[lr=0.001]", 4): 3, ("gru[lr=0.01]", 4): 1, ("lstm", 2): 3}


# -- a sweep ------------------------------------------------------------------------------------------------------
SWEEP_SUITE = {"name": "esc", "seeds": [0, 1],
               "defaults": {"d_model": 8, "n_layers": 1, "steps": 30, "eval_every": 10, "batch_size": 8,
                            "val_batches": 2, "test_batches": 2, "schedule": "constant", "lr": 1e-2},
               "escalate": {"factor": 3, "seeds": 3}, "learners": [{"name": "rnn"}],
               "tasks": [{"name": "hold", "distances": [12, 24]}]}


def test_a_sweep_runs_stores_and_resumes_escalations(tmp_path):
    suite = Suite.from_dict(SWEEP_SUITE, where="t")
    out = tmp_path / "out"
    first = run_suite(suite, out, InProcessExecutor(), "test")
    stored = {r.id: r for r in read_runs(out)}
    cont = [r for r in stored.values() if r.continues]
    assert cont, "the failed rung's runs were not continued"
    for r in cont:
        parent = stored[r.continues]
        assert parent.outcome is Outcome.UNSOLVED and r.steps_resumed == parent.steps_run == 30
        assert r.spec["steps"] == 90 and (out / "checkpoints" / f"{parent.id}.pt").exists()
    assert {r.id for r in first.records} == set(stored)  # the sweep's records include its escalations
    again = run_suite(suite, out, InProcessExecutor(), "test")
    assert again.resumed == len([r for r in again.records if r.outcome is not Outcome.SKIPPED])
    assert {r.id: r.test_loss for r in again.records} == {r.id: r.test_loss for r in first.records}
    assert len(read_runs(out)) == len(stored)  # nothing ran twice


def test_an_interrupted_escalation_resumes_to_the_same_numbers(tmp_path):
    suite = Suite.from_dict(SWEEP_SUITE, where="t")
    whole = run_suite(suite, tmp_path / "whole", InProcessExecutor(), "test")
    out = tmp_path / "cut"
    run_suite(suite, out, InProcessExecutor(), "test")
    lines = (out / "runs.jsonl").read_text().splitlines(keepends=True)
    cut = [line for line in lines if not json.loads(line)["spec"].get("continues")]
    (out / "runs.jsonl").write_text("".join(cut))  # as if killed before the continuations finished
    resumed = run_suite(suite, out, InProcessExecutor(), "test")
    assert {r.id: r.test_loss for r in resumed.records} == {r.id: r.test_loss for r in whole.records}
    assert resumed.resumed == len(cut) - sum(json.loads(x)["outcome"] == "skipped" for x in cut)
    kinds = {c.stage for c in escalation_cells(suite.plan(), {r.id: r for r in resumed.records}, suite.escalate)}
    assert kinds <= {ESCALATED, EXTRA_SEED} and BASE not in kinds
