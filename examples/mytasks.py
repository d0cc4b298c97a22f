"""A task defined outside reach's packages: what a user writes to add their own synthetic task.

    python run.py train --learner tcn --task examples.mytasks:DelayedSum --distance 8

and in the user's own tests: ``from tasks.checks import check_task; check_task(DelayedSum)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from tasks import Batch, Sample, Spread, Task
from tasks.base import MAX_SIZE, check_range
from tasks.rules import mismatches, outside, scored_as


@dataclass(frozen=True)
class DelayedSum(Task):
    """Output (x_t + x_{t-k}) mod vocab at every t >= k: the lag task, with the current token mixed in.

    Layout (k = distance, L = k + scored): uniform tokens from [0, vocab); ``scored`` positions t >= k are
    scored, each depending on the current token and the one k steps back. Memoryless baseline (a predictor
    that sees x_t but not x_{t-k}): chance, accuracy 1/vocab, cross-entropy ln(vocab). Load: k (the k latest
    tokens are all needed later). Spread: the sources are 0 .. scored - 1, all of them in every sample.

    ``rule`` and ``spread`` are what ``check_task`` verifies the samples against, beside the contract.
    """

    name: ClassVar[str] = "delayed-sum"
    summary: ClassVar[str] = "output (x_t + x_{t-distance}) mod vocab at every t >= distance"
    kind: ClassVar[str] = "classification"
    length_param: ClassVar[str | None] = "scored"

    distance: int
    vocab: int = 8
    scored: int = 16

    def __post_init__(self) -> None:
        check_range(self.name, "distance", self.distance, 1, MAX_SIZE)
        check_range(self.name, "vocab", self.vocab, 2, MAX_SIZE)
        check_range(self.name, "scored", self.scored, 1, MAX_SIZE)

    @property
    def seq_len(self) -> int:
        return self.distance + self.scored

    @property
    def input_vocab(self) -> int:
        return self.vocab

    @property
    def output_size(self) -> int:
        return self.vocab

    @property
    def load(self) -> int:
        return self.distance

    def baseline(self) -> dict[str, float]:
        return {"accuracy": 1.0 / self.vocab, "loss": math.log(self.vocab)}

    def rule(self, sample: Sample) -> list[str]:
        k, x = self.distance, sample.inputs
        if layout := scored_as(sample, range(k, len(x))):
            return layout
        scored = range(k, len(x))
        return (outside("input", x, self.vocab)
                + mismatches("target", sample.targets, {t: (x[t] + x[t - k]) % self.vocab for t in scored})
                + mismatches("dependency (t - distance)", sample.dependencies(), {t: t - k for t in scored}))

    def spread(self) -> list[Spread]:
        return [Spread("source position", Sample.sources, range(self.scored), 1.0)]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_range(self.name, "batch_size", batch_size, 1)
        k, shape, dev = self.distance, (batch_size, self.seq_len), generator.device
        inputs = torch.randint(0, self.vocab, shape, generator=generator, device=dev)
        targets = torch.zeros(shape, dtype=torch.long, device=dev)
        targets[:, k:] = (inputs[:, k:] + inputs[:, :-k]) % self.vocab
        mask = torch.zeros(shape, dtype=torch.bool, device=dev)
        mask[:, k:] = True
        return Batch(inputs, targets, mask, mask.long() * k, mask.clone())
