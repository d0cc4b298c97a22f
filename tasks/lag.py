"""lag: output the token seen ``distance`` steps ago — the plainest path-length probe.

Layout (k = distance, L = k + scored): uniform random tokens x_0 .. x_{L-1} from [0, vocab); the target at every
t >= k is x_{t-k}, and those ``scored`` positions are scored. Each scored position depends on exactly one input,
k steps back. Memoryless baseline: chance, accuracy 1/vocab, cross-entropy ln(vocab).

Load: k. Every step asks for the token k back, so the k latest tokens must all be held at once.
Spread: the sources are the positions 0 .. scored - 1, every one in every sample.
Scaled by f: the distance (so the load) stays k and the scored positions grow to f·(k + scored) - k, so the
sequence is exactly f times as long: a learner that has learnt "the token k back" is right at every length.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from tasks.base import MAX_SIZE, Batch, Task, check_range
from tasks.rules import Sample, Spread, mismatches, outside, scored_as


@dataclass(frozen=True)
class Lag(Task):
    name: ClassVar[str] = "lag"
    summary: ClassVar[str] = "output the token seen `distance` steps ago (scored at every t >= distance)"
    kind: ClassVar[str] = "classification"
    length_param: ClassVar[str | None] = "scored"

    distance: int
    vocab: int = 16
    scored: int = 32

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
        return (outside("input", x, self.vocab)
                + mismatches("target", sample.targets, {t: x[t - k] for t in range(k, len(x))})
                + mismatches("dependency (t - distance)", sample.dependencies(), {t: t - k for t in range(k, len(x))}))

    def spread(self) -> list[Spread]:
        return [Spread("source position", Sample.sources, range(self.scored), 1.0)]

    def scaled(self, factor: int) -> Lag:
        """The same lag over a sequence ``factor`` times as long (its load is its distance, so that stays)."""
        check_range(self.name, "factor", factor, 1, MAX_SIZE)
        return dataclasses.replace(self, scored=factor * self.seq_len - self.distance)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_range(self.name, "batch_size", batch_size, 1)
        k, shape, dev = self.distance, (batch_size, self.seq_len), generator.device
        inputs = torch.randint(0, self.vocab, shape, generator=generator, device=dev)
        targets = torch.zeros(shape, dtype=torch.long, device=dev)
        targets[:, k:] = inputs[:, :-k]
        mask = torch.zeros(shape, dtype=torch.bool, device=dev)
        mask[:, k:] = True
        return Batch(inputs, targets, mask, mask.long() * k, mask.clone())
