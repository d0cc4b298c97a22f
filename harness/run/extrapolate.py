"""Train short, test long: a trained model scored, without retraining, at multiples of its training length.

``extrapolate(model, spec, task, test, score)`` gives one entry per factor f — 1, then each of
``spec.length_factors`` above 1 — with the accuracy of the model on ``task.scaled(f)`` (None without
length_factors). ``score(task, rows, n_batches)`` is the training loop's evaluation of the model on fresh batches
of the run's test stream (harness.run.train). The protocol:

- **1×** is the run's own test evaluation, passed in: the same numbers as the record's test_accuracy, not a
  second estimate of them.
- **f > 1**: ``task.scaled(f)`` (``Task.scaled``: every length of the task × f, its load, vocabulary and outputs
  kept; hold's distance grows with its length, lag keeps its distance), on fresh samples of the run's *test*
  stream (stream seed 4·seed + 3; a new generator per factor, so a factor's score does not depend on which other
  factors ran). Training and validation never read that stream, so no scored sequence was trained on.
- **The same number of sequences at every length** (test_batches × batch_size, as the test), so every score has
  the same precision; they are drawn in batches of at most ``rows_per_batch(L)`` sequences, which keeps dense
  attention's L × L logits (per head and layer) within EVAL_CELLS entries per batch up to L = 2048 (one sequence per
  batch beyond).
  Lengths are capped at ``MAX_TEST_LENGTH`` when the spec is validated.
- **Not defined**: a learner that is not defined at a length (it raises ``learners.ContextLengthError``: learned
  positions beyond max_len) is recorded with accuracy None and the reason, never as 0. Any other exception
  propagates, as in training.

Each entry: factor, seq_len, distance, accuracy, loss, exact_match, scored (positions scored), seconds,
not_defined (the reason, or None).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from harness.config.spec import RunSpec
from harness.run.model import SequenceModel
from learners import ContextLengthError
from tasks import Task

Score = Callable[[Task, int, int], dict[str, Any]]  # (task, sequences per batch, batches) -> evaluate()'s summary

# Sequences per evaluation batch times L² at most: 2^22 float32 logits (16 MiB) per head and layer of dense
# attention; at L = 1024 that is 4 sequences, at 2048 and beyond 1. Recurrent and convolutional learners need less.
EVAL_CELLS = 1 << 22


def rows_per_batch(seq_len: int, batch_size: int) -> int:
    """Sequences per evaluation batch at length ``seq_len``: batch_size, fewer once batch·L² passes EVAL_CELLS."""
    return max(1, min(batch_size, EVAL_CELLS // (seq_len * seq_len)))


def scored_of(scores: dict[str, Any]) -> int:
    """Positions an evaluation scored (the sum over its per-distance breakdown)."""
    return sum(int(n) for _, n in (scores.get("by_distance") or {}).values())


def entry(factor: int, task: Task, scores: dict[str, Any] | None, seconds: float,
          not_defined: str | None = None) -> dict[str, Any]:
    return {"factor": factor, "seq_len": task.seq_len, "distance": task.distance,
            "accuracy": None if scores is None else scores["accuracy"],
            "loss": None if scores is None else scores["loss"],
            "exact_match": None if scores is None else scores["exact_match"],
            "scored": 0 if scores is None else scored_of(scores), "seconds": round(seconds, 3),
            "not_defined": not_defined}


def extrapolate(model: SequenceModel, spec: RunSpec, task: Task, test: dict[str, Any],
                score: Score) -> list[dict[str, Any]] | None:
    """The scores of ``model`` (trained on ``task``) at 1× (``test``, the run's test evaluation) and at each of
    ``spec.length_factors`` above 1, each through ``score`` on a fresh test-stream generator; None when the spec
    asks for none. The model's training mode is restored afterwards. See the module docstring."""
    if not spec.length_factors:
        return None
    out = [entry(1, task, test, 0.0)]
    sequences = spec.test_batches * spec.batch_size
    was_training = model.training
    try:
        for factor in (f for f in spec.length_factors if f > 1):
            t0 = time.perf_counter()
            longer = task.scaled(factor)
            rows = rows_per_batch(longer.seq_len, spec.batch_size)
            try:
                scores = score(longer, rows, math.ceil(sequences / rows))
            except ContextLengthError as exc:
                out.append(entry(factor, longer, None, time.perf_counter() - t0, str(exc)))
                continue
            out.append(entry(factor, longer, scores, time.perf_counter() - t0))
    finally:
        model.train(was_training)
    return out
