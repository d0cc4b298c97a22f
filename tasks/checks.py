"""Common checks every task must pass, after scikit-learn's ``check_estimator`` (the twin of learners/checks.py).

``check_task(MyTask, **params)`` runs them all at distances 4, 16 and 40 (pass ``distances=(...)`` or one
``distance=...`` when the task needs others); each ``check_*`` function can also run alone and raises
AssertionError saying what broke. ``params`` are the task's own parameters (everything but the distance).
Use it in your own tests for a task reach does not ship::

    from tasks.checks import check_task
    def test_my_task():
        check_task(MyTask, vocab=32)

What is checked: the declarations (name, summary, kind, a frozen dataclass whose first field is
``distance``, vocabulary xor features, output size, baseline, load), batch shapes and dtypes, value ranges
(tokens inside the vocabulary, class targets inside the output size), the mask/distance contract (distance
> 0 exactly at scored positions, every dependency inside the sequence, loss positions cover the scored
ones), determinism under the generator passed in, no use of the global RNG, parameter validation, and ``scaled``
(same vocabulary and load, a longer sequence). Then the
science, by sampling with fixed seeds, each with its false-alarm rate (the probability that a correct task fails)
in its docstring:

- ``check_rule``: every sample follows the task's own ``rule`` (its layout, every scored target, and the true
  dependency at t - distance[t]). A correct task never fails it.
- ``check_spread``: the dependencies cover the range the task documents (``spread()``), e.g. every bin of the
  source positions is hit. P(a correct task fails) < 1e-9 per declared spread.
- ``check_baseline``: the declared memoryless baseline matches a Monte-Carlo estimate of the best predictor that
  knows the position but not the content, within 5 standard errors, on enough samples to tell an accuracy of
  1/16 from 1/17. P(a correct task fails) ~ 1e-6 (normal approximation).

Since every sample is drawn from fixed seeds, the checks are deterministic: a task passes or fails them every time.
check_baseline is the slow one: up to a few seconds per distance (about 10^5-10^6 scored positions).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from tasks.base import Batch, Task, TaskParameterError
from tasks.rules import Spread

DISTANCES = (4, 16, 40)
BATCH = 64
KINDS = ("classification", "regression")


def build(cls: type[Task], distance: int, **params: Any) -> Task:
    """``cls.from_params(distance=distance, **params)``; a parameter error becomes an AssertionError that
    says which distance and parameters the task refused (pass others to check_task)."""
    try:
        return cls.from_params(distance=distance, **params)
    except TaskParameterError as exc:
        raise AssertionError(f"{cls.__name__}: cannot build at distance {distance} with {params} ({exc}); "
                             f"pass distances=... or parameters valid there") from None


def sample(task: Task, batch_size: int = BATCH, seed: int = 0) -> Batch:
    return task.sample(batch_size, torch.Generator().manual_seed(seed))


def same(a: Batch, b: Batch) -> bool:
    return all(torch.equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(Batch))


def check_declarations(cls: type[Task], distance: int, **params: Any) -> None:
    """name, summary, kind; a frozen dataclass whose first field is distance; vocab xor features; output size;
    the baseline; load, rule and spread declared, load an int >= 1 (equal to load_param when declared); from_params
    round trip; length_param consistent with seq_len."""
    label = cls.name or cls.__name__
    assert cls.name, f"{cls.__name__}: set the class attribute 'name'"
    assert cls.summary and "\n" not in cls.summary, f"{label}: 'summary' must be one non-empty line"
    assert cls.kind in KINDS, f"{label}: kind {cls.kind!r} is not one of {KINDS}"
    assert dataclasses.is_dataclass(cls), f"{label}: a task must be a @dataclass(frozen=True)"
    assert dataclasses.fields(cls)[0].name == "distance", f"{label}: the first field must be 'distance'"
    task = build(cls, distance, **params)
    try:
        task.distance = distance + 1  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError(f"{label}: task objects must be immutable (@dataclass(frozen=True))")
    assert type(task.seq_len) is int and task.seq_len >= task.distance, \
        f"{label}: seq_len {task.seq_len!r} must be an int >= distance {task.distance}"
    if task.kind == "regression":
        assert task.output_size == 1, f"{label}: a regression task has output_size 1, got {task.output_size}"
        assert task.tolerance > 0, f"{label}: a regression task needs a tolerance > 0 (what counts as correct)"
    else:
        assert type(task.output_size) is int and task.output_size >= 2, \
            f"{label}: a classification task needs output_size >= 2, got {task.output_size!r}"
    assert (task.input_vocab is None) != (task.n_features is None), \
        f"{label}: declare exactly one of input_vocab (token inputs) and n_features (float inputs)"
    base = task.baseline()
    assert isinstance(base, dict) and set(base) == {"accuracy", "loss"}, \
        f"{label}: baseline() must return {{'accuracy': ..., 'loss': ...}}, got {base!r}"
    assert 0 <= base["accuracy"] <= 1 and math.isfinite(base["loss"]) and base["loss"] >= 0, \
        f"{label}: baseline accuracy must be in [0, 1] and loss finite and >= 0, got {base}"
    for what in ("load", "rule", "spread"):
        assert getattr(cls, what) is not getattr(Task, what), \
            f"{label}: declare '{what}' (tasks.base.Task says what it means; check_task verifies it)"
    assert type(task.load) is int and task.load >= 1, \
        f"{label}: load (items held at once across the gap) must be an int >= 1, got {task.load!r}"
    if cls.load_param is not None:
        assert cls.load_param in task.params(), f"{label}: load_param '{cls.load_param}' is not a parameter"
        assert task.load == task.params()[cls.load_param], \
            f"{label}: with load_param '{cls.load_param}', load must equal it ({task.load} != " \
            f"{task.params()[cls.load_param]})"
    assert cls.from_params(**task.params()) == task, f"{label}: from_params(**task.params()) is not the same task"
    if cls.length_param is not None:
        assert cls.length_param in task.params(), f"{label}: length_param '{cls.length_param}' is not a field"
        assert task.seq_len == task.distance + task.params()[cls.length_param], \
            f"{label}: with length_param '{cls.length_param}', seq_len must be distance + {cls.length_param}"


def check_shapes_and_dtypes(cls: type[Task], distance: int, **params: Any) -> None:
    """inputs [B, L] long (or [B, L, F] float32), targets [B, L] long (float32 for regression), mask, loss_mask
    bool and distance long [B, L]; every sequence has a scored position."""
    task = build(cls, distance, **params)
    label = cls.name
    b = sample(task, batch_size=5)
    shape = (5, task.seq_len)
    assert isinstance(b, Batch), f"{label}: sample() must return a tasks.Batch, got {type(b).__name__}"
    if task.n_features:
        assert tuple(b.inputs.shape) == (*shape, task.n_features) and b.inputs.dtype == torch.float32, \
            f"{label}: inputs are {tuple(b.inputs.shape)} {b.inputs.dtype}, expected {(*shape, task.n_features)} " \
            f"float32"
    else:
        assert tuple(b.inputs.shape) == shape and b.inputs.dtype == torch.long, \
            f"{label}: inputs are {tuple(b.inputs.shape)} {b.inputs.dtype}, expected {shape} int64"
    want = torch.float32 if task.kind == "regression" else torch.long
    assert tuple(b.targets.shape) == shape and b.targets.dtype == want, \
        f"{label}: targets are {tuple(b.targets.shape)} {b.targets.dtype}, expected {shape} {want}"
    for name, dtype in (("mask", torch.bool), ("loss_mask", torch.bool), ("distance", torch.long)):
        t = getattr(b, name)
        assert tuple(t.shape) == shape and t.dtype == dtype, \
            f"{label}: {name} is {tuple(t.shape)} {t.dtype}, expected {shape} {dtype}"
    assert b.mask.any(dim=1).all(), f"{label}: every sequence needs at least one scored position"


def check_values_and_distance(cls: type[Task], distance: int, **params: Any) -> None:
    """Tokens inside the vocabulary, class targets inside the output size, finite values; distance > 0 exactly
    at scored positions (0 elsewhere), every dependency inside the sequence (distance <= position), and the
    loss positions cover the scored ones."""
    task = build(cls, distance, **params)
    label = cls.name
    b = sample(task, batch_size=BATCH)
    if task.input_vocab is not None:
        lo, hi = int(b.inputs.min()), int(b.inputs.max())
        assert lo >= 0 and hi < task.input_vocab, \
            f"{label}: input tokens span [{lo}, {hi}], outside [0, input_vocab={task.input_vocab})"
    else:
        assert torch.isfinite(b.inputs).all(), f"{label}: non-finite input features"
    if task.kind == "classification":
        lo, hi = int(b.targets.min()), int(b.targets.max())
        assert lo >= 0 and hi < task.output_size, \
            f"{label}: targets span [{lo}, {hi}], outside [0, output_size={task.output_size})"
    else:
        assert torch.isfinite(b.targets).all(), f"{label}: non-finite regression targets"
    assert torch.equal(b.distance > 0, b.mask), f"{label}: distance must be > 0 exactly at scored (mask) positions"
    assert (b.distance[~b.mask] == 0).all(), f"{label}: distance must be 0 at unscored positions"
    positions = torch.arange(task.seq_len).expand_as(b.mask)
    assert (b.distance[b.mask] <= positions[b.mask]).all(), \
        f"{label}: a scored position's distance points before the start of the sequence"
    assert (b.loss_mask | ~b.mask).all(), f"{label}: every scored position must also be a loss position"


def check_deterministic(cls: type[Task], distance: int, **params: Any) -> None:
    """The same generator seed gives the same batch; another seed gives another batch."""
    task = build(cls, distance, **params)
    assert same(sample(task, seed=3), sample(task, seed=3)), \
        f"{cls.name}: two samples from generators with the same seed differ (global RNG or other state used?)"
    assert not same(sample(task, seed=3), sample(task, seed=4)), \
        f"{cls.name}: samples from generators with different seeds are identical (is the generator used?)"


def check_no_global_rng(cls: type[Task], distance: int, **params: Any) -> None:
    """Sampling reads only the generator passed in: the global RNG neither changes the batch nor is advanced."""
    task = build(cls, distance, **params)
    state = torch.get_rng_state()
    try:
        torch.manual_seed(0)
        a = sample(task, seed=7)
        torch.manual_seed(1)
        b = sample(task, seed=7)
        assert same(a, b), f"{cls.name}: the batch depends on the global RNG (torch.manual_seed changed it)"
        before = torch.get_rng_state()
        sample(task, seed=7)
        assert torch.equal(before, torch.get_rng_state()), f"{cls.name}: sample() advanced the global RNG"
    finally:
        torch.set_rng_state(state)


def check_rejects_bad_parameters(cls: type[Task], distance: int, **params: Any) -> None:
    """An unknown parameter, distance 0 and batch_size 0 raise TaskParameterError naming the culprit."""
    cases = [("distanse", lambda: cls.from_params(distanse=distance, **params)),
             ("distance", lambda: cls.from_params(distance=0, **params)),
             ("batch_size", lambda: build(cls, distance, **params).sample(0, torch.Generator()))]
    for culprit, call in cases:
        try:
            call()
        except TaskParameterError as exc:
            assert culprit in str(exc), f"{cls.name}: the error for a bad '{culprit}' does not name it: {exc}"
        else:
            raise AssertionError(f"{cls.name}: accepted a bad '{culprit}' without a TaskParameterError")


RULE_SAMPLES = 256
RULE_SEED = 5


def check_rule(cls: type[Task], distance: int, **params: Any) -> None:
    """Every one of RULE_SAMPLES samples follows the task's ``rule``: its layout, every scored target, and the
    dependency of every scored position t lying exactly at t - distance[t].

    P(a correct task fails) = 0: a rule states what every sample must satisfy. A bug that shows in a fraction q
    of samples escapes with probability (1 - q)^256 (below 1e-9 for q >= 0.08)."""
    task = build(cls, distance, **params)
    for i, one in enumerate(sample(task, RULE_SAMPLES, seed=RULE_SEED).samples()):
        problems = task.rule(one)
        assert isinstance(problems, list), f"{cls.name}: rule() must return a list of problems, got {problems!r}"
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise AssertionError(f"{cls.name} at distance {distance}: sample {i} breaks the task's rule: "
                                 f"{'; '.join(map(str, problems[:3]))}{more}")


def check_scaled(cls: type[Task], distance: int, **params: Any) -> None:
    """``scaled(1)`` is the task; ``scaled(2)`` (unless it raises TaskParameterError: the task cannot scale) is a
    task of the same class with the same kind, vocabulary, outputs and load, longer but at most twice as long, whose
    samples follow its rule: a model trained on the task can be scored on it."""
    task = build(cls, distance, **params)
    try:
        longer = task.scaled(2)
    except TaskParameterError:
        return
    assert task.scaled(1) == task, f"{cls.name}: scaled(1) is not the task itself"
    kept = ("kind", "input_vocab", "n_features", "output_size", "load")
    changed = [k for k in kept if getattr(longer, k) != getattr(task, k)]
    assert type(longer) is cls and not changed, f"{cls.name}: scaled(2) changes {changed or 'the class'}"
    assert task.seq_len < longer.seq_len <= 2 * task.seq_len, \
        f"{cls.name}: scaled(2) has length {longer.seq_len}, not in ({task.seq_len}, {2 * task.seq_len}]"
    bad = [p for one in sample(longer, BATCH, seed=RULE_SEED).samples() for p in longer.rule(one)]
    assert not bad, f"{cls.name}: scaled(2) samples break its rule: {'; '.join(map(str, bad[:3]))}"


SPREAD_FALSE_ALARM = 1e-9
SPREAD_MIN_SAMPLES = 64
SPREAD_MAX_SAMPLES = 1 << 17
SPREAD_SEED = 6
CHUNK_TOKENS = 1 << 20  # tokens per sampled batch in the long checks: memory stays ~100 MB


def batches(task: Task, n_samples: int, seed: int) -> Iterator[Batch]:
    """n_samples samples from one generator seeded ``seed``, in batches of about CHUNK_TOKENS tokens."""
    generator = torch.Generator().manual_seed(seed)
    size = max(1, CHUNK_TOKENS // task.seq_len)
    for start in range(0, n_samples, size):
        yield task.sample(min(size, n_samples - start), generator)


def spread_samples(spread: Spread) -> int:
    """Samples for which a correct task misses a value of ``spread.support`` with probability < 1e-9: each value
    is missed by all N samples with probability at most (1 - p_min)^N, so N >= ln(|support| / 1e-9) / -ln(1 - p_min)
    (union bound over the values)."""
    if spread.p_min >= 1:
        return SPREAD_MIN_SAMPLES
    n = math.log(len(spread.support) / SPREAD_FALSE_ALARM) / -math.log1p(-spread.p_min)
    return max(SPREAD_MIN_SAMPLES, math.ceil(n))


def check_spread(cls: type[Task], distance: int, **params: Any) -> None:
    """Each of the task's ``spread()`` declarations holds: over enough samples every value of its support occurs
    and no other value ever does (e.g. induction's first trigger hits every bin of [0, prefix), recall's queries
    are not always in key order).

    P(a correct task fails) < 1e-9 per declaration: the sample count comes from the declared p_min
    (``spread_samples``). An impossible value fails outright (no false alarm)."""
    task = build(cls, distance, **params)
    spreads = task.spread()
    assert isinstance(spreads, list) and all(isinstance(s, Spread) for s in spreads), \
        f"{cls.name}: spread() must return a list of tasks.Spread, got {spreads!r}"
    for spread in spreads:
        assert isinstance(spread.support, range) and len(spread.support) > 0 and 0 < spread.p_min <= 1, \
            f"{cls.name}: spread '{spread.name}' needs a non-empty range support and 0 < p_min <= 1, got {spread}"
        n = spread_samples(spread)
        assert n <= SPREAD_MAX_SAMPLES, \
            f"{cls.name}: spread '{spread.name}' needs {n:,} samples (p_min {spread.p_min:.2g}); bin its values"
        seen: set[int] = set()
        for batch in batches(task, n, seed=SPREAD_SEED):
            for one in batch.samples():
                seen.update(spread.values(one))
        outside = sorted(seen.difference(spread.support))
        assert not outside, f"{cls.name} at distance {distance}: {spread.name} took {outside[:5]}, outside its " \
                            f"documented {spread.support}"
        missing = sorted(set(spread.support).difference(seen))
        assert not missing, \
            f"{cls.name} at distance {distance}: the dependencies do not spread over their documented range: " \
            f"{spread.name} never took {missing[:8]}{' ...' if len(missing) > 8 else ''} of {spread.support} " \
            f"in {n:,} samples (a correct task misses one with probability < 1e-9)"


# -- the memoryless baseline ---------------------------------------------------------------------------------------

Z = 5.0  # standard errors a correct baseline may stray: P ~ 5.7e-7 two-sided, 2.9e-7 one-sided (normal approx.)
RESOLUTION = 1 / 16 - 1 / 17  # an accuracy off by this much is caught: 1/(V+1) declared for 1/V at V = 16
BASELINE_MAX_TOKENS = 1 << 26  # per half; past it the check runs on what it has, with a wider tolerance
FIT_SEED, SCORE_SEED = 7, 8


def baseline_scored_positions(accuracy: float) -> int:
    """Scored positions per half that put an accuracy off by RESOLUTION 2·Z standard errors out: SE = sqrt(v / M)
    <= RESOLUTION / (2·Z), with v = (a + R)(1 - a + R) >= a'(1 - a') for every a' within R = RESOLUTION of the
    declared a (so it holds whichever is true). At a = 1/16: M = 0.46 million."""
    a = accuracy
    v = min(0.25, (a + RESOLUTION) * (1 - a + RESOLUTION))
    return math.ceil(v * (2 * Z / RESOLUTION) ** 2)


def half_batches(task: Task, seed: int, scored: int) -> Iterator[Batch]:
    """Batches of about CHUNK_TOKENS tokens from a generator seeded ``seed`` until they hold ``scored`` scored
    positions (or BASELINE_MAX_TOKENS tokens)."""
    generator = torch.Generator().manual_seed(seed)
    size = max(1, CHUNK_TOKENS // task.seq_len)
    seen = tokens = 0
    while seen < scored and tokens < BASELINE_MAX_TOKENS:
        batch = task.sample(size, generator)
        seen += int(batch.mask.sum())
        tokens += batch.mask.numel()
        yield batch


def ratio(numerators: list[torch.Tensor], denominators: list[torch.Tensor]) -> tuple[float, float]:
    """sum(x) / sum(n) over per-sample totals, and its standard error: the ratio (cluster) estimator, which needs
    the samples independent but not the positions within one."""
    x, n = torch.cat(numerators).double(), torch.cat(denominators).double()
    r = x.sum() / n.sum()
    return r.item(), (((x - r * n) ** 2).sum().sqrt() / n.sum()).item()


def best_windows(where: torch.Tensor, values: torch.Tensor, length: int, tolerance: float) -> torch.Tensor:
    """[length] float64: per position, a centre c that maximises the count of ``values`` (at positions ``where``)
    inside (c - tolerance, c + tolerance), searched on a grid of step tolerance / 8 (coarser past 4096 steps)."""
    lo, hi = values.min().item(), values.max().item()
    step = max(tolerance / 8, (hi - lo) / 4096)
    n = int((hi - lo) / step) + 1
    cells = where * n + ((values - lo) / step).long().clamp(0, n - 1)
    hist = torch.bincount(cells, minlength=length * n).view(length, n)
    width = min(n, max(1, round(2 * tolerance / step)))
    cumulative = torch.nn.functional.pad(hist.cumsum(dim=1), (1, 0))
    start = (cumulative[:, width:] - cumulative[:, :-width]).argmax(dim=1)  # counts in bins [j, j + width)
    return lo + (start.double() + width / 2) * step


def scored_cells(mask: torch.Tensor, targets: torch.Tensor, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, position · classes + target) at every True of ``mask``: the per-position class histograms' cells."""
    rows, cols = mask.nonzero(as_tuple=True)
    return rows, cols * classes + targets[rows, cols]


def memoryless_classification(task: Task, scored: int) -> dict[str, tuple[float, float]]:
    """(estimate, standard error) of the memoryless predictor's accuracy and of bounds on its cross-entropy. The
    predictor (majority class and smoothed class frequencies at each position) is chosen on a fitting half of
    scored / 4 positions and scored on another of ``scored``, so no empirical maximum biases the scores upwards.

    "accuracy": the majority class's accuracy over scored positions. "loss above": the held-out cross-entropy of
    the frequencies (add 1/2), which no memoryless predictor beats in expectation. "loss below": the plug-in
    entropy of the targets given the position on the scoring half: by concavity H(p_hat) <= H(p) + a linear term
    whose spread the held-out per-sample losses estimate."""
    length, classes = task.seq_len, task.output_size
    cells = length * classes
    fit_scored = torch.zeros(cells, dtype=torch.float64)
    fit_loss = torch.zeros(cells, dtype=torch.float64)
    for b in half_batches(task, FIT_SEED, scored // 4):
        fit_scored += torch.bincount(scored_cells(b.mask, b.targets, classes)[1], minlength=cells)
        fit_loss += torch.bincount(scored_cells(b.loss_mask, b.targets, classes)[1], minlength=cells)
    guess = fit_scored.view(length, classes).argmax(dim=1)  # [L] the majority class
    counts = fit_loss.view(length, classes)
    log_q = ((counts + 0.5) / (counts.sum(dim=1, keepdim=True) + 0.5 * classes)).log().flatten()  # never log 0
    hits, n_scored, cross_entropy, n_loss = [], [], [], []
    score_loss = torch.zeros(cells, dtype=torch.float64)
    for b in half_batches(task, SCORE_SEED, scored):
        batch_size = b.mask.shape[0]
        rows, cell = scored_cells(b.mask, b.targets, classes)
        hit = cell % classes == guess[cell // classes]  # the target is the majority class of its position
        hits.append(torch.bincount(rows, weights=hit.double(), minlength=batch_size))
        n_scored.append(torch.bincount(rows, minlength=batch_size))
        rows, cell = scored_cells(b.loss_mask, b.targets, classes)
        cross_entropy.append(torch.bincount(rows, weights=-log_q[cell], minlength=batch_size))
        n_loss.append(torch.bincount(rows, minlength=batch_size))
        score_loss += torch.bincount(cell, minlength=cells)
    accuracy = ratio(hits, n_scored)
    above, loss_se = ratio(cross_entropy, n_loss)
    per_position = score_loss.view(length, classes)
    total = per_position.sum(dim=1)
    p = per_position / total.clamp(min=1)[:, None]
    entropy = -(p * p.clamp(min=1e-300).log()).sum(dim=1)  # [L]
    below = ((total * entropy).sum() / total.sum()).item()
    return {"accuracy": accuracy, "loss above": (above, loss_se), "loss below": (below, loss_se)}


def memoryless_regression(task: Task, scored: int) -> dict[str, tuple[float, float]]:
    """(estimate, standard error) of the memoryless predictor's MSE and of bounds on its accuracy: the
    per-position mean of the targets (MSE) and the per-position centre of the densest window of width
    2·tolerance (accuracy: |error| < tolerance).

    "loss": the held-out MSE of the means chosen on a fitting half (scored / 4 positions; their error adds a
    relative 1/count, negligible). "accuracy below": the held-out accuracy of the centres chosen on the fitting half
    (a centre is a continuous choice, found only near its best: a lower bound). "accuracy above": the centres
    chosen and scored on the scoring half (an empirical maximum: an upper bound)."""
    length = task.seq_len
    sums = torch.zeros(length, dtype=torch.float64)
    counts = torch.zeros(length, dtype=torch.float64)
    where, values = [], []
    for b in half_batches(task, FIT_SEED, scored // 4):
        rows, cols = b.loss_mask.nonzero(as_tuple=True)
        sums += torch.bincount(cols, weights=b.targets[rows, cols].double(), minlength=length)
        counts += torch.bincount(cols, minlength=length)
        rows, cols = b.mask.nonzero(as_tuple=True)
        where.append(cols)
        values.append(b.targets[rows, cols].double())
    mean = sums / counts.clamp(min=1)
    centre = best_windows(torch.cat(where), torch.cat(values), length, task.tolerance)
    hits, n_scored, squared, n_loss, where, values = [], [], [], [], [], []
    for b in half_batches(task, SCORE_SEED, scored):
        batch_size = b.mask.shape[0]
        rows, cols = b.mask.nonzero(as_tuple=True)
        targets = b.targets[rows, cols].double()
        hit = (targets - centre[cols]).abs() < task.tolerance
        hits.append(torch.bincount(rows, weights=hit.double(), minlength=batch_size))
        n_scored.append(torch.bincount(rows, minlength=batch_size))
        where.append(cols)
        values.append(targets)
        rows, cols = b.loss_mask.nonzero(as_tuple=True)
        error = b.targets[rows, cols].double() - mean[cols]
        squared.append(torch.bincount(rows, weights=error ** 2, minlength=batch_size))
        n_loss.append(torch.bincount(rows, minlength=batch_size))
    where, values = torch.cat(where), torch.cat(values)
    in_sample = best_windows(where, values, length, task.tolerance)
    best = ((values - in_sample[where]).abs() < task.tolerance).double().mean().item()
    below = ratio(hits, n_scored)
    return {"loss": ratio(squared, n_loss), "accuracy below": below, "accuracy above": (best, below[1])}


def check_baseline(cls: type[Task], distance: int, **params: Any) -> None:
    """``baseline()`` matches a Monte-Carlo estimate of the memoryless predictor: the best predictor that knows
    each position (and so the layout) but not the content. The predictor is chosen on one half of the samples and
    scored on the other (``memoryless_classification``, ``memoryless_regression``), and the declared value must lie
    within Z = 5 standard errors of the estimate, or of the bound that brackets it where an estimate is biased:
    classification accuracy two-sided; cross-entropy between the plug-in entropy of the targets given the position
    (below) and the held-out cross-entropy of their frequencies (above); regression MSE two-sided; regression
    accuracy between the held-out accuracy of the chosen centres (below) and the in-sample best (above).

    Sample size: enough scored positions that an accuracy off by 1/16 - 1/17 lies 10 SE out
    (``baseline_scored_positions``), so declaring 1/(V+1) for 1/V at V = 16 fails with probability 1 - 3e-7.
    P(a correct task fails) ~ 1.2e-6 (normal approximation; three 5-SE comparisons). For classification accuracy
    this assumes the predictor chosen on the first half is the best one, as it is where each position has exact
    ties (uniform targets, every built-in task) or a clear mode. A task whose baseline assumes more than the
    position (e.g. a predictor that sees the current token) should skip this check."""
    task = build(cls, distance, **params)
    label = f"{cls.name} at distance {distance}"
    declared = task.baseline()
    scored = baseline_scored_positions(declared["accuracy"])
    if task.kind == "regression":
        est = memoryless_regression(task, scored)
        checks = [("accuracy", est["accuracy below"], "at least"), ("accuracy", est["accuracy above"], "at most"),
                  ("loss (MSE)", est["loss"], "two-sided")]
    else:
        est = memoryless_classification(task, scored)
        checks = [("accuracy", est["accuracy"], "two-sided"),
                  ("loss (cross-entropy)", est["loss above"], "at most"),
                  ("loss (cross-entropy)", est["loss below"], "at least")]
    for what, (value, se), side in checks:
        claim = declared[what.split()[0]]
        slack = Z * se + 1e-9
        wrong = {"two-sided": abs(claim - value) > slack, "at most": claim > value + slack,
                 "at least": claim < value - slack}[side]
        bound = {"two-sided": "", "at most": " (an upper bound)", "at least": " (a lower bound)"}[side]
        assert not wrong, \
            f"{label}: the memoryless baseline {what} is declared {claim:.5g}, but a predictor that knows the " \
            f"position scores {value:.5g}{bound} ± {se:.2g} (SE); allowed: {Z:g} SE"


CHECKS = (check_declarations, check_shapes_and_dtypes, check_values_and_distance, check_deterministic,
          check_no_global_rng, check_rejects_bad_parameters, check_rule, check_scaled, check_spread, check_baseline)


def check_task(cls: type[Task], *, distances: Iterable[int] = DISTANCES, **params: Any) -> None:
    """Run every check on ``cls`` built with ``params`` at each of ``distances`` (``distance=k`` as a keyword
    checks that one distance); raises AssertionError at the first failure."""
    if "distance" in params:
        distances = (params.pop("distance"),)
    for distance in distances:
        for check in CHECKS:
            check(cls, distance, **params)
