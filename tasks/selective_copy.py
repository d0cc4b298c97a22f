"""selective-copy: selective copying (Gu & Dao 2023, Mamba §3.1 and App. E.1).

Layout (D = distance, n = n_data, L = D + n; noise = vocab, marker = vocab + 1): a noise region of D positions
holds n data tokens, uniform on [0, vocab), at distinct uniformly random positions (the rest are noise tokens);
then n marker tokens. The targets at the n marker positions are the data tokens in order; only those are scored.
Output j at D + j depends on the j-th data token, so its distance is (D + j) - (that token's position).

Memoryless baseline: the data tokens are iid uniform, so accuracy 1/vocab and cross-entropy ln(vocab).

Load: n (all n data tokens are held until the markers). Spread: the data positions are a uniform n-subset of
[0, D), so a bin of s positions of [0, D) holds none of them with probability C(D - s, n) / C(D, n) <= (1 - s/D)^n:
each of the ``n_bins(D)`` bins (at least D // n_bins(D) positions) is a source in a sample with probability at least
1 - (1 - (D // n_bins(D)) / D)^n. (The positions are drawn by ``tasks.sampling.distinct_uniform``, whose cost grows
with n, not D, where D is large against n.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from tasks.base import MAX_SIZE, Batch, Task, check_range
from tasks.rules import Sample, Spread, bin_of, mismatches, n_bins, outside, scored_as
from tasks.sampling import distinct_uniform


@dataclass(frozen=True)
class SelectiveCopy(Task):
    name: ClassVar[str] = "selective-copy"
    summary: ClassVar[str] = "reproduce, in order, the data tokens scattered among `distance` noise positions"
    kind: ClassVar[str] = "classification"

    distance: int
    n_data: int = 8
    vocab: int = 8

    def __post_init__(self) -> None:
        check_range(self.name, "n_data", self.n_data, 1, MAX_SIZE)
        check_range(self.name, "distance", self.distance, self.n_data, MAX_SIZE)
        check_range(self.name, "vocab", self.vocab, 2, MAX_SIZE)

    @property
    def noise(self) -> int:
        return self.vocab

    @property
    def marker(self) -> int:
        return self.vocab + 1

    @property
    def seq_len(self) -> int:
        return self.distance + self.n_data

    @property
    def input_vocab(self) -> int:
        return self.vocab + 2

    @property
    def output_size(self) -> int:
        return self.vocab

    @property
    def load(self) -> int:
        return self.n_data

    def baseline(self) -> dict[str, float]:
        return {"accuracy": 1.0 / self.vocab, "loss": math.log(self.vocab)}

    def rule(self, sample: Sample) -> list[str]:
        d, n, x = self.distance, self.n_data, sample.inputs
        data = [p for p in range(d) if x[p] != self.noise]  # the data positions, in order
        if layout := scored_as(sample, range(d, d + n)):
            return layout
        if len(data) != n:
            return [f"{len(data)} data tokens among the noise, expected {n}"]
        output = {d + j: p for j, p in enumerate(data)}  # output j reproduces the j-th data token
        return (outside("data token", [x[p] for p in data], self.vocab)
                + mismatches("input", x, {t: self.marker for t in output})
                + mismatches("target", sample.targets, {t: x[p] for t, p in output.items()})
                + mismatches("dependency (t - distance)", sample.dependencies(), output))

    def spread(self) -> list[Spread]:
        d, bins = self.distance, n_bins(self.distance)
        return [Spread("source position bin", lambda s: [bin_of(p, d) for p in s.sources()], range(bins),
                       1 - (1 - (d // bins) / d) ** self.n_data)]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_range(self.name, "batch_size", batch_size, 1)
        d, n, shape, dev = self.distance, self.n_data, (batch_size, self.seq_len), generator.device
        # n distinct positions in [0, d), a uniform n-subset, in increasing order
        positions = distinct_uniform(batch_size, n, d, generator).sort(dim=1).values
        data = torch.randint(0, self.vocab, (batch_size, n), generator=generator, device=dev)
        inputs = torch.full(shape, self.noise, dtype=torch.long, device=dev)
        inputs.scatter_(1, positions, data)
        inputs[:, d:] = self.marker
        targets = torch.zeros(shape, dtype=torch.long, device=dev)
        targets[:, d:] = data
        mask = torch.zeros(shape, dtype=torch.bool, device=dev)
        mask[:, d:] = True
        distance = torch.zeros(shape, dtype=torch.long, device=dev)
        distance[:, d:] = torch.arange(d, d + n, device=dev) - positions
        return Batch(inputs, targets, mask, distance, mask.clone())
