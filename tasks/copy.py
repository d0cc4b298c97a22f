"""copy: the copy-memory task (Hochreiter & Schmidhuber 1997; Arjovsky, Shah & Bengio 2016).

Layout (T = distance, n = n_symbols, L = T + 2n; blank = alphabet, delimiter = alphabet + 1):

    inputs:  s_0 .. s_{n-1} | T-1 blanks | delimiter | n blanks
    targets: T + n blanks                            | s_0 .. s_{n-1}

The symbols s_i are uniform on [0, alphabet). Accuracy is scored on the last n positions (``mask``); the training
loss is the reference cross-entropy over all L positions (``loss_mask``). The answer at T + n + i depends on input
i, so its distance is T + n. Output classes: the alphabet plus blank (alphabet + 1).

Memoryless baseline (knows the layout, not the symbols): blank with certainty before the answer, uniform over the
alphabet in the answer. Accuracy 1/alphabet; cross-entropy n·ln(alphabet) / (T + 2n), which is the reference
10·ln 8 / (T + 20) for the defaults.

Load: n (all n symbols are held across the gap). Spread: the sources are the positions 0 .. n-1, all of them in
every sample. (For one item held across a distance that does not move with the load, see the hold task.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from tasks.base import MAX_SIZE, Batch, Task, check_range
from tasks.rules import Sample, Spread, mismatches, outside, scored_as


@dataclass(frozen=True)
class Copy(Task):
    name: ClassVar[str] = "copy"
    summary: ClassVar[str] = "copy memory: memorise n symbols, wait `distance` blanks, reproduce them after a delimiter"
    kind: ClassVar[str] = "classification"

    distance: int
    n_symbols: int = 10
    alphabet: int = 8

    def __post_init__(self) -> None:
        check_range(self.name, "distance", self.distance, 1, MAX_SIZE)
        check_range(self.name, "n_symbols", self.n_symbols, 1, MAX_SIZE)
        check_range(self.name, "alphabet", self.alphabet, 2, MAX_SIZE)

    @property
    def blank(self) -> int:
        return self.alphabet

    @property
    def delimiter(self) -> int:
        return self.alphabet + 1

    @property
    def seq_len(self) -> int:
        return self.distance + 2 * self.n_symbols

    @property
    def input_vocab(self) -> int:
        return self.alphabet + 2

    @property
    def output_size(self) -> int:
        return self.alphabet + 1

    @property
    def load(self) -> int:
        return self.n_symbols

    def baseline(self) -> dict[str, float]:
        return {"accuracy": 1.0 / self.alphabet, "loss": self.n_symbols * math.log(self.alphabet) / self.seq_len}

    def rule(self, sample: Sample) -> list[str]:
        n, answer, x = self.n_symbols, self.distance + self.n_symbols, sample.inputs
        if layout := scored_as(sample, range(answer, len(x)), loss_everywhere=True):
            return layout
        return (outside("symbol", x[:n], self.alphabet)
                + mismatches("input", x, {t: self.blank for t in range(n, len(x))} | {answer - 1: self.delimiter})
                + mismatches("target", sample.targets, {t: self.blank for t in range(answer)}
                             | {answer + i: x[i] for i in range(n)})
                + mismatches("dependency (t - distance)", sample.dependencies(), {answer + i: i for i in range(n)}))

    def spread(self) -> list[Spread]:
        return [Spread("source position", Sample.sources, range(self.n_symbols), 1.0)]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_range(self.name, "batch_size", batch_size, 1)
        n, answer = self.n_symbols, self.distance + self.n_symbols
        shape, dev = (batch_size, self.seq_len), generator.device
        symbols = torch.randint(0, self.alphabet, (batch_size, n), generator=generator, device=dev)
        inputs = torch.full(shape, self.blank, dtype=torch.long, device=dev)
        inputs[:, :n] = symbols
        inputs[:, answer - 1] = self.delimiter
        targets = torch.full(shape, self.blank, dtype=torch.long, device=dev)
        targets[:, answer:] = symbols
        mask = torch.zeros(shape, dtype=torch.bool, device=dev)
        mask[:, answer:] = True
        loss_mask = torch.ones(shape, dtype=torch.bool, device=dev)
        return Batch(inputs, targets, mask, mask.long() * answer, loss_mask)
