"""The machinery of tasks.checks on inputs whose answers are known: the memoryless-baseline estimators on stub tasks
with a fixed pattern of targets, the densest-window search, the ratio estimator and the sample sizes. (test_tasks.py
runs the checks on the real tasks and on planted bugs; here each estimate must equal its hand-computed value.)"""

import math
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from tasks import Batch, Task
from tasks.checks import (
    CHUNK_TOKENS,
    FIT_SEED,
    RESOLUTION,
    SCORE_SEED,
    SPREAD_MIN_SAMPLES,
    Z,
    baseline_scored_positions,
    batches,
    best_windows,
    check_shapes_and_dtypes,
    check_spread,
    half_batches,
    memoryless_classification,
    memoryless_regression,
    ratio,
    spread_samples,
)
from tasks.rules import Sample, Spread


@dataclass(frozen=True)
class Pattern(Task):
    """Classification stub, L = 2, 3 classes. Sequence b of a batch, by b % 4: 0 answers (2, 0), 1 and 2 answer
    (1, 0), 3 has no scored or loss position. Targets do not depend on the generator."""

    name: ClassVar[str] = "pattern"
    kind: ClassVar[str] = "classification"
    distance: int = 1

    @property
    def seq_len(self) -> int:
        return 2

    @property
    def output_size(self) -> int:
        return 3

    def sample(self, batch_size, generator):
        row = torch.arange(batch_size) % 4
        targets = torch.zeros(batch_size, 2, dtype=torch.long)
        targets[:, 0] = torch.where(row == 0, 2, 1)
        mask = (row != 3)[:, None].expand(-1, 2).clone()
        return Batch(torch.zeros(batch_size, 2, dtype=torch.long), targets, mask, mask.long(), mask.clone())


@dataclass(frozen=True)
class Levels(Task):
    """Regression stub, L = 4, scored at position 1 only (tolerance 1/16). Sequence b, by b % 4: 0 answers 64/128,
    1 answers 66/128, 2 answers 0 when drawn with the fitting seed and 67/128 with the scoring seed, 3 has nothing
    scored."""

    name: ClassVar[str] = "levels"
    kind: ClassVar[str] = "regression"
    tolerance: ClassVar[float] = 1 / 16
    distance: int = 1

    @property
    def seq_len(self) -> int:
        return 4

    def sample(self, batch_size, generator):
        row = torch.arange(batch_size) % 4
        third = 67 / 128 if generator.initial_seed() == SCORE_SEED else 0.0
        value = torch.tensor([64 / 128, 66 / 128, third, 0.0])[row]
        targets = torch.zeros(batch_size, 4)
        targets[:, 1] = value
        mask = torch.zeros(batch_size, 4, dtype=torch.bool)
        mask[:, 1] = row != 3
        return Batch(torch.zeros(batch_size, 4, 2), targets, mask, mask.long(), mask.clone())


def test_memoryless_classification_on_a_known_pattern():
    n = CHUNK_TOKENS // 2  # sequences per batch
    per_batch = 2 * (3 * n // 4)  # scored positions per batch
    scored = 4 * (per_batch + 1)  # the fitting half needs two batches, the scoring half five
    assert len(list(half_batches(Pattern(), FIT_SEED, scored // 4))) == 2
    assert len(list(half_batches(Pattern(), SCORE_SEED, scored))) == 5
    est = memoryless_classification(Pattern(), scored)

    # majority class: 1 at position 0 (right for 2 of the 3 active rows), 0 at position 1 (always right)
    rows = 5 * n // 4  # rows of each kind (b % 4 = 0, 1, 2) over the five scoring batches
    acc = (rows * 1 + 2 * rows * 2) / (3 * rows * 2)
    acc_se = math.sqrt(rows * (1 - 2 * acc) ** 2 + 2 * rows * (2 - 2 * acc) ** 2) / (3 * rows * 2)
    assert acc == pytest.approx(5 / 6)
    assert est["accuracy"] == pytest.approx((acc, acc_se), rel=1e-12)

    # held-out cross-entropy of the frequencies counted on the two fitting batches, plus one half
    counts0, counts1 = [0, n, n // 2], [3 * n // 2, 0, 0]
    q0 = [(c + 0.5) / (sum(counts0) + 1.5) for c in counts0]
    q1 = [(c + 0.5) / (sum(counts1) + 1.5) for c in counts1]
    ce_first, ce_other = -math.log(q0[2]) - math.log(q1[0]), -math.log(q0[1]) - math.log(q1[0])
    above = (rows * ce_first + 2 * rows * ce_other) / (3 * rows * 2)
    loss_se = math.sqrt(rows * (ce_first - 2 * above) ** 2 + 2 * rows * (ce_other - 2 * above) ** 2) / (3 * rows * 2)
    assert est["loss above"] == pytest.approx((above, loss_se), rel=1e-9)

    # plug-in entropy of the targets given the position: (2/3, 1/3) at position 0, certain at position 1
    entropy0 = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert est["loss below"] == pytest.approx((entropy0 / 2, loss_se), rel=1e-9)


def test_memoryless_regression_on_a_known_pattern():
    n = CHUNK_TOKENS // 4
    est = memoryless_regression(Levels(), scored=8)  # one batch per half
    mean = (64 / 128 + 66 / 128 + 0.0) / 3  # per-position mean on the fitting half
    errors = [64 / 128 - mean, 66 / 128 - mean, 67 / 128 - mean]
    mse = sum(e * e for e in errors) / 3
    mse_se = math.sqrt(sum((e * e - mse) ** 2 for e in errors) * n / 4) / (3 * n / 4)
    assert est["loss"] == pytest.approx((mse, mse_se), rel=1e-9)
    # the fitting half's densest window is centred at 59/128: 64/128 and 66/128 are within 1/16 of it, 67/128 is
    # exactly 1/16 away (not within: |error| < tolerance)
    below_se = math.sqrt((1 / 9 + 1 / 9 + 4 / 9) * n / 4) / (3 * n / 4)
    assert est["accuracy below"] == pytest.approx((2 / 3, below_se), rel=1e-9)
    # on the scoring half itself one window holds all three
    assert est["accuracy above"] == pytest.approx((1.0, below_se), rel=1e-9)


def test_best_windows_fine_grid():
    # tolerance 1/16: a grid step of 1/128, windows of 16 steps; position 2 holds no value
    where = torch.tensor([0, 0, 0, 1, 0])
    values = torch.tensor([1.0, 1.5, 1.515625, 2.0, 1.0], dtype=torch.float64)
    centres = best_windows(where, values, length=3, tolerance=1 / 16)
    # from lo = 1: position 0 has bins 0, 0, 64 and 66 (the two at bin 0 win: the first window holding them),
    # position 1 bin 128, the last; the first window [j, j + 16) that holds the most is taken
    assert centres.dtype == torch.float64 and centres.tolist() == [1 + 8 / 128, 1 + (113 + 8) / 128, 1 + 8 / 128]
    centres = best_windows(where[:4], values[:4], length=3, tolerance=1 / 16)
    assert centres.tolist() == [1 + (51 + 8) / 128, 1 + (113 + 8) / 128, 1 + 8 / 128]
    inside = [abs(v - centres[w].item()) < 1 / 16 for w, v in zip(where[:4].tolist(), values[:4].tolist())]
    assert inside == [False, True, True, True]


def test_best_windows_coarse_grid():
    # values spread over 4096: the grid step is 1 (coarser than tolerance / 8), a window one step wide
    where = torch.tensor([0, 0, 0, 1])
    values = torch.tensor([3.0, 10.0, 10.0, 4099.0], dtype=torch.float64)
    assert best_windows(where, values, length=2, tolerance=0.0625).tolist() == [10.5, 4099.5]


def test_ratio_is_the_cluster_estimator():
    r, se = ratio([torch.tensor([1.0, 3.0])], [torch.tensor([2, 2])])
    assert (r, se) == (1.0, pytest.approx(math.sqrt(2) / 4))
    r, se = ratio([torch.tensor([1.0]), torch.tensor([0.0, 2.0])], [torch.tensor([1]), torch.tensor([3, 1])])
    assert r == 0.6 and se == pytest.approx(math.sqrt(0.4 ** 2 + 1.8 ** 2 + 1.4 ** 2) / 5)


def test_baseline_sample_size():
    def expected(a):
        v = min(0.25, (a + RESOLUTION) * (1 - a + RESOLUTION))
        return math.ceil(v * (2 * Z / RESOLUTION) ** 2)

    assert (Z, RESOLUTION) == (5.0, 1 / 16 - 1 / 17)
    assert baseline_scored_positions(1 / 16) == expected(1 / 16) == 460_800  # "0.46 million" in its docstring
    assert baseline_scored_positions(0.5) == math.ceil(0.25 * (2 * Z / RESOLUTION) ** 2) == 1_849_600
    assert baseline_scored_positions(0.0) == expected(0.0) < baseline_scored_positions(1 / 16)


def test_half_batches_stop_once_enough_positions_are_scored():
    task = Pattern()
    per_batch = 2 * (3 * (CHUNK_TOKENS // 2) // 4)
    sizes = [b.mask.shape[0] for b in half_batches(task, 0, per_batch)]
    assert sizes == [CHUNK_TOKENS // 2]
    assert len(list(half_batches(task, 0, per_batch + 1))) == 2

    @dataclass(frozen=True)
    class Long(Pattern):
        @property
        def seq_len(self) -> int:
            return CHUNK_TOKENS + 1  # longer than a chunk: one sequence per batch

        def sample(self, batch_size, generator):
            mask = torch.ones(batch_size, 1, dtype=torch.bool)
            return Batch(mask.long(), mask.long(), mask, mask.long(), mask)

    assert [b.mask.shape[0] for b in half_batches(Long(), 0, 3)] == [1, 1, 1]


def test_batches_draw_exactly_n_samples_in_chunks():
    sizes = [b.mask.shape[0] for b in batches(Levels(), CHUNK_TOKENS // 4 + 5, seed=0)]
    assert sizes == [CHUNK_TOKENS // 4, 5]


def test_spread_sample_count():
    always = Spread("x", Sample.sources, range(5), 1.0)
    assert spread_samples(always) == SPREAD_MIN_SAMPLES == 64
    half = Spread("x", Sample.sources, range(16), 0.5)
    assert math.ceil(math.log(16 / 1e-9) / math.log(2)) == 34
    assert spread_samples(half) == 64  # 34 samples suffice, but never fewer than the minimum
    rare = Spread("x", Sample.sources, range(16), 0.01)
    assert spread_samples(rare) == math.ceil(math.log(16 / 1e-9) / -math.log1p(-0.01)) == 2338
    assert spread_samples(Spread("x", Sample.sources, range(1), 0.01)) == 2062  # fewer values: fewer samples


# -- the contract checks on stub tasks that break one promise each ----------------------------------------------
@dataclass(frozen=True)
class AllScored(Pattern):
    """Pattern with every position of every sequence scored (the shapes check wants one per sequence)."""

    name: ClassVar[str] = "all-scored"

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        every = torch.ones_like(b.mask)
        return Batch(b.inputs, b.targets, every, every.long(), every.clone())


@dataclass(frozen=True)
class FloatTokens(AllScored):
    """AllScored whose token inputs come as float32 of the right shape."""

    name: ClassVar[str] = "float-tokens"

    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return Batch(b.inputs.float(), b.targets, b.mask, b.distance, b.loss_mask)


def test_shapes_check_catches_a_wrong_dtype_at_the_right_shape():
    check_shapes_and_dtypes(AllScored, 1)
    with pytest.raises(AssertionError) as err:
        check_shapes_and_dtypes(FloatTokens, 1)
    assert str(err.value) == "float-tokens: inputs are (5, 2) torch.float32, expected (5, 2) int64"


def declaring(*spreads):
    @dataclass(frozen=True)
    class Declares(Pattern):
        name: ClassVar[str] = "declares"

        def spread(self):
            return list(spreads) if spreads and spreads[0] != "tuple" else tuple(spreads[1:])

    return Declares


@pytest.mark.parametrize("spreads, message", [
    (("tuple", Spread("p", Sample.sources, range(2), 1.0)), "spread() must return a list of tasks.Spread"),
    ((Spread("p", Sample.sources, [0, 1], 1.0),), "'p' needs a non-empty range support and 0 < p_min <= 1"),
    ((Spread("p", Sample.sources, range(0), 1.0),), "'p' needs a non-empty range support and 0 < p_min <= 1"),
    ((Spread("p", Sample.sources, range(2), 0.0),), "'p' needs a non-empty range support and 0 < p_min <= 1"),
    ((Spread("p", Sample.sources, range(2), 1.5),), "'p' needs a non-empty range support and 0 < p_min <= 1"),
])
def test_spread_check_rejects_a_malformed_declaration(spreads, message):
    with pytest.raises(AssertionError) as err:
        check_spread(declaring(*spreads), 1)
    assert message in str(err.value)
