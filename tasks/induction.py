"""induction: induction heads (Olsson et al. 2022; Gu & Dao 2023, Mamba §4.1.2) — after `a b ... a`, output `b`.

Layout (D = distance, L = D + prefix; trigger a = vocab): uniform random tokens from [0, vocab), except the trigger
at position p (uniform on [0, prefix)) and again at p + g. The token b = x_{p+1} after the first trigger is an
ordinary random token; the target at p + g is b, and only that position is scored. The trigger occurs nowhere else.
The gap g between the two triggers (the one that must be matched) is the scored position's distance; b itself lies
g - 1 back. With ``min_gap`` 0 (the default) every gap is D; with min_gap m in [2, D] the gap is uniform on [m, D],
drawn per sequence, as in Gu & Dao's setting where the pair sits anywhere before the query: a learner cannot then
find b at one fixed offset, it has to match the trigger.

Memoryless baseline: b is uniform, so accuracy 1/vocab and cross-entropy ln(vocab).

Load: 1 (the token after the trigger). Spread: p is uniform on [0, prefix), so each of the ``n_bins(prefix)`` bins
(at least prefix // n_bins(prefix) positions) holds the source with probability at least that count / prefix; with
a min_gap, g - m is uniform on the S = D - m + 1 gaps, so each of the n_bins(S) gap bins has probability at least
(S // n_bins(S)) / S.
Scaled by f (Task.scaled): D and prefix times f, min_gap kept, so the longer sequences hold the training gaps and
gaps up to f·D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from tasks.base import MAX_SIZE, Batch, Task, TaskParameterError, check_range
from tasks.rules import Sample, Spread, bin_of, mismatches, n_bins, scored_as


@dataclass(frozen=True)
class Induction(Task):
    name: ClassVar[str] = "induction"
    summary: ClassVar[str] = ("induction head: after `a b ... a` (the second a `distance` later, or min_gap..distance "
                              "later), output b")
    kind: ClassVar[str] = "classification"
    length_param: ClassVar[str | None] = "prefix"

    distance: int
    vocab: int = 16
    prefix: int = 16
    min_gap: int = 0  # 0: every gap is `distance`; m >= 2: the gap is uniform on [m, distance]

    def __post_init__(self) -> None:
        check_range(self.name, "distance", self.distance, 2, MAX_SIZE)
        check_range(self.name, "vocab", self.vocab, 2, MAX_SIZE)
        check_range(self.name, "prefix", self.prefix, 1, MAX_SIZE)
        check_range(self.name, "min_gap", self.min_gap, 0, self.distance)
        if self.min_gap == 1:
            raise TaskParameterError(f"task '{self.name}': min_gap must be 0 (every gap is distance) or in "
                                     f"[2, {self.distance}], got 1 (a gap of 1 leaves no token between the triggers)")

    @property
    def gaps(self) -> range:
        """The gaps g a sample may have."""
        return range(self.min_gap or self.distance, self.distance + 1)

    @property
    def trigger(self) -> int:
        return self.vocab

    @property
    def seq_len(self) -> int:
        return self.distance + self.prefix

    @property
    def input_vocab(self) -> int:
        return self.vocab + 1

    @property
    def output_size(self) -> int:
        return self.vocab

    @property
    def load(self) -> int:
        return 1

    def baseline(self) -> dict[str, float]:
        return {"accuracy": 1.0 / self.vocab, "loss": math.log(self.vocab)}

    def rule(self, sample: Sample) -> list[str]:
        gaps, x = self.gaps, sample.inputs
        triggers = [t for t, v in enumerate(x) if v == self.trigger]
        if len(triggers) != 2 or triggers[1] - triggers[0] not in gaps or triggers[0] >= self.prefix:
            apart = f"{gaps.start} to {self.distance}" if self.min_gap else f"{self.distance}"
            return [f"triggers at {triggers}, expected two, {apart} apart, the first in [0, {self.prefix})"]
        first, second = triggers
        if layout := scored_as(sample, [second]):
            return layout
        # the answer is the token after the first trigger; the dependency is that trigger (the one to match)
        return (mismatches("target", sample.targets, {second: x[first + 1]})
                + mismatches("dependency (t - distance)", sample.dependencies(), {second: first}))

    def spread(self) -> list[Spread]:
        prefix, bins = self.prefix, n_bins(self.prefix)
        out = [Spread("first trigger bin", lambda s: [bin_of(p, prefix) for p in s.sources()], range(bins),
                      (prefix // bins) / prefix)]
        if self.min_gap:
            m, span = self.min_gap, len(self.gaps)
            out.append(Spread("gap bin", lambda s: [bin_of(s.distance[t] - m, span) for t in s.scored()],
                              range(n_bins(span)), (span // n_bins(span)) / span))
        return out

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_range(self.name, "batch_size", batch_size, 1)
        shape, dev = (batch_size, self.seq_len), generator.device
        inputs = torch.randint(0, self.vocab, shape, generator=generator, device=dev)
        first = torch.randint(0, self.prefix, (batch_size, 1), generator=generator, device=dev)
        gap = (torch.randint(self.min_gap, self.distance + 1, (batch_size, 1), generator=generator, device=dev)
               if self.min_gap else torch.full((batch_size, 1), self.distance, device=dev))
        answer = first + gap
        inputs.scatter_(1, torch.cat([first, answer], dim=1), self.trigger)
        targets = torch.zeros(shape, dtype=torch.long, device=dev).scatter_(1, answer, inputs.gather(1, first + 1))
        mask = torch.zeros(shape, dtype=torch.bool, device=dev).scatter_(1, answer, True)
        return Batch(inputs, targets, mask, mask.long() * gap, mask.clone())
