"""adding: the adding problem (Hochreiter & Schmidhuber 1997), scored by MSE at the last position.

Layout (T = distance = L): two input features per step, a value drawn from U[0, 1] and a marker that is 1 at
exactly two positions, one uniform in the first half [0, T//2) and one uniform in the second half [T//2, T).
The target at the last position is the sum of the two marked values; only that position is scored. Its distance is
T - 1 - (first marker position): the reach back to the earlier marked value.

An answer counts as correct when |error| < ``tolerance`` (default 0.04, the figure Hochreiter & Schmidhuber 1997
use). Their values are drawn from [-1, 1] and their target is 0.5 + (x1 + x2)/4: with x = 2u - 1 that target is
half of reach's sum, so their criterion, 0.04 on it, is ``tolerance = 0.08`` here (the literature suite's claim 2
sets it). Memoryless baseline: always predict 1, the mean (and mode) of U1 + U2, whose density is the triangle
1 - |s - 1| on [0, 2]: MSE = Var(U1 + U2) = 1/6, accuracy = P(|U1 + U2 - 1| < tol) = 1 - (1 - tol)^2 (0.0784 at
0.04).

Load: 2 (the first marked value, and the running sum or the second once it comes). Spread: each marker is
uniform on its half, so each of the ``n_bins`` bins of a half of h positions (at least h // n_bins(h) of them)
holds that half's marker with probability at least that count / h.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from tasks.base import MAX_SIZE, Batch, Task, check_range
from tasks.rules import Sample, Spread, bin_of, mismatches, n_bins, scored_as


@dataclass(frozen=True)
class Adding(Task):
    name: ClassVar[str] = "adding"
    summary: ClassVar[str] = "adding problem: sum the two marked values of a length-`distance` sequence (MSE)"
    kind: ClassVar[str] = "regression"
    n_features: ClassVar[int | None] = 2  # (value, marker)

    distance: int
    tolerance: float = 0.04  # |error| below this counts as correct; 1 is the sum's whole half-range

    def __post_init__(self) -> None:
        check_range(self.name, "distance", self.distance, 2, MAX_SIZE)
        check_range(self.name, "tolerance", self.tolerance, 1e-6, 1.0, kind=float)

    @property
    def seq_len(self) -> int:
        return self.distance

    @property
    def output_size(self) -> int:
        return 1

    @property
    def load(self) -> int:
        return 2

    def baseline(self) -> dict[str, float]:
        return {"accuracy": 1.0 - (1.0 - self.tolerance) ** 2, "loss": 1.0 / 6.0}

    def rule(self, sample: Sample) -> list[str]:
        length, half = self.distance, self.distance // 2
        values, markers = [v for v, _ in sample.inputs], [m for _, m in sample.inputs]
        problems = [f"value {t} is {v}, outside [0, 1)" for t, v in enumerate(values) if not 0 <= v < 1]
        marked = [t for t, m in enumerate(markers) if m != 0]
        if len(marked) != 2 or not marked[0] < half <= marked[1] or any(markers[t] != 1 for t in marked):
            return problems + [f"markers {[markers[t] for t in marked]} at {marked}, expected two 1s, one in "
                               f"[0, {half}) and one in [{half}, {length})"]
        if layout := scored_as(sample, [length - 1]):
            return problems + layout
        first, second = marked
        total = values[first] + values[second]
        if abs(sample.targets[-1] - total) > 1e-6:  # float32 sums: a few ulps off the exact one at most
            problems.append(f"target {sample.targets[-1]} is not the sum of the marked values, {total}")
        return problems + mismatches("dependency (t - distance)", sample.dependencies(), {length - 1: first})

    def spread(self) -> list[Spread]:
        length, half = self.distance, self.distance // 2
        later = length - half

        def second_marker_bin(s: Sample) -> list[int]:
            return [bin_of(t - half, later) for t in range(half, length) if s.inputs[t][1] == 1]

        return [Spread("first marker bin", lambda s: [bin_of(p, half) for p in s.sources()], range(n_bins(half)),
                       (half // n_bins(half)) / half),
                Spread("second marker bin", second_marker_bin, range(n_bins(later)), (later // n_bins(later)) / later)]

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
