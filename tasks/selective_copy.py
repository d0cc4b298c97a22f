"""selective-copy: selective copying (Gu & Dao 2023, Mamba §3.1 and App. E.1).

Layout (D = distance, n = n_data, L = D + n; noise = vocab, marker = vocab + 1): a noise region of D positions
holds n data tokens, uniform on [0, vocab), at distinct uniformly random positions (the rest are noise tokens);
then n marker tokens. The targets at the n marker positions are the data tokens in order; only those are scored.
Output j at D + j depends on the j-th data token, so its distance is (D + j) - (that token's position).

Memoryless baseline: the data tokens are iid uniform, so accuracy 1/vocab and cross-entropy ln(vocab).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from tasks.base import MAX_SIZE, Batch, Task, check_range


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

    def baseline(self) -> dict[str, float]:
        return {"accuracy": 1.0 / self.vocab, "loss": math.log(self.vocab)}

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_range(self.name, "batch_size", batch_size, 1)
        d, n, shape, dev = self.distance, self.n_data, (batch_size, self.seq_len), generator.device
        # n distinct positions in [0, d), uniformly, in increasing order: the first n of a random permutation.
        positions = torch.rand(batch_size, d, generator=generator, device=dev).argsort(dim=1)[:, :n].sort(dim=1).values
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
