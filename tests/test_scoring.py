"""Scoring on models whose answers are known (harness.run.train: evaluate, Scores, and the record's test fields).

Two kinds of model stand in for a learner here:

- an *oracle* that reads the right input: for lag, copy and hold the answer at position t is the input ``back``
  steps earlier (k for lag, T + n for copy, D for hold), for adding it is the sum of the two marked values; it can be
  made wrong at chosen positions (another class, or an answer off by a chosen error);
- a *scripted* model that returns fixed logits, on batches built by hand, so that every count (scored positions,
  loss positions, sequences with nothing scored, per-distance totals) is chosen and known.

Every expected number below is computed by hand from the definitions in the README: accuracy is micro accuracy over
the scored positions, exact match is over sequences that have a scored position, a regression answer is correct when
|error| < task.tolerance (strictly), the loss is the mean over the loss positions (cross-entropy in nats, or squared
error), and ``by_distance`` maps each per-position distance to [correct, scored].
"""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.config.spec import RunSpec
from harness.errors import ReachError
from harness.run.model import build_model, count_parameters
from harness.run.train import (
    MODEL_INIT,
    TEST,
    TRAIN,
    VALIDATION,
    Scores,
    evaluate,
    generator,
    lr_factor,
    resolve_device,
    stop_level,
    stream_seed,
    task_loss,
    train,
)
from tasks import Adding, Batch, Copy, Hold, Lag
from tasks.base import TaskParameterError

SCALE = 5.0  # the logit an oracle gives its answer; every other class gets 0


def ce_right(classes: int) -> float:
    """Cross-entropy (nats) of SCALE·one-hot logits on the right class: log(1 + (C - 1)·e^-SCALE)."""
    return math.log1p((classes - 1) * math.exp(-SCALE))


def ce_wrong(classes: int) -> float:
    """Cross-entropy (nats) of SCALE·one-hot logits on a wrong class: log(e^SCALE + C - 1) - 0."""
    return math.log(math.exp(SCALE) + classes - 1)


class LookBack(nn.Module):
    """Oracle for tasks whose answer at t is the input ``back`` steps earlier (``fill`` before that).

    ``wrong`` lists (sequence, position) pairs where it answers the next class instead, (answer + 1) % classes.
    It records whether it was called in training mode and with gradients enabled (``calls``)."""

    def __init__(self, back: int, classes: int, fill: int = 0, wrong: tuple[tuple[int, int], ...] = ()) -> None:
        super().__init__()
        self.back, self.classes, self.fill, self.wrong = back, classes, fill, wrong
        self.calls: list[bool] = []
        self.seen: list[torch.Tensor] = []

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled()))
        self.seen.append(inputs.clone())
        answer = torch.full_like(inputs, self.fill)
        answer[:, self.back:] = inputs[:, :-self.back]
        for b, t in self.wrong:
            answer[b, t] = (answer[b, t] + 1) % self.classes
        return SCALE * F.one_hot(answer, self.classes).float()


class AddingOracle(nn.Module):
    """Oracle for adding: the sum of the marked values at every position, plus ``error[b]`` for sequence b."""

    def __init__(self, error: list[float] | None = None) -> None:
        super().__init__()
        self.error = error

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        total = (inputs[..., 0] * inputs[..., 1]).sum(dim=1, keepdim=True).expand(-1, inputs.shape[1]).clone()
        if self.error is not None:
            total += torch.tensor(self.error, dtype=total.dtype)[:, None]
        return total[..., None]


class Scripted(nn.Module):
    """Returns the given outputs, one tensor per call, in order (for hand-built batches)."""

    def __init__(self, *outputs: torch.Tensor) -> None:
        super().__init__()
        self.outputs = list(outputs)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.outputs.pop(0)


def sample(task, batch_size=4, seed=0):
    return task.sample(batch_size, torch.Generator().manual_seed(seed))


# -- oracles on real tasks ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("task", "back", "fill", "classes"), [
    (Lag(distance=3, vocab=5, scored=5), 3, 0, 5),
    (Copy(distance=4, n_symbols=3, alphabet=4), 4 + 3, 4, 5),  # blank (= alphabet) before the answer
    (Hold(distance=6, n_items=2, alphabet=4), 6, 0, 4),
])
def test_an_oracle_that_reads_the_right_input_scores_perfectly(task, back, fill, classes):
    batch = sample(task, batch_size=4)
    scores = evaluate(LookBack(back, classes, fill), task, [batch])
    per_sequence = int(batch.mask[0].sum())
    distance = int(batch.distance[batch.mask][0])
    assert scores["accuracy"] == 1.0 and scores["exact_match"] == 1.0
    assert scores["by_distance"] == {str(distance): [4 * per_sequence, 4 * per_sequence]}
    assert scores["loss"] == pytest.approx(ce_right(classes), rel=1e-6)


def test_an_oracle_reading_one_step_too_far_back_is_at_chance():
    task = Lag(distance=3, vocab=4, scored=400)
    scores = evaluate(LookBack(4, 4), task, [sample(task, batch_size=8)])
    assert scores["accuracy"] == pytest.approx(1 / 4, abs=0.03) and scores["exact_match"] == 0.0


def test_lag_oracle_wrong_at_chosen_positions():
    task = Lag(distance=3, vocab=5, scored=5)  # scored positions 3..7 of 8
    wrong = ((0, 3), (0, 7), (2, 5))  # two in sequence 0, one in sequence 2; sequences 1 and 3 all right
    scores = evaluate(LookBack(3, 5, wrong=wrong), task, [sample(task, batch_size=4)])
    assert scores["accuracy"] == 17 / 20
    assert scores["exact_match"] == 2 / 4
    assert scores["by_distance"] == {"3": [17, 20]}
    assert scores["loss"] == pytest.approx((17 * ce_right(5) + 3 * ce_wrong(5)) / 20, rel=1e-6)


def test_a_wrong_answer_outside_the_scored_positions_counts_in_the_loss_only():
    task = Copy(distance=4, n_symbols=3, alphabet=4)  # L = 10; scored 7..9; the loss covers all 10 positions
    wrong = ((1, 2), (1, 8))  # (1, 2) is a blank position: in the loss, not in accuracy
    scores = evaluate(LookBack(7, 5, fill=4, wrong=wrong), task, [sample(task, batch_size=2)])
    assert scores["accuracy"] == 5 / 6 and scores["exact_match"] == 1 / 2
    assert scores["by_distance"] == {"7": [5, 6]}
    assert scores["loss"] == pytest.approx((18 * ce_right(5) + 2 * ce_wrong(5)) / 20, rel=1e-6)


def test_adding_oracle_and_the_tolerance_boundary():
    task = Adding(distance=10)
    assert task.tolerance == 0.04
    batch = sample(task, batch_size=6)
    perfect = evaluate(AddingOracle(), task, [batch])
    assert perfect["accuracy"] == 1.0 and perfect["exact_match"] == 1.0
    assert perfect["loss"] == pytest.approx(0, abs=1e-12)
    # just inside the tolerance counts, just outside does not (a tolerance ten times looser would count all five)
    error = [0.0, 0.039, -0.039, 0.041, -0.041, 0.3]
    scores = evaluate(AddingOracle(error), task, [batch])
    assert scores["accuracy"] == 3 / 6 and scores["exact_match"] == 3 / 6
    assert scores["loss"] == pytest.approx(sum(e * e for e in error) / 6, rel=1e-4)
    distances = [int(d) for d in batch.distance[:, -1]]
    expected: dict[str, list[int]] = {}
    for d, e in zip(distances, error):
        entry = expected.setdefault(str(d), [0, 0])
        entry[0] += abs(e) < 0.04
        entry[1] += 1
    assert scores["by_distance"] == dict(sorted(expected.items(), key=lambda kv: int(kv[0])))


def test_adding_tolerance_is_a_parameter_that_scoring_and_the_baseline_use():
    # Hochreiter & Schmidhuber's criterion: |error| < 0.04 on 0.5 + (x1 + x2)/4 with x = 2u - 1, which is half of
    # reach's sum u1 + u2, so 0.08 on the sum; the literature suite's claim 2 runs at it
    u = torch.rand(1000, 2, dtype=torch.float64)
    paper = 0.5 + ((2 * u - 1).sum(dim=1)) / 4
    assert torch.allclose(paper, u.sum(dim=1) / 2)
    from harness.config.builtin import HOCHREITER_TOLERANCE, literature_tasks
    assert HOCHREITER_TOLERANCE == 2 * 0.04
    adding = [t for t in literature_tasks() if t.get("label") == "adding"]
    assert len(adding) == 1 and adding[0]["params"] == {"tolerance": HOCHREITER_TOLERANCE}
    loose = Adding(distance=10, tolerance=0.08)
    batch = sample(loose, batch_size=6)
    error = [0.0, 0.039, 0.041, -0.079, 0.081, 0.3]
    assert evaluate(AddingOracle(error), loose, [batch])["accuracy"] == 4 / 6
    assert evaluate(AddingOracle(error), Adding(distance=10), [batch])["accuracy"] == 2 / 6
    assert loose.baseline()["accuracy"] == pytest.approx(1 - 0.92 ** 2)
    with pytest.raises(TaskParameterError, match="tolerance must be in"):
        Adding(distance=10, tolerance=0.0)


def test_evaluate_draws_n_batches_from_the_generator():
    task = Lag(distance=2, vocab=4, scored=3)
    oracle = LookBack(2, 4)
    scores = evaluate(oracle, task, gen=generator(5, TEST), n_batches=3, batch_size=5)
    assert scores["by_distance"] == {"2": [45, 45]} and scores["exact_match"] == 1.0
    again = generator(5, TEST)
    for seen in oracle.seen:
        assert torch.equal(seen, task.sample(5, again).inputs)
    # the batch size defaults to 32 sequences
    assert evaluate(LookBack(2, 4), task, gen=generator(0, TEST), n_batches=1)["by_distance"] == {"2": [96, 96]}


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_scores_in_eval_mode_without_gradients_and_restores_the_mode(training):
    task = Lag(distance=2, vocab=4, scored=3)
    oracle = LookBack(2, 4)
    oracle.train(training)
    evaluate(oracle, task, [sample(task), sample(task, seed=1)])
    assert oracle.calls == [(False, False), (False, False)] and oracle.training is training
    assert torch.is_grad_enabled()


# -- hand-built batches -------------------------------------------------------------------------------------------

def hand_batch():
    """Three sequences of four positions, three classes. Sequence 1 has no scored position; the loss covers
    positions that are not scored (and not all of them)."""
    t, f = True, False
    return Batch(inputs=torch.zeros(3, 4, dtype=torch.long),
                 targets=torch.tensor([[0, 1, 2, 0], [1, 1, 1, 1], [2, 0, 1, 2]]),
                 mask=torch.tensor([[f, t, t, t], [f, f, f, f], [t, t, f, f]]),
                 distance=torch.tensor([[0, 2, 5, 2], [0, 0, 0, 0], [5, 2, 0, 0]]),
                 loss_mask=torch.tensor([[t, t, t, t], [t, f, f, f], [t, t, f, f]]))


def logits(pred):
    return SCALE * F.one_hot(torch.tensor(pred), 3).float()


def test_hand_built_batch_every_count():
    # predictions: sequence 0 wrong at position 2 (scored, distance 5); sequence 1 right where the loss looks;
    # sequence 2 right at both scored positions
    out = logits([[0, 1, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0]])
    scores = evaluate(Scripted(out), Lag(distance=2, vocab=3, scored=2), [hand_batch()])
    assert scores["accuracy"] == 4 / 5  # 4 of the 5 scored positions
    assert scores["exact_match"] == 1 / 2  # sequence 2 of the two sequences with a scored position
    assert scores["by_distance"] == {"2": [3, 3], "5": [1, 2]}
    # 7 loss positions, one of them (0, 2) wrong
    assert scores["loss"] == pytest.approx((6 * ce_right(3) + ce_wrong(3)) / 7, rel=1e-6)


def test_hand_built_batches_accumulate_and_distances_come_out_sorted():
    first = logits([[0, 1, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0]])
    t, f = True, False
    second_batch = Batch(inputs=torch.zeros(1, 4, dtype=torch.long), targets=torch.tensor([[1, 1, 2, 0]]),
                         mask=torch.tensor([[t, t, f, f]]), distance=torch.tensor([[1, 7, 0, 0]]),
                         loss_mask=torch.tensor([[t, t, f, f]]))
    second = logits([[2, 1, 0, 0]])  # wrong at distance 1, right at distance 7
    scores = evaluate(Scripted(first, second), Lag(distance=2, vocab=3, scored=2), [hand_batch(), second_batch])
    assert list(scores["by_distance"]) == ["1", "2", "5", "7"]
    assert scores["by_distance"] == {"1": [0, 1], "2": [3, 3], "5": [1, 2], "7": [1, 1]}
    assert scores["accuracy"] == 5 / 7 and scores["exact_match"] == 1 / 3
    assert scores["loss"] == pytest.approx((7 * ce_right(3) + 2 * ce_wrong(3)) / 9, rel=1e-6)


def test_regression_error_equal_to_the_tolerance_is_not_correct():
    tol = torch.tensor(Adding.tolerance, dtype=torch.float32)  # the float32 value the comparison sees
    t, f = True, False
    batch = Batch(inputs=torch.zeros(2, 3, 2), targets=torch.zeros(2, 3),
                  mask=torch.tensor([[f, t, t], [f, f, t]]), distance=torch.tensor([[0, 1, 2], [0, 0, 2]]),
                  loss_mask=torch.tensor([[t, t, t], [f, f, t]]))
    pred = torch.stack([torch.stack([torch.tensor(0.5), tol, -tol * 0.5]), torch.stack([tol, tol, -tol])])
    scores = evaluate(Scripted(pred[..., None]), Adding(distance=3), [batch])
    assert scores["accuracy"] == 1 / 3  # only |error| = tol / 2 counts
    assert scores["exact_match"] == 0.0
    assert scores["by_distance"] == {"1": [0, 1], "2": [1, 2]}
    squared = [0.25, float(tol) ** 2, (float(tol) / 2) ** 2, float(tol) ** 2]  # at the four loss positions
    assert scores["loss"] == pytest.approx(sum(squared) / 4, rel=1e-6)


def test_scores_summary_divides_by_the_counts():
    assert Scores().summary() == {"accuracy": 0.0, "loss": 0.0, "exact_match": 0.0, "by_distance": {}}
    one = Scores(correct=1.0, scored=1, loss_sum=2.5, loss_count=1, exact=1, sequences=1)
    assert one.summary() == {"accuracy": 1.0, "loss": 2.5, "exact_match": 1.0, "by_distance": {}}
    s = Scores(correct=3.0, scored=4, loss_sum=6.0, loss_count=3, exact=1, sequences=2)
    s.by_distance.update({16: [1, 2], 4: [2, 2]})
    assert s.summary() == {"accuracy": 0.75, "loss": 2.0, "exact_match": 0.5, "by_distance": {"4": [2, 2],
                                                                                              "16": [1, 2]}}
    assert list(s.summary()["by_distance"]) == ["4", "16"]


# -- the small functions around the loop --------------------------------------------------------------------------

def test_stream_seeds_follow_the_readme():
    assert (MODEL_INIT, TRAIN, VALIDATION, TEST) == (0, 1, 2, 3)
    assert [stream_seed(3, s) for s in range(4)] == [12, 13, 14, 15]
    assert generator(3, VALIDATION).initial_seed() == 14


def test_stop_level_is_halfway_from_the_threshold_to_one():
    assert stop_level(RunSpec(task="lag", distance=4, learner="tcn")) == pytest.approx(0.995)
    assert stop_level(RunSpec(task="lag", distance=4, learner="tcn", solve_threshold=0.9)) == pytest.approx(0.95)


def test_lr_factor_values():
    s = RunSpec(task="lag", distance=4, learner="tcn", steps=110, warmup_steps=10)
    assert lr_factor(0, s) == pytest.approx(0.1) and lr_factor(4, s) == pytest.approx(0.5)
    assert lr_factor(10, s) == pytest.approx(1.0)
    assert lr_factor(60, s) == pytest.approx(0.55)  # half-way down the cosine: 0.1 + 0.9 * 0.5
    assert lr_factor(110, s) == pytest.approx(0.1) and lr_factor(500, s) == pytest.approx(0.1)
    flat = s.replace(warmup_steps=0)
    assert lr_factor(0, flat) == pytest.approx(1.0) and lr_factor(55, flat) == pytest.approx(0.55)
    assert lr_factor(0, s.replace(steps=10)) == pytest.approx(0.1)  # a budget inside the warm-up
    assert lr_factor(10, s.replace(steps=10)) == pytest.approx(1.0)
    assert lr_factor(11, s.replace(steps=10)) == pytest.approx(0.1)  # past the budget: the floor
    assert lr_factor(3, s.replace(schedule="constant")) == pytest.approx(0.4)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ReachError, match="^--device cuda was asked for but torch sees no CUDA device; use "
                                             "--device cpu or auto$"):
            resolve_device("cuda")


def test_task_loss_is_the_mean_over_the_loss_positions():
    batch = hand_batch()
    out = logits([[0, 1, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0]])
    loss = task_loss(Lag(distance=2, vocab=3, scored=2), out, batch)
    assert float(loss) == pytest.approx((6 * ce_right(3) + ce_wrong(3)) / 7, rel=1e-6)
    reg = Batch(inputs=torch.zeros(1, 3, 2), targets=torch.tensor([[0.0, 1.0, 2.0]]),
                mask=torch.tensor([[False, False, True]]), distance=torch.tensor([[0, 0, 2]]),
                loss_mask=torch.tensor([[False, True, True]]))
    value = task_loss(Adding(distance=3), torch.tensor([[[9.0], [1.5], [1.0]]]), reg)
    assert float(value) == pytest.approx((0.25 + 1.0) / 2)


# -- the record of a trained run ----------------------------------------------------------------------------------

def test_record_test_fields_are_the_test_stream_scores_of_the_trained_model():
    spec = RunSpec(task="copy", distance=3, learner="gru", d_model=8, n_layers=1, steps=6, eval_every=3,
                   batch_size=4, val_batches=1, test_batches=2, seed=1, task_params={"n_symbols": 2})
    record, model = train(spec, return_model=True)
    task = spec.task_obj
    again = evaluate(model, task, gen=generator(1, TEST), n_batches=2, batch_size=4)
    assert record.test_accuracy == again["accuracy"] and record.test_loss == again["loss"]
    assert record.test_exact_match == again["exact_match"] and record.test_by_distance == again["by_distance"]
    assert record.test_by_distance == {"5": [record.test_by_distance["5"][0], 2 * 4 * 2]}  # T + n back, 16 scored
    assert record.baseline_accuracy == task.baseline()["accuracy"] == 1 / 8
    assert record.baseline_loss == task.baseline()["loss"] == pytest.approx(2 * math.log(8) / 7)
    assert record.outcome == ("solved" if record.test_accuracy >= 0.99 else "unsolved")
    assert (record.steps_run, record.seq_len, record.load, record.d_model) == (6, 7, 2, 8)
    assert record.params == count_parameters(model) and record.learner_params == count_parameters(model.learner)
    assert [c["step"] for c in record.curve] == [3, 6]
    assert record.tokens_per_s == pytest.approx(6 * 4 * 7 / record.train_seconds)
    assert record.stop_reason == "step budget" and record.device == "cpu"


def test_param_budget_solves_the_widest_multiple_of_eight_within_the_budget():
    spec = RunSpec(task="lag", distance=4, learner="gru", n_layers=1, steps=2, eval_every=2, batch_size=4,
                   val_batches=1, test_batches=1)
    task = spec.task_obj

    def params(width):
        return count_parameters(build_model(task, "gru", width, 1, {}))

    budget = params(24) + 100  # between the counts at widths 24 and 32
    assert params(32) > budget
    record = train(spec.replace(param_budget=budget))
    assert record.d_model == 24 and record.params == params(24) <= budget
    assert train(spec.replace(param_budget=params(40)).replace(d_model=8)).d_model == 40  # exactly on budget
    with pytest.raises(ReachError, match="param_budget 10 is too small for gru"):
        train(spec.replace(param_budget=10))


def test_max_seconds_stops_early_and_says_why():
    spec = RunSpec(task="lag", distance=4, learner="gru", d_model=8, n_layers=1, steps=1000, eval_every=500,
                   batch_size=4, val_batches=1, test_batches=1, max_seconds=0.001)
    record = train(spec)
    assert record.steps_run == 1 and record.stop_reason == "time budget of 0.001 s"
    assert record.outcome in ("solved", "unsolved") and record.curve == []


@dataclasses.dataclass(frozen=True)
class RecordingBatch(Batch):
    """A batch that notes the device evaluate moves it to."""

    moved_to: list = dataclasses.field(default_factory=list)

    def to(self, device):
        self.moved_to.append(device)
        return super().to(device)


def test_evaluate_moves_batches_to_the_device_cpu_by_default():
    task = Lag(distance=2, vocab=4, scored=3)
    plain = sample(task)
    batch = RecordingBatch(plain.inputs, plain.targets, plain.mask, plain.distance, plain.loss_mask)
    evaluate(LookBack(2, 4), task, [batch])
    evaluate(LookBack(2, 4), task, [batch], device=torch.device("cpu"))
    assert batch.moved_to == [torch.device("cpu"), torch.device("cpu")]
    assert all(type(d) is torch.device for d in batch.moved_to)


def test_nothing_to_score_gives_the_empty_summary():
    task = Lag(distance=2, vocab=4, scored=3)
    empty = {"accuracy": 0.0, "loss": 0.0, "exact_match": 0.0, "by_distance": {}}
    assert evaluate(LookBack(2, 4), task, []) == empty
    assert evaluate(LookBack(2, 4), task, gen=generator(0, TEST)) == empty  # n_batches defaults to 0


def test_regression_scores_accumulate_over_batches():
    task = Adding(distance=10)
    first, second = sample(task, batch_size=3, seed=0), sample(task, batch_size=2, seed=1)
    errors = [[0.01, 0.2, -0.03], [0.5, 0.0]]

    class PerBatch(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, inputs):
            out = AddingOracle(errors[self.calls])(inputs)
            self.calls += 1
            return out

    scores = evaluate(PerBatch(), task, [first, second])
    flat = errors[0] + errors[1]
    assert scores["accuracy"] == 3 / 5 and scores["exact_match"] == 3 / 5
    assert scores["loss"] == pytest.approx(sum(e * e for e in flat) / 5, rel=1e-4)
    assert sum(total for _, total in scores["by_distance"].values()) == 5
