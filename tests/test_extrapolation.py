"""Train short, test long (harness/run/extrapolate.py, Task.scaled, RunSpec.length_factors).

The protocol's promises: a model that copies a fixed offset extrapolates exactly; a learned table of positions is
*not defined* past its size, never 0; the 1x score is the run's test evaluation; the longer lengths are scored on
the test stream, the same number of sequences at each, in batches that keep attention's logits small.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from harness.config.spec import MAX_TEST_LENGTH, RunSpec
from harness.errors import ReachError
from harness.run import train as train_module
from harness.run.extrapolate import EVAL_CELLS, extrapolate, rows_per_batch
from harness.run.model import SequenceModel
from harness.run.train import TEST, evaluate, generator, stream_seed, train
from harness.store.record import RunRecord
from tasks import TASKS, Hold, Induction, Lag, TaskParameterError
from tests.helpers.lengths import Shift

FACTORS = [1, 2, 4, 8, 16]
SHIFT = "tests.helpers.lengths:Shift"


def copier(task, shift: int) -> SequenceModel:
    """Embedding = identity, learner = copy `shift` back, head = identity on the output classes: the exact
    fixed-offset rule, by construction."""
    vocab = task.input_vocab
    model = SequenceModel(task, Shift(d_model=vocab, n_layers=1, shift=shift))
    with torch.no_grad():
        model.encoder.weight.copy_(torch.eye(vocab))
        model.head.weight.copy_(torch.eye(task.output_size, vocab))
        model.head.bias.zero_()
    return model


def scores_of(model, spec, task, factors=None):
    spec = spec.replace(length_factors=factors or FACTORS)
    test = evaluate(model, task, gen=generator(spec.seed, TEST), n_batches=spec.test_batches,
                    batch_size=spec.batch_size)
    return extrapolate(model, spec, task, test, lambda longer, rows, n: evaluate(
        model, longer, gen=generator(spec.seed, TEST), n_batches=n, batch_size=rows))


def small(**kw) -> RunSpec:
    base = {"task": "hold", "distance": 4, "learner": "gru", "d_model": 16, "steps": 20, "eval_every": 10,
            "batch_size": 8, "val_batches": 1, "test_batches": 2, "length_factors": [1, 2, 4]}
    return RunSpec(**{**base, **kw})


# -- the protocol on models whose answer is known --------------------------------------------------------------
def test_a_fixed_offset_copier_extrapolates_exactly_on_lag():
    spec = RunSpec(task="lag", distance=5, learner=SHIFT, test_batches=2, batch_size=8)
    task = spec.task_obj
    out = scores_of(copier(task, 5), spec, task)
    assert [e["factor"] for e in out] == FACTORS
    assert [e["seq_len"] for e in out] == [task.seq_len * f for f in FACTORS]  # lag: exactly f times as long
    assert [e["accuracy"] for e in out] == [1.0] * 5
    assert all(e["scored"] == 16 * (f * task.seq_len - 5) for e, f in zip(out, FACTORS))


def test_the_same_copier_fails_where_the_distance_grows_with_the_length():
    spec = RunSpec(task="hold", distance=8, learner=SHIFT, test_batches=8, batch_size=16)
    task = spec.task_obj
    out = scores_of(copier(task, 8), spec, task)
    assert out[0]["accuracy"] == 1.0
    assert [e["distance"] for e in out] == [8 * f for f in FACTORS]
    assert all(e["accuracy"] < 0.3 for e in out[1:])  # it still looks 8 back: a blank, chance 1/8


def test_every_length_scores_the_same_sequences_in_small_batches_from_the_test_stream(monkeypatch):
    seeds = []

    def spy(model, task, batches=None, *, gen=None, **kw):
        if gen is not None:
            seeds.append((task.seq_len, gen.initial_seed(), kw["n_batches"], kw["batch_size"]))
        return evaluate(model, task, batches, gen=gen, **kw)

    monkeypatch.setattr(train_module, "evaluate", spy)
    record = train(RunSpec(task="hold", distance=60, learner=SHIFT, learner_options={"shift": 60}, steps=1,
                           batch_size=16, test_batches=2, length_factors=[1, 4, 16]))
    test_seed = stream_seed(0, TEST)
    assert [s[1] for s in seeds] == [test_seed] * 3  # the test, then 4x and 16x: each a fresh test-stream generator
    assert [(s[0], s[2] * s[3]) for s in seeds] == [(61, 32), (241, 32), (961, 32)]  # 32 sequences at each length
    assert seeds[-1][3] == rows_per_batch(961, 16) == EVAL_CELLS // 961 ** 2 == 4
    assert [e["scored"] for e in record.extrapolation] == [32, 32, 32]


def test_a_factors_score_does_not_depend_on_the_other_factors():
    spec = RunSpec(task="induction", distance=8, seq_len=16, learner=SHIFT, test_batches=2, batch_size=8)
    torch.manual_seed(0)
    model = SequenceModel(spec.task_obj, Shift(d_model=8, n_layers=1, shift=3))  # random readout: not at 1.0
    a = scores_of(model, spec, spec.task_obj, [1, 2, 8])
    b = scores_of(model, spec, spec.task_obj, [1, 8])
    assert {k: v for k, v in a[-1].items() if k != "seconds"} == {k: v for k, v in b[-1].items() if k != "seconds"}


def test_rows_per_batch():
    assert rows_per_batch(64, 16) == 16 and rows_per_batch(512, 16) == 16 and rows_per_batch(513, 16) == 15
    assert rows_per_batch(1024, 16) == 4 and rows_per_batch(2048, 16) == 1 and rows_per_batch(MAX_TEST_LENGTH, 16) == 1


# -- through the training loop ----------------------------------------------------------------------------------
def test_the_1x_score_is_the_test_evaluation():
    r = train(small(distance=8))
    first = r.extrapolation[0]
    assert first["factor"] == 1 and first["seq_len"] == r.seq_len == 9
    assert (first["accuracy"], first["loss"], first["exact_match"]) == (r.test_accuracy, r.test_loss,
                                                                         r.test_exact_match)
    assert first["scored"] == sum(n for _, n in r.test_by_distance.values()) == 16
    assert [e["factor"] for e in r.extrapolation] == [1, 2, 4] and all(e["not_defined"] is None
                                                                        for e in r.extrapolation)


def test_a_learned_position_table_is_not_defined_beyond_its_size():
    r = train(small(learner="transformer", learner_options={"positions": "learned", "heads": 2},
                    length_factors=[2, 4]))  # 1 is added: the test itself
    by = {e["factor"]: e for e in r.extrapolation}
    assert by[1]["accuracy"] == r.test_accuracy and by[1]["not_defined"] is None
    for f in (2, 4):
        assert by[f]["accuracy"] is None and by[f]["scored"] == 0  # not 0 accuracy: no accuracy at all
        assert "max_len=5" in by[f]["not_defined"] and by[f]["seq_len"] == 4 * f + 1


def test_other_errors_at_a_longer_length_are_not_taken_for_not_defined():
    with pytest.raises(ValueError, match="unrelated bug"):
        train(small(learner="tests.helpers.lengths:BrokenBeyondMaxLen", learner_options={"shift": 4}, steps=2))


def test_the_record_keeps_its_scores_in_runs_jsonl():
    r = train(small(steps=2))
    line = json.loads(json.dumps(r.to_json()))
    assert line["extrapolation"] == r.extrapolation
    assert RunRecord.from_json(line).extrapolation == r.extrapolation
    plain = train(small(steps=2, length_factors=None))
    assert plain.extrapolation is None and "extrapolation" not in plain.to_json()


# -- the spec ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("factors", [[], [0, 2], [2, 2], [4, 2], [1.5], [True, 2], "2,4", [2, "4"]])
def test_length_factors_must_be_increasing_integers(factors):
    with pytest.raises(ReachError, match="length_factors must be"):
        small(length_factors=factors)


def test_length_factors_need_a_task_that_scales_and_respect_the_cap():
    with pytest.raises(ReachError, match="cannot be scaled: its load"):
        small(task="tests.helpers.lengths:HoldEverything", length_factors=[2])
    with pytest.raises(ReachError, match=f"over the cap of {MAX_TEST_LENGTH}"):
        small(distance=300, length_factors=[2, 16])
    assert small(distance=255, length_factors=[16]).task_obj.scaled(16).seq_len == 4081
    assert small(task="lag", distance=4, length_factors=(2, 4)).length_factors == [2, 4]  # a tuple is read as a list


def test_length_factors_enter_the_id_only_when_set():
    plain = small(length_factors=None)
    content = {k: v for k, v in plain.to_dict().items()
               if k not in ("threads", "label", "length_factors", "continues")}
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    assert plain.id == hashlib.sha1(blob.encode()).hexdigest()[:12]  # ids of runs stored before the field
    assert len({plain.id, small(length_factors=[2]).id, small(length_factors=[2, 4]).id}) == 3


# -- Task.scaled ------------------------------------------------------------------------------------------------
def test_scaling_keeps_the_load_and_stretches_the_lengths():
    hold = Hold(distance=32, n_items=2).scaled(4)
    assert (hold.distance, hold.n_items, hold.seq_len) == (128, 2, 130)
    induction = Induction(distance=16, prefix=16).scaled(8)
    assert (induction.distance, induction.prefix, induction.seq_len, induction.vocab) == (128, 128, 256, 16)
    lag = Lag(distance=5, scored=11).scaled(3)
    assert (lag.distance, lag.load, lag.seq_len) == (5, 5, 48)
    assert Hold(distance=8).scaled(1) == Hold(distance=8)


@pytest.mark.parametrize("factor", [0, -1, 1.5, True])
def test_a_scale_factor_is_an_int_of_at_least_one(factor):
    for name in TASKS:
        with pytest.raises(TaskParameterError, match="factor"):
            TASKS[name](distance=16).scaled(factor)
