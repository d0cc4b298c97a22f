"""adding: the adding problem (Hochreiter & Schmidhuber 1997), scored by MSE at the last position.

Layout (T = distance = L): two input features per step, a value drawn from U[0, 1] and a marker that is 1 at
exactly two positions, one uniform in the first half [0, T//2) and one uniform in the second half [T//2, T).
The target at the last position is the sum of the two marked values; only that position is scored. Its distance is
T - 1 - (first marker position): the reach back to the earlier marked value.

An answer counts as correct when |error| < 0.04 (Hochreiter & Schmidhuber 1997). Memoryless baseline: always
predict 1, the mean (and mode) of U1 + U2, whose density is the triangle 1 - |s - 1| on [0, 2]: MSE = Var(U1 + U2)
= 1/6, accuracy = P(|U1 + U2 - 1| < 0.04) = 1 - (1 - 0.04)^2 = 0.0784.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from tasks.base import MAX_SIZE, Batch, Task, check_range


@dataclass(frozen=True)
class Adding(Task):
    name: ClassVar[str] = "adding"
    summary: ClassVar[str] = "adding problem: sum the two marked values of a length-`distance` sequence (MSE)"
    kind: ClassVar[str] = "regression"
    tolerance: ClassVar[float] = 0.04
    n_features: ClassVar[int | None] = 2  # (value, marker)

    distance: int

    def __post_init__(self) -> None:
        check_range(self.name, "distance", self.distance, 2, MAX_SIZE)

    @property
    def seq_len(self) -> int:
        return self.distance

    @property
    def output_size(self) -> int:
        return 1

    def baseline(self) -> dict[str, float]:
        return {"accuracy": 1.0 - (1.0 - self.tolerance) ** 2, "loss": 1.0 / 6.0}

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_range(self.name, "batch_size", batch_size, 1)
        length, half, dev = self.distance, self.distance // 2, generator.device
        values = torch.rand(batch_size, length, generator=generator, device=dev)
        first = torch.randint(0, half, (batch_size, 1), generator=generator, device=dev)
        second = torch.randint(half, length, (batch_size, 1), generator=generator, device=dev)
        marks = torch.cat([first, second], dim=1)
        markers = torch.zeros(batch_size, length, device=dev).scatter_(1, marks, 1.0)
        inputs = torch.stack([values, markers], dim=-1)
        targets = torch.zeros(batch_size, length, device=dev)
        targets[:, -1] = values.gather(1, marks).sum(dim=1)
        mask = torch.zeros(batch_size, length, dtype=torch.bool, device=dev)
        mask[:, -1] = True
        distance = torch.zeros(batch_size, length, dtype=torch.long, device=dev)
        distance[:, -1] = length - 1 - first[:, 0]
        return Batch(inputs, targets, mask, distance, mask.clone())
