import math

import pytest
import torch

from harness.config.spec import RunSpec
from harness.errors import ReachError
from harness.run.train import TEST, TRAIN, VALIDATION, generator, lr_factor, stream_seed, train


def test_streams_never_overlap_across_seeds():
    seeds = {stream_seed(s, k) for s in range(200) for k in range(4)}
    assert len(seeds) == 800


def test_validation_and_test_batches_differ_from_training():
    task = RunSpec(task="lag", distance=4, learner="tcn").task_obj
    batches = [task.sample(8, generator(0, stream)).inputs for stream in (TRAIN, VALIDATION, TEST)]
    assert not torch.equal(batches[0], batches[1]) and not torch.equal(batches[1], batches[2])


def test_lr_schedule_warmup_then_cosine_to_ten_percent():
    s = RunSpec(task="lag", distance=4, learner="tcn", steps=100, warmup_steps=10)
    assert math.isclose(lr_factor(0, s), 0.1) and math.isclose(lr_factor(9, s), 1.0)
    assert math.isclose(lr_factor(10, s), 1.0) and math.isclose(lr_factor(100, s), 0.1)
    assert lr_factor(55, s) < 1.0
    c = s.replace(schedule="constant")
    assert lr_factor(80, c) == 1.0


def test_same_spec_same_numbers():
    s = RunSpec(task="lag", distance=4, learner="gru", d_model=16, steps=20, eval_every=10, batch_size=8)
    a, b = train(s), train(s)
    for key in ("test_accuracy", "test_loss", "steps_run", "params"):
        assert getattr(a, key) == getattr(b, key)
    assert a.curve[-1]["train_loss"] == b.curve[-1]["train_loss"]


def test_divergence_is_an_outcome_not_a_crash():
    s = RunSpec(task="adding", distance=16, learner="rnn", d_model=16, steps=30, lr=1e30, grad_clip=0.0,
                warmup_steps=0, eval_every=5, batch_size=8)
    r = train(s)
    assert r.outcome == "diverged", r.stop_reason
    assert r.stop_reason.startswith("non-finite") and r.steps_to_solve is None


def test_record_fields():
    r = train(RunSpec(task="copy", distance=4, learner="tcn", d_model=16, steps=10, eval_every=5, batch_size=4))
    assert list(r.test_by_distance) == ["14"]  # copy answers depend on inputs T + 10 back
    correct, total = r.test_by_distance["14"]
    assert total == 16 * 4 * 10  # test batches x batch size x 10 answers
    assert r.test_accuracy == correct / total
    assert r.test_exact_match <= r.test_accuracy  # an all-correct sequence has all 10 answers right
    assert r.baseline_accuracy == 1 / 8 and r.baseline_loss == 10 * math.log(8) / (4 + 20)
    assert [c["step"] for c in r.curve] == [5, 10] and r.steps_run == 10 and r.seq_len == 24 and r.load == 10
    assert r.tokens_per_s == pytest.approx(10 * 4 * 24 / r.train_seconds)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_training_on_gpu_matches_the_contract():
    r = train(RunSpec(task="lag", distance=4, learner="transformer", d_model=16, steps=20, eval_every=10,
                      batch_size=8, device="cuda"))
    assert r.device.startswith("cuda")
    correct, total = r.test_by_distance["4"]
    assert total == 16 * 8 * 32 and r.test_accuracy == correct / total


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where CUDA is missing")
def test_cuda_requested_without_cuda_is_a_clear_error():
    with pytest.raises(ReachError, match="--device cuda"):
        train(RunSpec(task="lag", distance=4, learner="tcn", d_model=8, steps=2, device="cuda"))


def test_training_stops_past_the_threshold_and_records_when_it_was_reached():
    from harness.run.train import stop_level

    s = RunSpec(task="lag", distance=4, learner="tcn", d_model=16, steps=400, eval_every=10, batch_size=16)
    assert stop_level(s) == 0.995
    r = train(s)
    assert r.outcome == "solved", r.test_accuracy
    assert r.curve[-1]["val_accuracy"] >= 0.995 and r.steps_run < 400
    first = next(c["step"] for c in r.curve if c["val_accuracy"] >= 0.99)
    assert r.steps_to_solve == first <= r.steps_run
