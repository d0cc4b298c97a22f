"""recall: multi-query associative recall, MQAR (Arora et al. 2023, Zoology).

Layout (D = distance, n = n_pairs, V = vocab, L = 2n + D; filler = V):

    k_0 v_0 k_1 v_1 .. k_{n-1} v_{n-1} | query region of D positions

Keys are distinct, uniform on the first half of the vocabulary [0, V/2); values are uniform with replacement on
the second half [V/2, V). The query region holds the filler token except at n query positions: key k_i appears
once, at offset o_i in [0, D), and the target there is v_i. The offsets are drawn without replacement with
probability proportional to (o + 1)^(alpha - 1), Zoology's power law (alpha = 0.01: most queries come early, a
long tail comes late); as in Zoology, key i takes the i-th offset drawn. Only query positions are scored. The
distance of a query is its position minus the position of its key in the key-value block (the value sits one step
after the key).

Memoryless baseline: values are iid uniform on V/2 classes and independent of the key, so accuracy 1/(V/2) and
cross-entropy ln(V/2). Output classes: the whole vocabulary V.

Load: n (every pair is held until its query). Keys are drawn by ``tasks.sampling.distinct_uniform``: a
permutation of the V/2 keys where V/2 is small against n, rejection of repeated iid draws (cost O(n), not O(V)) at
Zoology's vocabularies.

Spread, with w_o = (o + 1)^(alpha - 1) and W = sum of w_o over [0, D): every key is queried in every sample. Each
draw is an offset of bin b (a bin of ``n_bins(D)`` over [0, D)) with probability at least w_b / W, w_b the bin's
weight, even after earlier draws (they only shrink the remaining weight), so a sample asks at some offset of bin b
with probability at least 1 - (1 - w_b / W)^n. The order of the queries is not the order of the keys: for
offsets a < b, P(o_0 = b, o_1 = a) / P(o_0 = a, o_1 = b) = (W - w_a) / (W - w_b) >= r = 1 - w_0 / W (weights fall
with the offset), so key 1 is asked before key 0 with probability at least r / (1 + r), and after it with
probability at least 1/2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from tasks.base import MAX_SIZE, Batch, Task, TaskParameterError, check_range
from tasks.rules import Sample, Spread, bin_of, mismatches, n_bins, outside, scored_as
from tasks.sampling import distinct_uniform


@dataclass(frozen=True)
class Recall(Task):
    name: ClassVar[str] = "recall"
    summary: ClassVar[str] = "multi-query associative recall: key-value pairs, then each key queried at a power-law gap"
    kind: ClassVar[str] = "classification"

    distance: int
    n_pairs: int = 8
    vocab: int = 64
    alpha: float = 0.01

    def __post_init__(self) -> None:
        check_range(self.name, "vocab", self.vocab, 4, MAX_SIZE)
        if self.vocab % 2:
            raise TaskParameterError(f"task '{self.name}': vocab must be even (keys and values split it), "
                                     f"got {self.vocab}")
        check_range(self.name, "n_pairs", self.n_pairs, 1, self.vocab // 2)
        check_range(self.name, "distance", self.distance, self.n_pairs, MAX_SIZE)
        check_range(self.name, "alpha", self.alpha, kind=float)
        if not 0 < self.alpha <= 1:
            raise TaskParameterError(f"task '{self.name}': alpha must be in (0, 1], got {self.alpha}")

    @property
    def filler(self) -> int:
        return self.vocab

    @property
    def seq_len(self) -> int:
        return 2 * self.n_pairs + self.distance

    @property
    def input_vocab(self) -> int:
        return self.vocab + 1

    @property
    def output_size(self) -> int:
        return self.vocab

    @property
    def load(self) -> int:
        return self.n_pairs

    def baseline(self) -> dict[str, float]:
        half = self.vocab // 2
        return {"accuracy": 1.0 / half, "loss": math.log(half)}

    def rule(self, sample: Sample) -> list[str]:
        n, half, x = self.n_pairs, self.vocab // 2, sample.inputs
        keys, values = x[0:2 * n:2], x[1:2 * n:2]
        queries = [t for t in range(2 * n, len(x)) if x[t] != self.filler]
        if layout := scored_as(sample, queries):
            return layout
        problems = outside("key", keys, half) + [f"value {i} is {v}, outside [{half}, {self.vocab})"
                                                 for i, v in enumerate(values) if not half <= v < self.vocab]
        if len(set(keys)) != n:
            problems.append(f"keys {keys} are not distinct")
        if sorted(x[t] for t in queries) != sorted(keys):
            return problems + [f"queries ask {[x[t] for t in queries]}, not each key of {keys} once"]
        pair = {key: i for i, key in enumerate(keys)}  # the query for key k_i: its answer is v_i, k_i sits at 2i
        return (problems
                + mismatches("target", sample.targets, {t: values[pair[x[t]]] for t in queries})
                + mismatches("dependency (t - distance)", sample.dependencies(), {t: 2 * pair[x[t]] for t in queries}))

    def spread(self) -> list[Spread]:
        n, d, bins = self.n_pairs, self.distance, n_bins(self.distance)
        weights = [(o + 1) ** (self.alpha - 1) for o in range(d)]
        total = sum(weights)
        bin_weight = [0.0] * bins
        for o, w in enumerate(weights):
            bin_weight[bin_of(o, d)] += w
        spreads = [Spread("queried key position", Sample.sources, range(0, 2 * n, 2), 1.0),
                   Spread("query offset bin", lambda s: [bin_of(t - 2 * n, d) for t in s.scored()], range(bins),
                          1 - (1 - min(bin_weight) / total) ** n)]
        if n >= 2:
            r = 1 - weights[0] / total

            def key_1_first(s: Sample) -> list[int]:
                sources = s.sources()  # in query order; key i sits at 2i
                return [int(sources.index(2) < sources.index(0))]

            spreads.append(Spread("key 1 asked before key 0", key_1_first, range(2), r / (1 + r)))
        return spreads

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_range(self.name, "batch_size", batch_size, 1)
        n, half, shape, dev = self.n_pairs, self.vocab // 2, (batch_size, self.seq_len), generator.device
        keys = distinct_uniform(batch_size, n, half, generator)  # [B, n], cost O(n) at Zoology's vocabularies
        values = torch.randint(half, self.vocab, (batch_size, n), generator=generator, device=dev)
        weights = (torch.arange(1, self.distance + 1, device=dev, dtype=torch.float64) ** (self.alpha - 1))
        offsets = torch.multinomial(weights.expand(batch_size, -1), n, replacement=False, generator=generator)
        queries = 2 * n + offsets  # [B, n] positions; query i asks for key i
        inputs = torch.full(shape, self.filler, dtype=torch.long, device=dev)
        inputs[:, 0:2 * n:2] = keys
        inputs[:, 1:2 * n:2] = values
        inputs.scatter_(1, queries, keys)
        targets = torch.zeros(shape, dtype=torch.long, device=dev).scatter_(1, queries, values)
        mask = torch.zeros(shape, dtype=torch.bool, device=dev).scatter_(1, queries, True)
        key_positions = 2 * torch.arange(n, device=dev)
        distance = torch.zeros(shape, dtype=torch.long, device=dev).scatter_(1, queries, queries - key_positions)
        return Batch(inputs, targets, mask, distance, mask.clone())
