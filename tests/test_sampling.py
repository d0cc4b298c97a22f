"""tasks.sampling.distinct_uniform: exact (uniform over ordered distinct tuples) on both of its paths, and the
main study's batches bit-identical to those of the samplers it replaced."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import TASKS, Batch, Task
from tasks.sampling import RANGE_PER_ITEM, distinct_uniform, uses_rejection


def test_path_choice():
    # the main study's settings keep the permutation (bit-identical batches) ...
    assert not uses_rejection(4, 32) and not uses_rejection(8, 32)  # recall keys: vocab 64, 4 or 8 pairs
    assert not any(uses_rejection(8, d) for d in (8, 16, 32, 64))  # selective-copy positions, 8 data tokens
    # ... and the field's settings draw by rejection
    assert uses_rejection(16, 4096) and uses_rejection(64, 4096)  # Zoology: keys from 8,192 / 2
    assert uses_rejection(16, 4080)  # Mamba's selective copying: 16 of 4,080 positions
    assert not uses_rejection(256, 8192)  # too many collisions: count² > 2 size
    assert uses_rejection(3, 3 * RANGE_PER_ITEM) and not uses_rejection(3, 3 * RANGE_PER_ITEM - 1)


def chi_square_ordered_pairs(draws: torch.Tensor, size: int) -> tuple[float, int]:
    """Pearson's statistic of [N, 2] draws against uniform over the size·(size - 1) ordered distinct pairs, and its
    degrees of freedom. Requires every pair distinct."""
    assert (draws[:, 0] != draws[:, 1]).all()
    counts = torch.bincount(draws[:, 0] * size + draws[:, 1], minlength=size * size).double().view(size, size)
    cells = counts[~torch.eye(size, dtype=torch.bool)]
    expected = draws.shape[0] / cells.numel()
    return ((cells - expected) ** 2 / expected).sum().item(), cells.numel() - 1


def looks_uniform(draws: torch.Tensor, size: int) -> bool:
    """chi² within 6 standard deviations of its mean (normal approximation; false alarm ~1e-9)."""
    statistic, dof = chi_square_ordered_pairs(draws, size)
    return abs(statistic - dof) < 6 * math.sqrt(2 * dof)


@pytest.mark.parametrize("size", [8, 64], ids=["permutation", "rejection"])
def test_pairs_are_uniform_over_ordered_distinct_pairs(size):
    assert uses_rejection(2, size) == (size == 64)
    draws = distinct_uniform(400_000, 2, size, torch.Generator().manual_seed(0))
    assert draws.shape == (400_000, 2) and draws.dtype == torch.long
    assert looks_uniform(draws, size)


def test_the_uniformity_test_rejects_a_near_miss():
    # iid pairs with a collision bumped to the next value: distinct, but (a, a + 1) twice as likely
    g = torch.Generator().manual_seed(0)
    draws = torch.randint(0, 64, (400_000, 2), generator=g)
    draws[:, 1] = torch.where(draws[:, 0] == draws[:, 1], (draws[:, 1] + 1) % 64, draws[:, 1])
    assert not looks_uniform(draws, 64)


@pytest.mark.parametrize(("count", "size"), [(3, 16), (8, 4096)], ids=["permutation", "rejection"])
def test_each_slot_and_value_is_uniform(count, size):
    """The first slot is uniform on [0, size), and each value is drawn with probability count / size (the set is a
    uniform count-subset), both seen through 16 equal bins, within 6 standard deviations."""
    n, bins = 60_000, 16
    draws = distinct_uniform(n, count, size, torch.Generator().manual_seed(1))
    assert uses_rejection(count, size) == (size == 4096)
    expected = n / bins
    first = torch.bincount(draws[:, 0] * bins // size, minlength=bins).double()
    assert ((first - expected).abs() < 6 * math.sqrt(expected)).all()
    every = torch.bincount(draws.flatten() * bins // size, minlength=bins).double()
    assert ((every - count * expected).abs() < 6 * math.sqrt(count * expected)).all()


@settings(max_examples=60, deadline=None, database=None)
@given(st.integers(1, 64).flatmap(lambda count: st.tuples(st.just(count), st.integers(count, 8192))),
       st.integers(1, 64), st.integers(0, 2 ** 31))
def test_always_distinct_and_in_range(count_size, batch_size, seed):
    count, size = count_size
    draws = distinct_uniform(batch_size, count, size, torch.Generator().manual_seed(seed))
    assert draws.shape == (batch_size, count)
    assert (draws >= 0).all() and (draws < size).all()
    assert (draws.sort(dim=1).values.diff(dim=1) > 0).all()


# -- the main study's batches are bit-identical to the samplers distinct_uniform replaced ----------------------------

def recall_before(task: Task, batch_size: int, generator: torch.Generator) -> Batch:
    """Recall.sample as it was before distinct_uniform (keys by argsort over V/2 uniforms)."""
    n, half, shape, dev = task.n_pairs, task.vocab // 2, (batch_size, task.seq_len), generator.device
    keys = torch.rand(batch_size, half, generator=generator, device=dev).argsort(dim=1)[:, :n]
    values = torch.randint(half, task.vocab, (batch_size, n), generator=generator, device=dev)
    weights = (torch.arange(1, task.distance + 1, device=dev, dtype=torch.float64) ** (task.alpha - 1))
    offsets = torch.multinomial(weights.expand(batch_size, -1), n, replacement=False, generator=generator)
    queries = 2 * n + offsets
    inputs = torch.full(shape, task.filler, dtype=torch.long, device=dev)
    inputs[:, 0:2 * n:2] = keys
    inputs[:, 1:2 * n:2] = values
    inputs.scatter_(1, queries, keys)
    targets = torch.zeros(shape, dtype=torch.long, device=dev).scatter_(1, queries, values)
    mask = torch.zeros(shape, dtype=torch.bool, device=dev).scatter_(1, queries, True)
    key_positions = 2 * torch.arange(n, device=dev)
    distance = torch.zeros(shape, dtype=torch.long, device=dev).scatter_(1, queries, queries - key_positions)
    return Batch(inputs, targets, mask, distance, mask.clone())


def selective_copy_before(task: Task, batch_size: int, generator: torch.Generator) -> Batch:
    """SelectiveCopy.sample as it was before distinct_uniform (positions by argsort over the noise region)."""
    d, n, shape, dev = task.distance, task.n_data, (batch_size, task.seq_len), generator.device
    positions = torch.rand(batch_size, d, generator=generator, device=dev).argsort(dim=1)[:, :n].sort(dim=1).values
    data = torch.randint(0, task.vocab, (batch_size, n), generator=generator, device=dev)
    inputs = torch.full(shape, task.noise, dtype=torch.long, device=dev)
    inputs.scatter_(1, positions, data)
    inputs[:, d:] = task.marker
    targets = torch.zeros(shape, dtype=torch.long, device=dev)
    targets[:, d:] = data
    mask = torch.zeros(shape, dtype=torch.bool, device=dev)
    mask[:, d:] = True
    distance = torch.zeros(shape, dtype=torch.long, device=dev)
    distance[:, d:] = torch.arange(d, d + n, device=dev) - positions
    return Batch(inputs, targets, mask, distance, mask.clone())


def copy_before(task: Task, batch_size: int, generator: torch.Generator) -> Batch:
    n, answer = task.n_symbols, task.distance + task.n_symbols
    shape, dev = (batch_size, task.seq_len), generator.device
    symbols = torch.randint(0, task.alphabet, (batch_size, n), generator=generator, device=dev)
    inputs = torch.full(shape, task.blank, dtype=torch.long, device=dev)
    inputs[:, :n] = symbols
    inputs[:, answer - 1] = task.delimiter
    targets = torch.full(shape, task.blank, dtype=torch.long, device=dev)
    targets[:, answer:] = symbols
    mask = torch.zeros(shape, dtype=torch.bool, device=dev)
    mask[:, answer:] = True
    return Batch(inputs, targets, mask, mask.long() * answer, torch.ones(shape, dtype=torch.bool, device=dev))


def lag_before(task: Task, batch_size: int, generator: torch.Generator) -> Batch:
    k, shape, dev = task.distance, (batch_size, task.seq_len), generator.device
    inputs = torch.randint(0, task.vocab, shape, generator=generator, device=dev)
    targets = torch.zeros(shape, dtype=torch.long, device=dev)
    targets[:, k:] = inputs[:, :-k]
    mask = torch.zeros(shape, dtype=torch.bool, device=dev)
    mask[:, k:] = True
    return Batch(inputs, targets, mask, mask.long() * k, mask.clone())


LADDER = (4, 8, 16, 32, 64, 128)
MAIN_STUDY = ([("lag", {"distance": d}, lag_before) for d in LADDER]
              + [("copy", {"distance": d}, copy_before) for d in LADDER]
              + [("selective-copy", {"distance": d}, selective_copy_before) for d in (8, 16, 32, 64)]
              + [("recall", {"distance": d, "n_pairs": p}, recall_before) for d in (16, 32, 64, 128, 256, 512)
                 for p in (4, 8)])


@pytest.mark.parametrize(("name", "params", "before"), MAIN_STUDY,
                         ids=[f"{n}-{'-'.join(map(str, p.values()))}" for n, p, _ in MAIN_STUDY])
def test_main_study_batches_are_bit_identical(name, params, before):
    task = TASKS[name](**params)
    for seed, batch_size in ((0, 32), (12345, 5)):
        now = task.sample(batch_size, torch.Generator().manual_seed(seed))
        then = before(task, batch_size, torch.Generator().manual_seed(seed))
        for field in ("inputs", "targets", "mask", "distance", "loss_mask"):
            assert torch.equal(getattr(now, field), getattr(then, field)), field
