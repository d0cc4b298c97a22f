"""hold: hold n items across exactly `distance` steps — distance and memory load as two separate knobs.

Layout (D = distance, n = n_items, L = D + n; blank = alphabet, cue = alphabet + 1; requires D >= n):

    inputs:  s_0 .. s_{n-1} | D - n blanks | n cues
    targets:                  (unscored)   | s_0 .. s_{n-1}

The symbols s_i are uniform on [0, alphabet). The target at D + i is s_i, so every answer lies exactly D after
its item: the distance is D at every scored position, whatever the load. Only the n answers are scored, and they
are the only loss positions (every position of the loss carries signal, unlike copy's loss over all T + 2n).

It serves two ladders the copy task cannot (copy's answers lie T + n back, so its distance moves with its load):
one item held across a doubling distance (distance the only difficulty), and 1, 2, 4, 8, 16 items at a fixed
distance (capacity the only difficulty). Load: n_items.

Memoryless baseline (knows the layout, not the symbols): uniform over the alphabet at every answer, so accuracy
1/alphabet and cross-entropy ln(alphabet). Output classes: the alphabet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from tasks.base import MAX_SIZE, Batch, Task, check_range
from tasks.rules import Sample, Spread, mismatches, outside, scored_as


@dataclass(frozen=True)
class Hold(Task):
    name: ClassVar[str] = "hold"
    summary: ClassVar[str] = "hold n symbols for exactly `distance` steps, then reproduce them on n cues"
    kind: ClassVar[str] = "classification"

    distance: int
    n_items: int = 1
    alphabet: int = 8

    def __post_init__(self) -> None:
        check_range(self.name, "n_items", self.n_items, 1, MAX_SIZE)
        check_range(self.name, "distance", self.distance, self.n_items, MAX_SIZE)
        check_range(self.name, "alphabet", self.alphabet, 2, MAX_SIZE)

    @property
    def blank(self) -> int:
        return self.alphabet

    @property
    def cue(self) -> int:
        return self.alphabet + 1

    @property
    def seq_len(self) -> int:
        return self.distance + self.n_items

    @property
    def input_vocab(self) -> int:
        return self.alphabet + 2

    @property
    def output_size(self) -> int:
        return self.alphabet

    @property
    def load(self) -> int:
        return self.n_items

    def baseline(self) -> dict[str, float]:
        return {"accuracy": 1.0 / self.alphabet, "loss": math.log(self.alphabet)}

    def rule(self, sample: Sample) -> list[str]:
        d, n, x = self.distance, self.n_items, sample.inputs
        answers = range(d, d + n)
        if layout := scored_as(sample, answers):
            return layout
        return (outside("item", x[:n], self.alphabet)
                + mismatches("input", x, {t: self.blank for t in range(n, d)} | {t: self.cue for t in answers})
                + mismatches("target", sample.targets, {d + i: x[i] for i in range(n)})
                + mismatches("dependency (t - distance)", sample.dependencies(), {d + i: i for i in range(n)}))

    def spread(self) -> list[Spread]:
        # every sample asks for every item, each exactly `distance` back
        return [Spread("source position", Sample.sources, range(self.n_items), 1.0)]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_range(self.name, "batch_size", batch_size, 1)
        d, n, shape, dev = self.distance, self.n_items, (batch_size, self.seq_len), generator.device
        symbols = torch.randint(0, self.alphabet, (batch_size, n), generator=generator, device=dev)
        inputs = torch.full(shape, self.blank, dtype=torch.long, device=dev)
        inputs[:, :n] = symbols
        inputs[:, d:] = self.cue
        targets = torch.zeros(shape, dtype=torch.long, device=dev)
        targets[:, d:] = symbols
        mask = torch.zeros(shape, dtype=torch.bool, device=dev)
        mask[:, d:] = True
        return Batch(inputs, targets, mask, mask.long() * d, mask.clone())
